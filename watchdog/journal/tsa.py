"""Trusted timestamps (RFC 3161) of the chain head: what is stamped, and checking a token offline.

What a Time-Stamp Authority signs is the SHA-256 of one line of text, the *statement*::

    outage-watchdog journal <journal_id> block <no> rows 1..<last_seq> head <block hash hex>\\n

so a token binds the TSA's time to one chained head, and through the chain to every row up to
``last_seq``: those rows existed no later than the token's ``genTime``. Anyone can check a token without
this program: write the statement to a file and run ``openssl ts -verify -data statement.txt -in
token.tsr -CAfile tsa-ca.pem``.

The agent journals every token it gets as a chained ``timestamp`` event (the TSA's DER ``TimeStampResp``
in base64, the head it names) and the TSA's CA certificate once as a ``timestamp_ca`` event. Requests and
responses are built and parsed by Trail of Bits' ``rfc3161-client`` (it does no networking); the
signature, the certificate chain up to the CA, the ``timeStamping`` key usage, the nonce and the imprint
are all checked by its verifier.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import rfc3161_client
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from watchdog.errors import WatchdogError

EV_TIMESTAMP = "timestamp"  # a token for a chained head
EV_TIMESTAMP_CA = "timestamp_ca"  # a TSA's CA certificate(s), journaled once per journal
NS = 1_000_000_000


class TokenError(WatchdogError):
    """A timestamp token does not prove what it claims (forged, for another head, or not from the named TSA)."""


def statement(journal_id: str, block: int, last_seq: int, head_hex: str) -> bytes:
    """The text whose SHA-256 a TSA signs for one chained head."""
    return f"outage-watchdog journal {journal_id} block {block} rows 1..{last_seq} head {head_hex.lower()}\n".encode()


def cert_sha256(cert: x509.Certificate) -> str:
    """The SHA-256 fingerprint (hex) of a certificate's DER form."""
    return hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest()


def load_ca(pem: bytes, where: str) -> list[x509.Certificate]:
    """The certificates of a PEM file (a TSA's root CA and intermediates); TokenError names ``where``."""
    try:
        certs = x509.load_pem_x509_certificates(pem)
    except ValueError as exc:
        raise TokenError(f"{where}: not a PEM certificate file ({exc})") from None
    if not certs:
        raise TokenError(f"{where}: holds no certificate")
    return certs


def ca_sha256(certs: Sequence[x509.Certificate]) -> str:
    """One fingerprint for a CA file: SHA-256 over its certificates' fingerprints (a single root: its own)."""
    if len(certs) == 1:
        return cert_sha256(certs[0])
    return hashlib.sha256("".join(cert_sha256(c) for c in certs).encode()).hexdigest()


def ca_pem(certs: Iterable[x509.Certificate]) -> str:
    """The certificates as one PEM text."""
    return "".join(c.public_bytes(Encoding.PEM).decode() for c in certs)


@dataclass(frozen=True)
class TokenFacts:
    """What a verified token says."""

    gen_time_ns: int
    serial: str
    tsa_subject: str  # the signing certificate's subject
    tsa_cert_sha256: str
    policy: str
    accuracy_s: float | None


def _short(exc: Exception) -> str:
    text = str(exc)
    if "ErrorStack" in text:
        m = re.search(r'reason: "([^"]+)"', text)
        reason = m.group(1) if m else "signature check failed"
        data = re.search(r'data: "([^"]+)"', text)
        return f"{text.split(':', 1)[0]}: {reason}" + (f" ({data.group(1)})" if data else "")
    return text


def build_request(message: bytes) -> rfc3161_client.TimeStampRequest:
    """A SHA-256 request for ``message`` with a random nonce, asking for the TSA's certificate."""
    return (
        rfc3161_client.TimestampRequestBuilder()
        .data(message)
        .hash_algorithm(rfc3161_client.HashAlgorithm.SHA256)
        .nonce(nonce=True)
        .cert_request(cert_request=True)
        .build()
    )


