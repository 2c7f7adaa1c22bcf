"""A complaint letter as PDF: the letter's own Markdown laid out with fpdf2 and the DejaVu fonts matplotlib ships.

The PDF is drawn from the same Markdown parts as the ``.md`` and ``.html`` letters (markdown-it-py tokens,
raw HTML off), so the three can never say different things. fpdf2's own HTML parser is not used: it
drops the numbers of loose ordered lists and refuses markup inside table cells, and a letter's numbered
demands and outage table are exactly what must come out right. Layout follows a printed letter: the
parties block top right in Russian, the outage table with its header repeated on every page, a footer
with the contract and "page N of M" on the letter's pages, and the notes for the customer on pages of
their own, marked not to be sent, so the letter pages can be printed and signed as they are.

The creation date is the letter's "as of" time and nothing else varies, so the same input gives the
same bytes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from fpdf import FPDF
from fpdf.fonts import FontFace
from markdown_it import MarkdownIt
from markdown_it.token import Token

from watchdog.documents.pdf import add_fonts, font_dir, four_styles

SERIF = "DejaVuSerif"
MONO = "DejaVuMono"
BODY_PT = 10.5
TABLE_PT = 8.5
LINE = 1.38  # line height as a multiple of the font size
PT_MM = 25.4 / 72


@dataclass(frozen=True)
class PdfText:
    """The words around the letter that only the PDF needs (from the locale file)."""

    lang: str
    title: str
    author: str
    footer: str  # left part of the letter pages' footer, e.g. "Договор № 248393 — ПРЕТЕНЗИЯ"
    page: str  # "стр. {page} из {pages}"
    notes_footer: str  # footer of the notes pages
    notes_banner: str  # Markdown: which pages are the letter ({pages}) and that the notes are not to be sent
    notes_banner_one: str  # the same when the letter fits on one page
    parties_right: bool  # Russian letters put the parties block in the right half
    footer_tail: str = ""  # kept whole: the contract and the customer ("договор № 248393 · Петров В. А.")
    keep_whole: str = ""  # the heading of a section kept on one page (the attachments: "Приложения")


@dataclass
class _Span:
    text: str
    bold: bool = False
    italic: bool = False
    mono: bool = False


class _Doc(FPDF):
    def __init__(self, text: PdfText, letter_pages: int) -> None:
        super().__init__(format="A4")
        self.words = text
        self.letter_pages = letter_pages
        self.in_notes = False
        self.writer = _Writer(self)

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(SERIF, "", 7.5)
        self.set_text_color(90, 90, 90)
        if self.in_notes:
            self.cell(0, 5, self.words.notes_footer, align="C")
        else:
            pages = self.words.page.format(page=self.page_no(), pages=self.letter_pages or "?")
            room = self.epw - self.get_string_width(pages) - 6
            self.cell(room, 5, self._footer_text(room), align="L")
            self.cell(0, 5, pages, align="R")
        self.set_text_color(0, 0, 0)

    def _footer_text(self, room: float) -> str:
        """The letter pages' footer in ``room`` mm: a long title is cut, never the contract or the customer's name.

        When the contract and the name alone are wider than the room, the title goes and the type gets smaller
        (down to FOOTER_MIN_PT); the name is never cut and never runs into the page number.
        """
        head, tail = self.words.footer, self.words.footer_tail
        text = f"{head} · {tail}" if tail else head
        while self.get_string_width(text) > room and len(head) > 12:
            head = head[:-2].rstrip() + "…"
            text = f"{head} · {tail}" if tail else head
        if self.get_string_width(text) > room and tail:
            text = tail
        size = self.font_size_pt
        while self.get_string_width(text) > room and size > FOOTER_MIN_PT:
            size -= 0.5
            self.set_font(SERIF, "", size)
        return text


FOOTER_MIN_PT = 5.0
KEEP_ABOVE_MM = 15.0  # the closing (date, signature) needs at least this much of the letter above it on its page


def letter_pdf(parts: Mapping[str, str], text: PdfText, *, created: dt.datetime) -> bytes:
    """Render the letter's Markdown parts (``header``, ``body``, ``notes``) to PDF bytes.

    The first pass counts the letter's pages (for "page N of M") and finds where the attachments and the
    closing fall. An attachments list that would be split across two pages starts a new page when it fits on
    one (the list of files and their hashes reads as one piece, and half a page left blank is better than a
    hash list torn in two). When the date and signature would open a page with (next to) nothing of the
    letter above them, the next pass starts that page one block or list item earlier, so a signature never
    sits on a page of its own.
    """
    breaks: set[int] = set()
    draft, letter_pages = _render(parts, text, created, letter_pages=0)
    _close_fonts(draft)
    whole = _keep_section(draft)
    if whole is not None:  # the attachments start a page of their own: lay out again before placing the closing
        breaks.add(whole)
        draft, letter_pages = _render(parts, text, created, letter_pages=0, breaks=breaks)
        _close_fonts(draft)
    keep = _keep_closing(draft)
    if keep is not None:  # moving a block may change the page count: count again
        breaks.add(keep)
        again, letter_pages = _render(parts, text, created, letter_pages=0, breaks=breaks)
        _close_fonts(again)
    pdf, _ = _render(parts, text, created, letter_pages=letter_pages, breaks=breaks)
    return bytes(pdf.output())


def _close_fonts(pdf: FPDF) -> None:
    """A layout pass is never output, and output() is what closes the font files: close them here."""
    for font in pdf.fonts.values():
        close = getattr(font, "close", None)
        if close is not None:
            close()


def _keep_section(draft: _Doc) -> int | None:
    """The mark of the kept-whole section's heading, when the section runs onto a second page but fits on one."""
    writer = draft.writer
    if writer.section is None or writer.section_end is None:
        return None
    mark, page, y = writer.section
    end_page, end_y = writer.section_end
    if end_page == page or y <= draft.t_margin + 1:
        return None  # on one page already, or already at the top of a page
    height = (end_page - page) * draft.eph + end_y - y
    if height > draft.eph - 1:
        return None  # longer than a page: it must run on whatever happens
    return mark


