"""Issue 13 item 7: start-up and storage — read-only copies, damaged journals, private files, full disks.

Everything is real: ``watchdog`` runs as a subprocess on this checkout, journals are real SQLite files,
a read-only medium is a tmpfs remounted ``ro`` (EROFS stops root too), a full disk is a small tmpfs
filled with a file, and the "non-privileged" check runs the CLI as ``nobody`` (``setpriv``) on a
0444 copy in a 0555 folder. Probes only reach a TCP listener on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from watchdog.journal.store import Journal
from watchdog.journal.verify import verify_journal

ROOT = Path(__file__).resolve().parents[2]
SYSTEM_PYTHON = Path(f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}")

pytestmark = pytest.mark.slow

IS_ROOT = os.geteuid() == 0


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def _cli(*args: str, timeout: float = 60, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # type: ignore[call-overload, no-any-return]
        [sys.executable, "-m", "watchdog", *args],
        capture_output=True,
        text=True,
        env=_env(),
        cwd=ROOT,
        timeout=timeout,
        **kw,
    )


@pytest.fixture
def service() -> Iterator[int]:
    """A TCP listener on 127.0.0.1 that accepts and closes: the monitored service."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    sock.settimeout(0.2)
    done = threading.Event()

    def serve() -> None:
        while not done.is_set():
            with contextlib.suppress(OSError):
                conn, _ = sock.accept()
                conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield int(sock.getsockname()[1])
    done.set()
    thread.join(5)
    sock.close()


def _config(path: Path, data_dir: Path, port: int) -> Path:
    path.write_text(
        f"""
agent: {{id: storage, timezone: UTC, data_dir: "{data_dir}"}}
defaults: {{interval: 1s, timeout: 500ms}}
providers:
  - id: svc
    name: Service
    kind: isp
    targets:
      - {{name: web, kind: tcp, address: "127.0.0.1:{port}"}}
ntp: {{enabled: false}}
web: {{enabled: false}}
"""
    )
    return path


@contextlib.contextmanager
def _tmpfs(where: Path, size: str) -> Iterator[Path]:
    if not IS_ROOT:
        pytest.skip("mounting a tmpfs needs root")
    where.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(where)], check=False)
    if done.returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def _remount_ro(where: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(where)], check=True)


def _rows(path: Path) -> int:
    return verify_journal(path).rows


def _agent(config: Path, log: Path, *args: str, umask: int = 0o022) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "watchdog", "run", "-c", str(config), *args],
            stdout=out,
            stderr=out,
            env=_env(),
            cwd=ROOT,
            umask=umask,
        )


def _wait(predicate, timeout_s: float, what: str) -> float:  # type: ignore[no-untyped-def]
    t0 = time.monotonic()
    while not predicate():
        if time.monotonic() - t0 > timeout_s:
            raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(0.05)
    return time.monotonic() - t0


