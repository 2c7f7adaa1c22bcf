"""Config files as YAML with the line of every key: ``${VAR}`` expansion, limits, and error lines.

Shared by the config loader and the rule catalogue (``watchdog.documents.rulebook``): both read plain
YAML through :class:`Walker` (duplicate keys and non-plain tags rejected, every key's line recorded) and
report problems as ``FILE:LINE: key.path: message`` through :class:`Problems`.

A config is composed with libyaml when PyYAML has it (about ten times faster: seconds at 10,000 targets),
and with PyYAML's pure-Python composer whenever libyaml is missing, the text is unusual (odd line breaks,
deep nesting) or anything fails on the way: every error, its message and its line, comes from the
pure-Python path exactly as before, and a text both accept gives both the same nodes and lines
(``tests/config/test_libyaml.py`` compares them).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn

import yaml

from watchdog.errors import ConfigError

MAX_NODES = 100_000
_ENV_RE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass
class Doc:
    """Plain data from YAML plus the line of every key path."""

    data: Any
    lines: dict[tuple[str | int, ...], int]
    filename: str
    node: yaml.Node | None = field(default=None, repr=False, compare=False)  # what ``data`` was walked from

    def line_of(self, path: tuple[str | int, ...]) -> int:
        """The line of the deepest known prefix of ``path`` (1-based)."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(tuple(path[:end]))
            if line is not None:
                return line
        return 1


