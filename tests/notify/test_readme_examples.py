"""The README's examples of issue 18's account and reminder config load as the README says they work.

``account:`` under "Prepaid balances" and ``reminders:`` under "Notifications" are read out of README.md
as written and put through the real config loader (the recipes' examples are held equal to the tested
recipes in tests/probes/test_recipes.py).
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from watchdog.config import loads

README = Path(__file__).resolve().parents[2] / "README.md"
BASE = "agent: {id: t, timezone: Europe/Moscow, data_dir: /tmp/never-written}\nntp: {enabled: false}\n"
TARGET = "{name: %s, kind: http, address: 'http://127.0.0.1:9/'}"


def _block(holding: str) -> str:
    """The one YAML example of README.md that holds ``holding``."""
    blocks = re.findall(r"^```yaml\n(.*?)^```$", README.read_text(encoding="utf-8"), flags=re.DOTALL | re.MULTILINE)
    (block,) = [b for b in blocks if holding in b]
    return str(block)


def test_the_prepaid_account_example() -> None:
    block = _block("warn_days: [7, 3, 1]")
    targets = f"    targets: [{TARGET % 'account'}, {TARGET % 'cards'}]\n"
    config = loads(BASE + block.replace("  - id: isp\n", "  - id: isp\n" + targets), env={})
    account = config.provider("isp").account
    assert account is not None
    assert (account.tariff, account.per, account.currency, account.warn_days) == (600.0, "month", "RUB", [7, 3, 1])
    assert (account.balance_from, account.expiry_from) == ("account:balance", "cards:card_days_left")
    assert round(account.per_day, 4) == 19.7125  # 600 × 12 / 365.25, as the README's arithmetic says


def test_the_reminders_example() -> None:
    block = _block("Internet bill")
    providers = "providers:\n" + "".join(
        f"  - {{id: {p}, kind: {k}, targets: [{TARGET % 'site'}]}}\n"
        for p, k in (("isp", "isp"), ("bank", "bank"), ("broker", "broker"))
    )
    config = loads(BASE + providers + block[block.index("reminders:") :], env={})
    got = {r.name: (r.every, r.steps) for r in config.model.reminders}
    assert got == {
        "Bank card": (None, (30, 7, 1)),
        "Complaint Ж-17": (None, (7, 3, 1, 0)),
        "Internet bill": ("month", (7, 1, 0)),  # "7 d, 1 d, on the day"
        "Domain": ("year", (30, 7)),
    }
    (bill,) = [r for r in config.model.reminders if r.name == "Internet bill"]
    assert bill.occurrences(dt.date(2026, 12, 10)) == [dt.date(2026, 11, 25), dt.date(2026, 12, 25)]
