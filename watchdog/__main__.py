"""`python -m watchdog` runs the CLI."""

from __future__ import annotations

import sys

from watchdog.cli import main

sys.exit(main())
