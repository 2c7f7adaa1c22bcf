"""Balances and run-out warnings (issue 18 item 3): ``watchdog balance set``, the projection, the warnings.

Real parts: the CLI in process on a real journal file, a notifier sending through the real outbox to a
real Apprise ``json://`` receiver on loopback (its wall clock held at chosen days; a restart is a new
notifier on the same journal), and a whole agent probing a real personal-account page on 127.0.0.1
whose balance drops.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web
from notify_helpers import FixedClock, Receiver, wait_until

from watchdog.agent.core import Agent
from watchdog.agent.sinks import AgentContext
from watchdog.agent.state import Board
from watchdog.agent.writer import JournalWriter
from watchdog.analysis.balance import project
from watchdog.cli import main
from watchdog.config import Account, loads
from watchdog.errors import ConfigError
from watchdog.journal.balance import Balance, list_balances, parse_amount
from watchdog.journal.store import Journal
from watchdog.journal.verify import verify_journal
from watchdog.notify.sink import NotifySink
from watchdog.outputs import default_sink_factories
from watchdog.timefmt import to_ns

MSK = ZoneInfo("Europe/Moscow")


def at(day: int, month: int = 12, hour: int = 10) -> int:
    return to_ns(dt.datetime(2026, month, day, hour, 0, tzinfo=MSK))


def test_projection_arithmetic() -> None:
    account = Account(tariff=600.0)
    reading = Balance(1, at(2), at(2), "isp", Decimal("180.00"), "RUB", "manual", "")
    p = project(reading, account, MSK)
    assert (round(p.per_day, 4), p.days, p.run_out) == (19.7125, 9, dt.date(2026, 12, 11))
    assert p.days_left(dt.date(2026, 12, 6)) == 5
    debt = project(Balance(1, at(2), at(2), "isp", Decimal("-12.50"), "RUB", "manual", ""), account, MSK)
    assert (debt.days, debt.run_out) == (0, dt.date(2026, 12, 2))
    daily = project(reading, Account(tariff=20.0, per="day"), MSK)
    assert (daily.days, daily.run_out) == (9, dt.date(2026, 12, 11))
    assert [parse_amount(t) for t in ("450", "450,5", " 1 234.50 ", "-3")] == [
        Decimal("450.00"),
        Decimal("450.50"),
        Decimal("1234.50"),
        Decimal("-3.00"),
    ]
    with pytest.raises(ValueError, match="not an amount: 'lots'"):
        parse_amount("lots")


def test_account_takes_the_contract_fee_and_names_its_target() -> None:
    base = """
providers:
  - id: isp
    targets: [{name: gateway, kind: tcp, address: "127.0.0.1:7"}]
    contract: {fee: {amount: 1200, currency: RUB, per: quarter}}
    account: ACCOUNT
"""
    account = loads(base.replace("ACCOUNT", "{}"), env={}).provider("isp").account
    assert account is not None
    assert (account.tariff, account.per, account.currency, round(account.per_day, 4)) == (
        1200.0,
        "quarter",
        "RUB",
        13.1417,
    )
    with pytest.raises(ConfigError) as caught:
        loads(base.replace("ACCOUNT", '{balance_from: "page:balance"}'), env={})
    assert caught.value.problems == [
        "<config>:3: providers[0]: account.balance_from names 'page', which is not a target of provider 'isp'"
    ]
    with pytest.raises(ConfigError) as caught:
        loads(base.replace("ACCOUNT", "{warn_days: [0]}"), env={})
    assert caught.value.problems == [
        "<config>:6: providers[0].account.warn_days[0]: input should be greater than or equal to 1"
    ]


def config_text(data_dir: Path, rx: Receiver, extra: str = "") -> str:
    return f"""
agent: {{id: home-msk-1, timezone: Europe/Moscow, data_dir: "{data_dir}", language: en}}
controls:
  lan: [{{name: router, kind: tcp, address: "127.0.0.1:1"}}]
providers:
  - id: isp
    name: HomeNet
    kind: isp
    targets: [{{name: gateway, kind: tcp, address: "127.0.0.1:7"}}]
    contacts: {{support_phone: "8 800 000-00-01"}}
    account: {{tariff: 600}}
notify:
  urls: ["{rx.url()}"]
  digest_at: null