def _keep_closing(draft: _Doc) -> int | None:
    """The mark to start a new page at, when the closing would stand (nearly) alone at the top of a page."""
    writer = draft.writer
    if len(writer.closing) != 2:
        return None
    (date_mark, date_page, date_y), (_, sign_page, _) = writer.closing
    if date_page == sign_page and date_y - draft.t_margin >= KEEP_ABOVE_MM:
        return None  # date and signature together, under enough of the letter
    # the last block (or list item) before the date that starts on an earlier page goes over with them
    before = [m for m in writer.marks if m[0] < date_mark and m[1] < sign_page]
    if writer.section is not None and before and before[-1][0] > writer.section[0]:
        # the block to move is part of the kept-whole section (the attachments): the section goes over whole
        heading = writer.marks[writer.section[0]]
        before = [heading] if heading[1] < sign_page else []
    if not before or before[-1][2] <= draft.t_margin + 1:  # moving it would only move a whole page along
        return None
    return before[-1][0]


def _render(
    parts: Mapping[str, str],
    text: PdfText,
    created: dt.datetime,
    *,
    letter_pages: int,
    breaks: set[int] | None = None,
) -> tuple[_Doc, int]:
    pdf = _Doc(text, letter_pages)
    pdf.set_creation_date(created)
    pdf.set_title(text.title)
    pdf.set_author(text.author)
    pdf.set_creator("Outage Watchdog")
    pdf.set_lang(text.lang)
    fonts = font_dir()
    add_fonts(pdf, SERIF, four_styles("DejaVuSerif"))
    add_fonts(pdf, MONO, (("", fonts / "DejaVuSansMono.ttf"), ("B", fonts / "DejaVuSansMono-Bold.ttf")))
    pdf.set_margins(22, 16, 16)
    pdf.set_auto_page_break(True, 18)
    pdf.add_page()
    md = MarkdownIt("commonmark", {"html": False, "typographer": False}).enable("table")
    writer = _Writer(pdf)
    pdf.writer = writer
    if parts.get("header", "").strip():
        left = pdf.l_margin
        if text.parties_right:
            pdf.set_left_margin(left + pdf.epw * 0.45)
            pdf.set_x(pdf.l_margin)
        writer.blocks(md.parse(parts["header"]), size=BODY_PT - 0.5)
        pdf.set_left_margin(left)
        pdf.set_x(left)
    body = md.parse(parts.get("body", ""))
    starts = [i for i, t in enumerate(body) if t.level == 0 and t.nesting != -1]  # where top-level blocks open
    writer.breaks = frozenset(breaks or ())
    writer.closing_tokens = tuple(starts[-2:]) if len(starts) >= 3 else ()  # the date, then the signature
    writer.marking = True
    writer.blocks(body, size=BODY_PT)
    writer.marking = False
    pages = pdf.page_no()
    notes = parts.get("notes", "").strip()
    if notes:
        pdf.add_page()  # draws the last letter page's footer, so the notes' footer starts after it
        pdf.in_notes = True
        banner = text.notes_banner_one if pages == 1 else text.notes_banner.format(pages=pages)
        writer.banner(md.parse(banner))
        tokens = md.parse(notes)
        while tokens and tokens[0].type == "hr":  # the rule that separates the notes in Markdown and HTML
            tokens = tokens[1:]
        writer.blocks(tokens, size=BODY_PT - 1)
    return pdf, pages


