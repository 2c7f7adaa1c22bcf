"""``watchdog backup``, ``restore``, ``archive`` and ``migrate``: copies of the journal and of its evidence.

* ``backup [DEST]``  an online, verified copy of the journal (safe while the agent runs), rotated in a folder;
* ``restore FILE``   a verified backup put in place of the journal (the agent stopped; the old file kept aside);
* ``archive --period 2026-10``  a closed period sealed into one verified evidence pack per provider, kept
  beside the journal in ``<data_dir>/archive/<period>/<provider>.zip``;
* ``migrate --to 2|3``  the journal rewritten in another results schema, verified, swapped in (the agent stopped;
  the old file kept aside): 2 for the version before schema 3, 3 to make an older journal compact.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from watchdog.cli import (
    EXIT_CONFIG,
    EXIT_DOWN,
    EXIT_OK,
    UsageError,
    add_config_arg,
    add_json_arg,
    load_config,
    print_json,
    provider_of,
    require_owner,
)
from watchdog.errors import JournalError
from watchdog.timefmt import parse_time


def register(sub: Any) -> None:
    """Add ``backup``, ``restore``, ``archive`` and ``migrate``."""
    parser = sub.add_parser("backup", help="a verified online copy of the journal (to a folder or a file)")
    parser.add_argument(
        "dest",
        nargs="?",
        metavar="DEST",
        help="a folder (the copy is journal-<UTC time>.sqlite3, the newest --keep stay) or a file "
        "(default: backup.dest of the config)",
    )
    parser.add_argument("--keep", type=int, metavar="N", help="backups kept in a folder (default: backup.keep)")
    add_config_arg(parser)
    add_json_arg(parser)
    parser.set_defaults(handler=handle_backup)

    parser = sub.add_parser("restore", help="put a verified backup in place of the journal (stop the agent first)")
    parser.add_argument("backup", metavar="FILE", help="a backup written by watchdog backup")
    add_config_arg(parser)
    parser.set_defaults(handler=handle_restore)

    parser = sub.add_parser("archive", help="seal a closed period into verified evidence packs beside the journal")
    parser.add_argument("--period", metavar="PERIOD", required=True, help="a closed period: 2026-10, 2026-Q3, ...")
    parser.add_argument("--provider", metavar="P", action="append", help="only this provider (repeatable)")
    parser.add_argument("--now", metavar="T", help="as of this time (default: now)")
    parser.add_argument(
        "--prune",
        action="store_true",
        help="then delete the period's raw results from the journal (events and seals stay; verify still checks "
        "every block); every provider must be archived",
    )
    add_config_arg(parser)
    add_json_arg(parser)
    parser.set_defaults(handler=handle_archive)

    parser = sub.add_parser(
        "migrate", help="rewrite the journal in another results schema, verified (stop the agent first)"
    )
    parser.add_argument(
        "--to",
        type=int,
        choices=(2, 3),
        required=True,
        metavar="N",
        help="3: compact (what a new journal gets); 2: what the version before schema 3 reads",
    )
    parser.add_argument("--no-keep", action="store_true", help="do not keep the old file beside the journal")
    add_config_arg(parser)
    add_json_arg(parser)
    parser.set_defaults(handler=handle_migrate)


def handle_backup(args: argparse.Namespace) -> int:
    """Copy, verify, rotate."""
    from watchdog.journal.backup import backup_journal

    config = load_config(args)
    section = config.model.backup
    dest = args.dest or section.dest
    if not dest:
        raise UsageError("say where to: watchdog backup DEST (a folder or a file), or set backup.dest in the config")
    keep = args.keep if args.keep is not None else section.keep
    if keep < 1:
        raise UsageError("--keep must be at least 1")
    try:
        result = backup_journal(config.journal_path, dest, keep=keep)
    except JournalError as exc:
        print(f"backup failed: {exc}", file=sys.stderr)
        return EXIT_DOWN
    if args.json:
        print_json(result.as_dict())
        return EXIT_OK
    head = result.head or {}
    print(
        f"wrote {result.path}: {result.rows} rows, {result.bytes} bytes, verified "
        f"(head block {head.get('block', '-')} {head.get('hash', '-')}) in {result.seconds:.1f} s"
    )
    for old in result.removed:
        print(f"  removed the older backup {old}")
    for line in token_lines(result.timestamp_problems, "the copy was kept"):
        print(line)
    return EXIT_OK


def token_lines(problems: Sequence[str], outcome: str) -> list[str]:
    """What backup, restore and archive say about timestamp tokens that do not verify (they do not stop them)."""
    if not problems:
        return []
    count = "1 timestamp token does not" if len(problems) == 1 else f"{len(problems)} timestamp tokens do not"
    return [
        f"  {count} verify (the hash chain does, so {outcome}; watchdog verify fails until it is explained):",
        *(f"    {p}" for p in problems),
    ]


def _lock_or_refuse(data_dir: Path, verb: str) -> int | None:
    """The data directory's lock (release it with ``os.close``), or None once it said why not: an agent runs."""
    from watchdog.agent.core import AgentLockedError, lock_data_dir

    try:
        return lock_data_dir(data_dir)
    except AgentLockedError as exc:
        print(f"{exc}: stop it first, then {verb}", file=sys.stderr)
        return None


