//! Builds the XS layer when the `perl` feature is on: compiles the C shim
//! against the target perl's headers with that perl's own compiler flags,
//! runs bindgen over the shim's header (the C/Rust ABI) and over perl's
//! headers (the `svtype` numbering of that perl), and links libperl.
//!
//! The target perl is named by MEMTRACE_PERL (its bin/perl); `make perl`
//! sets it. Without the feature this script does nothing: the recorder and
//! its tests need no perl.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=MEMTRACE_PERL");
    println!("cargo::rustc-check-cfg=cfg(perl_multiplicity)");
    if env::var_os("CARGO_FEATURE_PERL").is_none() {
        return;
    }
    let perl = match env::var("MEMTRACE_PERL") {
        Ok(p) if !p.is_empty() => PathBuf::from(p),
        _ => fail("the `perl` feature needs MEMTRACE_PERL=/path/to/bin/perl of a MemTrace perl; run `make perl`, which sets it"),
    };
    let config = PerlConfig::read(&perl);
    if !config
        .ccflags
        .split_whitespace()
        .any(|f| f == "-DPERL_MEM_LOG")
    {
        fail(&format!(
            "{} was not built with -DPERL_MEM_LOG (ccflags: {}); build a MemTrace perl with `make perl`",
            perl.display(),
            config.ccflags
        ));
    }
    let core = PathBuf::from(&config.archlib).join("CORE");
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());

    for file in XS_C_FILES.iter().chain(XS_HEADERS) {
        println!("cargo:rerun-if-changed={file}");
    }
    if config.multiplicity {
        println!("cargo:rustc-cfg=perl_multiplicity");
    }
    compile_shim(&config, &core);
    generate_shim_bindings(&out);
    generate_sv_type_names(&config, &core, &out);

    println!("cargo:rustc-link-search=native={}", core.display());
    println!("cargo:rustc-link-lib=dylib=perl");
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", core.display());
}

fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(1);
}

struct PerlConfig {
    archlib: String,
    ccflags: String,
    optimize: String,
    /// Threaded (or multiplicity) perl: every perl function takes pTHX.
    multiplicity: bool,
}

impl PerlConfig {
    fn read(perl: &Path) -> PerlConfig {
        let output = Command::new(perl)
            .args(["-MConfig", "-e", "print join qq{\\n}, map { $_ // q{} } @Config{qw(archlib ccflags optimize useshrplib usemultiplicity)}"])
            .output()
            .unwrap_or_else(|e| fail(&format!("cannot run {}: {e}; check MEMTRACE_PERL", perl.display())));
        if !output.status.success() {
            fail(&format!(
                "{} -MConfig failed; check MEMTRACE_PERL",
                perl.display()
            ));
        }
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        let mut lines = text.lines().map(str::to_string);
        let mut next = || lines.next().unwrap_or_default();
        let (archlib, ccflags, optimize, useshrplib, usemultiplicity) =
            (next(), next(), next(), next(), next());
        if useshrplib != "true" {
            fail(&format!(
                "{} has a static libperl (useshrplib={useshrplib}): the recorder cannot replace its PERL_MEM_LOG hooks; build a MemTrace perl with `make perl`",
                perl.display()
            ));
        }
        PerlConfig {
            archlib,
            ccflags,
            optimize,
            multiplicity: usemultiplicity == "define",
        }
    }

    /// The -D and -I flags, which are what a header parse needs.
    fn preprocessor_flags(&self) -> Vec<String> {
        self.ccflags
            .split_whitespace()
            .filter(|f| f.starts_with("-D") || f.starts_with("-I"))
            .map(str::to_string)
            .collect()
    }
}