class _Writer:
    """Draws markdown-it block tokens on an FPDF page with fpdf2's own text and table primitives."""

    def __init__(self, pdf: _Doc) -> None:
        self.pdf = pdf
        self.size = BODY_PT
        self.after_title = False
        # page-break bookkeeping for the body: each top-level block and list item is a numbered mark
        self.marking = False
        self.depth = 0
        self.marks: list[tuple[int, int, float]] = []  # (mark, page, y at its start)
        self.breaks: frozenset[int] = frozenset()  # start a new page at these marks
        self.closing_tokens: tuple[int, ...] = ()
        self.closing: list[tuple[int, int, float]] = []  # (mark, page, y) of the date and of the signature
        self.section: tuple[int, int, float] | None = None  # (mark, page, y) of the kept-whole section's heading
        self.section_end: tuple[int, float] | None = None  # (page, y) where it ends

    def mark(self) -> None:
        """A place a page may start at: recorded, and the page started there when asked to."""
        if not self.marking or self.depth > 1:
            return
        no = len(self.marks)
        if no in self.breaks and self.pdf.get_y() > self.pdf.t_margin + 1:
            self.pdf.add_page()
        self.marks.append((no, self.pdf.page_no(), self.pdf.get_y()))

    # ---------------------------------------------------------------------------------- fonts

    def font(self, span: _Span | None = None, size: float | None = None) -> None:
        style = ""
        if span is not None and span.bold:
            style += "B"
        if span is not None and span.italic:
            style += "I"
        pt = size or self.size
        if span is not None and span.mono:  # hashes and commands; the mono face runs wide, so a size smaller
            self.pdf.set_font(MONO, style.replace("I", ""), pt * 0.88)
        else:
            self.pdf.set_font(SERIF, style, pt)

    def line_mm(self, size: float | None = None) -> float:
        return (size or self.size) * LINE * PT_MM

    # --------------------------------------------------------------------------------- blocks

    def blocks(self, tokens: Sequence[Token], *, size: float) -> None:
        """Every block of a token stream, top to bottom."""
        self.size = size
        i = 0
        while i < len(tokens):
            closing = self.marking and self.depth == 0 and i in self.closing_tokens
            tracked = self.marking and self.depth == 0
            if tracked and self.section is not None and self.section_end is None:
                if closing or tokens[i].type == "heading_open":  # the kept-whole section ends here
                    self.section_end = (self.pdf.page_no(), self.pdf.get_y())
            if self.depth == 0:
                self.mark()
            start = (len(self.marks) - 1, self.pdf.page_no(), self.pdf.get_y())
            heading = tokens[i].type == "heading_open" and i + 1 < len(tokens)
            keep = tracked and heading and bool(self.pdf.words.keep_whole)
            keep = keep and _plain(tokens[i + 1]) == self.pdf.words.keep_whole and self.section is None
            i = self.block(tokens, i)
            if keep:  # where its heading was drawn (a heading near a page's foot moves to the next page itself)
                moved = self.pdf.page_no() != start[1]
                self.section = (start[0], self.pdf.page_no(), self.pdf.t_margin if moved else start[2])
            if closing:
                mark, page, y = start
                if self.pdf.page_no() != page:  # it broke onto the next page: that is where it stands
                    page, y = self.pdf.page_no(), self.pdf.t_margin
                self.closing.append((mark, page, y))
        if self.marking and self.section is not None and self.section_end is None:
            self.section_end = (self.pdf.page_no(), self.pdf.get_y())

    def block(self, tokens: Sequence[Token], i: int) -> int:
        """Draw the block starting at ``tokens[i]``; return the index after it."""
        tok = tokens[i]
        pdf = self.pdf
        if tok.type == "heading_open":
            level = int(tok.tag[1])
            inline = tokens[i + 1]
            sizes = {1: self.size + 3, 2: self.size + 1, 3: self.size + 0.5}
            pt = sizes.get(level, self.size)
            pdf.ln(self.line_mm() * (0.9 if level == 1 else 0.6))
            self.font(_Span("", bold=True), pt)
            if pdf.will_page_break(self.line_mm(pt) * 4):
                pdf.add_page()
            pdf.multi_cell(0, self.line_mm(pt), _plain(inline), align="C" if level == 1 else "L")
            pdf.ln(self.line_mm() * 0.25)
            self.after_title = level == 1
            return _skip(tokens, i)
        if tok.type == "paragraph_open":
            spans = _spans(tokens[i + 1])
            if self.after_title and spans and all(s.bold for s in spans if s.text.strip()):
                self.centered(spans)  # the bold subject line under a Russian letter's title
            else:
                self.paragraph(spans)
            pdf.ln(self.line_mm() * 0.45)
            self.after_title = False
            return _skip(tokens, i)
        self.after_title = False
        if tok.type in ("bullet_list_open", "ordered_list_open"):
            return self.list(tokens, i)
        if tok.type == "table_open":
            return self.table(tokens, i)
        if tok.type == "blockquote_open":
            end = _skip(tokens, i)
            self.banner(tokens[i + 1 : end - 1])
            return end
        if tok.type == "hr":
            pdf.ln(self.line_mm() * 0.3)
            pdf.set_draw_color(120, 120, 120)
            pdf.line(pdf.l_margin, pdf.get_y(), pdf.l_margin + pdf.epw, pdf.get_y())
            pdf.ln(self.line_mm() * 0.6)
            return i + 1
        if tok.type in ("fence", "code_block"):
            self.paragraph([_Span(tok.content.rstrip("\n"), mono=True)])
            pdf.ln(self.line_mm() * 0.45)
            return i + 1
        return _skip(tokens, i)  # anything else (html is off) is skipped whole

    def paragraph(self, spans: Sequence[_Span]) -> None:
        """Flowing text from the current left margin, breaking lines at spaces only."""
        pdf = self.pdf
        pdf.set_x(pdf.l_margin)
        h = self.line_mm()
        for span in _merge(spans):
            if span.text == "\n":
                pdf.ln(h)
                continue
            self.font(span)
            text = span.text
            # fpdf2 fills the rest of a line with whatever fits, splitting a word if it must: a span whose first
            # word does not fit where the last one ended starts on a new line instead (even right after a
            # bracket: "(" at a line's end reads better than an identifier or a hash cut in two)
            head = text[: len(text) - len(text.lstrip())] + (text.split() or [""])[0]
            room = pdf.w - pdf.r_margin - pdf.get_x() - 2 * pdf.c_margin
            if pdf.get_x() > pdf.l_margin + 0.5 and pdf.get_string_width(head) > room:
                pdf.ln(h)
                text = text.lstrip()
            if text:
                pdf.write(h, text)
        pdf.ln(h)

    def centered(self, spans: Sequence[_Span]) -> None:
        """The subject line under the title: centred, in the style of its first span."""
        pdf = self.pdf
        text = "".join(s.text for s in spans).replace("\n", " ")
        self.font(spans[0] if spans else None)
        pdf.multi_cell(0, self.line_mm(), text, align="C")

    def banner(self, tokens: Sequence[Token]) -> None:
        """A framed block (the draft notice): text blocks inside a thin box."""
        pdf = self.pdf
        top = pdf.get_y()
        page = pdf.page_no()
        left = pdf.l_margin
        pdf.set_left_margin(left + 4)
        pdf.set_right_margin(pdf.r_margin + 4)
        pdf.ln(2)
        self.blocks(tokens, size=self.size)
        pdf.set_left_margin(left)
        pdf.set_right_margin(pdf.r_margin - 4)
        if pdf.page_no() == page:
            pdf.set_draw_color(200, 100, 0)
            pdf.set_line_width(0.4)
            pdf.rect(left, top, pdf.epw, pdf.get_y() - top)
            pdf.set_line_width(0.2)
        pdf.ln(self.line_mm() * 0.6)

    def list(self, tokens: Sequence[Token], i: int) -> int:
        """A bullet or numbered list; items may hold paragraphs and lists of their own."""
        pdf = self.pdf
        ordered = tokens[i].type == "ordered_list_open"
        number = int(tokens[i].attrGet("start") or 1) if ordered else 0
        end = _skip(tokens, i)
        j = i + 1
        left = pdf.l_margin
        indent = 7.0 if ordered else 5.0
        while j < end - 1:
            if tokens[j].type != "list_item_open":
                j += 1
                continue
            item_end = _skip(tokens, j)
            self.depth += 1
            self.mark()  # a top-level list's items are places a page may start at
            marker = f"{number}." if ordered else "•"
            number += 1
            if pdf.will_page_break(self.line_mm() * 2):
                pdf.add_page()
            y = pdf.get_y()
            self.font()
            pdf.set_xy(left, y)
            pdf.cell(indent - 1, self.line_mm(), marker, align="R" if ordered else "L")
            pdf.set_left_margin(left + indent)
            pdf.set_xy(left + indent, y)
            k = j + 1
            while k < item_end - 1:
                tok = tokens[k]
                if tok.type == "paragraph_open":
                    self.paragraph(_spans(tokens[k + 1]))
                    if not tok.hidden:  # a loose list: a gap between its paragraphs
                        pdf.ln(self.line_mm() * 0.3)
                    k = _skip(tokens, k)
                else:
                    k = self.block(tokens, k)
            pdf.set_left_margin(left)
            pdf.set_x(left)
            self.depth -= 1
            j = item_end
        pdf.ln(self.line_mm() * 0.35)
        return end

    def table(self, tokens: Sequence[Token], i: int) -> int:
        """A Markdown table as an fpdf2 table: columns sized by content, the header repeated on each page."""
        pdf = self.pdf
        end = _skip(tokens, i)
        rows: list[list[str]] = []
        aligns: list[str] = []
        for j in range(i, end):
            tok = tokens[j]
            if tok.type == "tr_open":
                rows.append([])
            elif tok.type in ("th_open", "td_open"):
                rows[-1].append(_plain(tokens[j + 1]))
                if tok.type == "th_open":
                    style = str(tok.attrGet("style") or "")
                    aligns.append("RIGHT" if "right" in style else "CENTER" if "center" in style else "LEFT")
        if not rows:
            return end
        self.font(size=TABLE_PT)
        widths = _column_widths(pdf, rows)
        heading = FontFace(emphasis="BOLD", fill_color=(238, 238, 238))
        pdf.ln(1)
        with pdf.table(
            col_widths=widths,
            width=pdf.epw,
            text_align=tuple(aligns) if aligns else "LEFT",
            line_height=TABLE_PT * 1.3 * PT_MM,
            padding=(0.8, 1.2, 0.8, 1.2),
            headings_style=heading,
            v_align="TOP",
            borders_layout="ALL",
            align="LEFT",
        ) as table:
            for cells in rows:
                row = table.row()
                for cell in cells:
                    row.cell(cell)
        pdf.ln(self.line_mm() * 0.5)
        return end


