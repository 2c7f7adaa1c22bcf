"""Reading an evidence pack someone else made: a zip that may be hostile, read with hard limits.

``watchdog verify`` and ``watchdog collective --packs`` read packs that households send; one bad pack must
cost a bounded amount of memory and time and end in a reason, never a traceback. So, before anything is
parsed:

* the zip's end record is read by hand: at most :data:`MAX_ENTRIES` entries and a central directory of at
  most :data:`MAX_CENTRAL_DIRECTORY_BYTES` (``zipfile`` would otherwise build every entry's record first);
* every entry must be a plain file with a relative name (no ``/``-rooted or drive path, no ``..``, no
  directory, symlink or other non-regular mode), unique, unencrypted, stored or deflated;
* every entry is read through a counter: the bytes actually inflated (not the size its header claims) may
  not pass the entry's limit (:data:`ENTRY_LIMITS`), nor, above :data:`RATIO_FREE_BYTES`, :data:`MAX_RATIO`
  times the compressed bytes it came from;
* CSV is read a line at a time, each line at most :data:`MAX_CSV_LINE_CHARS` characters;
* ``manifest.json`` is parsed as a stream (ijson): :func:`read_manifest` builds everything but
  ``chain.blocks``, which :meth:`Manifest.blocks` then yields one block at a time, so a month of minute
  blocks (25-90 MB of JSON) costs one block's memory; nesting is limited to :data:`MAX_JSON_DEPTH` and a
  key given twice in one object is rejected (which copy counts would be ambiguous).

The figures are far above what a real pack holds (see each constant) and keep ``watchdog verify`` of any
pack under 200 MB resident (measured in tests/security/test_malicious_packs.py).
"""

from __future__ import annotations

import io
import json
import re
import stat
import struct
import zipfile
import zlib
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ijson  # type: ignore[import-untyped]  # no stubs; used through basic_parse and ObjectBuilder

from watchdog.config import MAX_CONFIG_BYTES
from watchdog.errors import IntegrityError

# The zip file itself. A month at 30 s with a dozen targets is a 24 MB pack (README, SLA reports); 1 GiB is
# decades of that, and is only ever streamed (hashed), never held.
MAX_PACK_BYTES = 1 << 30
# A pack holds 11 files; room for a few more in later formats, not for an entry-count bomb.
MAX_ENTRIES = 64
# 64 entries of a central directory need about 64 × (46 + name + extras) bytes: 64 KiB is plenty.
MAX_CENTRAL_DIRECTORY_BYTES = 64 << 10
# Inflated bytes per compressed byte: real CSV and JSON in packs compress 3-6 : 1 (hashes and seals do not
# compress); 100 leaves room for very regular data, while a zip bomb runs at about 1000 : 1.
MAX_RATIO = 100
# Entries up to this size are not held to MAX_RATIO (a small, very regular file costs nothing).
RATIO_FREE_BYTES = 1 << 20
# The most any entry may inflate to, per name. results.csv is streamed row by row and only costs time (a
# month at 30 s of a dozen targets is ~150 MB). events.csv is streamed too, but collective keeps its rows:
# a month holds a few thousand events (a few MB). manifest.json is streamed (read_manifest): its blocks are
# checked one at a time and only the rest is held, so its size costs time, not memory. A month of 60-s blocks
# is 25-90 MB (more with many left-out streams); 256 MiB is a few months of them.
# contacts.csv and clock.csv are compared whole (a few KB in practice); config.yaml as the config loader
# reads it. Anything else (the summary, chart, outages) is only hashed.
ENTRY_LIMITS: dict[str, int] = {
    "results.csv": 1 << 30,
    "events.csv": 64 << 20,
    "manifest.json": 256 << 20,
    "contacts.csv": 8 << 20,
    "clock.csv": 8 << 20,
    "config.yaml": MAX_CONFIG_BYTES,
    "environment.json": 1 << 20,
}
DEFAULT_ENTRY_LIMIT = 64 << 20
# One CSV line (one row, unless a quoted cell holds a newline). The longest real cells are agent_start
# events listing every target id (60 KB for 10,000 targets); csv's own cell limit is 131,072 characters.
MAX_CSV_LINE_CHARS = 1 << 20

