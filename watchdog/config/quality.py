"""Quality limits (``quality:`` in ``defaults`` and on a target) and contract speed (``sla.download``).

Written as::

    quality:
      latency_max: 500ms                  # the probe's own measure: connect (tcp), TTFB+body (http), RTT (icmp)
      loss_max: 5%                        # over the last ``window`` rounds (ICMP: over their packets)
      jitter_max: 30ms                    # mean |difference| of consecutive latencies over ``window`` rounds
      window: 20                          # rounds in the loss/jitter sliding window
      open: 3 of 5                        # bad rounds of the last M that open a degraded window
      close: 3                            # good rounds in a row that close it
      # any limit may carry its own hysteresis: latency_max: {max: 2s, open: 2 of 3, close: 5}

A target's block is laid over ``defaults.quality`` key by key; ``latency_max: off`` drops a default limit.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from watchdog.model import Quality, QualityRule
from watchdog.units import parse_duration

_OF_RE = re.compile(r"\s*(\d{1,3})\s*(?:of|/)\s*(\d{1,3})\s*")
_RATE_RE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(k|m|g)?(bit|bps|b)(?:/s)?\s*", re.IGNORECASE)


def _n_of_m(value: Any) -> tuple[int, int]:
    if isinstance(value, int) and not isinstance(value, bool):
        value = f"{value} of {value}"
    if not isinstance(value, str) or not (m := _OF_RE.fullmatch(value)):
        raise ValueError(f'expected "N of M" like "3 of 5" (N bad rounds of the last M), got {value!r}')
    n, of = int(m.group(1)), int(m.group(2))
    if not 1 <= n <= of <= 100:
        raise ValueError(f"need 1 <= N <= M <= 100 in {value!r}")
    return n, of


def _ratio(given: Any) -> float:
    value = given
    if isinstance(value, str) and value.strip().endswith("%"):
        try:
            value = float(value.strip()[:-1]) / 100.0
        except ValueError:
            raise ValueError(f"expected a share like 5% or 0.05, got {given!r}") from None
    if isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, float) or not 0.0 <= value < 1.0:
        raise ValueError(f"expected a share below 100% like 5% or 0.05, got {given!r}")
    return value


def _seconds(value: Any) -> float:
    seconds = parse_duration(value)
    if not 0 < seconds <= 300:
        raise ValueError(f"expected a duration above 0 and at most 5m, got {value!r}")
    return seconds


def parse_rate(value: Any) -> float:
    """``500Mbit``, ``40 Mbit/s``, ``1Gbit``, ``800kbit`` → bits per second."""
    if isinstance(value, str) and (m := _RATE_RE.fullmatch(value)):
        scale = {"k": 1e3, "m": 1e6, "g": 1e9, None: 1.0}[(m.group(2) or "").lower() or None]
        bits = float(m.group(1)) * scale * (8.0 if m.group(3) == "B" else 1.0)
        if bits > 0:
            return bits
    raise ValueError(f"expected a speed like 500Mbit, 40Mbit/s or 1Gbit, got {value!r}")


class Strict(BaseModel):
    """Same rules as every config model (watchdog.config.models.Strict); here to avoid an import circle."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


Seconds = Annotated[float, BeforeValidator(_seconds)]
Ratio = Annotated[float, BeforeValidator(_ratio)]
NofM = Annotated[tuple[int, int], BeforeValidator(_n_of_m)]
Rate = Annotated[float, BeforeValidator(parse_rate)]


class LimitSpec(Strict):
    """One limit with its own hysteresis (``{max: 2s, open: 2 of 3, close: 5}``)."""

    max: Any
    open: NofM | None = None
    close: int | None = Field(None, ge=1, le=100)
    window: int | None = Field(None, ge=2, le=1000)


def _limit(kind: Literal["seconds", "ratio"]) -> Any:
    def check(value: Any) -> Any:
        if value is None or value is False or (isinstance(value, str) and value.strip().lower() == "off"):
            return "off"
        parse = _seconds if kind == "seconds" else _ratio
        if isinstance(value, dict):
            spec = LimitSpec.model_validate(value)
            return spec.model_copy(update={"max": parse(spec.max)})
        return LimitSpec(max=parse(value))

    return BeforeValidator(check)


