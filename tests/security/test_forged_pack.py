"""Issue 13 item 4: a pack whose files were edited and whose manifest hashes were rewritten to match fails.

Each test builds a real day pack from a real journal, edits one file, rewrites that file's SHA-256 and size
in manifest.json (so the hash layer passes) and runs the real ``watchdog verify``: the derived files are
rebuilt from the chained rows and config.yaml, so the edit is named.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from collective_helpers import ORIGIN, households

from watchdog.config import loads
from watchdog.documents.pack.build import build_pack
from watchdog.documents.pack.manifest import json_bytes
from watchdog.journal.store import Journal
from watchdog.model import NS

ROOT = Path(__file__).resolve().parents[2]
DAY = "2026-09-21"
REBUILT = "differs from the one rebuilt from the chained rows and config.yaml"
IDENTICAL = (
    "  rebuilt from the chained rows and config.yaml, identical: "
    "outages.csv, timeline.png, environment.json, summary.html, summary.pdf"
)
UNBOUND = "its SLA, fees and contract, from which the summaries were rebuilt, are not bound to the chain"
NOT_THE_AGENTS = (
    "  config.yaml: not the config of the last agent start the pack carries (seq 6): the config was changed "
    f"after it, or config.yaml was edited; {UNBOUND}"
)
# the summaries list every other file's hash: a rewritten hash shows there too
SUMMARIES = [
    f"  summary.html: {REBUILT}: summary.html (or config.yaml) was edited",
    f"  summary.pdf: {REBUILT}: summary.pdf (or config.yaml) was edited",
]


@pytest.fixture(scope="module")
def pack(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("forged")
    hh = households()[0]
    config, text = hh.write(base)
    out = base / "pack.zip"
    with Journal.open(config.journal_path, readonly=True) as journal:
        build_pack(journal, config, "isp", f"{DAY}..{DAY}", out, now_ns=ORIGIN + 3 * 3600 * NS, config_text=text)
    return out


def forge(pack: Path, target: Path, name: str, content: bytes) -> Path:
    """``pack`` with ``name`` replaced and its hash and size rewritten in manifest.json to match."""
    with zipfile.ZipFile(pack) as zf:
        entries = {i.filename: zf.read(i) for i in zf.infolist()}
    manifest = json.loads(entries["manifest.json"])
    manifest["files"][name] = {"sha256": hashlib.sha256(content).hexdigest(), "bytes": len(content)}
    entries[name] = content
    entries["manifest.json"] = json_bytes(manifest)
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as out:
        for entry, data in entries.items():
            out.writestr(entry, data)
    return target


def verify(pack: Path) -> tuple[int, list[str]]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "watchdog", "verify", str(pack)], capture_output=True, text=True, env=env, check=False
    )
    assert done.stderr == ""
    return done.returncode, done.stdout.splitlines()


def read(pack: Path, name: str) -> bytes:
    with zipfile.ZipFile(pack) as zf:
        return zf.read(name)


def test_the_good_pack_verifies_and_every_derived_file_is_rebuilt(pack: Path) -> None:
    code, lines = verify(pack)
    assert code == 0
    assert lines[0].startswith(f"{pack}: OK")
    assert lines[2:] == [
        IDENTICAL,
        "  config.yaml: the config of the agent start at seq 6 (chained): its SLA, fees and contract are bound",
    ]


def test_forged_summary_html(pack: Path, tmp_path: Path) -> None:
    html = read(pack, "summary.html")
    assert b"99." in html or b"100" in html
    forged = forge(pack, tmp_path / "f.zip", "summary.html", html.replace(b"</body>", b"<p>99.99 %</p></body>"))
    assert verify(forged) == (
        1,
        [f"{forged}: FAILED", f"  summary.html: {REBUILT}: summary.html (or config.yaml) was edited"],
    )


def test_forged_summary_pdf(pack: Path, tmp_path: Path) -> None:
    pdf = read(pack, "summary.pdf")
    forged = forge(pack, tmp_path / "f.zip", "summary.pdf", pdf + b"%forged\n")
    assert verify(forged) == (
        1,
        [f"{forged}: FAILED", f"  summary.pdf: {REBUILT}: summary.pdf (or config.yaml) was edited"],
    )


def test_forged_outages_csv_all_outages_gone(pack: Path, tmp_path: Path) -> None:
    rows = read(pack, "outages.csv").split(b"\r\n")
    assert len(rows) > 2  # the day has outages
    forged = forge(pack, tmp_path / "f.zip", "outages.csv", rows[0] + b"\r\n")
    assert verify(forged) == (
        1,
        [f"{forged}: FAILED", f"  outages.csv: {REBUILT}: outages.csv (or config.yaml) was edited", *SUMMARIES],
    )


def test_forged_timeline_png(pack: Path, tmp_path: Path) -> None:
    png = read(pack, "timeline.png")
    forged = forge(pack, tmp_path / "f.zip", "timeline.png", png[:-20] + bytes(20))
    assert verify(forged) == (
        1,
        [f"{forged}: FAILED", f"  timeline.png: {REBUILT}: timeline.png (or config.yaml) was edited", *SUMMARIES],
    )


def test_forged_environment_json(pack: Path, tmp_path: Path) -> None:
    env = json.loads(read(pack, "environment.json"))
    env["agent_timezone"] = "Europe/Berlin"
    forged = forge(pack, tmp_path / "f.zip", "environment.json", json_bytes(env))
    assert verify(forged) == (
        1,
        [
            f"{forged}: FAILED",
            f"  environment.json: {REBUILT}: environment.json (or config.yaml) was edited",
            *SUMMARIES,
        ],
    )


def test_forged_config_yaml_contract(pack: Path, tmp_path: Path) -> None:
    """A changed contract (what the summary states of the SLA and the customer) changes the rebuilt summary."""
    text = read(pack, "config.yaml")
    assert b"number: \xd0\x94-777" in text
    forged = forge(pack, tmp_path / "f.zip", "config.yaml", text.replace("Д-777".encode(), "Д-999".encode()))
    assert verify(forged) == (
        1,
        [
            f"{forged}: FAILED",
            f"  summary.html: {REBUILT}: summary.html (or config.yaml) was edited",
            f"  summary.pdf: {REBUILT}: summary.pdf (or config.yaml) was edited",
        ],
    )


def test_forged_config_yaml_target_address(pack: Path, tmp_path: Path) -> None:
    """environment.json says the pack was made with the config the agent last started with (the chained
    agent_start's config_sha256), so config.yaml must define the targets as the chained target events do."""
    text = read(pack, "config.yaml").decode()
    head, tail = text.split("providers:", 1)
    tail = tail.replace("address: 127.0.0.1:9", "address: 10.0.0.1:53", 1)
    forged = forge(pack, tmp_path / "f.zip", "config.yaml", (head + "providers:" + tail).encode())
    assert verify(forged) == (
        1,
        [
            f"{forged}: FAILED",
            "  config.yaml: target isp/dns has address '10.0.0.1:53' in config.yaml, '127.0.0.1:9' in the chained "
            "target events, though environment.json says the pack was made with the config of the last agent start "
            "it carries: config.yaml was edited",
            *SUMMARIES,
        ],
    )


def test_a_config_changed_after_the_period_is_a_note(tmp_path: Path) -> None:
    """An honest pack made after the config changed (a target moved, the agent not restarted since): its
    config.yaml differs from the chained target events, and that is said, not failed."""
    hh = households()[0]
    config, text = hh.write(tmp_path)
    moved = text.replace(
        'targets: [{name: dns, kind: tcp, address: "127.0.0.1:9"}]',
        'targets: [{name: dns, kind: tcp, address: "127.0.0.1:53"}]',
    )
    assert moved != text
    out = tmp_path / "pack.zip"
    with Journal.open(config.journal_path, readonly=True) as journal:
        build_pack(journal, loads(moved), "isp", f"{DAY}..{DAY}", out, now_ns=ORIGIN + 3 * 3600 * NS, config_text=moved)
    code, lines = verify(out)
    assert code == 0
    assert lines[0].startswith(f"{out}: OK")
    assert lines[2:] == [
        NOT_THE_AGENTS,
        "  config.yaml: target isp/dns has address '127.0.0.1:53' in config.yaml, '127.0.0.1:9' in the chained target "
        "events: the config was changed after the last agent start the pack carries (or config.yaml was edited); "
        "what was monitored is what the chained target events say",
        IDENTICAL,
    ]


def test_two_entries_of_one_name_forged_first_real_second(pack: Path, tmp_path: Path) -> None:
    """The issue's zip: a forged summary.html before the real one (zipfile reads the last, a viewer the first)."""
    forged = tmp_path / "twice.zip"
    with zipfile.ZipFile(pack) as zf, zipfile.ZipFile(forged, "w", zipfile.ZIP_DEFLATED) as out:
        for info in zf.infolist():
            if info.filename == "summary.html":
                with pytest.warns(UserWarning, match="Duplicate name"):
                    out.writestr("summary.html", b"<p>availability 99.99 %</p>")
                    out.writestr(info, zf.read(info))
            else:
                out.writestr(info, zf.read(info))
    assert verify(forged) == (
        1,
        [f"{forged}: FAILED", "  summary.html: given twice in the zip (which copy counts would be ambiguous)"],
    )


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("..\\summary.html", "..\\summary.html: a path with '..' (entries must be plain file names)"),
        ("C:/summary.html", "C:/summary.html: an absolute path (entries must be plain file names)"),
        ("\\summary.html", "\\summary.html: an absolute path (entries must be plain file names)"),
    ],
)
def test_entry_names_that_leave_the_folder(pack: Path, tmp_path: Path, name: str, problem: str) -> None:
    forged = tmp_path / "names.zip"
    with zipfile.ZipFile(pack) as zf, zipfile.ZipFile(forged, "w", zipfile.ZIP_DEFLATED) as out:
        for info in zf.infolist():
            out.writestr(info, zf.read(info))
        out.writestr(name, b"x")
    assert verify(forged) == (1, [f"{forged}: FAILED", f"  {problem}"])


