"""`python -m watchdog` runs the CLI."""

from __future__ import annotations

import sys

from watchdog.cli import main

if __name__ == "__main__":  # not when a spawned child (the document worker) imports it
    sys.exit(main())
