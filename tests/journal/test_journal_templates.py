"""Schema 3: ICMP results stored as a template plus integers, read back (through plain SQL) exactly as written.

Real parts: real SQLite files, the real ICMP probe against 127.0.0.1 (root: raw socket), the real
verifier. Older journals (schema 1 and 2) keep their format when appended to.
"""

from __future__ import annotations

import json
import random
import sqlite3
from pathlib import Path

import pytest
from helpers import T0, target

from probes import REGISTRY
from probes.icmp import IcmpOptions
from watchdog.agent.runner import run_probe
from watchdog.journal import store
from watchdog.journal.store import Journal, render_template, rtt_template
from watchdog.journal.verify import verify_journal
from watchdog.model import NS, FailureKind, Result, Role, Target
from watchdog.probe import ProbeContext

KEY = "isp/gateway"


def icmp_result(i: int, rtts_us: list[int], address: str = "127.0.9.10") -> Result:
    """A result as the ICMP probe writes it (same rounding, same wording)."""
    rtts = [us / 1e6 for us in rtts_us]
    a, b, c = round(min(rtts), 6), round(sum(rtts) / len(rtts), 6), round(max(rtts), 6)
    metrics = {"sent": 3, "received": len(rtts), "loss_ratio": (3 - len(rtts)) / 3}
    metrics.update(rtt_min_s=a, rtt_max_s=c, rtt_avg_s=b)
    detail = (
        f"{len(rtts)} of 3 ICMP echo replies from {address}, rtt min/avg/max "
        f"{a * 1e3:.3f}/{b * 1e3:.3f}/{c * 1e3:.3f} ms"
    )
    return Result(KEY, T0 + i * 10 * NS, True, b, None, detail, metrics)


