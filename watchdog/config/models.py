"""The config's shape: strict pydantic sections (unknown keys are errors) and the loaded :class:`Config`."""

from __future__ import annotations

import calendar
import datetime as dt
import functools
import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from watchdog.config.quality import QualitySection, SlaQualityTerms
from watchdog.model import ProviderKind, Role, Target
from watchdog.units import Duration, bounded, format_duration, parse_duration, split_server

_NAME_RE = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"


# --------------------------------------------------------------------------------------------- values


def _clock_time(value: Any) -> dt.time:
    if isinstance(value, int) and not isinstance(value, bool):
        raise ValueError(f'YAML read this unquoted time as the number {value}; write it in quotes, e.g. "07:00"')
    if not isinstance(value, str) or not re.fullmatch(r"\d{1,2}:\d{2}", value):
        raise ValueError(f'expected a time like "07:00", got {value!r}')
    hours, minutes = (int(x) for x in value.split(":"))
    if (hours, minutes) == (24, 0):
        return dt.time.max
    if hours > 23 or minutes > 59:
        raise ValueError(f"no such time of day: {value!r}")
    return dt.time(hours, minutes)


def _zone(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a time zone name like Europe/Moscow, got {value!r}")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {value!r} (use a tz database name like Europe/Moscow)") from exc
    return value


def _local_datetime(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time())
    if isinstance(value, str):
        try:
            return dt.datetime.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValueError(f'expected a date and time like "2026-11-10 02:00", got {value!r}')


ClockTime = Annotated[dt.time, BeforeValidator(_clock_time)]
Zone = Annotated[str, BeforeValidator(_zone)]
LocalDateTime = Annotated[dt.datetime, BeforeValidator(_local_datetime)]
Name = Annotated[str, Field(pattern=_NAME_RE)]

_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def parse_days(value: str) -> frozenset[int]:
    """``Mon-Fri``, ``Mon,Wed,Fri``, ``Sat-Sun``, ``daily`` → weekday numbers (Monday = 0)."""
    text = value.strip().lower()
    if text in ("daily", "all", "mon-sun"):
        return frozenset(range(7))
    days: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        if "-" in part:
            a, _, b = part.partition("-")
            if a.strip()[:3] not in _WEEKDAYS or b.strip()[:3] not in _WEEKDAYS:
                raise ValueError(f"expected days like Mon-Fri or Mon,Wed,Fri, got {value!r}")
            i, j = _WEEKDAYS.index(a.strip()[:3]), _WEEKDAYS.index(b.strip()[:3])
            days.update(range(i, j + 1) if i <= j else [*range(i, 7), *range(j + 1)])
        else:
            if part[:3] not in _WEEKDAYS:
                raise ValueError(f"expected days like Mon-Fri or Mon,Wed,Fri, got {value!r}")
            days.add(_WEEKDAYS.index(part[:3]))
    return frozenset(days)


# --------------------------------------------------------------------------------------------- models


class Strict(BaseModel):
    """Base of every config model: unknown keys and wrong types are errors; values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class ShareSection(Strict):
    """What leaves the house for a consumer advocate (``agent.share``): which name, providers, tags and detail.

    It governs the advocate's InfluxDB (``influxdb`` here) and ``watchdog evidence --share``; the agent's own
    ``influxdb:`` section keeps exporting everything.
    """

    agent_id: Literal["plain", "hashed"] = "plain"  # hashed: HMAC-SHA256(salt, agent.id), so the id stays home
    salt: SecretStr | None = None  # the advocate's campaign salt; default: a random one kept in data_dir
    tags: list[str] | None = None  # which agent.tags go out (default: all of them)
    providers: dict[str, Name] | list[Name] | None = None  # which providers go out, and under which name
    details: bool = False  # failure detail lines (they can name addresses); the failure kind always goes
    influxdb: InfluxSection | None = None  # the advocate's InfluxDB (a second exporter with its own cursor)

    @field_validator("salt")
    @classmethod
    def _salt(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 8:
            raise ValueError("a salt needs at least 8 characters (the advocate's campaign salt, or leave it out)")
        return value

    def shared_providers(self, provider_ids: list[str]) -> dict[str, str]:
        """Local provider id → the name it is shared under (every provider, under its id, when not set)."""
        if self.providers is None:
            return {p: p for p in provider_ids}
        if isinstance(self.providers, list):
            return {p: p for p in self.providers}
        return dict(self.providers)

    def check(self, provider_ids: list[str], tag_keys: list[str]) -> list[tuple[tuple[str | int, ...], str]]:
        """Cross-section problems: providers and tags that do not exist, two providers under one name."""
        problems: list[tuple[tuple[str | int, ...], str]] = []
        known = ", ".join(provider_ids) or "none"
        names: dict[str, str] = {}
        entries = self.providers.items() if isinstance(self.providers, dict) else ((p, p) for p in self.providers or ())
        for local, shared in entries:
            if local not in provider_ids:
                problems.append((("providers", local), f"no provider {local!r} in the config (known: {known})"))
            if shared.casefold() in names:
                problems.append(
                    (("providers", local), f"{shared!r} is also the shared name of {names[shared.casefold()]!r}")
                )
            names.setdefault(shared.casefold(), local)
        for i, tag in enumerate(self.tags or ()):
            if tag not in tag_keys:
                problems.append((("tags", i), f"agent.tags has no {tag!r} (it has: {', '.join(tag_keys) or 'none'})"))
        return problems


def _asn(tags: dict[str, str]) -> dict[str, str]:
    """``asn`` in one spelling (``AS12389``), so households of one ISP match each other's tag exactly."""
    value = tags.get("asn")
    if value is None:
        return tags
    m = re.fullmatch(r"(?i)(?:AS)?\s*(\d{1,10})", value.strip())
    if not m:
        raise ValueError(f"asn: expected an AS number like AS12389, got {value!r}")
    return {**tags, "asn": f"AS{int(m.group(1))}"}


