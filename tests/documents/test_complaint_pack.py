"""``watchdog complaint -o letter.pdf``: the letter as PDF with its evidence pack beside it, end to end.

Real journals (the seed cases of complaint_cases.py), the real pack builder and verifier, the real fpdf2
output read back with poppler's ``pdftotext`` (Debian's poppler-utils). The contact log and the clock
statement reach the letter through the journal and the pack, as they do for a customer.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
import subprocess
import zipfile
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from complaint_cases import ISP_CONFIG, UK_CONFIG, isp_case, uk_case

from watchdog.cli import main
from watchdog.documents import claim
from watchdog.documents.pack.verify import verify_pack
from watchdog.journal.contacts import add_contact
from watchdog.journal.schema import EV_CLOCK_SAMPLE
from watchdog.journal.store import Journal
from watchdog.timefmt import to_ns

MSK = ZoneInfo("Europe/Moscow")
LONDON = ZoneInfo("Europe/London")
ISP_ARGS = [
    "--provider",
    "isp",
    "--period",
    "2026-10",
    "--lang",
    "ru",
    "--date",
    "2026-11-02",
    "--now",
    "2026-11-01T12:00",
]
UK_ARGS = [
    "--provider",
    "isp",
    "--period",
    "2026-11",
    "--lang",
    "en",
    "--date",
    "2026-11-17",
    "--now",
    "2026-11-17T09:00",
]


def config_file(tmp_path: Path, text: str, agent: str) -> Path:
    """The case's config with its journal in ``tmp_path`` (where the case wrote it)."""
    path = tmp_path / "watchdog.yaml"
    path.write_text(text.replace(agent, agent[:-1] + f", data_dir: '{tmp_path}'}}"), encoding="utf-8")
    return path


def isp_setup(tmp_path: Path) -> Path:
    """Seed 004 (eight days without internet, 600 ₽ a month), the fault report logged with `contact add`'s API."""
    isp_case(tmp_path)
    with Journal.open(tmp_path / "journal.sqlite3") as journal:
        add_contact(
            journal,
            provider="isp",
            channel="phone",
            ref="№ 123456",
            note="заявка: нет интернета",
            at_ns=to_ns(dt.datetime(2026, 10, 2, 20, 45, tzinfo=MSK)),
            now_ns=to_ns(dt.datetime(2026, 10, 2, 20, 47, tzinfo=MSK)),
        )
    return config_file(tmp_path, ISP_CONFIG % "", "agent: {id: home-msk-1, timezone: Europe/Moscow}")


def pdf_text(path: Path, first: int | None = None, last: int | None = None) -> str:
    """The PDF's text as poppler extracts it, whitespace (no-break spaces too) collapsed to single spaces."""
    pages = [*(["-f", str(first)] if first else []), *(["-l", str(last)] if last else [])]
    out = subprocess.run(["pdftotext", *pages, str(path), "-"], capture_output=True, text=True, check=True).stdout
    return " ".join(out.split())


def pdf_pages(path: Path) -> int:
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True).stdout
    return int(next(line.split()[1] for line in info.splitlines() if line.startswith("Pages:")))


def split_letter(path: Path, notes_footer: str) -> tuple[str, str, int]:
    """The letter's pages and the notes' pages (known by their footer) as text, and how many letter pages."""
    texts = [pdf_text(path, first=n, last=n) for n in range(1, pdf_pages(path) + 1)]
    letter = [t for t in texts if notes_footer not in t]
    assert texts[: len(letter)] == letter, "the notes come after the letter"
    return " ".join(letter), " ".join(texts[len(letter) :]), len(letter)


def manifest_of(pack: Path) -> tuple[dict[str, str], str]:
    """The pack's files with their SHA-256 (from manifest.json) and the manifest's own SHA-256."""
    with zipfile.ZipFile(pack) as zf:
        raw = zf.read("manifest.json")
    files = {name: meta["sha256"] for name, meta in json.loads(raw)["files"].items()}
    return files, hashlib.sha256(raw).hexdigest()