def _stored(path: Path) -> list[tuple[str, str | None, dict[str, float] | None]]:
    """What a plain sqlite3 connection (no watchdog code) reads from the ``results`` view."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT detail, metrics FROM results ORDER BY seq").fetchall()
    finally:
        conn.close()
    return [(d, m, None if m is None else json.loads(m)) for d, m in rows]


def test_icmp_rows_become_templates_and_read_back_exactly(tmp_path: Path) -> None:
    rng = random.Random(19)
    cases = [[12, 11, 20], [0, 0, 0], [5, 9, 7], [99, 100, 101], [1_000_000, 1_500_000, 999_999], [65_000, 1, 40]]
    cases += [[rng.randrange(1, 3_000_000) for _ in range(rng.choice((1, 2, 3)))] for _ in range(400)]
    written = [icmp_result(i, rtts) for i, rtts in enumerate(cases)]
    path = tmp_path / "j.sqlite3"
    with Journal.open(path) as journal:
        assert journal.schema_version == 3
        journal.register_targets([target(KEY, kind="icmp")], now_ns=T0)
        journal.append(written)
        journal.seal(now_ns=T0 + 10**13)
        kinds = dict(
            journal.conn.execute(
                "SELECT CASE WHEN typeof(detail) = 'integer' AND detail < 0 THEN 'template' ELSE typeof(detail) END, "
                "count(*) FROM result_rows GROUP BY 1"
            ).fetchall()
        )
        templates = journal.conn.execute("SELECT count(*) FROM templates").fetchone()[0]
        read = [r for _, r in journal.iter_results()]
    # (avg − min) ≥ 65.536 ms does not fit the packed integer: those few rows keep their texts inline
    spread = sum(1 for r in written if r.metrics["rtt_avg_s"] - r.metrics["rtt_min_s"] >= 0.065536)
    assert kinds == {"template": len(written) - spread, "text": spread} if spread else {"template": len(written)}
    assert templates == 3  # one per replies count (1, 2 or 3 of 3)
    assert [(r.detail, dict(r.metrics), r.latency_s) for r in read] == [
        (w.detail, dict(w.metrics), w.latency_s) for w in written
    ]
    plain = _stored(path)
    assert [d for d, _, _ in plain] == [w.detail for w in written]
    assert [m for _, m, _ in plain] == [store._json(dict(w.metrics)) for w in written]
    verdict = verify_journal(path)
    assert verdict.ok and verdict.rows == len(written) + 1, verdict.problems


def test_texts_that_would_not_render_back_are_stored_as_written() -> None:
    good = icmp_result(0, [1200, 1300, 1500])
    text = store._json(dict(good.metrics))
    assert rtt_template(good.detail, text, good.metrics, 1333) is not None
    assert rtt_template(good.detail, text, good.metrics, 1000) is None  # latency is not the average
    assert rtt_template(good.detail + " (slow)", text, good.metrics, 1333) is None
    assert rtt_template(good.detail.replace("1.200", "1.2"), text, good.metrics, 1333) is None
    assert rtt_template(good.detail, text.replace("0.0012,", "1.2e-3,"), good.metrics, 1333) is None
    assert rtt_template("\x01" + good.detail, text, good.metrics, 1333) is None  # a placeholder in the text
    odd = {**good.metrics, "rtt_min_s": 0.0012004}  # not rounded to the µs as the probe rounds
    assert rtt_template(good.detail, store._json(odd), odd, 1333) is None
    rendered = render_template("\x01/\x02/\x03 \x04 \x05 \x06", 7, 1500, 2_000_000)
    assert rendered == "0.007/1.500/2000.000 7e-06 0.0015 2.0"


def test_tampering_with_a_template_or_its_numbers_is_detected(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    with Journal.open(path) as journal:
        journal.register_targets([target(KEY, kind="icmp")], now_ns=T0)
        journal.append([icmp_result(i, [1000 + i, 1100 + i, 1300]) for i in range(10)])
        journal.seal(now_ns=T0 + 10**12)
    for sql, first_bad in (
        ("UPDATE templates SET detail = replace(detail, '127.0.9.10', '127.0.9.11')", 2),
        ("UPDATE result_rows SET metrics = metrics + 1 WHERE seq = 5", 5),
        ("UPDATE result_rows SET latency_us = latency_us + 1 WHERE seq = 7", 7),
    ):
        copy = tmp_path / f"t{first_bad}.sqlite3"
        copy.write_bytes(path.read_bytes())
        conn = sqlite3.connect(copy)
        conn.execute(sql)
        conn.commit()
        conn.close()
        verdict = verify_journal(copy)
        assert not verdict.ok and verdict.first_bad_seq == first_bad, (sql, verdict.problems)


async def test_the_real_probe_s_results_are_stored_as_templates(tmp_path: Path) -> None:
    probe_target = Target(
        key=KEY,
        name="gateway",
        kind="icmp",
        address="127.0.0.1",
        role=Role.PROVIDER,
        provider="isp",
        interval_s=10.0,
        timeout_s=2.0,
        options=IcmpOptions(count=3, packet_interval="10ms"),
    )
    ctx = ProbeContext()
    try:
        results = [await run_probe(REGISTRY["icmp"], probe_target, ctx) for _ in range(5)]
    finally:
        await ctx.aclose()
    if not all(r.ok for r in results):
        pytest.skip(f"ICMP to 127.0.0.1 not possible here: {results[0].detail}")
    path = tmp_path / "j.sqlite3"
    with Journal.open(path) as journal:
        journal.register_targets([probe_target], now_ns=T0)
        journal.append(results)
        stored = journal.conn.execute("SELECT detail < 0, typeof(metrics) FROM result_rows").fetchall()
        read = [r for _, r in journal.iter_results()]
    assert stored == [(1, "integer")] * 5
    assert [(r.detail, dict(r.metrics)) for r in read] == [(r.detail, dict(r.metrics)) for r in results]
    assert verify_journal(path).ok


def test_a_schema_2_journal_stays_schema_2_when_appended_to(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "v2.sqlite3"
    monkeypatch.setattr(store, "SCHEMA_VERSION", 2)  # create it as the previous version did
    with Journal.open(path) as journal:
        journal.register_targets([target(KEY, kind="icmp")], now_ns=T0)
        journal.append([icmp_result(i, [1000, 1100, 1300 + i]) for i in range(3)])
    monkeypatch.undo()
    with Journal.open(path) as journal:
        assert journal.schema_version == 2
        journal.append([icmp_result(i, [1000, 1100, 1300 + i]) for i in range(3, 6)])
        journal.append([Result(KEY, T0 + 100 * NS, False, 0.5, FailureKind.TIMEOUT, "no reply", {})])
        journal.seal(now_ns=T0 + 10**12)
        tables = {n for (n,) in journal.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        kinds = journal.conn.execute("SELECT DISTINCT typeof(detail) FROM result_rows").fetchall()
        details = [r.detail for _, r in journal.iter_results()]
    assert "templates" not in tables
    assert kinds == [("text",)]
    assert details[:6] == [icmp_result(i, [1000, 1100, 1300 + i]).detail for i in range(6)]
    assert verify_journal(path).ok


def _variants(rng: random.Random) -> list[Result]:
    """ICMP-like results, most fitting the target's last shape and some differing in one way each."""
    out: list[Result] = []
    for i in range(600):
        rtts = [rng.randrange(0, 400) for _ in range(3)]
        r = icmp_result(i, rtts, address=rng.choice(("127.0.9.10", "127.0.9.10", "127.0.9.11")))
        m = dict(r.metrics)
        change = rng.randrange(14)
        if change == 0:
            m["rtt_min_s"] = -0.0 if m["rtt_min_s"] == 0 else m["rtt_min_s"]
        elif change == 1:
            m["sent"] = True if m["sent"] == 1 else 3.0
        elif change == 2:
            m["loss_ratio"] = -0.0 if m["loss_ratio"] == 0 else m["loss_ratio"]
        elif change == 3:
            m["note"] = '"rtt_min_s":0.0001'
        elif change == 4:
            m["rtt_avg_s"] = int(m["rtt_avg_s"] * 1e6)
        elif change == 5:
            m["rtt_max_s"] = m["rtt_max_s"] + 1e-9
        elif change == 6:
            m["extra"] = None
        elif change == 7:
            del m["sent"]
        elif change == 8:
            m["rtt_max_s"] = float("inf")
        elif change == 9:
            r = Result(r.target, r.ts_ns, r.ok, r.latency_s, None, r.detail + " ", m)
        elif change == 10:
            r = Result(r.target, r.ts_ns, r.ok, r.latency_s, None, "x\x01 " + r.detail, m)
        elif change == 11:
            r = Result(r.target, r.ts_ns, r.ok, None if rng.random() < 0.5 else 0.5, None, r.detail, m)
        out.append(Result(r.target, r.ts_ns, r.ok, r.latency_s, None, r.detail, m) if change < 9 else r)
    return out


