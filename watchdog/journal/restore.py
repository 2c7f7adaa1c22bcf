"""Restoring a restarting agent's state from the journal: its open outages and each target's last results."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field

from watchdog.journal.readers import JournalReader
from watchdog.model import FailureKind, Outage, Result


@dataclass
class _TargetRestore:
    last_ok_ns: int | None = None
    last_fail_ns: int | None = None
    last_result: Result | None = None


@dataclass
class RestoredState:
    """What a restarting agent needs: open outages and each target's last results."""

    open_outages: dict[str, Outage] = field(default_factory=dict)
    last_ok_ns: dict[str, int] = field(default_factory=dict)
    last_fail_ns: dict[str, int] = field(default_factory=dict)
    last_result: dict[str, Result] = field(default_factory=dict)
    open_degraded: dict[str, dict[str, Outage]] = field(default_factory=dict)  # target -> limit -> window


def restore_state(journal: JournalReader, keys: Iterable[str], *, tail_rows: int = 50_000) -> RestoredState:
    """Open outages plus each target's last results, read from the journal's tail."""
    state = RestoredState()
    keys = list(keys)
    for outage in journal.outages(keys):
        if outage.is_open:
            state.open_outages[outage.target] = outage
    wanted = set(keys)
    for window in journal.degradations(wanted):
        if window.is_open:
            state.open_degraded.setdefault(window.target, {})[window.limit] = window
    names = journal.target_keys()
    seen: dict[str, _TargetRestore] = {}
    for target, ts, lat, failure, detail, metrics in journal.conn.execute(
        "SELECT target, ts_ns, latency_us, failure, detail, metrics FROM results ORDER BY seq DESC LIMIT ?",
        (tail_rows,),
    ):
        key = names.get(target)
        if key is None or key not in wanted:
            continue
        info = seen.setdefault(key, _TargetRestore())
        if info.last_result is None:
            info.last_result = Result(
                key,
                ts,
                failure is None,
                None if lat is None else lat / 1e6,
                None if failure is None else FailureKind(failure),
                detail or "",
                json.loads(metrics) if metrics else {},
            )
        if failure is None and info.last_ok_ns is None:
            info.last_ok_ns = ts
        if failure is not None and failure != FailureKind.INTERNAL and info.last_fail_ns is None:
            info.last_fail_ns = ts
    for key, info in seen.items():
        if info.last_ok_ns is not None:
            state.last_ok_ns[key] = info.last_ok_ns
        if info.last_fail_ns is not None:
            state.last_fail_ns[key] = info.last_fail_ns
        if info.last_result is not None:
            state.last_result[key] = info.last_result
    return state