_EOCD = b"PK\x05\x06"
_EOCD_SIZE = 22
_DRIVE = re.compile(r"^[A-Za-z]:")
_SUPPORTED = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflated"}


class PackRejected(IntegrityError):
    """The pack cannot be read safely; ``reasons`` names each thing wrong (file first)."""

    def __init__(self, reasons: list[str]) -> None:
        self.reasons = list(reasons)
        super().__init__("; ".join(self.reasons))


def entry_limit(name: str) -> int:
    """The most ``name`` may inflate to."""
    return ENTRY_LIMITS.get(name, DEFAULT_ENTRY_LIMIT)


def open_pack(path: Path | str) -> zipfile.ZipFile:
    """Open a pack after the structural checks; PackRejected lists every problem found."""
    name = str(path)
    try:
        with open(path, "rb") as f:
            size = f.seek(0, io.SEEK_END)
            if size > MAX_PACK_BYTES:
                raise PackRejected([f"{name}: {size} bytes, more than the {MAX_PACK_BYTES} a pack may be"])
            tail_size = min(size, _EOCD_SIZE + 0xFFFF)
            f.seek(size - tail_size)
            tail = f.read(tail_size)
    except OSError as exc:
        raise PackRejected([f"{name}: not a readable zip file ({exc.strerror or exc})"]) from None
    at = tail.rfind(_EOCD)
    if at < 0 or len(tail) - at < _EOCD_SIZE:
        raise PackRejected([f"{name}: not a readable zip file (no end of central directory record)"])
    entries, cd_size = struct.unpack("<HI", tail[at + 10 : at + 16])
    if entries > MAX_ENTRIES:
        raise PackRejected([f"{name}: {entries} entries, more than the {MAX_ENTRIES} a pack may hold"])
    if cd_size > MAX_CENTRAL_DIRECTORY_BYTES:
        raise PackRejected([f"{name}: a central directory of {cd_size} bytes, more than {MAX_CENTRAL_DIRECTORY_BYTES}"])
    try:
        zf = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile, ValueError, EOFError) as exc:
        raise PackRejected([f"{name}: not a readable zip file ({exc})"]) from None
    problems = structure_problems(zf)
    if problems:
        zf.close()
        raise PackRejected(problems)
    return zf


def structure_problems(zf: zipfile.ZipFile) -> list[str]:
    """Every entry that is not a plain, unique, relative, readable file within its limits."""
    infos = zf.infolist()
    if len(infos) > MAX_ENTRIES:
        return [f"{len(infos)} entries, more than the {MAX_ENTRIES} a pack may hold"]
    problems = []
    seen: set[str] = set()
    for info in infos:
        name = info.filename
        shown = repr(name) if not name.isprintable() else name
        if name in seen:
            problems.append(f"{shown}: given twice in the zip (which copy counts would be ambiguous)")
            continue
        seen.add(name)
        parts = re.split(r"[/\\]", name)
        if not name or "\0" in name:
            problems.append(f"{shown}: an empty or NUL-containing entry name")
        elif name.startswith(("/", "\\")) or _DRIVE.match(name):
            problems.append(f"{shown}: an absolute path (entries must be plain file names)")
        elif ".." in parts:
            problems.append(f"{shown}: a path with '..' (entries must be plain file names)")
        elif kind := _special_kind(info):
            problems.append(f"{shown}: a {kind}, not a regular file")
        elif info.flag_bits & 0x1:
            problems.append(f"{shown}: encrypted (a pack is never encrypted)")
        elif info.compress_type not in _SUPPORTED:
            problems.append(f"{shown}: unsupported compression method {info.compress_type} (only stored, deflated)")
        elif info.file_size > entry_limit(name):
            problems.append(f"{shown}: declares {info.file_size} bytes, more than the {entry_limit(name)} allowed")
        elif info.file_size > RATIO_FREE_BYTES and info.file_size > MAX_RATIO * max(1, info.compress_size):
            problems.append(
                f"{shown}: declares a compression ratio over {MAX_RATIO}:1 "
                f"({info.file_size} bytes from {info.compress_size}): a zip bomb?"
            )
    return problems


