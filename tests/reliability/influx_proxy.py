"""A fault proxy in front of a real influxd, run as its own process by the InfluxDB fault test.

    python influx_proxy.py PORT UPSTREAM MODE_FILE LOG_FILE

It listens on 127.0.0.1:PORT and forwards every request to UPSTREAM (the real influxd on loopback) —
unless MODE_FILE, read again on every request and every 50 ms, says otherwise:

``pass``        forward as is;
``down``        no listener and every open connection closed: the client sees "connection refused";
``slow S``      wait S seconds before forwarding each request (a server or a link that is slow);
``429 S``       answer writes with ``429 Too Many Requests`` and ``Retry-After: S``; ``/ping`` goes through;
``hung``        read the request and never answer it (a server that accepts and then stalls).

This kernel has no netem, so latency and refusals are made here, between two real processes. Every request
is logged to LOG_FILE as one JSON line: when it came, the mode, path, status, and for a write that the
upstream accepted the ``probe`` lines it carried (the test checks their order and that none is missing).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

from aiohttp import ClientSession, ClientTimeout, web

HOP_HEADERS = {"host", "content-length", "transfer-encoding", "connection", "keep-alive"}


class Proxy:
    """The proxy's state: the mode in force, the upstream client and the request log."""

    def __init__(self, port: int, upstream: str, mode_file: Path, log_file: Path) -> None:
        self.port = port
        self.upstream = upstream.rstrip("/")
        self.mode_file = mode_file
        self.log = log_file.open("a", encoding="utf-8", buffering=1)
        self.runner: web.AppRunner | None = None
        self.session: ClientSession | None = None

    def mode(self) -> tuple[str, float]:
        words = (self.mode_file.read_text().split() or ["pass"]) + ["0"]
        return words[0], float(words[1])

    def record(self, **entry: object) -> None:
        self.log.write(json.dumps({"at": time.time(), **entry}) + "\n")

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        mode, arg = self.mode()
        write = request.path.endswith("/write")
        if mode == "hung":
            self.record(mode=mode, path=request.path, status=None)
            await asyncio.Event().wait()  # until the client gives up and the server cancels this handler
        if mode == "429" and write:
            self.record(mode=mode, path=request.path, status=429)
            return web.json_response({"error": "too many requests"}, status=429, headers={"Retry-After": str(int(arg))})
        if mode == "slow":
            await asyncio.sleep(arg)
        assert self.session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_HEADERS}
        async with self.session.request(
            request.method, self.upstream + request.path_qs, data=body, headers=headers
        ) as upstream:
            payload = await upstream.read()
            out = {k: v for k, v in upstream.headers.items() if k.lower() not in HOP_HEADERS}
            lines = [ln for ln in body.decode().splitlines() if ln.startswith("probe,")] if write else []
            accepted = lines if upstream.status == 204 else []
            self.record(mode=mode, path=request.path, status=upstream.status, probe=accepted)
            return web.Response(status=upstream.status, body=payload, headers=out)

    async def listen(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self.runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=0.5)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port, reuse_address=True).start()

    async def run(self) -> None:
        self.session = ClientSession(timeout=ClientTimeout(total=60), auto_decompress=False)  # bytes as sent
        await self.listen()
        print("listening", flush=True)
        while True:  # "down" takes the listener and every connection away; any other mode brings them back
            await asyncio.sleep(0.05)
            down = self.mode()[0] == "down"
            if down and self.runner is not None:
                await self.runner.cleanup()
                self.runner = None
                self.record(mode="down", path=None, status=None)
            elif not down and self.runner is None:
                await self.listen()


def main() -> None:
    port, upstream, mode_file, log_file = sys.argv[1:5]
    asyncio.run(Proxy(int(port), upstream, Path(mode_file), Path(log_file)).run())


if __name__ == "__main__":
    main()
