"""The lean HTTP client (issue 19) against aiohttp's path: same request bytes, same Result, hostile answers bounded.

Every server here is a real asyncio TCP server on 127.0.0.1 (or ::1) that answers canned bytes, so both
paths read exactly the same answer. The aiohttp path is chosen for a target by storing "no lean plan" for
it in the probe context, as the probe itself does for the options the lean client does not serve.
"""

from __future__ import annotations

import asyncio
import gzip
import socket
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from probe_servers import make_target, probe, start_tcp_server

from probes import http
from watchdog.model import FailureKind, Result, Target
from watchdog.probe import ProbeContext

TEXT = b"hello from the canned server"
JSON = b'{"status": "UP", "balance": "1 234,50", "until": "2031-01-01"}'
GZ = gzip.compress(TEXT * 40)
ZL = zlib.compress(b"deflated with its zlib header")
RAW_DEFLATE = zlib.compress(b"raw deflate without a header")[2:-4]


def _ok(body: bytes, *headers: str, status: str = "200 OK") -> bytes:
    head = "".join(f"{h}\r\n" for h in headers)
    return f"HTTP/1.1 {status}\r\n{head}Content-Length: {len(body)}\r\n\r\n".encode() + body


def _chunked(*pieces: bytes, extra: str = "") -> bytes:
    body = b"".join(f"{len(p):x}\r\n".encode() + p + b"\r\n" for p in pieces) + b"0\r\n\r\n"
    return f"HTTP/1.1 200 OK\r\n{extra}Transfer-Encoding: chunked\r\n\r\n".encode() + body


# Answers both paths must turn into the same Result (aiohttp's words are fixed for all of them).
ANSWERS: dict[str, bytes] = {
    "ok": _ok(TEXT, "Content-Type: text/plain; charset=utf-8"),
    "json": _ok(JSON, "Content-Type: application/json", "X-Queue: 17"),
    "chunked": _chunked(b"hello ", b"from ", b"chunks", extra="Content-Type: text/plain\r\n"),
    "chunk-ext": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;name=v\r\nhello\r\n0\r\nX-T: 1\r\n\r\n",
    "close": b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<p>read until the close</p>",
    "http10": b"HTTP/1.0 200 OK\r\n\r\nold body",
    "no-reason": b"HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nhi",
    "lf-only": b"HTTP/1.1 200 OK\nContent-Length: 2\n\nhi",
    "gzip": _ok(GZ, "Content-Encoding: gzip"),
    "gzip-chunked": _chunked(GZ[:30], GZ[30:], extra="Content-Encoding: GZIP\r\n"),
    "deflate": _ok(ZL, "Content-Encoding: deflate"),
    "raw-deflate": _ok(RAW_DEFLATE, "Content-Encoding: deflate"),
    "identity": _ok(TEXT, "Content-Encoding: identity"),
    "early-hints": b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" + _ok(TEXT),
    "status-503": _ok(b"down", status="503 Service Unavailable"),
    "status-302": _ok(b"", "Location: /elsewhere", status="302 Found"),
    "status-999": _ok(b"", status="999 Weird"),
    "no-content": b"HTTP/1.1 204 No Content\r\n\r\n",
    "latin1": _ok(b"caf\xe9", "Content-Type: text/plain; charset=latin-1"),
    "odd-header": _ok(b"x", "X-N: \xd0\xb4", "X-Dup: 1", "x-dup: 2"),
    "cl-short": b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc",
    "chunk-short": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
    "gzip-bad": _ok(b"0123456789", "Content-Encoding: gzip"),
    "deflate-short": b"HTTP/1.1 200 OK\r\nContent-Encoding: deflate\r\n\r\n" + ZL[:8],
    "br": _ok(b"abc", "Content-Encoding: br"),
    "too-many-headers": b"HTTP/1.1 200 OK\r\n" + b"X: a\r\n" * 200 + b"\r\nhi",
    "dup-length": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nhi",
    "empty": b"",
}

