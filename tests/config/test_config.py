"""Config loading: the example loads; every rule has one invalid file and its exact error message."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from watchdog.config import load, loads
from watchdog.documents.rulebook import check_config
from watchdog.errors import ConfigError
from watchdog.model import ProviderKind, Role
from watchdog.units import format_duration, parse_duration

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parents[1] / "data" / "config"
INVALID = sorted(DATA.glob("invalid-*.yaml"))


def test_example_config_loads() -> None:
    config = load(ROOT / "config" / "example.yaml", env={})
    assert config.agent.id == "home-msk-1"
    assert config.agent.timezone == "Europe/Moscow"
    assert config.quorum == 2
    keys = [t.key for t in config.targets]
    assert keys == [
        "lan/router",
        "internet/cloudflare-dns",
        "internet/google-dns-tcp",
        "internet/quad9",
        "broker/trading",
        "broker/web",
        "broker/cert",
        "isp/gateway",
    ]
    trading = config.target("broker/trading")
    assert (trading.interval_s, trading.timeout_s, trading.failure_threshold, trading.success_threshold) == (
        10.0,
        5.0,
        3,
        2,
    )
    assert config.target("broker/cert").interval_s == 6 * 3600
    assert config.target("lan/router").role is Role.LAN
    broker = config.provider("broker")
    assert broker.kind is ProviderKind.BROKER
    assert broker.name == "ИТ Инвест"
    assert broker.sla.availability == 99.5
    assert broker.sla.restore_within == 72 * 3600
    assert broker.hours[0].weekdays == frozenset({0, 1, 2, 3, 4})
    assert config.provider("isp").kind is ProviderKind.ISP


@pytest.mark.parametrize("path", INVALID, ids=[p.name for p in INVALID])
def test_invalid_config_gives_its_exact_error(path: Path) -> None:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("# expect: "), f"{path.name} must start with its expected error"
    expected = first.removeprefix("# expect: ")
    env = {k: v for k, v in os.environ.items() if k != "WATCHDOG_TEST_SURELY_UNSET"}
    with pytest.raises(ConfigError) as caught:
        loads(path.read_text(encoding="utf-8"), filename=path.name, env=env, checks=(check_config,))
    assert caught.value.problems == [expected]


def test_every_problem_is_reported_at_once() -> None:
    text = """
agent: {colour: blue}
defaults: {interval: 10s, timeout: 20s}
providers:
  - id: bank
    targets: [{name: web, kind: tcp, address: "127.0.0.1:443"}]
"""
    with pytest.raises(ConfigError) as caught:
        loads(text, filename="x.yaml", env={})
    assert caught.value.problems == [
        "x.yaml:2: agent.colour: unknown key "
        "(allowed: commit_delay, concurrency, data_dir, id, language, share, tags, timezone)",
    ]
    # structural errors stop before cross-field rules; fix them and the next rule speaks
    fixed = text.replace("agent: {colour: blue}", "agent: {id: a}")
    with pytest.raises(ConfigError) as caught:
        loads(fixed, filename="x.yaml", env={})
    assert caught.value.problems == [
        "x.yaml:6: providers[0].targets[0].name: timeout 20s must be shorter than interval 10s",
    ]


def test_environment_expansion() -> None:
    text = """
agent: {id: "${AGENT_ID}", data_dir: "${DATA:-/var/lib/wd}"}
notify: {urls: ["json://127.0.0.1:9/$${literal}"]}
providers:
  - {id: bank, targets: [{name: web, kind: tcp, address: "127.0.0.1:${PORT}"}]}
"""
    config = loads(text, env={"AGENT_ID": "flat-7", "PORT": "8443"})
    assert config.agent.id == "flat-7"
    assert config.agent.data_dir == "/var/lib/wd"
    assert config.target("bank/web").address == "127.0.0.1:8443"
    assert config.model.notify.urls[0].get_secret_value() == "json://127.0.0.1:9/${literal}"


def test_secrets_are_masked_in_repr() -> None:
    text = """
notify: {urls: ["tgram://CANARY-SECRET-123/456"]}
providers:
  - {id: bank, targets: [{name: web, kind: tcp, address: "127.0.0.1:443"}]}
