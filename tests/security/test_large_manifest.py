"""A month of minute blocks makes a 25-90 MB manifest.json: verify streams it (ijson) within the RSS budget,
while a manifest bomb is still rejected."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

from watchdog.documents.pack.csvfiles import CLOCK_COLUMNS, CONTACT_COLUMNS, EVENT_COLUMNS, RESULT_COLUMNS, csv_bytes
from watchdog.documents.pack.manifest import PACK_FORMAT
from watchdog.documents.pack.zipread import MAX_RATIO
from watchdog.journal.chain import block_hash, genesis_hash

ROOT = Path(__file__).resolve().parents[2]
RSS_BUDGET_MB = 200
BLOCKS = 50_000
ROWS = 40  # per block, all in streams the pack leaves out (other providers' targets)


def large_pack(path: Path) -> tuple[int, str]:
    """A pack of BLOCKS real blocks (hashed with the journal's own functions) whose rows are all left out;
    written as a stream. Returns the manifest's size and the head."""
    journal_id = "j-large"
    files = {
        "results.csv": csv_bytes(RESULT_COLUMNS, []),
        "events.csv": csv_bytes(EVENT_COLUMNS, []),
        "contacts.csv": csv_bytes(CONTACT_COLUMNS, []),
        "clock.csv": csv_bytes(CLOCK_COLUMNS, []),
    }
    listed = {n: {"sha256": hashlib.sha256(c).hexdigest(), "bytes": len(c)} for n, c in files.items()}
    start = 1_790_000_000 * 10**9
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in files.items():
            zf.writestr(name, content)
        with zf.open("manifest.json", "w", force_zip64=True) as out:
            out.write(b'{"agent": "a", "as_of_ns": %d, "chain": {"blocks": [\n' % (start + 10**12))
            prev = genesis_hash(journal_id)
            for no in range(1, BLOCKS + 1):
                first = (no - 1) * ROWS + 1
                streams = {s: (ROWS // 4, hashlib.sha256(b"%d/%d" % (no, s)).digest()) for s in (11, 12, 13, 14)}
                h = block_hash(prev, no, first, first + ROWS - 1, streams)
                block = {
                    "no": no,
                    "first_seq": first,
                    "last_seq": first + ROWS - 1,
                    "prev_hash": prev.hex(),
                    "hash": h.hex(),
                    "omitted": {str(s): [c, d.hex()] for s, (c, d) in streams.items()},
                }
                if no > 1:
                    out.write(b",\n")
                out.write(json.dumps(block).encode())
                prev = h
            tail = {
                "head": {"block": BLOCKS, "last_seq": BLOCKS * ROWS, "hash": prev.hex()},
                "included_streams": [0],
                "journal_id": journal_id,
                "prologue": [],
            }
            out.write(b"], " + json.dumps(tail)[1:].encode() + b", ")
            rest = {
                "files": listed,
                "format": PACK_FORMAT,
                "made_with": "outage-watchdog 0.1.0",
                "period": {"label": "2026-09", "start_ns": start, "end_ns": start + 30 * 86400 * 10**9, "zone": "UTC"},
                "provider": "isp",
            }
            out.write(json.dumps(rest)[1:].encode())
        size = zf.getinfo("manifest.json").file_size
    return size, prev.hex()


def verify_in_child(pack: Path) -> tuple[int, str, str, float]:
    """``watchdog verify PACK`` in a subprocess; exit code, stdout, stderr and its peak RSS in MB."""
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


def test_a_large_manifest_verifies_within_the_budget(tmp_path: Path) -> None:
    pack = tmp_path / "large.zip"
    size, head = large_pack(pack)
    assert size > 25 << 20  # past the old 16 MiB limit
    code, out, err, rss = verify_in_child(pack)
    assert (code, err) == (0, "")
    assert out.splitlines()[0] == (
        f"{pack}: OK — 4 files match manifest.json; 0 results and 0 events reproduce {BLOCKS} blocks ending at {head}"
    )
    assert rss <= RSS_BUDGET_MB, rss


def test_a_manifest_bomb_is_still_rejected(tmp_path: Path) -> None:
    pack = tmp_path / "bomb.zip"
    with zipfile.ZipFile(pack, "w") as zf:
        info = zipfile.ZipInfo("manifest.json", date_time=(1980, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        with zf.open(info, "w", force_zip64=True) as f:
            f.write(b'{"a": "')
            for _ in range(300):
                f.write(b" " * (1 << 20))
    code, out, err, rss = verify_in_child(pack)
    declared = zipfile.ZipFile(pack).getinfo("manifest.json")
    assert (code, err) == (1, "")
    assert out.splitlines() == [
        f"{pack}: FAILED",
        f"  manifest.json: declares {declared.file_size} bytes, more than the {256 << 20} allowed",
    ]
    assert rss <= RSS_BUDGET_MB
    assert declared.file_size > MAX_RATIO * declared.compress_size
