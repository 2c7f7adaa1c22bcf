#!/usr/bin/env bash
# Set up (first time) and run the agent: the local journal in ./data and ./watchdog.yaml, or, when you
# have not written one yet (`watchdog init`), the built-in default that watches your own internet line.
# Arguments go to `watchdog run`, e.g.  ./run.sh -c watchdog.yaml --for 10m
set -euo pipefail
cd "$(dirname "$0")"
scripts/bootstrap.sh
exec .venv/bin/watchdog run "$@"
