"""Trusted timestamps: the agent asks RFC 3161 Time-Stamp Authorities to sign the chain head.

At most every ``timestamp.interval`` (default 1 h) per TSA, and at every outage open and close (at most
every ``timestamp.outage_gap``, so a flapping target cannot flood a TSA), the agent seals the journal and
queues the new head for every configured TSA. The queue is a table in the journal file
(``timestamp_queue``, operational, not chained), so it survives a TSA outage and a restart; a request
that fails waits ``timestamp.retry``, doubling up to ``interval``. Only the newest queued head of a TSA is
sent — it chains over every older one, so one token proves them all — and a token obtained late still
proves "no later than". Each token is verified on receipt (signature, chain to the configured CA, nonce,
imprint) and journaled as a chained ``timestamp`` event; the CA certificate is journaled once as
``timestamp_ca``. What is stamped and how a token is checked offline: :mod:`watchdog.journal.tsa`.

The TSA URL may carry credentials: it is never logged (the TSA's name is).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from cryptography import x509

from watchdog.agent.sinks import AgentContext, OutageNotice, Sink, SinkUnavailable
from watchdog.config import TimestampSection, TsaSpec
from watchdog.journal.store import Journal
from watchdog.journal.tsa import (
    EV_TIMESTAMP,
    EV_TIMESTAMP_CA,
    NS,
    TokenError,
    build_request,
    ca_pem,
    ca_sha256,
    check_token,
    load_ca,
    statement,
    token_event,
)

_LOGGER = logging.getLogger(__name__)

MAX_RESPONSE_BYTES = 256 * 1024

QUEUE_SQL = """
CREATE TABLE IF NOT EXISTS timestamp_queue (
    tsa TEXT NOT NULL,
    block INTEGER NOT NULL,
    last_seq INTEGER NOT NULL,
    head TEXT NOT NULL,
    queued_ns INTEGER NOT NULL,
    reason TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_ns INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    PRIMARY KEY (tsa, block)
);
"""


@dataclass
class _Tsa:
    spec: TsaSpec
    roots: list[x509.Certificate]
    ca_sha256: str
    failing: bool = False


@dataclass(frozen=True)
class Pending:
    """The newest queued head of one TSA, with what is known about the queue behind it."""

    tsa: str
    block: int
    last_seq: int
    head: str
    queued_ns: int  # the oldest queued request this head answers
    reasons: list[str]
    attempts: int
    next_ns: int


def enqueue(journal: Journal, tsas: list[str], reason: str, now_ns: int) -> int | None:
    """Queue the current head for every TSA; return its block (None before the first seal)."""
    head = journal.head()
    if head is None:
        return None
    with journal.transaction():
        journal.conn.executemany(
            "INSERT INTO timestamp_queue (tsa, block, last_seq, head, queued_ns, reason) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (tsa, block) DO NOTHING",
            [(tsa, head.block, head.last_seq, head.hash, now_ns, reason) for tsa in tsas],
        )
    return head.block


def pending(journal: Journal, tsa: str) -> Pending | None:
    """The newest queued head of ``tsa``."""
    row = journal.conn.execute(
        "SELECT block, last_seq, head, attempts, next_ns FROM timestamp_queue WHERE tsa = ? "
        "ORDER BY block DESC LIMIT 1",
        (tsa,),
    ).fetchone()
    if row is None:
        return None
    first, reasons = journal.conn.execute(
        "SELECT min(queued_ns), group_concat(DISTINCT reason) FROM timestamp_queue WHERE tsa = ?", (tsa,)
    ).fetchone()
    return Pending(tsa, int(row[0]), int(row[1]), str(row[2]), int(first), str(reasons).split(","), *map(int, row[3:]))


def _done(journal: Journal, tsa: str, block: int) -> None:
    with journal.transaction():
        journal.conn.execute("DELETE FROM timestamp_queue WHERE tsa = ? AND block <= ?", (tsa, block))


def _failed(journal: Journal, tsa: str, next_ns: int, error: str) -> None:
    with journal.transaction():
        journal.conn.execute(
            "UPDATE timestamp_queue SET attempts = attempts + 1, next_ns = ?, error = ? WHERE tsa = ?",
            (next_ns, error, tsa),
        )


def _last_token_ns(journal: Journal, tsa: str) -> int:
    row = journal.conn.execute(
        "SELECT max(ts_ns) FROM events WHERE type = ? AND json_extract(data, '$.tsa') = ?", (EV_TIMESTAMP, tsa)
    ).fetchone()
    return int(row[0] or 0)


def _known_cas(journal: Journal) -> set[str]:
    return {
        str(r[0])
        for r in journal.conn.execute(
            "SELECT json_extract(data, '$.sha256') FROM events WHERE type = ?", (EV_TIMESTAMP_CA,)
        )
    }


def _read(name: str) -> bytes:
    return Path(name).expanduser().read_bytes()


class RequestFailed(Exception):
    """One request got no usable token (the reason is safe to log: it never holds the URL)."""


async def post_query(session: aiohttp.ClientSession, url: str, body: bytes, timeout_s: float) -> bytes:
    """POST a DER TimeStampReq; return the DER answer. Errors never carry the URL (it may hold a secret)."""
    try:
        async with session.post(
            url,
            data=body,
            headers={"Content-Type": "application/timestamp-query"},
            timeout=aiohttp.ClientTimeout(total=timeout_s),
            allow_redirects=False,
        ) as response:
            if response.status != 200:
                raise RequestFailed(f"HTTP {response.status}")
            answer = await response.content.read(MAX_RESPONSE_BYTES + 1)
            if len(answer) > MAX_RESPONSE_BYTES:
                raise RequestFailed(f"answer larger than {MAX_RESPONSE_BYTES} bytes")
            return answer
    except TimeoutError:
        raise RequestFailed(f"no answer within {timeout_s:g}s") from None
    except aiohttp.ClientError as exc:
        raise RequestFailed(type(exc).__name__) from None
    except OSError as exc:
        raise RequestFailed(exc.strerror or type(exc).__name__) from None


class TimestampSink(Sink):
    """Requests, verifies and journals timestamp tokens; wakes on outage open/close."""

    name = "timestamp"

    def __init__(self, ctx: AgentContext, section: TimestampSection) -> None:
        self.ctx = ctx
        self.section = section
        self.tsas: dict[str, _Tsa] = {}
        self._wake = asyncio.Event()
        self._outage_due = False
        self._last_outage_mono = -1e18
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        self.tokens = 0  # journaled this run (tests, status)

    async def start(self) -> None:
        """Load every TSA's CA, create the queue table, and start the loop (the first round runs at once)."""
        for spec in self.section.tsas:
            where = f"timestamp.tsas ({spec.label}) ca_file {spec.ca_file}"
            try:
                pem = await asyncio.to_thread(_read, spec.ca_file)
            except OSError as exc:
                raise SinkUnavailable(f"trusted timestamps are off: {where}: {exc.strerror or exc}") from None
            try:
                roots = load_ca(pem, where)
            except TokenError as exc:
                raise SinkUnavailable(f"trusted timestamps are off: {exc}") from None
            self.tsas[spec.label] = _Tsa(spec, roots, ca_sha256(roots))
        await self.ctx.writer.call(lambda j: j.ensure_schema(QUEUE_SQL))
        self._session = aiohttp.ClientSession(trust_env=False)
        self._task = asyncio.create_task(self._loop(), name="timestamp")

    async def on_outage(self, notice: OutageNotice) -> None:
        """An outage opened or closed: stamp the head that holds it (coalesced, at most every outage_gap)."""
        self._outage_due = True
        self._wake.set()

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        writer = self.ctx.writer
        names = list(self.tsas)
        last = {name: await writer.call(lambda j, n=name: _last_token_ns(j, n)) for name in names}  # type: ignore[misc]
        while True:
            try:
                now = time.time_ns()
                due = [n for n in names if now - last[n] >= self.section.interval * NS]
                reason = None
                if self._outage_due and loop.time() - self._last_outage_mono >= self.section.outage_gap:
                    self._outage_due = False
                    self._last_outage_mono = loop.time()
                    due, reason = names, "outage"
                if due and not writer.degraded:
                    await writer.flush()
                    await writer.call(lambda j: j.seal())
                    await writer.call(
                        lambda j, d=due, r=reason or "interval": enqueue(j, d, r, time.time_ns())  # type: ignore[misc]
                    )
                    for n in due:  # an empty journal has no head: nothing was queued, the next interval tries
                        last[n] = now
                wait = await self._send_all(last)
            except Exception:
                _LOGGER.exception("timestamp round failed (trying again in %g s)", self.section.retry)
                wait = self.section.retry
            nxt = min(self.section.interval - (time.time_ns() - min(last.values(), default=0)) / NS, wait)
            if self._outage_due:
                nxt = min(nxt, max(0.0, self.section.outage_gap - (loop.time() - self._last_outage_mono)))
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), max(0.05, nxt))

    async def _send_all(self, last: dict[str, int]) -> float:
        """Send each TSA's newest queued head when its retry time has come; return the seconds to the next retry."""
        wait = self.section.interval
        writer = self.ctx.writer
        for name, tsa in self.tsas.items():
            item = await writer.call(lambda j, n=name: pending(j, n))  # type: ignore[misc]
            if item is None:
                continue
            now = time.time_ns()
            if item.next_ns > now:
                wait = min(wait, (item.next_ns - now) / NS)
                continue
            try:
                await self._request(tsa, item)
            except (RequestFailed, TokenError) as exc:
                delay = min(self.section.interval, self.section.retry * 2 ** min(item.attempts, 30))
                await writer.call(lambda j, n=name, d=delay, e=str(exc): _failed(j, n, time.time_ns() + int(d * NS), e))  # type: ignore[misc]
                wait = min(wait, delay)
                if not tsa.failing:
                    _LOGGER.warning(
                        "timestamp request failed tsa=%s error=%s (queued; retrying in %g s, the head stays queued "
                        "across restarts)",
                        name,
                        exc,
                        delay,
                    )
                tsa.failing = True
            else:
                last[name] = max(last[name], time.time_ns())
                if tsa.failing:
                    _LOGGER.info("timestamp requests work again tsa=%s", name)
                tsa.failing = False
        return wait

    async def _request(self, tsa: _Tsa, item: Pending) -> None:
        assert self._session is not None
        writer = self.ctx.writer
        journal_id = writer.journal.journal_id
        message = statement(journal_id, item.block, item.last_seq, item.head)
        request = build_request(message)
        answer = await post_query(
            self._session, tsa.spec.url.get_secret_value(), request.as_bytes(), self.section.timeout
        )
        facts = check_token(answer, message, tsa.roots, request=request)
        known = await writer.call(_known_cas)
        if tsa.ca_sha256 not in known:
            ca = {"tsa": tsa.spec.label, "sha256": tsa.ca_sha256, "pem": ca_pem(tsa.roots)}
            await writer.write(writer.event(EV_TIMESTAMP_CA, ca))
        data: dict[str, Any] = token_event(
            tsa.spec.label,
            journal_id,
            (item.block, item.last_seq, item.head),
            answer,
            facts,
            tsa.ca_sha256,
            item.queued_ns,
            item.reasons,
        )
        seq = await writer.write(writer.event(EV_TIMESTAMP, data))
        if seq is None:
            raise RequestFailed("the journal is failing: the token is not kept, the head stays queued")
        await writer.call(lambda j: _done(j, tsa.spec.label, item.block))
        self.tokens += 1
        _LOGGER.info(
            "timestamp token tsa=%s block=%d rows_up_to=%d gen_time_ns=%d",
            tsa.spec.label,
            item.block,
            item.last_seq,
            facts.gen_time_ns,
        )

    async def aclose(self) -> None:
        """Stop; whatever is queued stays queued in the journal for the next run."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._session is not None:
            await self._session.close()


def timestamp_sink_factory(ctx: AgentContext) -> Sink | None:
    """The timestamp sink, when ``timestamp.tsas`` names at least one TSA."""
    section = ctx.config.model.timestamp
    if not section.tsas:
        return None
    return TimestampSink(ctx, section)
