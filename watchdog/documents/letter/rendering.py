"""Rendering a built letter: Markdown and HTML through the Jinja2 templates, PDF, and writing it to a file."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import jinja2
from markdown_it import MarkdownIt
from markupsafe import Markup

from watchdog.documents.compensation.values import Duration
from watchdog.documents.letter.build import TEMPLATE_PREFIX
from watchdog.documents.letter.views import Letter
from watchdog.documents.words import Formatter, LetterError, md_escape
from watchdog.safetext import CompiledTemplates, html_autoescape
from watchdog.timefmt import to_datetime

Format = Literal["md", "html"]
_PLACEHOLDER_MD_RE = re.compile(r"\\\[([^\]\\]+)\\\]")  # \[ФИО\] as the templates' v() macro writes a missing value


_COMPILED = CompiledTemplates()  # templates compiled once per process (see its docstring)


def _environment(fmt: Formatter) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("watchdog.documents", "templates"),
        undefined=jinja2.StrictUndefined,
        autoescape=html_autoescape,  # .md.j2: Markdown, values through |md; the .html.j2 shell: escaped
        bytecode_cache=_COMPILED,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    filters: dict[str, Callable[..., str]] = {
        "md": md_escape,
        "money": fmt.money,
        "num": fmt.number,
        "pct": fmt.percent,
        "date": fmt.date,
        "long_date": lambda d: fmt.date(d, long=True),
        "month": fmt.month,
        "local": fmt.instant,
        "utc": fmt.utc,
        "both": fmt.both,
        "short": fmt.short,
        "at": fmt.at,
        "dur": fmt.duration,
        "hdur": lambda seconds: fmt.duration(Duration(seconds, in_hours=True)),
        "plural": fmt.plural,
        "contact": lambda c: md_escape(fmt.contact(c)),
        "contact_line": lambda c: md_escape(fmt.contact_line(c)),
        "contact_more": lambda c, direction=True: md_escape(fmt.contact_more(c, direction)),
        "every": fmt.every,
        "hours": fmt.hours,
        "word": lambda key, group: fmt.words[group].get(key, key),
    }
    env.filters.update(filters)
    env.tests["cyrillic"] = lambda value: bool(re.search(r"[А-Яа-яЁё]", str(value)))
    return env


def _parts(letter: Letter) -> tuple[dict[str, str], str]:
    """The letter's Markdown parts (draft, header, body, notes) and the whole, checked for banned citations."""
    env = _environment(letter.fmt)
    try:
        template = env.get_template(letter.template)
        parts = {part: template.render(**letter.context, part=part) for part in ("draft", "header", "body")}
        # what the customer still has to fill in: the notes name every [placeholder] left in the letter
        found = _PLACEHOLDER_MD_RE.findall(parts["header"] + parts["body"])
        placeholders = list(dict.fromkeys(f"[{hint}]" for hint in found))
        parts["notes"] = template.render(**letter.context, part="notes", placeholders=placeholders)
    except jinja2.TemplateError as exc:
        raise LetterError(f"template {letter.template}: {exc}") from exc
    markdown = "\n".join(p.strip("\n") + "\n" for p in parts.values() if p.strip())
    problems = letter.rulebook.lint(markdown)
    if problems:
        raise LetterError("the letter cites something it must not: " + "; ".join(problems))
    return parts, markdown


def render(letter: Letter, fmt: Format = "md") -> str:
    """The letter as Markdown or as a standalone HTML page."""
    parts, markdown = _parts(letter)
    if fmt == "md":
        return markdown
    env = _environment(letter.fmt)
    converter = MarkdownIt("commonmark", {"html": False, "typographer": False}).enable("table")
    shell = env.get_template(f"{TEMPLATE_PREFIX}shell.html.j2")
    return shell.render(
        lang=letter.lang,
        title=_title(markdown),
        # markdown-it's output (raw HTML off: every character of a value is escaped by it) is the markup
        draft=Markup(converter.render(parts["draft"])),
        header=Markup(converter.render(parts["header"])),
        body=Markup(converter.render(parts["body"])),
        notes=Markup(converter.render(parts["notes"])),
    )


def _title(markdown: str) -> str:
    for line in markdown.splitlines():
        if line.startswith("# "):
            return line[2:].strip().replace("\\", "")
    return "letter"


def render_pdf(letter: Letter) -> bytes:
    """The letter as PDF: the same Markdown laid out for print, the notes on pages of their own."""
    from watchdog.documents.letterpdf import PdfText, letter_pdf  # fpdf2 and the fonts load only for PDF letters

    parts, markdown = _parts(letter)
    words = letter.fmt.words["pdf"]
    contract = letter.context["contract"]
    title = _title(markdown)
    footer = []
    if contract.number:
        footer.append(str(words["contract"]).format(number=contract.number))
    if contract.customer:
        footer.append(contract.customer)
    text = PdfText(
        lang=letter.lang,
        title=title,
        author=contract.customer or letter.context["measurement"].agent,
        footer=title,
        footer_tail=" · ".join(footer),
        page=str(words["page"]),
        notes_footer=str(words["notes_footer"]),
        notes_banner=str(words["banner"]),
        notes_banner_one=str(words["banner_one"]),
        parties_right=letter.lang == "ru",
        keep_whole=str(words["attachments"]),
    )
    created = to_datetime(letter.figures.now_ns)
    return letter_pdf(parts, text, created=created)


SUFFIXES = (".md", ".html", ".htm", ".pdf")


def write(letter: Letter, path: Path) -> None:
    """Write ``letter.md``, ``letter.html`` or ``letter.pdf`` (by the file's suffix)."""
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise LetterError(f"{path}: write .md, .html or .pdf")
    if suffix == ".pdf":
        path.write_bytes(render_pdf(letter))
        return
    text = render(letter, "md" if suffix == ".md" else "html")
    path.write_text(text, encoding="utf-8")