MAX_INTERVAL_S = 86400.0  # a target probed less than daily measures nothing an SLA is about
MAX_TIMEOUT_S = 300.0
Interval = Annotated[Duration, bounded(MAX_INTERVAL_S)]
ProbeTimeout = Annotated[Duration, bounded(MAX_TIMEOUT_S)]
_NO_DATA_UNDER = (Path("/proc"), Path("/sys"), Path("/dev"))


def _data_dir(value: str) -> str:
    """A directory the journal can live in: not under /proc, /sys or /dev; a directory (or creatable).

    Whether it is writable is not asked here: ``report``, ``verify`` and ``serve`` work on a read-only copy,
    and ``run`` says in one line when it cannot write (see watchdog.journal.files).
    """
    path = Path(value).expanduser()
    try:
        full = path.resolve()
    except (OSError, RuntimeError) as exc:
        raise ValueError(f"cannot resolve {value!r}: {exc}") from exc
    for system in _NO_DATA_UNDER:
        if full == system or system in full.parents:
            raise ValueError(f"{value!r} is under {system}: not a place for the journal")
    existing = next((p for p in (full, *full.parents) if p.exists()), Path("/"))
    if not existing.is_dir():
        raise ValueError(f"{value!r}: {existing} is not a directory")
    return value


class AgentSection(Strict):
    """The vantage point: its name, zone and where the journal lives."""

    id: Name = "home"
    timezone: Zone = "UTC"
    data_dir: Annotated[str, AfterValidator(_data_dir)] = "./data"
    language: Literal["en", "ru"] = "en"
    concurrency: int = Field(64, ge=1, le=10_000)
    # group commit: at most one journal commit per this long; a result is acted on only once committed
    commit_delay: Annotated[float, BeforeValidator(parse_duration), bounded(1.0)] = 0.1
    tags: Annotated[dict[str, str], AfterValidator(_asn)] = Field(default_factory=dict)  # region, asn, connection…
    share: ShareSection | None = None  # what an advocate gets (see ShareSection)


class DefaultsSection(Strict):
    """Values every target inherits unless it sets its own."""

    interval: Interval = 30.0
    timeout: ProbeTimeout = 5.0
    failure_threshold: int = Field(3, ge=1, le=100)
    success_threshold: int = Field(2, ge=1, le=100)
    quality: QualitySection | None = None  # latency/loss/jitter limits every target inherits


class TargetSpec(Strict):
    """A target as written; the kind's options go in a block named after the kind."""

    name: Name
    kind: str
    address: str = Field(min_length=1)
    interval: Interval | None = None
    timeout: ProbeTimeout | None = None
    failure_threshold: int | None = Field(None, ge=1, le=100)
    success_threshold: int | None = Field(None, ge=1, le=100)
    icmp: dict[str, Any] | None = None
    tcp: dict[str, Any] | None = None
    http: dict[str, Any] | None = None
    dns: dict[str, Any] | None = None
    tls: dict[str, Any] | None = None
    speed: dict[str, Any] | None = None  # kind speed: server, max_bytes, max_seconds, upload
    quality: QualitySection | None = None  # laid over defaults.quality key by key


class ControlsSection(Strict):
    """The customer's own line: LAN targets (the router) and independent internet anchors."""

    lan: list[TargetSpec] = Field(default_factory=list)
    internet: list[TargetSpec] = Field(default_factory=list)
    quorum: int | None = Field(None, ge=1)

    @property
    def effective_quorum(self) -> int:
        """The configured quorum, or a simple majority of the internet controls."""
        if self.quorum is not None:
            return self.quorum
        return len(self.internet) // 2 + 1 if self.internet else 0


