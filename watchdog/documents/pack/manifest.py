"""manifest.json: the pack's format and file order, the SHA-256 and size of every file, and the manifest itself."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from watchdog import __version__

if TYPE_CHECKING:
    from watchdog.documents.report import Report
    from watchdog.documents.sharing import SharedIdentity

PACK_FORMAT = "outage-watchdog-pack/1"
FILE_ORDER = (
    "summary.html",
    "summary.pdf",
    "outages.csv",
    "results.csv",
    "events.csv",
    "contacts.csv",
    "clock.csv",
    "timeline.png",
    "config.yaml",
    "environment.json",
    "timestamps.json",  # RFC 3161 tokens for the segment (documents.pack.timestamps), when the journal has any
    "manifest.json",
)


def json_bytes(data: Any) -> bytes:
    """A JSON file of the pack: UTF-8, indented, keys sorted, a final newline."""
    return (json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode("utf-8")


def file_sha256(content: bytes | Path) -> str:
    """The SHA-256 (hex) of a file's content, given as bytes or as the path of a file written aside."""
    h = hashlib.sha256()
    if isinstance(content, bytes):
        h.update(content)
    else:
        with open(content, "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
    return h.hexdigest()


def file_size(content: bytes | Path) -> int:
    """The size in bytes of a file's content, given as bytes or as a path."""
    return len(content) if isinstance(content, bytes) else content.stat().st_size


def manifest_bytes(
    report: Report,
    agent: str,
    provider_id: str,
    files: Mapping[str, bytes | Path],
    hashes: Mapping[str, str],
    chain: dict[str, Any],
    share: SharedIdentity | None,
    lang: str = "en",
) -> bytes:
    """manifest.json: who made the pack of what, every other file's hash and size, and the chain segment."""
    per = report.period
    manifest = {
        "format": PACK_FORMAT,
        "made_with": f"outage-watchdog {__version__}",
        "agent": agent,
        "provider": provider_id,
        "period": {"label": per.label, "start_ns": per.start_ns, "end_ns": per.end_ns, "zone": per.zone},
        "as_of_ns": report.as_of_ns,
        # what verify needs to rebuild the summary (the rest is in config.yaml and the period); packs made
        # before it was added lack it, and their derived files are then only hashed
        "lang": lang,
        "files": {
            name: {"sha256": hashes[name], "bytes": file_size(files[name])} for name in FILE_ORDER if name in files
        },
        "chain": chain,
    }
    if share is not None:
        manifest["share"] = {**share.as_dict(), "provider": share.providers[provider_id]}
    return json_bytes(manifest)
