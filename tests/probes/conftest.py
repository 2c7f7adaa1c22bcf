"""Fixtures for the probe tests: a probe context, and real servers on 127.0.0.1 that each test starts."""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

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