class ServiceHours(Strict):
    """When the SLA applies, in the provider's zone; ``to`` before ``from`` runs past midnight."""

    days: str = "Mon-Sun"
    from_: ClockTime = Field(dt.time(0, 0), alias="from")
    to: ClockTime = dt.time.max

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, populate_by_name=True)

    @field_validator("days")
    @classmethod
    def _days(cls, value: str) -> str:
        parse_days(value)
        return value

    @property
    def weekdays(self) -> frozenset[int]:
        """Monday = 0."""
        return parse_days(self.days)


class MaintenanceWindow(Strict):
    """A window the provider announced, in the provider's zone."""

    from_: LocalDateTime = Field(alias="from")
    to: LocalDateTime
    note: str = ""
    excluded: bool = True  # the contract lets announced maintenance out of the SLA
    announced_at: LocalDateTime | None = None

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, populate_by_name=True)


class Fee(Strict):
    """What the customer pays."""

    amount: float = Field(ge=0)
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    per: Literal["day", "week", "month", "quarter", "year"] = "month"

    @field_validator("amount", mode="before")
    @classmethod
    def _amount(cls, value: Any) -> Any:
        return float(value) if isinstance(value, int) and not isinstance(value, bool) else value


class Contract(Strict):
    """The contract's particulars, printed in reports and letters."""

    number: str = ""
    since: dt.date | None = None
    customer: str = ""
    # the customer's grammatical gender in Russian letters ("я сообщил" / "я сообщила"); default: from the
    # patronymic (…вич / …вна), else wording that needs none
    customer_gender: Literal["male", "female"] | None = None
    customer_address: str = ""
    customer_email: str = ""
    customer_phone: str = ""
    account: str = ""
    tariff: str = ""
    fee: Fee | None = None


class SlaSection(SlaQualityTerms):
    """The promise: availability over a period, how fast a fault must be put right, speed, degraded time."""

    availability: float | None = Field(None, gt=0, le=100)
    period: Literal["month", "week", "quarter", "year"] = "month"
    restore_within: Annotated[Duration, bounded(365 * 86400)] | None = None

    @field_validator("availability", mode="before")
    @classmethod
    def _availability(cls, value: Any) -> Any:
        return float(value) if isinstance(value, int) and not isinstance(value, bool) else value