@pytest.fixture(autouse=True)
def _poppler() -> None:
    if shutil.which("pdftotext") is None:  # poppler-utils is in scripts/debian-packages.txt
        pytest.skip("pdftotext (poppler-utils) is not installed")


def test_pdf_letter_with_its_pack_beside_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = isp_setup(tmp_path)
    contract = tmp_path / "contract.pdf"
    contract.write_bytes(b"%PDF-1.4 scanned contract\n")
    out = tmp_path / "out" / "letter.pdf"
    assert main(["complaint", "-c", str(config), *ISP_ARGS, "-o", str(out), "--attach", str(contract)]) == 0
    pack = tmp_path / "out" / "letter-evidence.zip"
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == f"wrote {out} (complaint_ru_isp.md.j2; claimed: 153.63 RUB)"
    files, manifest_sha = manifest_of(pack)
    assert printed[1] == f"wrote {pack}: 10 files, SHA-256 {hashlib.sha256(pack.read_bytes()).hexdigest()}"
    assert printed[2] == f"  manifest SHA-256 {manifest_sha}; the letter cites this file: keep it as it is"
    verdict = verify_pack(pack)
    assert verdict.ok, verdict.problems
    assert (verdict.provider, verdict.period) == ("isp", "2026-10")

    letter, notes, pages = split_letter(out, "Заметки к черновику — не отправлять")
    assert pages == 4
    # Cyrillic comes out as text, with every part a claims desk checks
    for part in (
        "ПРЕТЕНЗИЯ (досудебная)",
        "Кому: ООО «2КОМ»",
        "договор № 248393 от 01.05.2013",
        "02.10.2026 20:15:00 МСК (UTC+03:00) [02.10.2026 17:15:00 UTC]",
        "10.10.2026 18:45:00 МСК (UTC+03:00) [10.10.2026 15:45:00 UTC]",
        "7 суток 22 ч 30 мин",
        "600,00 ₽ × 190,5 ч ÷ 744 ч = 153,63 ₽",
        # the fault report comes from the journal's contact log: the letter states it and its table lists it
        "О неисправности я сообщил по телефону 02.10.2026 в 20:45 МСК, обращение № 123456.",
        "заявка: нет интернета",
        "ст. 55 Федерального закона",
        f"Пакет доказательств — файл letter-evidence.zip, SHA-256: {hashlib.sha256(pack.read_bytes()).hexdigest()}",
        "manifest.json, SHA-256:",
        manifest_sha,  # on the same line as its label, which a page break may put the running footer after
        f"contract.pdf — SHA-256: {hashlib.sha256(contract.read_bytes()).hexdigest()}",
        "____________ / Петров Виктор Андреевич /",
        "стр. 1 из 4",
        "стр. 4 из 4",
    ):
        assert part in letter, part
    for name, digest in files.items():
        assert f"{name} — " in letter and digest in letter, name
    # the notes for the customer are on a page of their own, marked, and not on the letter's pages
    assert notes.startswith("Черновик. Письмо занимает страницы 1–4: проверьте все сведения")
    assert "Заметки к черновику — не отправлять" in notes and "Заметки к черновику" not in letter
    assert "ru.telematics.prorata" in notes and "ru.telematics.prorata" not in letter


