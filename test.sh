#!/usr/bin/env bash
# Set up (first time) and run the whole test suite: ruff, mypy (strict), import contracts, then pytest —
# first everything not marked `serial` on WATCHDOG_TEST_WORKERS workers (default 4 on 2 cores: many tests wait on
# real servers and clocks, not the CPU), then the timing-sensitive `serial` tests: those also marked `paired`
# (real-time namespace scenarios, a fraction of a core each) all three at once, then the rest two modules at a time.
# Arguments go to pytest (every part); WATCHDOG_TEST_WORKERS=0 runs everything in one process.
set -euo pipefail
cd "$(dirname "$0")"
# Compiled modules are cached (__pycache__, git-ignored) even where the environment says not to: without the cache
# every pytest worker and every command a test starts compiles the package and the tests again (collection alone
# 12 s of CPU a process instead of 6).
unset PYTHONDONTWRITEBYTECODE
stages=()
stage() { stages+=("$1 $((SECONDS - mark)) s"); mark=$SECONDS; }  # for the timing line at the end
mark=$SECONDS
scripts/bootstrap.sh --test
stage set-up
.venv/bin/ruff check watchdog probes tests bench scripts docs
.venv/bin/ruff format --check watchdog probes tests bench scripts docs
.venv/bin/mypy
.venv/bin/lint-imports --no-cache
stage checks
workers="${WATCHDOG_TEST_WORKERS:-4}"
if [ "$workers" = 0 ]; then
  exec .venv/bin/pytest "$@"
fi
status=0
.venv/bin/pytest -n "$workers" --dist worksteal -m "not serial" "$@" || status=$?
[ "$status" = 5 ] && status=0  # 5: nothing collected (arguments named only serial tests)
stage parallel
paired=0
.venv/bin/pytest -n 3 -m "serial and paired" "$@" || paired=$?
[ "$paired" = 5 ] && paired=0  # nothing collected
stage paired
alone=0
.venv/bin/pytest -n 2 --dist loadfile -m "serial and not paired" "$@" || alone=$?
[ "$alone" = 5 ] && alone=0
stage serial
line=""
for part in "${stages[@]}"; do line+="${line:+, }$part"; done
echo "test.sh: $line; $SECONDS s in all"
for code in "$paired" "$alone"; do
  [ "$status" = 0 ] && status=$code
done
exit "$status"
