"""A complaint with its evidence: the pack first (built, or an existing one verified), then the letter fed from it.

The letter states what its attachments show, so everything it takes from the evidence comes out of the
verified pack itself: the SHA-256 of every file and of ``manifest.json``, the contact log (the chained
``contact`` events of ``events.csv``, so a rule that counts from the fault report — Ofcom, TKG — gets its
start), the clock statement (the period's worst NTP offset from ``environment.json``) and the "as of"
time the figures are computed at. A letter and its pack therefore always agree, whether the pack was
written beside the letter a moment ago or given with ``--pack``.

Errors (:class:`ClaimError`) name the file and what is wrong with it.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import math
import os
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from watchdog.analysis.sla import Period, parse_period
from watchdog.config import Config
from watchdog.documents.compensation.values import ContactEntry
from watchdog.documents.letter.build import build_letter
from watchdog.documents.letter.rendering import write
from watchdog.documents.letter.request import LetterRequest, PackRef
from watchdog.documents.letter.views import Letter
from watchdog.documents.pack.csvfiles import EVENT_COLUMNS, event_canon
from watchdog.documents.pack.manifest import FILE_ORDER
from watchdog.documents.pack.verify import verify_pack
from watchdog.documents.words import Lang, LetterError
from watchdog.errors import NothingToClaim, WatchdogError
from watchdog.journal.contacts import EV_CONTACT, Contact, from_event, list_contacts
from watchdog.journal.store import Journal
from watchdog.model import NS

# the order the letter lists the pack's files in: the summary a person reads first, the raw data after it
LETTER_ORDER = ("summary.pdf", "summary.html", *(n for n in FILE_ORDER if not n.startswith(("summary.", "manifest."))))


class ClaimError(WatchdogError):
    """The evidence pack cannot be used for this letter (it does not verify, or is for something else)."""


@dataclass(frozen=True)
class PackFacts:
    """What a verified evidence pack tells the letter."""

    path: Path
    provider: str
    period: str
    start_ns: int
    end_ns: int
    as_of_ns: int
    journal_id: str
    ref: PackRef
    manifest_sha256: str
    contacts: tuple[ContactEntry, ...]
    clock_offset_ms: float | None
    clock_samples: int
    clock_servers: tuple[str, ...]
    head: str = ""  # the journal head the pack was made at: "block:last_seq:hash"


@dataclass(frozen=True)
class Complaint:
    """A written letter and the pack it lists."""

    letter: Letter
    path: Path
    pack: PackFacts
    pack_built: bool
    pack_reused: bool = False  # an earlier pack of the same period and journal head, kept as it was


def pack_path_for(letter_path: Path) -> Path:
    """Where the pack of a letter goes when none is given: ``complaint.pdf`` → ``complaint-evidence.zip``."""
    return letter_path.with_name(f"{letter_path.stem}-evidence.zip")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def read_pack(path: Path) -> PackFacts:
    """Verify the pack with :func:`watchdog.documents.pack.verify.verify_pack`; read what the letter needs from it."""
    verdict = verify_pack(path)
    if not verdict.ok:
        raise ClaimError(f"{path} does not verify: " + "; ".join(verdict.problems[:5]))
    with zipfile.ZipFile(path) as zf:
        raw_manifest = zf.read("manifest.json")
        manifest = json.loads(raw_manifest.decode("utf-8"))
        environment = json.loads(zf.read("environment.json").decode("utf-8"))
        events = zf.read("events.csv").decode("utf-8-sig")
    period = manifest["period"]
    start_ns, end_ns = int(period["start_ns"]), int(period["end_ns"])
    provider = str(manifest["provider"])
    listed = manifest["files"]
    files = tuple((name, str(listed[name]["sha256"])) for name in LETTER_ORDER if name in listed)
    files += tuple((name, str(listed[name]["sha256"])) for name in sorted(listed) if name not in LETTER_ORDER)
    contacts = []
    reader = csv.reader(io.StringIO(events, newline=""))
    header = next(reader, None)
    if header is None or tuple(header) != EVENT_COLUMNS:
        raise ClaimError(f"{path}: events.csv has an unexpected header")
    for cells in reader:
        seq, ts, type_, _target, _ref, data = event_canon(cells[3:9])
        if type_ != EV_CONTACT:
            continue
        c = from_event(seq, ts, json.loads(data))
        if c.provider == provider and start_ns <= c.at_ns < end_ns:
            contacts.append(entry_of(c))
    contacts.sort(key=lambda c: c.at_ns)
    clock = environment.get("clock") or {}
    worst = clock.get("worst_offset")
    offset_ms = None
    if worst is not None:
        # shown to 0.1 ms, rounded up: the letter never states a smaller offset than was measured
        offset_ms = math.ceil(abs(float(worst["offset_s"])) * 10_000) / 10
    return PackFacts(
        path=path,
        provider=provider,
        period=str(period["label"]),
        start_ns=start_ns,
        end_ns=end_ns,
        as_of_ns=int(manifest["as_of_ns"]),
        journal_id=str(manifest["chain"]["journal_id"]),
        ref=PackRef(path.name, _sha256(path), files),
        manifest_sha256=hashlib.sha256(raw_manifest).hexdigest(),
        contacts=tuple(contacts),
        clock_offset_ms=offset_ms,
        clock_samples=int(clock.get("samples") or 0),
        clock_servers=tuple(str(s) for s in clock.get("servers") or ()),
        head=_head_text(manifest),
    )


def _head_text(manifest: dict[str, object]) -> str:
    chain = manifest.get("chain")
    head = chain.get("head") if isinstance(chain, dict) else None
    if not isinstance(head, dict):
        return ""
    return f"{head.get('block')}:{head.get('last_seq')}:{head.get('hash')}"


def _same_evidence(old: PackFacts, new: PackFacts, *, any_time: bool) -> bool:
    """True when an existing pack holds what a new one would: same provider, period, journal and head."""
    return (
        old.provider == new.provider
        and old.period == new.period
        and old.start_ns == new.start_ns
        and old.journal_id == new.journal_id
        and bool(old.head)
        and old.head == new.head
        and (any_time or old.as_of_ns == new.as_of_ns)
    )


def place_pack(fresh: Path, default: Path, *, any_time: bool) -> tuple[PackFacts, bool]:
    """Put a freshly built pack where the letter lists it, never replacing a pack another letter may cite.

    An existing pack of the same provider, period, journal and journal head (and, unless ``any_time``, the
    same "as of" time) is reused and the fresh one dropped; any other existing file keeps its name and
    the new pack takes the first free name ``<stem>-2.zip``, ``<stem>-3.zip``… Returns the verified facts of
    the pack where it now lies (each pack is verified once: a rename changes no byte) and whether it was reused.
    """
    new = read_pack(fresh)
    for n in range(1, 1000):
        candidate = default if n == 1 else default.with_name(f"{default.stem}-{n}{default.suffix}")
        if not candidate.exists():
            fresh.replace(candidate)
            return replace(new, path=candidate, ref=replace(new.ref, name=candidate.name)), False
        try:
            old = read_pack(candidate)
        except (ClaimError, OSError, ValueError, KeyError, zipfile.BadZipFile):
            continue  # not a pack of ours (or damaged): never touched
        if _same_evidence(old, new, any_time=any_time):
            fresh.unlink()
            return old, True
    fresh.unlink()
    raise ClaimError(f"{default}: 999 packs of that name exist already; choose another -o name")


def journal_contacts(journal: Journal, provider_id: str, period: Period) -> tuple[ContactEntry, ...]:
    """The provider's contact log for the period, straight from the journal (for a letter without a pack)."""
    return tuple(entry_of(c) for c in list_contacts(journal, provider_id, period.start_ns, period.end_ns))