def check_token(
    response_der: bytes,
    message: bytes,
    roots: Sequence[x509.Certificate],
    *,
    request: rfc3161_client.TimeStampRequest | None = None,
) -> TokenFacts:
    """Verify a DER ``TimeStampResp`` for ``message`` against the CA ``roots``; raise TokenError saying why not.

    With ``request`` (the agent, at receipt) the nonce must match too; offline the nonce is not known.
    """
    try:
        response = rfc3161_client.decode_timestamp_response(response_der)
    except Exception as exc:  # the Rust parser raises its own exception types
        raise TokenError(f"not a timestamp response ({_short(exc)})") from None
    if response.status not in (0, 1):
        detail = "; ".join(response.status_string) if response.status_string else ""
        raise TokenError(f"the TSA refused the request (PKIStatus {response.status}{': ' + detail if detail else ''})")
    if not roots:
        raise TokenError("no CA certificate to check the token against")
    builder = rfc3161_client.VerifierBuilder()
    if request is not None:
        builder = rfc3161_client.VerifierBuilder.from_request(request)
    for cert in roots:
        if cert.subject == cert.issuer:
            builder = builder.add_root_certificate(cert)
        else:
            builder = builder.add_intermediate_certificate(cert)
    try:
        builder.build().verify_message(response, message)
    except rfc3161_client.VerificationError as exc:
        reason = _short(exc)
        if reason == "Mismatch between messages":
            reason = "the token is for another hash than this head's statement"
        raise TokenError(reason) from None
    except ValueError as exc:
        raise TokenError(_short(exc)) from None
    info = response.tst_info
    signer = _signer(response)
    accuracy = None
    try:
        acc = info.accuracy
        accuracy = acc.seconds + (acc.millis or 0) / 1e3 + (acc.micros or 0) / 1e6
    except Exception:  # no accuracy field
        accuracy = None
    gen = info.gen_time
    if gen.tzinfo is None:
        gen = gen.replace(tzinfo=dt.UTC)
    return TokenFacts(
        gen_time_ns=int(gen.timestamp()) * NS + gen.microsecond * 1000,
        serial=str(info.serial_number),
        tsa_subject=signer.subject.rfc4514_string() if signer is not None else "",
        tsa_cert_sha256=cert_sha256(signer) if signer is not None else "",
        policy=info.policy.dotted_string,
        accuracy_s=accuracy,
    )


def _signer(response: rfc3161_client.TimeStampResponse) -> x509.Certificate | None:
    infos = list(response.signed_data.signer_infos)
    for der in response.signed_data.certificates:
        cert = x509.load_der_x509_certificate(der)
        if infos and cert.issuer == infos[0].issuer and cert.serial_number == infos[0].serial_number:
            return cert
    return None


# ------------------------------------------------------------------------------- journal events


def token_event(
    tsa: str,
    journal_id: str,
    head: tuple[int, int, str],
    response_der: bytes,
    facts: TokenFacts,
    ca_fingerprint: str,
    queued_ns: int,
    reasons: Sequence[str],
) -> dict[str, Any]:
    """The data of a ``timestamp`` event."""
    block, last_seq, head_hex = head
    return {
        "tsa": tsa,
        "block": block,
        "last_seq": last_seq,
        "head": head_hex,
        "imprint": hashlib.sha256(statement(journal_id, block, last_seq, head_hex)).hexdigest(),
        "gen_time_ns": facts.gen_time_ns,
        "accuracy_s": facts.accuracy_s,
        "serial": facts.serial,
        "policy": facts.policy,
        "tsa_subject": facts.tsa_subject,
        "tsa_cert_sha256": facts.tsa_cert_sha256,
        "ca_sha256": ca_fingerprint,
        "queued_ns": queued_ns,
        "reasons": sorted(set(reasons)),
        "token": base64.b64encode(response_der).decode(),
    }


