"""Rules as versioned data: the compensation and deadline catalogue in ``watchdog/documents/rules/*.yaml``.

Law and money live in the rule files, never in code. Each file is one rule: its id and version, the
calculator that applies it, its parameters (what a provider's ``compensation:`` entry may set), fixed
constants (the 3 %, a rate table by date), the words printed in letters (title, demand, formula,
rounding, legal basis, warnings, in ru and en) and where it comes from (``source_url``,
``verified_on``, ``verification``, ``confidence``, flags ``optional`` / ``contested``). A ``right`` rule
computes nothing: it is a right a letter cites, with its demand, when the fact named by ``cited_when`` holds
(the UK broadband speeds code's exit right when speed tests fall below the guaranteed minimum).

Two files are not rules: ``_jurisdictions.yaml`` (codes, working-day calendars, letter locales) and
``_banned.yaml`` (citations that must never be printed, such as the "ПП № 1236 п. 75, 3 % per day"
myth). Every text in every rule is checked against the banned list when the catalogue is loaded.

A rule whose confidence is ``unverified`` is never applied unless the user opts in (the entry's
``allow_unverified: true``, or the caller's ``include_unverified``).
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from watchdog.config.source import Doc, Problems, Walker, format_path, pydantic_message
from watchdog.errors import WatchdogError
from watchdog.model import ProviderKind
from watchdog.units import parse_duration

if TYPE_CHECKING:
    from watchdog.config import ConfigModel, ProviderSection

RULES_DIR = Path(__file__).resolve().parent / "rules"
JURISDICTIONS_FILE = "_jurisdictions.yaml"
BANNED_FILE = "_banned.yaml"

Confidence = Literal["verified", "secondary", "unverified", "contract"]
Calculator = Literal[
    "prorata",
    "delay_penalty",
    "ofcom_repair",
    "tkg_daily",
    "ny_credit",
    "tiered",
    "restore_delay",
    "service_credit",
    "fee_waiver",
    "ru_svyaz_55",
    "ru_fin_442",
    "uk_adr",
    "generic_reply",
]
ParamType = Literal["decimal", "integer", "boolean", "duration", "choice", "text", "money", "percent", "tiers", "date"]
# where the text of a Russian legal act is published: the official legal portals (pravo.gov.ru, including
# publication.pravo.gov.ru; kremlin.ru), the Bank of Russia and the financial ombudsman for their own rules, and
# ConsultantPlus; other sites' copies (legal databases that are not the publisher, mirrors) are not cited
PRIMARY_RU = ("pravo.gov.ru", "consultant.ru", "cbr.ru", "finombudsman.ru", "kremlin.ru")
# a rule marked verified elsewhere cites the law's or the regulator's own pages: UK legislation and Ofcom, US
# federal rules (eCFR, the FCC, Cornell's LII) and New York State, German federal law and its regulator
PRIMARY = {
    "UK": ("legislation.gov.uk", "ofcom.org.uk", "gov.uk"),
    "US": ("ecfr.gov", "fcc.gov", "law.cornell.edu", "govinfo.gov", "ny.gov"),
    "DE": ("gesetze-im-internet.de", "bundesnetzagentur.de"),
}
COMMON_KEYS = ("rule", "enabled", "clause", "clause_en", "allow_unverified")
_ID_RE = r"^[a-z]{2,}(\.[a-z0-9_]+)+$"
_PLACEHOLDER_RE = re.compile(r"\{([a-z_][a-z0-9_]*)\}")


class RuleError(WatchdogError):
    """A rule file is invalid; ``problems`` holds one ``FILE:LINE: key.path: message`` line per problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