def handle_restore(args: argparse.Namespace) -> int:
    """Verify the backup, set the current journal aside, copy the backup in."""
    from watchdog.journal.backup import restore_journal

    config = load_config(args)
    require_owner(config.journal_path)
    lock = _lock_or_refuse(config.data_dir, "restore")
    if lock is None:
        return EXIT_DOWN
    try:
        verdict, aside = restore_journal(Path(args.backup), config.journal_path)
    except JournalError as exc:
        print(f"restore failed: {exc}", file=sys.stderr)
        return EXIT_DOWN
    finally:
        os.close(lock)
    head = verdict.head or {}
    print(
        f"restored {config.journal_path} from {args.backup}: {verdict.rows + verdict.unsealed} rows, head block "
        f"{head.get('block', '-')} {head.get('hash', '-')}"
    )
    if aside is not None:
        print(f"  the journal it replaced is kept as {aside}")
    for line in token_lines(verdict.timestamp_problems, "it was restored"):
        print(line)
    return EXIT_OK


def handle_migrate(args: argparse.Namespace) -> int:
    """Rewrite, verify, swap in; the old file kept as ``journal.sqlite3.schema<N>-<UTC time>``."""
    from watchdog.journal.migrate import MigrateResult, migrate_journal

    config = load_config(args)
    journal = config.journal_path
    require_owner(journal)
    lock = _lock_or_refuse(config.data_dir, "migrate")
    if lock is None:
        return EXIT_DOWN
    try:
        result = migrate_journal(journal, args.to, keep=not args.no_keep)
    except JournalError as exc:
        print(f"migrate failed: {exc}", file=sys.stderr)
        return EXIT_DOWN
    finally:
        os.close(lock)
    if args.json:
        print_json(result.as_dict())
        return EXIT_OK
    if not result.changed:
        print(f"{journal} already has schema {result.to_schema}: nothing to do")
        return EXIT_OK
    head = result.head or {}
    before = MigrateResult.per_result(result.bytes_before, result.results)
    after = MigrateResult.per_result(result.bytes_after, result.results)
    per = "" if before is None else f" ({before} → {after} B per result)"
    print(
        f"migrated {journal} from schema {result.from_schema} to schema {result.to_schema}: {result.results} results "
        f"and {result.events} events, verified (head block {head.get('block', '-')} {head.get('hash', '-')}, "
        f"as before) in {result.seconds:.1f} s"
    )
    print(f"  {result.bytes_before} → {result.bytes_after} bytes{per}")
    if result.kept is not None:
        print(f"  the schema {result.from_schema} journal is kept as {result.kept}")
    return EXIT_OK


