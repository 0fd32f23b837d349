# Devel::MemTrace — build, test and lint. Run 'make help' for the targets.
# The multi-step logic lives in perl/build/*.sh; these recipes only call it.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:

BUILD := perl/build
# Recipes run cargo from rustup's default location too.
CARGO_ENV := export PATH="$$HOME/.cargo/bin:$$PATH";
# Exports MEMTRACE_PERL, MEMTRACE_LEAKY_BLIB, MEMTRACE_PERL_INC (needs 'perl' first).
MEMTRACE_ENV := eval "$$($(BUILD)/env.sh)";
# Only the base perl (no recorder install), for lint.
BASE_PERL := $(BUILD)/install-deps.sh && PERL=$$($(BUILD)/memtrace-perl.sh | tail -n 1);

.PHONY: help perl demo test test-perls lint clean bench bench-counts bench-hooks check-core

help: ## list the targets
	@echo "Devel::MemTrace targets:"
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z-]+):.*## /  make \1\t/' | expand -t 16
	@echo "Environment: MEMTRACE_HOME (perl cache), MEMTRACE_PERL_KIND=twin|standalone, MEMTRACE_PERL_SRC (perl tarball/dir), MEMTRACE_THREADS=1, MEMTRACE_BIN_DIR"

perl: ## build the MemTrace perl (cached), the recorder, install it, build examples/Leaky; prints the perl path last
	@$(BUILD)/make-perl.sh

DEMO := target/demo
MEMTRACE := target/release/memtrace

demo: perl ## trace the unchanged examples/poller.pl (report at END), then read its capture: identify, flame graph, plot
	@mkdir -p $(DEMO)
	@$(MEMTRACE_ENV) "$$MEMTRACE_PERL" $$MEMTRACE_PERL_INC \
		-MDevel::MemTrace=-iteration=main::poll,-report_at_END,-dump_at_END=$(DEMO)/poller.mtc examples/poller.pl
	@echo "== the capture, read back: memtrace identify of each site's sample address" >&2
	@grep -o 'e\.g\. 0x[0-9a-f]*' <($(MEMTRACE) report $(DEMO)/poller.mtc) | cut -c6- | \
		$(MEMTRACE) identify - $(DEMO)/poller.mtc >&2
	@$(MEMTRACE) flamegraph $(DEMO)/poller.mtc -o $(DEMO)/leaks.svg
	@$(MEMTRACE) plot $(DEMO)/poller.mtc -o $(DEMO)/growth.svg
	@echo "== capture $(DEMO)/poller.mtc; pictures $(DEMO)/leaks.svg, $(DEMO)/growth.svg (open in a browser); $(MEMTRACE) --help for more" >&2

test: perl ## cargo test (every crate of the workspace), then prove -r t/ under the MemTrace perl
	@$(CARGO_ENV) cargo test --release --workspace
	@$(MEMTRACE_ENV) "$$MEMTRACE_PERL" "$$(dirname "$$MEMTRACE_PERL")/prove" \
		--exec "$$MEMTRACE_PERL $$MEMTRACE_PERL_INC" -r t/

test-perls: ## make test on the default perl and on each perl version Debian's suites carry (PERLS="5.40.1 ..." to choose)
	@$(BUILD)/test-perls.sh $(PERLS)

lint: ## cargo fmt --check, cargo clippy -D warnings (with and without --features perl)
	@$(CARGO_ENV) cargo fmt --all --check
	@$(CARGO_ENV) cargo clippy --workspace --all-targets -- -D warnings
	@$(CARGO_ENV) $(BASE_PERL) MEMTRACE_PERL="$$PERL" cargo clippy --all-targets --features perl --target-dir target/perl -- -D warnings

check-core: ## perl's own tests (t/, lib/), recording off then on: what fails only with it on (CHECK_CORE_ARGS=--ci: the CI subset)
	@$(BUILD)/check-core.sh $(CHECK_CORE_ARGS)

bench: ## build what it needs (cached), run every benchmark: one table of medians, ratios, peak RSS, budgets (settings: perl/bench/bench.sh)
	@perl/bench/bench.sh

bench-counts: perl ## the recorder's cost as instruction and cache-miss counts (cachegrind; repeatable, unlike timings); COUNTS_ARGS (see perl/bench/counts.sh)
	@$(BUILD)/install-bench-deps.sh >/dev/null
	@perl/bench/counts.sh $(COUNTS_ARGS)

bench-hooks: ## criterion microbenchmark of the recorder's hooks (benches/hooks.rs); BENCH_HOOKS_SECS per benchmark
	@perl/bench/hooks.sh

clean: ## cargo clean and target/xs (keeps the cached perl in $MEMTRACE_HOME)
	@$(CARGO_ENV) if [[ -f Cargo.toml ]]; then cargo clean; fi
	@rm -rf target/xs target/.memtrace-perl-path
