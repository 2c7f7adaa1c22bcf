"""Conditions on an HTTP answer, written the way Gatus users write them, and numbers read from it.

A condition is ``SUBJECT OPERATOR VALUE``::

    [STATUS] == 200
    [RESPONSE_TIME] < 800              # milliseconds
    [HEADER].Content-Type ~= ^application/json
    [BODY].status == UP                # JSONPath into the JSON body: $.status
    [BODY].data.accounts[0].balance >= 100
    [BODY] ~= "ready"                  # a regular expression searched in the body text

Operators: ``==`` ``!=`` ``<`` ``<=`` ``>`` ``>=`` (numbers compare as numbers, the rest as text; JSON
``true``/``false``/``null`` as those words) and ``~=`` / ``!~`` (a regular expression that must / must
not be found). A value may be quoted ("two words"). The JSONPath after ``[BODY]`` is read with
``jsonpath-ng`` (its extended parser: filters such as ``[?(@.id == 'main')]`` work too); the first match
counts. Everything is parsed when the config is loaded, so a typo is a config error at its line.
Regular expressions are searched with a time limit (:mod:`probes._pattern`); a JSONPath that holds one of
its own (a filter's ``=~``, ``sub()``) is refused, because jsonpath-ng would run it with none.
"""

from __future__ import annotations

import calendar
import datetime as dt
import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import regex
from jsonpath_ng import JSONPath
from jsonpath_ng.exceptions import JsonPathLexerError, JsonPathParserError
from jsonpath_ng.ext.filter import Expression as JsonPathExpression
from jsonpath_ng.ext.parser import parse as jsonpath_parse
from jsonpath_ng.ext.string import Sub as JsonPathSub

from probes._pattern import compile_text, search_now

_SUBJECT = re.compile(r"^\s*\[(STATUS|RESPONSE_TIME|BODY|HEADER)\](.*?)\s*$", re.S)
_OPERATORS = ("==", "!=", "<=", ">=", "~=", "!~", "<", ">")
_HEADER_NAME = re.compile(r"^\.([A-Za-z0-9!#$%&'*+.^_`|~-]+)$")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_SHOWN = 40


@dataclass(frozen=True)
class Answer:
    """What the conditions look at: status, response time, headers (lower-case names) and body."""

    status: int
    elapsed_s: float
    headers: Mapping[str, str]
    body: bytes
    charset: str

    @functools.cached_property
    def text(self) -> str:
        try:
            return self.body.decode(self.charset, errors="replace")
        except LookupError:
            return self.body.decode("utf-8", errors="replace")

    @functools.cached_property
    def document(self) -> Any:
        """The body as JSON; raises ValueError if it is not JSON."""
        return json.loads(self.text)


class Missing(Exception):
    """The subject is not in the answer (no such header, no JSON match, a body that is not JSON)."""


@dataclass(frozen=True, slots=True)
class Subject:
    """Where a value comes from: ``[STATUS]``, ``[RESPONSE_TIME]``, ``[HEADER].Name``, ``[BODY]``, ``[BODY].path``."""

    kind: str
    path: str  # the header's name, or the JSONPath after [BODY] ("" for the whole body)
    written: str

    def value(self, answer: Answer) -> Any:
        if self.kind == "STATUS":
            return answer.status
        if self.kind == "RESPONSE_TIME":
            return round(answer.elapsed_s * 1000, 1)
        if self.kind == "HEADER":
            value = answer.headers.get(self.path.lower())
            if value is None:
                raise Missing("no such header")
            return value
        if not self.path:
            return answer.text
        try:
            document = answer.document
        except ValueError:
            raise Missing("the body is not JSON") from None
        matches = _compiled_path(self.path).find(document)
        if not matches:
            raise Missing("not found")
        return matches[0].value


@functools.lru_cache(maxsize=1024)
def _compiled_path(path: str) -> Any:
    return jsonpath_parse("$" + path)


def _has_regex(node: Any, depth: int = 0) -> bool:
    """True if a parsed JSONPath holds a regular expression: a filter's ``=~`` or a `` `sub(/re/, x)` ``.

    jsonpath-ng runs those with the standard ``re`` (no time limit, the GIL held), on the provider's JSON.
    """
    if depth > 200:  # the parser nests one level per step: far deeper than any path the config takes
        return True
    if isinstance(node, JsonPathSub) or (isinstance(node, JsonPathExpression) and node.op == "=~"):
        return True
    if isinstance(node, list | tuple):
        return any(_has_regex(item, depth + 1) for item in node)
    if isinstance(node, JSONPath):
        return any(_has_regex(value, depth + 1) for value in vars(node).values())
    return False