def _decimal(value: Any) -> Any:
    """YAML numbers → Decimal via their text, so 10.34 stays exactly 10.34 (never a float)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return Decimal(str(value))
    if isinstance(value, str):
        try:
            return Decimal(value.strip())
        except InvalidOperation:
            raise ValueError(f"expected a number, got {value!r}") from None
    return value


Dec = Annotated[Decimal, BeforeValidator(_decimal)]
Kind = Annotated[ProviderKind, Field(strict=False)]  # "isp" in YAML → ProviderKind.ISP


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Text(_Strict):
    """One phrase in both letter languages."""

    ru: str = Field(min_length=1)
    en: str = Field(min_length=1)

    def get(self, lang: str) -> str:
        """The phrase in ``lang`` (``ru`` or ``en``)."""
        return self.ru if lang == "ru" else self.en


class ParamSpec(_Strict):
    """One parameter a provider's ``compensation:`` entry may set for this rule."""

    type: ParamType
    description: Text
    default: Any = None
    required: bool = False
    choices: list[str] | None = None
    min: Dec | None = None
    max: Dec | None = None

    @model_validator(mode="after")
    def _check(self) -> ParamSpec:
        if self.type == "choice" and not self.choices:
            raise ValueError("a choice parameter needs 'choices'")
        if self.required and self.default is not None:
            raise ValueError("a required parameter has no default")
        return self


class RateEntry(_Strict):
    """An amount in force from a date (inclusive) until the next entry or ``to`` (exclusive)."""

    from_: dt.date = Field(alias="from")
    to: dt.date | None = None
    amount: Dec
    confidence: Confidence
    source_url: str = ""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, populate_by_name=True)


class Flags(_Strict):
    """``optional``: claimed only when the user lists it; ``contested``: printed with its warning."""

    optional: bool = False
    contested: bool = False


