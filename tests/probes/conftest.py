"""Fixtures for the probe tests: a probe context, and real servers on 127.0.0.1 that each test starts."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import itertools
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiohttp import web
from probe_servers import DnsResponder, start_tcp_server

from watchdog.probe import ProbeContext

BODY = "hello from the watchdog test server"


@pytest.fixture
async def ctx() -> AsyncIterator[ProbeContext]:
    """A probe context, closed after the test like the agent closes it at shutdown."""
    context = ProbeContext()
    yield context
    await context.aclose()


# ------------------------------------------------------------------------------------------------ TCP


async def _close_at_once(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.close()


@pytest.fixture
async def tcp_port() -> AsyncIterator[int]:
    """A TCP listener that accepts and closes at once (an HTTP client sees a disconnect, TLS a failed handshake)."""
    server, port = await start_tcp_server(_close_at_once)
    yield port
    server.close()
    await server.wait_closed()


@pytest.fixture
async def hangup_port() -> AsyncIterator[int]:
    """A TCP server that reads the request, then hangs up without a word."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.close()

    server, port = await start_tcp_server(handle)
    yield port
    server.close()
    await server.wait_closed()


@pytest.fixture
async def silent_port() -> AsyncIterator[int]:
    """A TCP server that accepts and listens but never says a word."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()
        writer.close()

    server, port = await start_tcp_server(handle)
    yield port
    server.close()
    await server.wait_closed()


@pytest.fixture
async def eof_port() -> AsyncIterator[int]:
    """A TCP server that reads what the client sends first, then closes cleanly (FIN, not reset)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)
        writer.close()

    server, port = await start_tcp_server(handle)
    yield port
    server.close()
    await server.wait_closed()


@pytest.fixture
async def garbage_port() -> AsyncIterator[int]:
    """A TCP server that answers anything with a line that is not HTTP."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()
        writer.write(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
        await writer.drain()
        writer.close()

    server, port = await start_tcp_server(handle)
    yield port
    server.close()
    await server.wait_closed()


@pytest.fixture
def refused_port() -> Iterator[int]:
    """A port on 127.0.0.1 that refuses connections (bound, not listening, held for the test)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    yield int(sock.getsockname()[1])
    sock.close()


# ------------------------------------------------------------------------------------------ certificates


@dataclass(frozen=True)
class Pki:
    """A test CA (written as a PEM file) and a second, untrusted CA."""

    ca: trustme.CA
    ca_file: Path
    other_ca: trustme.CA


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """CAs made once per session (key generation is the slow part)."""
    ca = trustme.CA(organization_name="Watchdog Test CA")
    ca_file = tmp_path_factory.mktemp("pki") / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return Pki(ca=ca, ca_file=ca_file, other_ca=trustme.CA(organization_name="Somebody Else's CA"))


def server_context(cert: trustme.LeafCert) -> ssl.SSLContext:
    """A server-side SSLContext presenting ``cert``."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    return context


def utc_in(days: float) -> dt.datetime:
    """Now plus ``days`` (UTC), for a certificate's notAfter."""
    return dt.datetime.now(dt.UTC) + dt.timedelta(days=days)


StartTls = Callable[[trustme.LeafCert], Awaitable[int]]


@pytest.fixture
async def tls_server() -> AsyncIterator[StartTls]:
    """Start TLS servers on 127.0.0.1 presenting a given certificate; returns each one's port."""
    servers: list[asyncio.Server] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.read()
        except (ConnectionError, ssl.SSLError):
            pass  # the probe aborts right after the handshake
        writer.close()

    async def start(cert: trustme.LeafCert) -> int:
        server, port = await start_tcp_server(handle, ssl=server_context(cert))
        servers.append(server)
        return port

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


# ------------------------------------------------------------------------------------------------ HTTP


@dataclass
class WebServer:
    """The test web app's base URL and the event that releases its slow handler."""

    base: str
    release: asyncio.Event