def parse_subject(text: str) -> Subject:
    """``[BODY].data.balance`` → a Subject; ValueError with the reason if it is not one."""
    m = _SUBJECT.match(text)
    if m is None:
        raise ValueError(f"not [STATUS], [RESPONSE_TIME], [HEADER].Name, [BODY] or [BODY].json.path: {text!r}")
    return _subject(m.group(1), m.group(2), text.strip())


def _subject(kind: str, rest: str, written: str) -> Subject:
    if kind in ("STATUS", "RESPONSE_TIME") and rest:
        raise ValueError(f"[{kind}] takes no path: {written!r}")
    if kind == "HEADER":
        m = _HEADER_NAME.match(rest)
        if m is None:
            raise ValueError(f"write [HEADER].Name: {written!r}")
        return Subject(kind, m.group(1), f"[HEADER].{m.group(1)}")
    if kind == "BODY" and rest:
        if not rest.startswith((".", "[")):
            raise ValueError(f"a JSONPath after [BODY] starts with . or [: {written!r}")
        try:
            _compiled_path(rest)
        except (JsonPathLexerError, JsonPathParserError, ValueError, TypeError, AttributeError) as exc:
            raise ValueError(f"not a JSONPath: {rest!r} ({exc})") from exc
        if _has_regex(_compiled_path(rest)):
            raise ValueError(
                f"a regular expression inside a JSONPath (=~ or sub()) cannot be time-limited and could stall the"
                f" agent on a provider's answer: select the value and write a condition '[BODY].path ~= pattern'"
                f" instead: {rest!r}"
            )
    return Subject(kind, rest, f"[{kind}]{rest}")


@dataclass(frozen=True, slots=True)
class Reading:
    """Where a metric comes from: a subject's value, or what ``~= pattern`` finds in it (an HTML account page).

    ``[BODY] ~= "Баланс:\\s*([-\\d ,.]+)"`` reads the first group (else the whole match) of the first match.
    """

    subject: Subject
    pattern: regex.Pattern[str] | None = None

    def value(self, answer: Answer) -> Any:
        """The value; :class:`Missing` when it is not there, :class:`~probes._pattern.PatternTimeout` as a search."""
        got = self.subject.value(answer)
        if self.pattern is None:
            return got
        found = search_now(self.pattern, _as_text(got), f"/{self.pattern.pattern}/")
        if found is None:
            raise Missing("no match")
        return found.group(1) if self.pattern.groups else found.group(0)


def parse_reading(text: str) -> Reading:
    """A metric: ``[BODY].json.path``, ``[HEADER].Name``, ``[RESPONSE_TIME]``, or one of them ``~= pattern``."""
    split = _split(text)
    if split is None:
        return Reading(parse_subject(text))
    left, op, raw = split
    if op != "~=" or _SUBJECT.match(left) is None:
        raise ValueError(
            "a metric reads a value ([BODY].json.path, [HEADER].Name, [RESPONSE_TIME]) or searches one with ~= pattern"
            f" (its first group, else the whole match, is read): {text!r}"
        )
    subject = parse_subject(left)
    value = _unquote(raw.strip())
    if not value:
        raise ValueError(f"no pattern after ~=: {text!r}")
    try:
        return Reading(subject, compile_text(value))
    except regex.error as exc:
        raise ValueError(f"not a regular expression: {value!r} ({exc})") from exc


@dataclass(frozen=True, slots=True)
class Condition:
    """One parsed condition."""

    subject: Subject
    op: str
    value: str
    written: str
    pattern: regex.Pattern[str] | None = None

    def check(self, answer: Answer) -> str | None:
        """None if it holds; else why not, short ("got 'maintenance'").

        A regular expression looks at the first MiB of the value for at most half a second (:mod:`probes._pattern`);
        past that :class:`~probes._pattern.PatternTimeout`. It releases the GIL: run it on a worker thread.
        """
        try:
            got = self.subject.value(answer)
        except Missing as exc:
            return str(exc)
        if self.pattern is not None:
            found = search_now(self.pattern, _as_text(got), f"/{self.value}/") is not None
            return None if found == (self.op == "~=") else f"got {_quote(got)}"
        left, right = _comparable(got), _comparable_literal(self.value)
        if isinstance(left, float) and isinstance(right, float):
            holds = _compare(left, self.op, right)
        elif self.op in ("==", "!="):
            holds = (_as_text(got) == self.value) == (self.op == "==")
        else:
            return f"got {_quote(got)}, not a number"
        return None if holds else f"got {_quote(got)}"


