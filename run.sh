#!/usr/bin/env bash
# Set up (first time) and run the agent on the embedded default: the local journal in ./data and
# ./watchdog.yaml, or config/example.yaml when you have not written your own yet.
# Arguments go to `watchdog run`, e.g.  ./run.sh -c watchdog.yaml --for 10m
set -euo pipefail
cd "$(dirname "$0")"
scripts/bootstrap.sh
exec .venv/bin/watchdog run "$@"