def _special_kind(info: zipfile.ZipInfo) -> str | None:
    if info.is_dir():
        return "directory"
    if info.create_system == 3:  # Unix: the mode sits in the high 16 bits
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            return "symbolic link"
        if stat.S_IFMT(mode) not in (0, stat.S_IFREG):
            return f"non-regular entry (mode {mode:o})"
    return None


class _Bounded(io.RawIOBase):
    """An entry's bytes, counted as they are inflated; PackRejected past its limit or ratio."""

    def __init__(self, zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> None:
        super().__init__()
        self.name = info.filename
        self.limit = entry_limit(info.filename)
        self.compressed = max(1, info.compress_size)
        self.count = 0
        try:
            self.inner = zf.open(info)
        except (zipfile.BadZipFile, NotImplementedError, RuntimeError, OSError, ValueError) as exc:
            raise PackRejected([f"{self.name}: cannot be read from the zip ({exc})"]) from None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        try:
            data = self.inner.read(min(len(view), 1 << 20))
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as exc:
            raise PackRejected([f"{self.name}: cannot be read from the zip ({exc})"]) from None
        self.count += len(data)
        if self.count > self.limit:
            raise PackRejected([f"{self.name}: inflates to more than the {self.limit} bytes allowed"])
        if self.count > RATIO_FREE_BYTES and self.count > MAX_RATIO * self.compressed:
            raise PackRejected(
                [f"{self.name}: inflates more than {MAX_RATIO}:1 (over {self.count} bytes from {self.compressed})"]
            )
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self.inner.close()
        super().close()


def open_entry(zf: zipfile.ZipFile, name: str) -> io.BufferedReader:
    """A bounded binary stream of entry ``name``; KeyError when the pack lacks it."""
    return io.BufferedReader(_Bounded(zf, zf.getinfo(name)), buffer_size=1 << 16)


def read_entry(zf: zipfile.ZipFile, name: str) -> bytes:
    """All of entry ``name`` (within its limit); KeyError when the pack lacks it."""
    with open_entry(zf, name) as f:
        return f.read()


def read_json(zf: zipfile.ZipFile, name: str) -> Any:
    """Entry ``name`` as JSON; PackRejected when it is not JSON or nests too deeply to parse."""
    raw = read_entry(zf, name)
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise PackRejected([f"{name}: not UTF-8 ({exc.reason} at byte {exc.start})"]) from None
    except ValueError as exc:
        raise PackRejected([f"{name}: not valid JSON ({exc})"]) from None
    except RecursionError:
        raise PackRejected([f"{name}: nested too deeply to parse"]) from None


def csv_lines(zf: zipfile.ZipFile, name: str) -> Generator[str, None, None]:
    """Entry ``name`` as text lines for :func:`csv.reader`, each at most MAX_CSV_LINE_CHARS characters."""
    with io.TextIOWrapper(open_entry(zf, name), encoding="utf-8-sig", newline="") as text:
        number = 0
        while True:
            number += 1
            try:
                line = text.readline(MAX_CSV_LINE_CHARS + 1)
            except UnicodeDecodeError as exc:
                raise PackRejected([f"{name} line {number}: not UTF-8 ({exc.reason})"]) from None
            if not line:
                return
            if len(line) > MAX_CSV_LINE_CHARS:
                raise PackRejected([f"{name} line {number}: longer than {MAX_CSV_LINE_CHARS} characters"])
            yield line


# The deepest a real manifest nests is 5 (chain.blocks[i].omitted[sid][1]); the builder of a deeper one
# would hold a list per level.
MAX_JSON_DEPTH = 16
_BLOCKS_PATH = ["chain", "blocks"]
_OPEN = {"start_map": "end_map", "start_array": "end_array"}


@dataclass(frozen=True)
class Manifest:
    """manifest.json read as a stream: ``data`` is all of it but ``chain.blocks`` (an empty list there, when
    that is a list); :meth:`blocks` parses the blocks again, one at a time."""

    zf: zipfile.ZipFile
    data: Any

    def blocks(self) -> Iterator[Any]:
        """Each element of ``chain.blocks``, in order."""
        events = _json_events(self.zf, "manifest.json")
        try:
            for path, event, value in events:
                if event == "start_array" and path == _BLOCKS_PATH:
                    while True:
                        _, event, value = next(events)
                        if event == "end_array":
                            return
                        yield _build(event, value, events)
        finally:
            events.close()


def read_manifest(zf: zipfile.ZipFile) -> Manifest:
    """manifest.json, its blocks left to be streamed; KeyError when missing, PackRejected when not JSON."""
    zf.getinfo("manifest.json")
    events = _json_events(zf, "manifest.json")
    try:
        for path, event, value in events:
            if path:
                raise PackRejected(["manifest.json: not valid JSON (text after the value)"])
            data = _build(event, value, events, skip=_BLOCKS_PATH)
            for _ in events:
                raise PackRejected(["manifest.json: not valid JSON (more than one value)"])
            return Manifest(zf, data)
    finally:
        events.close()
    raise PackRejected(["manifest.json: not valid JSON (empty)"])


def _json_events(zf: zipfile.ZipFile, name: str) -> Generator[tuple[list[str], str, Any], None, None]:
    """``(path, event, value)`` of ``name``'s JSON; ``path``: the keys of the objects around the event (a list,
    shared and changed as the stream goes on: read, do not keep). Depth and duplicate keys are checked here."""
    path: list[str] = []
    keys: list[set[str] | None] = []
    with open_entry(zf, name) as f:
        try:
            for event, value in ijson.basic_parse(f, use_float=True):
                if event == "map_key":
                    seen = keys[-1]
                    assert seen is not None
                    if value in seen:
                        where = ".".join(path[:-1]) or "(top level)"
                        raise PackRejected([f"{name}: key {_short(value)} given twice in {where}"])
                    seen.add(value)
                    path[-1] = value
                    yield path, event, value
                    continue
                if event in _OPEN:
                    yield path, event, value
                    keys.append(set() if event == "start_map" else None)
                    if len(keys) > MAX_JSON_DEPTH:
                        raise PackRejected([f"{name}: nested too deeply to parse"])
                    if event == "start_map":
                        path.append("")
                    continue
                if event in ("end_map", "end_array"):
                    if keys.pop() is not None:
                        path.pop()
                yield path, event, value
        except ijson.JSONError as exc:
            raw = exc.args[0] if exc.args else ""
            text = (raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)).strip()
            first = text.splitlines()[0] if text else type(exc).__name__
            raise PackRejected([f"{name}: not valid JSON ({first[:100]})"]) from None
        except UnicodeDecodeError as exc:
            raise PackRejected([f"{name}: not UTF-8 ({exc.reason} at byte {exc.start})"]) from None


