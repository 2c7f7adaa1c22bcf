"""Durations as users write them (``500ms``, ``10s``, ``5m``, ``72h``, ``1d``, ``1h30m``) and back; addresses."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator

_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
MAX_DURATION_S = 3650 * 86400.0  # ten years: no setting means more; past it a number is a typo or an attack


def parse_duration(value: Any) -> float:
    """``"500ms"``, ``"10s"``, ``"5m"``, ``"72h"``, ``"1d"``, ``"1h30m"`` → seconds (float)."""
    if isinstance(value, bool) or not isinstance(value, str):
        raise ValueError(f"expected a duration like 500ms, 10s, 5m or 72h, got {value!r}")
    text = value.strip()
    pos, total = 0, 0.0
    for m in _DURATION_RE.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if not text or pos != len(text) or len(text) > 64:
        raise ValueError(f"expected a duration like 500ms, 10s, 5m or 72h, got {value!r}")
    if not total <= MAX_DURATION_S:  # also inf and nan (a number too long for a float)
        raise ValueError(f"longer than 3650 days: {value!r}")
    return total


def bounded(most: float) -> AfterValidator:
    """A pydantic validator for a Duration: at most ``most`` seconds."""

    def check(seconds: float) -> float:
        if seconds > most:
            raise ValueError(f"at most {format_duration(most)}, got {format_duration(seconds)}")
        return seconds

    return AfterValidator(check)


def format_duration(seconds: float) -> str:
    """Seconds → the shortest config spelling (``30s``, ``5m``, ``500ms``, ``1h30m``)."""
    if seconds < 1 and seconds != int(seconds):
        return f"{round(seconds * 1000):d}ms"
    rest = round(seconds)
    parts = []
    for unit, size in (("h", 3600), ("m", 60), ("s", 1)):  # hours, as contracts say "72h"
        if rest >= size:
            parts.append(f"{rest // size}{unit}")
            rest %= size
    return "".join(parts) or "0s"


def _positive_duration(value: Any) -> float:
    seconds = parse_duration(value)
    if seconds <= 0:
        raise ValueError(f"must be longer than zero, got {value!r}")
    return seconds


Duration = Annotated[float, BeforeValidator(_positive_duration)]
"""A pydantic field type: a duration string in, float seconds out (must be > 0)."""


NTP_PORT = 123


def split_server(server: str) -> tuple[str, int]:
    """``pool.ntp.org`` / ``127.0.0.1:12345`` / ``[::1]:123`` / ``::1`` → (host, port)."""
    text = server.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    else:
        host, port = text, ""
    if not host:
        raise ValueError(f"no host in NTP server {server!r}")
    if port and not (port.isdigit() and 0 < int(port) < 65536):
        raise ValueError(f"bad port in NTP server {server!r}")
    return host, int(port) if port else NTP_PORT


# ``scheme://user:password@`` up to the last ``@`` before the path: a raw ``@`` in a password still hides
_USERINFO_RE = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/?#\s]*)@")


def redact_url(text: str) -> str:
    """Every ``scheme://user:password@`` in ``text`` → ``scheme://***@``: credentials never leave memory."""
    return _USERINFO_RE.sub(r"\g<scheme>***@", text)


def without_userinfo(url: str) -> str:
    """The URL with no credentials at all (to compare a URL before and after a client took them out)."""
    return _USERINFO_RE.sub(r"\g<scheme>", url)