def test_a_row_stored_from_the_targets_shape_is_the_row_the_full_check_makes(tmp_path: Path) -> None:
    """The writer checks a target's templated rows against the shape of its last one (issue 19: a fifth of the cost);
    every row, fitting or not, must be what the full check (:func:`rtt_template` on the texts) stores."""
    written = _variants(random.Random(1919))
    with Journal.open(tmp_path / "fast.sqlite3") as fast, Journal.open(tmp_path / "full.sqlite3") as full:
        for journal in (fast, full):
            journal.register_targets([target(KEY, kind="icmp")], now_ns=T0)
        fitted = 0
        for seq, r in enumerate(written):
            with full.transaction():
                full._rtt_shapes.clear()  # no shape: the full check, every row
                expected = full._result_row(seq, r)
            with fast.transaction():
                had_shape = bool(fast._rtt_shapes)
                got = fast._result_row(seq, r)
            fitted += had_shape and isinstance(got[5], int) and got[5] < 0
            assert got == expected, (seq, r)
        assert fitted > 250  # the shape really served most rows
        fast.append(written)
        read = [r for _, r in fast.iter_results()]
    assert [(r.detail, store._json(dict(r.metrics))) for r in read] == [
        (w.detail, store._json(dict(w.metrics))) for w in written
    ]


