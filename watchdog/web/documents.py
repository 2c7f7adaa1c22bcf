"""Documents the status page links to (SLA report, evidence pack, complaint): a registry of renderers.

The page never builds these itself: whoever starts the server passes ``{name: renderer}``, and a link is
shown only for a registered name, so nothing dead is ever offered. A renderer is a plain blocking
function (it may write a PDF or a zip); the server calls it in a worker thread. Inside ``watchdog run`` the
built-in ones hand the work to a child process (:class:`DocumentWorker`) and only wait in that thread.

:func:`default_documents` registers the real ones: ``report`` (the SLA report as HTML), ``evidence`` (the
pack zip), ``complaint`` (the letter as HTML) and ``complaint-pdf``, all in the page's language. Every one is
served as a download: the page's Content-Security-Policy forbids inline styles, and a saved file is what
the customer sends anyway. A letter lists the SHA-256 of its pack, so the letter and the pack must be the
same pack even when they are fetched a minute apart while the agent keeps writing: the renderers share a
pack for :data:`PACK_REUSE_S` (per provider, period and language), then build a fresh one. The journal is opened
read-only: the page changes nothing, and the pack holds what the agent has sealed (it seals every minute).
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.pool
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from watchdog.analysis.sla import Period
from watchdog.config import Config, ProviderSection

if TYPE_CHECKING:
    from watchdog.documents.report import Lang

# Names with their own link text on the page; any other registered name is shown as itself.
KNOWN = ("report", "evidence", "complaint", "complaint-pdf")
PACK_REUSE_S = 300.0


@dataclass(frozen=True, slots=True)
class DocumentRequest:
    """What to render: one provider, one period, in the page's language."""

    config: Config
    journal_path: Path
    provider: ProviderSection
    period: Period
    language: str
    now_ns: int | None = None  # the page's clock ("as of" for the documents); None: now

    def now(self) -> int:
        """The time the documents are computed as of."""
        return time.time_ns() if self.now_ns is None else self.now_ns


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


def _stem(request: DocumentRequest) -> str:
    return f"{request.provider.id}-{request.period.label}"


def _lang(request: DocumentRequest) -> Lang:
    return "ru" if request.language == "ru" else "en"


def pack_name(request: DocumentRequest) -> str:
    """The pack's file name, the same in the download and in the letter's list of attachments."""
    return f"evidence-{_stem(request)}.zip"