def format_path(path: tuple[str | int, ...]) -> str:
    """``("providers", 0, "targets", 1, "interval")`` → ``providers[0].targets[1].interval``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out or "(top level)"


class Problems:
    def __init__(self, doc: Doc) -> None:
        self.doc = doc
        self.items: list[tuple[int, str]] = []

    def add(self, path: tuple[str | int, ...], message: str, line: int | None = None) -> None:
        where = line if line is not None else self.doc.line_of(path)
        self.items.append((where, f"{self.doc.filename}:{where}: {format_path(path)}: {message}"))

    def lines(self) -> list[str]:
        seen: set[str] = set()
        out = []
        for _, text in sorted(self.items, key=lambda item: item[0]):
            if text not in seen:
                seen.add(text)
                out.append(text)
        return out


class Walker:
    """Node tree → plain data, with lines, duplicate-key checks and ``${VAR}`` expansion."""

    def __init__(self, filename: str, env: Mapping[str, str], problems: list[tuple[int, str]]) -> None:
        self.filename = filename
        self.env = env
        self.problems = problems
        self.lines: dict[tuple[str | int, ...], int] = {}
        self.nodes = 0
        self.constructor = yaml.constructor.SafeConstructor()

    def walk(self, node: yaml.Node, path: tuple[str | int, ...]) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise TooBig
        self.lines.setdefault(path, node.start_mark.line + 1)
        expected_tag = _COLLECTION_TAGS.get(type(node))
        if expected_tag is not None and node.tag != expected_tag:
            raise yaml.constructor.ConstructorError(
                None, None, f"could not determine a constructor for the tag {node.tag!r}", node.start_mark
            )
        if isinstance(node, yaml.MappingNode):
            out: dict[str, Any] = {}
            for key_node, value_node in node.value:
                key = self.constructor.construct_object(key_node, deep=True)
                if not isinstance(key, str):
                    key = str(key)
                if key in out:
                    line = key_node.start_mark.line + 1
                    self.problems.append(
                        (
                            line,
                            f"{self.filename}:{line}: {format_path((*path, key))}: "
                            f"duplicate key (first given on line {self.lines[(*path, key)]})",
                        )
                    )
                    continue
                self.lines[(*path, key)] = key_node.start_mark.line + 1
                out[key] = self.walk(value_node, (*path, key))
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.walk(item, (*path, i)) for i, item in enumerate(node.value)]
        try:
            value = self.constructor.construct_object(node, deep=True)
        except (ValueError, KeyError, AttributeError, OverflowError) as exc:
            # a value YAML resolves to a type it then cannot build: 2026-02-30 (a date), !!int abc, !!bool maybe
            line = node.start_mark.line + 1
            kind = str(node.tag).rsplit(":", 1)[-1]
            reason = f" ({exc})" if isinstance(exc, ValueError) and str(exc) else ""
            raise BadScalar(
                f"{self.filename}:{line}: {format_path(path)}: {node.value!r} is not a valid {kind}{reason}: "
                "quote it if it is text"
            ) from None
        if isinstance(value, str) and "$" in value:
            value = self.expand(value, path, node.start_mark.line + 1)
        return value

    def expand(self, text: str, path: tuple[str | int, ...], line: int) -> str:
        def repl(m: re.Match[str]) -> str:
            if m.group(0) == "$$":
                return "$"
            name, default = m.group(1), m.group(2)
            if name in self.env:
                return self.env[name]
            if default is not None:
                return default
            self.problems.append(
                (line, f"{self.filename}:{line}: {format_path(path)}: environment variable {name} is not set")
            )
            return ""

        return _ENV_RE.sub(repl, text)


_COLLECTION_TAGS: dict[type[yaml.Node], str] = {
    yaml.MappingNode: "tag:yaml.org,2002:map",
    yaml.SequenceNode: "tag:yaml.org,2002:seq",
}


class TooBig(Exception):
    pass


class BadScalar(yaml.YAMLError):
    """A scalar YAML resolves to a type it cannot build (``2026-02-30``); the message is the problem line."""


MAX_DEPTH = 50  # flow brackets open at once; a config needs a handful, PyYAML recurses per level


def _too_deep(text: str) -> int | None:
    """The line where flow brackets (``[``, ``{``) first nest past MAX_DEPTH, or None.

    Counted on PyYAML's tokens (its scanner is a loop, not a recursion), so brackets inside quoted strings, such
    as a regex in an ``expect`` step, do not count. A text the scanner rejects is left to the composer, which
    reports the syntax error with its line.
    """
    depth = 0
    try:
        for token in yaml.scan(text, Loader=yaml.SafeLoader):
            if isinstance(token, (yaml.FlowSequenceStartToken, yaml.FlowMappingStartToken)):
                depth += 1
                if depth > MAX_DEPTH:
                    return int(token.start_mark.line) + 1
            elif isinstance(token, (yaml.FlowSequenceEndToken, yaml.FlowMappingEndToken)):
                depth = max(depth - 1, 0)
    except yaml.YAMLError:
        return None
    return None


def read_yaml(text: str, filename: str, env: Mapping[str, str]) -> tuple[Doc, list[tuple[int, str]]]:
    """Plain data with the line of every key, and the problems found on the way (raise ConfigError if it is no YAML)."""
    node = compose_libyaml(text)
    if node is not None:
        problems: list[tuple[int, str]] = []
        walker = Walker(filename, env, problems)
        try:
            data = walker.walk(node, ())
        except Exception:  # whatever it is, the pure-Python path below reports it as before
            data = None
        if isinstance(data, dict):
            return Doc(data, walker.lines, filename, node), problems
    return _read_yaml_pure(text, filename, env)


_LIBYAML_LOADER: type[Any] | None = getattr(yaml, "CSafeLoader", None)
# where libyaml and PyYAML's scanner disagree or might: tabs (libyaml takes them in places PyYAML rejects), line
# breaks they might count differently (NEL, LS, PS, a CR alone), a BOM past the start
_LIBYAML_UNSURE = re.compile("[\t\x85\u2028\u2029]|\r(?!\n)|(?<!^)\ufeff")
_OPENS = frozenset(
    {yaml.BlockMappingStartToken, yaml.BlockSequenceStartToken, yaml.FlowMappingStartToken, yaml.FlowSequenceStartToken}
)
_FLOW_OPENS = frozenset({yaml.FlowMappingStartToken, yaml.FlowSequenceStartToken})
_CLOSES = frozenset({yaml.BlockEndToken, yaml.FlowMappingEndToken, yaml.FlowSequenceEndToken})
# tags (libyaml ends one at a flow indicator, PyYAML does not), directives and "..." (their rules changed in libyaml)
_UNSURE_TOKENS = frozenset({yaml.TagToken, yaml.DirectiveToken, yaml.DocumentEndToken})
_BLOCK_STYLES = frozenset({"|", ">"})
_BLOCK_HEADER_COMMENT = re.compile(r"[|>][-+0-9]*#")  # libyaml takes "|#", PyYAML wants a space before the "#"


def compose_libyaml(text: str) -> yaml.Node | None:
    """libyaml's node tree of ``text``, or None where PyYAML's pure-Python composer must answer.

    None without libyaml, for an empty text, for a syntax error of any kind (its message and line are PyYAML's),
    for what the two scanners read differently (tabs, odd line breaks, tags, directives, a ``?`` inside a plain
    scalar in brackets: libyaml takes ``[a?]``, PyYAML rejects it), and for collections nested more than
    MAX_DEPTH deep: either the depth error of the pure-Python path or a case for its recursion guard, while
    libyaml composes recursively in C.
    """
    if _LIBYAML_LOADER is None or not text.endswith("\n") or _LIBYAML_UNSURE.search(text):
        return None  # without a last line break, an empty node at the end can get the next line in libyaml
    try:
        depth = flow = 0
        for token in yaml.scan(text, Loader=_LIBYAML_LOADER):
            kind = type(token)
            if kind in _OPENS:
                depth += 1
                flow += kind in _FLOW_OPENS
                if depth > MAX_DEPTH:
                    return None
            elif kind in _CLOSES:
                depth -= 1
                flow -= kind is not yaml.BlockEndToken
            elif isinstance(token, yaml.ScalarToken):
                if flow and token.plain and "?" in token.value:
                    return None
                if token.style in _BLOCK_STYLES and _BLOCK_HEADER_COMMENT.search(text):
                    return None
            elif kind in _UNSURE_TOKENS:
                return None
        node: yaml.Node | None = yaml.compose(text, Loader=_LIBYAML_LOADER)
    except Exception:  # a YAML error, or anything else libyaml does: the pure-Python path answers
        return None
    return node


def _read_yaml_pure(text: str, filename: str, env: Mapping[str, str]) -> tuple[Doc, list[tuple[int, str]]]:
    """read_yaml with PyYAML's pure-Python scanner and composer: the reference every error message comes from."""
    problems: list[tuple[int, str]] = []
    deep = _too_deep(text)
    if deep is not None:  # PyYAML recurses once per level: 900 brackets are a RecursionError
        raise_config([f"{filename}:{deep}: (syntax): brackets nested more than {MAX_DEPTH} levels deep"])
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except RecursionError:
        raise_config([f"{filename}:1: (syntax): nested too deeply"])
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise_config([f"{filename}:{line}: (syntax): {exc.problem or exc}"])
    except yaml.YAMLError as exc:
        raise_config([f"{filename}:1: (syntax): {exc}"])
    if node is None:
        return Doc({}, {}, filename), problems
    walker = Walker(filename, env, problems)
    try:
        data = walker.walk(node, ())
    except BadScalar as exc:
        raise_config([str(exc)])
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise_config([f"{filename}:{line}: (syntax): {exc.problem or exc} (only plain YAML is allowed)"])
    except RecursionError:
        raise_config([f"{filename}:1: (syntax): nested too deeply"])
    except TooBig:
        raise_config([f"{filename}:1: (top level): more than {MAX_NODES} YAML nodes (alias bomb?)"])
    if not isinstance(data, dict):
        raise_config([f"{filename}:1: (top level): expected a mapping of sections, got {type(data).__name__}"])
    return Doc(data, walker.lines, filename, node), problems


def raise_config(problems: list[str]) -> NoReturn:
    """Raise a ConfigError (a helper so control flow reads as a statement)."""

    raise ConfigError(problems)


def pydantic_message(err: Mapping[str, Any]) -> str:
    kind = err.get("type", "")
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required key is missing"
    msg = str(err.get("msg", "invalid value"))
    msg = msg.removeprefix("Value error, ")
    if kind != "value_error" and msg[:1].isupper() and msg[1:2].islower():
        msg = msg[0].lower() + msg[1:]
    if kind.endswith("_type") or kind == "model_type":
        got = err.get("input")
        return f"{msg.lower()}, got {type(got).__name__} {got!r}"[:300]
    return msg