def test_the_seal_hashes_the_rows_the_view_shows_odd_rows_included(tmp_path: Path) -> None:
    """The seal renders schema 3 rows itself (issue 19: the view's SQL cost ~20 µs a row); every row, including
    ones no writer makes (a missing template or text, negative or missing numbers, odd types), must hash as
    the ``results`` view shows it, or verify would fail on an honest journal."""
    path = tmp_path / "j.sqlite3"
    rng = random.Random(7)
    with Journal.open(path) as journal:
        journal.register_targets([target(KEY, kind="icmp")], now_ns=T0)
        journal.append([icmp_result(i, [rng.randrange(0, 5000) for _ in range(3)]) for i in range(200)])
        plain = Result(KEY, T0, False, None, FailureKind.TIMEOUT, "no reply from 127.0.9.10", {"sent": 3})
        journal.append([plain, plain, plain])  # the third time the texts are interned (ids > 0)
        last = journal.last_seq()
        odd = [
            (1, 99, None, None),  # template 99 does not exist
            (1, -1, -5, None),  # negative latency
            (1, -1, 10, -3),  # negative packed spread
            (1, -1, None, 7),  # no latency
            (1, -1, 10, 2.5),  # a float where the packed integer goes
            (1, 12345, 10, None),  # text id that does not exist
            (1, None, 10, 777),  # metrics text id that does not exist
            (1, "inline", 10, "{}"),
            (1, -1, 5, 65536 * 3 + 2),  # min 3 µs, max 8 µs
            (1, 0, 5, None),
        ]
        for n, (_, detail, latency, metrics) in enumerate(odd, 1):
            journal.conn.execute(
                "INSERT INTO result_rows (seq, target, ts_ns, latency_us, failure, detail, metrics) "
                "VALUES (?, 1, ?, ?, NULL, ?, ?)",
                (last + n, T0 + n, latency, detail, metrics),
            )
        journal.conn.commit()
        rendered = list(store._rows_after(journal.conn, 0, 64, renderer=store._Renderer(journal.conn)))
        viewed = list(store._rows_after(journal.conn, 0, 64))
        assert len(rendered) == last + len(odd)
        assert rendered == viewed
        journal.seal(now_ns=T0 + 10**13)
    verdict = verify_journal(path)
    assert verdict.ok, verdict.problems