"""
    config = loads(text, env={})
    assert "CANARY-SECRET-123" not in repr(config.model)
    assert "CANARY-SECRET-123" not in str(config.model.model_dump())


def test_readable_config_with_secrets_is_warned_about(tmp_path: Path) -> None:
    path = tmp_path / "watchdog.yaml"
    path.write_text(
        'notify: {urls: ["json://127.0.0.1:9/x"]}\n'
        'providers: [{id: bank, targets: [{name: web, kind: tcp, address: "127.0.0.1:443"}]}]\n'
    )
    path.chmod(0o644)
    config = load(path, env={})
    assert config.warnings == (
        f"{path}: holds secrets and is readable by other users (mode 644); run: chmod 600 {path}",
    )
    path.chmod(0o600)
    assert load(path, env={}).warnings == ()


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as caught:
        load(missing, env={})
    assert caught.value.problems == [f"{missing}:1: (file): cannot read: No such file or directory"]
    big = tmp_path / "big.yaml"
    big.write_bytes(b"#" * (1 << 20) + b"\n")
    with pytest.raises(ConfigError) as caught:
        load(big, env={})
    assert caught.value.problems == [f"{big}:1: (file): larger than 1048576 bytes"]


def test_alias_bomb_is_refused() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 8):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    with pytest.raises(ConfigError) as caught:
        loads("\n".join(lines), filename="bomb.yaml", env={})
    assert caught.value.problems == ["bomb.yaml:1: (top level): more than 100000 YAML nodes (alias bomb?)"]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("500ms", 0.5), ("10s", 10.0), ("5m", 300.0), ("72h", 259200.0), ("1d", 86400.0), ("1h30m", 5400.0)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds
    assert format_duration(seconds) == ("24h" if text == "1d" else text)


@pytest.mark.parametrize("bad", ["", "10", "10 s", "s", "1.5", "-5s", "5 m", "1h 30m", 10])
def test_bad_durations(bad: object) -> None:
    with pytest.raises(ValueError, match="expected a duration like 500ms, 10s, 5m or 72h"):
        parse_duration(bad)


def test_commit_delay_defaults_to_100ms_and_is_bounded() -> None:
    base = """
defaults: {interval: 10s, timeout: 5s}
providers:
  - id: bank
    targets: [{name: web, kind: tcp, address: "127.0.0.1:443"}]
"""
    assert loads(base, filename="x.yaml", env={}).agent.commit_delay == 0.1
    assert loads("agent: {commit_delay: 0ms}\n" + base, filename="x.yaml", env={}).agent.commit_delay == 0.0
    with pytest.raises(ConfigError) as caught:
        loads("agent: {commit_delay: 2s}\n" + base, filename="x.yaml", env={})
    assert caught.value.problems == ["x.yaml:1: agent.commit_delay: at most 1s, got 2s"]


def test_a_pattern_that_may_backtrack_without_end_is_warned_about_at_its_line() -> None:
    text = """\
ntp: {enabled: false}
providers:
  - id: bank
    targets:
      - name: api
        kind: http
        address: "http://127.0.0.1:9/"
        http:
          conditions:
            - "[STATUS] == 200"
            - "[BODY] ~= ^(\\\\w+\\\\s?)*$"
      - name: fix
        kind: tcp
        address: "127.0.0.1:9"
        tcp:
          steps:
            - {send: "hello"}
            - {expect: "^(a+)+ OK"}
            - {expect: "^220 .*ESMTP"}
"""
    tail = (
        ": on an answer it almost matches it can backtrack without end; each search is stopped after 500ms and"
        " the result is 'internal', so the target goes unwatched. Write it without the nested repeat"
        " (e.g. (a+)+ → a+), or possessive ((a+)++)"
    )
    assert loads(text, filename="w.yaml", env={}).warnings == (
        "w.yaml:11: providers[0].targets[0].http.conditions[1]: the regular expression /^(\\w+\\s?)*$/ repeats a"
        " group that holds a repeat ((\\w+\\s?)*)" + tail,
        "w.yaml:18: providers[0].targets[1].tcp.steps[1].expect: the regular expression /^(a+)+ OK/ repeats a"
        " group that holds a repeat ((a+)+)" + tail,
    )