def test_same_input_gives_the_same_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = isp_setup(tmp_path)
    verified: list[Path] = []

    def counted(path: Path) -> object:  # the real verifier, counted: a given pack is verified once, not twice
        verified.append(path)
        return verify_pack(path)

    monkeypatch.setattr(claim, "verify_pack", counted)
    outputs = []
    for run in ("a", "b"):
        out = tmp_path / run / "letter.pdf"
        assert main(["complaint", "-c", str(config), *ISP_ARGS, "-o", str(out)]) == 0
        md = tmp_path / run / "letter.md"
        verified.clear()
        assert (
            main(
                [
                    "complaint",
                    "-c",
                    str(config),
                    *ISP_ARGS,
                    "-o",
                    str(md),
                    "--pack",
                    str(out.parent / "letter-evidence.zip"),
                ]
            )
            == 0
        )
        assert verified == [out.parent / "letter-evidence.zip"]
        outputs.append([p.read_bytes() for p in (out, md, out.parent / "letter-evidence.zip")])
    assert outputs[0] == outputs[1]
    # the Markdown letter made from the PDF's pack lists the same hashes
    files, manifest_sha = manifest_of(tmp_path / "a" / "letter-evidence.zip")
    text = (tmp_path / "a" / "letter.md").read_text(encoding="utf-8")
    assert manifest_sha in text and all(d in text for d in files.values())


