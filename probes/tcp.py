"""TCP probe: can we open host:port, and — with a dialogue — does the service speak its protocol?

Without ``send``/``expect``/``steps`` the probe only connects. An IP address is connected to with a
bare non-blocking socket (``loop.sock_connect``): no transport,
protocol or stream objects are built for a connection that is closed at once, which makes the probe
about a quarter cheaper. A host name goes through ``asyncio.open_connection``, which resolves it and
tries each address in turn.

With a dialogue (like blackbox_exporter's ``query_response``) the probe connects (over TLS from the
first byte with ``tls: true``), then runs its steps in order: ``send`` text, ``send_hex`` bytes or
``send_fix`` a FIX message (BeginString, BodyLength, MsgSeqNum, SendingTime and CheckSum filled in);
``expect`` a regular expression, ``expect_bytes`` a literal, ``expect_hex`` bytes or ``expect_fix``
fields in what the server sent; ``starttls`` upgrades the connection. A service that accepts the
connection but says nothing, or the wrong thing, is then ``unexpected``, and the detail names the step.
Each expect waits at most its ``timeout`` (by default until 90 % of the target's timeout has passed,
so the step is still named instead of a bare timeout).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import socket
import ssl
import time
from pathlib import Path

import regex
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from probes._net import host_port, is_ip, os_reason
from probes._pattern import PatternTimeout, compile_bytes, risk_warning, search, search_now
from probes.tls import client_context
from watchdog.errors import CannotProbe, ConnectError, ResolveError, TLSError, UnexpectedAnswer
from watchdog.model import Target
from watchdog.probe import Measurement, ProbeContext, ProbeOptions, split_host_port
from watchdog.units import Duration, format_duration

LITERALS_KEY = "tcp.literals"
"""``ctx.resources`` key: which target hosts are IP literals (names are resolved on every probe)."""


SOH = "\x01"
_FIX_FILLED = {"8", "9", "10", "34", "52"}  # BeginString, BodyLength, CheckSum, MsgSeqNum, SendingTime
_FIELD = re.compile(r"^(\d{1,5})=([^\x01]*)$")
_MAX_BUFFER = 64 * 1024  # what an expect searches at most (the newest bytes)
_SHARE_OF_TIMEOUT = 0.9
_ACTIONS = ("send", "send_hex", "send_fix", "expect", "expect_bytes", "expect_hex", "expect_fix", "starttls")


def _fix_fields(text: str) -> list[tuple[str, str]]:
    """``"35=A|49=ME|56=THEM"`` → ``[("35", "A"), ...]`` (``|`` or SOH between fields); ValueError if bad."""
    fields = []
    for part in re.split(r"[|\x01]", text):
        if not part:
            continue
        m = _FIELD.match(part)
        if m is None:
            raise ValueError(f"not a FIX field tag=value: {part!r}")
        fields.append((m.group(1), m.group(2)))
    if not fields:
        raise ValueError("no FIX fields")
    return fields


class TcpStep(BaseModel):
    """One step of a dialogue: exactly one of the actions, an optional name and timeout."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    name: str | None = Field(default=None, min_length=1, max_length=60)
    send: str | None = None
    """Text sent as UTF-8 (write ``\\r\\n`` in a double-quoted YAML string for CRLF)."""
    send_hex: str | None = None
    send_fix: str | None = None
    """FIX fields from MsgType on, ``|`` between them: ``"35=A|49=ME|56=BROKER|98=0|108=30"``."""
    expect: str | None = None
    """A regular expression searched in what the server sent since the last match (``^``/``$`` at each line)."""
    expect_bytes: str | None = None
    expect_hex: str | None = None
    expect_fix: str | None = None
    """FIX fields that must appear together in a message, in this order: ``"35=A"``."""
    starttls: bool = False
    timeout: Duration | None = None

    @field_validator("send_hex", "expect_hex")
    @classmethod
    def _hex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                if not bytes.fromhex(value):
                    raise ValueError("empty")
            except ValueError as exc:
                raise ValueError(f"not hex bytes like '16 03 01': {value!r}") from exc
        return value

    @field_validator("expect")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                compile_bytes(value.encode("utf-8"), regex.MULTILINE)
            except regex.error as exc:
                raise ValueError(f"not a regular expression: {value!r} ({exc})") from exc
        return value

    @field_validator("send_fix", "expect_fix")
    @classmethod
    def _fix(cls, value: str | None) -> str | None:
        if value is not None:
            _fix_fields(value)
        return value

    @model_validator(mode="after")
    def _one_action(self) -> TcpStep:
        given = [a for a in _ACTIONS if getattr(self, a) not in (None, False)]
        if len(given) != 1:
            raise ValueError(f"a step has exactly one of {', '.join(_ACTIONS)} (got {', '.join(given) or 'none'})")
        if self.send_fix is not None:
            fields = _fix_fields(self.send_fix)
            if fields[0][0] != "35":
                raise ValueError("send_fix starts with MsgType: 35=...")
            filled = sorted({t for t, _ in fields} & _FIX_FILLED, key=int)
            if filled:
                raise ValueError(f"send_fix fills in tags 8, 9, 10, 34 and 52 itself; remove {', '.join(filled)}")
        if self.timeout is not None and not self.is_expect:
            raise ValueError("timeout belongs to an expect step")
        return self

    @property
    def is_expect(self) -> bool:
        """True for the steps that wait for the server."""
        return any(getattr(self, a) is not None for a in ("expect", "expect_bytes", "expect_hex", "expect_fix"))

    def pattern(self) -> regex.Pattern[bytes]:
        """What an expect step searches for, as a bytes regular expression (searched by :mod:`probes._pattern`)."""
        if self.expect is not None:  # ^ and $ at every line: the unread rest of a line does not hide the next one
            return compile_bytes(self.expect.encode("utf-8"), regex.MULTILINE)
        if self.expect_bytes is not None:
            return compile_bytes(regex.escape(self.expect_bytes.encode("utf-8")))
        if self.expect_hex is not None:
            return compile_bytes(regex.escape(bytes.fromhex(self.expect_hex)))
        assert self.expect_fix is not None
        wanted = SOH.join(f"{t}={v}" for t, v in _fix_fields(self.expect_fix))
        return compile_bytes(rb"(?:^|\x01)" + regex.escape(wanted.encode("utf-8")) + rb"\x01")

    def shown(self) -> str:
        """The expectation as the detail quotes it."""
        if self.expect is not None:
            return f"/{self.expect}/"
        if self.expect_fix is not None:
            return f"FIX {self.expect_fix}"
        return repr(self.expect_bytes) if self.expect_bytes is not None else f"hex {self.expect_hex}"