def _build(event: str, value: Any, events: Iterator[tuple[list[str], str, Any]], skip: list[str] | None = None) -> Any:
    """The value that starts with ``event`` (a scalar, or a whole object or list read from ``events``); the list
    at path ``skip`` is built empty (its elements are read past)."""
    if event not in _OPEN:
        return value
    builder = ijson.ObjectBuilder()
    builder.event(event, value)
    depth = 1
    for path, event, value in events:
        if skip is not None and event == "start_array" and path == skip:
            builder.event(event, value)
            inner = 1
            for _, ev, _ in events:
                inner += 1 if ev in _OPEN else -1 if ev in ("end_map", "end_array") else 0
                if inner == 0:
                    break
            builder.event("end_array", None)
            continue
        builder.event(event, value)
        depth += 1 if event in _OPEN else -1 if event in ("end_map", "end_array") else 0
        if depth == 0:
            return builder.value
    raise PackRejected(["manifest.json: not valid JSON (ends early)"])


_HEX64 = re.compile(r"[0-9a-f]{64}")


def manifest_problems(manifest: Any) -> list[str]:
    """What in ``manifest.json`` has the wrong type or shape (the checks after it then need no guarding)."""
    out: list[str] = []

    def want(ok: bool, where: str, what: str, value: Any) -> bool:
        if not ok and len(out) < 10:
            out.append(f"manifest.json: {where}: expected {what}, got {type(value).__name__} {_short(value)}")
        return ok

    def integer(value: Any, where: str) -> bool:
        return want(isinstance(value, int) and not isinstance(value, bool), where, "an integer", value)

    def digest(value: Any, where: str) -> bool:
        return want(isinstance(value, str) and bool(_HEX64.fullmatch(value)), where, "a SHA-256 in hex", value)

    if not want(isinstance(manifest, dict), "(top level)", "an object", manifest):
        return out
    for key in ("format", "provider"):
        want(isinstance(manifest.get(key), str), key, "a string", manifest.get(key))
    files = manifest.get("files")
    if want(isinstance(files, dict), "files", "an object", files):
        for name, meta in files.items():
            if want(isinstance(meta, dict), f"files.{name}", "an object", meta):
                digest(meta.get("sha256"), f"files.{name}.sha256")
    period = manifest.get("period")
    if want(isinstance(period, dict), "period", "an object", period):
        for key in ("label", "zone"):
            want(isinstance(period.get(key), str), f"period.{key}", "a string", period.get(key))
        for key in ("start_ns", "end_ns"):
            integer(period.get(key), f"period.{key}")
    chain = manifest.get("chain")
    if not want(isinstance(chain, dict), "chain", "an object", chain):
        return out
    want(isinstance(chain.get("journal_id"), str), "chain.journal_id", "a string", chain.get("journal_id"))
    streams = chain.get("included_streams")
    if want(isinstance(streams, list), "chain.included_streams", "a list", streams):
        for i, s in enumerate(streams):
            integer(s, f"chain.included_streams[{i}]")
    head = chain.get("head")
    if head is not None and want(isinstance(head, dict), "chain.head", "an object", head):
        digest(head.get("hash"), "chain.head.hash")
    prologue = chain.get("prologue", [])
    if want(isinstance(prologue, list), "chain.prologue", "a list", prologue):
        for i, row in enumerate(prologue):
            want(isinstance(row, list) and len(row) == 7, f"chain.prologue[{i}]", "a row of 7 values", row)
    blocks = chain.get("blocks")
    if not want(isinstance(blocks, list), "chain.blocks", "a list", blocks):
        return out
    for i, b in enumerate(blocks):
        out += block_problems(b, i)[: 10 - len(out)]
        if len(out) >= 10:
            break
    return out