def _web_app(release: asyncio.Event) -> web.Application:
    async def ok(request: web.Request) -> web.Response:
        return web.Response(text=BODY)

    async def status(request: web.Request) -> web.Response:
        code = int(request.match_info["code"])
        return web.Response(status=code, text=f"status {code}")

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPFound("/ok")

    async def loop(request: web.Request) -> web.Response:
        raise web.HTTPFound("/loop")

    async def to_ftp(request: web.Request) -> web.Response:
        raise web.HTTPFound("ftp://127.0.0.1/pub/")

    async def slow(request: web.Request) -> web.Response:
        await release.wait()
        return web.Response(text="late")

    async def big(request: web.Request) -> web.Response:
        return web.Response(body=b"a" * (2 << 20) + b"NEEDLE")

    async def echo(request: web.Request) -> web.Response:
        return web.Response(text=f"x-probe={request.headers.get('X-Probe')} ua={request.headers.get('User-Agent')}")

    app = web.Application()
    app.add_routes(
        [
            web.route("*", "/ok", ok),
            web.get("/status/{code}", status),
            web.get("/redirect", redirect),
            web.get("/loop", loop),
            web.get("/to-ftp", to_ftp),
            web.get("/slow", slow),
            web.get("/big", big),
            web.get("/echo", echo),
        ]
    )
    return app