class TcpOptions(ProbeOptions):
    """Connect only (no options), or hold a dialogue: ``send``/``expect`` or a list of ``steps``."""

    send: str | None = None
    """Shorthand for a first step ``{send: ...}``."""
    expect: str | None = None
    """Shorthand for a step ``{expect: ...}`` after ``send`` (a banner check alone: ``expect`` only)."""
    expect_within: Duration | None = None
    """The shorthand's expect timeout ("banner within 500ms")."""
    steps: list[TcpStep] | None = Field(default=None, min_length=1, max_length=50)
    tls: bool = False
    """TLS from the first byte (IMAPS, SMTPS, FIX over TLS)."""
    server_name: str | None = Field(default=None, min_length=1)
    verify: bool = True
    ca_file: str | None = None
    fix_version: str = Field(default="FIX.4.4", pattern=r"^FIXT?\.\d\.\d(SP\d)?$")

    @field_validator("ca_file")
    @classmethod
    def _ca_file(cls, value: str | None) -> str | None:
        if value is not None and not Path(value).expanduser().is_file():
            raise ValueError(f"no such file: {value!r}")
        return value

    @model_validator(mode="after")
    def _shape(self) -> TcpOptions:
        if self.steps is not None and (self.send is not None or self.expect is not None):
            raise ValueError("write either send/expect or steps, not both")
        if self.expect_within is not None and self.expect is None:
            raise ValueError("expect_within needs expect")
        if self.expect is not None:
            TcpStep(expect=self.expect)  # the same check as in a step
        if self.tls and any(s.starttls for s in self.steps or ()):
            raise ValueError("starttls in a dialogue that is TLS from the start (tls: true)")
        return self

    def dialogue(self) -> list[TcpStep]:
        """The steps to run (the shorthand expanded); empty: connect only."""
        if self.steps is not None:
            return list(self.steps)
        # already validated as options: built without a second validation (timeout is seconds here)
        steps = [TcpStep.model_construct(name="send", send=self.send)] if self.send is not None else []
        if self.expect is not None:
            name = "banner" if self.send is None else "answer"
            steps.append(TcpStep.model_construct(name=name, expect=self.expect, timeout=self.expect_within))
        return steps

    def secrets(self) -> list[str]:
        """Passwords a dialogue sends (FIX 554 Password, 925 NewPassword): never logged or packed."""
        found = []
        for step in self.steps or ():
            if step.send_fix is not None:
                found += [v for t, v in _fix_fields(step.send_fix) if t in ("554", "925") and v]
        return found


