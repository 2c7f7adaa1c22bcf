"""The status page's guards: Host allowlist (DNS rebinding), token auth, login throttling, security headers.

* Every request's ``Host`` must be ``localhost``, ``127.0.0.1`` or ``[::1]`` with the port the request
  came in on, the listen address itself, or a name in ``web.hosts`` (any port: a reverse proxy may use
  its own). Anything else is answered 400 before any handler runs: a page on an attacker's domain that
  re-resolves to 127.0.0.1 cannot read it.
* With ``web.token`` set, everything but ``/healthz``, ``/login`` and ``/static/`` needs either
  ``Authorization: Bearer <token>`` or the session cookie the login form sets. Both are compared with
  ``hmac.compare_digest``. The cookie holds an HMAC of a fixed label keyed by the token, never the token
  itself, so changing the token signs everybody out; it is ``HttpOnly`` and ``SameSite=Strict``.
* The page is read-only: there is nothing to change through it, so the only POSTs are the login form
  (checked against ``Origin`` and throttled per client) and logout.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

SESSION_COOKIE = "owd_session"
SESSION_LABEL = b"outage-watchdog web session v1"
LOGIN_ATTEMPTS = 10  # failed logins per client per window
LOGIN_WINDOW_S = 60.0
PUBLIC_PATHS = ("/healthz", "/login", "/logout", "/static/", "/favicon.ico")

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
_LOOPBACK = ("localhost", "127.0.0.1", "[::1]")


def split_host(value: str) -> tuple[str, int | None] | None:
    """A Host header → (lower-case host, port or None); None when it cannot be a host."""
    text = value.strip().lower()
    if not text:
        return None
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            return None
        host, rest = text[: end + 1], text[end + 1 :]
    else:
        host, sep, port_text = text.partition(":")
        rest = sep + port_text
    if rest:
        if not rest.startswith(":") or not rest[1:].isdigit() or len(rest) > 6:
            return None
        return host, int(rest[1:])
    return host, None


def _literal(host: str) -> str:
    """An IP literal in its bracketed, canonical spelling; names unchanged."""
    bare = host[1:-1] if host.startswith("[") else host
    try:
        ip = ipaddress.ip_address(bare)
    except ValueError:
        return host.lower()
    return f"[{ip.compressed}]" if ip.version == 6 else ip.compressed


@dataclass(frozen=True)
class HostPolicy:
    """Which ``Host`` headers are answered."""

    listen_host: str
    extra: tuple[str, ...] = ()

    def allows(self, header: str | None, local_port: int) -> bool:
        """True when ``header`` names this server (see the module docstring)."""
        if header is None:
            return False
        parsed = split_host(header)
        if parsed is None:
            return False
        host, port = _literal(parsed[0]), parsed[1]
        same_port = port == local_port or (port is None and local_port == 80)
        own = {_literal(h) for h in _LOOPBACK}
        if self.listen_host not in ("0.0.0.0", "::", ""):
            own.add(_literal(self.listen_host))
        if host in own or _is_loopback_literal(host):
            return same_port
        for entry in self.extra:
            allowed = split_host(entry)
            if allowed is None:
                continue
            if _literal(allowed[0]) == host and (allowed[1] is None or allowed[1] == port):
                return True
        return False


def _is_loopback_literal(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def session_value(token: str) -> str:
    """The cookie value for a token: HMAC-SHA256(token, label), hex."""
    return hmac.new(token.encode(), SESSION_LABEL, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class TokenAuth:
    """Checks a Bearer header or the session cookie against the configured token."""

    token: str

    def bearer_ok(self, header: str | None) -> bool:
        """``Authorization: Bearer <token>``, compared in constant time."""
        if not header or not header.lower().startswith("bearer "):
            return False
        return hmac.compare_digest(header[7:].strip().encode(), self.token.encode())

    def cookie_ok(self, value: str | None) -> bool:
        """The session cookie, compared in constant time."""
        if not value:
            return False
        return hmac.compare_digest(value.encode(), session_value(self.token).encode())

    def token_ok(self, candidate: str) -> bool:
        """A token typed into the login form."""
        return hmac.compare_digest(candidate.strip().encode(), self.token.encode())


@dataclass
class LoginThrottle:
    """At most ``attempts`` failed logins per client address per window (held in memory, per app)."""

    attempts: int = LOGIN_ATTEMPTS
    window_s: float = LOGIN_WINDOW_S
    failures: dict[str, deque[float]] = field(default_factory=dict)

    def blocked(self, client: str) -> bool:
        """True while the client has used up its attempts."""
        return len(self._recent(client)) >= self.attempts

    def failed(self, client: str) -> None:
        """Count a failed attempt."""
        self._recent(client).append(time.monotonic())

    def _recent(self, client: str) -> deque[float]:
        now = time.monotonic()
        recent = self.failures.setdefault(client, deque())
        while recent and now - recent[0] > self.window_s:
            recent.popleft()
        if len(self.failures) > 10_000:  # bounded: forget idle clients
            for key in [k for k, v in self.failures.items() if not v]:
                del self.failures[key]
        return recent


def is_public(path: str, public: Iterable[str] = PUBLIC_PATHS) -> bool:
    """Paths served without a token."""
    return any(path == p or (p.endswith("/") and path.startswith(p)) for p in public)


def safe_next(value: str | None) -> str:
    """Where to go after login: a local path only (never ``//host`` or a full URL)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value
