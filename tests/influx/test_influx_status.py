"""``watchdog status``: each exporter's cursor, backlog, lag and dead letters, read from the journal."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from aiohttp import web
from influx_helpers import FakeInflux, Harness, Request, config_text, wait_until

from watchdog.cli import main
from watchdog.model import NS


def refuse_bad_target(req: Request, n: int) -> web.Response:
    """Like 1.x on a field type conflict: refuse any batch holding a point of broker/bad."""
    if b"target=broker/bad" in req.body:
        return web.json_response({"error": "partial write: field type conflict dropped=1"}, status=400)
    return web.Response(status=204)


async def test_status_reports_cursor_backlog_lag_and_dead_letters(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = FakeInflux(refuse_bad_target)
    await fake.start()
    influx = f'url: "{fake.url}", database: wd, max_backoff: 400ms, flush_interval: 100ms'
    harness = await Harness.create(tmp_path, influx, rows=10)
    try:
        exporter = await harness.start()
        await wait_until(harness.exported)
        await exporter.aclose()
        harness.exporter = None
        exported_to = harness.seqs[-1]
        oldest = time.time_ns() - 100 * NS
        later = await harness.write_results(4, t0_ns=oldest)  # written while no exporter runs
    finally:
        await harness.close()
        await fake.stop()
    # targets round-robin: lan/router, broker/trading, broker/bad, bank/web, bank/bad → seqs 3 and 8 of 10
    bad = 2

    cfg = tmp_path / "watchdog.yaml"
    cfg.write_text(config_text(tmp_path, influx), encoding="utf-8")
    assert main(["status", "-c", str(cfg), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    (status,) = out["exporters"]
    lag = status.pop("lag_s")
    assert {k: status[k] for k in ("name", "configured", "cursor", "backlog_rows", "oldest_unexported_ns")} == {
        "name": f"influxdb:{fake.url}/wd",
        "configured": True,
        "cursor": exported_to,
        "backlog_rows": len(later),
        "oldest_unexported_ns": oldest,
    }
    assert status["dead_letters"] == bad
    assert 100 <= lag < 130
    assert out["agent"] == "test-agent" and out["journal"] == str(tmp_path / "journal.sqlite3")

    assert main(["status", "-c", str(cfg)]) == 0
    text = capsys.readouterr().out.splitlines()
    assert text[0].split() == ["exporter", "cursor", "backlog", "rows", "lag", "dead", "letters", "last", "export"]
    assert text[2].split()[:4] == [f"influxdb:{fake.url}/wd", str(exported_to), "4", "1m"]


def test_status_without_a_journal_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "watchdog.yaml"
    cfg.write_text(config_text(tmp_path / "nowhere", 'url: "http://127.0.0.1:9", database: wd'), encoding="utf-8")
    assert main(["status", "-c", str(cfg)]) == 1
    assert "no journal at" in capsys.readouterr().err