class Account(Strict):
    """A prepaid account: the tariff it is charged, to project when a balance runs out, and when to warn."""

    tariff: float | None = Field(default=None, gt=0, le=1e9)
    """What the provider charges per ``per`` (600 for 600 ₽ a month); default: the contract's ``fee``."""
    per: Literal["day", "week", "month", "quarter", "year"] = "month"
    currency: str = Field(default="RUB", pattern=r"^[A-Z]{3}$")
    warn_days: list[Annotated[int, Field(ge=1, le=365)]] = Field(default_factory=lambda: [7, 3, 1])
    """Days before the projected run-out to warn at. Never 0: a zero balance may cut the very line that
    would carry the warning, so the last one goes out the day before."""
    balance_from: str | None = None
    """``target:metric`` — one of this provider's targets whose metric is the balance (an http probe's
    ``metrics: {balance: "[BODY].balance"}``); a change is journaled as a balance like ``balance set``."""

    expiry_from: str | None = None
    """``target:metric`` — a metric holding the days left until something on the account ends (an http
    metric read from a date: a card's ``03/27``, a paid period's end); warned about at ``warn_days``."""

    @field_validator("balance_from", "expiry_from")
    @classmethod
    def _balance_from(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[^:\s]+:[a-z][a-z0-9_]*", value):
            raise ValueError(f"write target:metric (a target of this provider and its metric), got {value!r}")
        return value

    @property
    def per_day(self) -> float:
        """The tariff as a daily charge (a month is 365.25/12 days, a year 365.25)."""
        assert self.tariff is not None, "resolved by ProviderSection from contract.fee"
        days = {"day": 1.0, "week": 7.0, "month": 365.25 / 12, "quarter": 365.25 / 4, "year": 365.25}[self.per]
        return self.tariff / days

    @field_validator("tariff", mode="before")
    @classmethod
    def _tariff(cls, value: Any) -> Any:
        return float(value) if isinstance(value, int) and not isinstance(value, bool) else value


class Contacts(Strict):
    """Where the provider takes claims and emergencies."""

    claims_email: str = ""
    claims_address: str = ""
    emergency_phone: str = ""
    support_phone: str = ""
    website: str = ""
    legal_name: str = ""


class ProviderSection(Strict):
    """A company the customer pays, its targets, contract and SLA."""

    id: Name
    name: str = ""
    kind: ProviderKind = ProviderKind.OTHER
    timezone: Zone | None = None
    targets: list[TargetSpec] = Field(min_length=1)
    service_hours: list[ServiceHours] | ServiceHours | None = None
    maintenance: list[MaintenanceWindow] = Field(default_factory=list)
    contract: Contract = Field(default_factory=Contract)
    sla: SlaSection = Field(default_factory=SlaSection)
    compensation: list[dict[str, Any]] = Field(default_factory=list)
    contacts: Contacts = Field(default_factory=Contacts)
    jurisdiction: str = ""
    account: Account | None = None

    @model_validator(mode="after")
    def _balance_target(self) -> ProviderSection:
        if self.account is not None and self.account.tariff is None:
            fee = self.contract.fee
            if fee is not None and fee.amount > 0:
                update = {"tariff": fee.amount, "currency": fee.currency, "per": fee.per}
                object.__setattr__(self, "account", self.account.model_copy(update=update))  # frozen: set once here
            elif self.account.expiry_from is None:
                raise ValueError("account needs a tariff (or the contract's fee: {amount, currency, per})")
        for key in ("balance_from", "expiry_from"):
            source = getattr(self.account, key, None) if self.account is not None else None
            if source is not None and source.split(":", 1)[0] not in {t.name for t in self.targets}:
                name = source.split(":", 1)[0]
                raise ValueError(f"account.{key} names {name!r}, which is not a target of provider {self.id!r}")
        return self

    @field_validator("kind", mode="before")
    @classmethod
    def _kind(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return ProviderKind(value)
            except ValueError:
                raise ValueError(f"must be one of {', '.join(k.value for k in ProviderKind)}, got {value!r}") from None
        return value

    @property
    def hours(self) -> tuple[ServiceHours, ...]:
        """Service-hour windows as a tuple (empty = round the clock)."""
        if self.service_hours is None:
            return ()
        if isinstance(self.service_hours, ServiceHours):
            return (self.service_hours,)
        return tuple(self.service_hours)

    @property
    def display_name(self) -> str:
        """The name people read."""
        return self.name or self.id


NOTIFY_CATEGORIES = ("outage", "line", "sla", "expiry", "digest", "agent")


def _notify_tag(value: str) -> str:
    # Apprise reads "2:tag" as a priority and "tag:3" as a retry count, so our tags are plain names.
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,31}", value):
        raise ValueError(f"a tag is a lowercase name (a-z, 0-9, '_', '-'; up to 32 characters), got {value!r}")
    return value


NotifyTag = Annotated[str, AfterValidator(_notify_tag)]


def _apprise_url(value: SecretStr) -> SecretStr:
    """The URL's scheme must be a service Apprise knows; the rest is checked when the notifier loads it."""
    text = value.get_secret_value().strip()
    if not text:
        return value  # "${TELEGRAM_URL:-}" left empty: that channel is off
    from apprise.manager_plugins import NotificationManager  # only configs with URLs pay for the import

    scheme = text.partition("://")[0].lower() if "://" in text else ""
    if not re.fullmatch(r"[a-z0-9+.-]{1,32}", scheme):
        # never echo the URL: it holds the secret
        raise ValueError("not an Apprise URL (expected service://…, e.g. tgram://…, mailto://…, json://…)")
    if scheme not in NotificationManager():  # type: ignore[no-untyped-call]
        raise ValueError(f"Apprise has no service {scheme}://… (see the Apprise wiki for the services it knows)")
    return value


AppriseUrl = Annotated[SecretStr, AfterValidator(_apprise_url)]


@dataclass(frozen=True)
class NotifyChannel:
    """A notification channel: its name (``url1``…: logs and the outbox never show the URL), URL and tags."""

    name: str
    url: SecretStr
    tags: tuple[str, ...]


class NotifySection(Strict):
    """Apprise URLs (secrets), who gets which message (Apprise tags), and how messages are written and retried."""

    urls: list[AppriseUrl] = Field(default_factory=list)  # the channels: url1, url2, … by position
    tags: dict[str, list[NotifyTag]] = Field(default_factory=dict)  # Apprise tags per URL, e.g. {url2: [mail]}
    language: Literal["en", "ru"] | None = None
    routes: dict[str, list[NotifyTag]] = Field(default_factory=dict)
    flap_window: Duration = 1800.0
    digest_at: ClockTime | None = dt.time(9, 0)
    tls_warn_days: list[Annotated[int, Field(ge=0, le=365)]] = Field(default_factory=lambda: [30, 14, 7, 1])
    timeout: Duration = 10.0
    patient_timeout: Duration = 60.0
    retry_min: Duration = 5.0
    retry_max: Duration = 30.0

    @field_validator("routes")
    @classmethod
    def _routes(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for category in value:
            if category not in NOTIFY_CATEGORIES:
                raise ValueError(f"unknown message category {category!r} (categories: {', '.join(NOTIFY_CATEGORIES)})")
        return value

    @model_validator(mode="after")
    def _check(self) -> NotifySection:
        if self.retry_max < self.retry_min:
            raise ValueError(
                f"retry_max {format_duration(self.retry_max)} is shorter than "
                f"retry_min {format_duration(self.retry_min)}"
            )
        if self.patient_timeout < self.timeout:
            raise ValueError(
                f"patient_timeout {format_duration(self.patient_timeout)} is shorter than "
                f"timeout {format_duration(self.timeout)}"
            )
        names = [f"url{i}" for i in range(1, len(self.urls) + 1)]
        for name in self.tags:
            if name not in names:
                known = f"url1…url{len(names)}" if names else "none: notify.urls is empty"
                raise ValueError(f"tags: {name!r} names no URL (the URLs are {known}, by position)")
        return self

    def all_channels(self, *, include_empty: bool = False) -> list[NotifyChannel]:
        """One channel per URL, named ``url1``, ``url2``… by position (an empty URL is left out)."""
        out = [NotifyChannel(f"url{i}", url, tuple(self.tags.get(f"url{i}", ()))) for i, url in enumerate(self.urls, 1)]
        return [c for c in out if include_empty or c.url.get_secret_value().strip()]

    def route(self, category: str) -> list[str]:
        """The Apprise tags a category goes to (default: the tag named after the category)."""
        return list(self.routes.get(category, [category]))


class InfluxSection(Strict):
    """The InfluxDB replica for Grafana (the journal stays the record)."""

    url: str
    org: str = ""
    bucket: str = ""
    token: SecretStr | None = None
    api: Literal["auto", "v2", "v1"] = "auto"
    database: str = ""
    retention_policy: str = ""
    username: str = ""
    password: SecretStr | None = None
    batch_size: int = Field(5000, ge=1, le=100_000)  # points per write request
    timeout: Duration = 10.0  # one HTTP request, connect to answer
    flush_interval: Duration = 1.0  # new rows gather this long before a write (one request, one cursor commit)
    max_backoff: Duration = 60.0  # cap of the retry wait (a server's Retry-After may ask for longer)
    heartbeat_interval: Duration = 30.0  # how often the agent measurement (backlog, lag) is written
    sla_interval: Duration = 300.0  # how often the sla measurement and open outages are recomputed
    verify_tls: bool = True

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if re.match(r"https?://[^/?#]*@", value):
            raise ValueError("credentials do not belong in the URL: use token, or username and password")
        if not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", value):
            raise ValueError(f"expected an http:// or https:// URL like http://localhost:8086, got {value!r}")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _destination(self) -> InfluxSection:
        if self.api == "v2" and not self.bucket:
            raise ValueError("api v2 needs bucket (and org and token for InfluxDB 2.x)")
        if self.api == "v1" and not self.database:
            raise ValueError("api v1 needs database")
        if self.api == "auto" and not (self.bucket or self.database):
            raise ValueError("say where to write: bucket (InfluxDB 2.x/3.x/Cloud) or database (InfluxDB 1.x)")
        return self


WEB_TOKEN_MIN_CHARS = 16
_LOOPBACK_NAMES = frozenset({"localhost", "ip6-localhost"})


def split_listen(value: str) -> tuple[str, int]:
    """``127.0.0.1:8080``, ``[::1]:8080``, ``0.0.0.0:8080`` → (host, port); ValueError says what is wrong."""
    m = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\]:(\d{1,5})|([^:\[\]\s]+):(\d{1,5})", value.strip())
    if m is None:
        raise ValueError(f"expected host:port like 127.0.0.1:8080 or [::1]:8080, got {value!r}")
    host = m.group(1) or m.group(3)
    port = int(m.group(2) or m.group(4))
    if port > 65535:
        raise ValueError(f"port {port} is out of range (0-65535)")
    return host, port


def is_loopback_host(host: str) -> bool:
    """True for localhost, 127.0.0.0/8 and ::1: addresses only this machine can reach."""
    import ipaddress

    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class WebSection(Strict):
    """The status page; off-localhost binds need a token."""

    # the token comes first so the ``listen`` check below can see it
    token: SecretStr | None = None
    listen: str = "127.0.0.1:8080"
    hosts: list[str] = Field(default_factory=list)  # Host names allowed besides localhost (DNS-rebinding guard)
    enabled: bool = True
    language: Literal["en", "ru"] | None = None  # the page's language; default: agent.language
    refresh: Duration = 30.0  # how often an open page reloads its data
    # reverse proxies whose X-Forwarded-For is believed (addresses or networks); from anyone else it is ignored
    trusted_proxies: list[str] = Field(default_factory=list)
    # open connections the page holds at most; at the cap the oldest half-sent one is closed for a new one
    max_connections: int = Field(default=256, ge=8, le=4096)

    @field_validator("trusted_proxies")
    @classmethod
    def _trusted_proxies(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(
                    f"expected an IP address or network (e.g. 127.0.0.1 or 10.0.0.0/24), got {entry!r}"
                ) from None
        return value

    @field_validator("token")
    @classmethod
    def _token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len("".join(value.get_secret_value().split())) < WEB_TOKEN_MIN_CHARS:
            raise ValueError(
                f"too short: use at least {WEB_TOKEN_MIN_CHARS} random non-blank characters"
                " (e.g. from: openssl rand -hex 16)"
            )
        return value

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str, info: ValidationInfo) -> str:
        host, _port = split_listen(value)
        if not is_loopback_host(host) and info.data.get("token") is None:
            raise ValueError(
                f"{host} is reachable from other machines, so the status page needs a valid token: "
                "set web.token (e.g. token: ${WATCHDOG_WEB_TOKEN}) or listen on 127.0.0.1"
            )
        return value

    @field_validator("hosts")
    @classmethod
    def _hosts(cls, value: list[str]) -> list[str]:
        for name in value:
            if not re.fullmatch(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(:\d{1,5})?", name):
                raise ValueError(f"expected a host name or address (optionally with :port), got {name!r}")
        return value

    @field_validator("refresh")
    @classmethod
    def _refresh(cls, value: float) -> float:
        if value < 5.0:
            raise ValueError(f"refresh {format_duration(value)} is shorter than 5s")
        return value


class NtpSection(Strict):
    """Clock accuracy: NTP servers the agent measures its offset against (owned by reports/evidence)."""

    servers: list[str] = Field(default_factory=lambda: ["0.pool.ntp.org", "1.pool.ntp.org", "2.pool.ntp.org"])
    interval: Duration = 3600.0
    timeout: Duration = 5.0
    enabled: bool = True

    @field_validator("servers")
    @classmethod
    def _servers(cls, value: list[str]) -> list[str]:

        for server in value:
            split_server(server)
        return value


def _outside_url(value: SecretStr) -> SecretStr:
    text = value.get_secret_value().strip()
    if not re.fullmatch(r"https?://[^\s/?#]+(/[^\s#]*)?(#\S*)?", text):
        raise ValueError("expected an http:// or https:// URL (the value is not shown: it may hold a secret)")
    return SecretStr(text)


OutsideUrl = Annotated[SecretStr, AfterValidator(_outside_url)]


class TsaSpec(Strict):
    """One RFC 3161 Time-Stamp Authority: where to ask and which CA its tokens must chain to."""

    url: OutsideUrl  # may carry credentials (qualified TSAs): never logged, never in a pack
    ca_file: str = Field(min_length=1)  # PEM: the TSA's root CA certificate (and any intermediates)
    name: str = ""  # what logs, reports and verify call it (default: the URL's host)

    @property
    def label(self) -> str:
        """The name, else the URL's host (without credentials)."""
        if self.name:
            return self.name
        host = self.url.get_secret_value().split("://", 1)[1].split("/", 1)[0]
        return host.rsplit("@", 1)[-1]


class TimestampSection(Strict):
    """Trusted timestamps (RFC 3161) of the chain head, so a third party vouches that the journal existed."""

    tsas: list[TsaSpec] = Field(default_factory=list)  # none: no timestamps
    interval: Duration = 3600.0  # one token per TSA at most this often (plus at outage open/close)
    outage_gap: Duration = 300.0  # outage-triggered requests at most this often (a flapping target: one)
    retry: Duration = 60.0  # first wait after a failed request; doubles up to interval
    timeout: Duration = 30.0

    @model_validator(mode="after")
    def _names(self) -> TimestampSection:
        labels = [t.label for t in self.tsas]
        for label in labels:
            if labels.count(label) > 1:
                raise ValueError(f"two TSAs are called {label!r}: give each a distinct name")
        return self


class HeartbeatSection(Strict):
    """A dead-man's switch: a push to a Healthchecks / Uptime Kuma push / ntfy URL every interval."""

    url: OutsideUrl | None = None  # a secret URL: never logged
    method: Literal["GET", "POST"] = "GET"
    interval: Duration = 60.0
    timeout: Duration = 10.0


def _asn_table(table: dict[str, str]) -> dict[str, str]:
    """``traceroute.asn``: each key a network prefix, each value ``AS<number>`` and an optional name."""
    out = {}
    for prefix, label in table.items():
        try:
            ipaddress.ip_network(prefix)
        except ValueError as exc:
            raise ValueError(f"{prefix!r} is not a network prefix ({exc})") from None
        m = re.fullmatch(r"(?i)(?:AS)?\s*(\d{1,10})(?:\s+(\S.*))?", str(label).strip())
        if not m:
            raise ValueError(f"{prefix!r}: expected an AS number like AS12389 (a name may follow), got {label!r}")
        out[prefix] = f"AS{int(m.group(1))}" + (f" {' '.join(m.group(2).split())}" if m.group(2) else "")
    return out


class TracerouteSection(Strict):
    """A bounded ICMP traceroute to a target when its outage opens and closes (journaled hops)."""

    enabled: bool = False  # needs raw ICMP sockets (CAP_NET_RAW)
    max_hops: int = Field(16, ge=1, le=64)
    timeout: Duration = 1.0  # per hop
    min_gap: Duration = 600.0  # at most one traceroute per target this often (a flapping target: one)
    # prefix → "AS12389 Rostelecom": which AS a hop belongs to (the user's own table: nothing is looked up online)
    asn: Annotated[dict[str, str], AfterValidator(_asn_table)] = Field(default_factory=dict)


class BackupSection(Strict):
    """Scheduled online backups of the journal (``watchdog backup DEST`` run by the agent)."""

    dest: str | None = None  # a folder (a NAS mount, a USB stick); none: no scheduled backups
    every: Duration = 86400.0
    keep: int = Field(7, ge=1, le=1000)  # the newest N backups in dest are kept


class Reminder(Strict):
    """A user-declared deadline to be warned about (a card or contract expiry, a complaint's answer date).

    Once (``date``), or recurring: ``every: month`` on ``day`` N (the last day of a shorter month), or
    ``every: year`` on ``date``'s month and day. Each occurrence is warned about at each of ``days_before``
    (default 30, 7, 1 for a date once; 7, 1, 0 for a recurring one: a week, a day, on the day).
    """

    name: str = Field(min_length=1)
    date: dt.date | None = None
    every: Literal["month", "year"] | None = None
    day: int | None = Field(default=None, ge=1, le=31)
    days_before: list[Annotated[int, Field(ge=0, le=3660)]] | None = None
    note: str = ""
    provider: str | None = None
    kind: Literal["reminder", "complaint_answer"] = "reminder"  # complaint_answer: the provider must reply by date
    ref: str = ""  # e.g. the complaint's number
    sent: dt.date | None = None  # complaint_answer: when the complaint was sent

    @model_validator(mode="after")
    def _when(self) -> Reminder:
        if self.every is None and self.date is None:
            raise ValueError("a reminder needs a date (once), or every: month with day: N, or every: year with date")
        if self.every is None and self.day is not None:
            raise ValueError("day: N goes with every: month")
        if self.every == "month" and self.day is None:
            raise ValueError("every: month needs day: N (1-31)")
        if self.every == "month" and self.date is not None:
            raise ValueError("every: month takes day: N, not a date")
        if self.every == "year" and (self.date is None or self.day is not None):
            raise ValueError("every: year takes a date (its month and day repeat), not day: N")
        if self.every is not None and self.kind != "reminder":
            raise ValueError("only kind: reminder recurs")
        return self

    @property
    def steps(self) -> tuple[int, ...]:
        """Days before an occurrence to warn at, largest first."""
        default = [7, 1, 0] if self.every else [30, 7, 1]
        return tuple(sorted(set(default if self.days_before is None else self.days_before), reverse=True))

    def occurrences(self, today: dt.date) -> list[dt.date]:
        """The occurrence on or after ``today`` and the one before it (a once-reminder: its date)."""
        if self.every is None:
            assert self.date is not None
            return [self.date]
        if self.every == "month":
            assert self.day is not None
            this = _month_day(today.year, today.month, self.day)
            if this >= today:
                prev_y, prev_m = (today.year, today.month - 1) if today.month > 1 else (today.year - 1, 12)
                return [_month_day(prev_y, prev_m, self.day), this]
            next_y, next_m = (today.year, today.month + 1) if today.month < 12 else (today.year + 1, 1)
            return [this, _month_day(next_y, next_m, self.day)]
        assert self.date is not None
        this = _month_day(today.year, self.date.month, self.date.day)
        if this >= today:
            return [_month_day(today.year - 1, self.date.month, self.date.day), this]
        return [this, _month_day(today.year + 1, self.date.month, self.date.day)]


def _month_day(year: int, month: int, day: int) -> dt.date:
    """Day ``day`` of a month, or its last day when the month is shorter (31 → 30 April, 29 → 28 February)."""
    last = calendar.monthrange(year, month)[1]
    return dt.date(year, month, min(day, last))


class ConfigModel(Strict):
    """The whole file."""

    agent: AgentSection = Field(default_factory=AgentSection)
    defaults: DefaultsSection = Field(default_factory=DefaultsSection)
    controls: ControlsSection = Field(default_factory=ControlsSection)
    providers: list[ProviderSection] = Field(default_factory=list)
    notify: NotifySection = Field(default_factory=NotifySection)
    influxdb: InfluxSection | None = None
    web: WebSection = Field(default_factory=WebSection)
    ntp: NtpSection = Field(default_factory=NtpSection)
    timestamp: TimestampSection = Field(default_factory=TimestampSection)
    heartbeat: HeartbeatSection = Field(default_factory=HeartbeatSection)
    backup: BackupSection = Field(default_factory=BackupSection)
    traceroute: TracerouteSection = Field(default_factory=TracerouteSection)
    reminders: list[Reminder] = Field(default_factory=list)


# ---------------------------------------------------------------------------------------------- Config


@dataclass(frozen=True)
class Config:
    """A loaded config: the validated model plus the resolved targets and where it came from."""

    model: ConfigModel
    targets: tuple[Target, ...]
    path: Path | None
    sha256: str
    warnings: tuple[str, ...] = ()
    # the SHA-256 of the config as an evidence pack carries it (config.yaml: redacted, re-emitted); the agent
    # journals it at start, so verify can tell whether a pack's config.yaml is the config the agent ran with
    pack_sha256: str = ""

    @property
    def agent(self) -> AgentSection:
        """The ``agent`` section."""
        return self.model.agent

    @property
    def providers(self) -> list[ProviderSection]:
        """The ``providers`` section."""
        return self.model.providers

    @property
    def data_dir(self) -> Path:
        """Where the journal lives (relative paths are relative to the working directory)."""
        return Path(self.model.agent.data_dir).expanduser()

    @property
    def journal_path(self) -> Path:
        """The SQLite journal file."""
        return self.data_dir / "journal.sqlite3"

    @property
    def zone(self) -> ZoneInfo:
        """The agent's zone, for what people read."""
        return ZoneInfo(self.model.agent.timezone)

    def provider(self, provider_id: str) -> ProviderSection:
        """The provider with this id; KeyError names the known ones."""
        for provider in self.model.providers:
            if provider.id == provider_id:
                return provider
        known = ", ".join(p.id for p in self.model.providers) or "none"
        raise KeyError(f"no provider {provider_id!r} in the config (known: {known})")

    def provider_zone(self, provider_id: str) -> ZoneInfo:
        """The provider's zone (its own, else the agent's)."""
        return ZoneInfo(self.provider(provider_id).timezone or self.model.agent.timezone)

    @functools.cached_property
    def _by_key(self) -> dict[str, Target]:
        return {t.key: t for t in self.targets}

    @functools.cached_property
    def target_roles(self) -> dict[str, Role]:
        """Each target's role, by key."""
        return {t.key: t.role for t in self.targets}

    def target(self, key: str) -> Target:
        """The target with this key."""
        return self._by_key[key]

    def targets_of(self, provider_id: str) -> list[Target]:
        """A provider's targets."""
        return [t for t in self.targets if t.provider == provider_id]

    def controls(self, role: Role) -> list[Target]:
        """LAN or internet controls."""
        return [t for t in self.targets if t.role is role]

    @property
    def quorum(self) -> int:
        """Internet controls that must be up to call the line working."""
        return self.model.controls.effective_quorum

    def secrets(self) -> list[str]:
        """Every secret the config holds: tokens, passwords, notify URLs, a target URL's credentials.

        What must never appear in a log line, a report or a pack (the log filter and the pack's leak check
        search for each of them).
        """
        m = self.model
        found = [u.get_secret_value() for u in m.notify.urls]
        influx = [m.influxdb] if m.influxdb is not None else []
        if m.web.token is not None:
            found.append(m.web.token.get_secret_value())
        share = m.agent.share
        if share is not None:  # the advocate's salt and InfluxDB credentials
            found += [s.get_secret_value() for s in (share.salt,) if s is not None]
            influx += [share.influxdb] if share.influxdb is not None else []
        for section in influx:
            found += [s.get_secret_value() for s in (section.token, section.password) if s is not None]
        for target in self.targets:
            option_secrets = getattr(target.options, "secrets", None)
            if callable(option_secrets):  # a probe's own: http header tokens, a FIX password
                found += [str(v) for v in option_secrets()]
            if target.secret_address is not None:
                parts = urlsplit(target.secret_address)
                found += [p for p in (parts.password, parts.username) if p]
        return sorted({s for s in found if len(s) >= 4}, key=len, reverse=True)
