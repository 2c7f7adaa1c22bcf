"""``watchdog complaint`` end to end: a config file, a journal on disk, a letter written as .md and .html."""

from __future__ import annotations

import hashlib
from decimal import Decimal
from pathlib import Path

import pytest
from complaint_cases import ISP_CONFIG, isp_case

from watchdog.cli import main


@pytest.fixture
def setup(tmp_path: Path) -> Path:
    isp_case(tmp_path)  # writes tmp_path/journal.sqlite3
    config = tmp_path / "watchdog.yaml"
    text = ISP_CONFIG % ""
    text = text.replace(
        "agent: {id: home-msk-1, timezone: Europe/Moscow}",
        f"agent: {{id: home-msk-1, timezone: Europe/Moscow, data_dir: '{tmp_path}'}}",
    )
    config.write_text(text, encoding="utf-8")
    return config


def test_complaint_writes_markdown_and_html(setup: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    contract = tmp_path / "contract.pdf"
    contract.write_bytes(b"%PDF-1.4 scanned contract\n")
    digest = hashlib.sha256(contract.read_bytes()).hexdigest()
    out = tmp_path / "letter.md"
    args = ["complaint", "-c", str(setup), "--provider", "isp", "--period", "2026-10", "--lang", "ru"]
    assert main([*args, "--date", "2026-11-02", "-o", str(out), "--attach", str(contract)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith(f"wrote {out} (complaint_ru_isp.md.j2; claimed: {Decimal('153.63')} RUB)\n")
    text = out.read_text(encoding="utf-8")
    assert "= **153,63\xa0₽**" in text and "= **90,00\xa0₽**" in text
    assert f"3. contract.pdf — SHA-256: `{digest}`" in text  # after the contract copy and the evidence pack
    page = tmp_path / "letter.html"
    assert main([*args, "--date", "2026-11-02", "-o", str(page)]) == 0
    assert page.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_complaint_usage_errors(setup: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["complaint", "-c", str(setup), "--period", "2026-10"]
    assert main([*base, "--provider", "bank"]) == 2
    assert "no provider 'bank' in the config (known: isp)" in capsys.readouterr().err
    assert main([*base, "--provider", "isp", "-o", str(tmp_path / "letter.txt")]) == 2
    assert "write .md, .html or .pdf" in capsys.readouterr().err
    assert main(["complaint", "-c", str(setup), "--provider", "isp", "--period", "Oct"]) == 2
    assert "cannot read period 'Oct'" in capsys.readouterr().err
    assert main([*base, "--provider", "isp", "--attach", str(tmp_path / "missing.pdf")]) == 2


def test_restore_letter_from_a_promise_on_a_call(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """No restore time in the contract: `contact add --promised 72h`, then `complaint --about restore` drafts the
    late-repair letter from that promise, claims only the pro-rata recalculation, and `report --json` counts with
    the same promise."""
    import json

    isp_case(tmp_path, promise_only=True)
    config = tmp_path / "watchdog.yaml"
    text = (ISP_CONFIG % "").replace("    sla: {restore_within: 72h}\n", "")
    text = text.replace("    compensation:\n      - {rule: ru.zozpp.28.5}\n", "")
    text = text.replace(
        "agent: {id: home-msk-1, timezone: Europe/Moscow}",
        f"agent: {{id: home-msk-1, timezone: Europe/Moscow, data_dir: '{tmp_path}'}}",
    )
    config.write_text(text, encoding="utf-8")
    add = ["contact", "add", "-c", str(config), "--provider", "isp", "--channel", "phone", "--ref", "123456"]
    assert main([*add, "--at", "2026-10-02T20:45", "--direction", "out", "--promised", "72h", "--note", "заявка"]) == 0
    capsys.readouterr()
    args = ["complaint", "-c", str(config), "--provider", "isp", "--period", "2026-10", "--lang", "ru"]
    assert main([*args, "--about", "restore", "--date", "2026-11-02"]) == 0  # the Markdown on stdout: no pack
    letter = capsys.readouterr().out
    assert "Общая сумма денежных требований: **153,63\xa0₽**." in letter
    assert (
        "Срок восстановления услуги — 72\xa0ч: его назвал оператор при моём обращении по телефону 02.10.2026 в 20:45 "
        "МСК, обращение №\xa0123456. По перерыву № 1 срок отсчитывается от моего первого обращения о нём (02.10.2026 в "
        "20:45 МСК) и истёк 05.10.2026 в 20:45 МСК"
    ) in letter
    assert "неустойк" not in letter.split("\n---\n")[0].lower()
    assert main(["report", "-c", str(config), "--provider", "isp", "--period", "2026-10", "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)["figures"]
    assert (figures["restore_within_from"], figures["past_restore_within"]) == ("promise", 1)
