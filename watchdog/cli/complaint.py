"""``watchdog complaint``: a complaint draft (Markdown, HTML or PDF) for one provider and period, with its pack.

With ``-o`` the evidence pack is written beside the letter (``letter.pdf`` → ``letter-evidence.zip``)
unless ``--pack`` names an existing one, which is verified first; the letter lists every file of the
pack with its SHA-256 and takes its contact log, clock statement and "as of" time from it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from watchdog.analysis.sla import current_period, parse_period
from watchdog.cli import EXIT_CONFIG, EXIT_DOWN, EXIT_OK, add_config_arg, load_config, provider_of, require_owner
from watchdog.errors import NothingToClaim
from watchdog.journal.integrity import open_checked
from watchdog.timefmt import parse_time, to_datetime

if TYPE_CHECKING:  # the letter machinery (jinja2, babel, holidays) is loaded when a letter is made
    from watchdog.documents.words import Lang


def register(sub: Any) -> None:
    """Add ``complaint``."""
    parser = sub.add_parser(
        "complaint", help="draft a complaint letter (Markdown, HTML or PDF) with the compensation due and its evidence"
    )
    add_config_arg(parser)
    parser.add_argument("--provider", metavar="P", required=True, help="the provider's id")
    parser.add_argument(
        "--period",
        metavar="PERIOD",
        help="2026-11, 2026-Q4, 2026-11-01..2026-11-15 (default: the SLA's current period as of --now, as report)",
    )
    parser.add_argument("--lang", choices=["ru", "en"], help="the letter's language (default: agent.language)")
    parser.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="letter.md, letter.html or letter.pdf, with letter-evidence.zip beside it (default: Markdown on stdout)",
    )
    parser.add_argument(
        "--pack", metavar="PACK.zip", help="list this evidence pack (verified first) instead of writing a new one"
    )
    parser.add_argument(
        "--date", metavar="YYYY-MM-DD", help="the letter's date (default: today in the provider's zone)"
    )
    parser.add_argument(
        "--now", metavar="T", help="compute as of this time (default: now, or the period's end; with --pack: its time)"
    )
    parser.add_argument(
        "--attach",
        metavar="FILE",
        action="append",
        default=[],
        help="a file of your own to list under attachments with its SHA-256 (a copy of the contract, a receipt)",
    )
    parser.add_argument(
        "--include-unverified", action="store_true", help="also apply rules marked unverified (you answer for them)"
    )
    parser.add_argument(
        "--no-seal", action="store_true", help="do not seal the journal's newest rows first (read-only journals)"
    )
    parser.add_argument(
        "--about",
        choices=["outage", "restore", "support", "billing", "warning", "quality", "other"],
        help="the grievance (default: outage, which needs an outage in the journal; the others rest on what you state)",
    )
    grievance = parser.add_argument_group("what you state for --about billing, support, warning, other")
    grievance.add_argument("--paid-on", metavar="YYYY-MM-DD", help="billing: the day you paid")
    grievance.add_argument("--amount", metavar="X", help="billing: the amount paid, e.g. 600")
    grievance.add_argument("--payment-ref", metavar="REF", help="billing: the payment's reference or receipt number")
    grievance.add_argument("--offered", metavar="TEXT", help="billing: what the provider offered, e.g. '3 days free'")
    grievance.add_argument("--asked", metavar="TEXT", help="support: the information you asked for and did not get")
    grievance.add_argument("--damages", metavar="X", help="support: your losses to be compensated, e.g. 4000")
    grievance.add_argument("--damages-note", metavar="TEXT", help="support: what the losses were (fuel, a lost day)")
    grievance.add_argument("--what", metavar="TEXT", help="warning: what ran out without notice (the balance, a card)")
    grievance.add_argument("--text", metavar="TEXT", help="other: what happened, in a sentence or two")
    parser.set_defaults(handler=handle)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def handle(args: argparse.Namespace) -> int:
    """Build or verify the pack, then write the letter that lists it (or print a Markdown preview)."""
    from watchdog.documents.claim import ClaimError, PackFacts, as_of_text, read_pack, write_complaint

    config = load_config(args)
    provider = provider_of(config, args.provider)
    zone = config.provider_zone(provider.id)
    now = time.time_ns()
    try:
        sent_on = dt.date.fromisoformat(args.date) if args.date else to_datetime(now, zone).date()
    except ValueError:
        print(f"cannot read --date {args.date!r}: use YYYY-MM-DD", file=sys.stderr)
        return EXIT_CONFIG
    if args.now:
        try:
            now = parse_time(args.now, zone, now)
        except ValueError as exc:
            print(f"--now: {exc}", file=sys.stderr)
            return EXIT_CONFIG
    if args.period is None:  # as report and evidence: the SLA's billing period that holds --now
        args.period = current_period(provider.sla.period, now, zone).label
    try:
        period = parse_period(args.period, zone)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return EXIT_CONFIG
    if now <= period.start_ns:
        print(f"the period {period.label} has not started by --now", file=sys.stderr)
        return EXIT_CONFIG
    output = Path(args.output) if args.output else None
    from watchdog.documents.letter.rendering import SUFFIXES

    if output is not None and output.suffix.lower() not in SUFFIXES:
        print(f"{output}: write .md, .html or .pdf", file=sys.stderr)
        return EXIT_CONFIG
    pack = Path(args.pack) if args.pack else None
    if pack is not None and not pack.is_file():
        print(f"--pack {args.pack}: no such file", file=sys.stderr)
        return EXIT_CONFIG
    attachments = []
    for name in args.attach:
        path = Path(name)
        if not path.is_file():
            print(f"--attach {name}: no such file", file=sys.stderr)
            return EXIT_CONFIG
        attachments.append((path.name, _sha256(path)))
    lang: Lang = args.lang or config.agent.language
    details = _details(args)
    if isinstance(details, str):
        print(details, file=sys.stderr)
        return EXIT_CONFIG
    if not args.no_seal:
        require_owner(config.journal_path)
    try:
        if output is None:
            return _preview(args, config, provider.id, lang, sent_on, now, pack, tuple(attachments), details)
        deadline_note: list[str] = []
        with open_checked(config.journal_path, readonly=args.no_seal) as journal:
            if pack is None and not args.no_seal:
                journal.seal()  # the pack holds sealed rows only; safe alongside a running agent
            given: Path | PackFacts | None = pack
            if pack is not None and args.now:
                given = read_pack(pack)  # verified once: write_complaint lists what was read here
                if min(now, period.end_ns) != given.as_of_ns:
                    print(f"--now differs from the time {pack} was made at; leave --now out", file=sys.stderr)
                    return EXIT_CONFIG
            done = write_complaint(
                config,
                journal,
                provider_id=provider.id,
                period=args.period,
                lang=lang,
                sent_on=sent_on,
                output=output,
                now_ns=now,
                pack=given,
                attachments=tuple(attachments),
                include_unverified=args.include_unverified,
                any_time=not args.now,
                about=args.about or "",
                details=details,
                before_pack=lambda draft: deadline_note.extend(_record_deadline(args, journal, draft, output)),
            )
    except (ClaimError, NothingToClaim) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_DOWN
    _notes(done.letter.context["notes"]["skipped"])
    totals = ", ".join(f"{m.amount} {m.currency}" for m in done.letter.assessment.totals(optional=False).values())
    print(f"wrote {output} ({done.letter.template}; claimed: {totals or 'nothing'})")
    verb = "wrote" if done.pack_built else "reused" if done.pack_reused else "listed"
    print(f"{verb} {done.pack.path}: {len(done.pack.ref.files)} files, SHA-256 {done.pack.ref.sha256}")
    print(f"  manifest SHA-256 {done.pack.manifest_sha256}; the letter cites this file: keep it as it is")
    if done.pack_reused:
        print(f"  (the same period and journal head as before, so the letter is as of {as_of_text(done.pack)})")
    if done.pack_built:
        print(f"  send the letter and {done.pack.path.name} together; anyone can check the pack with:")
        print(f"  watchdog verify {done.pack.path}")
    for line in deadline_note:
        print(line)
    return EXIT_OK


def _record_deadline(args: argparse.Namespace, journal: Any, draft: Any, output: Path) -> list[str]:
    """Journal the answer deadline the letter asks for, so ``run`` reminds of it (once per provider, date, letter date).

    The event is a ``deadline`` row (:func:`watchdog.notify.deadlines.record_deadline`), sealed at once; the
    notifier warns 7, 3, 1 and 0 days before the date. A letter written again for the same date adds nothing.
    """
    from watchdog.notify.deadlines import record_deadline
    from watchdog.notify.facts import EV_DEADLINE

    deadlines = draft.assessment.deadlines
    answer_by = draft.context.get("answer_by") or (deadlines[0].answer_by if deadlines else None)
    if answer_by is None:
        return []
    provider = draft.context["provider"]
    sent_on = draft.context["sent_on"]
    if args.no_seal:
        return [
            f"note: the answer is due by {answer_by}; --no-seal leaves the journal as it is, so no reminder is set "
            f"(add one under reminders: in the config)"
        ]
    for event in journal.events([EV_DEADLINE]):
        d = event.data
        if (d.get("provider"), d.get("date"), d.get("sent")) == (
            provider.id,
            answer_by.isoformat(),
            sent_on.isoformat(),
        ):
            return [f"the answer deadline {answer_by} is already in the journal (#{event.seq}); reminders are set"]
    seq = record_deadline(
        journal,
        kind="complaint_answer",
        name=f"answer to the complaint to {provider.display_name} of {sent_on.isoformat()}",
        date=answer_by,
        provider=provider.id,
        sent=sent_on,
        note=f"letter {output.name}",
    )
    journal.seal()
    return [
        f"recorded the answer deadline {answer_by} in the journal (#{seq}): "
        "watchdog run reminds you 7, 3, 1 and 0 days before it"
    ]


def _details(args: argparse.Namespace) -> tuple[tuple[str, str], ...] | str:
    """What the customer states for the grievance, checked: dates as dates, amounts as numbers."""
    out = []
    for key in ("paid_on", "amount", "payment_ref", "offered", "asked", "damages", "damages_note", "what", "text"):
        value = getattr(args, key, None)
        if value is None or not str(value).strip():
            continue
        value = " ".join(str(value).split())
        if key == "paid_on":
            try:
                dt.date.fromisoformat(value)
            except ValueError:
                return f"cannot read --paid-on {value!r}: use YYYY-MM-DD"
        if key in ("amount", "damages"):
            try:
                if float(value.replace(",", ".")) <= 0:
                    raise ValueError
            except ValueError:
                return f"--{key}: give a positive amount such as 600 or 600.50, got {value!r}"
            value = value.replace(",", ".")
        out.append((key, value[:2000]))
    return tuple(out)


def _notes(skipped: list[dict[str, Any]]) -> None:
    for item in skipped:
        print(f"note: {item['id']} not applied: {item['reason']}", file=sys.stderr)


def _preview(
    args: argparse.Namespace,
    config: Any,
    provider_id: str,
    lang: Lang,
    sent_on: dt.date,
    now: int,
    pack: Path | None,
    attachments: tuple[tuple[str, str], ...],
    details: tuple[tuple[str, str], ...] = (),
) -> int:
    """No ``-o``: the letter as Markdown on stdout; a pack is listed only when given with ``--pack``."""
    from watchdog.documents.claim import journal_contacts, read_pack
    from watchdog.documents.letter.build import build_letter
    from watchdog.documents.letter.rendering import render
    from watchdog.documents.letter.request import LetterRequest

    facts = read_pack(pack) if pack is not None else None
    with open_checked(config.journal_path) as journal:
        period = parse_period(args.period, config.provider_zone(provider_id))
        request = LetterRequest(
            provider_id=provider_id,
            period=args.period,
            lang=lang,
            sent_on=sent_on,
            attachments=attachments,
            include_unverified=args.include_unverified,
            contacts=facts.contacts if facts else journal_contacts(journal, provider_id, period),
            manifest_sha256=facts.manifest_sha256 if facts else None,
            clock_offset_ms=facts.clock_offset_ms if facts else None,
            clock_samples=facts.clock_samples if facts else 0,
            clock_servers=facts.clock_servers if facts else (),
            pack=facts.ref if facts else None,
            about=args.about or "",
            details=details,
        )
        letter = build_letter(config, journal, request, now_ns=facts.as_of_ns if facts else now)
    _notes(letter.context["notes"]["skipped"])
    if facts is None:
        print("note: without -o no evidence pack is written; the attachments list is a placeholder", file=sys.stderr)
    sys.stdout.write(render(letter, "md"))
    return EXIT_OK