/// The XS layer's C, one file per job; all compiled with perl's flags.
const XS_C_FILES: &[&str] = &[
    // the Perl site of an event, and the memo in front of it (hot path)
    "src/xs/site_probe.c",
    "src/xs/perl_probe.c",
    // SV arenas: counts, the address index, the buffers an SV owns
    "src/xs/arena.c",
    // who holds an SV: every reference edge, and names for the paths
    "src/xs/holders.c",
    // the XSUBs and the perl values they return
    "src/xs/xsubs.c",
    // -iteration_every: a timer that ends iterations at perl's safe points
    "src/xs/iteration_timer.c",
    // -iteration=Pkg::sub: each return from the sub ends an iteration
    "src/xs/iteration_wrapper.c",
    // the boot handshake
    "src/xs/boot.c",
];
const XS_HEADERS: &[&str] = &[
    "src/xs/shim.h",
    "src/xs/shim_private.h",
    "src/xs/perl_probe.h",
    "src/xs/cop_key.h",
];

fn compile_shim(config: &PerlConfig, core: &Path) {
    let mut build = cc::Build::new();
    build
        .files(XS_C_FILES)
        .include(core)
        .include("src/xs")
        .pic(true);
    for flag in config
        .ccflags
        .split_whitespace()
        .chain(config.optimize.split_whitespace())
    {
        build.flag_if_supported(flag);
    }
    build.flag_if_supported("-Wno-unused-parameter");
    // A threaded perl's context is a thread-local of libperl
    // (PL_current_context), which every probe reads. A shared object's
    // default model calls __tls_get_addr for each read; libperl is loaded
    // with the perl binary, so its thread-locals are in the static block and
    // the initial-exec model reads them with one load (the recorder's own
    // slot, read by note_hook_entry, already needs that model).
    build.flag_if_supported("-ftls-model=initial-exec");
    build.compile("memtrace_shim");
}

fn generate_shim_bindings(out: &Path) {
    bindgen::Builder::default()
        .header("src/xs/shim.h")
        .allowlist_type("Mt.*")
        .allowlist_function("memtrace_shim_.*")
        .allowlist_var("MT_.*")
        .opaque_type("MtList")
        .derive_default(true)
        .generate()
        .unwrap_or_else(|e| fail(&format!("bindgen over src/xs/shim.h failed: {e}; is libclang-dev installed? (`make perl` installs it)")))
        .write_to_file(out.join("shim_bindings.rs"))
        .expect("write shim bindings");
}

/// The target perl's `svtype` enum, as (value, friendly name) pairs: the
/// numbering differs between perl versions (SVt_INVLIST, SVt_PVOBJ, ...).
fn generate_sv_type_names(config: &PerlConfig, core: &Path, out: &Path) {
    let bindings = bindgen::Builder::default()
        .header_contents("perl_svtype.h", "#include <EXTERN.h>\n#include <perl.h>\n")
        .clang_arg(format!("-I{}", core.display()))
        .clang_args(config.preprocessor_flags())
        .allowlist_type("svtype")
        .constified_enum_module("svtype")
        .generate()
        .unwrap_or_else(|e| {
            fail(&format!(
                "bindgen over {}/perl.h failed: {e}",
                core.display()
            ))
        })
        .to_string();
    let mut table = String::from("/// (svtype value, name) for the target perl.\npub const SV_TYPE_NAMES: &[(i32, &std::ffi::CStr)] = &[\n");
    for line in bindings.lines() {
        // `pub const SVt_PVAV: Type = 11;`
        let line = line.trim();
        let Some(rest) = line.strip_prefix("pub const SVt_") else {
            continue;
        };
        let Some((name, value)) = rest.split_once(": Type = ") else {
            continue;
        };
        let value = value.trim_end_matches(';');
        if name == "LAST" {
            continue;
        }
        table.push_str(&format!(
            "    ({value}, c\"{}\"),\n",
            friendly_sv_type(name)
        ));
    }
    table.push_str("];\n");
    std::fs::write(out.join("sv_type_names.rs"), table).expect("write sv type names");
}

/// Names a Perl programmer knows (ref()'s where there is one).
fn friendly_sv_type(svt: &str) -> String {
    match svt {
        "NULL" => "UNDEF",
        "PVAV" => "ARRAY",
        "PVHV" => "HASH",
        "PVCV" => "CODE",
        "PVGV" => "GLOB",
        "PVLV" => "LVALUE",
        "PVFM" => "FORMAT",
        "PVIO" => "IO",
        "PVOBJ" => "OBJECT",
        other => other,
    }
    .to_string()
}
