"""Shared test set-up: make tests/helpers.py importable."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parent))  # after the packages: tests/probes must not shadow probes