@pytest.mark.parametrize("schema", [1, 2, 3])
def test_rows_hashed_as_written_are_the_rows_the_seal_would_read_back(
    tmp_path: Path, schema: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer hashes every row as it writes it, and the seal takes those hashes instead of reading the rows back
    (issue 19: half the writer thread's work at 5,000 results/s). Each must be the hash of the row the view shows:
    templated rows whose other metrics came in another order, interned texts, failures, events with odd data."""
    path = tmp_path / "j.sqlite3"
    monkeypatch.setattr(store, "SCHEMA_VERSION", schema)
    written = _variants(random.Random(19))
    reordered = icmp_result(0, [100, 150, 170])
    written.insert(
        5, Result(KEY, T0, True, reordered.latency_s, None, reordered.detail, dict(reversed(reordered.metrics.items())))
    )
    plain = Result(KEY, T0, False, None, FailureKind.TIMEOUT, "no reply from 127.0.9.10", {"sent": 3})
    events = [
        store.PendingEvent("note", T0 + n, {"text": text, "n": n}, KEY if n % 2 else None)
        for n, text in enumerate(("", '\u2028 \\ " кириллица', "\x00\x1f", "\ud800"[:0] + "😀"))
    ]
    with Journal.open(path) as journal:
        journal.register_targets([target(KEY, kind="icmp")], now_ns=T0)
        for start in range(0, len(written), 97):  # commits of different sizes, events between
            journal.append([*written[start : start + 97], plain, events[start % len(events)]])
        hashed = list(journal._hashed)
        renderer = store._Renderer(journal.conn) if schema >= 3 else None
        read_back = list(store._rows_after(journal.conn, 1, 10**6, renderer=renderer))  # seq 1: the target event
        assert len(hashed) == len(written) + 2 * 7 == len(read_back)
        assert hashed == read_back
        assert hashed == list(store._rows_after(journal.conn, 1, 10**6))  # what the view shows
        journal.seal(now_ns=T0 + 10**12)
        assert journal.hashed_on_write  # every spot check agreed
    verdict = verify_journal(path)
    assert verdict.ok, verdict.problems


def test_a_row_that_differs_from_its_hash_on_write_is_caught_and_the_seal_reads_back(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Should the hash made on write ever differ from the row read back (a rendering bug, or the row changed under the
    writer), the seal's spot check says so in the log and every row is read back from then on."""
    path = tmp_path / "j.sqlite3"
    with Journal.open(path) as journal:
        journal.register_targets([target(KEY, kind="icmp")], now_ns=T0)
        journal.seal(now_ns=T0, upto_seq=1)  # the target's event, written outside append
        journal.append([icmp_result(i, [100 + i, 150 + i, 170 + i]) for i in range(300)])
        journal.conn.execute("UPDATE result_rows SET latency_us = latency_us + 1 WHERE seq = 52")  # a spot-checked row
        journal.conn.commit()
        journal.seal(now_ns=T0 + 10**12)
        assert not journal.hashed_on_write
        journal.append([icmp_result(i, [100, 150, 170]) for i in range(300, 310)])
        assert not journal._hashed  # no longer hashed on write
        journal.seal(now_ns=T0 + 2 * 10**12)
    assert "seq 52 hashed when written differs from the row read back" in caplog.text
    verdict = verify_journal(path)  # what was sealed is what the journal holds
    assert verdict.ok, verdict.problems


def test_rows_written_by_another_path_between_appends_are_read_back(tmp_path: Path) -> None:
    """A target registered while the agent runs writes its event outside ``append``: the hashes kept from before it
    no longer run on without a gap, so the seal reads those rows back, and the chain still verifies."""
    path = tmp_path / "j.sqlite3"
    with Journal.open(path) as journal:
        journal.register_targets([target(KEY, kind="icmp")], now_ns=T0)
        journal.seal(now_ns=T0, upto_seq=1)  # the target's event, written outside append
        journal.append([icmp_result(i, [100, 150, 170 + i]) for i in range(1500)])
        assert journal.seal_hashed_block(2) is not None  # seq 2..1001: hashed as written
        journal.register_targets([target(KEY, kind="icmp"), target("isp/dns", kind="icmp")], now_ns=T0 + NS)
        journal.append([icmp_result(i, [100, 150, 170 + i]) for i in range(1500, 1600)])
        assert journal._hashed[0][0] == 1503  # only the rows after the target event (seq 1502)
        assert journal.seal_hashed_block(1002) is None  # 1002..2001: read back
        journal.seal(now_ns=T0 + 10**12)
        assert journal.hashed_on_write
        blocks = journal.conn.execute("SELECT first_seq, last_seq FROM blocks ORDER BY no").fetchall()
    assert blocks == [(1, 1), (2, 1001), (1002, 1602)]
    verdict = verify_journal(path)
    assert verdict.ok, verdict.problems


def test_a_templated_row_hashed_from_its_shape_escapes_its_texts_as_the_view_s_json(tmp_path: Path) -> None:
    """A target's templated rows are hashed from its shape's canonical text with only the times filled in (issue 19:
    no metrics text rendered, no JSON escaping a row). Texts that JSON escapes or that ``str.format`` would read as
    fields — quotes, backslashes, braces, percent signs, Cyrillic, a line separator — must hash as the view shows
    them, and a result whose times do not render back (-0.0, more digits than a µs) must not take the shortcut."""
    path = tmp_path / "j.sqlite3"
    address = 'шлюз "{0}" 100% \\ {x}\u2028'
    written = []
    for i in range(40):
        r = icmp_result(i, [100 + i, 150 + i, 170 + 2 * i], address=address)
        m = {**r.metrics, '{1}"\\ %d': 0.5}
        if i == 30:
            m["rtt_min_s"] = -0.0
        if i == 31:
            m["rtt_max_s"] = m["rtt_max_s"] + 1e-9
        written.append(Result(KEY, r.ts_ns, True, r.latency_s, None, r.detail, m))
    with Journal.open(path) as journal:
        journal.register_targets([target(KEY, kind="icmp")], now_ns=T0)
        journal.append(written)
        shape = next(iter(journal._rtt_shapes.values()))
        assert "{{0}}" in shape.canon and "{{1}}" in shape.canon  # the braces of the texts, escaped for format()
        hashed = list(journal._hashed)
        read_back = list(store._rows_after(journal.conn, 1, 10**6))  # what the view shows, hashed
        assert hashed == read_back
        stored = journal.conn.execute("SELECT seq, typeof(detail) FROM result_rows ORDER BY seq").fetchall()
        journal.seal(now_ns=T0 + 10**12)
    assert [kind for _, kind in stored].count("text") == 2  # rows 30 and 31 stored as written
    with Journal.open(path, create=False, readonly=True) as journal:
        assert [(r.detail, dict(r.metrics)) for _, r in journal.iter_results()] == [
            (w.detail, dict(w.metrics)) for w in written
        ]
    verdict = verify_journal(path)
    assert verdict.ok, verdict.problems
