"""The journal's files on disk: private modes, no symbolic links, and what a storage error means.

Every file the journal keeps is created 0600 and every folder 0700, whatever the umask: a journal holds
the targets' addresses and the household's outage history. SQLite gives the ``-wal`` and ``-shm`` files
the mode of the database file, so creating that file 0600 ourselves (``O_EXCL | O_NOFOLLOW``) makes all
three private. A symbolic link where a journal file should be is refused: following it would let whoever
planted it have the agent write (or truncate) another file.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import stat
from pathlib import Path

from watchdog.errors import JournalError

SIDE_FILES = ("-wal", "-shm")

DISK_FULL = "disk full"
READ_ONLY = "read-only"

_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT}
_READ_ONLY_ERRNOS = {errno.EROFS, errno.EACCES, errno.EPERM}
_SQLITE_FULL = 13
_SQLITE_READONLY = 8
_SQLITE_CANTOPEN = 14
_SQLITE_IOERR_SHMSIZE = 10 | (19 << 8)  # the -shm could not grow: tmpfs and /dev/shm say ENOSPC this way
_SQLITE_CORRUPT = 11
_SQLITE_NOTADB = 26


class StorageError(JournalError):
    """The journal's storage refuses us: ``problem`` is :data:`DISK_FULL` or :data:`READ_ONLY`."""

    def __init__(self, problem: str, path: Path | str, detail: str) -> None:
        super().__init__(f"{problem}: {path}: {detail}")
        self.problem = problem
        self.path = str(path)
        self.detail = detail


class UnsafePathError(JournalError):
    """A journal file is a symbolic link (or not a plain file): refused, never followed."""


def storage_problem(exc: BaseException) -> str | None:
    """:data:`DISK_FULL`, :data:`READ_ONLY` or None, for an error (or one it was raised from)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, StorageError):
            return seen.problem
        if isinstance(seen, OSError) and seen.errno is not None:
            if seen.errno in _FULL_ERRNOS:
                return DISK_FULL
            if seen.errno in _READ_ONLY_ERRNOS:
                return READ_ONLY
        if isinstance(seen, sqlite3.Error):
            code = getattr(seen, "sqlite_errorcode", None) or 0
            if code & 0xFF == _SQLITE_FULL or code == _SQLITE_IOERR_SHMSIZE:
                return DISK_FULL
            if code & 0xFF in (_SQLITE_READONLY, _SQLITE_CANTOPEN):
                return READ_ONLY
        seen = seen.__cause__ or seen.__context__
    return None


def is_damage(exc: BaseException) -> bool:
    """True when SQLite says the file itself is broken (not a database, malformed), not the disk."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, sqlite3.Error):
            code = getattr(seen, "sqlite_errorcode", None) or 0
            return code & 0xFF in (_SQLITE_CORRUPT, _SQLITE_NOTADB)
        seen = seen.__cause__ or seen.__context__
    return False


def as_storage_error(exc: BaseException, path: Path | str) -> StorageError | None:
    """``exc`` as a one-line :class:`StorageError` naming ``path`` (or None if it is no storage problem)."""
    if isinstance(exc, StorageError):
        return exc
    problem = storage_problem(exc)
    if problem is None:
        return None
    where = getattr(exc, "filename", None) or path
    detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    if isinstance(exc, OSError) and exc.errno is not None:
        detail = f"[Errno {exc.errno}] {detail}"
    return StorageError(problem, where, detail)


def refuse_link(path: Path) -> None:
    """Raise :class:`UnsafePathError` when ``path`` is a symbolic link."""
    if path.is_symlink():
        raise UnsafePathError(f"refusing to use {path}: it is a symbolic link (to {os.readlink(path)})")


def check_journal_files(path: Path) -> None:
    """Refuse a journal (or its -wal/-shm) that is a symbolic link or not a regular file."""
    for file in (path, *(Path(f"{path}{suffix}") for suffix in SIDE_FILES)):
        refuse_link(file)
        if file.exists() and not stat.S_ISREG(file.stat().st_mode):
            raise UnsafePathError(f"refusing to use {file}: it is not a regular file")


def private_dir(path: Path) -> None:
    """Create ``path`` and any missing parents with mode 0700 (an existing folder is left as it is)."""
    missing: list[Path] = []
    here = path
    while not here.exists() and not here.is_symlink():
        missing.append(here)
        if here.parent == here:
            break
        here = here.parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder, 0o700)
        except FileExistsError:
            continue
        os.chmod(folder, 0o700)  # the umask may have taken bits away, never added: set exactly 0700


def create_private_file(path: Path) -> bool:
    """Create an empty 0600 file at ``path`` unless one is there; True if created. Never follows a link."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except FileExistsError:
        refuse_link(path)
        return False
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
    return True


def make_private(path: Path) -> list[str]:
    """Take group/other access away from our existing journal files (made by an earlier version)."""
    changed = []
    for file in (path, *(Path(f"{path}{suffix}") for suffix in SIDE_FILES)):
        try:
            fd = os.open(file, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            info = os.fstat(fd)
            if stat.S_ISREG(info.st_mode) and info.st_mode & 0o077 and info.st_uid == os.geteuid():
                os.fchmod(fd, 0o600)
                changed.append(file.name)
        finally:
            os.close(fd)
    return changed
