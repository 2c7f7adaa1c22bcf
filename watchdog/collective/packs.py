"""Timelines from a folder of evidence packs: each pack is verified first, then recomputed from its chain.

For every ``*.zip`` in the folder:

1. :func:`watchdog.documents.pack.verify.verify_pack` checks every file hash, every row against its seal and every
   block hash; a pack with any problem is **rejected** and listed with its first problems;
2. the pack's provider (the shared name in a ``--share`` pack, else its provider id) must match one of the
   names asked for, and its agent's tags the ``--where`` filters; other packs are listed as skipped;
3. the chained ``events.csv`` rows, plus the manifest's *prologue* (the target definitions, the running
   agent's start and the outages still open where the segment begins), are written into a scratch journal
   through the real Journal API, and the period is analysed exactly as the agent does
   (:func:`watchdog.analysis.outages.analyse`, :func:`watchdog.analysis.timeline.provider_spans`). The prologue
   is not covered by the pack's blocks, so it is checked against the chained rows that continue it (the
   run it starts, the outages it opens); a pack whose prologue does not fit is rejected.

Nothing is taken from the pack's derived files (``outages.csv``, the summary): only chained rows count.
Packs are independent, so they are loaded in worker processes (``jobs``).
"""

from __future__ import annotations

import csv
import functools
import json
import sqlite3
import tempfile
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from watchdog.analysis.attribution import Interval
from watchdog.analysis.outages import analyse
from watchdog.analysis.timeline import provider_spans
from watchdog.collective.core import AgentTimeline
from watchdog.documents.pack.csvfiles import EVENT_COLUMNS, REDACTED_ROW, event_canon
from watchdog.documents.pack.verify import verify_pack
from watchdog.documents.pack.zipread import PackRejected, csv_lines, open_pack, read_entry, read_manifest
from watchdog.journal.chain import event_row_hash
from watchdog.journal.schema import (
    EV_AGENT_START,
    EV_AGENT_STOP,
    EV_ALIVE,
    EV_OUTAGE_CLOSE,
    EV_OUTAGE_OPEN,
    EV_RUN_END_RECOVERED,
    EV_TARGET,
)
from watchdog.journal.store import Journal
from watchdog.model import ProviderKind

MAX_REASONS = 5
_RUN_EVENTS = (EV_AGENT_START, EV_AGENT_STOP, EV_ALIVE, EV_RUN_END_RECOVERED)


@dataclass(frozen=True)
class PackOutcome:
    """What became of one pack: a timeline, or the reason it was rejected or skipped."""

    path: str
    status: str  # "used" | "rejected" | "skipped"
    reasons: tuple[str, ...] = ()
    timeline: AgentTimeline | None = None
    agent: str = ""
    provider: str = ""
    period: str = ""


class _Unusable(Exception):
    """The pack verified, but what it carries cannot be recomputed (a bad prologue, no provider kind)."""


def load_folder(
    folder: Path,
    names: Sequence[str],
    window: Interval,
    *,
    where: Mapping[str, str] | None = None,
    jobs: int = 1,
) -> list[PackOutcome]:
    """Every ``*.zip`` in ``folder`` (sorted by name) → its outcome; timelines are clipped to ``window``."""
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".zip" and p.is_file())
    wanted = tuple(n.casefold() for n in names)
    filters = dict(where or {})
    load = functools.partial(load_pack, names=wanted, window=window, where=filters)
    if jobs <= 1 or len(paths) <= 1:
        return [load(p) for p in paths]
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(load, p) for p in paths]
        out = []
        for path, future in zip(paths, futures, strict=True):
            try:
                out.append(future.result())
            except Exception as exc:  # a worker that died (killed, out of memory) costs its pack, not the report
                out.append(PackOutcome(str(path), "rejected", (f"could not be checked: {type(exc).__name__}: {exc}",)))
        return out


