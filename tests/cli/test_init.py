"""``watchdog init`` and the commands with no watchdog.yaml (issue 15 item 1). Nothing is probed here.

Discovery is the real function reading a machine the test writes (its /proc/net/route and resolv.conf).
"""

from __future__ import annotations

import functools
import io
import stat
from pathlib import Path

import pytest

import watchdog.cli as cli
import watchdog.cli.init as init_cmd
from watchdog.cli import main
from watchdog.config import load
from watchdog.config.builtin import discover

ROUTE = (
    "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\neth0\t00000000\t0101A8C0\t0003\t0\t0\t0\t00000000\n"
)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "machine"
    (root / "proc" / "net").mkdir(parents=True)
    (root / "proc" / "net" / "route").write_text(ROUTE)
    (root / "etc").mkdir()
    (root / "etc" / "resolv.conf").write_text("nameserver 192.168.1.1\n")
    fake = functools.partial(discover, root=root, icmp=False, hostname="pi")
    monkeypatch.setattr(init_cmd, "discover", fake)
    monkeypatch.setattr(cli, "discover", fake)
    monkeypatch.delenv("WATCHDOG_ANCHORS", raising=False)
    monkeypatch.setenv("WATCHDOG_NTP", "off")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


def test_init_from_flags(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["init", "--provider-kind", "bank", "--name", "My Bank", "--target", "bank.example.com:443"]
    assert main([*argv, "--target", "https://bank.example.com/login", "--target", "bank.example.com:443"]) == 0
    assert capsys.readouterr() == (
        'wrote watchdog.yaml (mode 600): your line (router 192.168.1.1, 3 anchors, ISP) and bank "My Bank" with 3 '
        "targets\nnext: watchdog config check, then watchdog check; ./run.sh runs it from now on\n",
        "",
    )
    path = home / "watchdog.yaml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    config = load(path)
    assert [(t.key, t.kind, t.address) for t in config.targets] == [
        ("lan/gateway", "tcp", "192.168.1.1:53"),
        ("internet/cloudflare-dns", "tcp", "1.1.1.1:53"),
        ("internet/google-dns", "tcp", "8.8.8.8:53"),
        ("internet/quad9-dns", "tcp", "9.9.9.9:53"),
        ("isp/dns1", "dns", "192.168.1.1"),
        ("bank/bank-443", "tcp", "bank.example.com:443"),
        ("bank/web", "http", "https://bank.example.com/login"),
        ("bank/bank-443-2", "tcp", "bank.example.com:443"),
    ]
    assert main(["config", "check"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[:5] == [
        "watchdog.yaml: OK",
        "  agent pi, zone UTC, journal data/journal.sqlite3",
        "  controls: 1 LAN, 3 internet (quorum 2)",
        "  provider isp (kind isp): 1 target",
        "  provider bank (kind bank): 3 targets",
    ]

    # an existing file is kept unless --force
    before = path.read_text()
    assert main(["init", "--provider-kind", "other", "--target", "10.1.1.1:22"]) == 2
    assert capsys.readouterr() == ("", "watchdog.yaml exists: keep it, or run watchdog init --force to replace it\n")
    assert path.read_text() == before
    assert main(["init", "--force", "--anchor", "10.9.0.1:53", "--anchor", "10.9.0.2:53"]) == 0
    assert capsys.readouterr().out == (
        "wrote watchdog.yaml (mode 600): your line (router 192.168.1.1, 2 anchors, ISP)\n"
        "next: watchdog config check, then watchdog check; ./run.sh runs it from now on\n"
    )
    assert [t.key for t in load(path).targets] == ["lan/gateway", "internet/anchor1", "internet/anchor2", "isp/dns1"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--provider-kind", "broker", "--target", "trade.example.com"],
            "--target 'trade.example.com': write host:port (e.g. trade.example.com:443) or an https:// URL",
        ),
        (["--provider-kind", "broker", "--target", "h:99999"], "--target 'h:99999': write host:port (e.g. "),
        (["--provider-kind", "broker"], "a broker needs at least one --target host:port or https:// URL"),
        (["--target", "h:1"], "--name and --target need --provider-kind (broker, bank or other)"),
        (["--anchor", "1.1.1.1"], "--anchor: '1.1.1.1' is not host:port (e.g. 1.1.1.1:53)"),
        (["--provider-kind", "broker", "--id", "lan", "--target", "h:1"], "bad config:"),
    ],
)
def test_init_bad_input(home: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    assert main(["init", *argv]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(message)
    assert "Traceback" not in err
    assert not (home / "watchdog.yaml").exists()


def test_init_reserved_id_names_the_problem(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init", "--provider-kind", "broker", "--id", "lan", "--target", "h:1"]) == 2
    assert capsys.readouterr().err == (
        "bad config:\n"
        "  watchdog.yaml (not written):35: providers[1].id: 'lan' is reserved for the controls; pick another id\n"
    )


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_init_asks_at_a_terminal(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(
        "sys.stdin", Terminal("broker\nИТ Инвест\ntrade.example.ru:443\nhttps://broker.example.ru/\n\n")
    )
    assert main(["init", "-o", "mine.yaml"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "What else do you pay for and want watched: broker, bank or other? (empty: only your line) "
        "Its name, as reports and letters print it: "
        "Its addresses, one per line (host:port, or an https:// URL); an empty line ends:",
        '> > > wrote mine.yaml (mode 600): your line (router 192.168.1.1, 3 anchors, ISP) and broker "ИТ Инвест" '
        "with 2 targets",
        "next: watchdog config check -c mine.yaml, then watchdog check -c mine.yaml",
    ]
    broker = load(home / "mine.yaml").provider("broker")
    assert (broker.display_name, [t.name for t in broker.targets]) == ("ИТ Инвест", ["trade-443", "web"])

    monkeypatch.setattr("sys.stdin", Terminal("bakery\n"))
    assert main(["init", "-o", "other.yaml"]) == 2
    assert capsys.readouterr().err == "'bakery': answer broker, bank or other\n"


def test_no_config_means_the_builtin_default(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "check"]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines() == [
        "<built-in default>: OK",
        "  agent pi, zone UTC, journal data/journal.sqlite3",
        "  controls: 1 LAN, 3 internet (quorum 2)",
        "  provider isp (kind isp): 1 target",
        "    lan/gateway                  tcp   every 30s   timeout 5s     192.168.1.1:53",
        "    internet/cloudflare-dns      tcp   every 30s   timeout 5s     1.1.1.1:53",
        "    internet/google-dns          tcp   every 30s   timeout 5s     8.8.8.8:53",
        "    internet/quad9-dns           tcp   every 30s   timeout 5s     9.9.9.9:53",
        "    isp/dns1                     dns   every 30s   timeout 5s     192.168.1.1",
    ]
    assert err == "note: no watchdog.yaml here: using the built-in default (watchdog init writes one)\n"


def test_bad_anchor_env_is_a_usage_error(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WATCHDOG_ANCHORS", "nowhere")
    assert main(["run", "--for", "1s"]) == 2
    assert capsys.readouterr() == ("", "WATCHDOG_ANCHORS: 'nowhere' is not host:port (e.g. 1.1.1.1:53)\n")