def test_a_given_pack_is_verified_and_must_fit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = isp_setup(tmp_path)
    pack = tmp_path / "pack.zip"
    assert main(["evidence", "-c", str(config), "--provider", "isp", "--period", "2026-10", "-o", str(pack)]) == 0
    capsys.readouterr()
    # one byte of results.csv changed (the manifest left as it was): the letter is refused, naming the file
    tampered = tmp_path / "tampered.zip"
    with zipfile.ZipFile(pack) as src, zipfile.ZipFile(tampered, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "outages.csv":
                data = data.replace(b"2026-10-02T17:15", b"2026-10-02T17:25", 1)
            dst.writestr(info, data)
    base = ["complaint", "-c", str(config), "--provider", "isp", "--lang", "ru", "--date", "2026-11-02"]
    letter = tmp_path / "letter.md"
    assert main([*base, "--period", "2026-10", "-o", str(letter), "--pack", str(tampered)]) == 1
    err = capsys.readouterr().err
    assert f"error: {tampered} does not verify: outages.csv: its SHA-256 differs" in err
    assert not letter.exists()
    # a sound pack of another period
    assert main([*base, "--period", "2026-09", "-o", str(letter), "--pack", str(pack)]) == 1
    assert f"error: {pack} covers the period 2026-10, not 2026-09" in capsys.readouterr().err
    # the sound pack: listed, not rewritten, and the letter is computed as of the pack's time
    before = pack.read_bytes()
    assert main([*base, "--period", "2026-10", "-o", str(letter), "--pack", str(pack)]) == 0
    assert pack.read_bytes() == before
    assert f"listed {pack}: 10 files" in capsys.readouterr().out
    assert manifest_of(pack)[1] in letter.read_text(encoding="utf-8")


def test_ofcom_counts_from_the_fault_report_in_the_contact_log(tmp_path: Path) -> None:
    """UK: compensation runs from the report, so without a logged report nothing is claimed under the code."""
    uk_case(tmp_path)
    config = config_file(tmp_path, UK_CONFIG, "agent: {id: home-ldn, timezone: Europe/London}")
    args = ["complaint", "-c", str(config), *UK_ARGS]
    assert main([*args, "-o", str(tmp_path / "before.md")]) == 0
    before = (tmp_path / "before.md").read_text(encoding="utf-8")
    assert "£41.36" not in before
    assert "the contact log has no fault report after the outage began at 9 Nov 2026 07:40:00 GMT" in before
    with Journal.open(tmp_path / "journal.sqlite3") as journal:
        add_contact(
            journal,
            provider="isp",
            channel="phone",
            ref="FLT-20931",
            note="reported total loss of broadband",
            at_ns=to_ns(dt.datetime(2026, 11, 9, 9, 12, tzinfo=LONDON)),
            now_ns=to_ns(dt.datetime(2026, 11, 9, 9, 20, tzinfo=LONDON)),
        )
    out = tmp_path / "after.pdf"
    assert main([*args, "-o", str(out)]) == 0
    text = split_letter(out, "Notes on this draft — do not send")[0]
    assert "£10.34 × 4 calendar days (12 Nov 2026 – 15 Nov 2026) = £41.36" in text
    assert "I reported the fault by phone on 9 Nov 2026 at 09:12 GMT, ref. FLT-20931." in text
    assert "| 9 Nov 2026 09:12:00 GMT" not in text  # a real table, not Markdown source
    assert "9 Nov 2026 09:12:00 GMT (UTC+00:00) phone FLT-20931 reported total loss of broadband" in text


def test_the_clock_statement_gives_the_worst_offset_of_the_period(tmp_path: Path) -> None:
    isp_case(tmp_path)
    samples = [  # (local time, offset in ns): the worst is −2.345 ms, stated rounded up to 2.4 ms
        (dt.datetime(2026, 10, 5, 12, 0, tzinfo=MSK), 812_000),
        (dt.datetime(2026, 10, 5, 13, 0, tzinfo=MSK), -2_345_000),
        (dt.datetime(2026, 11, 5, 13, 0, tzinfo=MSK), 90_000_000),  # after the period: not counted
    ]
    with Journal.open(tmp_path / "journal.sqlite3") as journal:
        for when, offset in samples:
            data = {
                "ok": True,
                "server": "ntp.example.net",
                "address": "127.0.0.1:123",
                "offset_ns": offset,
                "delay_ns": 400_000,
                "error_bound_ns": 250_000,
                "stratum": 2,
                "root_delay_ns": 0,
                "root_dispersion_ns": 0,
                "leap": 0,
                "ref_id": "127.0.0.1",
                "interval_s": 3600,
            }
            journal.add_event(EV_CLOCK_SAMPLE, data, ts_ns=to_ns(when))
        journal.seal(now_ns=to_ns(dt.datetime(2026, 11, 6, tzinfo=MSK)))
    config = config_file(tmp_path, ISP_CONFIG % "", "agent: {id: home-msk-1, timezone: Europe/Moscow}")
    out = tmp_path / "letter.md"
    assert main(["complaint", "-c", str(config), *ISP_ARGS, "-o", str(out)]) == 0
    text = " ".join(out.read_text(encoding="utf-8").split())
    assert (
        "Часы узла наблюдения сверялись с сервером точного времени (NTP) ntp.example.net — 2 раза за период; "
        "наибольшее расхождение — 2,4 мс, то есть намного меньше интервала между проверками (30 с)."
    ) in text


def test_the_signature_never_stands_alone_on_a_page(tmp_path: Path) -> None:
    """Wherever the page break falls, the date and signature keep some of the letter above them."""
    import datetime as _dt

    from watchdog.documents.letterpdf import PdfText, letter_pdf

    words = PdfText("ru", "ПРЕТЕНЗИЯ", "Иванов", "ПРЕТЕНЗИЯ", "стр. {page} из {pages}", "заметки", "{pages}", "1", True)
    closing = "\n\n1 ноября 2026 г.\n\n\\_\\_\\_ / Иванов Иван Иванович /\n"
    on_second = 0
    for lines in range(33, 36):  # the signature alone on page 2, then the date with it
        body = "# ПРЕТЕНЗИЯ\n\n" + "\n\n".join(f"Абзац {n} письма." for n in range(1, lines + 1)) + closing
        path = tmp_path / f"{lines}.pdf"
        path.write_bytes(letter_pdf({"body": body}, words, created=_dt.datetime(2026, 11, 1, tzinfo=_dt.UTC)))
        pages = [pdf_text(path, first=n, last=n) for n in range(1, pdf_pages(path) + 1)]
        (signed,) = [p for p in pages if "/ Иванов Иван Иванович /" in p]
        assert "Абзац" in signed, f"{lines} paragraphs: the signature page has no letter text"
        on_second += pages.index(signed) == 1
    assert on_second  # a page break fell inside the closing at least once: the rule was exercised
