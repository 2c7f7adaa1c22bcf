"""Config text read with libyaml gives what PyYAML's pure-Python reader gives: data, lines, errors, pack text.

``read_yaml`` composes with libyaml where it can (ten times faster at 10,000 targets) and falls back to the
pure-Python path (``_read_yaml_pure``, the reference) on any error and wherever the two scanners read a text
differently; the redacted config a pack carries (its SHA-256 is journaled at agent start) is emitted by
PyYAML's pure-Python emitter from the same nodes, byte for byte what ``yaml.safe_load`` + ``safe_dump`` gave.
"""

from __future__ import annotations

import hashlib
import random
from pathlib import Path
from typing import Any

import pytest
import yaml

from watchdog.config import loads
from watchdog.config.redact import _emit, redact_config
from watchdog.config.source import _read_yaml_pure, compose_libyaml, read_yaml
from watchdog.errors import ConfigError

pytestmark = pytest.mark.skipif(not getattr(yaml, "__with_libyaml__", False), reason="PyYAML built without libyaml")

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "config"
ENV = {"INFLUX_TOKEN": "t0ken-from-env", "HOME_PW": "pw-from-env"}
HEAD = "ntp: {enabled: false}\n"
TARGET = '[{name: web, kind: tcp, address: "127.0.0.1:443"}]'

WITH_SECRETS = """agent: {id: home, timezone: UTC}
ntp: {enabled: false}
defaults: {interval: &every 30s, timeout: 5s}
notify:
  urls: ["json://user:hunter2@127.0.0.1:9/x", "${NOTIFY_URL:-tgram://bot/chat}"]
influxdb: {url: "http://127.0.0.1:8086", token: "${INFLUX_TOKEN}", bucket: b, org: o}
web: {token: literal-web-token-1234}
providers:
  - id: bank
    name: "Банк «Ромашка» — 'quoted' \\"twice\\""
    targets:
      - name: web
        kind: http
        interval: *every
        address: "http://admin:pw@127.0.0.1:8/"
        http: &h
          headers: {Authorization: Bearer abc, X-Plain: "yes"}
      - name: api
        kind: http
        address: "http://127.0.0.1:8/api"
        http: *h
      - {name: tcp, kind: tcp, address: "127.0.0.1:443"}
"""
WINDOWS = HEAD.replace("\n", "\r\n") + f"providers:\r\n  - id: bank\r\n    targets: {TARGET}\r\n"
BOM = "\ufeff" + HEAD + f"providers:\n  - id: bank\n    targets: {TARGET}\n"
TEXTS = {
    **{f"config/{p.name}": p.read_text(encoding="utf-8") for p in sorted((ROOT / "config").glob("*.yaml"))},
    **{p.name: p.read_text(encoding="utf-8") for p in sorted(DATA.glob("*.yaml"))},
    "with-secrets": WITH_SECRETS,
    "windows-line-breaks": WINDOWS,
    "byte-order-mark": BOM,
}


def _read(reader: Any, text: str) -> tuple[Any, ...]:
    try:
        doc, problems = reader(text, "c.yaml", ENV)
    except ConfigError as exc:
        return ("error", exc.problems)
    return ("ok", doc.data, doc.lines, problems)


def _reference_redaction(text: str) -> str:
    """redact_config as it was: ``yaml.safe_load`` (pure Python), then the pure-Python emitter."""
    return _emit(yaml.safe_load(text) or {})


def _outcome(redact: Any, text: str) -> str | tuple[str, str]:
    try:
        return str(redact(text))
    except (yaml.YAMLError, ValueError) as exc:  # a syntax error, or a date that does not exist (2026-02-30)
        return (type(exc).__name__, str(exc))


@pytest.mark.parametrize("name", list(TEXTS))
def test_libyaml_reads_the_repo_configs_as_pure_python_does(name: str) -> None:
    text = TEXTS[name]
    assert _read(read_yaml, text) == _read(_read_yaml_pure, text)
    assert _outcome(redact_config, text) == _outcome(_reference_redaction, text)


def test_the_fast_path_is_taken_for_ordinary_configs() -> None:
    ordinary = ("config/example.yaml", "config/recipes.yaml", "with-secrets", "windows-line-breaks", "byte-order-mark")
    for name in ordinary:
        assert compose_libyaml(TEXTS[name]) is not None, name


