"""The evidence pack's PDF summary, drawn with fpdf2 from a Jinja2 template of simple HTML.

fpdf2 is pure Python and embeds a subset of a TrueType font, so Cyrillic renders wherever the pack is
opened. The font is the DejaVu Sans that matplotlib ships (already a dependency for the chart), so no
system font is needed. The creation date is the report's "as of" time, so the same input gives the
same bytes.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
from pathlib import Path
from typing import Any

import matplotlib
from fpdf import FPDF
from fpdf.fonts import TextStyle
from fpdf.html import HTML2FPDF

from watchdog.documents.report import Lang, Report, environment, report_json, report_words, template_for
from watchdog.model import NS

FONT = "DejaVu"
_LOGGER = logging.getLogger(__name__)


class _TextOnlyHTML(HTML2FPDF):
    """fpdf2's HTML parser without ``<img>``: it would load any file or URL a ``src`` names into the PDF.

    The templates escape every value, so no value can make a tag; this is the second wall. The summary's
    one image, the chart, is drawn with ``FPDF.image`` from bytes, never through HTML.
    """

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """Every tag as fpdf2 handles it, but ``<img>`` (and ``<image>``) dropped unread."""
        if tag.lower() in ("img", "image"):
            _LOGGER.warning("summary PDF: an <img> tag was dropped (images come from no HTML)")
            return
        super().handle_starttag(tag, attrs)


class SafePDF(FPDF):
    """FPDF whose ``write_html`` never loads a file or URL (see :class:`_TextOnlyHTML`)."""

    HTML2FPDF_CLASS = _TextOnlyHTML


def font_dir() -> Path:
    """Where matplotlib keeps its DejaVu fonts (Sans, Serif, Mono; all with Cyrillic)."""
    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


def summary_pdf(report: Report, pack: dict[str, Any], png: bytes, lang: Lang = "en") -> bytes:
    """The summary as PDF in ``lang``: figures, incidents, outages, clock, contacts, method, files, the chart."""
    data = report_json(report)
    env = environment(report.zone, lang)
    words = report_words(lang)["pdf"]
    names = {"name": data["provider"]["name"], "period": data["period"]["label"]}
    method = env.get_template(template_for("method.txt.j2", lang)).render(r=data).strip()
    html = env.get_template(template_for("summary.pdf.html.j2", lang)).render(r=data, method=method, pack=pack)
    html = html.replace("<td>", '<td align="left">')  # fpdf2 justifies cells otherwise: gaps in narrow columns
    pdf = SafePDF(format="A4")
    pdf.set_creation_date(dt.datetime.fromtimestamp(report.as_of_ns // NS, dt.UTC))
    fonts = font_dir()
    for style, name in (
        ("", "DejaVuSans"),
        ("B", "DejaVuSans-Bold"),
        ("I", "DejaVuSans-Oblique"),
        ("BI", "DejaVuSans-BoldOblique"),
    ):
        pdf.add_font(FONT, style, str(fonts / f"{name}.ttf"))
    pdf.set_title(str(words["title"]).format(**names))
    pdf.set_author(data["agent"])
    pdf.set_margins(14, 14, 14)
    pdf.set_auto_page_break(True, 14)
    pdf.set_font(FONT, size=8.5)
    pdf.add_page()
    styles = {
        "h1": TextStyle(font_family=FONT, font_size_pt=15, font_style="B", t_margin=2, b_margin=2),
        "h2": TextStyle(font_family=FONT, font_size_pt=11.5, font_style="B", t_margin=5, b_margin=2),
        "h3": TextStyle(font_family=FONT, font_size_pt=9.5, font_style="B", t_margin=3, b_margin=1),
    }
    pdf.write_html(html, font_family=FONT, tag_styles=styles, table_line_separators=True)
    pdf.add_page(orientation="L")
    pdf.set_font(FONT, "B", 11)
    pdf.cell(0, 8, str(words["timeline"]).format(**names), new_x="LMARGIN", new_y="NEXT")
    pdf.image(io.BytesIO(png), w=pdf.epw)
    return bytes(pdf.output())
