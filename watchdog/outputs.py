"""Which sinks an agent run gets: one factory per output, each returning None when not configured.

This is the one place where outputs are wired in; each factory reads its own config section.
"""

from __future__ import annotations

from watchdog.agent import SinkFactory
from watchdog.clock import clock_sink_factory
from watchdog.collective.share import share_sink
from watchdog.influx.exporter import influx_sink
from watchdog.notify.sink import notify_sink


def default_sink_factories() -> list[SinkFactory]:
    """The sinks ``watchdog run`` starts (each decides from the config whether it is wanted)."""
    from watchdog.web import web_sink

    factories: list[SinkFactory] = []
    factories.append(web_sink)  # the status page (web.enabled)
    factories.append(influx_sink)  # the InfluxDB exporter (None without an `influxdb:` section)
    factories.append(clock_sink_factory)  # clock accuracy against NTP (ntp:)
    factories.append(notify_sink)  # notifications (issue 6): None without notify.urls
    factories.append(share_sink)  # the advocate's InfluxDB (issue 8): None without agent.share.influxdb
    return factories
