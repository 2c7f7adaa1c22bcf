"""The deadline calculators: when the provider must answer a letter sent on a given day, per rule."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping

from watchdog.documents.compensation.context import Context
from watchdog.documents.compensation.results import Deadline, Skipped
from watchdog.documents.rulebook import RuleUse

DeadlineResult = Deadline | Skipped


def _ru_svyaz_55(ctx: Context, use: RuleUse) -> DeadlineResult:
    if ctx.calendar is None:
        return Skipped(use.rule.id, "no_calendar")
    received = ctx.sent_on
    registration = ctx.calendar.next_working_day(received)
    day30 = registration + dt.timedelta(days=int(use.rule.constants["answer_days"]))
    answer = ctx.calendar.roll_forward(day30)
    inputs = {"received": received, "registration": registration, "answer": answer, "day30": day30}
    variant = "plain" if answer == day30 else "rolled"
    return Deadline(use, received, registration, answer, variant, inputs, ctx.calendar.name)


def _ru_fin_442(ctx: Context, use: RuleUse) -> DeadlineResult:
    if ctx.calendar is None:
        return Skipped(use.rule.id, "no_calendar")
    received = ctx.sent_on
    registration = ctx.calendar.next_working_day(received)
    answer = ctx.calendar.add_working_days(registration, int(use.rule.constants["answer_working_days"]))
    extended = ctx.calendar.add_working_days(answer, int(use.rule.constants["extension_working_days"]))
    inputs = {"received": received, "registration": registration, "answer": answer, "extended": extended}
    return Deadline(use, received, registration, answer, "main", inputs, ctx.calendar.name)


def _uk_adr(ctx: Context, use: RuleUse) -> DeadlineResult:
    c = use.rule.constants
    received = ctx.sent_on
    weeks = int(c["weeks_from"] if received >= c["weeks_change"] else c["weeks_before"])
    answer = received + dt.timedelta(weeks=weeks)
    inputs = {"received": received, "answer": answer, "weeks": weeks}
    return Deadline(use, received, None, answer, "main", inputs, None)


def _generic_reply(ctx: Context, use: RuleUse) -> DeadlineResult:
    days = int(use.params.get("days", 30))
    answer = ctx.sent_on + dt.timedelta(days=days)
    inputs = {"received": ctx.sent_on, "answer": answer, "days": days}
    return Deadline(use, ctx.sent_on, None, answer, "main", inputs, None)


DEADLINES: Mapping[str, Callable[[Context, RuleUse], DeadlineResult]] = {
    "ru_svyaz_55": _ru_svyaz_55,
    "ru_fin_442": _ru_fin_442,
    "uk_adr": _uk_adr,
    "generic_reply": _generic_reply,
}
