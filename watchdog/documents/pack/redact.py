"""config.yaml with every secret replaced by ``<redacted>``, and the check that no secret reaches a pack."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import yaml

from watchdog.config import Config
from watchdog.errors import IntegrityError

REDACTED = "<redacted>"
_SECRET_KEY = re.compile(r"(token|password|passwd|secret|api[_-]?key|authorization|cookie|credential)", re.I)
_SECRET_PATHS = {
    ("notify", "urls"),
    ("influxdb", "token"),
    ("influxdb", "password"),
    ("web", "token"),
    ("share", "salt"),
    ("tsas", "url"),  # a TSA's URL may carry credentials (qualified TSAs)
    ("heartbeat", "url"),  # a push URL is the secret itself (Healthchecks, Uptime Kuma, ntfy topic)
}
_ENV_ONLY = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*\}$")
_URL_USERINFO = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^/@:\s]*):(?P<pw>[^/@\s]+)@", re.I)


def redact_config(text: str) -> str:
    """The config as written, re-emitted with every secret replaced by ``<redacted>``.

    ``${VAR}`` references are never expanded here, so a secret that came from the environment cannot
    appear; a reference alone under a secret key is kept (it says where the secret lives), anything else
    there — a literal, or a reference with a default — is redacted. Keys that look like credentials
    anywhere (http headers included) and passwords inside URLs are redacted too.
    """
    data = yaml.safe_load(text) or {}

    def walk(node: Any, path: tuple[str, ...]) -> Any:
        if isinstance(node, dict):
            return {k: walk(v, (*path, str(k))) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v, path) for v in node]
        secret = path[-2:] in _SECRET_PATHS or bool(path and _SECRET_KEY.search(path[-1]))
        if secret and node is not None and node != "":
            return node if isinstance(node, str) and _ENV_ONLY.match(node) else REDACTED
        if isinstance(node, str):
            return _URL_USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:{REDACTED}@", node)
        return node

    body = yaml.safe_dump(walk(data, ()), allow_unicode=True, sort_keys=False, default_flow_style=False, width=100)
    head = (
        "# The configuration this pack was made with. Secrets are replaced by <redacted>; ${VAR} references\n"
        "# are shown as written and their values are not included. Comments of the original are not kept.\n"
    )
    return head + body


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