def entry_of(c: Contact) -> ContactEntry:
    """A journal contact as the letter sees it (every recorded field, and when it was written down)."""
    return ContactEntry(
        c.at_ns, c.channel, c.ref, c.note, c.direction, c.duration_s, c.promised, c.ref_given, c.recorded_ns
    )


def write_complaint(
    config: Config,
    journal: Journal,
    *,
    provider_id: str,
    period: str,
    lang: Lang,
    sent_on: dt.date,
    output: Path,
    now_ns: int,
    pack: Path | PackFacts | None = None,
    attachments: tuple[tuple[str, str], ...] = (),
    include_unverified: bool = False,
    any_time: bool = False,
    before_pack: Callable[[Letter], None] | None = None,
    about: str = "",
    details: tuple[tuple[str, str], ...] = (),
) -> Complaint:
    """Build (or verify) the pack, then write the letter (``.md``, ``.html`` or ``.pdf``) that lists it.

    A pack written earlier beside a letter is never replaced (:func:`place_pack`); ``any_time`` lets one of the
    same journal head be reused whatever its "as of" time (when the customer did not give ``--now``). ``pack``
    is a pack to list instead: its path (verified here), or what :func:`read_pack` read from it (verified there).
    """
    zone = config.provider_zone(provider_id)
    try:
        per = parse_period(period, zone)
    except ValueError as exc:
        raise ClaimError(str(exc)) from None
    given = None
    if pack is not None:  # a given pack must fit before anything else is said about it
        given = pack if isinstance(pack, PackFacts) else read_pack(pack)
        _check_match(given, provider_id, per.label, per.start_ns, journal.journal_id)
    try:  # the letter as it will read, from the journal: refused here if it would state nothing true
        draft = build_letter(
            config,
            journal,
            LetterRequest(
                provider_id=provider_id,
                period=period,
                lang=lang,
                sent_on=sent_on,
                contacts=journal_contacts(journal, provider_id, per),
                include_unverified=include_unverified,
                about=about,
                details=details,
            ),
            now_ns=min(now_ns, per.end_ns),
        )
    except NothingToClaim:
        raise  # the reason as it is: no letter and no pack are written
    except LetterError as exc:
        raise ClaimError(str(exc)) from None
    if before_pack is not None:
        before_pack(draft)  # e.g. journal the answer deadline, so the pack holds it too
    built = pack is None
    reused = False
    if given is not None:
        facts = given
    else:
        from watchdog.documents.pack.build import build_pack  # matplotlib and fpdf2 load only when a pack is made

        default = pack_path_for(output)
        default.parent.mkdir(parents=True, exist_ok=True)
        fresh = default.with_name(f".{default.stem}.{os.getpid()}.partial.zip")
        try:
            build_pack(journal, config, provider_id, per, fresh, now_ns=now_ns, lang=lang)
        except ValueError as exc:
            fresh.unlink(missing_ok=True)
            raise ClaimError(str(exc)) from None
        facts, reused = place_pack(fresh, default, any_time=any_time)
        built = not reused
        _check_match(facts, provider_id, per.label, per.start_ns, journal.journal_id)
    request = LetterRequest(
        provider_id=provider_id,
        period=period,
        lang=lang,
        sent_on=sent_on,
        contacts=facts.contacts,
        attachments=attachments,
        manifest_sha256=facts.manifest_sha256,
        clock_offset_ms=facts.clock_offset_ms,
        include_unverified=include_unverified,
        pack=facts.ref,
        clock_samples=facts.clock_samples,
        clock_servers=facts.clock_servers,
        about=about,
        details=details,
    )
    letter = build_letter(config, journal, request, now_ns=facts.as_of_ns)
    output.parent.mkdir(parents=True, exist_ok=True)
    write(letter, output)
    return Complaint(letter, output, facts, built, reused)


def _check_match(facts: PackFacts, provider: str, label: str, start_ns: int, journal_id: str) -> None:
    if facts.provider != provider:
        raise ClaimError(f"{facts.path} is the pack of provider {facts.provider!r}, not {provider!r}")
    if facts.period != label or facts.start_ns != start_ns:
        raise ClaimError(f"{facts.path} covers the period {facts.period}, not {label}")
    if facts.journal_id != journal_id:
        raise ClaimError(
            f"{facts.path} was made from another journal ({facts.journal_id}); this config's journal is {journal_id}"
        )


def as_of_text(facts: PackFacts) -> str:
    """The pack's "as of" time in UTC, for messages."""
    return dt.datetime.fromtimestamp(facts.as_of_ns // NS, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


__all__ = [
    "ClaimError",
    "Complaint",
    "PackFacts",
    "journal_contacts",
    "pack_path_for",
    "place_pack",
    "read_pack",
    "write_complaint",
]
