"""``timestamps.json`` in an evidence pack: the RFC 3161 tokens for the pack's chain segment, and their CAs.

The agent journals every token as a ``timestamp`` event (:mod:`watchdog.journal.tsa`). A token names a
block; the pack carries every token whose block is in its own chain segment — wherever in the journal
the token itself was written, usually in a later block — together with the statement the TSA signed
and the TSA's CA certificate, so the pack proves on its own that its rows existed no later than the
token's time. The file::

    {"format": "outage-watchdog-timestamps/1",
     "tokens": [{"tsa", "block", "last_seq", "head", "statement", "gen_time_ns", "ca_sha256",
                 "journal_seq", "token" (base64 DER TimeStampResp)}, ...],
     "cas": {"<sha256>": {"tsa", "pem"}}}

``watchdog verify PACK.zip`` checks each token against the block hash the pack's chain reproduces (and
``--tsa-ca`` pins the CA). Without this program: ``jq -r '.tokens[0].statement' timestamps.json >
s.txt; jq -r '.tokens[0].token' timestamps.json | base64 -d > t.tsr; openssl ts -verify -data s.txt
-in t.tsr -CAfile ca.pem`` (the CA from ``cas``).

Hooks: :func:`timestamps_file` is called by the builder, :func:`check_pack_timestamps` by the verifier
once the chain segment verified.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from watchdog.documents.pack.manifest import json_bytes
from watchdog.journal.tsa import EV_TIMESTAMP, EV_TIMESTAMP_CA, StampCheck, check_stamps, statement

if TYPE_CHECKING:
    from cryptography import x509

NAME = "timestamps.json"
FORMAT = "outage-watchdog-timestamps/1"
MAX_TOKENS = 20_000  # a year of hourly tokens from two TSAs; a pack never needs more


def timestamps_file(conn: sqlite3.Connection, journal_id: str, chain_blocks: Sequence[dict[str, Any]]) -> bytes | None:
    """The file for a pack whose chain segment is ``chain_blocks`` (None when no token names one of them)."""
    if not chain_blocks:
        return None
    first, last = int(chain_blocks[0]["no"]), int(chain_blocks[-1]["no"])
    tokens: list[dict[str, Any]] = []
    used: set[str] = set()
    rows = conn.execute(
        "SELECT seq, data FROM events WHERE type = ? AND json_extract(data, '$.block') BETWEEN ? AND ? "
        "ORDER BY seq LIMIT ?",
        (EV_TIMESTAMP, first, last, MAX_TOKENS),
    )
    for seq, text in rows:
        d = json.loads(text)
        tokens.append(
            {
                "journal_seq": int(seq),
                "tsa": d["tsa"],
                "block": d["block"],
                "last_seq": d["last_seq"],
                "head": d["head"],
                "statement": statement(journal_id, d["block"], d["last_seq"], d["head"]).decode(),
                "gen_time_ns": d["gen_time_ns"],
                "ca_sha256": d["ca_sha256"],
                "token": d["token"],
            }
        )
        used.add(str(d["ca_sha256"]))
    if not tokens:
        return None
    cas: dict[str, dict[str, str]] = {}
    for (text,) in conn.execute("SELECT data FROM events WHERE type = ? ORDER BY seq", (EV_TIMESTAMP_CA,)):
        d = json.loads(text)
        if d.get("sha256") in used:
            cas[str(d["sha256"])] = {"tsa": str(d["tsa"]), "pem": str(d["pem"])}
    return json_bytes({"format": FORMAT, "journal_id": journal_id, "tokens": tokens, "cas": cas})


def check_pack_timestamps(
    data: dict[str, Any], chain: dict[str, Any], pinned: Sequence[x509.Certificate] | None = None
) -> list[StampCheck]:
    """Check ``timestamps.json`` (parsed) against the pack's verified chain section; StampChecks as verify gives.

    A token must name a block of the segment with its exact hash, be signed for that block's statement,
    and chain to the CA it names (or to ``pinned``).
    """
    if data.get("format") != FORMAT:
        return [StampCheck(0, "?", 0, 0, 0, "", f"{NAME}: unknown format {data.get('format')!r}")]
    heads = {int(b["no"]): (int(b["last_seq"]), str(b["hash"])) for b in chain.get("blocks", [])}
    events: list[tuple[int, str, dict[str, Any]]] = [
        (0, EV_TIMESTAMP_CA, {"sha256": fp, "tsa": ca.get("tsa"), "pem": ca.get("pem")})
        for fp, ca in sorted(dict(data.get("cas", {})).items())
    ]
    for token in data.get("tokens", []):
        events.append((int(token.get("journal_seq", 0)), EV_TIMESTAMP, dict(token)))
    checks = check_stamps(str(chain.get("journal_id", "")), heads, events, pinned)
    written = {int(t.get("journal_seq", 0)): str(t.get("statement", "")) for t in data.get("tokens", [])}
    out = []
    for c in checks:
        if c.problem is None and c.seq in written:
            head = heads[c.block][1]
            expected = statement(str(chain.get("journal_id", "")), c.block, c.last_seq, head).decode()
            if written[c.seq] != expected:
                c = StampCheck(
                    c.seq, c.tsa, c.block, c.last_seq, c.gen_time_ns, c.ca_sha256, "its statement was changed"
                )
        out.append(c)
    return out


def pack_problems(checks: Sequence[StampCheck]) -> list[str]:
    """One line per token that does not prove its claim."""
    return [
        f"{NAME}: the token of TSA {c.tsa} for block {c.block} (journal events row seq={c.seq}) {c.problem}"
        for c in checks
        if c.problem is not None
    ]