def _skip(tokens: Sequence[Token], i: int) -> int:
    """The index after the block opened at ``tokens[i]`` (with everything nested in it)."""
    if tokens[i].nesting != 1:
        return i + 1
    depth = 0
    for j in range(i, len(tokens)):
        depth += tokens[j].nesting
        if depth == 0:
            return j + 1
    return len(tokens)


def _spans(inline: Token) -> list[_Span]:
    """Inline tokens → runs of text with their style; a hard break is a span of its own."""
    out: list[_Span] = []
    bold = italic = False
    for child in inline.children or ():
        kind = child.type
        if kind == "strong_open":
            bold = True
        elif kind == "strong_close":
            bold = False
        elif kind == "em_open":
            italic = True
        elif kind == "em_close":
            italic = False
        elif kind == "text" and child.content:
            out.append(_Span(child.content, bold, italic))
        elif kind == "code_inline":
            out.append(_Span(child.content, bold, italic, mono=True))
        elif kind == "softbreak":
            out.append(_Span(" ", bold, italic))
        elif kind == "hardbreak":
            out.append(_Span("\n"))
    return out


def _merge(spans: Sequence[_Span]) -> list[_Span]:
    """Neighbouring spans of one style as one, so lines break inside them, not between them."""
    out: list[_Span] = []
    for span in spans:
        last = out[-1] if out else None
        same = last is not None and (last.bold, last.italic, last.mono) == (span.bold, span.italic, span.mono)
        if last is not None and same and "\n" not in (last.text, span.text):
            out[-1] = _Span(last.text + span.text, span.bold, span.italic, span.mono)
        else:
            out.append(span)
    return out


