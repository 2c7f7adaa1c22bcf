"""``watchdog demo`` end to end, as CI runs it: real services on loopback, the real agent, real documents.

It runs at the demo's own pace (1 s per check, the shortest interval a config allows): about 40 s. Figures
depend on wall-clock timing, so they are checked with a margin of a few intervals; the structure (who is
blamed for what, what the letters list) is checked exactly.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from watchdog.cli import main
from watchdog.config import load
from watchdog.documents.pack.summary import chart_window
from watchdog.documents.report import build_report, report_json
from watchdog.journal.store import Journal

INTERVAL_S = 1.0


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """One demo run for the whole module (it takes about 40 s): its directory and what it printed."""
    out = tmp_path_factory.mktemp("demo") / "demo-out"
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = main(["demo", "-o", str(out)])
    assert code == 0, buffer.getvalue()
    return out, buffer.getvalue()


def test_the_demo_writes_everything_and_it_verifies(demo: tuple[Path, str]) -> None:
    out, printed = demo
    for name in (
        "watchdog.yaml",
        "demo-ca.pem",
        "data/journal.sqlite3",
        "report-broker.txt",
        "report-broker.html",
        "evidence-broker.zip",
        *(f"complaint-broker-{lang}.{ext}" for lang in ("ru", "en") for ext in ("md", "html", "pdf")),
    ):
        assert (out / name).is_file(), name
    assert (out / "watchdog.yaml").stat().st_mode & 0o077 == 0  # it holds a notify URL: for the user's eyes only
    assert "the evidence pack: verify OK (10 files" in printed
    assert "the journal: verify OK" in printed
    # the verifiers anyone would run, through the command line
    assert main(["verify", str(out / "evidence-broker.zip")]) == 0
    assert main(["verify", "--journal", str(out / "data" / "journal.sqlite3")]) == 0


def test_the_broker_outage_is_the_providers_and_the_local_one_is_the_customers(demo: tuple[Path, str]) -> None:
    out, _ = demo
    config = load(out / "watchdog.yaml", env={})
    with Journal.open(config.journal_path, create=False, readonly=True) as journal:
        pack_period = json.loads(zipfile.ZipFile(out / "evidence-broker.zip").read("manifest.json"))["period"]
        report = build_report(journal, config, "broker", pack_period["label"])
        data = report_json(report)
    # a minute of data in a month: the pack's chart shows that minute (padded), not a hairline on the month
    lo, hi = chart_window(report)
    assert (pack_period["start_ns"], pack_period["end_ns"]) != (lo, hi) and hi - lo < 120 * 10**9
    incidents = data["incidents"]
    assert [i["attribution"] for i in incidents] == ["provider", "customer_line"]
    scene1, scene2 = incidents
    assert scene1["targets"] == ["broker/trading", "broker/web"]  # the certificate stayed fine: TLS still answered
    assert 8 * INTERVAL_S <= scene1["downtime_s"] <= 12 * INTERVAL_S  # 10 intervals down, give or take the bounds
    assert scene2["targets"] == ["broker/cert", "broker/trading", "broker/web"]
    assert scene2["downtime_s"] == 0  # the customer's own line: never counted against the broker
    figures = data["figures"]
    assert figures["downtime_s"] == scene1["downtime_s"]
    assert figures["counted_incidents"] == 1 and figures["breached"] is True
    assert 6 * INTERVAL_S <= figures["customer_line_s"] <= 11 * INTERVAL_S  # 8 intervals, the controls lead by 2
    assert figures["inconclusive_s"] <= 2 * INTERVAL_S
    (contact,) = data["contacts"]
    assert (contact["channel"], contact["ref"]) == ("phone", "INC-20417")
    assert data["clock"]["samples"] >= 3 and data["clock"]["servers"][0].startswith("127.0.0.1:")


def test_the_letters_list_the_pack_the_call_and_the_clock(demo: tuple[Path, str]) -> None:
    out, _ = demo
    pack = out / "evidence-broker.zip"
    with zipfile.ZipFile(pack) as zf:
        raw = zf.read("manifest.json")
    manifest = json.loads(raw)
    ru = (out / "complaint-broker-ru.md").read_text(encoding="utf-8")
    en = (out / "complaint-broker-en.md").read_text(encoding="utf-8")
    for text in (ru, en):
        assert hashlib.sha256(raw).hexdigest() in text
        assert hashlib.sha256(pack.read_bytes()).hexdigest() in text
        assert all(meta["sha256"] in text for meta in manifest["files"].values())
        assert "INC-20417" in text
    assert (
        "ОБРАЩЕНИЕ (ПРЕТЕНЗИЯ)" in ru
        and "Часы узла наблюдения сверялись с сервером точного времени (NTP) 127.0.0.1:" in ru
    )
    assert "Complaint: the broker's outages" in en
    if shutil.which("pdftotext"):  # poppler-utils (scripts/debian-packages.txt): the PDF's Cyrillic is real text
        text = subprocess.run(
            ["pdftotext", str(out / "complaint-broker-ru.pdf"), "-"], capture_output=True, text=True, check=True
        ).stdout
        flat = " ".join(text.split())
        assert "ОБРАЩЕНИЕ (ПРЕТЕНЗИЯ)" in flat and "Иванов Иван Иванович" in flat and "INC-20417" in flat


def test_the_demo_leaves_other_directories_alone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "notes.txt").write_text("mine", encoding="utf-8")
    assert main(["demo", "-o", str(tmp_path)]) == 1
    assert "is not empty and was not made by `watchdog demo`" in capsys.readouterr().err
    assert (tmp_path / "notes.txt").read_text(encoding="utf-8") == "mine"
    assert main(["demo", "--interval", "500ms"]) == 2  # configs allow 1 s at the shortest


def test_the_phone_gets_the_story_right(demo: tuple[Path, str]) -> None:
    """Real Apprise json:// delivery to the demo's own receiver: scene 1 blames the broker, scene 2 the home line."""
    out, printed = demo
    text = (out / "notifications.txt").read_text(encoding="utf-8")
    blocks = [b for b in text.split("\n\n") if b.strip()]
    titles = [b.splitlines()[0].split("] ", 1)[1] for b in blocks]
    assert titles[:2] == ["Демо-Брокер: `trading` unreachable", "Демо-Брокер: `web` failing"]
    assert "Your line is fine: 4/4 controls up." in blocks[0]
    assert "Your home network is down" in titles
    assert "Your line is back" in titles
    assert "counts against Демо-Телеком" not in text  # everything went down at once: not the ISP's doing
    assert f"the {len(blocks)} messages your phone got" in printed
