"""Words that agree (issue 15 item 5): one duration rule, plurals, no empty parts, no false "line is fine"."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from watchdog.notify.words import Words

MSK = ZoneInfo("Europe/Moscow")
NOW = 1_795_160_640 * 10**9  # 2026-11-20 07:44 UTC


def opened(**over: Any) -> dict[str, Any]:
    facts: dict[str, Any] = {
        "provider": "ИТ Инвест",
        "provider_id": "broker",
        "kind": "broker",
        "target": "trading",
        "reach": True,
        "since": NOW - 10 * 10**9,
        "age": 9.6,
        "verdict": "provider",
        "up": 4,
        "total": 4,
        "lan_up": 1,
        "lan_total": 1,
        "net_up": 3,
        "net_total": 3,
        "quorum": 2,
        "line_ok": True,
        "failing": [],
        "detail": None,
        "maintenance": None,
        "off_hours": False,
        "restore": None,
        "restore_by": None,
        "emergency": None,
    }
    return {**facts, **over}


def test_durations_round_to_the_nearest_second_as_the_report_does() -> None:
    ru, en = Words("ru", MSK), Words("en", MSK)
    assert [ru.duration(s) for s in (9.6, 9.4, 10.0, 59.6, 0.3)] == ["10 с", "9 с", "10 с", "1 мин", "0 с"]
    assert en.duration(9.99) == "10 s"
    body = ru.render(
        "outage_closed",
        NOW,
        provider="ИТ Инвест",
        provider_id="broker",
        target="trading",
        start=NOW - 10 * 10**9 + 10**7,
        end=NOW,
        length=9.99,
        by=None,
        st=None,
    ).body
    assert body == "ИТ Инвест: `trading` снова работает; сбой 10:43:50–10:44:00 МСК (10 с)."


def test_one_failing_control_takes_the_singular_verb() -> None:
    ru = Words("ru", MSK)
    body = ru.render("outage_opened", NOW, **opened(verdict="customer_line", failing=["router"])).body
    assert "Ваша собственная линия тоже не работает (не отвечает: router): возможно, провайдер не виноват." in body
    body = ru.render("outage_opened", NOW, **opened(verdict="customer_line", failing=["router", "n1"])).body
    assert "(не отвечают: router, n1)" in body


def test_zero_length_attribution_parts_are_not_said() -> None:
    ru = Words("ru", MSK)
    by = {"provider": 10.0, "customer_line": 0.0, "inconclusive": 0.0, "no_data": 0.0}
    body = ru.render(
        "outage_closed",
        NOW,
        provider="ИТ Инвест",
        provider_id="broker",
        target="trading",
        start=NOW - 10 * 10**9,
        end=NOW,
        length=10.0,
        by=by,
        st=None,
    ).body
    assert body.splitlines() == [
        "ИТ Инвест: `trading` снова работает; сбой 10:43:50–10:44:00 МСК (10 с).",
        "По вине провайдера: 10 с (ваша линия работала).",
    ]


def test_the_line_is_fine_only_when_the_quorum_holds() -> None:
    ru, en = Words("ru", MSK), Words("en", MSK)
    facts = opened(kind="isp", up=1, total=4, net_up=0, line_ok=False)
    assert ru.render("outage_opened", NOW, **facts).body.splitlines()[1] == (
        "Ваш роутер отвечает (LAN 1/1), а интернет-узлы — нет (0/3, кворум 2): интернет пропал у провайдера."
    )
    assert en.render("outage_opened", NOW, **facts).body.splitlines()[1] == (
        "Your router answers (LAN 1/1) but the internet controls do not (0/3, quorum 2):"
        " the internet is gone at the provider."
    )
    assert ru.render("outage_opened", NOW, **opened()).body.splitlines()[1] == (
        "Ваша линия в порядке: контрольные узлы на связи (4/4)."
    )


def test_the_footer_quotes_an_outage_by_its_number() -> None:
    ru, en = Words("ru", MSK), Words("en", MSK)
    facts = opened(ref="outage-open/88", agent="home-msk-1", written=NOW)
    assert ru.render("outage_opened", NOW, **facts).body.endswith("— home-msk-1, 10:44 МСК, № 88")
    assert en.render("outage_opened", NOW, **facts).body.endswith("— home-msk-1, 10:44 MSK, ref. 88")


def flap(**over: Any) -> dict[str, Any]:
    facts: dict[str, Any] = {
        "provider": "ИТ Инвест",
        "provider_id": "broker",
        "target": "trading",
        "count": 2,
        "window_start": NOW - 600 * 10**9,
        "window_end": NOW,
        "down": 20.0,
        "longest": 10.0,
        "windows": [],
        "more": 0,
        "still_down": None,
        "line_down": 0.0,
        "line_only": False,
    }
    return {**facts, **over}


def test_a_flap_caused_by_the_customers_line_is_said_to_be_the_line() -> None:
    ru, en = Words("ru", MSK), Words("en", MSK)
    said = ru.render("flap_summary", NOW, **flap(line_down=20.0, line_only=True))
    assert said.title == "Ваша линия то работает, то нет: ИТ Инвест `trading` пропадал вместе с ней"
    assert (
        said.body.splitlines()[1]
        == "Всё это время не работала ваша собственная линия: провайдеру это не засчитывается."
    )
    said = en.render("flap_summary", NOW, **flap(line_down=12.0))
    assert said.title == "ИТ Инвест: `trading` flapping"
    assert said.body.splitlines()[1] == "Of that, 12 s was your own line being down: not counted against ИТ Инвест."
    assert "линия" not in ru.render("flap_summary", NOW, **flap()).body.splitlines()[1]


def test_one_compact_duration_format() -> None:
    from watchdog.timefmt import duration_text

    assert [duration_text(s) for s in (9.96, 10.0, 9.5, 0.8, 259_200, 183_000, 7200)] == [
        "10s",
        "10s",
        "9.5s",
        "0.8s",
        "3d 00h 00m",
        "2d 02h 50m",
        "2h 00m",
    ]


def test_page_report_and_notifications_give_the_same_figures() -> None:
    from watchdog.documents.words import Formatter, load_words
    from watchdog.web.i18n import language

    page, report, said = language("ru"), Formatter("ru", "ru_RU", MSK, load_words("ru")), Words("ru", MSK)
    nb = "\u00a0"
    # the outage: exactly 10 s (and 9.96 s, which every surface calls 10 s)
    for seconds in (10.0, 9.96):
        assert page.duration(seconds) == report.duration(seconds) == f"10{nb}с"
        assert said.duration(seconds) == "10 с"
    # allowed downtime 0.45 s: one rounding, "0,5 с" on the page and in the report
    assert page.duration(0.45) == report.duration(0.45) == f"0,5{nb}с"
    # coverage 0.0234 %: two decimals on both
    assert page.percent(0.0234, 2) == f"0,02{nb}%"
    assert page.duration(259_200) == f"3{nb}д 00{nb}ч 00{nb}мин"
    assert page.gettext("phone") == "телефон" and page.gettext("visit") == "визит"