class Rule(_Strict):
    """One rule file."""

    id: str = Field(pattern=_ID_RE)
    version: int = Field(ge=1)
    kind: Literal["money", "deadline", "right"]  # right: a right a letter cites with a demand; it computes nothing
    calculator: Calculator | None = None  # money and deadline rules only
    cited_when: Literal["speed_below_minimum"] | None = None  # right rules only: the fact that makes it apply
    jurisdictions: list[str] = Field(min_length=1)  # codes from _jurisdictions.yaml, or "*" for any
    provider_kinds: list[Kind] | None = None  # None: any kind
    default_for: list[Kind] = Field(default_factory=list)  # applied unlisted for these kinds
    fallback: bool = False  # a deadline rule used when no other deadline rule applies
    order: int = Field(50, ge=0, le=100)  # where its demand stands in a letter (lower first)
    title: Text
    description: Text
    demand: Text | None = None
    formula: dict[str, Text] = Field(default_factory=dict)  # variant → the calculation as printed
    explain: dict[str, Text] = Field(default_factory=dict)  # variant → the facts behind the calculation
    rounding: Text | None = None
    legal_basis: Text | None = None  # the line printed under "legal basis"; only contract rules may omit it
    basis_by_kind: dict[Kind, Text] = Field(default_factory=dict)  # extra basis for one provider kind
    escalation: dict[str, Text] = Field(default_factory=dict)  # provider kind (or "*") → the next step
    warning: Text | None = None
    quoted_text: str = ""
    source_url: list[str] = Field(default_factory=list)  # may be empty only for contract rules
    verified_on: dt.date
    verification: str = Field(min_length=1)
    confidence: Confidence
    flags: Flags = Field(default_factory=Flags)
    in_force_from: dt.date | None = None
    in_force_until: dt.date | None = None
    constants: dict[str, Any] = Field(default_factory=dict)
    rates: list[RateEntry] = Field(default_factory=list)
    parameters: dict[str, ParamSpec] = Field(default_factory=dict)
    needs: list[Literal["fee", "restore_within"]] = Field(default_factory=list)  # from the provider's config
    fee_param: str | None = None  # a money parameter that, when given, replaces the contract fee as the base

    @model_validator(mode="after")
    def _check(self) -> Rule:
        if self.kind == "money" and (self.demand is None or not self.formula or self.rounding is None):
            raise ValueError("a money rule needs 'demand', 'formula' and 'rounding'")
        if (self.kind == "right") != (self.calculator is None):
            raise ValueError("a money or deadline rule needs a 'calculator'; a right rule has none")
        if (self.kind == "right") != (self.cited_when is not None):
            raise ValueError("a right rule needs 'cited_when' (the fact that makes it apply); other rules have none")
        if self.kind == "right" and (self.demand is None or self.default_for or self.fallback or self.parameters):
            raise ValueError("a right rule needs a 'demand' and has no default_for, fallback or parameters")
        per_kind = self.provider_kinds is not None and all(k in self.basis_by_kind for k in self.provider_kinds)
        if self.legal_basis is None and self.confidence != "contract" and not per_kind:
            raise ValueError(
                "legal_basis is required (only rules resting on your contract, or with a basis_by_kind line for "
                "each of their provider_kinds, may omit it)"
            )
        if self.flags.contested and self.warning is None:
            raise ValueError("a contested rule needs a 'warning' for the letter")
        if not self.source_url and self.confidence != "contract":
            raise ValueError("source_url is required (only rules resting on your contract may omit it)")
        for url in self.source_url:
            if not re.match(r"^https?://\S+$", url):
                raise ValueError(f"source_url must be http(s) links, got {url!r}")
            host = re.sub(r"^https?://([^/:]+).*$", r"\1", url).lower()
            if "RU" in self.jurisdictions and not host.endswith(PRIMARY_RU):
                raise ValueError(
                    f"source_url {url!r}: a Russian rule cites primary sources only ({', '.join(PRIMARY_RU)}), "
                    "not copies of the text on other sites"
                )
            for code in {j.split("-")[0] for j in self.jurisdictions} & set(PRIMARY):
                if self.confidence == "verified" and not host.endswith(PRIMARY[code]):
                    raise ValueError(
                        f"source_url {url!r}: a verified {code} rule cites primary sources only "
                        f"({', '.join(PRIMARY[code])}); mark it secondary to cite another site"
                    )
        if self.fee_param is not None and self.parameters.get(self.fee_param, None) is None:
            raise ValueError(f"fee_param {self.fee_param!r} is not one of the parameters")
        clash = set(self.parameters) & set(COMMON_KEYS)
        if clash:
            raise ValueError(f"parameter names {sorted(clash)} are reserved for every entry")
        return self

    @property
    def unverified(self) -> bool:
        """True when the rule must not be applied without the user's opt-in."""
        return self.confidence == "unverified"

    def in_force(self, day: dt.date) -> bool:
        """Whether the rule was in force on ``day``."""
        if self.in_force_from is not None and day < self.in_force_from:
            return False
        return self.in_force_until is None or day < self.in_force_until

    def rate_on(self, day: dt.date) -> RateEntry | None:
        """The rate-table entry in force on ``day`` (None where the table has no amount)."""
        found = None
        for entry in sorted(self.rates, key=lambda e: e.from_):
            if entry.from_ <= day and (entry.to is None or day < entry.to):
                found = entry
        return found

    def texts(self) -> Iterator[str]:
        """Every phrase of the rule (for the banned-citation check)."""
        for text in (self.title, self.description, self.demand, self.rounding, self.legal_basis, self.warning):
            if text is not None:
                yield text.ru
                yield text.en
        for group in (self.formula, self.explain, self.escalation, self.basis_by_kind):
            for text in group.values():
                yield text.ru
                yield text.en
        yield self.quoted_text


class CalendarSpec(_Strict):
    """A working-day calendar from the ``holidays`` package."""

    country: str = Field(pattern=r"^[A-Z]{2}$")
    subdiv: str | None = None


class Jurisdiction(_Strict):
    """A code providers may give as ``jurisdiction``: its name, calendar and the locale of its letters."""

    name: Text
    calendar: CalendarSpec
    locale_en: str = "en_GB"


class Banned(_Strict):
    """A citation that must never be printed, and why."""

    pattern: str
    why: str

    @model_validator(mode="after")
    def _compiles(self) -> Banned:
        try:
            re.compile(self.pattern)
        except re.error as exc:
            raise ValueError(f"pattern does not compile: {exc}") from None
        return self


class _JurisdictionsFile(_Strict):
    jurisdictions: dict[str, Jurisdiction]


class _BannedFile(_Strict):
    banned: list[Banned] = Field(min_length=1)


