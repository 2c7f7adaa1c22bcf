"""Documents the status page links to (SLA report, evidence pack, complaint): a registry of renderers.

The page never builds these itself: whoever starts the server passes ``{name: renderer}``, and a link is
shown only for a registered name, so nothing dead is ever offered. A renderer is a plain blocking
function (it may write a PDF or a zip); the server calls it in a worker thread.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from watchdog.config import Config, ProviderSection
from watchdog.sla import Period

# Names with their own link text on the page; any other registered name is shown as itself.
KNOWN = ("report", "evidence", "complaint")


@dataclass(frozen=True, slots=True)
class DocumentRequest:
    """What to render: one provider, one period, in the page's language."""

    config: Config
    journal_path: Path
    provider: ProviderSection
    period: Period
    language: str


@dataclass(frozen=True, slots=True)
class Document:
    """A rendered document: its bytes, content type and the file name a browser should save it as."""

    body: bytes
    content_type: str
    filename: str | None = None  # set → served as an attachment


class DocumentRenderer(Protocol):
    """``render(request) -> Document``; blocking is fine (it runs in a thread)."""

    def __call__(self, request: DocumentRequest, /) -> Document:
        """Render one document."""
        ...


Documents = Mapping[str, DocumentRenderer]


def default_documents() -> dict[str, DocumentRenderer]:
    """The renderers ``watchdog run`` and ``watchdog serve`` offer: register report, evidence, complaint here."""
    return {}