class PackShelf:
    """Recently built packs, so a letter and the pack fetched beside it are one and the same."""

    def __init__(self, reuse_s: float = PACK_REUSE_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.reuse_s = reuse_s
        self.clock = clock
        self._lock = threading.Lock()
        self._packs: dict[tuple[str, str, str, str], tuple[float, bytes]] = {}

    def get(self, request: DocumentRequest) -> bytes:
        """The pack of this provider and period: the one built less than ``reuse_s`` ago, else a new one."""
        key = (str(request.journal_path), request.provider.id, request.period.label, _lang(request))
        with self._lock:  # one build at a time: two clicks in a row must not make two different packs
            now = self.clock()
            kept = self._packs.get(key)
            if kept is not None and now - kept[0] < self.reuse_s:
                return kept[1]
            body = _build_pack(request)
            self._packs = {k: v for k, v in self._packs.items() if now - v[0] < self.reuse_s}
            self._packs[key] = (now, body)
            return body


def _build_pack(request: DocumentRequest) -> bytes:
    from watchdog.documents.pack.build import build_pack  # matplotlib and fpdf2 load only when a pack is asked for
    from watchdog.journal.integrity import open_checked

    with tempfile.TemporaryDirectory(prefix="watchdog-web-") as tmp:
        out = Path(tmp) / pack_name(request)
        with open_checked(request.journal_path) as journal:
            now, lang = request.now(), _lang(request)
            build_pack(journal, request.config, request.provider.id, request.period, out, now_ns=now, lang=lang)
        return out.read_bytes()


def render_report(request: DocumentRequest) -> Document:
    """The SLA report as a standalone HTML page in the page's language."""
    from watchdog.documents.report import build_report, render
    from watchdog.journal.integrity import open_checked

    with open_checked(request.journal_path) as journal:
        report = build_report(journal, request.config, request.provider.id, request.period, request.now())
    html = render(report, "report.html.j2", lang=_lang(request))
    return Document(html.encode("utf-8"), "text/html; charset=utf-8", f"report-{_stem(request)}.html")


def render_evidence(shelf: PackShelf) -> DocumentRenderer:
    """The evidence pack zip (shared with the complaint renderers through ``shelf``)."""

    def evidence(request: DocumentRequest) -> Document:
        return Document(shelf.get(request), "application/zip", pack_name(request))

    return evidence


def render_complaint(shelf: PackShelf, suffix: str) -> DocumentRenderer:
    """The complaint in the page's language (``html`` or ``pdf``), listing the pack ``shelf`` serves too."""

    def complaint(request: DocumentRequest) -> Document:
        from watchdog.documents.claim import write_complaint
        from watchdog.journal.integrity import open_checked
        from watchdog.timefmt import to_datetime

        lang = _lang(request)
        zone = request.config.provider_zone(request.provider.id)
        with tempfile.TemporaryDirectory(prefix="watchdog-web-") as tmp:
            pack = Path(tmp) / pack_name(request)
            pack.write_bytes(shelf.get(request))
            out = Path(tmp) / f"complaint-{_stem(request)}-{lang}.{suffix}"
            with open_checked(request.journal_path) as journal:
                write_complaint(
                    request.config,
                    journal,
                    provider_id=request.provider.id,
                    period=request.period.label,
                    lang=lang,
                    sent_on=to_datetime(request.now(), zone).date(),
                    output=out,
                    now_ns=request.now(),
                    pack=pack,
                )
            body = out.read_bytes()
        kind = "application/pdf" if suffix == "pdf" else "text/html; charset=utf-8"
        return Document(body, kind, out.name)

    return complaint


def default_documents(worker: DocumentWorker | None = None) -> dict[str, DocumentRenderer]:
    """The renderers ``watchdog run`` and ``watchdog serve`` offer: report, evidence pack, complaint (HTML, PDF).

    With ``worker`` they render in its child process; without, in the calling thread.
    """
    if worker is not None:
        return {name: worker.renderer(name) for name in KNOWN}
    shelf = PackShelf()
    return {
        "report": render_report,
        "evidence": render_evidence(shelf),
        "complaint": render_complaint(shelf, "html"),
        "complaint-pdf": render_complaint(shelf, "pdf"),
    }


class DocumentWorker:
    """A child process that renders the built-in documents, so that the agent's probes never wait for them.

    Building a pack takes up to a minute of CPU on a month of 10 s data; in a thread of the agent it holds
    the interpreter lock against the scheduler (benchmark B3: start lateness p99 38.6 ms with reports made in
    a thread of the agent, 4.5 ms with them made in another process). The child is spawned on the first
    request (a fresh interpreter, never a fork of the running agent), keeps its own :class:`PackShelf` (a
    letter and the pack beside it stay one pack), and exits after ``idle_s`` without requests, giving its
    memory back. :meth:`close` ends it at once: a stopping agent does not wait for a pack.
    """

    def __init__(self, idle_s: float = 120.0) -> None:
        self.idle_s = idle_s
        self._lock = threading.Lock()
        self._pool: multiprocessing.pool.Pool | None = None
        self._busy = 0
        self._timer: threading.Timer | None = None
        self._closed = False

    def renderer(self, name: str) -> DocumentRenderer:
        """A renderer that hands ``name`` to the child (blocking, like every renderer: it runs in a thread)."""

        def render(request: DocumentRequest) -> Document:
            return self.render(name, request)

        return render

    def render(self, name: str, request: DocumentRequest) -> Document:
        """Render ``name`` in the child and wait for it."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the agent is stopping: no more documents")
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            if self._pool is None:
                self._pool = multiprocessing.get_context("spawn").Pool(1)
            pool = self._pool
            self._busy += 1
        try:
            pending = pool.apply_async(_render_in_child, (name, request))
            while True:  # a terminated pool never answers: look up now and then
                try:
                    return pending.get(timeout=0.5)
                except multiprocessing.TimeoutError:
                    if self._closed:
                        raise RuntimeError("the agent is stopping: the document was not finished") from None
        finally:
            with self._lock:
                self._busy -= 1
                if self._busy == 0 and self._pool is pool and not self._closed:
                    self._timer = threading.Timer(self.idle_s, self._retire, (pool,))
                    self._timer.daemon = True
                    self._timer.start()

    def _retire(self, pool: multiprocessing.pool.Pool) -> None:
        with self._lock:
            if self._pool is not pool or self._busy:
                return
            self._pool = None
            self._timer = None
        pool.close()
        pool.join()

    @property
    def running(self) -> bool:
        """True while the child process is there."""
        return self._pool is not None

    def close(self) -> None:
        """End the child now (a render in progress fails with a clear message)."""
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        if pool is not None:
            pool.terminate()
            pool.join()


_CHILD_DOCUMENTS: dict[str, DocumentRenderer] | None = None


def _render_in_child(name: str, request: DocumentRequest) -> Document:
    """In the worker's child: render with the in-process renderers (one shelf for the child's life)."""
    global _CHILD_DOCUMENTS
    if _CHILD_DOCUMENTS is None:
        _CHILD_DOCUMENTS = default_documents()
    return _CHILD_DOCUMENTS[name](request)