@dataclass(frozen=True, slots=True)
class RuleUse:
    """A rule as one provider uses it: the checked parameters and the contract clause it rests on."""

    rule: Rule
    params: Mapping[str, Any]
    clause: str = ""
    allow_unverified: bool = False
    listed: bool = True  # written in the config (False: applied by default for the jurisdiction and kind)
    clause_en: str = ""  # the clause as an English letter cites it ("clause 7.2 of the rules")


@dataclass(frozen=True, slots=True)
class ProviderFacts:
    """What checking a provider's entries needs to know about it."""

    kind: ProviderKind
    jurisdiction: str
    currency: str | None  # the contract fee's currency (None: no fee given)
    restore_within_s: float | None

    @classmethod
    def of(cls, provider: ProviderSection) -> ProviderFacts:
        """The facts of a configured provider."""
        fee = provider.contract.fee
        return cls(provider.kind, provider.jurisdiction, fee.currency if fee else None, provider.sla.restore_within)


Problem = tuple[tuple[str | int, ...], str]


@dataclass(frozen=True)
class Rulebook:
    """The loaded catalogue: rules by id, jurisdictions, banned citations."""

    rules: Mapping[str, Rule]
    jurisdictions: Mapping[str, Jurisdiction]
    banned: tuple[Banned, ...]

    def get(self, rule_id: str) -> Rule:
        """The rule with this id; KeyError names the known ones."""
        try:
            return self.rules[rule_id]
        except KeyError:
            raise KeyError(f"no rule {rule_id!r} (known: {', '.join(sorted(self.rules))})") from None

    def jurisdiction(self, code: str) -> Jurisdiction | None:
        """The jurisdiction with this code (None for an empty or unknown code)."""
        return self.jurisdictions.get(code.strip().upper())

    @staticmethod
    def applies_in(rule: Rule, code: str) -> bool:
        """``UK`` in a rule covers ``UK-SCT``; ``*`` covers everything, including no jurisdiction."""
        code = code.strip().upper()
        return any(w == "*" or code == w or code.startswith(w + "-") for w in rule.jurisdictions)

    def rights(self, kind: ProviderKind, jurisdiction: str, when: str) -> list[Rule]:
        """The right rules a letter cites for a provider when ``when`` (a ``cited_when`` fact) holds."""
        return [
            r
            for r in sorted(self.rules.values(), key=lambda r: (r.order, r.id))
            if r.kind == "right"
            and r.cited_when == when
            and self.applies_in(r, jurisdiction)
            and (r.provider_kinds is None or kind in r.provider_kinds)
            and not r.unverified
        ]

    def lint(self, text: str) -> list[str]:
        """The banned citations found in ``text``, each with why it is banned."""
        return [f"{b.why} (found {m.group(0)!r})" for b in self.banned if (m := re.search(b.pattern, text))]

    def uses(self, entries: Sequence[Mapping[str, Any]], facts: ProviderFacts) -> list[RuleUse]:
        """The rules a provider uses: its listed entries, then the defaults for its jurisdiction and kind.

        An entry with ``enabled: false`` switches a default off. RuleError if an entry is invalid (the
        config loader reports those with file and line first, so this only fires for unchecked input).
        """
        out: list[RuleUse] = []
        problems = [f"compensation{_path(path)}: {message}" for path, message in self.check(entries, facts)]
        if problems:
            raise RuleError(problems)
        listed = {str(e.get("rule")) for e in entries}
        for entry in entries:
            use, _ = self.parse_entry(entry, facts)
            if use is not None and entry.get("enabled", True) is not False:
                out.append(use)
        for rule in sorted(self.rules.values(), key=lambda r: r.id):
            if rule.id in listed or facts.kind not in rule.default_for or rule.flags.optional:
                continue
            if self.applies_in(rule, facts.jurisdiction):
                params = {n: check_value(p, p.default) for n, p in rule.parameters.items() if p.default is not None}
                out.append(RuleUse(rule, params, listed=False))
        return out

    def check(self, entries: Sequence[Mapping[str, Any]], facts: ProviderFacts) -> list[Problem]:
        """Problems of a provider's ``jurisdiction`` and ``compensation:`` (paths relative to the provider)."""
        if facts.jurisdiction.strip() and self.jurisdiction(facts.jurisdiction) is None:
            known = ", ".join(sorted(self.jurisdictions))
            return [(("jurisdiction",), f"unknown jurisdiction {facts.jurisdiction!r} (known: {known})")]
        problems: list[Problem] = []
        seen: dict[str, int] = {}
        for i, entry in enumerate(entries):
            _, errors = self.parse_entry(entry, facts)
            problems.extend((("compensation", i, *path), message) for path, message in errors)
            rule_id = entry.get("rule")
            if isinstance(rule_id, str):
                if rule_id in seen:
                    problems.append((("compensation", i, "rule"), f"listed twice (also compensation[{seen[rule_id]}])"))
                seen.setdefault(rule_id, i)
        return problems

    def parse_entry(self, entry: Mapping[str, Any], facts: ProviderFacts) -> tuple[RuleUse | None, list[Problem]]:
        """Check one ``compensation:`` entry against its rule; problems carry key paths inside the entry."""
        rule_id = entry.get("rule")
        if not isinstance(rule_id, str):
            return None, [((), "each item needs a 'rule' id")]
        rule = self.rules.get(rule_id)
        if rule is None:
            listable = sorted(r.id for r in self.rules.values() if r.kind != "right")
            return None, [(("rule",), f"unknown rule {rule_id!r} (known: {', '.join(listable)})")]
        if rule.kind == "right":
            return None, [(("rule",), f"rule {rule_id} is a right a letter cites when it applies, not compensation")]
        problems: list[Problem] = []
        params: dict[str, Any] = {}
        for key, value in entry.items():
            if key in COMMON_KEYS:
                continue
            spec = rule.parameters.get(key)
            if spec is None:
                allowed = ", ".join(sorted([*COMMON_KEYS, *rule.parameters]))
                problems.append(((key,), f"unknown key for rule {rule_id} (allowed: {allowed})"))
                continue
            try:
                params[key] = check_value(spec, value)
            except ValueError as exc:
                problems.append(((key,), str(exc)))
        for key in ("enabled", "allow_unverified"):
            if key in entry and not isinstance(entry[key], bool):
                problems.append(((key,), f"expected true or false, got {entry[key]!r}"))
        clause = entry.get("clause", "")
        if not isinstance(clause, str):
            problems.append((("clause",), f"expected text (the contract clause, e.g. 'п. 4.2'), got {clause!r}"))
        clause_en = entry.get("clause_en", "")
        if not isinstance(clause_en, str):
            problems.append(
                (("clause_en",), f"expected text (the clause in English, e.g. 'clause 4.2'), got {clause_en!r}")
            )
        for name, spec in rule.parameters.items():
            if name in params or (name in entry and name not in params):
                continue
            if spec.required:
                problems.append(((), f"rule {rule_id} needs '{name}': {spec.description.en}"))
            elif spec.default is not None:
                params[name] = check_value(spec, spec.default)
        if not self.applies_in(rule, facts.jurisdiction):
            where = facts.jurisdiction or "none"
            problems.append(
                (("rule",), f"rule {rule_id} applies in {', '.join(rule.jurisdictions)}; this provider's is {where}")
            )
        if rule.provider_kinds is not None and facts.kind not in rule.provider_kinds:
            kinds = ", ".join(k.value for k in rule.provider_kinds)
            problems.append((("rule",), f"rule {rule_id} is for providers of kind {kinds}, not {facts.kind.value}"))
        if "fee" in rule.needs and facts.currency is None and not (rule.fee_param and rule.fee_param in params):
            instead = f" (or set '{rule.fee_param}')" if rule.fee_param else ""
            problems.append((("rule",), f"rule {rule_id} needs contract.fee{instead}"))
        if "restore_within" in rule.needs and facts.restore_within_s is None:
            problems.append((("rule",), f"rule {rule_id} needs sla.restore_within (the promised time to restore)"))
        if problems:
            return None, problems
        allow = bool(entry.get("allow_unverified", False))
        return (
            RuleUse(
                rule,
                params,
                clause=clause if isinstance(clause, str) else "",
                allow_unverified=allow,
                clause_en=clause_en if isinstance(clause_en, str) else "",
            ),
            [],
        )


