"""Text from outside (a provider's status line, its error text) made safe to show: terminal, logs, HTML, PDF.

A monitored provider controls the one-line ``detail`` of every probe result (the HTTP status line, a redirect
target, an error message). Printed raw, an ESC sequence in it repaints the terminal and a bidi override
reorders what the user reads; rendered raw into HTML it is markup. Here:

- :func:`printable` drops the C0 and C1 control characters (ESC, BEL, DEL, CSI, …) and the Unicode bidi
  controls (overrides, embeddings, isolates, marks) and line/paragraph separators; tab and newline stay.
- :class:`PrintableStream` wraps the CLI's stdout/stderr so that nothing the CLI prints carries them.
- :class:`PrintableLogFilter` does the same to every log record's message.
- :func:`html_autoescape` is the ``autoescape`` of every Jinja2 environment with template files: every
  template whose name says HTML (``*.html``, ``*.html.j2``, ``*.pdf.html.j2``, …) escapes every value.
- :class:`CompiledTemplates` keeps templates compiled once per process for environments made anew per call.
"""

from __future__ import annotations

import logging
import re
from typing import Any, TextIO

import jinja2

# C0 but tab and newline, DEL, C1; ALM, LRM/RLM, LRE/RLE/PDF/LRO/RLO, LRI/RLI/FSI/PDI; LS, PS
_UNPRINTABLE_RE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]")
_HTML_SUFFIXES = (".html", ".htm", ".xhtml", ".xml", ".svg")


def printable(text: str) -> str:
    """``text`` without control characters (tab and newline kept) and without bidi controls."""
    return _UNPRINTABLE_RE.sub("", text)


def html_autoescape(name: str | None) -> bool:
    """Jinja2 ``autoescape``: on for every template whose name has an HTML suffix (``.html.j2`` included)."""
    if name is None:
        return False
    parts = name.lower().split("/")[-1].split(".")[1:]
    return any(f".{part}" in _HTML_SUFFIXES for part in parts)


class CompiledTemplates(jinja2.BytecodeCache):
    """Jinja2 bytecode kept in memory for the life of the process.

    Reports, letters and pages build a new environment per call (its filters close over the time zone and the
    language), so Jinja2's own cache, which lives in the environment, never hits and every document parsed and
    compiled its templates again (~0.1 s each, most of a letter's time). The bytecode depends on the
    environment's options, so each kind of environment has its own instance; a changed template source does
    not match its checksum and is compiled anew.
    """

    def __init__(self) -> None:
        self._code: dict[str, bytes] = {}

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        code = self._code.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        self._code[bucket.key] = bucket.bytecode_to_string()


class PrintableStream:
    """A text stream that writes through :func:`printable` (the CLI's stdout and stderr)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        """Write ``text`` without its control characters; returns ``len(text)`` as callers expect."""
        self.stream.write(printable(text))
        return len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


class PrintableLogFilter(logging.Filter):
    """Drops control and bidi characters from every log record's message (a detail, a library's error)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the message if it holds such characters; never drop a record."""
        message = record.getMessage()
        clean = printable(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True