# Options that go with the answers: conditions (a regex among them: the off-loop path), metrics, text.
OPTION_SETS: list[dict[str, Any]] = [
    {},
    {"method": "HEAD"},
    {"expect_status": [503, 204]},
    {"expect_text": "chunks"},
    {"max_body_bytes": 5},
    {"max_body_bytes": 0},
    {
        "conditions": ["[STATUS] == 200", "[BODY].status == UP", "[HEADER].X-Queue < 20", "[BODY] ~= b.lance"],
        "metrics": {"queue": "[HEADER].X-Queue", "balance": "[BODY].balance", "days": "[BODY].until"},
    },
    {"conditions": ["[HEADER].X-Dup == 2", "[HEADER].x-n == д", "[BODY] ~= caf."]},
    {"metrics": {"first": "[BODY] ~= (\\w+)"}},
]


def _head_only(answer: bytes) -> bytes:
    """What a server answers to HEAD: the heads (1xx ones too), without the body."""
    end = 0
    while True:
        crlf, lf = answer.find(b"\r\n\r\n", end), answer.find(b"\n\n", end)
        if crlf < 0 and lf < 0:
            return answer
        end = crlf + 4 if crlf >= 0 and (lf < 0 or crlf < lf) else lf + 2
        if not answer[answer.find(b" ") + 1 :].startswith(b"1"):  # not a 1xx: the final head
            return answer[:end]
        answer, end = answer[:end] + _head_only(answer[end:]), end
        return answer


@dataclass
class Canned:
    """A raw HTTP server: answers ``ANSWERS[path]`` (or ``extra``) and closes; keeps every request's bytes."""

    port: int = 0
    host: str = "127.0.0.1"
    requests: list[bytes] = field(default_factory=list)
    extra: dict[str, Callable[[asyncio.StreamWriter], Awaitable[None]]] = field(default_factory=dict)

    def url(self, path: str) -> str:
        return f"http://{'[' + self.host + ']' if ':' in self.host else self.host}:{self.port}/{path}"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await reader.readuntil(b"\r\n\r\n")
            self.requests.append(request)
            path = request.split(b" ", 2)[1].decode()[1:].split("?")[0]
            if path in self.extra:
                await self.extra[path](writer)
            else:
                answer = ANSWERS.get(path, _ok(b"no such answer", status="404 Not Found"))
                writer.write(_head_only(answer) if request.startswith(b"HEAD ") else answer)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


async def _start(host: str = "127.0.0.1") -> AsyncIterator[Canned]:
    canned = Canned(host=host)
    server, canned.port = await start_tcp_server(canned.handle, host)
    try:
        yield canned
    finally:
        server.close()
        await server.wait_closed()


@pytest.fixture
async def canned() -> AsyncIterator[Canned]:
    async for server in _start():
        yield server


def _aiohttp_only(ctx: ProbeContext, target: Target) -> None:
    """Make ``target`` take aiohttp's path in ``ctx`` (what the probe stores for options it cannot serve lean)."""
    ctx.resources.setdefault(http.LEAN_KEY, {})[target.key] = (target.options, target.probe_address, None)


async def _both(ctx: ProbeContext, target: Target) -> tuple[Result, Result]:
    """The target's Result through the lean client, then through aiohttp (another key: its own plan)."""
    lean = await probe(ctx, target)
    assert ctx.resources[http.LEAN_KEY][target.key][2] is not None, "the lean client was not used"
    other = replace(target, key=target.key + "/aiohttp")
    _aiohttp_only(ctx, other)
    return lean, replace(await probe(ctx, other), target=target.key)


def _same(lean: Result, slow: Result) -> None:
    assert (lean.ok, lean.failure, lean.detail, dict(lean.metrics)) == (
        slow.ok,
        slow.failure,
        slow.detail,
        dict(slow.metrics),
    )
    assert lean.target == slow.target
    assert lean.latency_s is not None and slow.latency_s is not None and lean.latency_s > 0


