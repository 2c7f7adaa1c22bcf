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
"""

from __future__ import annotations

import logging
import re
from typing import Any, TextIO

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