@pytest.mark.parametrize("name", ["config/example.yaml", "with-secrets"])
def test_the_journaled_pack_hash_is_unchanged(name: str) -> None:
    config = loads(TEXTS[name], filename="c.yaml", env=ENV)
    assert config.pack_sha256 == hashlib.sha256(_reference_redaction(TEXTS[name]).encode("utf-8")).hexdigest()


def test_the_redacted_text_of_a_config_with_secrets() -> None:
    assert redact_config(WITH_SECRETS).splitlines()[2:] == [
        "agent:",
        "  id: home",
        "  timezone: UTC",
        "ntp:",
        "  enabled: false",
        "defaults:",
        "  interval: 30s",
        "  timeout: 5s",
        "notify:",
        "  urls:",
        "  - <redacted>",
        "  - <redacted>",
        "influxdb:",
        "  url: http://127.0.0.1:8086",
        "  token: ${INFLUX_TOKEN}",
        "  bucket: b",
        "  org: o",
        "web:",
        "  token: <redacted>",
        "providers:",
        "- id: bank",
        "  name: Банк «Ромашка» — 'quoted' \"twice\"",
        "  targets:",
        "  - name: web",
        "    kind: http",
        "    interval: 30s",
        "    address: http://admin:<redacted>@127.0.0.1:8/",
        "    http:",
        "      headers:",
        "        Authorization: <redacted>",
        "        X-Plain: 'yes'",
        "  - name: api",
        "    kind: http",
        "    address: http://127.0.0.1:8/api",
        "    http:",
        "      headers:",
        "        Authorization: <redacted>",
        "        X-Plain: 'yes'",
        "  - name: tcp",
        "    kind: tcp",
        "    address: 127.0.0.1:443",
    ]


BROKEN = {
    "flow": (
        HEAD + "providers: [{id: a, targets: [{name: web, kind: tcp: x}]}]\n",
        ["c.yaml:2: (syntax): expected ',' or '}', but got ':'"],
    ),
    # libyaml takes each of the next five; PyYAML, and so the config, does not
    "question-mark-in-brackets": (
        HEAD + "agent: {id: a?b}\n",
        ["c.yaml:2: (syntax): expected ',' or '}', but got '?'"],
    ),
    "tab-indent": (
        HEAD + "agent:\n\tid: a\n",
        ["c.yaml:3: (syntax): found character '\\t' that cannot start any token"],
    ),
    "tab-after-colon": (
        HEAD + "agent:\n  id:\tx\n",
        ["c.yaml:3: (syntax): found character '\\t' that cannot start any token"],
    ),
    "block-header-comment": (
        HEAD + "agent:\n  id: |#\n    x\n",
        ["c.yaml:3: (syntax): expected chomping or indentation indicators, but found '#'"],
    ),
    "str-tag-in-brackets": (
        HEAD + "agent: {tags: [!!str, a]}\n",
        [
            "c.yaml:2: (syntax): could not determine a constructor for the tag 'tag:yaml.org,2002:str,' "
            "(only plain YAML is allowed)"
        ],
    ),
    "unclosed-quote": (HEAD + 'agent:\n  id: "x\n', ["c.yaml:4: (syntax): found unexpected end of stream"]),
    "python-tag": (
        HEAD + "agent:\n  id: !!python/object/apply:os.system [echo]\n",
        [
            "c.yaml:3: (syntax): could not determine a constructor for the tag "
            "'tag:yaml.org,2002:python/object/apply:os.system' (only plain YAML is allowed)"
        ],
    ),
    "merge-key": (
        HEAD + "x: &d {interval: 10s}\ndefaults:\n  <<: *d\n",
        [
            "c.yaml:4: (syntax): could not determine a constructor for the tag 'tag:yaml.org,2002:merge' "
            "(only plain YAML is allowed)"
        ],
    ),
    "duplicate-key": (
        HEAD + "agent:\n  id: a\n  id: b\n",
        ["c.yaml:4: agent.id: duplicate key (first given on line 3)"],
    ),
    "unset-env": (
        HEAD + "agent:\n  id: ${WATCHDOG_TEST_SURELY_UNSET}\n",
        ["c.yaml:3: agent.id: environment variable WATCHDOG_TEST_SURELY_UNSET is not set"],
    ),
    "impossible-date": (
        HEAD + "agent:\n  id: 2026-02-30\n",
        [
            "c.yaml:3: agent.id: '2026-02-30' is not a valid timestamp (day is out of range for month): "
            "quote it if it is text"
        ],
    ),
    "not-a-mapping": ("- a\n- b\n", ["c.yaml:1: (top level): expected a mapping of sections, got list"]),
    "two-documents": (HEAD + "---\nagent: {}\n", ["c.yaml:2: (syntax): but found another document"]),
    "directive": (
        "%YAML 1.1\n---\n" + HEAD + "agent: {id: [}\n",
        ["c.yaml:4: (syntax): expected the node content, but found '}'"],
    ),
    "deep-brackets": (
        HEAD + "agent: " + "[" * 60 + "]" * 60 + "\n",
        ["c.yaml:2: (syntax): brackets nested more than 50 levels deep"],
    ),
    "alias-bomb": (
        "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
        + "".join(f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 10)}]\n" for i in range(6)),
        ["c.yaml:1: (top level): more than 100000 YAML nodes (alias bomb?)"],
    ),
    "recursive-alias": (HEAD + "a: &x [*x]\n", ["c.yaml:1: (syntax): nested too deeply"]),
    "no-last-line-break": (
        HEAD + "agent:\n  id: [",
        ["c.yaml:3: (syntax): expected the node content, but found '<stream end>'"],
    ),
    "lone-carriage-returns": (
        HEAD + "agent:\r  id: [\r",
        ["c.yaml:4: (syntax): expected the node content, but found '<stream end>'"],
    ),
    "bad-escape": (HEAD + 'agent:\n  id: "\\q"\n', ["c.yaml:3: (syntax): found unknown escape character 'q'"]),
    "mapping-value": (HEAD + "agent:\n  id: a: b\n", ["c.yaml:3: (syntax): mapping values are not allowed here"]),
    "bad-indent": (
        HEAD + "agent:\n  id: a\n timezone: UTC\n",
        ["c.yaml:4: (syntax): expected <block end>, but found '<block mapping start>'"],
    ),
}