def handle_archive(args: argparse.Namespace) -> int:
    """One verified pack per provider for a period that has ended."""
    from watchdog.analysis.sla import parse_period
    from watchdog.documents.pack.build import build_pack
    from watchdog.documents.pack.verify import verify_pack
    from watchdog.journal.integrity import open_checked

    config = load_config(args)
    providers = args.provider or [p.id for p in config.providers]
    if not providers:
        raise UsageError("the config names no provider: nothing to archive")
    if args.prune and args.provider:
        raise UsageError("--prune archives every provider first: leave out --provider")
    now = time.time_ns()
    folder = config.data_dir / "archive"
    written: list[dict[str, Any]] = []
    require_owner(config.journal_path)
    for provider_id in providers:
        zone = config.provider_zone(provider_of(config, provider_id).id)
        if args.now:
            now = parse_time(args.now, zone, now)
        try:
            period = parse_period(args.period, zone)
        except ValueError as exc:
            print(exc, file=sys.stderr)
            return EXIT_CONFIG
        if period.end_ns > now:
            print(f"{period.label} has not ended yet: only a closed period is archived", file=sys.stderr)
            return EXIT_CONFIG
        out = folder / period.label / f"{provider_id}.zip"
        partial = out.with_name(out.name + ".partial.zip")
        with open_checked(config.journal_path, readonly=False) as journal:
            journal.seal()
            info = build_pack(journal, config, provider_id, period, partial, now_ns=now)
        verdict = verify_pack(partial, tokens_apart=True)  # a bad timestamp token does not stop the archive
        if not verdict.chain_ok:
            partial.unlink(missing_ok=True)
            first = next(p for p in verdict.problems if p not in verdict.timestamp_problems)
            print(f"the archive of {provider_id} for {period.label} does not verify: {first}")
            return EXIT_DOWN
        partial.replace(out)
        written.append(
            {
                "provider": provider_id,
                "path": str(out),
                "head": info.head,
                "results": info.results,
                "sha256": _sha256(out),
                "included_streams": _included(out),
                "timestamp_problems": verdict.timestamp_problems,
            }
        )
    pruned: dict[str, Any] | None = None
    if args.prune:
        outcome = _prune(config, period.start_ns, period.end_ns, written)
        if isinstance(outcome, int):
            return outcome
        pruned = outcome
    if args.json:
        print_json({"archives": written, "pruned": pruned})
        return EXIT_OK
    for w in written:
        head = w["head"] or {}
        print(f"archived {w['provider']}: {w['path']} ({w['results']} results, verified; head {head.get('hash', '-')})")
        for line in token_lines(w["timestamp_problems"], "the archive was kept"):
            print(line)
    if pruned is not None:
        print(
            f"pruned {pruned['rows']} results rows from {pruned['blocks']} blocks; watchdog verify --journal still "
            f"checks every block ({pruned['verified']})"
        )
        for reason in pruned["skipped"]:
            print(f"  kept {reason}")
        for line in token_lines(pruned["timestamp_problems"], "the rows were pruned"):
            print(line)
    return EXIT_OK


def _sha256(path: Path) -> str:
    import hashlib

    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _included(pack: Path) -> list[int]:
    import json
    import zipfile

    with zipfile.ZipFile(pack) as zf:
        return [int(s) for s in json.loads(zf.read("manifest.json"))["chain"]["included_streams"]]


def _prune(config: Any, start_ns: int, end_ns: int, archives: list[dict[str, Any]]) -> dict[str, Any] | int:
    from watchdog.journal.prune import prune
    from watchdog.journal.store import Journal
    from watchdog.journal.verify import verify_journal

    try:
        with Journal.open(config.journal_path, create=False) as journal:
            result = prune(journal, start_ns, end_ns, archives)
    except JournalError as exc:
        print(f"nothing pruned: {exc}", file=sys.stderr)
        return EXIT_DOWN
    verdict = verify_journal(config.journal_path)
    if not verdict.chain_ok:  # the chain, not the timestamp tokens: those are named in timestamp_problems
        print(f"the journal does not verify after pruning: {verdict.chain_problems[0]}", file=sys.stderr)
        return EXIT_DOWN
    return {
        "blocks": result.blocks,
        "rows": result.rows,
        "skipped": result.skipped,
        "verified": f"{verdict.rows} rows and {verdict.pruned} pruned rows in {verdict.blocks} blocks verify",
        "timestamp_problems": verdict.timestamp_problems,
    }