def test_a_target_added_after_the_period_changes_nothing(tmp_path: Path) -> None:
    """A good pack always verifies: a target defined after the pack's segment (the agent restarted with one
    more) is not in the pack, and the builder builds the summary from what the pack carries, as verify does."""
    hh = households()[0]
    config, text = hh.write(tmp_path)
    one = 'targets: [{name: dns, kind: tcp, address: "127.0.0.1:9"}]'
    two = 'targets: [{name: dns, kind: tcp, address: "127.0.0.1:9"}, {name: web, kind: tcp, address: "127.0.0.1:80"}]'
    more = text.replace(one, two, 1)
    assert more != text
    later = loads(more)
    with Journal.open(config.journal_path) as journal:
        journal.register_targets(list(later.targets), now_ns=ORIGIN + 4 * 3600 * NS)
        journal.seal(now_ns=ORIGIN + 4 * 3600 * NS)
    out = tmp_path / "pack.zip"
    with Journal.open(config.journal_path, readonly=True) as journal:
        build_pack(journal, later, "isp", f"{DAY}..{DAY}", out, now_ns=ORIGIN + 3 * 3600 * NS, config_text=more)
    code, lines = verify(out)
    assert code == 0
    assert lines[2:] == [NOT_THE_AGENTS, IDENTICAL]


