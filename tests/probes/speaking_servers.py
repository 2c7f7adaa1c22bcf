"""Real servers on 127.0.0.1 that speak a protocol, for the TCP dialogue and HTTP condition tests.

* :class:`FixGateway` — a FIX 4.4 acceptor stand-in: checks BodyLength and CheckSum of what it gets,
  answers Logon (35=A) and Logout (35=5) — or, by ``mode``, ignores the Logon, or sends garbage.
* :func:`smtp_handler` / :func:`imap_handler` — banners and the few commands the recipes send, SMTP
  with STARTTLS.
* :func:`banner_handler` — a banner after a delay ("banner within N ms").
* :class:`Api` / :func:`start_api` — a JSON status/account API whose answer the test flips.
"""

from __future__ import annotations

import asyncio
import re
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from probe_servers import start_tcp_server

SOH = b"\x01"
TOKEN = "tok-CANARY-5e1f0a77"
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def fix_fields(message: bytes) -> dict[str, str]:
    return dict(part.decode().split("=", 1) for part in message.split(SOH) if part)


def fix_valid(message: bytes) -> bool:
    """BodyLength (9) and CheckSum (10) of one whole message are right."""
    m = re.match(rb"8=[^\x01]+\x019=(\d+)\x01", message)
    if m is None:
        return False
    body_start = m.end()
    tail = message.rindex(b"10=")
    checksum = int(message[tail + 3 : -1])
    return int(m.group(1)) == tail - body_start and sum(message[:tail]) % 256 == checksum


@dataclass
class FixGateway:
    """``mode``: "answer" (a real gateway), "ignore" (accepts TCP, never answers), "garbage"."""

    mode: str = "answer"
    received: list[dict[str, str]] = field(default_factory=list)
    valid: list[bool] = field(default_factory=list)
    server: asyncio.Server | None = None
    port: int = 0

    async def start(self) -> int:
        self.server, self.port = await start_tcp_server(self.handle)
        return self.port

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    def reply(self, msg_type: str, seq: int) -> bytes:
        body = f"35={msg_type}\x0134={seq}\x0149=BROKER\x0156=CLIENT\x0152=20261206-10:00:00.000\x01".encode()
        head = b"8=FIX.4.4\x019=" + str(len(body)).encode() + SOH
        return head + body + f"10={sum(head + body) % 256:03d}\x01".encode()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seq = 1
        try:
            while True:
                buf = await reader.readuntil(SOH + b"10=")
                buf += await reader.readuntil(SOH)
                fields = fix_fields(buf)
                self.received.append(fields)
                self.valid.append(fix_valid(buf))
                if self.mode == "ignore":
                    continue
                if self.mode == "garbage":
                    writer.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
                    await writer.drain()
                    continue
                if fields.get("35") == "A":
                    writer.write(self.reply("A", seq))
                elif fields.get("35") == "5":
                    writer.write(self.reply("5", seq))
                    await writer.drain()
                    break
                seq += 1
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()


def smtp_handler(tls: ssl.SSLContext | None = None, banner: bytes = b"220 mail.test ESMTP ready\r\n") -> Handler:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            writer.write(banner)
            await writer.drain()
            while line := await reader.readline():
                verb = line.strip().split(b" ")[0].upper()
                if verb in (b"EHLO", b"HELO"):
                    writer.write(b"250-mail.test\r\n" + (b"250-STARTTLS\r\n" if tls else b"") + b"250 8BITMIME\r\n")
                elif verb == b"STARTTLS" and tls is not None:
                    writer.write(b"220 2.0.0 Ready to start TLS\r\n")
                    await writer.drain()
                    await writer.start_tls(tls)
                    continue
                elif verb == b"QUIT":
                    writer.write(b"221 2.0.0 Bye\r\n")
                    await writer.drain()
                    break
                else:
                    writer.write(b"502 5.5.2 Error: command not recognized\r\n")
                await writer.drain()
        except (ConnectionError, ssl.SSLError):
            pass
        writer.close()

    return handle


def imap_handler(banner: bytes = b"* OK [CAPABILITY IMAP4rev1] mail.test ready\r\n") -> Handler:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            writer.write(banner)
            await writer.drain()
            while line := await reader.readline():
                tag, _, command = line.strip().partition(b" ")
                if command.upper() == b"LOGOUT":
                    writer.write(b"* BYE logging out\r\n" + tag + b" OK LOGOUT completed\r\n")
                    await writer.drain()
                    break
                writer.write(tag + b" BAD unknown command\r\n")
                await writer.drain()
        except (ConnectionError, ssl.SSLError):
            pass
        writer.close()

    return handle


def banner_handler(banner: bytes, delay_s: float) -> Handler:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await asyncio.sleep(delay_s)
            writer.write(banner)
            await writer.drain()
            await reader.read()
        except (ConnectionError, asyncio.CancelledError):
            pass  # the client left, or the test ended while this one still waited to speak
        writer.close()

    return handle


@dataclass
class Api:
    """A personal-account / status API: ``state`` decides the answer; ``requests`` records what came in."""

    state: dict[str, Any] = field(default_factory=lambda: {"status": "UP", "balance": "180.50", "http": 200})
    delay_s: float = 0.0
    requests: list[tuple[str, str, dict[str, str], bytes]] = field(default_factory=list)
    base: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.requests.append((request.method, request.path, dict(request.headers), body))
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return web.json_response({"error": "unauthorised"}, status=401)
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        payload = {
            "status": self.state["status"],
            "account": {"id": "main", "balance": self.state["balance"], "currency": "RUB"},
            "accounts": [{"id": "spare", "balance": 1}, {"id": "main", "balance": self.state["balance"]}],
        }
        return web.json_response(payload, status=self.state["http"], headers={"X-Api-Version": "2.7"})


async def start_api() -> tuple[Api, web.AppRunner]:
    """The API on an ephemeral port of 127.0.0.1 (``state.base`` is its URL); clean up the runner after."""
    state = Api()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", state.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    state.base = f"http://127.0.0.1:{port}"
    return state, runner