@pytest.mark.parametrize("name", list(BROKEN))
def test_a_broken_config_gives_the_same_error_either_way(name: str) -> None:
    text, expected = BROKEN[name]
    pure = _read(_read_yaml_pure, text)
    assert _read(read_yaml, text) == pure
    found = pure[1] if pure[0] == "error" else [message for _, message in pure[3]]
    assert found == expected


def test_deep_block_nesting_is_left_to_the_pure_python_path() -> None:
    # libyaml composes recursively in C; past MAX_DEPTH levels (here 61) it is not asked to
    text = HEAD + "".join(" " * i + "a:\n" for i in range(60)) + " " * 60 + "b\n"
    assert compose_libyaml(text) is None
    assert _read(read_yaml, text) == _read(_read_yaml_pure, text)


def _shape(node: yaml.Node | None, out: list[Any], depth: int = 0) -> list[Any]:
    """What the walk and the constructor use of a node tree: kinds, tags, values, start lines."""
    if node is None or depth > 60:
        out.append(node if node is None else "deep")
        return out
    out.append((type(node).__name__, node.tag, node.start_mark.line))
    if isinstance(node, yaml.ScalarNode):
        out.append(node.value)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _shape(item, out, depth + 1)
    elif isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            _shape(key, out, depth + 1)
            _shape(value, out, depth + 1)
    return out


PIECES = [
    *("a", "b", "1", "e", "é", "~", "0x1", "1_0", "a:b", ":b", ".", "@", "%", "\\", "<<"),
    *(" ", "  ", "\n", "\r\n", "\n  ", "\n- ", ": ", ":", "- ", "-", "? ", "?", ",", "#", " #"),
    *("[", "]", "{", "}", "'", '"', "'a''b'", '"\\x41"', '"\\/"', "&x ", "*x", "!", "!!str "),
    *("|", ">", "|2", "|-", ">+", "---", "...", "\ufeff"),
]


def test_libyaml_composes_what_pure_python_composes_on_random_snippets() -> None:
    # a seeded sample of the search that found the differences guarded against (tabs, "[a?]", "|#", "!!str,",
    # an empty node at the end of a text without a last line break); 150,000 snippets agreed with the guards
    rng = random.Random(19)
    fast = 0
    for _ in range(3000):
        text = "".join(rng.choice(PIECES) for _ in range(rng.randint(1, 14))) + rng.choice(["\n", "\n", ""])
        node = compose_libyaml(text)
        if node is None:
            continue
        fast += 1
        assert _shape(node, []) == _shape(yaml.compose(text, Loader=yaml.SafeLoader), []), repr(text)
    assert fast > 500