def load_pack(path: Path, names: Sequence[str], window: Interval, where: Mapping[str, str]) -> PackOutcome:
    """One pack → its outcome (see the module docstring); never raises for a bad pack."""
    try:
        verdict = verify_pack(path)
    except Exception as exc:  # the last guard: one household's pack must never cost the advocate the report
        return PackOutcome(str(path), "rejected", (f"could not be checked: {type(exc).__name__}: {exc}",))
    if not verdict.ok:
        reasons = tuple(verdict.problems[:MAX_REASONS])
        if len(verdict.problems) > MAX_REASONS:
            reasons += (f"... and {len(verdict.problems) - MAX_REASONS} more",)
        return PackOutcome(str(path), "rejected", reasons)
    try:
        return _use(path, names, window, where)
    except PackRejected as exc:
        return PackOutcome(str(path), "rejected", tuple(exc.reasons[:MAX_REASONS]))
    except _Unusable as exc:
        return PackOutcome(str(path), "rejected", (str(exc),))
    except (KeyError, TypeError, ValueError, AttributeError, sqlite3.Error, csv.Error, RecursionError) as exc:
        # the pack verified, so what does not fit is in its manifest's own fields (or its prologue)
        return PackOutcome(str(path), "rejected", (f"manifest.json or prologue unusable: {type(exc).__name__}: {exc}",))


def _use(path: Path, names: Sequence[str], window: Interval, where: Mapping[str, str]) -> PackOutcome:
    """A verified pack → its timeline, or why it is skipped; _Unusable when it cannot be recomputed."""
    with open_pack(path) as zf:
        stream = read_manifest(zf)
        manifest = stream.data  # all but the blocks (verified already): only the first is needed
        first_block = next(stream.blocks(), None)
        share = manifest.get("share") or {}
        local = str(manifest["provider"])
        shared = str(share.get("provider") or local)
        agent = str(manifest.get("agent", ""))
        tags = {str(k): str(v) for k, v in (share.get("tags") or {}).items()}
        period = manifest["period"]
        base = PackOutcome(str(path), "skipped", agent=agent, provider=shared, period=str(period.get("label", "")))
        if shared.casefold() not in names:
            return _with(base, reasons=(f"provider {shared!r} is not one asked for",))
        for key, value in where.items():
            if tags.get(key) != value:
                return _with(base, reasons=(f"tag {key}={tags.get(key, '(none)')!r}, not {value!r}",))
        lo = max(window[0], int(period["start_ns"]))
        hi = min(window[1], int(period["end_ns"]), int(manifest["as_of_ns"]))
        if hi <= lo:
            return _with(base, reasons=("its period does not overlap the report's",))
        rows = list(_event_rows(zf))
        prologue = _prologue(manifest, int(first_block["first_seq"]) if first_block else 1, rows)
        kind, quorum = _provider_facts(zf, [*prologue, *rows], local)
        spans = _spans(prologue, rows, local, kind, quorum, (lo, hi))
    timeline = AgentTimeline(agent, tags, shared, kind.value, spans, (path.name,))
    return _with(base, status="used", timeline=timeline)


def _with(base: PackOutcome, **changes: Any) -> PackOutcome:
    return PackOutcome(**{**base.__dict__, **changes})


def _event_rows(zf: zipfile.ZipFile) -> Iterator[tuple[int, int, str, int | None, int | None, str]]:
    """The canonical columns of every events.csv row that is not redacted (the pack verified already)."""
    lines = csv_lines(zf, "events.csv")
    try:
        reader = csv.reader(lines)
        header = next(reader)
        if tuple(header) != EVENT_COLUMNS:
            raise _Unusable("events.csv: unexpected columns")
        for cells in reader:
            ev = event_canon(cells[3:9])
            if not ev[5].startswith(REDACTED_ROW):
                yield ev
    finally:
        lines.close()