@pytest.mark.parametrize("path", sorted(ANSWERS))
async def test_same_result_as_aiohttp(ctx: ProbeContext, canned: Canned, path: str) -> None:
    for n, options in enumerate(OPTION_SETS):
        target = replace(make_target("http", canned.url(path), **options), key=f"test/http/{n}")
        lean, slow = await _both(ctx, target)
        _same(lean, slow)


async def test_same_failures_without_an_answer(ctx: ProbeContext, refused_port: int, tcp_port: int) -> None:
    for url in (f"http://127.0.0.1:{refused_port}/", f"http://127.0.0.1:{tcp_port}/x"):
        lean, slow = await _both(ctx, make_target("http", url))
        _same(lean, slow)
    assert lean.failure is FailureKind.CONNECT


async def test_same_request_bytes_as_aiohttp(ctx: ProbeContext, canned: Canned) -> None:
    headers_sets: list[dict[str, str]] = [
        {},
        {"X-Probe": "42", "Authorization": "Bearer t0k"},
        {"user-agent": "custom/1", "Host": "example.test", "Accept": "application/json"},
        {"host": "lower.test", "ACCEPT-ENCODING": "identity", "Connection": "keep-alive"},
        {"X-A": "1", "x-a": "2", "X-Long": "v" * 300},
    ]
    for n, headers in enumerate(headers_sets):
        for method in ("GET", "HEAD"):
            url = canned.url("ok?q=a b&r=%41&s=é#fragment")
            target = replace(make_target("http", url, method=method, headers=headers), key=f"test/req/{n}")
            lean, slow = await _both(ctx, target)
            _same(lean, slow)
            assert canned.requests[-2] == canned.requests[-1], headers
    assert canned.requests[0].startswith(b"GET /ok?q=a+b&r=A&s=%C3%A9 HTTP/1.1\r\nHost: 127.0.0.1:")


async def test_ipv6_literal(ctx: ProbeContext) -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        servers = _start("::1")
        server = await servers.__anext__()
    except OSError:
        pytest.skip("no ::1 here")
    try:
        lean, slow = await _both(ctx, make_target("http", server.url("json")))
        _same(lean, slow)
        assert lean.detail == f"HTTP 200 OK from http://[::1]:{server.port}/json"
        assert server.requests[0] == server.requests[1]
        assert f"Host: [::1]:{server.port}\r\n".encode() in server.requests[0]
    finally:
        await servers.aclose()


@pytest.mark.parametrize(
    ("address", "options", "lean"),
    [
        ("http://127.0.0.1:8080/health", {}, True),
        ("http://[::1]/", {"method": "HEAD"}, True),
        ("http://127.0.0.1/", {"follow_redirects": True}, False),
        ("http://127.0.0.1/", {"method": "POST", "body": "x"}, False),
        ("http://127.0.0.1/", {"method": "OPTIONS"}, False),
        ("https://127.0.0.1/", {}, False),
        ("http://user:pass@127.0.0.1/", {}, False),
        ("http://localhost/", {}, False),
        ("http://127.1/", {}, False),
        ("http://127.0.0.1/", {"headers": {"X-Bad": "a\r\nInjected: yes"}}, False),
        ("http://127.0.0.1/", {"headers": {"X-Bad": "a\x7fb"}}, False),
        ("http://127.0.0.1/", {"headers": {"X-Tab": "a\tb"}}, True),
    ],
)
def test_which_targets_go_lean(address: str, options: dict[str, Any], lean: bool) -> None:
    plan = http._lean_plan(address, http.HttpOptions.model_validate(options))
    assert (plan is not None) == lean


# ---------------------------------------------------------------------------------------- hostile answers


