"""The PDF letter's layout where issue 14 found it wanting: the attachments list torn across two pages (the
hashes half on one page, the manifest line on the next) and the English footer cutting the customer's name
("Иванов Иван Ивано…"). Letters are built from seed 004's scripted journal through the real analysis and the
real PDF renderer, and read back with pdftotext.
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from pathlib import Path

import pytest
from complaint_cases import HASHES, ISP_CONFIG, MANIFEST, MSK, isp_case

from watchdog.config import loads
from watchdog.documents.compensation.values import ContactEntry
from watchdog.documents.letter import LetterRequest, build_letter, render_pdf
from watchdog.journal.store import Journal
from watchdog.timefmt import to_ns

pytestmark = pytest.mark.skipif(shutil.which("pdftotext") is None, reason="pdftotext (poppler-utils) is not installed")

SENT = dt.date(2026, 11, 2)


def pages(tmp_path: Path, config_text: str, lang: str, contacts: tuple[ContactEntry, ...]) -> list[str]:
    """The letter as PDF, as text page by page (pdftotext -layout)."""
    case = isp_case(tmp_path)
    config = loads(config_text, env={})
    request = LetterRequest(
        "isp", "2026-10", lang, SENT, contacts=contacts, attachments=HASHES, manifest_sha256=MANIFEST
    )  # type: ignore[arg-type]
    with Journal.open(case.journal, create=False, readonly=True) as journal:
        letter = build_letter(config, journal, request, now_ns=case.now_ns)
    pdf = tmp_path / "letter.pdf"
    pdf.write_bytes(render_pdf(letter))
    out = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    return out.split("\f")


def calls(n: int) -> tuple[ContactEntry, ...]:
    """``n`` logged calls: each a row of the contacts table, which moves the attachments down the letter."""
    return tuple(
        ContactEntry(
            to_ns(dt.datetime(2026, 10, 3 + i % 7, 10 + i // 60, i % 60, tzinfo=MSK)),
            "phone",
            str(1000 + i),
            "нет интернета, когда починят",
            "out",
        )
        for i in range(n)
    )


def page_of(texts: list[str], wanted: str) -> list[int]:
    return [i for i, t in enumerate(texts) if any(wanted in line for line in t.splitlines())]


def test_the_attachments_are_not_torn_across_pages(tmp_path: Path) -> None:
    """30 calls put the attachments at the foot of page 3: their heading, every file and its hash and the manifest
    line now start page 4 together (before, the manifest line went over with the signature, alone)."""
    texts = pages(tmp_path, ISP_CONFIG % "", "en", calls(30))
    heading = [i for i, t in enumerate(texts) if any(line.strip() == "Attachments" for line in t.splitlines())]
    assert heading == [3]
    for name, digest in HASHES:
        assert page_of(texts, name + ",") == [3] and page_of(texts, digest) == [3]
    assert page_of(texts, "SHA-256 of the attachment manifest") == [3]
    assert page_of(texts, MANIFEST) == [3]
    assert page_of(texts, "Yours faithfully,") == [3]  # the closing follows them on the same page


LONG = "Константинопольская-Иванова Александра Вячеславовна"


@pytest.mark.parametrize("name", [LONG, LONG + " " + LONG])
def test_the_english_footer_never_cuts_the_customers_name(tmp_path: Path, name: str) -> None:
    """A long title is cut in the footer, the contract and the customer's name never; a name too long for the line
    with the title drops the title and, if need be, goes to smaller type (and it never hangs)."""
    text = (ISP_CONFIG % "").replace('customer: "Петров Виктор Андреевич"', f'customer: "{name}"')
    texts = pages(tmp_path, text, "en", ())
    footers = [line for t in texts for line in t.splitlines() if " of 3" in line and "page " in line]
    assert len(footers) == 3
    for i, line in enumerate(footers, start=1):
        assert f"contract ref. 248393 · {name}" in " ".join(line.split()), line
        assert line.rstrip().endswith(f"page {i} of 3")