def parse_condition(text: str) -> Condition:
    """Parse one condition; ValueError with the reason if it is not one."""
    split = _split(text)
    m = _SUBJECT.match(split[0]) if split else None
    if split is None or m is None:
        raise ValueError(
            f"not a condition like '[STATUS] == 200' or '[BODY].status == UP' "
            f"(operators == != < <= > >= ~= !~): {text!r}"
        )
    kind, rest = m.groups()
    op, raw = split[1], split[2].strip()
    subject = _subject(kind, rest, text)
    value = _unquote(raw)
    if raw[:1] in ("=", "<", ">", "!", "~"):
        raise ValueError(f"unknown operator {op + raw.split()[0]!r} (operators == != < <= > >= ~= !~): {text!r}")
    if value == "" and op not in ("==", "!="):
        raise ValueError(f"no value after {op}: {text!r}")
    pattern = None
    if op in ("~=", "!~"):
        try:
            pattern = compile_text(value)
        except regex.error as exc:
            raise ValueError(f"not a regular expression: {value!r} ({exc})") from exc
    elif op in ("<", "<=", ">", ">=") and not _NUMBER.match(value):
        raise ValueError(f"{op} compares numbers: {value!r} is not one")
    elif kind in ("STATUS", "RESPONSE_TIME") and not _NUMBER.match(value):
        raise ValueError(f"[{kind}] is a number: {value!r} is not one")
    return Condition(subject, op, value, f"{subject.written} {op} {raw.strip()}", pattern)


def _split(text: str) -> tuple[str, str, str] | None:
    """Subject, operator, value: the first operator outside brackets and quotes (a JSONPath filter keeps its own)."""
    depth, quote = 0, ""
    for i, ch in enumerate(text):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "[(":
            depth += 1
        elif ch in "])":
            depth -= 1
        elif depth == 0:
            for op in _OPERATORS:
                if text.startswith(op, i):
                    return text[:i], op, text[i + len(op) :]
    return None


def _unquote(raw: str) -> str:
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "\"'":
        return raw[1:-1]
    return raw


def _compare(a: float, op: str, b: float) -> bool:
    return {
        "==": a == b,
        "!=": a != b,
        "<": a < b,
        "<=": a <= b,
        ">": a > b,
        ">=": a >= b,
    }[op]


def number_of(value: Any) -> float | None:
    """A JSON number, a numeric string ("180.50", "1 234,5" as banks write it), else None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        text = value.strip().replace("\u00a0", "").replace(" ", "")
        if _NUMBER.match(text):
            return float(text)
        if re.fullmatch(r"[+-]?\d+,\d+", text):
            return float(text.replace(",", "."))
    return None


_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[T ].*)?$")
_RU_DATE = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})$")
_CARD = re.compile(r"^(\d{1,2})\s*/\s*(\d{2}|\d{4})$")


def date_of(value: Any) -> dt.date | None:
    """``2027-03-31`` (or an ISO time), ``31.03.2027``, or a card's ``03/27`` (valid to the month's end); else None."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    try:
        if m := _ISO_DATE.match(text):
            return dt.date(int(m[1]), int(m[2]), int(m[3]))
        if m := _RU_DATE.match(text):
            return dt.date(int(m[3]), int(m[2]), int(m[1]))
        if m := _CARD.match(text):
            year = int(m[2]) + (2000 if len(m[2]) == 2 else 0)
            month = int(m[1])
            return dt.date(year, month, calendar.monthrange(year, month)[1])
    except ValueError:
        return None
    return None


def _comparable(value: Any) -> float | str:
    number = number_of(value)
    return number if number is not None else _as_text(value)


def _comparable_literal(value: str) -> float | str:
    return float(value) if _NUMBER.match(value) else value


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _quote(value: Any) -> str:
    text = _as_text(value)
    if len(text) > _SHOWN:
        text = text[: _SHOWN - 1] + "…"
    return repr(text) if isinstance(value, str) else text
