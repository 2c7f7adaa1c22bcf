"""Words and number formats for the status page in English and Russian (plural rules and numbers from babel)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from babel import Locale
from babel.numbers import format_decimal

from watchdog.timefmt import tenths

# English msgid → Russian. English is the msgid itself, so a missing entry shows English, never a key.
RU: dict[str, str] = {
    "Outage Watchdog": "Outage Watchdog",
    "Status": "Состояние",
    "Overview": "Обзор",
    "Providers": "Провайдеры",
    "Provider": "Провайдер",
    "Your line": "Ваша линия",
    "Target": "Цель",
    "Targets": "Цели",
    "State": "Состояние",
    "Latency": "Задержка",
    "Last probe": "Последняя проверка",
    "Detail": "Подробности",
    "up": "работает",
    "down": "недоступен",
    "failing": "сбои, не подтверждено",
    "stale": "нет свежих данных",
    "degraded": "хуже нормы",
    "Degraded": "Ухудшение качества",
    "counted as downtime": "считается простоем",
    "latency": "задержка",
    "loss": "потери",
    "jitter": "джиттер",
    "unknown": "неизвестно",
    "problems": "сбои",
    "no data": "нет данных",
    "provider": "провайдер",
    "customer_line": "линия клиента",
    "inconclusive": "не установлено",
    "no_data": "нет данных",
    "phone": "телефон",
    "email": "эл. почта",
    "chat": "чат",
    "visit": "визит",
    "Your line works": "Ваша линия работает",
    "Your line is down": "Ваша линия не работает",
    "Your line: uncertain": "Ваша линия: неясно",
    "Your line: no data yet": "Ваша линия: данных пока нет",
    "LAN": "Локальная сеть",
    "Internet": "Интернет",
    "quorum": "кворум",
    "%(up)s of %(total)s up": "%(up)s из %(total)s работают",
    "Month to date": "С начала месяца",
    "Week to date": "С начала недели",
    "Quarter to date": "С начала квартала",
    "Year to date": "С начала года",
    "Period": "Период",
    "Availability": "Доступность",
    "SLA target": "Обещано по SLA",
    "no SLA promise": "SLA не задан",
    "Downtime": "Простой",
    "Allowed downtime": "Допустимый простой",
    "Coverage": "Покрытие данными",
    "SLA breached": "SLA нарушен",
    "within SLA": "в пределах SLA",
    "nothing counted yet": "пока нечего считать",
    "Open outages": "Текущие сбои",
    "Recent outages": "Недавние сбои",
    "Outages": "Сбои",
    "Outages (30 days)": "Сбои (30 дней)",
    "No outages in the last 30 days.": "За 30 дней сбоев не было.",
    "No open outages.": "Текущих сбоев нет.",
    "Start": "Начало",
    "End": "Конец",
    "Duration": "Длительность",
    "Attribution": "Чья вина",
    "First failure": "Первая ошибка",
    "ongoing": "продолжается",
    "started between %(lo)s and %(hi)s": "начался между %(lo)s и %(hi)s",
    "ended between %(lo)s and %(hi)s": "закончился между %(lo)s и %(hi)s",
    "Last 24 hours": "Последние 24 часа",
    "Last 30 days": "Последние 30 дней",
    "Timeline": "Хронология",
    "Latency, last 24 hours": "Задержка за 24 часа",
    "median": "медиана",
    "max": "макс.",
    "over %(time)s of counted time": "за %(time)s учитываемого времени",
    "p95": "95-й процентиль",
    "now": "сейчас",
    "no results": "нет результатов",
    "Contact log": "Журнал обращений",
    "No contacts recorded.": "Обращений не записано.",
    "When": "Когда",
    "Channel": "Канал",
    "Reference": "Номер",
    "Note": "Заметка",
    "Report": "Отчёт",
    "Documents for this period": "Документы за этот период",
    "SLA report": "Отчёт по SLA",
    "Evidence pack": "Пакет доказательств",
    "Complaint draft": "Черновик претензии",
    "Complaint draft (PDF)": "Черновик претензии (PDF)",
    "JSON": "JSON",
    "Incidents": "Инциденты",
    "Counted time": "Учитываемое время",
    "Service time": "Время обслуживания",
    "Maintenance": "Плановые работы",
    "No data": "Нет данных",
    "Inconclusive": "Не установлено",
    "Customer's line": "Линия клиента",
    "Longest": "Самый долгий",
    "MTTR": "Среднее время восстановления",
    "Restore within": "Восстановить за",
    "Past restore deadline": "Сверх срока восстановления",
    "due %(time)s": "срок — %(time)s",
    "from the report at %(time)s": "считается от обращения %(time)s",
    "from the outage start: no report logged": "считается от начала сбоя: обращение не записано",
    "previous period": "предыдущий период",
    "next period": "следующий период",
    "All times: %(zone)s (%(offset)s).": "Время: %(zone)s (%(offset)s).",
    "Updated %(time)s": "Обновлено %(time)s",
    "The agent is not running: the last record is from %(time)s.": "Агент не запущен: последняя запись от %(time)s.",
    "Showing the journal (no live probing).": "Показан журнал (без проверок в реальном времени).",
    "The journal cannot be written: %(error)s": "Журнал не записывается: %(error)s",
    "Controls": "Контрольные цели",
    "Sign in": "Вход",
    "Token": "Токен",
    "Sign out": "Выйти",
    "Wrong token.": "Неверный токен.",
    "Too many attempts; wait a minute.": "Слишком много попыток; подождите минуту.",
    "This status page needs the token from the agent's config (web.token).": (
        "Для этой страницы нужен токен из конфигурации агента (web.token)."
    ),
    "No providers configured.": "Провайдеры не настроены.",
    "No such provider.": "Нет такого провайдера.",
    "Back to overview": "К обзору",
    "since %(time)s": "с %(time)s",
    "last success %(time)s": "последний успех %(time)s",
    "Connection to the agent lost; showing data from %(time)s.": (
        "Связь с агентом потеряна; показаны данные на %(time)s."
    ),
    "up, data": "работает",
    "outage (provider)": "сбой (провайдер)",
    "outage (your line)": "сбой (ваша линия)",
    "outage (inconclusive)": "сбой (не установлено)",
    "agent off": "агент выключен",
    "d": "д",
    "h": "ч",
    "min": "мин",
    "s": "с",
    "ms": "мс",
    "Balance": "Баланс",
    "as of %(time)s": "на %(time)s",
    "runs out on %(date)s": "закончится %(date)s",
    "run out": "закончился",
    "Warning (not an outage): the TLS certificate of %(target)s expires on %(time)s, in %(days)s days.": (
        "Предупреждение (не сбой): TLS-сертификат %(target)s истекает %(time)s, через %(days)s дн."
    ),
    "Evidence safety": "Сохранность доказательств",
    "Trusted timestamps": "Доверенные метки времени",
    "Journal sealed by TSA %(tsa)s up to row %(rows)s, no later than %(time)s.": (
        "Журнал заверен TSA %(tsa)s до записи %(rows)s, не позднее %(time)s."
    ),
    "TSA %(tsa)s: no verified token yet.": "TSA %(tsa)s: проверенной метки пока нет.",
    "queue empty": "очередь пуста",
    "TSA %(tsa)s, head seq %(seq)s": "TSA %(tsa)s, заголовок seq %(seq)s",
    "run %(command)s": "запустите %(command)s",
    "No timestamp authority configured.": "Служба меток времени не настроена.",
    "Backup": "Резервная копия",
    "No scheduled backup configured.": "Резервное копирование по расписанию не настроено.",
    "The backup folder cannot be read: %(error)s": "Папка резервных копий недоступна: %(error)s",
    "Last backup %(time)s: %(file)s": "Последняя копия %(time)s: %(file)s",
    "overdue": "просрочена",
    "No backup made yet.": "Резервных копий ещё нет.",
    "Heartbeat": "Сигнал жизни",
    "Pushed every %(time)s to the monitoring service (its own page shows missed pushes).": (
        "Отправляется каждые %(time)s в сервис мониторинга (пропуски видны на его странице)."
    ),
    "No heartbeat configured.": "Сигнал жизни не настроен.",
    "Last push accepted at %(time)s.": "Последний сигнал принят в %(time)s.",
    "Heartbeat pushes fail since %(time)s (%(error)s): the monitoring service will report this agent missing.": (
        "Сигналы жизни не доходят с %(time)s (%(error)s): сервис мониторинга сообщит, что агент пропал."
    ),
}

# English singular → Russian (one, few, many) forms.
RU_PLURALS: dict[str, tuple[str, str, str]] = {
    "%(num)d outage": ("%(num)d сбой", "%(num)d сбоя", "%(num)d сбоев"),
    "%(num)d day left": ("остался %(num)d день", "осталось %(num)d дня", "осталось %(num)d дней"),
    "%(num)d head waits in the queue": (
        "%(num)d заголовок ждёт в очереди",
        "%(num)d заголовка ждут в очереди",
        "%(num)d заголовков ждут в очереди",
    ),
    "%(num)d timestamp token does not verify": (
        "%(num)d метка времени не проходит проверку",
        "%(num)d метки времени не проходят проверку",
        "%(num)d меток времени не проходят проверку",
    ),
    "%(num)d older timestamp token not checked yet (more at each refresh).": (
        "%(num)d более старая метка времени ещё не проверена (проверяются при каждом обновлении).",
        "%(num)d более старые метки времени ещё не проверены (проверяются при каждом обновлении).",
        "%(num)d более старых меток времени ещё не проверено (проверяются при каждом обновлении).",
    ),
    "%(num)d failed probe": ("%(num)d неудачная проверка", "%(num)d неудачные проверки", "%(num)d неудачных проверок"),
}


@dataclass(frozen=True)
class Lang:
    """One language: gettext-style lookup plus number and duration formats."""

    code: str

    @property
    def locale(self) -> Locale:
        """The babel locale."""
        return Locale.parse(self.code)

    def gettext(self, msgid: str) -> str:
        """The translation of ``msgid`` (English is the msgid itself)."""
        if self.code == "ru":
            return RU.get(msgid, msgid)
        return msgid

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        """Plural forms by CLDR rules (Russian has one/few/many)."""
        if self.code == "ru":
            forms = RU_PLURALS.get(singular)
            if forms is not None:
                form = self.locale.plural_form(n)
                return {"one": forms[0], "few": forms[1]}.get(form, forms[2])
        return singular if n == 1 else plural

    def number(self, value: float, decimals: int = 0) -> str:
        """``99.973`` / ``99,973`` with the locale's separators."""
        pattern = "#,##0" + ("." + "0" * decimals if decimals else "")
        return format_decimal(value, format=pattern, locale=self.code)

    def percent(self, value: float | None, decimals: int = 3) -> str:
        """``99.973%`` / ``99,973 %``; an em dash for None."""
        if value is None:
            return "—"
        text = self.number(value, decimals)
        return f"{text}\u00a0%" if self.code == "ru" else f"{text}%"

    def duration(self, seconds: float | None) -> str:
        """``3d 4h 05min``, ``12min 30s``, ``45s``, ``0.8s`` (units in the page's language)."""
        if seconds is None:
            return "—"
        t = self.gettext
        if (tenth := tenths(seconds)) is not None:  # the report's and the notifications' rounding
            return f"{self.number(tenth, 1)}\u00a0{t('s')}"
        s = round(seconds)
        days, s = divmod(s, 86400)
        hours, s = divmod(s, 3600)
        minutes, s = divmod(s, 60)
        if days:
            return f"{days}\u00a0{t('d')} {hours:02d}\u00a0{t('h')} {minutes:02d}\u00a0{t('min')}"
        if hours:
            return f"{hours}\u00a0{t('h')} {minutes:02d}\u00a0{t('min')}"
        if minutes:
            return f"{minutes}\u00a0{t('min')} {s:02d}\u00a0{t('s')}"
        return f"{s}\u00a0{t('s')}"

    def latency(self, seconds: float | None) -> str:
        """``12.3 ms`` / ``12,3 мс``; an em dash for None."""
        if seconds is None:
            return "—"
        ms = seconds * 1000
        return f"{self.number(ms, 1 if ms < 100 else 0)}\u00a0{self.gettext('ms')}"


def language(code: str) -> Lang:
    """The page language for a config code (``en`` or ``ru``)."""
    if code not in ("en", "ru"):
        raise ValueError(f"no page language {code!r} (en, ru)")
    return Lang(code)


Translator = Callable[[str], str]