SecondsLimit = Annotated[LimitSpec | Literal["off"], _limit("seconds")]
RatioLimit = Annotated[LimitSpec | Literal["off"], _limit("ratio")]


class QualitySection(Strict):
    """``quality:``: latency, loss and jitter limits and their hysteresis."""

    latency_max: SecondsLimit | None = None
    loss_max: RatioLimit | None = None
    jitter_max: SecondsLimit | None = None
    window: int = Field(20, ge=2, le=1000)
    open: NofM = (3, 5)
    close: int = Field(3, ge=1, le=100)


def resolve_quality(defaults: QualitySection | None, own: QualitySection | None) -> Quality | None:
    """A target's limits: its own block laid over the defaults key by key (None when no limit is set)."""
    merged: dict[str, Any] = {}
    for section in (defaults, own):
        if section is not None:
            merged.update({k: getattr(section, k) for k in section.model_fields_set})
    base = QualitySection.model_construct(**{**QualitySection().model_dump(), **merged})
    rules: dict[str, QualityRule] = {}
    for name in ("latency", "loss", "jitter"):
        spec = merged.get(f"{name}_max")
        if spec is None or spec == "off":
            continue
        assert isinstance(spec, LimitSpec)
        n, of = spec.open or base.open
        rules[name] = QualityRule(
            max=float(spec.max),
            open_bad=n,
            open_of=of,
            close_good=spec.close or base.close,
            window=spec.window or base.window,
        )
    return Quality(**rules) if rules else None


class SlaQualityTerms(Strict):
    """The SLA's terms about quality (the base of ``SlaSection``): contract speed and degraded time.

    ``sla: {download: 500Mbit, upload: 50Mbit, minimum: 100Mbit, upload_minimum: 10Mbit, counts_degraded: true}``

    Each minimum belongs to its own direction: ``minimum`` is the download's (the Ofcom code's "minimum
    guaranteed download speed"), ``upload_minimum`` the upload's. A share (``50%``) is of that direction's own
    advertised speed; a ``minimum`` given as a share is also the upload's when no ``upload_minimum`` is set
    (it names no figure of the other direction). A ``minimum`` given as a speed never judges the upload.
    """

    counts_degraded: bool = False  # degraded time (the provider's) counts as downtime in availability
    download: Rate | None = None  # advertised (or guaranteed) download speed
    upload: Rate | None = None
    minimum: Ratio | Rate | None = None  # the guaranteed download minimum: a share of ``download``, or a speed
    upload_minimum: Ratio | Rate | None = None  # the guaranteed upload minimum: a share of ``upload``, or a speed

    @model_validator(mode="after")
    def _shares_have_a_speed(self) -> SlaQualityTerms:
        for key, base in (("minimum", "download"), ("upload_minimum", "upload")):
            share = getattr(self, key)
            if share is not None and share < 1.0 and getattr(self, base) is None:
                raise ValueError(
                    f"{key} {share * 100:g}% is a share of sla.{base}, which is not set (give sla.{base}, "
                    f"or the minimum as a speed like 100Mbit)"
                )
        return self

    def minimum_bps(self, direction: Literal["download", "upload"]) -> float | None:
        """The speed below which a test counts as below contract; None when the contract sets no bar for it.

        Without any minimum the advertised speed is the bar; the upload is never judged against a download
        minimum given as a speed.
        """
        advertised = self.download if direction == "download" else self.upload
        minimum = self.minimum if direction == "download" else self.upload_minimum
        if minimum is None and direction == "upload" and self.minimum is not None:
            if self.minimum >= 1.0:
                return None  # a download speed: not the upload's bar
            minimum = self.minimum  # a share: of the upload's own advertised speed
        if minimum is None:
            return advertised
        if minimum >= 1.0:
            return minimum
        return None if advertised is None else advertised * minimum
