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
  (checked against ``Origin``) and logout.
* Wrong credentials (form, Bearer, cookie) share one budget per client (:class:`LoginThrottle`); the right
  token is never refused. ``X-Forwarded-For`` is believed only from ``web.trusted_proxies``.
* After login the browser goes back only to a path on this site (:func:`safe_next`).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import time
import unicodedata
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from urllib.parse import unquote

from yarl import URL

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
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


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
    """At most ``attempts`` failed credentials per client per window (held in memory, per app).

    A failed credential is a wrong token in the login form, a wrong ``Authorization: Bearer`` or a forged
    session cookie: they share one budget. The client is the peer address, or the address a trusted reverse
    proxy names (see :func:`client_address`). Once the budget is spent, wrong credentials are answered 429
    and no longer logged one by one; the right token is never refused, so a guesser cannot lock the owner
    out (behind a proxy every client could share one address). That the right token still works is no
    oracle worth having: a token has at least 16 random characters, which no rate of guessing exhausts.
    """

    attempts: int = LOGIN_ATTEMPTS
    window_s: float = LOGIN_WINDOW_S
    failures: dict[str, deque[float]] = field(default_factory=dict)
    announced: set[str] = field(default_factory=set)

    def blocked(self, client: str) -> bool:
        """True while the client has used up its attempts."""
        blocked = len(self._recent(client)) >= self.attempts
        if not blocked:
            self.announced.discard(client)
        return blocked

    def failed(self, client: str) -> None:
        """Count a failed attempt."""
        self._recent(client).append(time.monotonic())

    def first_refusal(self, client: str) -> bool:
        """True once per blocked stretch of a client: log that, not every refused guess."""
        if client in self.announced:
            return False
        self.announced.add(client)
        return True

    def _recent(self, client: str) -> deque[float]:
        now = time.monotonic()
        recent = self.failures.setdefault(client, deque())
        while recent and now - recent[0] > self.window_s:
            recent.popleft()
        if len(self.failures) > 10_000:  # bounded: forget idle clients
            for key in [k for k, v in self.failures.items() if not v and k != client]:
                del self.failures[key]
                self.announced.discard(key)
        return recent


def is_public(path: str, public: Iterable[str] = PUBLIC_PATHS) -> bool:
    """Paths served without a token."""
    return any(path == p or (p.endswith("/") and path.startswith(p)) for p in public)


def _unsafe_char(ch: str) -> bool:
    """Control characters, backslashes and any kind of white space: browsers drop or reinterpret them."""
    return ch == "\\" or ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp", "Zs")


def safe_next(value: str | None) -> str:
    """Where to go after login: a path on this site, or ``/``.

    The check runs on what the redirect will really say: the value is parsed and normalised by the same URL
    library that writes the ``Location`` header (yarl drops tabs and newlines, so ``/\\t/evil.example/`` would
    become ``//evil.example/``), and also once percent-decoded. Refused: anything with a scheme or a host,
    ``//`` or ``/\\`` at the start, backslashes, control or white-space characters, and their %-encodings.
    """
    if not value or not value.startswith("/"):
        return "/"
    decoded = unquote(value)
    if any(_unsafe_char(ch) for ch in value + decoded):
        return "/"
    for text in (value, decoded):
        if text.startswith("//") or not text.startswith("/"):
            return "/"
    try:
        url = URL(value)
    except ValueError:
        return "/"
    normal = str(url)
    if url.is_absolute() or url.scheme or url.host is not None or not normal.startswith("/") or normal[1:2] == "/":
        return "/"
    return normal


def client_address(peer: str | None, forwarded_for: str | None, trusted: Sequence[IPNetwork]) -> str:
    """The client a request is counted against: the peer, or, when the peer is a trusted reverse proxy, the
    right-most ``X-Forwarded-For`` hop that is not itself a trusted proxy (a client can prepend anything to
    the header, so only the hops our proxies appended count). Garbage in the header: the peer."""
    peer_text = peer or "?"
    if not trusted or not forwarded_for or not _in(peer_text, trusted):
        return peer_text
    hops = [h.strip() for h in forwarded_for.split(",")]
    for hop in reversed(hops):
        try:
            ip = ipaddress.ip_address(hop)
        except ValueError:
            return peer_text
        if not _in(ip.compressed, trusted):
            return ip.compressed
    return peer_text


def networks(entries: Iterable[str]) -> tuple[IPNetwork, ...]:
    """``web.trusted_proxies`` as networks (validated by the config already)."""
    return tuple(ipaddress.ip_network(e, strict=False) for e in entries)


def _in(address: str, nets: Sequence[IPNetwork]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip.version == n.version and ip in n for n in nets)
