"""A provider with many targets down at once still gets its evidence pack (issue 13 item 10).

The summary PDF's incident table listed every target of an incident in one cell; with a few hundred
targets the row was taller than a page and fpdf2 raised "The row ... is too high", so no pack (and no
complaint) could be made. The cell now names the first 12 and says how many more; outages.csv has each.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import zipfile
from pathlib import Path

from helpers import T0, ScriptedJournal

from watchdog.config import loads
from watchdog.documents.pack.build import build_pack
from watchdog.documents.pack.verify import verify_pack
from watchdog.journal.store import Journal
from watchdog.model import NS

TARGETS = 300


def test_an_incident_of_300_targets_makes_a_pack(tmp_path: Path) -> None:
    lines = "\n".join(f'      - {{name: t{i:03d}, kind: tcp, address: "127.0.0.1:9"}}' for i in range(TARGETS))
    text = f"""
agent: {{id: wide, timezone: UTC, data_dir: "{tmp_path / "data"}"}}
controls:
  internet: [{{name: anchor, kind: tcp, address: "127.0.0.1:9"}}]
providers:
  - id: big
    targets:
{lines}
ntp: {{enabled: false}}
"""
    config = loads(text, env={})
    script = ScriptedJournal(config.journal_path, list(config.targets))
    script.run(0, 7200)
    for i in range(TARGETS):
        script.outage(f"big/t{i:03d}", 990, 1000, 1590, 1600)
    script.close()
    day = dt.datetime.fromtimestamp(T0 // NS, dt.UTC)
    period = f"{day:%Y-%m-%d}..{day:%Y-%m-%d}"
    pack = tmp_path / "pack.zip"
    with Journal.open(config.journal_path) as journal:
        build_pack(journal, config, "big", period, pack, now_ns=T0 + 7200 * NS, config_text=text)
    assert verify_pack(pack).ok
    with zipfile.ZipFile(pack) as zf:
        (tmp_path / "summary.pdf").write_bytes(zf.read("summary.pdf"))
        outages = zf.read("outages.csv").decode("utf-8-sig")
    pdf_text = subprocess.run(
        ["pdftotext", "-layout", str(tmp_path / "summary.pdf"), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "and 288 more (each is in" in " ".join(pdf_text.split())
    assert all(f"big/t{i:03d}" in outages for i in range(TARGETS))