async def _serve(ssl_context: ssl.SSLContext | None) -> AsyncIterator[WebServer]:
    release = asyncio.Event()
    runner = web.AppRunner(_web_app(release), handler_cancellation=True, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        try:
            await web.SockSite(runner, sock, ssl_context=ssl_context).start()
            scheme = "https" if ssl_context else "http"
            yield WebServer(base=f"{scheme}://127.0.0.1:{port}", release=release)
        finally:
            release.set()
            await runner.cleanup()


@pytest.fixture
async def http_server() -> AsyncIterator[WebServer]:
    """The test web app over plain HTTP."""
    async for server in _serve(None):
        yield server


@pytest.fixture
async def https_server(pki: Pki) -> AsyncIterator[WebServer]:
    """The test web app over HTTPS with a certificate for 127.0.0.1 and localhost from the test CA."""
    async for server in _serve(server_context(pki.ca.issue_cert("127.0.0.1", "localhost"))):
        yield server


@pytest.fixture
async def https_wrong_name_server(pki: Pki) -> AsyncIterator[WebServer]:
    """The test web app over HTTPS with a certificate from the test CA for another name only."""
    async for server in _serve(server_context(pki.ca.issue_cert("other.test"))):
        yield server


# ------------------------------------------------------------------------------------------------- DNS


@pytest.fixture
async def dns_server() -> AsyncIterator[DnsResponder]:
    """A DNS responder on 127.0.0.1 (UDP and TCP) with a few names that behave in known ways."""
    responder = DnsResponder(
        records={
            ("ok.test", "A"): ["127.0.0.1", "127.0.0.2"],
            ("ok.test", "TXT"): ['"v=watchdog1"'],
            ("mail.test", "MX"): ["10 mx.ok.test."],
            ("big.test", "A"): ["127.0.0.9"],
        },
        rcodes={"broken.test": "SERVFAIL", "refused.test": "REFUSED"},
        silent={"silent.test"},
        hangup={"hangup.test"},
        truncate_udp={"big.test"},
    )
    await responder.start()
    yield responder
    await responder.stop()


# ---------------------------------------------------------------------------------- network namespaces

NSRUN = Path(__file__).with_name("probe_nsrun.py")


def netns_unavailable() -> str | None:
    """Why the netns tests cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root to create network namespaces"
    if shutil.which("ip") is None:
        return "needs iproute2's `ip`"
    probe = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        return f"`ip netns` does not work here: {probe.stderr.strip()}"
    return None


@dataclass
class NetnsPair:
    """Two namespaces joined by a veth pair: the probe runs in ``client``, ``server`` holds the far end.

    Addresses come from a private /30 assigned only inside these namespaces; nothing is routed anywhere else.
    """

    client: str
    server: str
    client_dev: str
    server_dev: str
    client_ip: str = "10.231.77.1"
    server_ip: str = "10.231.77.2"
    etc_dir: Path | None = None
    helpers: list[subprocess.Popen[str]] = field(default_factory=list)

    def ip(self, *args: str) -> None:
        """Run ``ip`` (fails the test on error)."""
        subprocess.run(["ip", *args], check=True, capture_output=True, text=True)

    def in_ns(self, ns: str, *args: str) -> None:
        """Run a command inside a namespace."""
        subprocess.run(["ip", "netns", "exec", ns, *args], check=True, capture_output=True, text=True)

    def run(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Run probes in the client namespace (see probe_nsrun.py) and return their results."""
        done = subprocess.run(
            ["ip", "netns", "exec", self.client, sys.executable, str(NSRUN), "run", json.dumps(spec)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
            # this checkout's packages, not whichever one the venv was installed from
            env={**os.environ, "PYTHONPATH": str(NSRUN.parents[2])},
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)  # type: ignore[no-any-return]

    def echo_responder(self, mode: str) -> None:
        """Answer pings in the server namespace from a raw socket instead of the kernel (see probe_nsrun.py)."""
        self.in_ns(self.server, "sysctl", "-qw", "net.ipv4.icmp_echo_ignore_all=1")
        helper = subprocess.Popen(
            ["ip", "netns", "exec", self.server, sys.executable, str(NSRUN), "echo", mode],
            stdout=subprocess.PIPE,
            text=True,
        )
        self.helpers.append(helper)
        assert helper.stdout is not None and helper.stdout.readline().strip() == "ready"

    def resolv_conf(self, text: str) -> None:
        """Give the client namespace its own resolv.conf (`ip netns exec` mounts /etc/netns/NAME/*)."""
        self.etc_dir = Path("/etc/netns") / self.client
        self.etc_dir.mkdir(parents=True)
        (self.etc_dir / "resolv.conf").write_text(text)


_netns_serial = itertools.count()


@pytest.fixture
def netns() -> Iterator[NetnsPair]:
    """Create the namespace pair with the link up; tear everything down afterwards, whatever happened."""
    reason = netns_unavailable()
    if reason:
        pytest.skip(reason)
    tag = f"{os.getpid() % 100_000}x{next(_netns_serial)}"
    pair = NetnsPair(client=f"wdt-c{tag}", server=f"wdt-s{tag}", client_dev=f"wdc{tag}", server_dev=f"wds{tag}")
    try:
        pair.ip("netns", "add", pair.client)
        pair.ip("netns", "add", pair.server)
        pair.ip("link", "add", pair.client_dev, "netns", pair.client, "type", "veth", "peer", "name", pair.server_dev)
        pair.ip("link", "set", pair.server_dev, "netns", pair.server)
        pair.ip("-n", pair.client, "addr", "add", f"{pair.client_ip}/30", "dev", pair.client_dev)
        pair.ip("-n", pair.server, "addr", "add", f"{pair.server_ip}/30", "dev", pair.server_dev)
        for ns, dev in ((pair.client, pair.client_dev), (pair.server, pair.server_dev)):
            pair.ip("-n", ns, "link", "set", "lo", "up")
            pair.ip("-n", ns, "link", "set", dev, "up")
        yield pair
    finally:
        for helper in pair.helpers:
            helper.kill()
            helper.wait()
            if helper.stdout is not None:
                helper.stdout.close()
        for ns in (pair.client, pair.server):  # deleting a namespace deletes its end of the veth pair too
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)
        if pair.etc_dir is not None:
            shutil.rmtree(pair.etc_dir, ignore_errors=True)
            with contextlib.suppress(OSError):
                pair.etc_dir.parent.rmdir()  # only if empty: /etc/netns may hold other namespaces' files
