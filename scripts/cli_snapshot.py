"""Run every read-only CLI command on a finished demo's journal and record what each one prints.

Used to show that a change of internals (issue 12, the layout by stage) left every command's output
byte-identical: run it before and after on a copy of the same demo folder and diff the two outputs.

    .venv/bin/watchdog demo -o /tmp/demo
    python scripts/cli_snapshot.py /tmp/demo /tmp/before [PERIOD]   # on the old tree (PERIOD: the demo's month)
    python scripts/cli_snapshot.py /tmp/demo /tmp/after    # on the new tree
    diff -r /tmp/before /tmp/after

Files that commands write (reports, packs, letters) are recorded as text, or for zips and PDFs as the
SHA-256 of each entry (a PDF's bytes carry only the ``--now`` time given here, so they compare too).
The demo folder is copied first, so the journal under test is never touched.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

NOW = "2030-01-01T00:00Z"  # after the demo, so every window is closed and the period covers the demo


def _commands(period: str) -> list[tuple[str, list[str]]]:
    """(name, argv after ``watchdog``) for every command that only reads the journal."""
    out = "{out}"
    return [
        ("config-check", ["config", "check"]),
        ("config-check-json", ["config", "check", "--json"]),
        ("outages", ["outages", "--since", "2000-01-01", "--until", "2030-01-01"]),
        ("outages-json", ["outages", "--since", "2000-01-01", "--until", "2030-01-01", "--json"]),
        ("outages-controls-json", ["outages", "--since", "2000-01-01", "--controls", "--json"]),
        ("verify-journal", ["verify", "--journal", "data/journal.sqlite3"]),
        ("verify-journal-json", ["verify", "--journal", "data/journal.sqlite3", "--json"]),
        ("contact-list", ["contact", "list"]),
        ("contact-list-json", ["contact", "list", "--json"]),
        ("notify-outbox-json", ["notify", "outbox", "--all", "--json"]),
        ("report-en", ["report", "--provider", "broker", "--period", period, "--now", NOW]),
        ("report-ru", ["report", "--provider", "broker", "--period", period, "--now", NOW, "--lang", "ru"]),
        ("report-json", ["report", "--provider", "broker", "--period", period, "--now", NOW, "--json"]),
        ("report-isp-json", ["report", "--provider", "isp", "--period", period, "--now", NOW, "--json"]),
        (
            "report-html",
            ["report", "--provider", "broker", "--period", period, "--now", NOW, "--format", "html", "-o", out],
        ),
        (
            "evidence",
            ["evidence", "--provider", "broker", "--period", period, "--now", NOW, "--no-seal", "-o", out + ".zip"],
        ),
        (
            "complaint-ru-md",
            ["complaint", "--provider", "broker", "--period", period, "--now", NOW, "--date", "2029-12-31",
             "--lang", "ru", "--no-seal", "-o", out + ".md"],
        ),
        (
            "complaint-en-md",
            ["complaint", "--provider", "broker", "--period", period, "--now", NOW, "--date", "2029-12-31",
             "--lang", "en", "--no-seal", "-o", out + ".md"],
        ),
    ]  # fmt: skip


def _describe(path: Path) -> str:
    """A file as text, or its entries' hashes for a zip, or its hash otherwise."""
    data = path.read_bytes()
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as zf:
            return "".join(f"{i.filename} {hashlib.sha256(zf.read(i)).hexdigest()}\n" for i in zf.infolist())
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return hashlib.sha256(data).hexdigest() + "\n"


def main(argv: list[str]) -> int:
    """Snapshot the commands' outputs of the demo folder argv[0] into the folder argv[1]."""
    demo, dest = Path(argv[0]).resolve(), Path(argv[1]).resolve()
    watchdog = Path(sys.executable).with_name("watchdog")
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "demo"
        shutil.copytree(demo, work, ignore=shutil.ignore_patterns("agent.lock", ".work"))
        config = work / "watchdog.yaml"  # the demo writes absolute paths: point them at the copy
        config.write_text(config.read_text(encoding="utf-8").replace(str(demo), str(work)), encoding="utf-8")
        made = dt.datetime.fromtimestamp(config.stat().st_mtime, dt.UTC)
        period = argv[2] if len(argv) > 2 else f"{made:%Y-%m}"
        for name, args in _commands(period):
            out = Path(tmp) / "out" / name
            out.parent.mkdir(exist_ok=True)
            argv_ = [a.replace("{out}", str(out)) for a in args]
            proc = subprocess.run(
                [str(watchdog), *argv_], cwd=work, capture_output=True, text=True, timeout=300, check=False
            )
            text = f"exit {proc.returncode}\n--- stdout\n{proc.stdout}--- stderr\n{proc.stderr}"
            for produced in sorted(out.parent.glob(name + "*")):
                text += f"--- file {produced.name}\n{_describe(produced)}"
            for now_ns in set(re.findall(r'"generated_ns": (\d+)', text)):  # the time of the run itself
                text = text.replace(now_ns, "<now>")
            (dest / f"{name}.txt").write_text(text.replace(tmp, "<tmp>"), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
