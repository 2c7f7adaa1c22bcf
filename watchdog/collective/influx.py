"""Timelines from the shared InfluxDB: the ``timeline`` measurement of every agent, read with InfluxQL.

Works on any server that answers InfluxQL on ``/query``: 1.x (``database``, Basic auth when a username
is set), 2.x and Cloud (``bucket`` as the database through its DBRP mapping, ``Authorization: Token``),
3.x. Steps:

1. ``SHOW TAG VALUES FROM "timeline" WITH KEY = "provider"``: the provider names the agents export under;
   the ones matching the names asked for (case-insensitively) are read;
2. ``SELECT * FROM "timeline" WHERE provider = … AND time >= … AND time < …``, a week at a time;
3. per agent, provider and day the newest write (``written_ns``) wins, its chunks are joined and decoded;
   a day whose chunks do not all carry that write is reported as a problem and left out.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from watchdog.analysis.attribution import Interval
from watchdog.analysis.timeline import DAY_NS, clip, decode, merge
from watchdog.collective.core import AgentTimeline
from watchdog.config import InfluxSection
from watchdog.influx.client import InfluxError, Unavailable, choose_api, classify, error_message, ping, secret_words
from watchdog.influx.schema import TIMELINE

_LOGGER = logging.getLogger(__name__)

QUERY_DAYS = 7  # days per SELECT (200 agents × 7 days ≈ 1,400 points an answer)
_OWN_COLUMNS = frozenset(
    {
        "time",
        "agent",
        "provider",
        "spans",
        "chunk",
        "chunks",
        "as_of_ns",
        "written_ns",
        "covered_s",
        "up_s",
        "provider_s",
        "customer_line_s",
        "inconclusive_s",
        "provider_kind",
    }
)


@dataclass
class InfluxRead:
    """What the InfluxDB gave: timelines, the provider names matched, and problems with single days."""

    timelines: list[AgentTimeline] = field(default_factory=list)
    names: list[str] = field(default_factory=list)  # provider tags found that match
    known: list[str] = field(default_factory=list)  # every provider tag in the measurement
    points: int = 0
    problems: list[str] = field(default_factory=list)
    server: str = ""


class InfluxQL:
    """A read-only InfluxQL client for one server and database (the credentials of the config's section)."""

    def __init__(self, session: aiohttp.ClientSession, settings: InfluxSection) -> None:
        self.session = session
        self.settings = settings
        self.params: dict[str, str] = {"epoch": "ns"}
        self.headers: dict[str, str] = {}
        self.server = ""

    async def connect(self) -> None:
        """Ask ``/ping`` which dialect the server speaks and set the database and credentials for it."""
        info = await ping(self.session, self.settings)
        self.server = info.version or info.build
        s = self.settings
        if choose_api(s, info) == "v1":
            self.params["db"] = s.database
            if s.retention_policy:
                self.params["rp"] = s.retention_policy
            if s.username:
                password = s.password.get_secret_value() if s.password else ""
                token = base64.b64encode(f"{s.username}:{password}".encode()).decode()
                self.headers["Authorization"] = f"Basic {token}"
        else:
            self.params["db"] = s.bucket or s.database
            if s.token is not None:
                self.headers["Authorization"] = f"Token {s.token.get_secret_value()}"

    async def query(self, q: str) -> list[dict[str, Any]]:
        """One statement → its series; InfluxError says what went wrong (the query text, never a credential)."""
        try:
            async with self.session.post(
                f"{self.settings.url}/query",
                params=self.params,
                data={"q": q},
                headers=self.headers,
                ssl=self.settings.verify_tls,
                timeout=aiohttp.ClientTimeout(total=max(60.0, self.settings.timeout)),
            ) as resp:
                body = await resp.read()
                if resp.status // 100 != 2:
                    raise classify(
                        resp.status, error_message(body, secret_words(self.settings)), resp.headers.get("Retry-After")
                    )
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise Unavailable(f"query {self.settings.url}: {type(exc).__name__}: {exc}") from exc
        try:
            result = json.loads(body)["results"][0]
        except (ValueError, KeyError, IndexError) as exc:
            raise InfluxError(f"query {self.settings.url}: not an InfluxQL answer ({exc})") from exc
        if "error" in result:
            raise InfluxError(f"InfluxQL error: {result['error']} (query: {q})")
        return list(result.get("series", []))


def _quote(value: str) -> str:
    """An InfluxQL string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _rows(series: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for s in series:
        tags = s.get("tags") or {}
        for values in s.get("values") or []:
            out.append({**tags, **dict(zip(s["columns"], values, strict=True))})
    return out


async def read_timelines(
    settings: InfluxSection, names: Sequence[str], window: Interval, *, where: Mapping[str, str] | None = None
) -> InfluxRead:
    """The timelines of every agent exporting one of ``names`` (case-insensitive), clipped to ``window``."""
    out = InfluxRead()
    wanted = {n.casefold() for n in names}
    async with aiohttp.ClientSession() as session:
        client = InfluxQL(session, settings)
        await client.connect()
        out.server = client.server
        found = _rows(await client.query(f'SHOW TAG VALUES FROM "{TIMELINE}" WITH KEY = "provider"'))
        out.known = sorted({str(r["value"]) for r in found})
        out.names = [n for n in out.known if n.casefold() in wanted]
        if not out.names:
            return out
        match = " OR ".join(f'"provider" = {_quote(n)}' for n in out.names)
        rows: list[dict[str, Any]] = []
        lo = window[0] - window[0] % DAY_NS
        while lo < window[1]:
            hi = min(window[1], lo + QUERY_DAYS * DAY_NS)
            q = f'SELECT * FROM "{TIMELINE}" WHERE ({match}) AND time >= {lo} AND time < {hi}'
            rows.extend(_rows(await client.query(q)))
            lo = hi
    out.points = len(rows)
    out.timelines = _assemble(rows, window, dict(where or {}), out.problems)
    return out


def _assemble(
    rows: Sequence[Mapping[str, Any]], window: Interval, where: Mapping[str, str], problems: list[str]
) -> list[AgentTimeline]:
    """Points → one timeline per agent and provider name (the newest write of each day wins)."""
    days: dict[tuple[str, str, int], dict[int, list[Mapping[str, Any]]]] = {}
    for r in rows:
        if r.get("agent") is None or r.get("provider") is None or r.get("chunk") is None:
            continue
        chunk = int(r["chunk"])
        day = int(r["time"]) - chunk
        days.setdefault((str(r["agent"]), str(r["provider"]), day), {}).setdefault(int(r["written_ns"]), []).append(r)
    by_agent: dict[tuple[str, str], list[tuple[int, Mapping[str, Any], list[Any]]]] = {}
    for (agent, provider, day), writes in sorted(days.items()):
        newest = max(writes)
        parts = {int(p["chunk"]): p for p in writes[newest]}
        first = parts.get(0)
        total = int(first["chunks"]) if first is not None else -1
        if first is None or sorted(parts) != list(range(total)):
            problems.append(
                f"agent {agent}, {provider}, day {day}: the newest write has chunks {sorted(parts)} of "
                f"{total if total >= 0 else '?'}; the day is left out"
            )
            continue
        try:
            spans = decode(",".join(str(parts[i]["spans"] or "") for i in range(total)), day)
        except ValueError as exc:
            problems.append(f"agent {agent}, {provider}, day {day}: {exc}; the day is left out")
            continue
        by_agent.setdefault((agent, provider), []).append((newest, first, spans))
    out = []
    for (agent, provider), items in sorted(by_agent.items()):
        latest = max(items, key=lambda item: item[0])[1]
        tags = {k: str(v) for k, v in latest.items() if k not in _OWN_COLUMNS and v is not None and v != ""}
        if any(tags.get(k) != v for k, v in where.items()):
            continue
        joined = clip(merge(s for _, _, day_spans in items for s in day_spans), window)
        kind = str(latest.get("provider_kind") or "")
        out.append(AgentTimeline(agent, tags, provider, kind, joined, ("influxdb",)))
    return out
