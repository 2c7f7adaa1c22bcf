"""The SLA report and the evidence pack's summary in Russian, over the scripted history, with the real CLI."""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from history import PERIOD, config_text, env, msk, write_history

from watchdog.cli import main
from watchdog.config import Config, loads
from watchdog.documents.pack.build import build_pack
from watchdog.documents.report import build_report, reason_text, render, report_json, report_words
from watchdog.journal.store import Journal

NOW = "2026-11-10T00:00"
NBSP = "\xa0"
# headings and codes of the English report that must not show in the Russian one
ENGLISH = (
    "SLA report",
    "Availability",
    "Downtime",
    "Incidents",
    "Coverage",
    "Counted time",
    "Shown apart",
    "Outages with their bounds",
    "Without data",
    "Announced maintenance",
    "Contacts with the provider",
    "How these figures were computed",
    "The period is complete",
    "customer_line",
    "no_data",
    "not running",
    "quorum",
    "first failure",
    "measurement(s)",
)


def visible(html: str) -> str:
    """What a reader of the HTML sees: no style sheet, no tags (class names are codes, not words)."""
    return re.sub(r"<[^>]+>", " ", re.sub(r"<style>.*?</style>", "", html, flags=re.S))


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path, Config]]:
    """The history's journal, and two config files for it: ``agent.language`` en (as written) and ru."""
    base = tmp_path_factory.mktemp("report_ru")
    text = config_text(base / "data")
    en = base / "en.yaml"
    en.write_text(text, encoding="utf-8")
    ru = base / "ru.yaml"
    ru.write_text(text.replace("data_dir:", "language: ru, data_dir:", 1), encoding="utf-8")
    config = loads(text, env=env())
    write_history(config)
    with pytest.MonkeyPatch.context() as patch:  # the CLI reads the config's ${VARS} from the environment
        for key, value in env().items():
            patch.setenv(key, value)
        yield en, ru, config


def test_text_report_in_russian(made: tuple[Path, Path, Config]) -> None:
    _, _, config = made
    with Journal.open(config.journal_path, readonly=True) as journal:
        text = render(build_report(journal, config, "broker", PERIOD, msk(10, 0)), "report.txt.j2", lang="ru")
    lines = text.splitlines()
    assert lines[0] == "Отчёт об уровне обслуживания (SLA): ИТ Инвест (broker, брокер), договор № Д-123/45"
    assert lines[1] == (
        "Период 2026-11-02..2026-11-04: 02.11.2026 00:00:00 МСК (UTC+03:00) – 05.11.2026 00:00:00 МСК (UTC+03:00)"
    )
    assert "Период завершён." in lines
    # the same figures as the English report (98.9691 %, 30m 00s, 2d 00h 30m ...), in Russian words and numbers
    assert lines[lines.index("Период завершён.") + 2 :][:7] == [
        "Доступность             98,9691 % учитываемого времени; целевой уровень SLA 99,5 %: НАРУШЕНИЕ SLA",
        f"Простой                 30{NBSP}мин по вине провайдера (SLA допускает 14{NBSP}мин 33{NBSP}с)",
        f"Инциденты               1 с простоем по вине провайдера (всего 2); самый долгий 30{NBSP}мин;"
        f" среднее время восстановления (MTTR) 30{NBSP}мин",
        f"Восстановление          позже срока — 0 инцидентов с простоем по вине провайдера (обещано 3{NBSP}суток"
        " от первого обращения клиента о сбое, без обращения — от начала сбоя)",
        "Покрытие измерениями    данные есть за 97,22 % периода",
        f"Учитываемое время       время обслуживания 2{NBSP}суток 2{NBSP}ч 30{NBSP}мин − плановые работы 0{NBSP}с"
        f" − без данных 2{NBSP}ч = 2{NBSP}суток 30{NBSP}мин",
        f"Учтено отдельно         причина не установлена 0{NBSP}с, линия клиента 20{NBSP}мин"
        " (не считается ни работой, ни простоем)",
    ]
    for heading in (
        "Инциденты (время: Europe/Moscow)",
        "Сбои и их границы (истинные начало и окончание лежат внутри них)",
        "Сбои контрольных узлов вашей линии",
        "Без данных (не считается ни работой, ни простоем)",
        "Объявленные плановые работы",
        "Сверка часов",
        "Контакты с провайдером",
        "Как получены эти показатели (их может пересчитать по журналу любой желающий)",
    ):
        assert heading in lines
    assert "02.11.2026 10:00:05 МСК (UTC+03:00)  02.11.2026 10:30:05 МСК (UTC+03:00)  30\xa0мин" in text
    assert "сбой на стороне провайдера" in text and "сбой на линии клиента" in text
    assert "первая ошибка: ошибка соединения (connect 127.0.0.1: отказано в соединении)" in text
    assert "локальная сеть: 1 из 1 в норме, интернет: 3 из 3 в норме (кворум 2)" in text
    assert f"2{NBSP}ч  агент не работал" in text
    assert "исключены из расчёта SLA: объявлено на сайте" in text
    assert "70 измерений по серверам 127.0.0.1:12300." in text
    assert "Наибольшее отклонение -0,250000 с в 03.11.2026 09:00:30 МСК (UTC+03:00)" in text
    assert "Системные часы переведены на +1,500 с в 04.11.2026 03:00:00 МСК (UTC+03:00)." in text
    assert "телефон    INC-1  Звонок в поддержку" in text
    assert "Часы обслуживания: пн–пт 07:00–23:50 по поясу Europe/Moscow" in text
    assert "Целевой уровень SLA — 99,5 % за месяц; SLA нарушен, если доступность ниже." in text
    assert lines[-1].startswith("Журнал ") and ", последний блок 31 (записи до № " in lines[-1]
    for english in ENGLISH:
        assert english not in text, english


