"""``watchdog report`` over a scripted history: exact figures, the three formats, the stated method."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from history import PERIOD, config_text, env, msk, write_history

from watchdog.cli import main
from watchdog.config import Config, loads
from watchdog.documents.report import build_report, render, report_json
from watchdog.journal.store import Journal


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Config]:
    base = tmp_path_factory.mktemp("report")
    text = config_text(base / "data")
    (base / "watchdog.yaml").write_text(text, encoding="utf-8")
    config = loads(text, env=env())
    write_history(config)
    return base, config


def test_figures_and_sections(made: tuple[Path, Config]) -> None:
    _, config = made
    with Journal.open(config.journal_path, readonly=True) as journal:
        data = report_json(build_report(journal, config, "broker", PERIOD, msk(10, 0)))
    f = data["figures"]
    # Mon 2 – Wed 4 Nov, 07:00–23:50: 3 × 60 600 s; the agent was off 3 Nov 12:00–14:00 (7200 s, in service
    # hours); maintenance 3 Nov 02:00–03:00 lies outside service hours (0 s)
    assert (f["service_s"], f["maintenance_s"], f["no_data_s"], f["counted_s"]) == (181_800, 0, 7200, 174_600)
    # trading down 2 Nov 10:00:05–10:30:05 (the web target's 10:05:06–10:20:06 lies inside): 1800 s provider;
    # trading down again 4 Nov 20:00:05–20:20:05 while every internet anchor was down: 1200 s customer_line
    assert (f["downtime_s"], f["customer_line_s"], f["inconclusive_s"]) == (1800, 1200, 0)
    assert f["availability"] == pytest.approx(100 * (1 - 1800 / 174_600), abs=1e-9)
    assert (f["breached"], f["incidents"], f["counted_incidents"], f["longest_s"], f["mttr_s"]) == (
        True,
        2,
        1,
        1800,
        1800,
    )
    assert f["coverage"] == pytest.approx((3 * 86400 - 7200) / (3 * 86400), abs=1e-12)
    assert [(i["attribution"], i["targets"]) for i in data["incidents"]] == [
        ("provider", ["broker/trading", "broker/web"]),
        ("customer_line", ["broker/trading"]),
    ]
    assert data["incidents"][0]["start"] == {
        "ns": msk(2, 10) + 5 * 10**9,
        "utc": "2026-11-02T07:00:05.000Z",
        "local": "2026-11-02T10:00:05.000+03:00",
    }
    assert [o["target"] for o in data["control_outages"]] == ["internet/a", "internet/b", "internet/c"]
    assert [(n["reason"], n["duration_s"]) for n in data["no_data"]] == [("not running", 7200.0)]
    assert [(c["channel"], c["ref"]) for c in data["contacts"]] == [("phone", "INC-1"), ("email", "T-77")]
    c = data["clock"]
    # hourly samples while running: 36 on 2–3 Nov before the gap, 34 after it
    assert (c["samples"], c["failures"], c["unsynced_s"], c["vouch_s"]) == (70, 0, 0.0, 7200.0)
    assert (c["worst_offset"]["offset_s"], c["worst_offset"]["at"]["local"]) == (-0.25, "2026-11-03T09:00:30.000+03:00")
    assert c["steps"] == [
        {
            "at": {"ns": msk(4, 3), "utc": "2026-11-04T00:00:00.000Z", "local": "2026-11-04T03:00:00.000+03:00"},
            "step_s": 1.5,
        }
    ]
    assert data["maintenance"][0]["note"] == "объявлено на сайте"
    assert data["method"]["quorum"] == 2 and [t["key"] for t in data["method"]["targets"]] == [
        "broker/trading",
        "broker/web",
    ]
    assert data["period"]["complete"] is True and data["as_of"]["ns"] == msk(5, 0)
    assert data["journal"]["head"]["block"] == 31


def test_cli_formats(made: tuple[Path, Config], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base, _ = made
    args = ["report", "-c", str(base / "watchdog.yaml"), "--provider", "broker", "--period", PERIOD]
    import os

    os.environ.update(env())
    try:
        assert main([*args, "--json"]) == 0
        data = json.loads(capsys.readouterr().out)
        assert data["format"] == "outage-watchdog-report/1" and data["provider"]["name"] == "ИТ Инвест"
        assert main(args) == 0
        text = capsys.readouterr().out
        assert "Availability    98.9691 % of counted time; SLA 99.5 %: BREACHED" in text
        assert "Counted time    service 2d 02h 30m − maintenance 0s − no data 2h 00m = 2d 00h 30m" in text
        assert "2026-11-02 10:00:05 MSK (UTC+03:00)" in text and "Time-based, not count-based" in text
        assert main([*args, "--format", "html", "-o", str(tmp_path / "r.html")]) == 0
        html = (tmp_path / "r.html").read_text(encoding="utf-8")
        assert html.startswith("<!DOCTYPE html>") and "<h1>SLA report: ИТ Инвест</h1>" in html
        assert "Звонок в поддержку: «проблемы на стороне биржи»" in html
        assert "2026-11-02 07:00:05 UTC" in html
        capsys.readouterr()
        assert main([*args[:-2], "--period", "2099-01"]) == 2
        assert "has not started yet" in capsys.readouterr().out
        assert main([*args[:-4], "--provider", "nope"]) == 2
        assert "no provider 'nope'" in capsys.readouterr().err
    finally:
        for key in env():
            os.environ.pop(key, None)


def test_running_period_is_as_of_now(made: tuple[Path, Config]) -> None:
    _, config = made
    with Journal.open(config.journal_path, readonly=True) as journal:
        r = build_report(journal, config, "broker", PERIOD, msk(3, 0))
    data = report_json(r)
    assert data["period"]["complete"] is False and data["as_of"]["ns"] == msk(3, 0)
    assert data["figures"]["service_s"] == 60_600  # only Monday so far
    assert "The period is still running: figures as of 2026-11-03 00:00:00 MSK" in render(r, "report.txt.j2")


def test_header_names_the_kind_only_when_it_is_not_the_id(made: tuple[Path, Config]) -> None:
    _, config = made
    with Journal.open(config.journal_path, readonly=True) as journal:
        r = build_report(journal, config, "broker", PERIOD, msk(10, 0))
    assert render(r, "report.txt.j2").splitlines()[0].startswith("SLA report: ИТ Инвест (broker), contract")
    assert "<p>broker, contract" in render(r, "report.html.j2")


def test_chart_colours_are_one_per_meaning() -> None:
    from watchdog.documents.chart import COLOURS

    assert len(set(COLOURS.values())) == len(COLOURS)
    assert (COLOURS["down"], COLOURS["provider"], COLOURS["uncertain"], COLOURS["customer_line"]) == (
        "#D55E00",
        "#CC79A7",
        "#F0E442",
        "#E69F00",
    )


def test_standalone_html_report_has_a_page_margin(made: tuple[Path, Config]) -> None:
    _, config = made
    with Journal.open(config.journal_path, readonly=True) as journal:
        r = build_report(journal, config, "broker", PERIOD, msk(10, 0))
    for lang in ("en", "ru"):
        html = render(r, "report.html.j2", lang=lang)  # type: ignore[arg-type]
        assert "margin: 2em auto; padding: 0 1.5em; max-width: 72em;" in html and "@page { margin: 15mm; }" in html


@pytest.mark.parametrize(
    ("lang", "whose", "incident"), [("en", "Whose fault:", "An incident is"), ("ru", "Чья вина:", "Инцидент —")]
)
def test_the_method_keeps_its_paragraphs_without_quality_limits(
    made: tuple[Path, Config], lang: str, whose: str, incident: str
) -> None:
    """No quality limits and no speed tests: "whose fault" and "an incident" stay two paragraphs (the optional
    degraded and speed paragraphs between them once took the blank line with them)."""
    _, config = made
    with Journal.open(config.journal_path, readonly=True) as journal:
        data = report_json(build_report(journal, config, "broker", PERIOD, msk(10, 0)))
    assert not data["method"].get("quality") and not data["method"].get("speed_tests")
    paragraphs = render(data, "method.txt.j2", lang=lang).split("\n\n")
    starts = [p.lstrip()[: len(whose)] for p in paragraphs]
    assert whose in starts and [p.lstrip().startswith(incident) for p in paragraphs].count(True) == 1
    at = starts.index(whose)
    assert paragraphs[at + 1].lstrip().startswith(incident)
