#!/usr/bin/env bash
# Set up (first time) and run the whole test suite: ruff, mypy (strict), import contracts, then pytest.
# Arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")"
scripts/bootstrap.sh --test
.venv/bin/ruff check watchdog probes tests bench
.venv/bin/ruff format --check watchdog probes tests bench
.venv/bin/mypy
.venv/bin/lint-imports --no-cache
exec .venv/bin/pytest "$@"
