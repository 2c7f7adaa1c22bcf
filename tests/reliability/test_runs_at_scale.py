"""Agent runs read from a journal full of heartbeats: right ends, without decoding every heartbeat.

A year of minute heartbeats is half a million ``alive`` events; reports read the runs several times,
so ``Journal.runs`` looks at heartbeats only for a run that has no end, through one aggregate query.
"""

from __future__ import annotations

from pathlib import Path

from helpers import T0, ScriptedJournal, target

from watchdog.journal.schema import EV_AGENT_START, EV_ALIVE
from watchdog.journal.store import PendingEvent
from watchdog.model import NS


def test_a_run_that_never_got_an_end_closes_at_its_last_heartbeat(tmp_path: Path) -> None:
    script = ScriptedJournal(tmp_path / "journal.sqlite3", [target("svc/a")])
    j = script.journal
    # run1: crashed, and the agent that should have recovered it never ran (the journal was copied first)
    j.add_event(EV_AGENT_START, {"run": "run1", "targets": [1]}, ts_ns=T0)
    j.append([PendingEvent(EV_ALIVE, T0 + m * 60 * NS, {"run": "run1"}) for m in range(1, 200)])
    j.add_event(EV_AGENT_START, {"run": "run2", "targets": [1]}, ts_ns=T0 + 5 * 3600 * NS)
    j.append([PendingEvent(EV_ALIVE, T0 + 5 * 3600 * NS + 60 * NS, {"run": "run2"})])
    runs = j.runs()
    assert [(r.run_id, r.start_ns, r.end_ns, r.clean) for r in runs] == [
        ("run1", T0, T0 + 199 * 60 * NS, False),  # the last of its own heartbeats, not run2's
        ("run2", T0 + 5 * 3600 * NS, None, False),  # still running
    ]
    script.close()


def test_a_run_without_heartbeats_ends_where_it_started(tmp_path: Path) -> None:
    script = ScriptedJournal(tmp_path / "journal.sqlite3", [target("svc/a")])
    script.run(0, None)
    script.run(100, 200)
    runs = script.journal.runs()
    assert [(r.start_ns, r.end_ns) for r in runs] == [(T0, T0), (T0 + 100 * NS, T0 + 200 * NS)]
    script.close()
