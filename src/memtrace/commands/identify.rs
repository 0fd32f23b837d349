//! `memtrace identify ADDR... FILE`: what each address is.

use std::io::{self, BufRead};
use std::path::Path;
use std::process::ExitCode;

use memtrace_analysis::{identify, parse_address};

use crate::captures::{self, load};
use crate::cli::Options;
use crate::failure::{io_message, Failure, EXIT_NOTHING_FOUND};
use crate::output::Out;

pub fn run(operands: &[String], file: &str, options: &Options) -> Result<ExitCode, Failure> {
    if !Path::new(file).exists() && parse_address(file).is_ok() {
        if let Some(first) = operands.iter().find(|a| Path::new(a).is_file()) {
            return Err(Failure::bad(format!(
                "'{file}' is an address, not a capture: the capture comes last, as in memtrace \
                 identify {file} {first}"
            )));
        }
    }
    // The addresses given as arguments first: a typo costs no load.
    let mut given: Vec<Option<u64>> = Vec::with_capacity(operands.len());
    for operand in operands {
        given.push(match operand.as_str() {
            "-" => None,
            a => Some(parse_address(a).map_err(Failure::bad)?),
        });
    }
    let capture = load(file)?;
    let rule = captures::rule(std::slice::from_ref(&capture), options)?;
    let mut addresses = Vec::new();
    for address in given {
        match address {
            Some(a) => addresses.push(a),
            None => addresses.extend(from_stdin()?),
        }
    }
    let heap = capture.heap();
    let answers: Vec<_> = addresses
        .iter()
        .map(|&a| identify(&heap, rule, a))
        .collect();
    let mut out = Out::new();
    if options.json {
        out.json(&answers)?;
    } else {
        for answer in &answers {
            out.line(&answer.text)?;
        }
    }
    out.finish()?;
    if answers.iter().any(|a| a.record.is_some()) {
        Ok(ExitCode::SUCCESS)
    } else {
        Ok(ExitCode::from(EXIT_NOTHING_FOUND))
    }
}

/// Every address on standard input, line by line (see [`addresses_in`]).
fn from_stdin() -> Result<Vec<u64>, Failure> {
    let mut all = Vec::new();
    for (n, line) in io::stdin().lock().lines().enumerate() {
        let line = line
            .map_err(|e| Failure::bad(format!("cannot read standard input: {}", io_message(&e))))?;
        let found = addresses_in(&line)
            .map_err(|e| Failure::bad(format!("standard input line {}: {e}", n + 1)))?;
        all.extend(found);
    }
    if all.is_empty() {
        return Err(Failure::bad(
            "no address on standard input: pipe in addresses (0x55efee189120 or decimal), or \
             pmat-leakreport's output",
        ));
    }
    Ok(all)
}

/// The addresses of one line: every `0x...` token in it (so pmat's and
/// pmat-leakreport's lines, `LEAK[1] UNDEF() at 0x55efee189120`, work as
/// they are), or, in a line without one, every whitespace-separated word,
/// each of which must then be an address.
pub fn addresses_in(line: &str) -> Result<Vec<u64>, String> {
    let bytes = line.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let starts = bytes[i] == b'0'
            && matches!(bytes.get(i + 1), Some(b'x' | b'X'))
            && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit)
            && (i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_'));
        if !starts {
            i += 1;
            continue;
        }
        let end = (i + 2..bytes.len())
            .find(|&j| !bytes[j].is_ascii_hexdigit())
            .unwrap_or(bytes.len());
        found.push(parse_address(&line[i..end])?);
        i = end;
    }
    if found.is_empty() {
        for word in line.split_whitespace() {
            found.push(parse_address(word)?);
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pmat_lines_give_their_hex_addresses() {
        assert_eq!(
            addresses_in("LEAK[1] UNDEF() at 0x55efee189120"),
            Ok(vec![0x55ef_ee18_9120])
        );
        assert_eq!(
            addresses_in("HASH(2) at 0x10, referenced by REF() at 0X2f;"),
            Ok(vec![0x10, 0x2f])
        );
        assert_eq!(
            addresses_in("  4096 0x20  "),
            Ok(vec![0x20]),
            "hex wins in a line"
        );
        assert_eq!(addresses_in("4096\t8192"), Ok(vec![4096, 8192]));
        assert_eq!(addresses_in(""), Ok(vec![]));
        assert!(
            addresses_in("ab0x10 0x").is_err(),
            "no 0x token: every word must parse"
        );
        assert!(addresses_in("zz")
            .unwrap_err()
            .starts_with("'zz' is not an address"));
        assert!(addresses_in("0x1ffffffffffffffff").is_err());
    }
}