async def _trickle(writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n")
    for _ in range(200):  # slowloris: a byte now and then, for longer than the probe's timeout
        writer.write(b"a")
        await writer.drain()
        await asyncio.sleep(0.02)


async def _endless_headers(writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\n")
    for n in range(10_000):
        writer.write(f"X-{n}: {'v' * 100}\r\n".encode())
        await writer.drain()


async def _endless_line(writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\nX-Long: ")
    for _ in range(1000):
        writer.write(b"v" * 1000)
        await writer.drain()


async def _endless_body(writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\n\r\n")
    for _ in range(100_000):
        writer.write(b"x" * 4096)
        await writer.drain()


async def _bomb(writer: asyncio.StreamWriter) -> None:
    packed = gzip.compress(b"\0" * (64 << 20))  # 64 MiB of zeros in ~64 KiB
    writer.write(_ok(packed, "Content-Encoding: gzip"))
    await writer.drain()


HOSTILE: list[tuple[str, dict[str, Any], Callable[[asyncio.StreamWriter], Awaitable[None]] | bytes, str, Any]] = [
    ("trickle", {"timeout_s": 0.3}, _trickle, "timeout", "no answer within 0.3s"),
    ("endless-headers", {}, _endless_headers, "unexpected", "invalid HTTP response: Too many headers received"),
    (
        "endless-line",
        {},
        _endless_line,
        "unexpected",
        "invalid HTTP response: Got more than 8190 bytes when reading a header line",
    ),
    ("endless-body", {"max_body_bytes": 100_000}, _endless_body, "ok", {"status_code": 200, "body_bytes": 100_000}),
    ("bomb", {"max_body_bytes": 1 << 20}, _bomb, "ok", {"status_code": 200, "body_bytes": 1 << 20}),
    (
        "huge-length",
        {"max_body_bytes": 10},
        b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n0123456789abc",
        "ok",
        {"status_code": 200, "body_bytes": 10},
    ),
    (
        "huge-chunk",
        {"max_body_bytes": 4},
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\nabcdef",
        "ok",
        {"status_code": 200, "body_bytes": 4},
    ),
    (
        "chunk-size-too-long",
        {},
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1ffffffffffffffff\r\nab",
        "unexpected",
        "invalid HTTP response: Invalid character in chunk size: b'1ffffffffffffffff' ^",
    ),
    (
        "chunk-size-bad",
        {},
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nab",
        "unexpected",
        "invalid HTTP response: Invalid character in chunk size: b'-5' ^",
    ),
    (
        "chunk-end-bad",
        {},
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY\r\n0\r\n\r\n",
        "unexpected",
        "invalid HTTP response: Invalid character in chunk data end: b'XY'",
    ),
    (
        "status-garbage",
        {},
        b"SSH-2.0-OpenSSH_9.6\r\n\r\n",
        "unexpected",
        "invalid HTTP response: Bad status line: Expected HTTP/, RTSP/ or ICE/: b'SSH-2.0-OpenSSH_9.6' ^",
    ),
    (
        "status-short",
        {},
        b"HTTP/1.1 20 OK\r\n\r\n",
        "unexpected",
        "invalid HTTP response: Bad status line: Invalid status code: b'HTTP/1.1 20 OK' ^",
    ),
    (
        "status-cut",
        {},
        b"HTTP/1.1 2",
        "unexpected",
        "invalid HTTP response: the answer ended inside the status line",
    ),
    (
        "headers-cut",
        {},
        b"HTTP/1.1 200 OK\r\nX-A: 1\r\n",
        "unexpected",
        "invalid HTTP response: the answer ended inside its headers",
    ),
    (
        "header-token",
        {},
        b"HTTP/1.1 200 OK\r\nX A: 1\r\n\r\n",
        "unexpected",
        "invalid HTTP response: Invalid header token: b'X A: 1' ^",
    ),
    (
        "header-control",
        {},
        b"HTTP/1.1 200 OK\r\nX-A: 1\x002\r\n\r\n",
        "unexpected",
        "invalid HTTP response: Invalid HTTP header: b'1\\x002'",
    ),
    (
        "length-and-chunked",
        {},
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n",
        "unexpected",
        "invalid HTTP response: Transfer-Encoding can't be present with Content-Length: "
        "b'Transfer-Encoding: chunked' ^",
    ),
    (
        "length-bad",
        {},
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\nhi",
        "unexpected",
        "invalid HTTP response: Invalid character in Content-Length: b'Content-Length: -1' ^",
    ),
]


@pytest.mark.parametrize(("path", "options", "answer", "kind", "expected"), HOSTILE, ids=[h[0] for h in HOSTILE])
async def test_hostile_answers(
    ctx: ProbeContext, canned: Canned, path: str, options: dict[str, Any], answer: Any, kind: str, expected: Any
) -> None:
    if isinstance(answer, bytes):
        ANSWER = answer

        async def send(writer: asyncio.StreamWriter) -> None:
            writer.write(ANSWER)
            await writer.drain()

        canned.extra[path] = send
    else:
        canned.extra[path] = answer
    target = make_target("http", canned.url(path), **options)
    result = await probe(ctx, target)
    assert ctx.resources[http.LEAN_KEY][target.key][2] is not None
    if kind == "ok":
        assert (result.ok, dict(result.metrics)) == (True, expected)
    elif kind == "timeout":
        assert (result.failure, result.detail) == (FailureKind.TIMEOUT, expected)
    else:
        assert (result.failure, result.detail) == (FailureKind.UNEXPECTED, f"{canned.url(path)}: {expected}")


# ------------------------------------------------------------------------------ a handshake that takes time


@pytest.fixture
async def full_backlog() -> AsyncIterator[tuple[socket.socket, list[socket.socket]]]:
    """A listener whose accept queue is full (backlog 0, two connections nobody accepted): new SYNs are dropped."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    waiting = []
    for _ in range(2):
        client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        client.setblocking(False)
        client.connect_ex(listener.getsockname())
        waiting.append(client)
    await asyncio.sleep(0.05)
    yield listener, waiting
    for sock in (listener, *waiting):
        sock.close()


async def test_handshake_never_done(ctx: ProbeContext, full_backlog: tuple[socket.socket, list[socket.socket]]) -> None:
    port = full_backlog[0].getsockname()[1]
    lean, slow = await _both(ctx, make_target("http", f"http://127.0.0.1:{port}/", timeout_s=0.3))
    _same(lean, slow)
    assert (lean.failure, lean.detail) == (FailureKind.TIMEOUT, "no answer within 0.3s")


async def test_handshake_done_late(ctx: ProbeContext, full_backlog: tuple[socket.socket, list[socket.socket]]) -> None:
    """The SYN is dropped once and retransmitted (after about a second): the request waits for the connection."""
    listener, _ = full_backlog
    listener.setblocking(False)
    loop = asyncio.get_running_loop()

    async def serve() -> None:
        await asyncio.sleep(0.2)  # the probe's first SYN has been dropped by now
        while True:
            conn, _ = await loop.sock_accept(listener)
            with conn:
                try:
                    request = await asyncio.wait_for(loop.sock_recv(conn, 4096), 0.5)
                except TimeoutError:
                    continue  # one of the fixture's connections: it sends nothing
                if request:
                    await loop.sock_sendall(conn, ANSWERS["ok"])

    server = asyncio.create_task(serve())
    try:
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/ok"
        result = await probe(ctx, make_target("http", url, timeout_s=5))
    finally:
        server.cancel()
    assert ctx.resources[http.LEAN_KEY]["test/http"][2] is not None
    assert (result.ok, result.detail, dict(result.metrics)) == (
        True,
        f"HTTP 200 OK from {url}",
        {"status_code": 200, "body_bytes": len(TEXT)},
    )
