//! The rules a capture must follow beyond its byte layout: what `decode`
//! guarantees to its callers and `write_file` demands of its writers.

use crate::{CFrames, Capture, FormatError, PerlSite, Record, Stack};

impl Capture {
    /// Checks that the capture is one a reader may use without checks:
    ///
    /// - the header's pointer size is 4 or 8;
    /// - `strings`, `perl_sites`, `stacks` and `c_frames` each start with
    ///   their empty entry at index 0 (so an id of 0 always means "none");
    /// - every id (string, perl site, stack, c_frames, site, sv_type) is
    ///   within its table;
    /// - records are sorted by (kind, address) with no address twice;
    /// - every SV arena starts at or before its end.
    ///
    /// `decode` runs it on everything it returns.
    pub fn validate(&self) -> Result<(), FormatError> {
        let bad = |detail: String| Err(FormatError::Corrupt(detail));
        let ps = self.header.pointer_size;
        if ps != 4 && ps != 8 {
            return bad(format!("the header's pointer size is {ps}, not 4 or 8"));
        }
        if self.strings.first().map(String::as_str) != Some("") {
            return bad("the strings table must start with the empty string".into());
        }
        if self.perl_sites.first() != Some(&PerlSite::default()) {
            return bad("the perl_sites table must start with the unknown (all-zero) site".into());
        }
        if self.stacks.first() != Some(&Stack::default()) {
            return bad("the stacks table must start with the empty stack".into());
        }
        if self.c_frames.first() != Some(&CFrames::default()) {
            return bad("the c_frames table must start with the empty list".into());
        }

        let strings = self.strings.len();
        let string = |owner: &dyn Fn() -> String, id: u32| {
            if (id as usize) < strings {
                Ok(())
            } else {
                bad(format!("{} names string {id} of {strings}", owner()))
            }
        };
        for (i, p) in self.perl_sites.iter().enumerate() {
            let who = || format!("perl site {i}");
            string(&who, p.file)?;
            string(&who, p.sub)?;
        }
        let perl_sites = self.perl_sites.len();
        for (i, s) in self.stacks.iter().enumerate() {
            if let Some(&f) = s.frames.iter().find(|&&f| f as usize >= perl_sites) {
                return bad(format!("stack {i} names perl site {f} of {perl_sites}"));
            }
        }
        for (i, fs) in self.c_frames.iter().enumerate() {
            let who = || format!("c_frames {i}");
            for f in &fs.frames {
                string(&who, f.func)?;
                string(&who, f.file)?;
            }
        }
        for (i, s) in self.sites.iter().enumerate() {
            let who = || format!("site {i}");
            string(&who, s.c_file)?;
            string(&who, s.c_func)?;
            string(&who, s.type_name)?;
            if s.perl_site as usize >= perl_sites {
                return bad(format!(
                    "site {i} names perl site {} of {perl_sites}",
                    s.perl_site
                ));
            }
        }
        self.validate_records()?;
        for (i, h) in self.holders.iter().enumerate() {
            let who = || format!("holder {i}");
            string(&who, h.kind)?;
            string(&who, h.path)?;
            string(&who, h.text)?;
        }
        if let Some((i, (s, e))) = self.sv_arenas.iter().enumerate().find(|(_, (s, e))| s > e) {
            return bad(format!(
                "sv arena {i} ends ({e:#x}) before it starts ({s:#x})"
            ));
        }
        Ok(())
    }

    fn validate_records(&self) -> Result<(), FormatError> {
        let (sites, strings) = (self.sites.len(), self.strings.len());
        let (stacks, c_frames) = (self.stacks.len(), self.c_frames.len());
        let mut prev: Option<&Record> = None;
        for (i, r) in self.records.iter().enumerate() {
            let id = |what: &str, id: u32, of: usize| {
                if (id as usize) < of {
                    Ok(())
                } else {
                    Err(FormatError::Corrupt(format!(
                        "record {i} ({} {:#x}) names {what} {id} of {of}",
                        r.kind.name(),
                        r.address
                    )))
                }
            };
            id("site", r.site, sites)?;
            id("sv_type string", r.sv_type, strings)?;
            id("stack", r.stack, stacks)?;
            id("c_frames", r.c_frames, c_frames)?;
            if let Some(p) = prev {
                if (p.kind, p.address) >= (r.kind, r.address) {
                    return Err(FormatError::Corrupt(format!(
                        "records {} ({} {:#x}) and {i} ({} {:#x}) are not in (kind, address) order",
                        i - 1,
                        p.kind.name(),
                        p.address,
                        r.kind.name(),
                        r.address
                    )));
                }
            }
            prev = Some(r);
        }
        Ok(())
    }
}