def _path(path: tuple[str | int, ...]) -> str:
    return format_path(path).removeprefix("compensation")


def check_value(spec: ParamSpec, value: Any) -> Any:
    """A parameter value as written → its typed value; ValueError says what was expected."""
    kind = spec.type
    if kind in ("decimal", "money", "percent"):
        if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
            raise ValueError(f"expected a number, got {value!r}")
        number = value if isinstance(value, Decimal) else Decimal(str(value))
        if kind == "percent" and not Decimal(0) <= number <= Decimal(100):
            raise ValueError(f"expected a percentage from 0 to 100, got {value!r}")
        if kind == "money" and number < 0:
            raise ValueError(f"expected an amount of zero or more, got {value!r}")
        _check_range(spec, number, value)
        return number
    if kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"expected a whole number, got {value!r}")
        _check_range(spec, Decimal(value), value)
        return value
    if kind == "boolean":
        if not isinstance(value, bool):
            raise ValueError(f"expected true or false, got {value!r}")
        return value
    if kind == "duration":
        seconds = parse_duration(value)
        if seconds <= 0:
            raise ValueError(f"must be longer than zero, got {value!r}")
        return seconds
    if kind == "choice":
        if value not in (spec.choices or []):
            raise ValueError(f"must be one of {', '.join(spec.choices or [])}, got {value!r}")
        return value
    if kind == "text":
        if not isinstance(value, str):
            raise ValueError(f"expected text, got {value!r}")
        return value
    if kind == "date":
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            return value
        if isinstance(value, str):
            try:
                return dt.date.fromisoformat(value.strip())
            except ValueError:
                pass
        raise ValueError(f"expected a date like 2026-11-20, got {value!r}")
    return _check_tiers(value)


