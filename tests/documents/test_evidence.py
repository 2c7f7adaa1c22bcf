"""Evidence packs through the real CLI: contents, secrets, byte-identical rebuilds, tamper detection."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import struct
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from history import CANARY_ENV, CANARY_LITERAL, PERIOD, config_text, env, msk, write_history

from watchdog.cli import main
from watchdog.config import loads
from watchdog.documents.pack.build import build_pack
from watchdog.documents.pack.manifest import FILE_ORDER
from watchdog.documents.pack.verify import verify_pack
from watchdog.errors import IntegrityError
from watchdog.journal.store import Journal

NOW = "2026-11-10T00:00"
ALWAYS = tuple(n for n in FILE_ORDER if n != "timestamps.json")  # that one only when the journal has tokens


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """A journal with three days of history, its config file, and a pack made by ``watchdog evidence``."""
    base = tmp_path_factory.mktemp("evidence")
    cfg = base / "watchdog.yaml"
    cfg.write_text(config_text(base / "data"), encoding="utf-8")
    cfg.chmod(0o600)
    saved = {k: os.environ.get(k) for k in env()}
    os.environ.update(env())
    write_history(loads(cfg.read_text(encoding="utf-8"), env=env()))
    pack = base / "pack.zip"
    args = ["evidence", "-c", str(cfg), "--provider", "broker", "--period", PERIOD, "--now", NOW, "-o", str(pack)]
    assert main(args) == 0
    try:
        yield cfg, pack
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def read(pack: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(pack) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def rows(data: bytes) -> list[dict[str, str]]:
    assert data.startswith("\ufeff".encode())
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def test_pack_contents(made: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg, pack = made
    files = read(pack)
    assert list(files) == list(ALWAYS)
    with zipfile.ZipFile(pack) as zf:
        assert {i.date_time for i in zf.infolist()} == {(1980, 1, 1, 0, 0, 0)}

    # results.csv: every result of the provider's targets and the controls, none of the bank's
    config = loads(cfg.read_text(encoding="utf-8"), env=env())
    results = rows(files["results.csv"])
    keys = ["broker/trading", "broker/web", "lan/router", "internet/a", "internet/b", "internet/c"]
    with Journal.open(config.journal_path, readonly=True) as journal:
        in_period = sum(1 for _ in journal.iter_results(msk(2, 0), msk(5, 0), keys))
    assert {r["target"] for r in results} == set(keys)
    # 72 h less the 2 h gap, a probe a minute, 6 targets
    assert sum(r["in_period"] == "true" for r in results) == in_period == 70 * 60 * 6
    first_down = next(r for r in results if r["ok"] == "false")
    assert (first_down["target"], first_down["time_local"], first_down["failure"]) == (
        "broker/trading",
        "2026-11-02T10:00:05.000+03:00",
        "connect",
    )
    assert first_down["detail"] == "connect 127.0.0.1: отказано в соединении" and first_down["latency_us"] == "1000"

    outages = rows(files["outages.csv"])
    assert [(o["target"], o["attribution"], o["duration_s"]) for o in outages] == [
        ("broker/trading", "provider", "1800.000"),
        ("broker/web", "provider", "900.000"),
        ("broker/trading", "customer_line", "1200.000"),
        # all three anchors down at once: the quorum was lost, so it was the customer's own line
        ("internet/a", "customer_line", "1800.000"),
        ("internet/b", "customer_line", "1800.000"),
        ("internet/c", "customer_line", "1800.000"),
    ]
    assert outages[0]["start_after_utc"] == "2026-11-02T06:59:05.000Z"
    contacts = rows(files["contacts.csv"])
    assert [(c["channel"], c["ref"], c["at_local"]) for c in contacts] == [
        ("phone", "INC-1", "2026-11-02T10:12:00.000+03:00"),
        ("email", "T-77", "2026-11-04T21:00:00.000+03:00"),
    ]
    assert contacts[0]["note"] == "Звонок в поддержку: «проблемы на стороне биржи»"
    clock = rows(files["clock.csv"])
    assert sum(c["kind"] == "sample" for c in clock) == 70 and [c["step_s"] for c in clock if c["kind"] == "step"] == [
        "1.500000000"
    ]
    assert min(float(c["offset_s"]) for c in clock if c["offset_s"]) == -0.25

    manifest = json.loads(files["manifest.json"])
    for name in ALWAYS[:-1]:
        assert manifest["files"][name]["sha256"] == hashlib.sha256(files[name]).hexdigest()
    chain = manifest["chain"]
    with Journal.open(config.journal_path, readonly=True) as journal:
        head = journal.head()
        bank = journal.target_id("bank/web")
    assert chain["head"]["hash"] == chain["blocks"][-1]["hash"] and chain["journal_head"]["hash"] == head.hash
    assert all(str(bank) in b["omitted"] for b in chain["blocks"]) and bank not in chain["included_streams"]
    environment = json.loads(files["environment.json"])
    assert environment["provider_timezone"] == "Europe/Moscow" and environment["clock"]["samples"] == 70
    assert [r["run"] for r in environment["runs"]] == ["run1", "run2"]

    # the PNG is a real image of a sensible size
    png = files["timeline.png"]
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    assert 1000 <= width <= 1400 and 300 <= height <= 800

    # the PDF renders: three pages (summary, method and pack, chart), with the expected text, Cyrillic included
    (tmp_path / "s.pdf").write_bytes(files["summary.pdf"])
    info = subprocess.run(["pdfinfo", tmp_path / "s.pdf"], capture_output=True, text=True, check=True).stdout
    assert "Pages:           3" in info and "Title:           SLA report: ИТ Инвест" in info
    text = subprocess.run(["pdftotext", "-layout", tmp_path / "s.pdf", "-"], capture_output=True, text=True, check=True)
    for expected in (
        "SLA report: ИТ Инвест",
        "98.9691 %",
        "BREACHED",
        "Звонок в поддержку: «проблемы на стороне биржи»",
        "2026-11-02 10:00:05 MSK (UTC+03:00)",
        "Time-based, not count-based",
        manifest["files"]["results.csv"]["sha256"],
        "Timeline: ИТ Инвест",
    ):
        assert expected in text.stdout, expected
    subprocess.run(
        ["pdftoppm", "-r", "40", "-png", "-f", "3", "-l", "3", tmp_path / "s.pdf", tmp_path / "p"], check=True
    )
    assert (tmp_path / "p-3.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    html = files["summary.html"].decode()
    assert "<h2>This evidence pack</h2>" in html and manifest["files"]["events.csv"]["sha256"] in html
    assert '<img src="timeline.png"' in html  # the chart beside it in the zip

    assert main(["verify", str(pack)]) == 0
    assert "OK — 10 files match manifest.json" in capsys.readouterr().out


def test_no_secret_reaches_the_pack(made: tuple[Path, Path]) -> None:
    _, pack = made
    files = read(pack)
    for name, data in files.items():
        for canary in (CANARY_ENV, CANARY_LITERAL):
            assert canary.encode() not in data, f"{canary} leaked into {name}"
    text = files["config.yaml"].decode()
    assert "<redacted>" in text and "${NOTIFY_URL}" in text and "${INFLUX_TOKEN}" in text
    assert "json://127.0.0.1:9/" not in text  # a literal notify URL is redacted whole


def test_refuses_a_pack_that_would_carry_a_secret(tmp_path: Path) -> None:
    # the status page token equals a target's address (the secret in a URL path), which the journal holds in clear
    secret = "http://127.0.0.1:7/token-0123456789abcdef"
    text = (
        config_text(tmp_path / "data")
        .replace(f'web: {{token: "{CANARY_LITERAL}"}}', f'web: {{token: "{secret}"}}')
        .replace(
            'targets: [{name: web, kind: tcp, address: "127.0.0.1:7"}]',
            f'targets: [{{name: web, kind: http, address: "{secret}"}}]',
        )
    )
    assert secret in text and text.count(secret) == 2
    config = loads(text, env=env())
    write_history(config)
    with Journal.open(config.journal_path) as journal, pytest.raises(IntegrityError, match="would contain a secret"):
        build_pack(journal, config, "broker", PERIOD, tmp_path / "p.zip", now_ns=msk(10, 0), config_text=text)
    assert not (tmp_path / "p.zip").exists()


def test_same_input_same_bytes(made: tuple[Path, Path], tmp_path: Path) -> None:
    cfg, pack = made
    again = tmp_path / "again.zip"
    args = ["evidence", "-c", str(cfg), "--provider", "broker", "--period", PERIOD, "--now", NOW, "-o", str(again)]
    assert main(args) == 0
    assert again.read_bytes() == pack.read_bytes()


def rezip(source: Path, target: Path, changes: dict[str, bytes]) -> None:
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(target, "w") as dst:
        for info in src.infolist():
            dst.writestr(info, changes.get(info.filename, src.read(info.filename)))


def flip(data: bytes, at: int) -> bytes:
    """Change one byte (to another printable byte, so text files stay text)."""
    b = data[at]
    return data[:at] + bytes([b + 1 if b != 0x7E else b - 1]) + data[at + 1 :]


@pytest.mark.parametrize("name", ALWAYS)
def test_one_changed_byte_in_any_file_is_named(made: tuple[Path, Path], tmp_path: Path, name: str) -> None:
    _, pack = made
    data = read(pack)[name]
    if name == "manifest.json":
        at = data.index(b'"hash": "') + 9  # a block hash
    elif name.endswith(".csv"):
        at = data.index(b"\r\n") + 40  # inside the first data row
    else:
        at = len(data) // 2
    tampered = tmp_path / "t.zip"
    rezip(pack, tampered, {name: flip(data, at)})
    verdict = verify_pack(tampered)
    assert not verdict.ok
    assert any(name in p for p in verdict.problems), verdict.problems


def test_edited_row_is_named_even_with_a_rewritten_manifest(made: tuple[Path, Path], tmp_path: Path) -> None:
    _, pack = made
    files = read(pack)
    lines = files["results.csv"].split(b"\r\n")
    victim = next(i for i, line in enumerate(lines) if b",connect," in line)  # the first failed probe
    lines[victim] = lines[victim].replace(b",false,1.000,", b",true,1.000,").replace(b",connect,", b",,", 1)
    forged = b"\r\n".join(lines)
    manifest = json.loads(files["manifest.json"])
    manifest["files"]["results.csv"]["sha256"] = hashlib.sha256(forged).hexdigest()
    manifest["files"]["results.csv"]["bytes"] = len(forged)
    tampered = tmp_path / "t.zip"
    new_manifest = (json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode()
    rezip(pack, tampered, {"results.csv": forged, "manifest.json": new_manifest})
    verdict = verify_pack(tampered)
    assert verdict.problems[0].startswith(f"results.csv line {victim + 1} (seq ")
    assert (
        "broker/trading at 2026-11-02T07:00:05.000Z): does not match its seal: the row was edited"
        in verdict.problems[0]
    )
    assert any("do not reproduce its hash" in p for p in verdict.problems)

    # a removed row (seal and all) is caught by the count and the block hash
    del lines[victim]
    shorter = b"\r\n".join(lines)
    manifest["files"]["results.csv"]["sha256"] = hashlib.sha256(shorter).hexdigest()
    new_manifest = (json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode()
    rezip(pack, tampered, {"results.csv": shorter, "manifest.json": new_manifest})
    verdict = verify_pack(tampered)
    missing = "1 row(s) missing from results.csv/events.csv (999 of 1000"
    assert any(missing in p for p in verdict.problems), verdict.problems


def test_verify_cli_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str], made: tuple[Path, Path]) -> None:
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not a zip")
    assert main(["verify", str(junk), "--json"]) == 1
    assert "not a readable zip file" in json.loads(capsys.readouterr().out)["problems"][0]
    _, pack = made
    extra = tmp_path / "extra.zip"
    shutil.copy(pack, extra)
    with zipfile.ZipFile(extra, "a") as zf:
        zf.writestr("note.txt", "added later")
    assert main(["verify", str(extra)]) == 1
    assert "note.txt: not listed in manifest.json (added to the pack)" in capsys.readouterr().out


def test_contact_logged_after_the_period_is_carried(tmp_path: Path) -> None:
    """The customer writes the call down two weeks later: the pack carries the events up to that entry."""
    from watchdog.journal.contacts import add_contact

    text = config_text(tmp_path / "data")
    config = loads(text, env=env())
    write_history(config)
    with Journal.open(config.journal_path) as journal:
        late = add_contact(
            journal, provider="broker", channel="visit", note="офис", at_ns=msk(3, 16), now_ns=msk(20, 0)
        )
        build_pack(journal, config, "broker", PERIOD, tmp_path / "p.zip", now_ns=msk(21, 0), config_text=text)
    verdict = verify_pack(tmp_path / "p.zip")
    assert verdict.ok, verdict.problems
    files = read(tmp_path / "p.zip")
    notes = [c["note"] for c in rows(files["contacts.csv"])]
    assert notes == ["Звонок в поддержку: «проблемы на стороне биржи»", "офис", "claim sent"]
    assert max(int(r["seq"]) for r in rows(files["results.csv"])) < late.seq  # no results past the period's blocks
    last = json.loads(files["manifest.json"])["chain"]["blocks"][-1]
    assert last["first_seq"] <= late.seq <= last["last_seq"] and "0" not in last["omitted"]
