"""The probe contract: a probe is an options model plus one async function; the runner owns the rest.

A probe function takes the shared :class:`ProbeContext` and the :class:`Target`, and returns a
:class:`Measurement` (latency, a detail line, base-unit metrics) or raises a
:class:`~watchdog.errors.ProbeError`. It never catches ``TimeoutError`` and never measures total time:
:func:`watchdog.agent.runner.run_probe` applies the target's timeout, times the run on the monotonic
clock and always returns a :class:`~watchdog.model.Result`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict

from watchdog.model import Target

_LOGGER = logging.getLogger(__name__)


class ProbeOptions(BaseModel):
    """Base of every probe's options block (``http: {...}`` in the config): strict and frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def split_host_port(address: str, default_port: int | None = None) -> tuple[str, int]:
    """Split ``host:port`` / ``[v6]:port`` / ``host`` (with a default port); raise ValueError if bad."""
    host, port_text = address, ""
    if address.startswith("["):
        end = address.find("]")
        if end < 0:
            raise ValueError(f"unclosed '[' in {address!r}")
        host, rest = address[1:end], address[end + 1 :]
        if rest:
            if not rest.startswith(":"):
                raise ValueError(f"expected ':port' after ']' in {address!r}")
            port_text = rest[1:]
    elif address.count(":") == 1:
        host, port_text = address.split(":")
    if not host:
        raise ValueError(f"no host in {address!r}")
    if not port_text:
        if default_port is None:
            raise ValueError(f"no port in {address!r} (write host:port)")
        return host, default_port
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"bad port {port_text!r} in {address!r}")
    return host, int(port_text)


@dataclass(frozen=True, slots=True)
class Measurement:
    """What a successful probe reports: its latency (None = use the elapsed time), a line, metrics."""

    latency_s: float | None = None
    detail: str = ""
    metrics: Mapping[str, float] = field(default_factory=dict)


ProbeFn = Callable[["ProbeContext", Target], Awaitable[Measurement]]


@dataclass(slots=True)
class ProbeContext:
    """Long-lived resources probes share, built once by the agent and closed at shutdown.

    ``resources`` holds per-kind shared state created lazily by the probes themselves (for example an
    aiohttp session or the ICMP privilege mode), so the context needs no knowledge of any protocol.
    """

    resources: dict[str, Any] = field(default_factory=dict)
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    async def aclose(self) -> None:
        """Close whatever the probes opened."""
        while self.closers:
            closer = self.closers.pop()
            try:
                await closer()
            except Exception:  # closing must go on for the others
                _LOGGER.exception("probe resource close failed")
        self.resources.clear()


@dataclass(frozen=True, slots=True)
class Probe:
    """A protocol: its options model (validated by config) and its function."""

    options: type[ProbeOptions]
    run: ProbeFn
    check_address: Callable[[str], str | None] | None = None
    """Optional: returns a problem with the address ("no port in ..."), checked by config."""
    setup: Callable[[ProbeContext, list[Target]], Awaitable[list[str]]] | None = None
    """Optional one-time start-up check; returns problems to log (e.g. no ICMP permission)."""
    advise: Callable[[Any], list[tuple[tuple[str | int, ...], str]]] | None = None
    """Optional: warnings about valid options (a pattern that may backtrack without end), each as the key path
    inside the kind's block and a message; ``watchdog config check`` prints them, the agent logs them."""