def _check_range(spec: ParamSpec, number: Decimal, shown: Any) -> None:
    if spec.min is not None and number < spec.min:
        raise ValueError(f"must be at least {spec.min}, got {shown!r}")
    if spec.max is not None and number > spec.max:
        raise ValueError(f"must be at most {spec.max}, got {shown!r}")


def _check_tiers(value: Any) -> tuple[tuple[Decimal, Decimal], ...]:
    """``[[99.5, 10], [99.0, 25], [95.0, 100]]``: below 99.5 % → 10 %, below 99 % → 25 %, below 95 % → 100 %."""
    shape = "expected tiers like [[99.5, 10], [99.0, 25], [95.0, 100]] (availability below → credit percent)"
    if not isinstance(value, list) or not value:
        raise ValueError(f"{shape}, got {value!r}")
    tiers: list[tuple[Decimal, Decimal]] = []
    for pair in value:
        if (
            not isinstance(pair, list)
            or len(pair) != 2
            or any(isinstance(x, bool) or not isinstance(x, int | float) for x in pair)
        ):
            raise ValueError(f"{shape}, got {value!r}")
        below, credit = (Decimal(str(x)) for x in pair)
        if not Decimal(0) < below <= Decimal(100) or not Decimal(0) <= credit <= Decimal(100):
            raise ValueError(f"tier {pair!r}: availability must be in (0, 100] and credit in [0, 100]")
        tiers.append((below, credit))
    for (a, ca), (b, cb) in itertools.pairwise(tiers):
        if not b < a or cb < ca:
            raise ValueError(f"tiers must go down in availability and up in credit: {value!r}")
    return tuple(tiers)


# ---------------------------------------------------------------------------------------------- loading