def advise(options: TcpOptions) -> list[tuple[tuple[str | int, ...], str]]:
    """Warnings for ``expect`` regular expressions that may backtrack without end."""
    found: list[tuple[tuple[str | int, ...], str]] = []
    if options.expect is not None and (warning := risk_warning(options.expect)) is not None:
        found.append((("expect",), warning))
    for i, step in enumerate(options.steps or ()):
        if step.expect is not None and (warning := risk_warning(step.expect)) is not None:
            found.append((("steps", i, "expect"), warning))
    return found


def check_address(address: str) -> str | None:
    """TCP needs ``host:port``."""
    try:
        split_host_port(address)
    except ValueError as exc:
        return str(exc)
    return None


async def probe_tcp(ctx: ProbeContext, target: Target) -> Measurement:
    """Open a connection, time it, close it (or hold the dialogue first)."""
    options: TcpOptions = target.options or TcpOptions()
    if options.tls or options.steps is not None or options.send is not None or options.expect is not None:
        return await _dialogue(ctx, target, options)
    host, port = split_host_port(target.address)
    literals: dict[str, bool] = ctx.resources.setdefault(LITERALS_KEY, {})
    literal = literals.get(host)
    if literal is None:
        literal = literals[host] = is_ip(host)
    if literal:
        return await _connect_ip(host, port)
    t0 = time.monotonic()
    try:
        _reader, writer = await asyncio.open_connection(host, port)
    except socket.gaierror as exc:
        raise ResolveError(f"resolve {host}: {os_reason(exc)}") from exc
    except OSError as exc:
        raise ConnectError(f"connect {host_port(host, port)}: {os_reason(exc)}") from exc
    connect_s = time.monotonic() - t0
    peer = writer.get_extra_info("peername")
    writer.close()
    try:
        await writer.wait_closed()
    except OSError:
        pass  # a reset while closing says nothing about reachability
    return Measurement(latency_s=connect_s, detail=f"connected to {host_port(peer[0], peer[1])}" if peer else "")


async def _connect_ip(ip: str, port: int) -> Measurement:
    """Connect a bare socket to an IP address; closed whatever happens (also when the runner's timeout cancels)."""
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        t0 = time.monotonic()
        try:
            await asyncio.get_running_loop().sock_connect(sock, (ip, port))
        except OSError as exc:
            raise ConnectError(f"connect {host_port(ip, port)}: {os_reason(exc)}") from exc
        connect_s = time.monotonic() - t0
        peer = sock.getpeername()
    finally:
        sock.close()
    return Measurement(latency_s=connect_s, detail=f"connected to {host_port(peer[0], peer[1])}")


