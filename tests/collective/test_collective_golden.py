"""Golden: five households' journals with overlapping outages, a local fault and a gap → exact windows.

What each household saw of its ISP (seconds after 2026-09-21 23:00 UTC; every one ran 0–7200 s):

* hh-a: the ISP's DNS down 1000–4000, its own line fine              → provider 1000–4000
* hh-b: the ISP's DNS down 1200–3800                                 → provider 1200–3800
* hh-c: both internet anchors down 1500–3500, router up (ISP line)   → provider 1500–3500
* hh-d: not running 2000–3000; DNS down 1100–1900 and 3100–3600     → provider 1100–1900, 3100–3600
* hh-e: DNS down 1000–4000, but its router and both anchors down 1100–2500 (last probes 10 s apart):
  provider 1000–1090, inconclusive 1090–1100, own line 1100–2490, inconclusive 2490–2500, provider 2500–4000

The same answer must come from the journals directly and from evidence packs of them (two day packs per
household crossing midnight, so each later pack needs its prologue), and a tampered pack changes nothing.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import zipfile
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from collective_helpers import ORIGIN, households
from web_helpers import free_port

from watchdog.analysis.outages import analyse
from watchdog.analysis.sla import parse_period
from watchdog.analysis.timeline import provider_spans
from watchdog.cli import main
from watchdog.collective.core import AgentTimeline, Collective, collect, combine
from watchdog.collective.packs import load_folder
from watchdog.documents.pack.build import build_pack
from watchdog.documents.sharing import shared_identity
from watchdog.journal.store import Journal
from watchdog.model import NS, ProviderKind

UTC_DAYS = "2026-09-21..2026-09-22"
NOW = ORIGIN + 3 * 3600 * NS


def at(seconds: float) -> int:
    return ORIGIN + int(seconds * NS)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """The five journals, and a folder with two day packs of each (hh-e's shared for an advocate)."""
    base = tmp_path_factory.mktemp("collective")
    packs = base / "packs"
    packs.mkdir()
    configs = {}
    for hh in households():
        config, text = hh.write(base)
        configs[hh.agent] = config
        share = shared_identity(config) if hh.share else None
        with Journal.open(config.journal_path, readonly=True) as journal:
            for day in ("2026-09-21", "2026-09-22"):
                build_pack(
                    journal,
                    config,
                    "isp",
                    f"{day}..{day}",
                    packs / f"{hh.agent}-{day}.zip",
                    now_ns=NOW,
                    config_text=text,
                    share=share,
                )
    return {"base": base, "packs": packs, "configs": configs}


def window() -> tuple[int, int]:
    period = parse_period(UTC_DAYS, ZoneInfo("UTC"))
    return period.start_ns, min(period.end_ns, NOW)


def direct(configs: dict[str, object]) -> list[AgentTimeline]:
    """Each household's timeline straight from its journal."""
    out = []
    lo, hi = window()
    for agent, config in configs.items():
        with Journal.open(config.journal_path, readonly=True) as journal:  # type: ignore[attr-defined]
            analysis = analyse(
                journal, provider_kinds={"isp": ProviderKind.ISP}, quorum=1, since_ns=lo, until_ns=hi, now_ns=NOW
            )
            spans = provider_spans(analysis, journal, "isp", (lo, hi))
        out.append(AgentTimeline(agent, {}, "isp", "isp", spans))
    return out


StepRow = tuple[float, float, tuple[str, ...], int, tuple[str, ...], tuple[str, ...]]


def steps_in_seconds(c: Collective) -> list[StepRow]:
    return [
        ((s.start_ns - ORIGIN) / NS, (s.end_ns - ORIGIN) / NS, s.confirming, s.reporting, s.line_down, s.inconclusive)
        for s in c.windows[0].steps
    ]


ALL = ("hh-a", "hh-b", "hh-c", "hh-d", "hh-e")


def test_three_of_five(world: dict[str, object]) -> None:
    c = collect(direct(world["configs"]), window(), 3)  # type: ignore[arg-type]
    assert [((w.start_ns - ORIGIN) / NS, (w.end_ns - ORIGIN) / NS) for w in c.windows] == [(1200.0, 3800.0)]
    w = c.windows[0]
    assert (w.confirmed_by, w.reporting, w.line_down, w.inconclusive) == (ALL, ALL, ("hh-e",), ("hh-e",))
    assert ((w.peak.start_ns - ORIGIN) / NS, len(w.peak.confirming), w.peak.reporting) == (3100.0, 5, 5)
    assert steps_in_seconds(c) == [
        (1200, 1500, ("hh-a", "hh-b", "hh-d"), 5, ("hh-e",), ()),
        (1500, 1900, ("hh-a", "hh-b", "hh-c", "hh-d"), 5, ("hh-e",), ()),
        (1900, 2000, ("hh-a", "hh-b", "hh-c"), 5, ("hh-e",), ()),
        (2000, 2490, ("hh-a", "hh-b", "hh-c"), 4, ("hh-e",), ()),  # hh-d off: 4 agents with data
        (2490, 2500, ("hh-a", "hh-b", "hh-c"), 4, (), ("hh-e",)),
        (2500, 3000, ("hh-a", "hh-b", "hh-c", "hh-e"), 4, (), ()),
        (3000, 3100, ("hh-a", "hh-b", "hh-c", "hh-e"), 5, (), ()),
        (3100, 3500, ALL, 5, (), ()),
        (3500, 3600, ("hh-a", "hh-b", "hh-d", "hh-e"), 5, (), ()),
        (3600, 3800, ("hh-a", "hh-b", "hh-e"), 5, (), ()),
    ]
    length_s = (window()[1] - window()[0]) / NS
    assert length_s == 26 * 3600
    figures = {a.agent: (a.covered_s, a.provider_s, a.customer_line_s, a.inconclusive_s, a.windows) for a in c.agents}
    assert figures == {
        "hh-a": (7200, 3000, 0, 0, 1),
        "hh-b": (7200, 2600, 0, 0, 1),
        "hh-c": (7200, 2000, 0, 0, 1),
        "hh-d": (6200, 1300, 0, 0, 1),
        "hh-e": (7200, 1590, 1390, 20, 1),
    }
    assert c.agents[3].coverage == 6200 / length_s


def test_four_of_five(world: dict[str, object]) -> None:
    c = collect(direct(world["configs"]), window(), 4)  # type: ignore[arg-type]
    got = [
        ((w.start_ns - ORIGIN) / NS, (w.end_ns - ORIGIN) / NS, len(w.peak.confirming), w.peak.reporting, w.line_down)
        for w in c.windows
    ]
    assert got == [(1500, 1900, 4, 5, ("hh-e",)), (2500, 3600, 5, 5, ())]
    assert c.windows[1].confirmed_by == ALL and c.windows[0].confirmed_by == ("hh-a", "hh-b", "hh-c", "hh-d")
    assert [a.windows for a in c.agents] == [2, 2, 2, 2, 1]
    # K larger than the households: nothing is confirmed
    assert collect(direct(world["configs"]), window(), 6).windows == ()


def test_packs_give_the_journals_answer(world: dict[str, object], tmp_path: Path) -> None:
    outcomes = load_folder(world["packs"], ["isp", "rostelecom"], window())  # type: ignore[arg-type]
    assert [(Path(o.path).name, o.status) for o in outcomes] == [
        (f"{hh}-{day}.zip", "used") for hh in ALL for day in ("2026-09-21", "2026-09-22")
    ]
    from_packs = collect(combine(o.timeline for o in outcomes if o.timeline), window(), 3)
    from_journals = collect(direct(world["configs"]), window(), 3)  # type: ignore[arg-type]
    assert from_packs.windows == from_journals.windows
    assert [a.spans for a in from_packs.timelines] == [a.spans for a in from_journals.timelines]
    shared = next(t for t in from_packs.timelines if t.agent == "hh-e")
    assert (shared.provider, shared.sources) == ("rostelecom", ("hh-e-2026-09-21.zip", "hh-e-2026-09-22.zip"))
    # the day-2 pack of hh-a starts mid-run and mid-outage: its events start at the outage's opening (the
    # report reads the whole outage) and its prologue carries the run going on there
    with zipfile.ZipFile(world["packs"] / "hh-a-2026-09-22.zip") as zf:  # type: ignore[operator]
        prologue = json.loads(zf.read("manifest.json"))["chain"]["prologue"]
        events = list(csv.DictReader(io.StringIO(zf.read("events.csv").decode("utf-8-sig"))))
    assert [row[2] for row in prologue] == ["target", "target", "target", "target", "agent_start"]
    assert [(e["type"], e["target"]) for e in events[:1]] == [("outage_open", "isp/dns")]
    # only the name asked for: hh-e's packs go under "rostelecom" and are skipped without the alias (checked on
    # three of the packs: every pack is verified before it is used or skipped, and that is what costs time)
    some = tmp_path / "some"
    some.mkdir()
    for name in ("hh-a-2026-09-21.zip", "hh-e-2026-09-21.zip", "hh-e-2026-09-22.zip"):
        shutil.copy(world["packs"] / name, some / name)  # type: ignore[operator]
    only_isp = load_folder(some, ["ISP"], window(), jobs=2)
    assert [(Path(o.path).name, o.status, o.reasons) for o in only_isp] == [
        ("hh-a-2026-09-21.zip", "used", ()),
        ("hh-e-2026-09-21.zip", "skipped", ("provider 'rostelecom' is not one asked for",)),
        ("hh-e-2026-09-22.zip", "skipped", ("provider 'rostelecom' is not one asked for",)),
    ]
    spb = load_folder(some, ["isp", "rostelecom"], window(), where={"region": "spb"})
    assert [(Path(o.path).name, o.status) for o in spb] == [  # tags travel only in shared packs
        ("hh-a-2026-09-21.zip", "skipped"),
        ("hh-e-2026-09-21.zip", "skipped"),
        ("hh-e-2026-09-22.zip", "skipped"),
    ]


def rezip(src: Path, dest: Path, changes: dict[str, bytes]) -> None:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            zout.writestr(info, changes.get(info.filename, zin.read(info.filename)))


def test_tampered_and_forged_packs_are_rejected(world: dict[str, object], tmp_path: Path) -> None:
    folder = tmp_path / "packs"
    shutil.copytree(world["packs"], folder)  # type: ignore[arg-type]
    original = folder / "hh-b-2026-09-21.zip"
    with zipfile.ZipFile(original) as zf:
        events = zf.read("events.csv")
        manifest = json.loads(zf.read("manifest.json"))
    # hh-b "moves" its outage's start an hour earlier in events.csv
    start = str(at(1200)).encode()
    rezip(original, folder / "zz-tampered.zip", {"events.csv": events.replace(start, str(at(-2400)).encode(), 1)})
    # a forged prologue: the run claimed to be going on is edited (the rest of the pack is intact)
    day2 = folder / "hh-c-2026-09-22.zip"
    with zipfile.ZipFile(day2) as zf:
        m2 = json.loads(zf.read("manifest.json"))
    start_row = next(r for r in m2["chain"]["prologue"] if r[2] == "agent_start")
    start_row[1] -= 3600 * NS
    rezip(day2, folder / "zz-forged-prologue.zip", {"manifest.json": json.dumps(m2).encode()})
    # a prologue row given twice (each copy matches its seal): the replay refuses it
    with zipfile.ZipFile(day2) as zf:
        m3 = json.loads(zf.read("manifest.json"))
    m3["chain"]["prologue"].append(m3["chain"]["prologue"][-1])
    rezip(day2, folder / "zz-doubled-prologue.zip", {"manifest.json": json.dumps(m3).encode()})
    assert manifest["chain"]["prologue"] == []  # a first-day pack starts at the journal's first block

    out = tmp_path / "report.json"
    args = ["collective", "--provider", "isp", "--alias", "rostelecom", "--period", UTC_DAYS, "--packs", str(folder)]
    assert main([*args, "-k", "3", "--now", "2026-09-22T02:00Z", "--json", "-o", str(out), "--tz", "UTC"]) == 0
    doc = json.loads(out.read_text(encoding="utf-8"))
    rejected = {r["path"]: r["reasons"] for r in doc["rejected"]}
    assert sorted(rejected) == ["zz-doubled-prologue.zip", "zz-forged-prologue.zip", "zz-tampered.zip"]
    doubled = m3["chain"]["prologue"][-1]
    assert rejected["zz-doubled-prologue.zip"] == [
        f"manifest.json: prologue row seq {doubled[0]} ({doubled[2]}) is given twice or out of seq order"
    ]
    assert any("events.csv: its SHA-256 differs" in r for r in rejected["zz-tampered.zip"])
    assert any("does not match its seal: the row was edited" in r for r in rejected["zz-tampered.zip"])
    assert rejected["zz-forged-prologue.zip"] == [
        f"manifest.json: prologue row seq {start_row[0]} (agent_start) does not match its seal: it was edited"
    ]
    assert doc["source"] == {
        "kind": "packs",
        "folder": str(folder),
        "packs": 13,
        "used": 10,
        "rejected": 3,
        "skipped": 0,
    }
    [w] = doc["windows"]
    assert (w["start"]["ns"], w["end"]["ns"], w["text"]) == (
        at(1200),
        at(3800),
        "confirmed by 5 of 5 agents reporting at that time",
    )
    assert w["start"]["local"] == "2026-09-21T23:20:00.000+00:00" and w["line_down"] == ["hh-e"]
    assert doc["names"] == ["isp", "rostelecom"]


def test_text_csv_html_and_chart(world: dict[str, object], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["collective", "--provider", "isp", "--alias", "rostelecom", "--period", UTC_DAYS, "-k", "3"]
    args += ["--packs", str(world["packs"]), "--now", "2026-09-22T02:00Z", "--tz", "UTC"]
    assert main([*args, "--chart", str(tmp_path / "chart.png")]) == 0
    text = capsys.readouterr().out
    assert (
        "1. 2026-09-21 23:20:00 (UTC+00:00) – 2026-09-22 00:03:20 (UTC+00:00) (43m 20s): confirmed by 5 of 5 agents "
        "reporting at that time (2026-09-21 23:51:40 (UTC+00:00))\n"
        "   UTC 2026-09-21T23:20:00.000Z – 2026-09-22T00:03:20.000Z\n"
        "   confirmed during the window by 5 of 5 agents with data: hh-a, hh-b, hh-c, hh-d, hh-e\n"
        "   own line down (excluded): hh-e; inconclusive: hh-e\n"
    ) in text
    assert "10 evidence packs in" in text and ": 10 used, 0 rejected, 0 skipped" in text
    png = (tmp_path / "chart.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"

    assert main([*args, "--csv", "-o", str(tmp_path / "report.csv")]) == 0
    windows = (tmp_path / "report.csv").read_text(encoding="utf-8-sig").splitlines()
    assert windows[1] == (
        "1,2026-09-21T23:20:00.000Z,2026-09-21T23:20:00.000+00:00,2026-09-22T00:03:20.000Z,"
        "2026-09-22T00:03:20.000+00:00,2600.000,5,5,2026-09-21T23:51:40.000Z,hh-a hh-b hh-c hh-d hh-e,"
        "hh-a hh-b hh-c hh-d hh-e,hh-e,hh-e"
    )
    agents = (tmp_path / "report-agents.csv").read_text(encoding="utf-8-sig").splitlines()
    assert agents[5] == (
        "hh-e,region=msk,rostelecom,isp,0.076923,7200.000,4200.000,1590.000,1390.000,20.000,1,"
        "hh-e-2026-09-21.zip hh-e-2026-09-22.zip"
    )

    assert main([*args, "--format", "html", "-o", str(tmp_path / "report.html")]) == 0
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "<b>confirmed by 5 of 5 agents reporting at that time</b>" in html
    assert 'src="data:image/png;base64,iVBORw0KGgo' in html and "<script" not in html

    # bad usage: exit 2 with the reason
    assert main([*args[:-2], "--tz", "Mars/Olympus"]) == 2
    assert main(["collective", "--provider", "is p", "--period", UTC_DAYS, "--packs", str(tmp_path)]) == 2
    assert main(["collective", "--provider", "isp", "--period", "2099-01", "--packs", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "unknown time zone 'Mars/Olympus'" in err and "'is p' is not a provider name" in err
    assert "the period 2099-01 has not started yet" in err

    # --influx: without an influxdb section it is a usage error; an InfluxDB that does not answer is exit 1
    port = free_port()
    advocate = tmp_path / "advocate.yaml"
    advocate.write_text("agent: {timezone: UTC}\n", encoding="utf-8")
    influx = ["collective", "-c", str(advocate), "--provider", "isp", "--period", UTC_DAYS, "--influx"]
    assert main(influx) == 2
    assert "--influx needs an influxdb section in the config" in capsys.readouterr().err
    advocate.write_text(f'influxdb: {{url: "http://127.0.0.1:{port}", database: x, timeout: 2s}}\n', encoding="utf-8")
    assert main(influx) == 1
    assert f"error: ping http://127.0.0.1:{port}: ClientConnectorError" in capsys.readouterr().err


def test_russian_text_html_and_chart(
    world: dict[str, object], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--lang ru``: the same figures in Russian words, numbers and dates; the JSON does not change with it."""
    args = ["collective", "--provider", "isp", "--alias", "rostelecom", "--period", UTC_DAYS, "-k", "3"]
    args += ["--packs", str(world["packs"]), "--now", "2026-09-22T02:00Z", "--tz", "UTC"]
    assert main([*args, "--lang", "ru", "--chart", str(tmp_path / "chart-ru.png")]) == 0
    text = capsys.readouterr().out.replace("\xa0", " ")  # the Formatter joins number and unit with a no-break space
    assert (
        "Окна, когда вину провайдера одновременно видели не меньше 3 агентов: 1\n"
        "1. 21.09.2026 23:20:00 (UTC+00:00) – 22.09.2026 00:03:20 (UTC+00:00) (43 мин 20 с): подтвердили 5 из 5"
        " агентов, по которым в тот момент были данные (21.09.2026 23:51:40 (UTC+00:00))\n"
        "   UTC 2026-09-21T23:20:00.000Z – 2026-09-22T00:03:20.000Z\n"
        "   за всё окно подтвердили 5 из 5 агентов с данными: hh-a, hh-b, hh-c, hh-d, hh-e\n"
        "   не работала своя линия (не учитываются): hh-e; причина не установлена: hh-e\n"
    ) in text
    assert "Источник: 10 доказательных пакетов в " in text and ": использовано 10, отклонено 0, пропущено 0" in text
    assert "hh-e   region=msk  7,7 %     26 мин 30 с         23 мин 10 с             20 с" in text
    assert (tmp_path / "chart-ru.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    assert main([*args, "--lang", "ru", "--format", "html", "-o", str(tmp_path / "report.html")]) == 0
    html = (tmp_path / "report.html").read_text(encoding="utf-8").replace("\xa0", " ")
    assert '<html lang="ru">' in html and "<h1>Коллективный отчёт: isp</h1>" in html
    assert "<b>подтвердили 5 из 5 агентов, по которым в тот момент были данные</b>" in html
    assert "<td>43 мин 20 с</td>" in html and '<td class="num">7,7 %</td>' in html

    # the language is the config's agent.language unless --lang says otherwise; JSON is the same in both (on two
    # households' packs: the words do not depend on how many there are, and each pack costs a verification)
    two = tmp_path / "two"
    two.mkdir()
    for name in ("hh-a-2026-09-21.zip", "hh-e-2026-09-21.zip"):
        shutil.copy(world["packs"] / name, two / name)  # type: ignore[operator]
    args = [*args[:-6], "--packs", str(two), *args[-4:]]
    config = tmp_path / "ru.yaml"
    config.write_text("agent: {timezone: UTC, language: ru}\n", encoding="utf-8")
    capsys.readouterr()
    assert main([*args, "-c", str(config)]) == 0
    assert "Окна, когда вину провайдера" in capsys.readouterr().out
    assert main([*args, "-c", str(config), "--lang", "en"]) == 0
    assert "Windows where at least 3 agents saw the provider's fault at once: 0" in capsys.readouterr().out
    docs = []
    for lang in ("ru", "en"):
        assert main([*args, "-c", str(config), "--lang", lang, "--json", "-o", str(tmp_path / f"{lang}.json")]) == 0
        docs.append(json.loads((tmp_path / f"{lang}.json").read_text(encoding="utf-8")))
    for doc in docs:
        doc.pop("generated")
    assert docs[0] == docs[1]
