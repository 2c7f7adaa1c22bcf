"""Regular expressions from the config, searched in what a provider sent, bounded in time and in input.

A pattern like ``^(a|a)*$`` backtracks for ever on the right input (``'a' * 40 + 'b'``). The standard
``re`` module cannot be stopped and holds the GIL while it searches, so one such search froze the whole
agent: every probe, the journal and the status page (issue 18). Patterns are therefore compiled with the
``regex`` package (the syntax of ``re``; it adds a ``timeout`` and can release the GIL) and searched:

* in at most :data:`MAX_SUBJECT` characters (bytes for a TCP dialogue) of the answer, the first ones;
* for at most :data:`SEARCH_TIMEOUT_S`, after which :class:`PatternTimeout` is raised;
* by :func:`search` on a worker thread with the GIL released, so the event loop goes on meanwhile.

A search that runs out of time says nothing about the provider: the probes turn it into ``internal``.
:func:`backtracking_risk` finds the usual culprit (a quantified group that holds a quantifier) so that
``watchdog config check`` can warn before the first probe.
"""

from __future__ import annotations

import asyncio
from typing import AnyStr

import regex

from watchdog.units import format_duration

SEARCH_TIMEOUT_S = 0.5
"""How long one search may run: far more than any sane pattern needs on :data:`MAX_SUBJECT` characters."""
MAX_SUBJECT = 1 << 20
"""Characters (or bytes) of an answer a pattern looks at: the first MiB."""


class PatternTimeout(Exception):
    """A search ran longer than :data:`SEARCH_TIMEOUT_S` and was stopped (the agent's trouble, not the target's)."""

    def __init__(self, pattern: str, size: int, unit: str = "characters") -> None:
        super().__init__(
            f"the regular expression {pattern} took longer than {format_duration(SEARCH_TIMEOUT_S)} on {size} "
            f"{unit} of the answer and was stopped: not counted against the target; simplify the pattern "
            "(a repeated group holding a repeat, such as (a+)+ or (a|a)*, backtracks without end)"
        )


def compile_text(pattern: str, flags: int = 0) -> regex.Pattern[str]:
    """Compile a text pattern; ``regex.error`` (a ``ValueError``-like error with the reason) if it is not one."""
    return regex.compile(pattern, flags)


def compile_bytes(pattern: bytes, flags: int = 0) -> regex.Pattern[bytes]:
    """Compile a bytes pattern (a TCP dialogue's expect)."""
    return regex.compile(pattern, flags)


def search_now(pattern: regex.Pattern[AnyStr], subject: AnyStr, shown: str) -> regex.Match[AnyStr] | None:
    """Search the first :data:`MAX_SUBJECT` items of ``subject`` on this thread, with the GIL released.

    Raises :class:`PatternTimeout` (naming ``shown``, the pattern as a detail quotes it: ``/^OK/``) after
    :data:`SEARCH_TIMEOUT_S`.
    ``subject`` must be immutable (``str`` or ``bytes``): the GIL is released while it is read.
    """
    part = subject[:MAX_SUBJECT]
    try:
        return pattern.search(part, timeout=SEARCH_TIMEOUT_S, concurrent=True)
    except TimeoutError:  # regex's own limit, raised on this thread (not a cancellation of the probe)
        raise PatternTimeout(shown, len(part), "bytes" if isinstance(part, bytes) else "characters") from None


async def search(pattern: regex.Pattern[AnyStr], subject: AnyStr, shown: str) -> regex.Match[AnyStr] | None:
    """:func:`search_now` on a worker thread: the event loop (other probes, the page) goes on meanwhile."""
    return await asyncio.to_thread(search_now, pattern, subject, shown)


def backtracking_risk(pattern: str) -> str | None:
    """The first repeated group that holds a repeat (``(a+)+``, ``(\\w+\\s?)*``, ``(a|b*){2,}``), or None.

    Such a group can match the same text in exponentially many ways, so a search that fails backtracks
    without end. A cheap scan of the pattern's text (escapes and ``[...]`` sets skipped), not a parser:
    it warns, it never refuses.
    """
    stack: list[tuple[int, bool]] = []  # per open group: where it starts, whether it holds a repeat
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "[":
            i = _set_end(pattern, i)
            continue
        if ch == "(":
            stack.append((i, False))
        elif ch == ")" and stack:
            start, inner = stack.pop()
            end = _repeat_end(pattern, i + 1)
            if inner and end is not None and not pattern.startswith("+", end):  # ``++``: possessive, no backtracking
                return pattern[start:end]
            if (inner or end is not None) and stack:
                stack[-1] = (stack[-1][0], True)
        elif _repeat_end(pattern, i) is not None and i > 0 and stack:
            stack[-1] = (stack[-1][0], True)
        i += 1
    return None


def risk_warning(pattern: str) -> str | None:
    """The config warning for a pattern :func:`backtracking_risk` flags, or None."""
    group = backtracking_risk(pattern)
    if group is None:
        return None
    return (
        f"the regular expression /{pattern}/ repeats a group that holds a repeat ({group}): on an answer it"
        f" almost matches it can backtrack without end; each search is stopped after"
        f" {format_duration(SEARCH_TIMEOUT_S)} and the result is 'internal', so the target goes unwatched."
        " Write it without the nested repeat (e.g. (a+)+ → a+), or possessive ((a+)++)"
    )


def _set_end(pattern: str, i: int) -> int:
    """The index after the ``]`` closing the set that opens at ``i`` (a leading ``^`` and ``]`` are members)."""
    j = i + 1
    if j < len(pattern) and pattern[j] == "^":
        j += 1
    if j < len(pattern) and pattern[j] == "]":
        j += 1
    while j < len(pattern) and pattern[j] != "]":
        j += 2 if pattern[j] == "\\" else 1
    return j + 1


def _repeat_end(pattern: str, i: int) -> int | None:
    """If an unbounded repeat (``*``, ``+``, ``{n,}``, or ``{n,m}`` with m > 1) starts at ``i``: the index after it."""
    if i >= len(pattern):
        return None
    if pattern[i] in "*+":
        return i + 1
    if pattern[i] == "{":
        close = pattern.find("}", i)
        body = pattern[i + 1 : close] if close > 0 else ""
        low, comma, high = body.partition(",")
        if close > 0 and low.strip().isdigit() and (not comma or not high.strip() or high.strip().isdigit()):
            if comma and (not high.strip() or int(high) > 1):
                return close + 1
            if not comma and int(low) > 1:
                return close + 1
    return None
