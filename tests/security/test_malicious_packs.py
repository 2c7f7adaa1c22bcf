"""Issue 13 item 5: hostile evidence packs are rejected with a reason, in bounded memory; collective goes on."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
from collective_helpers import ORIGIN, households

from watchdog.documents.pack.build import build_pack
from watchdog.documents.pack.verify import verify_pack
from watchdog.documents.pack.zipread import MAX_CSV_LINE_CHARS, MAX_ENTRIES, MAX_RATIO
from watchdog.journal.store import Journal
from watchdog.model import NS

ROOT = Path(__file__).resolve().parents[2]
DAY = "2026-09-21"
RSS_BUDGET_MB = 200


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two households' real day packs."""
    base = tmp_path_factory.mktemp("packs")
    out = {}
    for hh in households()[:2]:
        config, text = hh.write(base)
        with Journal.open(config.journal_path, readonly=True) as journal:
            pack = base / f"{hh.agent}.zip"
            build_pack(journal, config, "isp", f"{DAY}..{DAY}", pack, now_ns=ORIGIN + 3 * 3600 * NS, config_text=text)
        out[hh.agent] = pack
    return out


def entries(pack: Path) -> list[tuple[zipfile.ZipInfo, bytes]]:
    with zipfile.ZipFile(pack) as zf:
        return [(i, zf.read(i)) for i in zf.infolist()]


def rebuild(pack: Path, target: Path, edit: Callable[[zipfile.ZipFile, zipfile.ZipInfo, bytes], bool]) -> Path:
    """Copy ``pack`` entry by entry; ``edit`` may write its own version of an entry (returning True)."""
    with zipfile.ZipFile(target, "w") as out:
        for info, data in entries(pack):
            if not edit(out, info, data):
                out.writestr(info, data)
    return target


def bomb(out: zipfile.ZipFile, name: str, size: int, head: bytes = b"") -> None:
    """``name`` inflating to ``size`` bytes, written in chunks (the test never holds it)."""
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    chunk = b"A" * (1 << 20)
    with out.open(info, "w", force_zip64=size > 0x7FFFFFFF) as f:
        # zlib's run-length strategy: the same deflate format and size for a run of one byte, 3x faster to make
        # (the 2 GiB bomb took 13 s of CPU); zipfile has no parameter for it, so its compressor is swapped
        rle = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15, 8, zlib.Z_RLE)
        f._compressor = rle  # type: ignore[attr-defined]
        f.write(head)
        left = size - len(head)
        while left > 0:
            f.write(chunk[: min(left, len(chunk))])
            left -= len(chunk)


def bombed(pack: Path, target: Path, name: str, size: int) -> Path:
    def edit(out: zipfile.ZipFile, info: zipfile.ZipInfo, _data: bytes) -> bool:
        if info.filename != name:
            return False
        bomb(out, name, size, b"{" if name.endswith(".json") else b"")
        return True

    return rebuild(pack, target, edit)


def patch_headers(pack: Path, name: str, local_at: int, central_at: int, value: bytes) -> None:
    """Overwrite a field of ``name``'s local header (at ``local_at``) and central directory record."""
    raw = bytearray(pack.read_bytes())
    for sig, field_at, name_len_at, name_at in ((b"PK\x03\x04", local_at, 26, 30), (b"PK\x01\x02", central_at, 28, 46)):
        at = 0
        while (at := raw.find(sig, at)) >= 0:
            name_len = int.from_bytes(raw[at + name_len_at : at + name_len_at + 2], "little")
            if raw[at + name_at : at + name_at + name_len] == name.encode():
                raw[at + field_at : at + field_at + len(value)] = value
            at += 4
    pack.write_bytes(bytes(raw))


