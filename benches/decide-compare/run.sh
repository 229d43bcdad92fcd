#!/usr/bin/env bash
# Decide benchmarks of optimizely-fx side by side with the unofficial `optimizely` 0.5 crate.
#
#   benches/decide-compare/run.sh [--cli] [decide-compare options...]
#
# Builds this bench-only crate in release mode (its own Cargo.lock and target directory; the
# workspace never builds it), then writes to benches/decide-compare/results/:
#   compare.md     throughput, peak RSS, histograms, instructions per decision and
#                  parse-to-first-decision (decide-compare; options are passed to it, e.g.
#                  --rounds 3 --n 200000 --callgrind-users 0)
#   compare.jsonl  the raw JSON line of every child process
#   allocs.md      heap allocations per decide and heap held after loading (decide-allocs)
#   cli.md         with --cli only: `optimizely-fx bench decide` (built from the workspace in
#                  release mode) on the same datafiles, peak RSS from /usr/bin/time
# Takes about a minute once built (a few more without valgrind's instruction counts).
#
# `--per-side-binaries` runs the 1,000,000-user children as `decide-child-<side>`, binaries
# that each link one side alone (as a service links one SDK), instead of `decide-compare`,
# which links all three; the file-backed part of peak RSS depends on the binary's layout.
# The `optimizely05-online` cargo feature builds `optimizely` 0.5 with its `online` feature
# (an HTTPS client, as the SDK has); see BENCHMARKS.md for the commands.
# With DECIDE_COMPARE_RESIDENCY=1 in the environment, each child's JSON line also lists
# resident kB per mapping and the program's resident pages (see src/residency.rs).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
results="$here/results"

with_cli=false
args=()
for arg in "$@"; do
    case "$arg" in
        --cli) with_cli=true ;;
        *) args+=("$arg") ;;
    esac
done

cd "$here"
cargo build --release --locked
mkdir -p "$results"

echo "decide-compare ${args[*]:-} -> $results/compare.md" >&2
./target/release/decide-compare "${args[@]}" >"$results/compare.md" 2>"$results/compare.jsonl"
cat "$results/compare.md"

echo "decide-allocs -> $results/allocs.md" >&2
./target/release/decide-allocs >"$results/allocs.md"
cat "$results/allocs.md"

if $with_cli; then
    (cd "$repo" && cargo build --release -p optimizely-fx-cli)
    cli="$repo/target/release/optimizely-fx"
    datafiles="$repo/tests/fixtures/datafiles"
    {
        echo "#### \`optimizely-fx bench decide\` (1,000,000 users, one run each)"
        echo
        echo '```'
        for case in rs-sandbox.json:a_b_test go-100_entities.json:feature_64; do
            file="${case%%:*}"
            flag="${case##*:}"
            if [ -x /usr/bin/time ]; then
                /usr/bin/time -f "peak RSS %M KiB" \
                    "$cli" bench decide --datafile "$datafiles/$file" --flag "$flag" --n 1000000 2>&1
            else
                "$cli" bench decide --datafile "$datafiles/$file" --flag "$flag" --n 1000000
            fi
        done
        echo '```'
    } >"$results/cli.md"
    cat "$results/cli.md"
fi
