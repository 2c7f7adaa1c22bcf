"""Complaint letters: the context a letter needs, built from the journal, and its Markdown and HTML renderings.

:func:`build_letter` takes the config, a provider id, a period, the journal, the contact log and the list
of attachments (name, SHA-256) and computes everything a letter states: the outage table, the SLA figures
(:func:`watchdog.analysis.sla.compute`), the claim items and deadlines
(:func:`watchdog.documents.compensation.assess`) and
how the customer's own line was verified. :func:`render` turns it into Markdown or HTML through the Jinja2
templates in ``watchdog/documents/templates/complaint_*`` (ru: ISP, broker, bank, other; en: UK ISP, generic).

Words live in the templates, the rule files and ``watchdog/documents/locale/letter.*.yaml``; dates, numbers, money
and plurals are formatted per locale with Babel ("154,84 ₽", "8 суток 3 ч"). HTML is made from the same
Markdown by markdown-it-py with raw HTML disabled, so text from the config or the contact log can never
become markup. Every rendered letter is checked against the banned citations of the rulebook.

Where each part lives: what the customer asks for (:mod:`.request`), what the templates print and the built
:class:`Letter` (:mod:`.views`), building it (:mod:`.build`: :func:`build_letter`, :func:`template_for`), the
templates' context (:mod:`.context`) and rendering (:mod:`.rendering`: :func:`render`, :func:`render_pdf`,
:func:`write`). Everything public is re-exported here.
"""

from __future__ import annotations

from watchdog.documents.letter.build import TEMPLATE_PREFIX, build_letter, template_for
from watchdog.documents.letter.context import LOW_COVERAGE
from watchdog.documents.letter.rendering import SUFFIXES, Format, render, render_pdf, write
from watchdog.documents.letter.request import LetterRequest, PackRef
from watchdog.documents.letter.views import IncidentRow, ItemView, Letter, Measurement, Probe
from watchdog.documents.words import Formatter, LetterError

__all__ = [
    "LOW_COVERAGE",
    "SUFFIXES",
    "TEMPLATE_PREFIX",
    "Format",
    "Formatter",
    "IncidentRow",
    "ItemView",
    "Letter",
    "LetterError",
    "LetterRequest",
    "Measurement",
    "PackRef",
    "Probe",
    "build_letter",
    "render",
    "render_pdf",
    "template_for",
    "write",
]