def test_a_contract_edited_and_the_summaries_rebuilt_from_it_is_named(pack: Path, tmp_path: Path) -> None:
    """The forger who edits config.yaml's SLA and rebuilds the summaries from it with this program: the
    figures are the chain's, but config.yaml is no longer the config the agent journaled at its start, so
    verify says its SLA is not bound (an honest config changed after the start looks the same, so not a
    failure) and does not print the 'bound' line."""
    from watchdog.documents.pack import verify as verifier

    with zipfile.ZipFile(pack) as zf:
        entries = {i.filename: zf.read(i) for i in zf.infolist()}
    text = entries["config.yaml"]
    assert b"availability:" not in text  # the household's SLA is the default: give it one
    entries["config.yaml"] = text.replace(b"  kind: isp\n", b"  kind: isp\n  sla:\n    availability: 10\n", 1)
    assert entries["config.yaml"] != text
    forged = tmp_path / "smart.zip"

    def write() -> None:
        manifest = json.loads(entries["manifest.json"])
        for name, content in entries.items():
            if name != "manifest.json":
                manifest["files"][name] = {"sha256": hashlib.sha256(content).hexdigest(), "bytes": len(content)}
        entries["manifest.json"] = json_bytes(manifest)
        with zipfile.ZipFile(forged, "w", zipfile.ZIP_DEFLATED) as out:
            for name, content in entries.items():
                out.writestr(name, content)

    made: dict[str, bytes] = {}
    real = verifier.summaries

    def keep(*args: Any, **kwargs: Any) -> tuple[bytes, bytes]:
        made["summary.html"], made["summary.pdf"] = real(*args, **kwargs)
        return made["summary.html"], made["summary.pdf"]

    write()
    verifier.summaries = keep  # type: ignore[assignment]
    try:
        for _ in range(3):  # the summaries list each other's hashes: settle
            verifier.verify_pack(forged)
            entries.update(made)
            write()
    finally:
        verifier.summaries = real  # type: ignore[assignment]
    assert b"10.0 %" in entries["summary.html"]
    code, lines = verify(forged)
    assert code == 0
    assert lines[2:] == [NOT_THE_AGENTS, IDENTICAL]


def test_a_pack_of_an_older_version_is_not_rebuilt_and_says_so(pack: Path, tmp_path: Path) -> None:
    """A pack made before packs recorded ``lang`` cannot be rebuilt: its rows verify, and the note says its
    derived files were only hashed. A forger can claim that too (the manifest is not chained), which is why
    the note is there: such a summary is a reading aid, the rows are the evidence."""
    with zipfile.ZipFile(pack) as zf:
        entries = {i.filename: zf.read(i) for i in zf.infolist()}
    manifest = json.loads(entries["manifest.json"])
    del manifest["lang"]
    manifest["made_with"] = "outage-watchdog 0.1.0"
    html = entries["summary.html"].replace(b"</body>", b"<p>99.99 %</p></body>")
    manifest["files"]["summary.html"] = {"sha256": hashlib.sha256(html).hexdigest(), "bytes": len(html)}
    entries["summary.html"], entries["manifest.json"] = html, json_bytes(manifest)
    old = tmp_path / "old.zip"
    with zipfile.ZipFile(old, "w", zipfile.ZIP_DEFLATED) as out:
        for name, content in entries.items():
            out.writestr(name, content)
    code, lines = verify(old)
    assert code == 0
    assert lines[2:] == [
        "  outages.csv, timeline.png, environment.json, summary.html, summary.pdf: not rebuilt: made by an older "
        "version (only their hashes were checked)"
    ]
