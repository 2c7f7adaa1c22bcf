"""The hash chain: row hashes, per-stream digests, block seals and the genesis hash (pure functions).

A row hash is ``SHA-256`` of the row's canonical form: compact JSON (``separators=(",", ":")``,
``ensure_ascii=False``, UTF-8) of ``["result", seq, target, ts_ns, latency_us, failure, detail,
metrics]`` or ``["event", seq, ts_ns, type, target, ref, data]``. Anyone can recompute it with the
standard library; see ``verify_journal``.

A block covers a contiguous range of ``seq``. Its rows are grouped into *streams* — one per target for
results (stream id = target id), stream 0 for events — and ``hash = SHA-256("OWJ1" || prev_hash || no ||
first_seq || last_seq || for each stream in id order: stream_id || row_count || SHA-256(its row hashes in
seq order))`` (integers as 8-byte big-endian). A block also keeps the first 4 bytes of every row hash in
seq order, so ``verify`` can name the first bad row. Streams let an evidence pack prove its own rows with
only a stream digest for every row it leaves out. The first ``prev_hash`` is
``SHA-256("outage-watchdog journal " || journal_id)``.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Callable, Iterable, Mapping

GENESIS_LABEL = b"outage-watchdog journal "
BLOCK_LABEL = b"OWJ1"


def result_row_hash(
    seq: int,
    target: int,
    ts_ns: int,
    latency_us: int | None,
    failure: str | None,
    detail: str | None,
    metrics: str | None,
) -> bytes:
    """SHA-256 of a results row's canonical form."""
    if (
        type(seq) is int
        and type(target) is int
        and type(ts_ns) is int
        and (latency_us is None or type(latency_us) is int)
        and (failure is None or type(failure) is str)
        and (detail is None or type(detail) is str)
        and (metrics is None or type(metrics) is str)
    ):
        # what json.dumps writes for these types (int repr, the C string encoder, null), without its encoder per
        # row: the seal and every verify hash every row (tests/journal/test_journal.py holds both equal)
        canon_text = (
            f'["result",{seq},{target},{ts_ns},{"null" if latency_us is None else latency_us},'
            f"{'null' if failure is None else json_string(failure)},"
            f"{'null' if detail is None else json_string(detail)},"
            f"{'null' if metrics is None else json_string(metrics)}]"
        )
        return hashlib.sha256(canon_text.encode()).digest()
    canon = ["result", seq, target, ts_ns, latency_us, failure, detail, metrics]
    return hashlib.sha256(json.dumps(canon, ensure_ascii=False, separators=(",", ":")).encode()).digest()


json_string = json.encoder.encode_basestring  # json.dumps(text, ensure_ascii=False) (the C encoder when present)


def event_row_hash(seq: int, ts_ns: int, type_: str, target: int | None, ref: int | None, data: str) -> bytes:
    """SHA-256 of an events row's canonical form."""
    canon = ["event", seq, ts_ns, type_, target, ref, data]
    return hashlib.sha256(json.dumps(canon, ensure_ascii=False, separators=(",", ":")).encode()).digest()


EVENTS_STREAM = 0


STREAMS_RUN = 128  # streams digested between ``pause`` calls in stream_digests (~0.1-0.2 ms of work)


def stream_digests(
    rows: Iterable[tuple[int, bytes]], pause: Callable[[], object] | None = None
) -> dict[int, tuple[int, bytes]]:
    """``(stream, row_hash)`` in seq order → ``{stream: (row_count, SHA-256 of its row hashes)}``.

    Each stream's hashes are joined and hashed at once (the same digest as feeding them one by one). ``pause`` is
    called every ``STREAMS_RUN`` streams: a block of 1,000 ICMP targets holds 1,000 streams, ~1.5-3 ms of work in one
    piece, and the agent's writer thread must give the interpreter back to a probe tick that comes due meanwhile.
    """
    groups: dict[int, list[bytes]] = {}
    for stream, row_hash in rows:
        group = groups.get(stream)
        if group is None:
            groups[stream] = [row_hash]
        else:
            group.append(row_hash)
    digests = {}
    for n, (stream, hashes) in enumerate(groups.items()):
        if pause is not None and n % STREAMS_RUN == 0:
            pause()
        digests[stream] = (len(hashes), hashlib.sha256(b"".join(hashes)).digest())
    return digests


def block_hash(
    prev_hash: bytes, no: int, first_seq: int, last_seq: int, streams: Mapping[int, tuple[int, bytes]]
) -> bytes:
    """The seal over a contiguous run of rows, from each stream's row count and digest."""
    h = hashlib.sha256(BLOCK_LABEL + prev_hash + struct.pack(">QQQ", no, first_seq, last_seq))
    for stream in sorted(streams):
        count, digest = streams[stream]
        h.update(struct.pack(">QQ", stream, count) + digest)
    return h.digest()


def genesis_hash(journal_id: str) -> bytes:
    """The ``prev_hash`` of block 1."""
    return hashlib.sha256(GENESIS_LABEL + journal_id.encode()).digest()
