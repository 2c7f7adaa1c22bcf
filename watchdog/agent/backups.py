"""Scheduled backups: the agent runs ``watchdog backup`` into ``backup.dest`` every ``backup.every``.

The first backup is due ``every`` after the newest one already in the destination (at once when there is
none), so an agent restarted often still backs up on schedule. The copy runs in a thread with its own
read-only connection (WAL: the agent keeps writing meanwhile) and is verified before it is kept; see
:mod:`watchdog.journal.backup`. A failure (the NAS unmounted, the stick full) is logged once until a
backup works again. A trusted timestamp token that does not verify does not stop a backup (only a broken
chain does): it is logged as a warning when it is first seen, and again whenever the list changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path

from watchdog.agent.sinks import AgentContext, Sink
from watchdog.config import BackupSection
from watchdog.journal.backup import NAME_RE, BackupResult, backup_journal
from watchdog.model import NS

_LOGGER = logging.getLogger(__name__)


def last_backup_ns(name: str) -> int:
    """When the newest backup in ``name`` (a folder or a file) was written (0 when there is none)."""
    dest = Path(name).expanduser()
    try:
        if dest.is_dir():
            found = [p.stat().st_mtime_ns for p in dest.iterdir() if NAME_RE.match(p.name)]
            return max(found, default=0)
        return dest.stat().st_mtime_ns if dest.exists() else 0
    except OSError:
        return 0


class BackupSink(Sink):
    """Backs the journal up on schedule."""

    name = "backup"

    def __init__(self, ctx: AgentContext, section: BackupSection) -> None:
        self.ctx = ctx
        self.section = section
        self._task: asyncio.Task[None] | None = None
        self.failing = False
        self.done: list[BackupResult] = []
        self.token_problems: tuple[str, ...] = ()  # the newest backup's tokens that do not verify

    async def start(self) -> None:
        """Start the schedule."""
        self._task = asyncio.create_task(self._loop(), name="backup")

    async def _loop(self) -> None:
        assert self.section.dest is not None
        dest = self.section.dest
        last = await asyncio.to_thread(last_backup_ns, dest)
        wait = max(0.0, (last + self.section.every * NS - time.time_ns()) / NS)
        while True:
            await asyncio.sleep(wait)
            wait = self.section.every
            try:
                result = await asyncio.to_thread(
                    backup_journal, self.ctx.config.journal_path, dest, keep=self.section.keep
                )
            except Exception as exc:
                if not self.failing:
                    _LOGGER.warning("journal backup failed: %s (trying again in %g s)", exc, self.section.every)
                self.failing = True
                continue
            self.failing = False
            self.done.append(result)
            if result.timestamp_problems and result.timestamp_problems != self.token_problems:
                count = len(result.timestamp_problems)
                _LOGGER.warning(
                    "journal backed up to %s, but %s (the hash chain does; watchdog verify --journal names %s): %s",
                    result.path,
                    "1 timestamp token does not verify" if count == 1 else f"{count} timestamp tokens do not verify",
                    "it" if count == 1 else "them",
                    "; ".join(result.timestamp_problems),
                )
            self.token_problems = result.timestamp_problems
            _LOGGER.info(
                "journal backed up to %s (%d rows, verified, %.1f s; %d older removed)",
                result.path,
                result.rows,
                result.seconds,
                len(result.removed),
            )

    async def aclose(self) -> None:
        """Stop the schedule (a backup being copied finishes in its thread; its partial file is removed)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def backup_sink_factory(ctx: AgentContext) -> Sink | None:
    """The backup sink, when ``backup.dest`` is set."""
    section = ctx.config.model.backup
    if section.dest is None:
        return None
    return BackupSink(ctx, section)
