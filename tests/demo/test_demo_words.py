"""What ``watchdog demo`` says comes from its word files: both languages say every line, figures as the report.

The full demo run (tests/demo/test_demo.py) takes 40 s and runs in English; here the Russian words are
checked on the summary it prints, from a report's figures, without running the agent.
"""

from __future__ import annotations

import re
import string
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from watchdog.demo import scenario
from watchdog.demo.scenario import DemoResult, _summary, demo_words

LOCALE = Path(scenario.__file__).resolve().parent / "locale"


def flat(table: dict[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in table.items():
        if isinstance(value, dict):
            out |= flat(value, f"{prefix}{key}.")
        elif isinstance(value, str):
            out[f"{prefix}{key}"] = value
    return out


def fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_both_languages_have_every_phrase_with_the_same_blanks() -> None:
    en, ru = (flat(yaml.safe_load((LOCALE / f"demo.{lang}.yaml").read_text(encoding="utf-8"))) for lang in ("en", "ru"))
    assert en.keys() == ru.keys()
    assert {k: fields(v) for k, v in en.items()} == {k: fields(v) for k, v in ru.items()}
    # every phrase the script says is in the tables
    source = Path(scenario.__file__).read_text(encoding="utf-8")
    said = set(re.findall(r"(?:say|words|w)\(\s*\"([a-z_0-9]+\.[a-z_0-9.]+)\"", source))
    assert said and said <= en.keys(), said - en.keys()
    russian = [v for k, v in ru.items() if k not in {"summary.ok", "stamp"}]
    assert all(re.search("[а-яёА-ЯЁ]", v) for v in russian)


def result(tmp_path: Path) -> tuple[DemoResult, dict[str, Any]]:
    out = tmp_path / "demo-out"
    r = DemoResult(
        out=out,
        config=out / "watchdog.yaml",
        journal=out.resolve() / "data" / "journal.sqlite3",
        period="2026-12",
        files={"pack": out / "evidence-broker.zip"},
        pack_ok=True,
        journal_ok=True,
        figures={},
        elapsed_s=39.6,
        notifications=16,
    )
    figures = {
        "counted_incidents": 1,
        "downtime_s": 10.0,
        "inconclusive_s": 1.5,
        "customer_line_s": 8.2,
        "counted_s": 34.0,
        "no_data_s": 2678366.0,
        "coverage": 0.0000127,
        "availability": 70.588,
    }
    return r, {"figures": figures, "method": {"quorum": 2}}


@pytest.mark.parametrize(
    ("lang", "lines"),
    [
        (
            "ru",
            [
                "Готово за 40 с. Всё лежит в {out}/:",
                "  evidence-broker.zip                   доказательный пакет: проверка OK (10 файлов, хеши и цепочка)",
                "  data/journal.sqlite3                  журнал: проверка OK (382 строки, 2 блока)",
                "  notifications.txt                     уведомления, пришедшие на ваш телефон: 16 сообщений"
                " (Apprise json:// на собственный приёмник демонстрации)",
                "  - Сцена 1 засчитывается брокеру: 1 инцидент, 10 с простоя по вине провайдера — ваш роутер и"
                " не меньше 2 из 3 интернет-узлов всё это время отвечали.",
                "  - Сцена 2 — ваша: 8,2 с не работала ваша собственная линия (и ещё 1,5 с, пока состояние"
                " менялось); это время не входит ни в одну цифру и не попадает в претензию.",
            ],
        ),
        (
            "en",
            [
                "Done in 40s. Everything is in {out}/:",
                "  evidence-broker.zip                   the evidence pack: verify OK (10 files, hashes and chain)",
                "  data/journal.sqlite3                  the journal: verify OK (382 rows, 2 blocks)",
                "  notifications.txt                     the 16 messages your phone got"
                " (Apprise json:// to the demo's own receiver)",
                "  - Scene 1 counts against the broker: 1 incident, 10s of provider downtime, because your router"
                " and at least 2 of 3 internet anchors answered all along.",
                "  - Scene 2 is yours: 8.2s with your own line down (and 1.5s while it changed) is left out of"
                " every figure and of the claim.",
            ],
        ),
    ],
)
def test_the_summary_speaks_the_demos_language(tmp_path: Path, lang: str, lines: list[str]) -> None:
    r, data = result(tmp_path)
    said: list[str] = []
    _summary(r, data, 10, 382, 2, said.append, demo_words(lang, ZoneInfo("Europe/Moscow")))  # type: ignore[arg-type]
    said = [line.replace("\xa0", " ") for line in said]  # Russian durations join number and unit with a no-break space
    for line in lines:
        assert line.format(out=r.out) in said
    month = next(line for line in said if "99," in line or "99." in line)
    # coverage as the report writes it (4 decimals); no availability figure: 34 s cannot judge a month, and the
    # line says the letters claim nothing that needs 90 % of it
    sep = "," if lang == "ru" else "."
    assert f"0{sep}0013 %" in month and "90 %" in month and f"70{sep}59" not in month


async def test_the_narrator_tells_the_agents_changes_in_russian() -> None:
    """Real OutageNotice values, as the agent hands them to its sinks; the narrator's lines in Russian."""
    from watchdog.agent.sinks import OutageNotice
    from watchdog.agent.state import LineStatus
    from watchdog.demo.scenario import Narrator
    from watchdog.model import NS, Outage, Role, Target

    said: list[str] = []
    narrator = Narrator(out=said.append, words=demo_words("ru", ZoneInfo("Europe/Moscow")), targets=2)
    narrator.started = time.monotonic() - 9.0  # nine seconds into the run
    line = LineStatus(lan_up=1, lan_total=1, internet_up=3, internet_total=3, quorum=2)
    notices = []
    for name, length_s in (("trading", 8.2), ("web", 10.0)):
        target = Target(f"broker/{name}", name, "tcp", "127.0.0.10:1", Role.PROVIDER, "broker", 1.0, 0.8)
        outage = Outage(1, target.key, 0, (None, 0), 3 * NS, end_ns=int(length_s * NS), end_bounds=(0, 1))
        notices.append(OutageNotice("closed", outage, target, line, None))
    for notice in notices:
        await narrator.on_outage(notice)
    narrator.report()
    (text,) = (s.replace("\xa0", " ") for s in said)
    expected = r"\[  9,\d с\]   агент: сбой закончился — все 2 объекта \(длился от 8,2 с до 10 с\)"
    assert re.fullmatch(expected, text), text
