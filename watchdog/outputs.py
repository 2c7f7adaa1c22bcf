"""Which sinks an agent run gets: one factory per output, each returning None when not configured.

This is the one place where outputs are wired in; each factory reads its own config section.
"""

from __future__ import annotations

from watchdog.agent import SinkFactory
from watchdog.notify.sink import notify_sink


def default_sink_factories() -> list[SinkFactory]:
    """The sinks ``watchdog run`` starts (each decides from the config whether it is wanted)."""
    factories: list[SinkFactory] = []
    factories.append(notify_sink)  # notifications (issue 6): None without notify.urls
    return factories