def encrypted(pack: Path, target: Path) -> Path:
    """``pack`` with outages.csv flagged as encrypted (zipfile cannot write one; the flag is set by hand)."""
    target.write_bytes(pack.read_bytes())
    with zipfile.ZipFile(target) as zf:
        flags = zf.getinfo("outages.csv").flag_bits | 0x1
    patch_headers(target, "outages.csv", 6, 8, flags.to_bytes(2, "little"))
    return target


def verify_in_child(pack: Path) -> tuple[int, str, str, float]:
    """``watchdog verify PACK`` in a subprocess; returns exit code, stdout, stderr and its peak RSS in MB."""
    runner = (
        "import resource, subprocess, sys\n"
        "argv = [sys.executable, '-m', 'watchdog', 'verify', sys.argv[1]]\n"
        "r = subprocess.run(argv, capture_output=True, text=True)\n"
        "sys.stdout.write(repr((r.returncode, r.stdout, r.stderr, "
        "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", runner, str(pack)], capture_output=True, text=True, env=env, check=True
    )
    code, out, err, rss = eval(done.stdout)
    return code, out, err, rss


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("events.csv", "events.csv: declares 209715200 bytes, more than the 67108864 allowed"),
        ("contacts.csv", "contacts.csv: declares 209715200 bytes, more than the 8388608 allowed"),
        (
            "manifest.json",
            f"manifest.json: declares a compression ratio over {MAX_RATIO}:1 (209715200 bytes from 203844): "
            "a zip bomb?",
        ),
        (
            "results.csv",
            f"results.csv: declares a compression ratio over {MAX_RATIO}:1 (209715200 bytes from 203843): a zip bomb?",
        ),
    ],
)
def test_a_bomb_is_rejected_in_bounded_memory(good: dict[str, Path], tmp_path: Path, name: str, reason: str) -> None:
    pack = bombed(good["hh-a"], tmp_path / "bomb.zip", name, 200 << 20)
    assert pack.stat().st_size < 400_000
    code, out, err, rss = verify_in_child(pack)
    assert (code, err) == (1, "")
    assert out.splitlines()[1:] == [f"  {reason}"]
    assert rss <= RSS_BUDGET_MB


def test_a_header_that_lies_about_the_size_is_not_trusted(good: dict[str, Path], tmp_path: Path) -> None:
    """The central directory says 100 bytes; the data inflates to 200 MB: only the first 100 are read."""
    pack = bombed(good["hh-a"], tmp_path / "liar.zip", "events.csv", 200 << 20)
    patch_headers(pack, "events.csv", 22, 24, (100).to_bytes(4, "little"))
    code, out, err, rss = verify_in_child(pack)
    assert (code, err) == (1, "")
    assert "events.csv: cannot be read from the zip (Bad CRC-32 for file 'events.csv')" in out
    assert rss <= RSS_BUDGET_MB


@pytest.mark.slow  # building the 2 GiB bomb takes ~13 s on the 2-core VM
def test_a_2_gib_bomb(good: dict[str, Path], tmp_path: Path) -> None:
    pack = bombed(good["hh-a"], tmp_path / "bomb2g.zip", "events.csv", 2 << 30)
    assert pack.stat().st_size < 3_000_000
    code, out, err, rss = verify_in_child(pack)
    assert (code, err) == (1, "")
    assert out.splitlines()[1:] == ["  events.csv: declares 2147483648 bytes, more than the 67108864 allowed"]
    assert rss <= RSS_BUDGET_MB


def test_a_good_pack_verifies_within_the_budget(good: dict[str, Path]) -> None:
    code, out, err, rss = verify_in_child(good["hh-a"])
    assert (code, err) == (0, "")
    assert out.startswith(f"{good['hh-a']}: OK")
    assert rss <= RSS_BUDGET_MB