def block_problems(b: Any, i: int) -> list[str]:
    """What in block ``i`` of ``chain.blocks`` has the wrong type or shape (checked as the blocks stream)."""
    out: list[str] = []

    def want(ok: bool, where: str, what: str, value: Any) -> bool:
        if not ok and len(out) < 10:
            out.append(f"manifest.json: {where}: expected {what}, got {type(value).__name__} {_short(value)}")
        return ok

    def integer(value: Any, where: str) -> bool:
        return want(isinstance(value, int) and not isinstance(value, bool), where, "an integer", value)

    def digest(value: Any, where: str) -> bool:
        return want(isinstance(value, str) and bool(_HEX64.fullmatch(value)), where, "a SHA-256 in hex", value)

    where = f"chain.blocks[{i}]"
    if not want(isinstance(b, dict), where, "an object", b):
        return out
    for key in ("no", "first_seq", "last_seq"):
        integer(b.get(key), f"{where}.{key}")
    for key in ("prev_hash", "hash"):
        digest(b.get(key), f"{where}.{key}")
    omitted = b.get("omitted")
    if want(isinstance(omitted, dict), f"{where}.omitted", "an object", omitted):
        for sid, pair in omitted.items():
            at = f"{where}.omitted.{sid}"
            want(sid.isdigit(), at, "a stream number as the key", sid)
            if want(isinstance(pair, list) and len(pair) == 2, at, "[count, SHA-256]", pair):
                integer(pair[0], f"{at}[0]")
                digest(pair[1], f"{at}[1]")
    return out


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
