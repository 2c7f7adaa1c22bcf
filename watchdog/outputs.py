"""Which sinks an agent run gets: one factory per output, each returning None when not configured.

This is the one place where outputs are wired to the agent (the agent package imports no output); each
factory reads its own config section. An output's module is imported only when its section is there: the
InfluxDB client alone (it loads numpy) would add about 22 MB to an agent that does not export, which on a
Raspberry Pi is a third of its footprint.
"""

from __future__ import annotations

from collections.abc import Sequence

from watchdog.agent.clock import clock_sink_factory
from watchdog.agent.core import Agent
from watchdog.agent.sinks import AgentContext, Sink, SinkFactory
from watchdog.config import Config


def influx_sink(ctx: AgentContext) -> Sink | None:
    """The InfluxDB exporter (None without an ``influxdb:`` section)."""
    if ctx.config.model.influxdb is None:
        return None
    from watchdog.influx.exporter import influx_sink as make

    return make(ctx)


def share_sink(ctx: AgentContext) -> Sink | None:
    """The advocate's InfluxDB (issue 8): None without ``agent.share.influxdb``."""
    share = ctx.config.agent.share
    if share is None or share.influxdb is None:
        return None
    from watchdog.collective.share import share_sink as make

    return make(ctx)


def notify_sink(ctx: AgentContext) -> Sink | None:
    """Notifications (issue 6): None without a notify URL."""
    if not ctx.config.model.notify.all_channels():
        return None
    from watchdog.notify.sink import notify_sink as make

    return make(ctx)


def timestamp_sink(ctx: AgentContext) -> Sink | None:
    """Trusted timestamps (issue 17): None without ``timestamp.tsas``."""
    if not ctx.config.model.timestamp.tsas:
        return None
    from watchdog.agent.timestamps import timestamp_sink_factory

    return timestamp_sink_factory(ctx)


def heartbeat_sink(ctx: AgentContext) -> Sink | None:
    """The dead-man's switch (issue 17): None without ``heartbeat.url``."""
    if ctx.config.model.heartbeat.url is None:
        return None
    from watchdog.agent.heartbeat import heartbeat_sink_factory

    return heartbeat_sink_factory(ctx)


def backup_sink(ctx: AgentContext) -> Sink | None:
    """Scheduled journal backups (issue 17): None without ``backup.dest``."""
    if ctx.config.model.backup.dest is None:
        return None
    from watchdog.agent.backups import backup_sink_factory

    return backup_sink_factory(ctx)


def traceroute_sink(ctx: AgentContext) -> Sink | None:
    """The path at the moment of failure (issue 17): None unless ``traceroute.enabled``."""
    if not ctx.config.model.traceroute.enabled:
        return None
    from watchdog.agent.traceroute import traceroute_sink_factory

    return traceroute_sink_factory(ctx)


def web_sink(ctx: AgentContext) -> Sink | None:
    """The status page (``web.enabled``)."""
    from watchdog.web import web_sink as make

    return make(ctx)


def default_sink_factories() -> list[SinkFactory]:
    """The sinks ``watchdog run`` starts (each decides from the config whether it is wanted)."""
    return [
        web_sink,
        influx_sink,
        clock_sink_factory,
        notify_sink,
        share_sink,
        timestamp_sink,
        heartbeat_sink,
        backup_sink,
        traceroute_sink,
    ]


def console_factory(hint: Sequence[str] = ()) -> SinkFactory:
    """The console (issue 15): a line on stdout per state change, the first round, then ``hint``."""

    def make(ctx: AgentContext) -> Sink:
        from watchdog.notify.console import console_sink

        return console_sink(ctx, hint)

    return make


async def run_agent(
    config: Config,
    *,
    duration_s: float | None = None,
    sink_factories: Sequence[SinkFactory] | None = None,
    install_signal_handlers: bool = True,
    console: Sequence[str] | None = None,
    tune_gc: bool = False,
) -> int:
    """Run the agent with the sinks its config asks for (``console``: the console's hint lines; None: no console)."""
    factories = list(default_sink_factories() if sink_factories is None else sink_factories)
    if console is not None:
        factories.append(console_factory(console))
    agent = Agent(
        config,
        sink_factories=factories,
        duration_s=duration_s,
        install_signal_handlers=install_signal_handlers,
        tune_gc=tune_gc,
    )
    return await agent.run()