def _structural(kind: str) -> Callable[[zipfile.ZipFile, zipfile.ZipInfo, bytes], bool]:
    def edit(out: zipfile.ZipFile, info: zipfile.ZipInfo, data: bytes) -> bool:
        if info.filename != "outages.csv":
            return False
        if kind == "duplicate":
            out.writestr(info, data)
            with pytest.warns(UserWarning, match="Duplicate name"):
                out.writestr(info, data)
        elif kind == "absolute":
            out.writestr("/etc/cron.d/x", data)
        elif kind == "dotdot":
            out.writestr("../../outages.csv", data)
        elif kind == "symlink":
            link = zipfile.ZipInfo("outages.csv")
            link.create_system = 3
            link.external_attr = (stat.S_IFLNK | 0o777) << 16
            out.writestr(link, b"/etc/passwd")
        elif kind == "fifo":
            fifo = zipfile.ZipInfo("outages.csv")
            fifo.create_system = 3
            fifo.external_attr = (stat.S_IFIFO | 0o644) << 16
            out.writestr(fifo, data)
        elif kind == "directory":
            out.writestr(info, data)
            out.writestr("extra/", b"")
        elif kind == "bzip2":
            info.compress_type = zipfile.ZIP_BZIP2
            out.writestr(info, data)
        elif kind == "many":
            out.writestr(info, data)
            for n in range(MAX_ENTRIES):
                out.writestr(f"x{n}.txt", b"")
        return True

    return edit


@pytest.mark.parametrize(
    ("kind", "problems"),
    [
        ("duplicate", ["outages.csv: given twice in the zip (which copy counts would be ambiguous)"]),
        ("absolute", ["/etc/cron.d/x: an absolute path (entries must be plain file names)"]),
        ("dotdot", ["../../outages.csv: a path with '..' (entries must be plain file names)"]),
        ("symlink", ["outages.csv: a symbolic link, not a regular file"]),
        ("fifo", ["outages.csv: a non-regular entry (mode 10644), not a regular file"]),
        ("directory", ["extra/: a directory, not a regular file"]),
        ("encrypted", ["outages.csv: encrypted (a pack is never encrypted)"]),
        ("bzip2", ["outages.csv: unsupported compression method 12 (only stored, deflated)"]),
        ("many", None),
    ],
)
def test_structural_problems_are_named(
    good: dict[str, Path], tmp_path: Path, kind: str, problems: list[str] | None
) -> None:
    if kind == "encrypted":
        pack = encrypted(good["hh-a"], tmp_path / "encrypted.zip")
    else:
        pack = rebuild(good["hh-a"], tmp_path / f"{kind}.zip", _structural(kind))
    verdict = verify_pack(pack)
    if problems is None:
        problems = [f"{pack}: {11 + MAX_ENTRIES} entries, more than the {MAX_ENTRIES} a pack may hold"]
    assert verdict.problems == problems


def _replace(
    name: str, data: bytes, method: int = zipfile.ZIP_DEFLATED
) -> Callable[[zipfile.ZipFile, zipfile.ZipInfo, bytes], bool]:
    def edit(out: zipfile.ZipFile, info: zipfile.ZipInfo, _data: bytes) -> bool:
        if info.filename != name:
            return False
        info.compress_type = method
        out.writestr(info, data)
        return True

    return edit


def test_a_huge_csv_cell_and_a_long_line(good: dict[str, Path], tmp_path: Path) -> None:
    with zipfile.ZipFile(good["hh-a"]) as zf:
        events = zf.read("events.csv")
    header, first, rest = events.split(b"\r\n", 2)
    cell = b'"' + b"x" * 131_073 + b'"'
    pack = rebuild(
        good["hh-a"], tmp_path / "cell.zip", _replace("events.csv", b"\r\n".join([header, first + cell, rest]))
    )
    assert verify_pack(pack).problems[-1] == "events.csv line 2: not CSV (field larger than field limit (131072))"
    line = b"," * (MAX_CSV_LINE_CHARS + 10)
    pack = rebuild(
        good["hh-a"],
        tmp_path / "line.zip",
        _replace("events.csv", b"\r\n".join([header, line, rest]), zipfile.ZIP_STORED),
    )
    assert verify_pack(pack).problems[-1] == f"events.csv line 2: longer than {MAX_CSV_LINE_CHARS} characters"