def _prologue(manifest: Mapping[str, Any], first: int, rows: Sequence[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """The manifest's prologue rows (``first``: the segment's first seq), checked against themselves and against
    the chained rows after them."""
    chain = manifest["chain"]
    included = {int(s) for s in chain["included_streams"]}
    out = []
    for raw in chain.get("prologue") or []:
        seq, ts, type_, target, ref, data, seal = raw
        row = (int(seq), int(ts), str(type_), target, ref, str(data))
        if row[0] >= first:
            raise _Unusable(f"prologue: row seq {seq} is not before the chain segment (seq {first})")
        if event_row_hash(*row)[:4].hex() != seal:
            raise _Unusable(f"prologue: row seq {seq} ({type_}) does not match its seal: it was edited")
        if type_ == EV_TARGET and target not in included:
            raise _Unusable(f"prologue: row seq {seq} defines target {target}, not one of the pack's streams")
        out.append(row)
    runs = [r for r in out if r[2] == EV_AGENT_START]
    if runs:
        run = json.loads(runs[-1][5]).get("run")
        later = next((r for r in rows if r[2] in _RUN_EVENTS), None)
        if later is not None and json.loads(later[5]).get("run") != run:
            raise _Unusable(
                f"prologue: the run it starts ({run}) is not the one the chained rows continue "
                f"(seq {later[0]} {later[2]} names {json.loads(later[5]).get('run')})"
            )
    opened = {r[0] for r in out if r[2] == EV_OUTAGE_OPEN}
    for r in rows:
        if r[2] == EV_OUTAGE_CLOSE and r[4] is not None and r[4] < first and r[4] not in opened:
            target = r[3]
            if target in included:
                raise _Unusable(f"prologue: seq {r[0]} closes outage {r[4]}, whose opening the prologue lacks")
    return out


def _provider_facts(zf: zipfile.ZipFile, rows: Sequence[tuple[Any, ...]], local: str) -> tuple[ProviderKind, int]:
    """The provider's kind and the controls' quorum: from the newest agent start, else the pack's config.yaml."""
    starts = [r for r in rows if r[2] == EV_AGENT_START]
    for r in reversed(starts):
        data = json.loads(r[5])
        kind = (data.get("providers") or {}).get(local, {}).get("kind")
        if kind and isinstance(data.get("quorum"), int):
            return ProviderKind(kind), int(data["quorum"])
    try:
        config = yaml.safe_load(read_entry(zf, "config.yaml").decode("utf-8")) or {}
        provider = next(p for p in config.get("providers") or [] if p.get("id") == local)
        controls = config.get("controls") or {}
        quorum = controls.get("quorum")
        if quorum is None:
            internet = controls.get("internet") or []
            quorum = len(internet) // 2 + 1 if internet else 0
        return ProviderKind(provider.get("kind", "other")), int(quorum)
    except (KeyError, StopIteration, ValueError, yaml.YAMLError, AttributeError, TypeError, RecursionError) as exc:
        raise _Unusable(f"cannot tell provider {local!r}'s kind and the quorum from the pack ({exc})") from None


def _spans(
    prologue: Sequence[tuple[Any, ...]],
    rows: Sequence[tuple[Any, ...]],
    local: str,
    kind: ProviderKind,
    quorum: int,
    window: Interval,
) -> tuple[Any, ...]:
    """Write the chained rows into a scratch journal and analyse the window as the agent would."""
    with tempfile.TemporaryDirectory(prefix="watchdog-collective-") as tmp:
        journal = Journal.open(Path(tmp) / "pack.sqlite3")
        try:
            targets: dict[int, str] = {}
            for r in (*prologue, *rows):
                if r[2] == EV_TARGET and r[3] is not None:
                    targets[int(r[3])] = json.loads(r[5])["key"]
            with journal.transaction():
                journal.conn.executemany("INSERT INTO targets (id, key) VALUES (?, ?)", sorted(targets.items()))
                journal.conn.executemany(
                    "INSERT INTO events (seq, ts_ns, type, target, ref, data) VALUES (?, ?, ?, ?, ?, ?)",
                    (*prologue, *rows),
                )
            analysis = analyse(
                journal,
                provider_kinds={local: kind},
                quorum=quorum,
                since_ns=window[0],
                until_ns=window[1],
                now_ns=window[1],
            )
            return provider_spans(analysis, journal, local, window)
        finally:
            journal.close()