def _read(path: Path) -> Any:
    """Plain YAML with the line of every key, walked like the config (same rules, same messages).

    Composed with libyaml when PyYAML has it: the catalogue is read on every config load that uses it.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RuleError([f"{path.name}:1: (file): cannot read: {exc.strerror or exc}"]) from None
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        node = yaml.compose(text, Loader=loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise RuleError([f"{path.name}:{mark.line + 1 if mark else 1}: (syntax): {exc.problem or exc}"]) from None
    problems: list[tuple[int, str]] = []
    walker = Walker(path.name, {}, problems)
    try:
        data = walker.walk(node, ()) if node is not None else {}
    except yaml.YAMLError as exc:
        raise RuleError([f"{path.name}:1: (syntax): {exc} (only plain YAML is allowed)"]) from None
    if problems:
        raise RuleError([message for _, message in problems])
    return Doc(data, walker.lines, path.name)


def _validate(model: type[BaseModel], path: Path) -> tuple[Any, Any]:
    """Read a file and validate it against ``model``; RuleError names file, line and key."""
    doc = _read(path)
    report = Problems(doc)
    try:
        return model.model_validate(doc.data), doc
    except ValidationError as exc:
        for err in exc.errors():
            message = "unknown key" if err.get("type") == "extra_forbidden" else pydantic_message(err)
            report.add(tuple(err["loc"]), message)
        raise RuleError(report.lines()) from None


def load_rulebook(directory: Path | None = None) -> Rulebook:
    """Load and check every rule file; RuleError lists every problem with file, line and key."""
    folder = directory or RULES_DIR
    jurisdictions = _validate(_JurisdictionsFile, folder / JURISDICTIONS_FILE)[0].jurisdictions
    banned = tuple(_validate(_BannedFile, folder / BANNED_FILE)[0].banned)
    problems: list[str] = []
    rules: dict[str, Rule] = {}
    for path in sorted(folder.glob("*.yaml")):
        if path.name.startswith("_"):
            continue
        try:
            rule, doc = _validate(Rule, path)
        except RuleError as exc:
            problems.extend(exc.problems)
            continue
        problems.extend(_check_rule(rule, path.name, doc, jurisdictions, banned))
        if rule.id in rules:
            problems.append(f"{path.name}:{doc.line_of(('id',))}: id: duplicate rule id {rule.id!r}")
        rules[rule.id] = rule
    if problems:
        raise RuleError(problems)
    return Rulebook(rules, jurisdictions, banned)


def _check_rule(
    rule: Rule, filename: str, doc: Any, jurisdictions: Mapping[str, Jurisdiction], banned: Sequence[Banned]
) -> list[str]:
    """Cross-checks a model cannot express: the file name, known jurisdictions, placeholders, banned text."""

    def where(*key: str | int) -> str:
        return f"{filename}:{doc.line_of(key)}: {format_path(key)}"

    out: list[str] = []
    if Path(filename).stem != rule.id:
        out.append(f"{where('id')}: the id {rule.id!r} must match the file name {Path(filename).stem!r}")
    for i, code in enumerate(rule.jurisdictions):
        if code != "*" and code not in jurisdictions:
            out.append(
                f"{where('jurisdictions', i)}: unknown jurisdiction {code!r} (known: {', '.join(jurisdictions)})"
            )
    for group in ("formula", "explain"):
        texts: dict[str, Text] = getattr(rule, group)
        for variant, pair in texts.items():
            if placeholders(pair.ru) != placeholders(pair.en):
                out.append(f"{where(group, variant)}: ru and en use different placeholders")
    for phrase in rule.texts():
        for b in banned:
            m = re.search(b.pattern, phrase)
            if m:
                out.append(f"{where('id')}: banned citation {m.group(0)!r}: {b.why}")
    return out


def placeholders(text: str) -> set[str]:
    """The ``{name}`` placeholders of a formula or demand."""
    return set(_PLACEHOLDER_RE.findall(text))


def check_config(model: ConfigModel, rulebook: Rulebook | None = None) -> Iterator[Problem]:
    """Every provider's ``compensation`` entries and ``jurisdiction`` checked against the catalogue.

    A :data:`watchdog.config.ConfigCheck`: the command line and the demo load every config with it.
    """
    for i, provider in enumerate(model.providers):
        if provider.compensation or provider.jurisdiction.strip():
            rulebook = rulebook or load_rulebook()
            for path, message in rulebook.check(provider.compensation, ProviderFacts.of(provider)):
                yield ("providers", i, *path), message
