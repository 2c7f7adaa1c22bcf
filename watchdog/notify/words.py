"""Message catalogs: every word a notification says lives in ``watchdog/notify/locale/notify.<lang>.yaml``.

A catalog entry has a ``title`` and a ``body``; the body is a list of lines, each a small Jinja2
template, and lines that render empty are dropped (so a template never fights with whitespace). Code
prepares the facts; the catalog arranges them into words. Filters turn facts into what people read:

* ``clock``  UTC ns → ``10:32 MSK`` (with the day when it is not today: ``19 Nov 23:50 MSK``), in the
  agent's zone, with the zone's abbreviation or its UTC offset (``UTC+05:00``) when it has none;
* ``span``   two UTC ns → ``10:32:05–10:44:12 MSK`` (to the second);
* ``time``   UTC ns → ``10:32 MSK`` without the day;
* ``day`` / ``longday``  UTC ns or a date → ``19 Nov`` / ``19 November 2026`` (babel, per language);
* ``dur``    seconds → ``1 h 05 min``, ``3 days 4 h`` — whole seconds rounded as the report does, then cut;
* ``pct``    a percentage → ``99.95%`` / ``99,95%`` — rounded down, never a better figure than measured;
* ``plural`` ``n|plural("outage")`` → ``3 outages`` / ``3 сбоя`` with CLDR plural rules from babel.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
import yaml
from babel import Locale
from babel.dates import format_date
from babel.numbers import format_currency, format_decimal, format_percent

from watchdog.safetext import printable
from watchdog.timefmt import to_datetime

LANGUAGES = ("en", "ru")


@dataclass(frozen=True, slots=True)
class Rendered:
    """A message in words: its title and body."""

    title: str
    body: str


def zone_label(moment: dt.datetime) -> str:
    """``MSK`` where the tz database has an abbreviation, else ``UTC+05:00``."""
    name = moment.tzname() or ""
    if re.fullmatch(r"[A-Za-z]{2,6}", name):
        return name
    offset = moment.strftime("%z")
    return f"UTC{offset[:3]}:{offset[3:]}" if offset else "UTC"


class Words:
    """One language's catalog, bound to the agent's zone."""

    def __init__(self, language: str, zone: ZoneInfo) -> None:
        if language not in LANGUAGES:
            raise ValueError(f"no notification catalog for language {language!r} (have: {', '.join(LANGUAGES)})")
        self.language = language
        self.zone = zone
        self.locale = Locale.parse(language)
        text = resources.files("watchdog.notify").joinpath(f"locale/notify.{language}.yaml").read_text(encoding="utf-8")
        self.catalog: dict[str, Any] = yaml.safe_load(text)
        self.units: dict[str, Any] = self.catalog.pop("_units")
        self.nouns: dict[str, dict[str, str]] = self.catalog.pop("_nouns")
        self.phrases: dict[str, Any] = self.catalog.pop("_phrases", {})
        footer = self.catalog.pop("_footer")
        # the language's own names for zones ("MSK" is Latin: Russian text says МСК), else the tz database's
        self.zone_names: dict[str, str] = self.catalog.pop("_zone_names", {})
        # plain text, never HTML: values are made printable (render), not escaped
        env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)
        env.filters.update(
            clock=self._clock,
            time=self._time,
            span=self._span,
            day=self._day,
            longday=self._longday,
            dur=self.duration,
            pct=self.percent,
            plural=self.plural,
            num=self.number,
            hours=self.hours,
            promise=self.promise,
            refno=self.refno,
            money=self.money,
        )
        env.globals["phrase"] = self._phrase
        self._footer = env.from_string(footer)
        self._templates: dict[str, tuple[jinja2.Template, list[jinja2.Template]]] = {}
        for name, entry in self.catalog.items():
            self._templates[name] = (
                env.from_string(entry["title"]),
                [env.from_string(line) for line in entry["body"]],
            )

    def render(self, name: str, now_ns: int, /, **facts: Any) -> Rendered:
        """Fill the catalog entry ``name`` with ``facts``; ``now_ns`` decides when a time needs its day.

        With ``ref``, ``agent`` and ``written`` among the facts, the footer line (who wrote it, when, and
        the message's key) ends the body.
        """
        title, lines = self._templates[name]
        ctx = {**facts, "now": now_ns}
        body = [text for line in lines if (text := line.render(ctx).rstrip())]
        if "ref" in facts:
            body.append(self._footer.render(ctx).strip())
        # a provider's text (an outage's detail) carries no ESC sequence or bidi override into a message
        return Rendered(printable(title.render(ctx).strip()), printable("\n".join(body)))

    def names(self) -> list[str]:
        """The messages this catalog has."""
        return sorted(self._templates)

    # ------------------------------------------------------------------------------------- filters

    def local(self, ts_ns: int) -> dt.datetime:
        return to_datetime(ts_ns, self.zone)

    def _zone(self, moment: dt.datetime) -> str:
        label = zone_label(moment)
        return self.zone_names.get(label, label)

    def _hhmm(self, ts_ns: int, now_ns: int, fmt: str = "%H:%M") -> str:
        moment = self.local(ts_ns)
        shown = moment.strftime(fmt)
        if moment.date() != self.local(now_ns).date():
            shown = f"{self._day(moment.date())} {shown}"
        return shown

    @jinja2.pass_context
    def _clock(self, ctx: Any, ts_ns: int) -> str:
        return f"{self._hhmm(ts_ns, ctx['now'])} {self._zone(self.local(ts_ns))}"

    def _time(self, ts_ns: int) -> str:
        moment = self.local(ts_ns)
        return f"{moment.strftime('%H:%M')} {self._zone(moment)}"

    @jinja2.pass_context
    def _span(self, ctx: Any, start_ns: int, end_ns: int) -> str:
        """An outage window to the second (what a support desk checks against its own logs)."""
        a, b = self.local(start_ns), self.local(end_ns)
        first = self._hhmm(start_ns, ctx["now"], "%H:%M:%S")
        if a.date() == b.date():
            return f"{first}–{b.strftime('%H:%M:%S')} {self._zone(b)}"
        return f"{first} {self._zone(a)} – {self._hhmm(end_ns, ctx['now'], '%H:%M:%S')} {self._zone(b)}"

    def _as_date(self, value: int | dt.date) -> dt.date:
        return self.local(value).date() if isinstance(value, int) else value

    def _day(self, value: int | dt.date) -> str:
        return format_date(self._as_date(value), self.units["day_format"], locale=self.locale)

    def _longday(self, value: int | dt.date) -> str:
        return format_date(self._as_date(value), self.units["long_day_format"], locale=self.locale)

    def _phrase(self, group: str, key: str) -> str:
        return str(self.phrases.get(group, {}).get(key, ""))

    def plural(self, n: float, noun: str, *, bare: bool = False) -> str:
        """``3 outages``; with ``bare`` only the word (``outages``)."""
        forms = self.nouns[noun]
        form = self.locale.plural_form(n)
        word = forms.get(form) or forms["other"]
        return word if bare else f"{self.number(n)} {word}"

    def number(self, n: float) -> str:
        """A number in this language (``1,234`` / ``1 234``)."""
        return format_decimal(n, locale=self.locale)

    def money(self, amount: float, currency: str) -> str:
        """``180,50 ₽`` in Russian, ``180.50 RUB`` in English (the code: "RUB100.00" reads badly)."""
        if self.language == "ru":
            return str(format_currency(amount, currency, locale=self.locale))
        return f"{format_decimal(amount, '#,##0.00', locale=self.locale)} {currency}"

    def percent(self, value: float | None) -> str:
        """``99.95%`` — rounded down to 2 decimals, so a figure is never better than measured."""
        if value is None:
            return "—"
        floored = math.floor(value * 100 + 1e-9) / 100
        return format_percent(floored / 100, "#,##0.00%", locale=self.locale)

    def promise(self, value: float | None) -> str:
        """A promised percentage as written in the contract (``99.5%``)."""
        if value is None:
            return "—"
        return format_percent(value / 100, "#,##0.###%", locale=self.locale)

    @staticmethod
    def refno(key: str) -> str:
        """A message's key as people quote it: ``outage-open/88`` → ``88`` (the outage's number); others whole."""
        last = key.rsplit("/", 1)[-1]
        return last if last.isdigit() and key.startswith("outage-") else key

    def duration(self, seconds: float) -> str:
        """``45 s``, ``12 min``, ``1 h 05 min``, ``3 days 4 h`` — whole seconds rounded as the report rounds them
        (9.6 s of outage is ``10 s`` here, on the page and in the report), then shown down to the unit."""
        u = self.units
        s = max(0, whole_seconds(seconds))
        if s < 60:
            return f"{s} {u['s']}"
        if s < 3600:
            return f"{s // 60} {u['min']}"
        if s < 86400:
            hours, minutes = divmod(s // 60, 60)
            return f"{hours} {u['h']} {minutes:02d} {u['min']}" if minutes else f"{hours} {u['h']}"
        days, rest = divmod(s, 86400)
        hours = rest // 3600
        text = self.plural(days, "day")
        return f"{text} {hours} {u['h']}" if hours else text

    def hours(self, seconds: float) -> str:
        """Whole hours, for promises written in hours (``72 h``)."""
        return f"{self.number(math.floor(seconds / 3600 + 1e-9))} {self.units['h']}"


def whole_seconds(seconds: float) -> int:
    """The one rounding of a duration to whole seconds (half up), shared with the report's Formatter."""
    return math.floor(seconds + 0.5)


def local_date(ts_ns: int, zone: ZoneInfo) -> dt.date:
    """The date in ``zone`` at ``ts_ns``."""
    return to_datetime(ts_ns, zone).date()