def _plain(inline: Token) -> str:
    """The text of an inline token, without its markup."""
    return "".join(s.text for s in _spans(inline)).strip()


def _column_widths(pdf: FPDF, rows: Sequence[Sequence[str]]) -> tuple[float, ...]:
    """Relative widths: each column's widest word sets its minimum, its longest cell how much more it gets."""
    columns = len(rows[0])
    minimum = [0.0] * columns
    wanted = [0.0] * columns
    family, size = pdf.font_family, pdf.font_size_pt
    for r, row in enumerate(rows):
        pdf.set_font(family, "B" if r == 0 else "", size)  # the heading row is set in bold, which runs wider
        for c, text in enumerate(row[:columns]):
            words = text.split() or [""]
            minimum[c] = max(minimum[c], max(pdf.get_string_width(w) for w in words) + 3)
            wanted[c] = max(wanted[c], pdf.get_string_width(text) + 3)
    pdf.set_font(family, "", size)
    total = pdf.epw
    if sum(wanted) <= total:
        return tuple(w for w in wanted)
    spare = max(0.0, total - sum(minimum))
    extra = [max(0.0, w - m) for w, m in zip(wanted, minimum, strict=True)]
    scale = spare / sum(extra) if sum(extra) else 0.0
    return tuple(m + e * scale for m, e in zip(minimum, extra, strict=True))
