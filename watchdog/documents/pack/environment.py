"""environment.json: the agent, its runs and hosts, the time zones, the config's hash and the clock summary."""

from __future__ import annotations

from typing import Any

from watchdog import __version__
from watchdog.config import Config
from watchdog.documents.report import Report, report_json


def describe_environment(report: Report, config: Config, agent: str | None = None) -> dict[str, Any]:
    """environment.json's content; ``agent``: the shared name, for a shared pack (no host names then)."""
    data = report_json(report)
    runs = data["agents"]
    if agent is not None:  # a shared pack: the shared name, no host names (the events keep what was journaled)
        runs = [{**{k: v for k, v in r.items() if k != "host"}, "agent": agent} for r in runs]
    return {
        "exported_with": f"outage-watchdog {__version__}",
        "agent": agent or config.agent.id,
        "agent_timezone": config.agent.timezone,
        "provider_timezone": str(report.zone.key),
        "config_sha256": config.sha256,
        "runs": runs,
        "clock": data["clock"],
        "coverage": data["figures"]["coverage"],
        "no_data": data["no_data"],
    }
