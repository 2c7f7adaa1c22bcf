"""The evidence pack's PDF summary, drawn with fpdf2 from a Jinja2 template of simple HTML.

fpdf2 is pure Python and embeds a subset of a TrueType font, so Cyrillic renders wherever the pack is
opened. The font is the DejaVu Sans that matplotlib ships (already a dependency for the chart), so no
system font is needed. The creation date is the report's "as of" time, so the same input gives the
same bytes.
"""

from __future__ import annotations

import copy
import datetime as dt
import io
import logging
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import matplotlib
from fontTools import ttLib  # type: ignore[import-untyped]
from fpdf import FPDF
from fpdf.enums import TextEmphasis
from fpdf.fonts import SubsetMap, TextStyle, TTFFont
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


# What fpdf2's TTFFont reads from a font file once and never changes: shared by the copies add_fonts makes.
_SHARED = (
    "type", "ttffile", "scale", "name", "cmap", "up", "ut", "sp", "ss",
    "is_compressed", "is_cff", "is_cid_keyed", "is_symbol", "cff_ros", "collection_font_number",
)  # fmt: skip
# The tables TTFFont.__init__ reads (so decompiles): a copy's TTFont reads them too, so output() saves the same bytes.
_READ_TABLES = ("head", "glyf", "hmtx", "OS/2", "post", "hhea", "name")


class _ParsedFont(TTFFont):
    """A TTFFont made from another one's parsed metrics; its fontTools TTFont is opened when first used.

    fpdf2 re-parses the whole file on every add_font (~0.1 s a font, the glyph table most of it), though only
    output() needs the parsed tables: it subsets them in place, so each PDF needs a TTFont of its own. A
    layout pass that is never output (the letter lays itself out up to three times) opens none.
    """

    __slots__ = ("_tt",)
    _tt: Any  # ttLib.TTFont | None (fontTools has no type hints)

    @property
    def ttfont(self) -> Any:
        """The TTFont, read as TTFFont.__init__ reads it (same tables decompiled: same subset bytes)."""
        if self._tt is None:
            tt = ttLib.TTFont(self.ttffile, recalcTimestamp=False, fontNumber=self.collection_font_number, lazy=True)
            for tag in _READ_TABLES:
                tt[tag]
            tt.getBestCmap()
            self._tt = tt
        return self._tt

    def close(self) -> None:
        """Close the TTFont if one was opened."""
        if self._tt is not None:
            self._tt.close()
        self._hbfont = None


_PARSED: dict[Path, TTFFont] = {}  # font file → its TTFFont, parsed once per process (metrics only are used)


def four_styles(name: str, italic: str = "Italic") -> tuple[tuple[str, Path], ...]:
    """The regular, bold, italic and bold italic files of the DejaVu face ``name``, as :func:`add_fonts` takes them."""
    fonts = font_dir()
    return (
        ("", fonts / f"{name}.ttf"),
        ("B", fonts / f"{name}-Bold.ttf"),
        ("I", fonts / f"{name}-{italic}.ttf"),
        ("BI", fonts / f"{name}-Bold{italic}.ttf"),
    )


def add_fonts(pdf: FPDF, family: str, files: Iterable[tuple[str, Path]]) -> None:
    """``pdf.add_font(family, style, file)`` for each (style, file), each file parsed once per process.

    The same PDF bytes as add_font: the copy has the parsed font's widths, glyph ids and descriptor, and its
    own TTFont (see :class:`_ParsedFont`), subset map and used-glyph state.
    """
    for style, path in files:
        parsed = _PARSED.get(path)
        if parsed is None:
            probe = FPDF()
            probe.add_font(family, style, str(path))
            [read] = probe.fonts.values()
            assert isinstance(read, TTFFont)
            read.close()
            parsed = _PARSED[path] = read
        style = "".join(sorted(style.upper()))
        fontkey = f"{family.lower()}{style}"
        if parsed.color_font is not None or fontkey in pdf.fonts:  # not ours to copy: fpdf2 as it is
            pdf.add_font(family, style, str(path))
            continue
        font = _ParsedFont.__new__(_ParsedFont)
        for name in _SHARED:
            setattr(font, name, getattr(parsed, name))
        font._tt = None
        font.i = len(pdf.fonts) + 1
        font.fontkey = fontkey
        font.emphasis = TextEmphasis.coerce(style)
        font.desc = copy.copy(parsed.desc)  # output() writes its object id and font file into it
        font.cw = defaultdict(parsed.cw.default_factory, parsed.cw)  # type: ignore[attr-defined]
        font.glyph_ids = dict(parsed.glyph_ids)
        font.missing_glyphs = []
        font.biggest_size_pt = 0
        font._hbfont = None
        font.palette_index = 0
        font.color_font = None
        font.subset = SubsetMap(font)
        pdf.fonts[fontkey] = font


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
    add_fonts(pdf, FONT, four_styles("DejaVuSans", italic="Oblique"))
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