def test_html_report_in_russian(made: tuple[Path, Path, Config]) -> None:
    _, _, config = made
    with Journal.open(config.journal_path, readonly=True) as journal:
        report = build_report(journal, config, "broker", PERIOD, msk(3, 0))
    html = render(report, "report.html.j2", lang="ru")
    assert '<html lang="ru">' in html and "<title>Отчёт SLA: ИТ Инвест, 2026-11-02..2026-11-04</title>" in html
    assert "Период ещё не закончился: данные по состоянию на 03.11.2026 00:00:00 МСК (UTC+03:00)" in html
    for heading in ("Показатели", "Инциденты", "Сбои и их границы", "Сверка часов", "Методика"):
        assert f"<h2>{heading}</h2>" in html
    assert "<th>Покрытие измерениями</th>" in html and "<th>Простой по вине провайдера</th>" in html
    assert '<td class="provider">сбой на стороне провайдера</td>' in html
    for english in ENGLISH:
        assert english not in visible(html), english
    # English stays the default of the library
    assert "<h1>SLA report: ИТ Инвест</h1>" in render(report, "report.html.j2")


def test_every_segment_reason_has_russian_words() -> None:
    ru = report_words("ru")
    assert reason_text("LAN 0/1 up, internet 3/3 up (quorum 2); LAN control down but internet up", ru) == (
        "локальная сеть: 0 из 1 в норме, интернет: 3 из 3 в норме (кворум 2);"
        " контрольный узел локальной сети недоступен, а интернет доступен"
    )
    assert reason_text("no LAN control, internet 1/3 up (quorum 2)", ru) == (
        "локальная сеть: контроль не настроен, интернет: 1 из 3 в норме (кворум 2)"
    )
    assert reason_text("the agent was not running", ru) == "агент не работал"
    en = report_words("en")
    for reason in ("no LAN control, internet 1/3 up (quorum 2)", "LAN 1/1 up, internet 0/3 up (quorum 2)"):
        assert reason_text(reason, en) == reason
    assert set(en) == set(ru)
    for group in ("attribution", "failure", "role", "kind", "no_data", "reason", "chart", "pdf"):
        assert set(en[group]) == set(ru[group]), group


