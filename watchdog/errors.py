"""Our exception tree; library errors are translated at the boundary with ``raise Ours(...) from exc``.

* WatchdogError
  x ConfigError         - the YAML is wrong; names file, line and key path; fatal at start (exit 2)
  x ProbeError          - a probe's verdict is "failed"; the runner turns it into a Result
    + ResolveError      (failure = resolve)
    + ConnectError      (failure = connect)
    + ProbeTimeout      (failure = timeout; the runner's own timeout raises TimeoutError instead)
    + TLSError          (failure = tls)
    + UnexpectedAnswer  (failure = unexpected)
    + CannotProbe       (failure = internal: the agent itself cannot probe; never blamed on the target)
  x JournalError        - the journal cannot be opened or written
  x IntegrityError      - the journal or a pack failed verification
  x NothingToClaim      - a complaint would state nothing true: no data, no outage, a detail missing (exit 1)
"""

from __future__ import annotations

from collections.abc import Mapping

from watchdog.model import FailureKind


class WatchdogError(Exception):
    """Base class of every error this package raises on purpose."""


class NothingToClaim(WatchdogError):
    """A complaint letter would have nothing true to state (no data, no outage, a required detail missing)."""


class ConfigError(WatchdogError):
    """The configuration is invalid; ``problems`` holds one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class ProbeError(WatchdogError):
    """A probe reached a verdict of failure; subclasses fix the failure kind."""

    failure: FailureKind = FailureKind.UNEXPECTED

    def __init__(self, detail: str, *, metrics: Mapping[str, float] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.metrics: Mapping[str, float] = dict(metrics or {})


class ResolveError(ProbeError):
    """The target's name did not resolve."""

    failure = FailureKind.RESOLVE


class ConnectError(ProbeError):
    """Refused, unreachable, reset."""

    failure = FailureKind.CONNECT


class ProbeTimeout(ProbeError):
    """The target did not answer in time (raised by probes that time out on their own)."""

    failure = FailureKind.TIMEOUT


class TLSError(ProbeError):
    """Handshake or verification failed, or the certificate has expired (near expiry is only a warning)."""

    failure = FailureKind.TLS


class UnexpectedAnswer(ProbeError):
    """Reached, but the answer broke an expectation (status, text, rcode, loss)."""

    failure = FailureKind.UNEXPECTED


class CannotProbe(ProbeError):
    """The agent cannot probe this target at all (e.g. no ICMP permission): not the target's fault."""

    failure = FailureKind.INTERNAL


class JournalError(WatchdogError):
    """The journal cannot be opened or written."""


class IntegrityError(WatchdogError):
    """Verification of the journal or of an evidence pack failed."""
