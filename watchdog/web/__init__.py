"""The status page and JSON API: overview and provider pages, ``/api/v1``, ``/metrics``, ``/healthz``.

``watchdog run`` starts it through :func:`web_sink` (live board); ``watchdog serve`` serves the same pages
from a journal alone. See :mod:`watchdog.web.app` for the routes and :mod:`watchdog.web.security` for
the guards.
"""

from __future__ import annotations

from watchdog.web.app import create_app
from watchdog.web.data import JournalSource, LiveSource, StatusService
from watchdog.web.documents import Document, DocumentRenderer, DocumentRequest, Documents
from watchdog.web.sink import WebSink, bind_problem, start_site, web_sink

__all__ = [
    "Document",
    "DocumentRenderer",
    "DocumentRequest",
    "Documents",
    "JournalSource",
    "LiveSource",
    "StatusService",
    "WebSink",
    "bind_problem",
    "create_app",
    "start_site",
    "web_sink",
]