def _result_count(journal: Path) -> int:
    if not journal.exists():
        return 0
    try:
        conn = sqlite3.connect(f"file:{journal}?mode=ro", uri=True, timeout=5)
        try:
            return int(conn.execute("SELECT count(*) FROM results").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.Error:
        return 0


def _stop(proc: subprocess.Popen[bytes]) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    return proc.wait(30)


@pytest.fixture
def journal_made(tmp_path: Path, service: int) -> tuple[Path, Path]:
    """A journal written by the real agent (3 s of probing), stopped cleanly. Returns (config, journal)."""
    data = tmp_path / "data"
    config = _config(tmp_path / "watchdog.yaml", data, service)
    done = _cli("run", "-c", str(config), "--for", "3s")
    assert done.returncode == 0, done.stderr
    return config, data / "journal.sqlite3"


# ------------------------------------------------------------------------------ 1. read-only copies


def _copy_with_wal(journal: Path, dest: Path, parts: tuple[str, ...]) -> int:
    """Copy the journal while a writer holds new rows in its -wal; return the rows the copy must show."""
    with Journal.open(journal) as j:
        j.conn.execute("PRAGMA wal_autocheckpoint=0")
        j.add_event("note", {"text": "held in the -wal only"})
        j.seal()
        for suffix in parts:
            shutil.copyfile(str(journal) + suffix, dest / (journal.name + suffix))
        rows = int(
            j.conn.execute("SELECT (SELECT count(*) FROM results) + (SELECT count(*) FROM events)").fetchone()[0]
        )
    return rows


@pytest.mark.parametrize(
    "parts",
    [("",), ("", "-wal", "-shm"), ("", "-wal")],
    ids=["checkpointed", "with-wal-and-shm", "wal-without-shm"],
)
def test_read_only_copy_on_read_only_media_verifies_reports_and_serves(
    tmp_path: Path, journal_made: tuple[Path, Path], parts: tuple[str, ...]
) -> None:
    _, journal = journal_made
    with _tmpfs(tmp_path / "media", "16m") as media:
        copy = media / "data"
        copy.mkdir()
        if parts == ("",):
            shutil.copyfile(journal, copy / journal.name)
            expected = _rows(journal)
        else:
            expected = _copy_with_wal(journal, copy, parts)
        config = _config(tmp_path / "copy.yaml", copy, 9)
        _remount_ro(media)
        before = sorted(os.listdir(copy))

        done = _cli("verify", "--journal", str(copy / journal.name))
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"OK — {expected} rows in" in done.stdout
        done = _cli("verify", "--journal", str(copy / journal.name), "--json")
        assert json.loads(done.stdout)["rows"] == expected
        for command in (["report", "--provider", "svc", "--format", "json"], ["outages"], ["status"]):
            done = _cli(*command, "-c", str(config))
            assert "Traceback" not in done.stderr and "error:" not in done.stderr, (command, done.stderr)
            assert done.returncode in (0, 1), (command, done.stderr)
        report = json.loads(_cli("report", "--provider", "svc", "--format", "json", "-c", str(config)).stdout)
        assert report["provider"]["id"] == "svc"

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        serve = subprocess.Popen(
            [sys.executable, "-m", "watchdog", "serve", "-c", str(config), "--listen", f"127.0.0.1:{port}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=_env(),
            cwd=ROOT,
        )
        try:
            assert serve.stdout is not None
            assert "serving" in serve.stdout.readline().decode()
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/status", timeout=10) as answer:
                status = json.loads(answer.read())
            assert answer.status == 200
            assert status["mode"] == "journal"
            assert [t["name"] for t in status["providers"][0]["targets"]] == ["web"]
        finally:
            serve.send_signal(signal.SIGTERM)
            _, err = serve.communicate(timeout=30)
        assert serve.returncode == 0 and b"Traceback" not in err, err
        assert sorted(os.listdir(copy)) == before  # nothing was created on the medium (it could not be)


def test_read_only_copy_as_an_unprivileged_user(tmp_path: Path, journal_made: tuple[Path, Path]) -> None:
    """``nobody`` (no capabilities) verifies and reports on a 0444 copy in a 0555 folder."""
    if not IS_ROOT or shutil.which("setpriv") is None or not SYSTEM_PYTHON.exists():
        pytest.skip("needs root, setpriv and a system Python of the same version")
    _, journal = journal_made
    base = Path(tempfile.mkdtemp(prefix="wd-ro-"))  # /tmp/pytest-of-root is 0700: nobody cannot enter it
    try:
        base.chmod(0o755)
        copy = base / "data"
        copy.mkdir()
        expected = _copy_with_wal(journal, copy, ("", "-wal"))
        config = _config(base / "copy.yaml", copy, 9)
        config.chmod(0o444)
        for f in copy.iterdir():
            f.chmod(0o444)
        copy.chmod(0o555)
        site = sysconfig.get_paths()["purelib"]
        as_nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all"]
        env = {
            "PYTHONPATH": f"{ROOT}:{site}",
            "PYTHONDONTWRITEBYTECODE": "1",
            "HOME": "/nonexistent",
            "LANG": "C.UTF-8",
        }
        run = [*as_nobody, str(SYSTEM_PYTHON), "-m", "watchdog"]
        probe = subprocess.run([*as_nobody, "sh", "-c", f"echo x >> {copy / journal.name}"], capture_output=True)
        assert probe.returncode != 0  # the permission bits really stop this user
        done = subprocess.run(
            [*run, "verify", "--journal", str(copy / journal.name)], capture_output=True, text=True, env=env, cwd="/"
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"OK — {expected} rows in" in done.stdout
        done = subprocess.run(
            [*run, "report", "--provider", "svc", "--format", "json", "-c", str(config)],
            capture_output=True,
            text=True,
            env=env,
            cwd="/",
        )
        assert done.returncode in (0, 1) and "Traceback" not in done.stderr, done.stderr
        assert json.loads(done.stdout)["provider"]["id"] == "svc"
        assert sorted(os.listdir(copy)) == [journal.name, journal.name + "-wal"]
    finally:
        for d in (base, base / "data"):
            if d.exists():
                d.chmod(0o755)
        shutil.rmtree(base, ignore_errors=True)


# ------------------------------------------------------------------------------ 2. damaged journals


def _damage_header(journal: Path) -> None:
    with journal.open("r+b") as f:
        f.write(b"garbage garbage!")  # the 16-byte "SQLite format 3\0" magic


def _damage_page(journal: Path) -> None:
    """Scribble over the results' root page: integrity_check fails, the file and its blocks still read."""
    conn = sqlite3.connect(journal)
    page = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'result_rows'").fetchone()[0]
    size = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    with journal.open("r+b") as f:
        f.seek((page - 1) * size)
        f.write(b"\xff" * 64)


def _damage_chain(journal: Path) -> None:
    conn = sqlite3.connect(journal)
    conn.execute("UPDATE blocks SET hash = zeroblob(32) WHERE no = (SELECT max(no) FROM blocks)")
    conn.commit()
    conn.close()


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (_damage_header, "file is not a database"),
        (_damage_page, "integrity_check"),
        (_damage_chain, "block"),
    ],
    ids=["header", "pages", "chain"],
)
def test_damaged_journal_is_set_aside_and_monitoring_goes_on(
    tmp_path: Path,
    journal_made: tuple[Path, Path],
    damage,
    reason: str,  # type: ignore[no-untyped-def]
) -> None:
    config, journal = journal_made
    conn = sqlite3.connect(journal)  # read-write: closing it leaves no -wal/-shm behind
    head = conn.execute("SELECT no, last_seq, hex(hash) FROM blocks ORDER BY no DESC LIMIT 1").fetchone()
    conn.close()
    old_size = journal.stat().st_size
    damage(journal)
    damaged_bytes = journal.read_bytes()

    t0 = time.monotonic()
    done = _cli("run", "-c", str(config), "--for", "3s")
    took = time.monotonic() - t0
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    aside = sorted(p.name for p in journal.parent.iterdir() if ".damaged-" in p.name)
    assert len(aside) == 1 and re.fullmatch(r"journal\.sqlite3\.damaged-\d{8}T\d{6}Z", aside[0]), aside
    kept = journal.parent / aside[0]
    assert kept.read_bytes() == damaged_bytes and kept.stat().st_size == old_size  # kept as it was
    lines = [line for line in done.stderr.splitlines() if "set aside" in line]
    assert len(lines) == 1 and aside[0] in lines[0] and reason in lines[0], done.stderr

    verdict = verify_journal(journal)
    assert verdict.ok, verdict.problems
    with Journal.open(journal, create=False, readonly=True) as j:
        first = j.conn.execute("SELECT seq, type, data FROM events ORDER BY seq LIMIT 1").fetchone()
        results, first_ns = j.conn.execute("SELECT count(*), min(ts_ns) FROM results").fetchone()
    assert first[0] == 1 and first[1] == "journal_set_aside"
    data = json.loads(first[2])
    assert data["file"] == aside[0]
    assert reason in data["reason"]
    if damage is _damage_header:
        assert data["head"] is None
    else:
        assert data["head"]["block"] == head[0] and data["head"]["last_seq"] == head[1]
        # the head the file shows now: for a broken chain that is the altered hash
        assert data["head"]["hash"] == ("00" * 32 if damage is _damage_chain else head[2].lower())
    assert results >= 2  # 3 s at 1 s: monitoring went on
    # the report of the new journal says where the time before it went, instead of only "agent not running"
    period = time.strftime("%Y-%m", time.gmtime(data["set_aside_ns"] / 1e9))
    shown = _cli("report", "-c", str(config), "--provider", "svc", "--period", period, "--json")
    assert shown.returncode == 0, shown.stderr
    shown_json = json.loads(shown.stdout)
    (said,) = shown_json["journals_set_aside"]
    reasons = [n["reason"] for n in shown_json["no_data"]]
    assert reasons[0] == "before this journal" and "before this journal" not in reasons[1:], reasons
    assert shown_json["no_data"][0]["end"]["ns"] <= first_ns
    assert (said["file"], said["reason"]) == (aside[0], data["reason"])
    for lang, words in (("en", "kept unchanged as"), ("ru", "сохранён без")):
        shown = _cli("report", "-c", str(config), "--provider", "svc", "--period", period, "--lang", lang)
        text = " ".join(shown.stdout.split())
        assert f"{words} {aside[0]}" in text or f"{words} изменений как {aside[0]}" in text, shown.stdout
    after_ms = (first_ns - data["set_aside_ns"]) / 1e6
    print(f"{reason}: first probe {after_ms:.0f} ms after setting aside; {results} results; run took {took:.1f} s")


# ------------------------------------------------------------------------------ 3. private files, no symlinks


def test_files_are_private_whatever_the_umask(tmp_path: Path, service: int) -> None:
    data = tmp_path / "new" / "data"
    config = _config(tmp_path / "watchdog.yaml", data, service)
    proc = _agent(config, tmp_path / "agent.log", umask=0o000)
    try:
        journal = data / "journal.sqlite3"
        _wait(lambda: _result_count(journal) >= 2, 20, "results")
        modes = {
            p.name: stat.S_IMODE(p.stat().st_mode)
            for p in (data, journal, Path(f"{journal}-wal"), Path(f"{journal}-shm"), data / "agent.lock")
        }
    finally:
        assert _stop(proc) == 0
    assert modes == {
        "data": 0o700,
        "journal.sqlite3": 0o600,
        "journal.sqlite3-wal": 0o600,
        "journal.sqlite3-shm": 0o600,
        "agent.lock": 0o600,
    }
    assert stat.S_IMODE((tmp_path / "new").stat().st_mode) == 0o700


def test_an_old_world_readable_journal_is_made_private(tmp_path: Path, journal_made: tuple[Path, Path]) -> None:
    config, journal = journal_made
    journal.chmod(0o644)
    (journal.parent / "agent.lock").chmod(0o644)
    done = _cli("run", "-c", str(config), "--for", "1s")
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(journal.stat().st_mode) == 0o600
    assert stat.S_IMODE((journal.parent / "agent.lock").stat().st_mode) == 0o600


@pytest.mark.parametrize("name", ["agent.lock", "journal.sqlite3", "journal.sqlite3-wal"])
def test_symlinks_in_the_data_dir_are_refused(tmp_path: Path, service: int, name: str) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious contents\n")
    (data / name).symlink_to(victim)
    config = _config(tmp_path / "watchdog.yaml", data, service)
    done = _cli("run", "-c", str(config), "--for", "1s")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: refusing to use {data / name}: it is a symbolic link (to {victim})"], done.stderr
    assert victim.read_text() == "precious contents\n"
    assert (data / name).is_symlink()


# ------------------------------------------------------------------------------ 4. full disk, read-only folder


def test_disk_full_at_start_waits_then_monitors(tmp_path: Path, service: int) -> None:
    with _tmpfs(tmp_path / "disk", "512k") as disk:
        data = disk / "data"
        filler = disk / "filler"
        subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=4k"], capture_output=True, check=False)
        config = _config(tmp_path / "watchdog.yaml", data, service)
        log = tmp_path / "agent.log"
        proc = _agent(config, log)
        try:
            journal = data / "journal.sqlite3"
            _wait(lambda: "disk full: " in log.read_text(), 20, "the disk-full line")
            time.sleep(4)  # it keeps waiting, it does not exit
            assert proc.poll() is None, log.read_text()
            assert _result_count(journal) == 0
            freed = time.monotonic()
            filler.unlink()
            took = _wait(lambda: _result_count(journal) >= 2, 60, "results after space returned")
        finally:
            code = _stop(proc)
        text = log.read_text()
        assert code == 0, text
        assert "Traceback" not in text
        full = [line for line in text.splitlines() if "disk full: " in line]
        assert full and re.search(rf"disk full: {re.escape(str(disk))}/\S+: ", full[0]), full
        assert len(full) <= 2  # one line, repeated only when the error changes
        verdict = verify_journal(journal)
        assert verdict.ok, verdict.problems
        with Journal.open(journal, create=False, readonly=True) as j:
            waits = j.conn.execute("SELECT data FROM events WHERE type = 'storage_wait'").fetchall()
        assert len(waits) == 1
        wait = json.loads(waits[0][0])
        assert wait["attempts"] >= 2 and "disk" in wait["error"] and wait["to_ns"] > wait["from_ns"]
        # the report names the wait for what it was, in its bounds, and not as "agent not running"
        period = time.strftime("%Y-%m", time.gmtime(wait["from_ns"] / 1e9))
        for lang, words in (("en", "agent waiting for disk space"), ("ru", "агент ждал места на диске")):
            shown = _cli("report", "-c", str(config), "--provider", "svc", "--period", period, "--lang", lang)
            assert shown.returncode == 0, shown.stderr
            assert sum(line.endswith(f"  {words}") for line in shown.stdout.splitlines()) == 1, shown.stdout
        shown = _cli("report", "-c", str(config), "--provider", "svc", "--period", period, "--json")
        no_data = json.loads(shown.stdout)["no_data"]
        waited = [n for n in no_data if n["reason"] == "waiting for disk space"]
        assert [n["duration_s"] for n in waited] == [(wait["to_ns"] - wait["from_ns"]) / 1e9], no_data
        print(f"probing started {took:.1f} s after space was freed ({time.monotonic() - freed:.1f} s to 2 results)")


def test_run_on_a_read_only_folder_is_a_one_line_error(tmp_path: Path, service: int) -> None:
    with _tmpfs(tmp_path / "ro", "1m") as ro:
        _remount_ro(ro)
        for data in (ro, ro / "data"):
            config = _config(tmp_path / "watchdog.yaml", data, service)
            done = _cli("run", "-c", str(config), "--for", "1s", timeout=30)
            assert done.returncode == 1, done.stderr
            assert "Traceback" not in done.stderr
            errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
            assert len(errors) == 1 and errors[0].startswith(f"error: read-only: {data}"), done.stderr
            assert "Read-only file system" in errors[0]