ntp: {{enabled: false}}
{extra}
"""


def delivered_all(journal_path: Path) -> bool:
    conn = sqlite3.connect(f"file:{journal_path}?mode=ro", uri=True)
    try:
        return all(r[0] is not None for r in conn.execute("SELECT delivered_ns FROM notify_outbox"))
    finally:
        conn.close()


Day = Callable[[int], Awaitable[list[tuple[str, str]]]]


@pytest.fixture
async def notifier_day(tmp_path: Path) -> AsyncIterator[tuple[Path, Receiver, Day]]:
    rx = Receiver()
    await rx.up()
    path = tmp_path / "watchdog.yaml"
    path.write_text(config_text(tmp_path / "data", rx), encoding="utf-8")
    path.chmod(0o600)
    config = loads(path.read_text(encoding="utf-8"), env={})

    async def day(now_ns: int) -> list[tuple[str, str]]:
        before = len(rx.received)
        writer = JournalWriter(config.journal_path)
        await writer.open()
        sink = NotifySink(
            AgentContext(config, Board.for_targets(config.targets, config.quorum), writer, "run"),
            clock=FixedClock(now_ns),
            tick_s=3600.0,
        )
        await sink.start()
        try:
            await sink.tick(10**9)
            await wait_until(lambda: delivered_all(config.journal_path), 10)
        finally:
            await sink.aclose()
            await writer.aclose()
        return [(r.title, r.body) for r in rx.received[before:]]

    yield path, rx, day
    await rx.down()


async def test_balance_set_then_a_lower_one_warns_days_ahead_once(
    notifier_day: tuple[Path, Receiver, Day], capsys: pytest.CaptureFixture[str]
) -> None:
    path, rx, day = notifier_day
    assert main(["balance", "set", "isp", "450", "--at", "2026-11-01T09:00", "-c", str(path)]) == 0
    out = capsys.readouterr().out
    first, second = out.splitlines()
    assert first.startswith(
        "recorded balance #1 of HomeNet: 450.00 RUB at 2026-11-01 09:00:00 MSK (UTC+03:00); chained"
    )
    assert second.startswith("HomeNet: balance 450.00 RUB at 600 RUB/month ran out on 2026-11-23")
    assert await day(at(1, 11)) == []  # 450 RUB at 600 RUB/month lasts 22 days: to 23 November, no step reached

    # the account page shows less than the projection said: 100 RUB on the 10th lasts 5 days
    assert main(["balance", "set", "isp", "100", "--at", "2026-11-10T09:00", "-c", str(path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["projection"]["run_out"] == "2026-11-15" and data["projection"]["days"] == 5
    got = await day(at(10, 11))
    assert got == [
        (
            "HomeNet: balance runs out in 5 days",
            "Balance 100.00 RUB on 10 Nov at 600.00 RUB a month: the service stops on 15 November 2026, in 5 days.\n"
            "Top up before then: a cut account may also cut the line this warning travels on.\n"
            "Support: 8 800 000-00-01\n"
            "A new figure moves the date: watchdog balance set isp AMOUNT\n"
            "— home-msk-1, 10:00 MSK, ref. balance/isp/2026-11-15/7d",
        )
    ]
    assert await day(at(10, 11, hour=18)) == []  # restarted the same day: not again
    assert await day(at(11, 11)) == []  # still the 7-day step
    assert [t for t, _ in await day(at(12, 11))] == ["HomeNet: balance runs out in 3 days"]
    assert [t for t, _ in await day(at(14, 11))] == ["HomeNet: balance runs out tomorrow"]
    assert await day(at(15, 11)) == []  # no warning on the day: the last one went out while the line still worked
    assert rx.refs() == [
        "balance/isp/2026-11-15/7d",
        "balance/isp/2026-11-15/3d",
        "balance/isp/2026-11-15/1d",
    ]

    assert main(["balance", "show", "-c", str(path), "--json"]) == 0
    (shown,) = json.loads(capsys.readouterr().out)["balances"]
    assert (shown["balance"]["amount"], shown["run_out"], shown["source"] if "source" in shown else "manual") == (
        "100.00",
        "2026-11-15",
        "manual",
    )
    assert verify_journal(path.parent / "data" / "journal.sqlite3").ok  # the readings are chained


def test_balance_set_refuses_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "watchdog.yaml"
    path.write_text(config_text(tmp_path / "data", Receiver()), encoding="utf-8")
    path.chmod(0o600)
    assert main(["balance", "set", "isp", "lots", "-c", str(path)]) == 2
    assert capsys.readouterr().out.strip() == "not an amount: 'lots' (write 450 or 450.50)"
    assert main(["balance", "set", "nobody", "5", "-c", str(path)]) == 2


# ----------------------------------------------------------------------------- a page whose balance drops


async def test_agent_reads_a_dropping_balance_from_the_account_page(tmp_path: Path) -> None:
    balance = {"value": "450.00"}

    async def page(request: web.Request) -> web.Response:
        return web.json_response({"account": "1234", "balance": balance["value"], "currency": "RUB"})

    app = web.Application()
    app.router.add_get("/lk/balance", page)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    rx = Receiver()
    await rx.up()
    extra = """
    """
    text = (
        config_text(tmp_path, rx, extra)
        .replace(
            '    targets: [{name: gateway, kind: tcp, address: "127.0.0.1:7"}]',
            f"""    targets:
      - name: account
        kind: http
        address: "http://127.0.0.1:{port}/lk/balance"
        interval: 1s
        timeout: 800ms
        http: {{conditions: ["[STATUS] == 200"], metrics: {{balance: "[BODY].balance"}}}}""",
        )
        .replace("account: {tariff: 600}", 'account: {tariff: 600, balance_from: "account:balance"}')
    )
    config = loads(text, env={})
    agent = Agent(config, sink_factories=default_sink_factories())
    task = asyncio.create_task(agent.run())
    try:
        await asyncio.wait_for(agent.handle.started.wait(), 10)
        await asyncio.sleep(2.2)
        balance["value"] = "100.00"  # the account page now shows 100 RUB: 5 days at 600 RUB a month
        await wait_until(lambda: len(rx.received) >= 1, 15)
        balance["value"] = "99.50"
        await asyncio.sleep(2.2)
    finally:
        agent.handle.stop.set()
        assert await asyncio.wait_for(task, 30) == 0
        await rx.down()
        await runner.cleanup()

    with Journal.open(config.journal_path, readonly=True) as journal:
        readings = list_balances(journal, "isp")
    # one event per change, not one per probe; the source names the target and its metric
    assert [(str(b.amount), b.source) for b in readings] == [
        ("450.00", "account:balance"),
        ("100.00", "account:balance"),
        ("99.50", "account:balance"),
    ]
    today = dt.datetime.now(MSK).date()
    run_out = today + dt.timedelta(days=5)
    assert rx.refs() == [f"balance/isp/{run_out.isoformat()}/7d"]  # 99.50 still lasts 5 days: no second warning
    assert rx.received[0].title == "HomeNet: balance runs out in 5 days"


def test_dates_read_as_days_left() -> None:
    from probes.conditions import date_of

    assert [date_of(v) for v in ("2027-03-31", "2027-03-31T23:59:00+03:00", "31.03.2027", "03/27", "2/2028")] == [
        dt.date(2027, 3, 31),
        dt.date(2027, 3, 31),
        dt.date(2027, 3, 31),
        dt.date(2027, 3, 31),
        dt.date(2028, 2, 29),
    ]
    assert [date_of(v) for v in ("13/27", "31.02.2027", "soon", 5)] == [None, None, None, None]


async def test_card_expiry_read_from_the_account_page_warns_once(tmp_path: Path) -> None:
    """The bank's page shows the card's end date; the http metric turns it into days left; the notifier warns."""
    from probes import REGISTRY
    from watchdog.agent.runner import run_probe
    from watchdog.probe import ProbeContext

    ends = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=5)

    async def page(request: web.Request) -> web.Response:
        return web.json_response({"cards": [{"pan": "*1234", "valid_thru": ends.isoformat()}]})

    app = web.Application()
    app.router.add_get("/cards", page)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    rx = Receiver()
    await rx.up()
    text = (
        config_text(tmp_path, rx)
        .replace(
            '    targets: [{name: gateway, kind: tcp, address: "127.0.0.1:7"}]',
            f"""    targets:
      - name: cards
        kind: http
        address: "http://127.0.0.1:{port}/cards"
        http: {{metrics: {{card_days_left: "[BODY].cards[0].valid_thru"}}}}""",
        )
        .replace("account: {tariff: 600}", 'account: {expiry_from: "cards:card_days_left"}')
    )
    config = loads(text, env={})
    writer = JournalWriter(config.journal_path)
    await writer.open()
    sink = NotifySink(AgentContext(config, Board.for_targets(config.targets, config.quorum), writer, "run"))
    await sink.start()
    ctx = ProbeContext()
    try:
        target = config.target("isp/cards")
        for _ in range(3):  # every probe reads the date; one warning
            result = await run_probe(REGISTRY["http"], target, ctx)
            assert result.metrics["card_days_left"] == 5.0, result.detail
            await sink.on_result(result, None)
        await wait_until(lambda: len(rx.received) >= 1)
        await asyncio.sleep(0.3)
    finally:
        await ctx.aclose()
        await sink.aclose()
        await writer.aclose()
        await rx.down()
        await runner.cleanup()
    assert rx.refs() == [f"account/isp-card-days-left/{ends.isoformat()}/7d"]  # the date the page showed
    days = (ends - dt.datetime.now(MSK).date()).days  # 5, or 4 just after midnight in Moscow
    assert rx.received[0].title == f"HomeNet: card_days_left ends in {days} days"