@dataclass(frozen=True)
class StampCheck:
    """One journaled token, checked: ``problem`` is None when it proves its claim."""

    seq: int
    tsa: str
    block: int
    last_seq: int
    gen_time_ns: int
    ca_sha256: str
    problem: str | None

    def claim(self) -> str:
        """The sentence verify prints."""
        when = dt.datetime.fromtimestamp(self.gen_time_ns / NS, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return f"rows up to seq {self.last_seq} existed no later than {when} (TSA {self.tsa})"

    def as_dict(self) -> dict[str, Any]:
        """Plain data for ``--json``."""
        return {
            "seq": self.seq,
            "tsa": self.tsa,
            "block": self.block,
            "last_seq": self.last_seq,
            "gen_time_ns": self.gen_time_ns,
            "ca_sha256": self.ca_sha256,
            "ok": self.problem is None,
            "problem": self.problem,
        }


def check_stamps(
    journal_id: str,
    heads: dict[int, tuple[int, str]],
    events: Iterable[tuple[int, str, dict[str, Any]]],
    pinned: Sequence[x509.Certificate] | None = None,
) -> list[StampCheck]:
    """Check journaled tokens offline: each against the chained head it names and the CA it names.

    ``heads``: block no → (last_seq, hash hex) of the verified chain; ``events``: (seq, type, data) of the
    ``timestamp`` and ``timestamp_ca`` events in seq order. ``pinned``: CA certificates the verifier
    trusts (``--tsa-ca``); without them a token is checked against the CA the journal itself carries,
    which proves the token is genuine only once that CA's fingerprint is compared with the TSA's own.
    """
    cas: dict[str, list[x509.Certificate]] = {}
    out: list[StampCheck] = []
    pinned_fp = {cert_sha256(c) for c in pinned} if pinned is not None else None
    for seq, type_, data in events:
        if type_ == EV_TIMESTAMP_CA:
            try:
                certs = load_ca(str(data.get("pem", "")).encode(), f"events row seq={seq}")
            except TokenError:
                continue
            cas[str(data.get("sha256"))] = certs
            continue
        tsa = str(data.get("tsa", "?"))
        block, last_seq = int(data.get("block", 0)), int(data.get("last_seq", 0))
        head_hex = str(data.get("head", ""))
        ca_fp = str(data.get("ca_sha256", ""))
        gen = int(data.get("gen_time_ns", 0))

        def fail(problem: str) -> None:
            out.append(StampCheck(seq, tsa, block, last_seq, gen, ca_fp, problem))  # noqa: B023

        chained = heads.get(block)
        if chained is None:
            fail(f"names block {block}, which the chain does not hold")
            continue
        if chained != (last_seq, head_hex):
            fail(f"names head {head_hex[:16]}… of block {block}, but the chain's block {block} is {chained[1][:16]}…")
            continue
        if pinned is not None:
            roots = list(pinned)
        else:
            roots = cas.get(ca_fp, [])
            if not roots:
                fail(f"the CA certificate {ca_fp[:16]}… it names is not in the journal")
                continue
            if ca_sha256(roots) != ca_fp:
                fail("the journaled CA certificate does not match its fingerprint")
                continue
        try:
            der = base64.b64decode(str(data.get("token", "")), validate=True)
        except ValueError:
            fail("the token is not base64")
            continue
        try:
            facts = check_token(der, statement(journal_id, block, last_seq, head_hex), roots)
        except TokenError as exc:
            where = "the pinned CA (--tsa-ca)" if pinned_fp is not None else f"CA {ca_fp[:16]}…"
            fail(f"does not verify against {where}: {exc}")
            continue
        if facts.gen_time_ns != gen:
            fail("the journaled gen_time does not match the token's")
            continue
        out.append(StampCheck(seq, tsa, block, last_seq, facts.gen_time_ns, ca_fp, None))
    return out


def newest_stamp(
    conn: Any, journal_id: str, *, until_ns: int | None = None, tsa: str | None = None
) -> StampCheck | None:
    """The newest journaled token (written up to ``until_ns``, from ``tsa`` when given) that verifies against
    its block and CA, or None.

    For reports and the status page: the strongest outside proof, checked here (a few ms), never trusted blind.
    """
    sql = "SELECT seq, data FROM events WHERE type = ?"
    params: tuple[Any, ...] = (EV_TIMESTAMP,)
    if until_ns is not None:
        sql, params = sql + " AND ts_ns <= ?", (*params, until_ns)
    if tsa is not None:
        sql, params = sql + " AND json_extract(data, '$.tsa') = ?", (*params, tsa)
    rows = conn.execute(sql + " ORDER BY seq DESC LIMIT 5", params).fetchall()
    cas = [
        (int(seq), EV_TIMESTAMP_CA, json.loads(data))
        for seq, data in conn.execute("SELECT seq, data FROM events WHERE type = ?", (EV_TIMESTAMP_CA,))
    ]
    for seq, text in rows:
        data = json.loads(text)
        block = conn.execute("SELECT last_seq, hash FROM blocks WHERE no = ?", (int(data.get("block", 0)),)).fetchone()
        if block is None:
            continue
        heads = {int(data["block"]): (int(block[0]), bytes(block[1]).hex())}
        checks = check_stamps(journal_id, heads, [*cas, (int(seq), EV_TIMESTAMP, data)])
        if checks and checks[-1].problem is None:
            return checks[-1]
    return None


def check_stamp_rows(conn: Any, journal_id: str, seqs: Sequence[int]) -> list[StampCheck]:
    """Check the journaled tokens at ``seqs`` against the block each names (as the journal holds it) and the
    journal's CA certificates, as ``watchdog verify --journal`` does minus the chain (a few ms a token).

    For a cache that checks each token once (the status page): a token row never changes once chained.
    """
    if not seqs:
        return []
    wanted = sorted(set(seqs))
    rows = conn.execute(
        f"SELECT seq, type, data FROM events WHERE type = ? AND seq IN ({','.join('?' * len(wanted))})",
        (EV_TIMESTAMP, *wanted),
    ).fetchall()
    rows += conn.execute("SELECT seq, type, data FROM events WHERE type = ?", (EV_TIMESTAMP_CA,)).fetchall()
    numbers = sorted({int(json.loads(d).get("block", 0)) for _, t, d in rows if t == EV_TIMESTAMP})
    blocks = {
        int(no): (int(last), bytes(h).hex())
        for no, last, h in conn.execute(
            f"SELECT no, last_seq, hash FROM blocks WHERE no IN ({','.join('?' * len(numbers))})", numbers
        )
    }
    events = sorted((int(seq), str(t), json.loads(d)) for seq, t, d in rows)
    return check_stamps(journal_id, blocks, events)


def stamp_status(conn: Any, names: Sequence[str]) -> list[dict[str, Any]]:
    """Per TSA (configured ones, and any the journal has tokens from): the newest token and the queue."""
    newest: dict[str, tuple[int, int]] = {}
    # each TSA's last token in seq order, picked by SQLite (a year of hourly tokens: ~9,000 rows of 2 kB each)
    for tsa, gen, last_seq in conn.execute(
        "SELECT json_extract(data, '$.tsa'), json_extract(data, '$.gen_time_ns'), json_extract(data, '$.last_seq') "
        "FROM events WHERE seq IN (SELECT max(seq) FROM events WHERE type = ? GROUP BY json_extract(data, '$.tsa'))",
        (EV_TIMESTAMP,),
    ):
        newest[str(tsa)] = (int(gen or 0), int(last_seq or 0))
    queued: dict[str, tuple[int, int, int, str | None]] = {}
    has_queue = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'timestamp_queue'").fetchone()
    if has_queue is not None:
        for tsa, count, since, attempts, error in conn.execute(
            "SELECT tsa, count(*), min(queued_ns), max(attempts), max(error) FROM timestamp_queue GROUP BY tsa"
        ):
            queued[str(tsa)] = (int(count), int(since), int(attempts), error)
    out = []
    for name in [*names, *sorted(set(newest) - set(names))]:
        gen, rows = newest.get(name, (None, None))
        count, since, attempts, error = queued.get(name, (0, None, 0, None))
        out.append(
            {
                "tsa": name,
                "configured": name in names,
                "last_token_ns": gen,
                "last_rows_up_to": rows,
                "queued": count,
                "queued_since_ns": since,
                "attempts": attempts,
                "error": error,
            }
        )
    return out