@pytest.mark.parametrize(
    ("manifest", "problem"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "manifest.json: nested too deeply to parse"),
        (b'{"files": []}', "manifest.json: format: expected a string, got NoneType None"),
        (
            json.dumps({"format": "x", "provider": "p", "files": {}, "period": 5, "chain": {}}).encode(),
            "manifest.json: period: expected an object, got int 5",
        ),
        (b"\xff", "manifest.json: not valid JSON (lexical error: invalid char in json text.)"),
    ],
)
def test_a_malformed_manifest_is_named(good: dict[str, Path], tmp_path: Path, manifest: bytes, problem: str) -> None:
    pack = rebuild(good["hh-a"], tmp_path / "m.zip", _replace("manifest.json", manifest))
    assert verify_pack(pack).problems[0] == problem


def test_wrongly_typed_blocks(good: dict[str, Path], tmp_path: Path) -> None:
    with zipfile.ZipFile(good["hh-a"]) as zf:
        manifest = json.loads(zf.read("manifest.json"))
    manifest["chain"]["blocks"][0]["no"] = "1"
    manifest["chain"]["blocks"][1]["omitted"] = {"7": "x"}
    pack = rebuild(good["hh-a"], tmp_path / "m.zip", _replace("manifest.json", json.dumps(manifest).encode()))
    assert verify_pack(pack).problems == [
        "manifest.json: chain.blocks[0].no: expected an integer, got str '1'",  # blocks stream: the first bad one
    ]


def collective(folder: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = ["collective", "--provider", "isp", "--period", f"{DAY}..{DAY}", "--packs", str(folder), "-k", "2"]
    args += ["--now", "2026-09-22T02:00Z", "--tz", "UTC", *extra]
    return subprocess.run([sys.executable, "-m", "watchdog", *args], capture_output=True, text=True, env=env)


def test_collective_reports_on_the_good_packs_and_lists_the_bad(good: dict[str, Path], tmp_path: Path) -> None:
    folder = tmp_path / "packs"
    folder.mkdir()
    for agent, pack in good.items():
        (folder / f"{agent}.zip").write_bytes(pack.read_bytes())
    bombed(good["hh-a"], folder / "x-bomb.zip", "events.csv", 200 << 20)
    encrypted(good["hh-a"], folder / "x-encrypted.zip")
    rebuild(good["hh-a"], folder / "x-deep.zip", _replace("manifest.json", b"[" * 100_000))
    (folder / "x-empty.zip").write_bytes(b"")
    done = collective(folder, "--jobs", "2", "--json")
    note = "note: no watchdog.yaml here: using the built-in default (watchdog init writes one)\n"
    assert (done.returncode, done.stderr) == (0, note)
    doc = json.loads(done.stdout)
    assert doc["source"]["packs"] == 6 and doc["source"]["used"] == 2 and doc["source"]["rejected"] == 4
    assert {r["path"]: r["reasons"] for r in doc["rejected"]} == {
        "x-bomb.zip": ["events.csv: declares 209715200 bytes, more than the 67108864 allowed"],
        "x-deep.zip": ["manifest.json: nested too deeply to parse"],
        "x-empty.zip": [f"{folder / 'x-empty.zip'}: not a readable zip file (no end of central directory record)"],
        "x-encrypted.zip": ["outages.csv: encrypted (a pack is never encrypted)"],
    }
    text = collective(folder, "--jobs", "2")
    assert text.returncode == 0
    assert "Rejected packs (4): not counted" in text.stdout
    for name in good:
        (folder / f"{name}.zip").unlink()
    bad = collective(folder)
    assert bad.returncode == 1
    assert bad.stderr == note + "watchdog collective: every pack was rejected (see the list above)\n"
    assert "Rejected packs (4): not counted" in bad.stdout