def test_lang_follows_agent_language(made: tuple[Path, Path, Config], capsys: pytest.CaptureFixture[str]) -> None:
    en, ru, _ = made
    args = ["--provider", "broker", "--period", PERIOD, "--now", NOW]
    assert main(["report", "-c", str(ru), *args]) == 0
    text = capsys.readouterr().out
    assert text.startswith("Отчёт об уровне обслуживания (SLA): ИТ Инвест")
    assert main(["report", "-c", str(ru), *args, "--lang", "en"]) == 0
    assert capsys.readouterr().out.startswith("SLA report: ИТ Инвест")
    assert main(["report", "-c", str(en), *args]) == 0
    assert capsys.readouterr().out.startswith("SLA report: ИТ Инвест")
    assert main(["report", "-c", str(en), *args, "--lang", "ru"]) == 0
    assert capsys.readouterr().out == text
    # --json has no language: the same bytes whatever --lang or agent.language say
    outputs = []
    for cfg, extra in ((en, []), (ru, []), (en, ["--lang", "ru"]), (ru, ["--lang", "en"])):
        assert main(["report", "-c", str(cfg), *args, "--json", *extra]) == 0
        outputs.append(capsys.readouterr().out)
    assert len(set(outputs)) == 1 and json.loads(outputs[0])["incidents"][0]["attribution"] == "provider"


def test_pack_summary_in_russian_verifies(
    made: tuple[Path, Path, Config], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    en, ru, _ = made
    args = ["--provider", "broker", "--period", PERIOD, "--now", NOW, "--no-seal"]
    assert main(["evidence", "-c", str(ru), *args, "-o", str(tmp_path / "ru.zip")]) == 0
    assert main(["evidence", "-c", str(en), *args, "-o", str(tmp_path / "en.zip")]) == 0
    assert main(["evidence", "-c", str(en), *args, "--lang", "ru", "-o", str(tmp_path / "en-ru.zip")]) == 0
    capsys.readouterr()
    packs = {}
    for name in ("ru", "en", "en-ru"):
        with zipfile.ZipFile(tmp_path / f"{name}.zip") as zf:
            packs[name] = {n: zf.read(n) for n in zf.namelist()}
        assert main(["verify", str(tmp_path / f"{name}.zip")]) == 0, name  # exit 0: verify_pack(...).ok
    summary = packs["ru"]["summary.html"].decode("utf-8")
    assert '<html lang="ru">' in summary and "<h2>Состав доказательного пакета</h2>" in summary
    assert "<h2>Показатели</h2>" in summary and "Целевой уровень SLA 99,5 %" in summary
    for english in (*ENGLISH, "This evidence pack", "Timeline"):
        assert english not in visible(summary), english
    assert packs["en"]["summary.html"].decode("utf-8").count("<h2>This evidence pack</h2>") == 1
    assert packs["ru"]["summary.pdf"].startswith(b"%PDF") and packs["ru"]["summary.pdf"] != packs["en"]["summary.pdf"]
    # the machine files are the same in both languages (same config file, --lang ru against the default en);
    # the chart is for people and has its labels in the pack's language
    assert set(packs["en"]) == set(packs["en-ru"])
    assert packs["en-ru"]["timeline.png"] != packs["en"]["timeline.png"]
    for name in packs["en"]:
        if name not in ("manifest.json", "summary.html", "summary.pdf", "timeline.png"):
            assert packs["en-ru"][name] == packs["en"][name], name
    assert "<h2>Состав доказательного пакета</h2>" in packs["en-ru"]["summary.html"].decode("utf-8")
    ru_manifest, en_manifest = json.loads(packs["en-ru"]["manifest.json"]), json.loads(packs["en"]["manifest.json"])
    assert ru_manifest["chain"] == en_manifest["chain"] and list(ru_manifest) == list(en_manifest)
    assert list(ru_manifest["files"]) == list(en_manifest["files"])


def test_library_pack_language(made: tuple[Path, Path, Config], tmp_path: Path) -> None:
    en, _, config = made
    text = en.read_text(encoding="utf-8")
    with Journal.open(config.journal_path, readonly=True) as journal:
        build_pack(
            journal, config, "broker", PERIOD, tmp_path / "p.zip", now_ns=msk(10, 0), config_text=text, lang="ru"
        )
        data = report_json(build_report(journal, config, "broker", PERIOD, msk(10, 0)))
    with zipfile.ZipFile(tmp_path / "p.zip") as zf:
        summary = zf.read("summary.html").decode("utf-8")
    assert "Отчёт об уровне обслуживания (SLA): ИТ Инвест" in summary
    assert "98,9691 %" in summary and f"{data['figures']['availability']:.4f}".replace(".", ",") == "98,9691"
