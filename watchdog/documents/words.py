"""How documents write things: dates, instants, numbers, money, durations and plurals per locale (Babel).

The SLA report and the complaint letter both use one :class:`Formatter` and the word files in
``watchdog/documents/locale/letter.<lang>.yaml`` ("154,84 ₽", "8 суток 3 ч"), so a figure reads the same
in both.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import yaml
from babel import Locale
from babel.dates import format_date, format_datetime
from babel.numbers import format_currency, format_decimal, format_percent, get_currency_symbol

from watchdog.config import ServiceHours
from watchdog.documents.compensation.values import Breakdown, ContactEntry, Duration, Instant, Money, Percent
from watchdog.errors import WatchdogError
from watchdog.timefmt import duration_text, local_text, tenths, to_datetime
from watchdog.units import parse_duration

Lang = Literal["ru", "en"]
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
_PLACEHOLDER_RE = re.compile(r"\{([a-z_][a-z0-9_]*)\}")


class LetterError(WatchdogError):
    """A letter cannot be built or rendered (bad input, a banned citation, a template error)."""


def md_escape(text: str) -> str:
    """Text from config or the contact log, made inert in Markdown (one line, specials escaped).

    Values never start a line in the templates, so line-start markers (``-``, ``1.``) need no escape. Runs of
    whitespace become one space, except the no-break spaces (U+00A0, U+202F) that keep "№ 123456" together.
    """
    out = re.sub(r"[^\S\u00a0\u202f]+", " ", str(text)).strip()
    out = re.sub(r"([\\`*\[\]<>|#&])", r"\\\1", out)
    return re.sub(r"(?<![0-9A-Za-zА-Яа-яЁё])_|_(?![0-9A-Za-zА-Яа-яЁё])", r"\\_", out)


class Formatter:
    """Dates, instants, numbers, money, durations and plurals for one letter locale and zone."""

    def __init__(self, lang: Lang, locale: str, zone: ZoneInfo, words: Mapping[str, Any]) -> None:
        self.lang = lang
        self.locale = Locale.parse(locale)
        self.zone = zone
        self.words = words

    def money(self, value: Money) -> str:
        """``154,84 ₽``, ``£41.36``, ``600.00 RUB`` (the code where the locale has no symbol)."""
        if get_currency_symbol(value.currency, self.locale) == value.currency:
            return f"{format_decimal(value.amount, '#,##0.00', locale=self.locale)}\xa0{value.currency}"
        return str(format_currency(value.amount, value.currency, locale=self.locale))

    def number(self, value: Decimal | int | float) -> str:
        """Every digit the value carries, in the locale's separators."""
        return str(format_decimal(value, locale=self.locale, decimal_quantization=False))

    def percent(self, value: Percent) -> str:
        """``3 %`` / ``3%``, ``98,699 %``."""
        return str(format_percent(value.value / 100, locale=self.locale, decimal_quantization=False))

    def date(self, value: dt.date, *, long: bool = False) -> str:
        """``02.10.2026`` / ``2 Oct 2026``; ``long``: ``2 октября 2026 г.`` / ``2 October 2026``."""
        return str(format_date(value, self.words["date_long" if long else "date"], locale=self.locale))

    def month(self, value: dt.date) -> str:
        """``октябрь 2026`` / ``October 2026``."""
        return str(format_date(value, self.words["month"], locale=self.locale))

    def instant(self, value: Instant | int) -> str:
        """Local time with its offset: ``02.10.2026 20:15:00 (UTC+03:00)``; open ones say so."""
        ns = value if isinstance(value, int) else value.ns
        moment = to_datetime(ns, self.zone)
        offset = moment.strftime("%z")
        name = moment.tzname() or ""
        if self.lang == "ru":  # "MSK" is Latin: ru names the zones it knows (МСК) and shows only the offset otherwise
            name = str(self.words.get("zone_names", {}).get(name, ""))
        label = f"{name} " if name.isalpha() and name != "UTC" else ""  # MSK, GMT, BST; never "+03"
        when = format_datetime(moment, self.words["datetime"], locale=self.locale)
        text = f"{when} {label}(UTC{offset[:3]}:{offset[3:]})"
        if isinstance(value, Instant) and value.still_open:
            return str(self.words["still_open"]).format(at=text)
        return text

    def short(self, value: Instant | int) -> str:
        """Local date and time without the zone (the letter states the zone once): ``02.10.2026 20:15:00``."""
        ns = value if isinstance(value, int) else value.ns
        return str(format_datetime(to_datetime(ns, self.zone), self.words["datetime"], locale=self.locale))

    def utc(self, value: Instant | int) -> str:
        """``02.10.2026 17:15:00 UTC``."""
        ns = value if isinstance(value, int) else value.ns
        return f"{format_datetime(to_datetime(ns), self.words['datetime'], locale=self.locale)} UTC"

    def both(self, value: Instant) -> str:
        """Local time with offset, then UTC in brackets."""
        if value.still_open:
            return self.instant(value)
        return f"{self.instant(value)} [{self.utc(value)}]"

    def plural(self, count: int, *forms: str) -> str:
        """The form for ``count``: ru takes (one, few, many), en takes (one, other)."""
        category = self.locale.plural_form(abs(count))
        order = ["one", "few", "many"] if self.lang == "ru" else ["one", "other"]
        index = order.index(category) if category in order else len(order) - 1
        return forms[min(index, len(forms) - 1)]

    def duration(self, value: Duration | float) -> str:
        """``7 суток 22 ч 30 мин`` / ``7 days 22 h 30 min``; seconds only under an hour."""
        seconds = value.seconds if isinstance(value, Duration) else value
        units = self.words["units"]
        if 0 < seconds and (tenth := tenths(seconds)) is not None:  # "0,2 с", never "0 с" for a real span
            return f"{self.number(Decimal(repr(tenth)))}\xa0{units['second']}"
        total = round(seconds) if seconds < 3600 else round(seconds / 60) * 60
        if isinstance(value, Duration) and value.in_hours and total >= 3600:
            hours, minutes = divmod(total // 60, 60)
            return f"{hours}\xa0{units['hour']}" + (f" {minutes}\xa0{units['minute']}" if minutes else "")
        days, rest = divmod(total, 86400)
        hours, rest = divmod(rest, 3600)
        minutes, secs = divmod(rest, 60)
        parts = []
        if days:
            forms = units["day"]
            names = [forms["one"], forms.get("few", forms.get("other")), forms.get("many", forms.get("other"))]
            if self.lang != "ru":
                names = [forms["one"], forms["other"]]
            parts.append(f"{days}\xa0{self.plural(days, *names)}")
        if hours:
            parts.append(f"{hours}\xa0{units['hour']}")
        if minutes:
            parts.append(f"{minutes}\xa0{units['minute']}")
        if secs or not parts:
            parts.append(f"{secs}\xa0{units['second']}")
        return " ".join(parts)

    def every(self, seconds: float) -> str:
        """``с интервалом 30 с`` / ``every 30 s``."""
        return str(self.words["every"]).format(interval=self.duration(seconds))

    def hours(self, windows: Sequence[ServiceHours]) -> str:
        """Service hours: ``пн–пт 07:00–23:50`` / ``Mon–Fri 07:00–23:50``."""
        names = self.words["weekdays"]
        out = []
        for w in windows:
            days = sorted(w.weekdays)
            runs: list[list[int]] = []
            for d in days:
                if runs and d == runs[-1][-1] + 1:
                    runs[-1].append(d)
                else:
                    runs.append([d])
            label = ", ".join(names[r[0]] if len(r) == 1 else f"{names[r[0]]}–{names[r[-1]]}" for r in runs)
            end = "24:00" if w.to == dt.time.max else w.to.strftime("%H:%M")
            out.append(f"{label} {w.from_.strftime('%H:%M')}–{end}")
        return "; ".join(out)

    def zone_label(self, ns: int) -> str:
        """``МСК`` / ``MSK`` where the language names the zone, else ``(UTC+05:00)``."""
        moment = to_datetime(ns, self.zone)
        name = moment.tzname() or ""
        if self.lang == "ru":
            name = str(self.words.get("zone_names", {}).get(name, ""))
        if name.isalpha() and name != "UTC":
            return name
        offset = moment.strftime("%z")
        return f"(UTC{offset[:3]}:{offset[3:]})"

    def at(self, value: Instant | int) -> str:
        """A moment inside a sentence, to the minute: ``02.10.2026 в 20:45 МСК`` / ``on 2 Oct 2026 at 20:45 MSK``."""
        ns = value if isinstance(value, int) else value.ns
        moment = to_datetime(ns, self.zone)
        return str(self.words["contact_when"]).format(
            date=self.date(moment.date()), time=moment.strftime("%H:%M"), zone=self.zone_label(ns)
        )

    def contact_line(self, value: ContactEntry) -> str:
        """How and when a contact took place: ``по телефону 06.12.2026 в 02:55 МСК, обращение № INC-20417``."""
        how = self.words["channel_how"].get(value.channel, value.channel)
        text = f"{how} {self.at(value.at_ns)}"
        ref = value.ref.strip()
        if ref:
            ref = ref.lstrip("№").strip()  # "обращение № 123456", "ref. 123456": never "№ № 123456"
            text += ", " + str(self.words["contact_ref"]).format(ref=ref)
        return text

    def contact_more(self, value: ContactEntry, direction: bool = True) -> str:
        """What else the log says of a contact: who called whom, how long, what was promised, when it was written.

        ``direction=False`` leaves out who contacted whom (a table split by direction says it in its heading).
        """
        w = self.words["contact_more"]
        parts = []
        if direction and value.direction in ("in", "out"):
            parts.append(str(w[value.direction]))
        if value.duration_s is not None:
            parts.append(str(w["duration"]).format(duration=self.duration(value.duration_s)))
        if value.promised:
            parts.append(str(w["promised"]).format(promised=self.promise(value.promised)))
        if value.backdated and value.recorded_ns is not None:
            parts.append(str(w["backdated"]).format(recorded=self.short(value.recorded_ns)))
        return "; ".join(parts)

    def promise(self, text: str) -> str:
        """A promise as logged: a duration (``72h``) in this language's words (``72 ч``), else as written."""
        try:
            return self.duration(Duration(parse_duration(text), in_hours=True))  # "72 ч", as the letter's body says
        except ValueError:
            return text

    def contact(self, value: ContactEntry) -> str:
        """``телефон, № 123456``."""
        channel = self.words["channels"].get(value.channel, value.channel)
        return f"{channel}, {value.ref}" if value.ref else str(channel)

    def value(self, value: Any) -> str:
        """Any formula input, by its type."""
        if isinstance(value, Money):
            return self.money(value)
        if isinstance(value, Percent):
            return self.percent(value)
        if isinstance(value, Instant):
            return self.instant(value)
        if isinstance(value, Duration):
            return self.duration(value)
        if isinstance(value, Breakdown):
            return " + ".join(f"{self.money(m)} × {n}" for m, n in value.parts)
        if isinstance(value, ContactEntry):
            return md_escape(self.contact(value))
        if isinstance(value, dt.datetime):
            raise TypeError("pass instants as Instant")
        if isinstance(value, dt.date):
            return self.date(value)
        if isinstance(value, bool):
            raise TypeError("no booleans in formulas")
        if isinstance(value, Decimal | int):
            return self.number(value)
        return md_escape(str(value))

    def fill(self, text: str, inputs: Mapping[str, Any]) -> str:
        """A rule's phrase with its ``{placeholders}`` replaced by formatted inputs."""

        def one(m: re.Match[str]) -> str:
            name = m.group(1)
            if name not in inputs:
                raise LetterError(f"the phrase {text!r} needs {{{name}}}, which the calculation did not give")
            return self.value(inputs[name])

        return _PLACEHOLDER_RE.sub(one, text)


def load_words(lang: Lang) -> dict[str, Any]:
    """The locale word file for ``lang``."""
    data = yaml.safe_load((LOCALE_DIR / f"letter.{lang}.yaml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


class Phrasebook:
    """Sentences from a word file (``str.format`` templates) with figures as the SLA report writes them.

    The demo's narration and the collective report use it, so a duration or a percentage reads the same
    there as in the report of the same language: ``10s`` / ``10 с``, ``99.9800 %`` / ``99,9800 %``.
    """

    def __init__(self, lang: Lang, phrases: Mapping[str, Any], zone: ZoneInfo) -> None:
        words = load_words(lang)
        self.lang = lang
        self.phrases = phrases
        self.fmt = Formatter(lang, str(words["locale"]), zone, words)

    def __call__(self, key: str, /, **values: Any) -> str:
        """The phrase ``key`` (``a.b`` for nested tables) with ``values`` filled in."""
        entry: Any = self.phrases
        for part in key.split("."):
            entry = entry[part]
        return str(entry).format(**values)

    def dur(self, seconds: float) -> str:
        """``12m 30s`` in English as the report writes it, ``12 мин 30 с`` in Russian."""
        return duration_text(seconds) if self.lang == "en" else self.fmt.duration(seconds)

    def count(self, n: int, noun: str) -> str:
        """``3 agents`` / ``3 агента``: the noun's forms are the word file's ``plural.<noun>`` list."""
        return f"{n} {self.fmt.plural(n, *self.phrases['plural'][noun])}"

    def fixed(self, value: float, digits: int) -> str:
        """``99.98`` / ``99,98``: exactly ``digits`` decimals in the locale's separator."""
        return str(format_decimal(value, "0." + "0" * digits if digits else "0", locale=self.fmt.locale))

    def pct(self, value: float, digits: int = 4) -> str:
        """``99.9800 %`` / ``99,9800 %`` (the report's form)."""
        return f"{self.fixed(value, digits)} %"

    def instant(self, ts_ns: int) -> str:
        """Local time as the report writes it: ``2026-11-20 10:32:05 MSK`` / ``20.11.2026 10:32:05 MSK (UTC+03:00)``."""
        return local_text(ts_ns, self.fmt.zone) if self.lang == "en" else self.fmt.instant(ts_ns)
