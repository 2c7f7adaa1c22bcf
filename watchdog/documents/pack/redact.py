"""The check that no secret reaches a pack (config.yaml itself is redacted by :mod:`watchdog.config.redact`)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from watchdog.config import Config
from watchdog.config.redact import REDACTED, redact_config
from watchdog.errors import IntegrityError


def secret_values(config: Config) -> list[str]:
    """Every secret the loaded config holds (to make sure none reaches a pack)."""
    m = config.model
    found = [u.get_secret_value() for u in m.notify.urls]
    if m.influxdb is not None:
        found += [s.get_secret_value() for s in (m.influxdb.token, m.influxdb.password) if s is not None]
    if m.web.token is not None:
        found.append(m.web.token.get_secret_value())
    share = m.agent.share
    if share is not None:  # the advocate's salt and InfluxDB credentials
        found += [s.get_secret_value() for s in (share.salt,) if s is not None]
        if share.influxdb is not None:
            found += [s.get_secret_value() for s in (share.influxdb.token, share.influxdb.password) if s is not None]
    if m.heartbeat.url is not None:
        found.append(m.heartbeat.url.get_secret_value())
    found += [
        t.url.get_secret_value() for t in m.timestamp.tsas if re.search(r"://[^/]*@|\?", t.url.get_secret_value())
    ]
    return [s for s in found if len(s) >= 4]


def leak_check(files: dict[str, bytes | Path], secrets: Sequence[str]) -> None:
    """Refuse to write a pack that would carry a secret from the config (a target URL that embeds one)."""
    needles = [s.encode("utf-8") for s in secrets]
    if not needles:
        return
    overlap = max(len(n) for n in needles) - 1
    for name, content in files.items():
        if isinstance(content, bytes):
            chunks: Iterable[bytes] = [content]
        else:
            chunks = _chunks(content, overlap)
        for chunk in chunks:
            if any(needle in chunk for needle in needles):
                raise IntegrityError(
                    f"{name} would contain a secret from the config (a token or password reused in a target?); "
                    "no pack was written"
                )


def _chunks(path: Path, overlap: int, size: int = 1 << 22) -> Iterator[bytes]:
    """A file in pieces that overlap by ``overlap`` bytes, so nothing shorter is split unseen."""
    tail = b""
    with open(path, "rb") as f:
        while block := f.read(size):
            yield tail + block
            tail = block[-overlap:] if overlap else b""


__all__ = ["REDACTED", "leak_check", "redact_config", "secret_values"]
