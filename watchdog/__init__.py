"""Outage Watchdog: a customer-side SLA monitor that turns outages into evidence."""

from __future__ import annotations

__version__ = "0.1.0"
__outage_watchdog__ = True  # the CLI checks this: PyPI's "watchdog" (file system events) has our name

__all__ = ["__version__"]