def fix_message(fields: str, version: str, seq: int, now: dt.datetime | None = None) -> bytes:
    """A whole FIX message: ``8``, ``9``, ``34``, ``52`` and ``10`` around the given fields (MsgType first)."""
    given = _fix_fields(fields)
    sending = (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%d-%H:%M:%S.%f")[:-3]
    body_fields = [given[0], ("34", str(seq)), ("52", sending), *given[1:]]
    body = "".join(f"{t}={v}{SOH}" for t, v in body_fields).encode("utf-8")
    head = f"8={version}{SOH}9={len(body)}{SOH}".encode()
    checksum = sum(head + body) % 256
    return head + body + f"10={checksum:03d}{SOH}".encode()


def _label(index: int, step: TcpStep) -> str:
    return f"step {index} ({step.name})" if step.name else f"step {index}"


def _show(data: bytes | bytearray, limit: int = 60) -> str:
    """Received bytes as a short printable quote: escapes for control bytes, cut at ``limit``."""
    text = repr(bytes(data[:limit]))[2:-1]
    return text + ("…" if len(data) > limit else "")


async def _dialogue(ctx: ProbeContext, target: Target, options: TcpOptions) -> Measurement:
    host, port = split_host_port(target.address)
    server = host_port(host, port)
    server_name = options.server_name or host
    steps = options.dialogue()
    uses_tls = options.tls or any(s.starttls for s in steps)
    context = client_context(ctx, options.verify, options.ca_file) if uses_tls else None
    t0 = time.monotonic()
    default_deadline = t0 + _SHARE_OF_TIMEOUT * target.timeout_s
    try:
        reader, writer = await asyncio.open_connection(
            host, port, ssl=context if options.tls else None, server_hostname=server_name if options.tls else None
        )
    except socket.gaierror as exc:
        raise ResolveError(f"resolve {host}: {os_reason(exc)}") from exc
    except ssl.SSLCertVerificationError as exc:
        raise TLSError(f"TLS {server}: certificate verify failed: {exc.verify_message}") from exc
    except ssl.SSLError as exc:
        raise TLSError(f"TLS handshake with {server} failed: {exc.reason or exc}") from exc
    except OSError as exc:
        raise ConnectError(f"connect {server}: {os_reason(exc)}") from exc
    connect_s = time.monotonic() - t0
    buffer = bytearray()
    seq = 1
    try:
        for index, step in enumerate(steps, 1):
            label = _label(index, step)
            if step.starttls:
                assert context is not None
                try:
                    await writer.start_tls(context, server_hostname=server_name)
                except ssl.SSLCertVerificationError as exc:
                    raise TLSError(f"{label}: TLS {server}: certificate verify failed: {exc.verify_message}") from exc
                except (ssl.SSLError, OSError) as exc:
                    raise TLSError(f"{label}: TLS upgrade with {server} failed: {os_reason(exc)}") from exc
                # the same StreamReader now gets the decrypted bytes (asyncio swaps the transport under it)
                buffer.clear()  # nothing said in the clear counts after the upgrade
            elif step.is_expect:
                deadline = time.monotonic() + step.timeout if step.timeout is not None else default_deadline
                budget = format_duration(step.timeout if step.timeout is not None else default_deadline - t0)
                await _expect(reader, buffer, step, deadline, f"{label}: no {step.shown()} within {budget}", label)
            else:
                if step.send_fix is not None:
                    data = fix_message(step.send_fix, options.fix_version, seq)
                    seq += 1
                elif step.send_hex is not None:
                    data = bytes.fromhex(step.send_hex)
                else:
                    data = (step.send or "").encode("utf-8")
                try:
                    writer.write(data)
                    await writer.drain()
                except OSError as exc:
                    raise UnexpectedAnswer(
                        f"{label}: {server} closed the connection while we sent: {os_reason(exc)}"
                    ) from exc
    finally:
        writer.transport.abort()
    total_s = time.monotonic() - t0
    kind = "TLS dialogue" if uses_tls else "dialogue"
    return Measurement(
        latency_s=total_s,
        detail=f"{kind} with {server}: {len(steps)} steps done in {round(total_s * 1000)} ms"
        if steps
        else f"TLS connection to {server}",
        metrics={"connect_s": round(connect_s, 6), "dialogue_s": round(total_s - connect_s, 6)},
    )


async def _expect(
    reader: asyncio.StreamReader, buffer: bytearray, step: TcpStep, deadline: float, miss: str, label: str
) -> None:
    pattern = step.pattern()
    while True:
        try:  # on a worker thread, at most half a second: a pattern that backtracks for ever must not stop the agent
            m = await search(pattern, bytes(buffer), step.shown()) if buffer else search_now(pattern, b"", step.shown())
        except PatternTimeout as exc:
            raise CannotProbe(f"{label}: {exc}") from None
        if m is not None:
            del buffer[: m.end()]
            return
        left = deadline - time.monotonic()
        got = f"got {len(buffer)} bytes" + (f": {_show(buffer)}" if buffer else "")
        if left <= 0:
            raise UnexpectedAnswer(f"{miss}; {got}")
        try:
            chunk = await asyncio.wait_for(reader.read(4096), left)
        except TimeoutError:
            raise UnexpectedAnswer(f"{miss}; {got}") from None
        except OSError as exc:
            raise UnexpectedAnswer(f"{miss}: connection lost ({os_reason(exc)}); {got}") from exc
        if not chunk:
            raise UnexpectedAnswer(f"{miss}: the server closed the connection; {got}")
        buffer += chunk
        if len(buffer) > _MAX_BUFFER:
            del buffer[: len(buffer) - _MAX_BUFFER]
