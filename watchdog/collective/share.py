"""The advocate's InfluxDB: a second exporter that ships under the shared identity (``agent.share.influxdb``).

The identity itself — the name, tags and providers the data goes out under, and whether detail lines go
too — is :mod:`watchdog.documents.sharing` (``agent.share`` decides it); evidence packs made with
``watchdog evidence --share`` use the same identity.
"""

from __future__ import annotations

import logging

from watchdog.agent.sinks import AgentContext, Sink
from watchdog.config import InfluxSection
from watchdog.documents.sharing import SharedIdentity, shared_identity
from watchdog.influx.exporter import InfluxExporter, exporter_name
from watchdog.influx.schema import Schema

_LOGGER = logging.getLogger(__name__)


class SharedSchema(Schema):
    """The InfluxDB schema of the advocate's copy: the shared identity and names, unshared providers left out."""

    def __init__(self, identity: SharedIdentity) -> None:
        super().__init__({**identity.tags, "agent": identity.agent})
        self.identity = identity
        self.details = identity.details

    def exports(self, provider: str | None, role: str) -> bool:
        """Controls always go (they show the line worked); providers only when shared."""
        return role != "provider" or (provider is not None and provider in self.identity.providers)

    def provider_name(self, provider_id: str) -> str:
        """The name the customer agreed to share the provider under."""
        return self.identity.providers.get(provider_id, provider_id)


def share_sink(ctx: AgentContext) -> Sink | None:
    """The sink factory for ``watchdog run``: the advocate's exporter when ``agent.share.influxdb`` is set."""
    share = ctx.config.agent.share
    if share is None or share.influxdb is None:
        return None
    try:
        identity = shared_identity(ctx.config)
    except OSError as exc:  # the salt file cannot be made: the rest of the agent runs on
        _LOGGER.error("cannot share with the advocate's InfluxDB: salt file in %s: %s", ctx.config.data_dir, exc)
        return None
    _LOGGER.info(
        "sharing with an advocate's InfluxDB url=%s agent=%s providers=%s",
        share.influxdb.url,
        identity.agent,
        ",".join(f"{k}={v}" for k, v in sorted(identity.providers.items())) or "none",
    )
    return InfluxExporter(
        ctx,
        share.influxdb,
        schema=SharedSchema(identity),
        name="influxdb-share",
        cursor_name=shared_exporter_name(share.influxdb),
    )


def shared_exporter_name(settings: InfluxSection) -> str:
    """The advocate's exporter's cursor: its own, even if it names the same server as ``influxdb:``."""
    return "share:" + exporter_name(settings)
