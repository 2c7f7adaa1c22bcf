"""``watchdog demo``: the whole tool in about a minute, on loopback only, with nothing to set up.

The demo opens its own fake services on 127.0.0.x (a broker with a trading port, an HTTPS site and its
certificate; an ISP with a DNS resolver and an account page; an online bank), the customer's own line (a
LAN "router" and three internet anchors speaking DNS, TCP and HTTP) and a tiny NTP server, writes a config
that points at them, and runs the real agent against it with a 1 s interval. A script then plays two
scenes:

1. the broker's trading port refuses connections and its site answers 503 while the line is fine —
   a ``provider`` outage, counted against the broker; the customer calls support (the contact log);
2. the router goes away and everything with it — a ``customer_line`` outage, kept out of every figure.

Afterwards it writes the SLA report (text and HTML), the evidence pack and a Russian and an English
complaint (Markdown, HTML, PDF) with the same code as ``watchdog report / evidence / complaint``, checks
the pack and the journal with the real verifiers, and says what each file shows. Every socket it opens
is on loopback and no name is ever looked up: the addresses are literal, the NTP server is its own.

When 127.0.0.2 and up cannot be bound (macOS has only 127.0.0.1), every service shares 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import json
import logging
import shutil
import socket
import ssl
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

import dns.flags
import dns.message
import dns.rcode
import dns.rrset
import yaml
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from watchdog.agent.core import Agent
from watchdog.agent.sinks import OutageNotice, Sink
from watchdog.config import Config, load
from watchdog.documents.rulebook import check_config
from watchdog.documents.words import Lang, Phrasebook
from watchdog.errors import WatchdogError
from watchdog.model import NS

_LOGGER = logging.getLogger(__name__)

MARKER = ".watchdog-demo"  # a directory holding it was made by the demo and may be cleared by it
PROVIDER = "broker"
NTP_UNIX_DELTA_S = 2_208_988_800
_NTP = struct.Struct("!BBbb II 4s 8s 8s 8s 8s")


def demo_words(lang: Lang, zone: ZoneInfo) -> Phrasebook:
    """What the demo says in ``lang`` (``watchdog/demo/locale/demo.<lang>.yaml``), figures as the report writes them."""
    text = (Path(__file__).resolve().parent / "locale" / f"demo.{lang}.yaml").read_text(encoding="utf-8")
    return Phrasebook(lang, yaml.safe_load(text), zone)


class DemoError(WatchdogError):
    """The demo cannot run here (the output directory is someone else's, a port cannot be had)."""


# ------------------------------------------------------------------------------------------- services


def loopback_host(last: int) -> str:
    """``127.0.0.<last>`` when this system lets us bind it, else ``127.0.0.1``."""
    host = f"127.0.0.{last}"
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((host, 0))
    except OSError:
        return "127.0.0.1"
    return host


def _listening(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # back on the same port at once after a scene
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise DemoError(f"cannot listen on {host}:{port} ({exc})") from exc
    sock.listen(64)
    sock.setblocking(False)
    return sock


class Service:
    """A loopback server that can be switched off (connections refused) and on again at the same address."""

    name = "service"

    def __init__(self, host: str) -> None:
        self.host = host
        self.port = 0
        self.running = False

    @property
    def address(self) -> str:
        """``host:port``."""
        return f"{self.host}:{self.port}"

    async def up(self) -> None:
        """Start answering."""
        if not self.running:
            await self._start()
            self.running = True

    async def down(self) -> None:
        """Stop answering: connections to the address are refused from now on."""
        if self.running:
            await self._stop()
            self.running = False

    async def _start(self) -> None:
        raise NotImplementedError

    async def _stop(self) -> None:
        raise NotImplementedError


class TcpService(Service):
    """Accepts and closes TCP connections (a trading gateway, a router's admin port, an anchor)."""

    def __init__(self, host: str) -> None:
        super().__init__(host)
        self.server: asyncio.Server | None = None

    async def _start(self) -> None:
        sock = _listening(self.host, self.port)
        self.port = sock.getsockname()[1]
        self.server = await asyncio.start_server(self._accept, sock=sock)

    async def _accept(self, _reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    async def _stop(self) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


class WebService(Service):
    """An HTTP(S) site with fixed pages; ``failing`` makes it answer 503 while it still accepts connections."""

    def __init__(self, host: str, pages: dict[str, tuple[int, str]], tls: ssl.SSLContext | None = None) -> None:
        super().__init__(host)
        self.pages = pages
        self.tls = tls
        self.failing = False
        self.runner: web.AppRunner | None = None
        self.site: web.SockSite | None = None

    async def _handle(self, request: web.Request) -> web.Response:
        if self.failing:
            return web.Response(status=503, text="Технические работы / Service unavailable")
        status, body = self.pages.get(request.path, (404, "not found"))
        return web.Response(status=status, text=body or None, content_type="text/html")

    async def _start(self) -> None:
        if self.runner is None:
            app = web.Application()
            app.router.add_get("/{tail:.*}", self._handle)
            self.runner = web.AppRunner(app, access_log=None)
            await self.runner.setup()
        sock = _listening(self.host, self.port)
        self.port = sock.getsockname()[1]
        self.site = web.SockSite(self.runner, sock, ssl_context=self.tls)
        await self.site.start()

    async def _stop(self) -> None:
        assert self.site is not None
        await self.site.stop()

    async def close(self) -> None:
        """Release the application (after the last ``down``)."""
        if self.runner is not None:
            await self.runner.cleanup()


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, answer: Callable[[bytes], bytes | None]) -> None:
        self.answer = answer
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)  # a datagram endpoint's transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            reply = self.answer(data)
        except Exception:  # a malformed packet gets no answer, never a crash
            _LOGGER.debug("unanswerable datagram from %s", addr, exc_info=True)
            return
        if reply is not None and self.transport is not None:
            self.transport.sendto(reply, addr)


class UdpService(Service):
    """A UDP server (DNS, NTP); switched off, its port answers with ICMP port unreachable (refused)."""

    def __init__(self, host: str, answer: Callable[[bytes], bytes | None]) -> None:
        super().__init__(host)
        self.answer = answer
        self.transport: asyncio.DatagramTransport | None = None

    async def _start(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _Datagrams(self.answer), local_addr=(self.host, self.port)
            )
        except OSError as exc:
            raise DemoError(f"cannot listen on udp {self.host}:{self.port} ({exc})") from exc
        self.transport = transport
        self.port = transport.get_extra_info("sockname")[1]

    async def _stop(self) -> None:
        assert self.transport is not None
        self.transport.close()


def dns_answer(records: dict[str, str]) -> Callable[[bytes], bytes | None]:
    """An authoritative answer for the A records in ``records`` (name → address); other names: NXDOMAIN."""

    def answer(wire: bytes) -> bytes | None:
        query = dns.message.from_wire(wire)
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        question = query.question[0]
        name = question.name.to_text(omit_final_dot=True).lower()
        if name in records:
            response.answer.append(dns.rrset.from_text_list(question.name, 60, "IN", "A", [records[name]]))
        else:
            response.set_rcode(dns.rcode.NXDOMAIN)
        return bytes(response.to_wire())

    return answer


def ntp_answer(packet: bytes) -> bytes | None:
    """A server-mode NTP reply (RFC 5905) stamped with this machine's own clock, stratum 2."""
    if len(packet) < 48:
        return None

    def stamp(ts_ns: int) -> bytes:
        seconds, rest = divmod(ts_ns, NS)
        return struct.pack("!II", seconds + NTP_UNIX_DELTA_S, (rest << 32) // NS)

    now = time.time_ns()
    return _NTP.pack(
        (0 << 6) | (4 << 3) | 4,
        2,
        6,
        -20,
        1024,
        512,
        b"\x7f\x00\x00\x01",
        stamp(now - 10 * NS),
        packet[40:48],
        stamp(now),
        stamp(time.time_ns()),
    )


# ----------------------------------------------------------------------------------------------- TLS


@dataclass(frozen=True)
class Pki:
    """A throw-away certificate authority and one server certificate for the demo's HTTPS sites."""

    ca_pem: bytes
    server: ssl.SSLContext


def make_pki(names: list[str], addresses: list[str], workdir: Path) -> Pki:
    """A CA and a 90-day server certificate for ``names`` and ``addresses`` (EC P-256, made fresh each run)."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Outage Watchdog demo CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=90))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    alt: list[x509.GeneralName] = [x509.DNSName(n) for n in names]
    alt += [x509.IPAddress(ipaddress.ip_address(a)) for a in dict.fromkeys(addresses)]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=90))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_file, key_file = workdir / "server.pem", workdir / "server.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    key_file.unlink()  # the key lives on in the context only
    return Pki(ca.public_bytes(serialization.Encoding.PEM), context)


class Inbox:
    """The customer's phone: an Apprise ``json://`` receiver on loopback that keeps every message it gets."""

    def __init__(self) -> None:
        self.port = 0
        self.messages: list[tuple[int, dict[str, Any]]] = []
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        """The Apprise URL the agent notifies."""
        return f"json://127.0.0.1:{self.port}/inbox"

    async def _receive(self, request: web.Request) -> web.Response:
        self.messages.append((time.time_ns(), await request.json()))
        return web.Response(text="ok")

    async def up(self) -> None:
        """Listen on a free loopback port."""
        app = web.Application()
        app.router.add_post("/inbox", self._receive)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def down(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


# ---------------------------------------------------------------------------------------------- world


@dataclass
class World:
    """Every fake service of the demo, by role."""

    router: TcpService
    anchors: list[Service]
    trading: TcpService
    broker_web: WebService
    isp_dns: UdpService
    isp_web: WebService
    bank: WebService
    ntp: UdpService
    inbox: Inbox
    web_port: int = 0

    def controls(self) -> list[Service]:
        """The customer's own line."""
        return [self.router, *self.anchors]

    def providers(self) -> list[Service]:
        """The services the customer pays for."""
        return [self.trading, self.broker_web, self.isp_dns, self.isp_web, self.bank]

    def everything(self) -> list[Service]:
        """All of it, the NTP server included."""
        return [*self.controls(), *self.providers(), self.ntp]


async def open_world(workdir: Path) -> tuple[World, Pki]:
    """Start every service on its loopback address; return them and the PKI the HTTPS sites use."""
    hosts = {n: loopback_host(n) for n in (2, 3, 4, 5, 10, 20, 30)}
    pki = make_pki(["broker.example", "bank.example"], [hosts[10], hosts[30]], workdir)
    broker_home = "<html><body><h1>Демо-Брокер</h1><form>Вход в личный кабинет</form></body></html>"
    bank_home = "<html><body><h1>Демо-Банк</h1><form>Вход в интернет-банк</form></body></html>"
    world = World(
        router=TcpService(hosts[2]),
        anchors=[
            UdpService(hosts[3], dns_answer({"anchor.example": hosts[3]})),
            TcpService(hosts[4]),
            WebService(hosts[5], {"/generate_204": (204, "")}),
        ],
        trading=TcpService(hosts[10]),
        broker_web=WebService(hosts[10], {"/": (200, broker_home)}, pki.server),
        isp_dns=UdpService(hosts[20], dns_answer({"isp.example": hosts[20]})),
        isp_web=WebService(hosts[20], {"/": (200, "<html><body>Личный кабинет абонента</body></html>")}),
        bank=WebService(hosts[30], {"/login": (200, bank_home)}, pki.server),
        ntp=UdpService("127.0.0.1", ntp_answer),
        inbox=Inbox(),
    )
    for service in world.everything():
        await service.up()
    await world.inbox.up()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:  # a free port for the status page
        s.bind(("127.0.0.1", 0))
        world.web_port = s.getsockname()[1]
    return world, pki


async def close_world(world: World) -> None:
    """Stop every service."""
    for service in world.everything():
        await service.down()
        if isinstance(service, WebService):
            await service.close()
    await world.inbox.down()


# --------------------------------------------------------------------------------------------- config


def _q(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a YAML string


def config_text(world: World, out: Path, interval_s: float, language: str) -> str:
    """The demo's config: every target on the demo's own loopback services, the agent's journal under ``out``."""
    ca = _q(str((out / "demo-ca.pem").resolve()))
    w = world
    a_dns, a_tcp, a_web = w.anchors
    ms = round(interval_s * 1000)
    timeout_ms = max(200, min(1000, ms * 4 // 5))  # loopback answers in microseconds; leave room for a busy machine
    return f"""# Written by `watchdog demo`: every address is a service the demo opened on loopback for this run.
agent: {{id: demo-home, timezone: Europe/Moscow, data_dir: {_q(str((out / "data").resolve()))}, language: {language}}}
defaults: {{interval: {ms}ms, timeout: {timeout_ms}ms, failure_threshold: 3, success_threshold: 2}}
controls:
  lan:
    - {{name: router, kind: tcp, address: "{w.router.address}"}}
  internet:
    - {{name: anchor-dns, kind: dns, address: "{a_dns.address}", dns: {{query_name: anchor.example}}}}
    - {{name: anchor-tcp, kind: tcp, address: "{a_tcp.address}"}}
    - {{name: anchor-web, kind: http, address: "http://{a_web.address}/generate_204", http: {{expect_status: [204]}}}}
  quorum: 2
providers:
  - id: broker
    name: "Демо-Брокер"
    kind: broker
    targets:
      - {{name: trading, kind: tcp, address: "{w.trading.address}"}}
      - name: web
        kind: http
        address: "https://{w.broker_web.address}/"
        http: {{expect_text: "Вход", ca_file: {ca}}}
      - name: cert
        kind: tls
        address: "{w.broker_web.address}"
        tls: {{server_name: broker.example, ca_file: {ca}}}
    contract:
      number: "Д-123/45"
      since: 2019-05-14
      customer: "Иванов Иван Иванович"
      customer_address: "101000, Москва, ул. Примерная, д. 1, кв. 1"
      customer_email: "ivanov@example.ru"
      account: "БС-0042"
      tariff: "Инвестор"
      fee: {{amount: 300, currency: RUB, per: month}}
    sla: {{availability: 99.5, period: month, restore_within: 72h}}
    compensation:
      - {{rule: sla.tiered, tiers: [[99.5, 10], [99.0, 25], [95.0, 100]], clause: "п. 7.2 регламента"}}
      - {{rule: contract.fee_waiver, months: 6, when: breach}}
    contacts:
      legal_name: "АО «Демо-Брокер»"
      claims_address: "123100, Москва, Пресненская наб., д. 0"
      claims_email: "claims@broker.example"
      emergency_phone: "+7 495 000-00-00"
    jurisdiction: RU
  - id: isp
    name: "Демо-Телеком"
    kind: isp
    targets:
      - {{name: resolver, kind: dns, address: "{w.isp_dns.address}", dns: {{query_name: isp.example}}}}
      - {{name: account, kind: http, address: "http://{w.isp_web.address}/"}}
    contract: {{number: "248393", fee: {{amount: 600, currency: RUB, per: month}}}}
    sla: {{restore_within: 72h}}
    jurisdiction: RU
  - id: bank
    name: "Демо-Банк"
    kind: bank
    targets:
      - name: online
        kind: http
        address: "https://{w.bank.address}/login"
        http: {{expect_text: "Вход", ca_file: {ca}}}
    sla: {{availability: 99.9}}
    jurisdiction: RU
ntp: {{servers: ["{w.ntp.address}"], interval: {max(5000, 10 * ms)}ms, timeout: 1s}}
web: {{listen: "127.0.0.1:{w.web_port}", refresh: 5s}}
notify: {{urls: ["{w.inbox.url}"], language: {language}, retry_min: 1s, retry_max: 5s, digest_at: null}}
"""


# ------------------------------------------------------------------------------------------- the script


@dataclass
class Narrator(Sink):
    """Collects the agent's outage notices (a real sink on the real fan-out) and prints the story."""

    name = "demo"
    started: float = 0.0
    out: Callable[[str], None] = print
    words: Phrasebook = field(default_factory=lambda: demo_words("en", ZoneInfo("UTC")))
    targets: int = 0  # how many the agent watches: "all 10 targets" instead of ten names
    notices: list[OutageNotice] = field(default_factory=list)

    async def on_outage(self, notice: OutageNotice) -> None:
        """Keep every opened and closed outage for the next summary."""
        self.notices.append(notice)

    def say(self, key: str, /, **values: Any) -> None:
        """The phrase ``key`` in the demo's language, stamped with seconds since the agent started."""
        seconds = self.words.fixed(time.monotonic() - self.started, 1)
        self.out(self.words("stamp", seconds=seconds, text=self.words(key, **values)))

    def report(self) -> None:
        """Print what the agent did since the last call, a line per kind of change."""
        taken, self.notices = self.notices, []
        w = self.words
        for event in ("opened", "closed"):
            mine = [n for n in taken if n.event == event]
            if not mine:
                continue
            keys = ", ".join(n.target.key for n in mine)
            if self.targets and len({n.target.key for n in mine}) == self.targets:
                keys = w("agent.all", targets=w.count(self.targets, "target"))
            line = mine[0].line
            if event == "opened":
                where = w(
                    "agent.where",
                    lan_up=line.lan_up,
                    lan_total=line.lan_total,
                    net_up=line.internet_up,
                    net_total=line.internet_total,
                )
                self.say("agent.opened", keys=keys, where=where)
            else:
                spans = sorted(n.outage.duration_ns() / NS for n in mine)
                shortest, longest = w.dur(spans[0]), w.dur(spans[-1])
                took = shortest if shortest == longest else w("agent.range", shortest=shortest, longest=longest)
                self.say("agent.closed", keys=keys, took=took)


@dataclass(frozen=True)
class Timing:
    """The script in check intervals: how long each stretch lasts."""

    interval_s: float
    warm: int = 5  # everything up, so every outage has a last success before it
    broker: int = 10  # the broker is down, the line is fine (3 failures confirm it, 2 successes end it)
    call_after: int = 4  # when the customer rings the broker's support
    between: int = 5
    local: int = 8  # the router (and with it everything) is down
    settle: int = 2  # providers answer again before the router does (see run_script)
    tail: int = 4

    def s(self, intervals: float) -> float:
        """Intervals → seconds."""
        return intervals * self.interval_s


async def run_script(world: World, config: Config, narrator: Narrator, timing: Timing, stop: asyncio.Event) -> None:
    """Play the two scenes against the running agent, then ask it to stop."""
    from watchdog.journal.contacts import add_contact
    from watchdog.journal.store import Journal

    t = timing
    await asyncio.sleep(t.s(t.warm))
    narrator.say("script.scene1")
    await world.trading.down()
    world.broker_web.failing = True
    await asyncio.sleep(t.s(t.call_after))
    narrator.report()

    def call() -> None:
        with Journal.open(config.journal_path) as journal:
            add_contact(
                journal,
                provider=PROVIDER,
                channel="phone",
                ref="INC-20417",
                note="Звонок в поддержку: торговая система недоступна; ответ — «проблема известна, сроков нет»",
            )

    await asyncio.to_thread(call)  # `watchdog contact add` does the same, alongside the running agent
    narrator.say("script.call", ticket="INC-20417")
    await asyncio.sleep(t.s(t.broker - t.call_after))
    await world.trading.up()
    world.broker_web.failing = False
    narrator.say("script.broker_back")
    await asyncio.sleep(t.s(t.between))
    narrator.report()
    narrator.say("script.scene2")
    for service in [*world.controls(), *world.providers()]:  # the controls first: no provider fails before them
        await service.down()
    await asyncio.sleep(t.s(t.local))
    narrator.report()
    # the providers answer a little before the controls, so none of them recovers after the line does; a
    # real line comes back all at once and its last sub-interval can fall to either side of the bounds
    for service in world.providers():
        await service.up()
    await asyncio.sleep(t.s(t.settle))
    for service in world.controls():
        await service.up()
    narrator.say("script.router_back")
    await asyncio.sleep(t.s(t.tail))
    narrator.report()
    stop.set()


# ----------------------------------------------------------------------------------------------- run


@dataclass(frozen=True)
class DemoResult:
    """Where everything went, for the summary and the tests."""

    out: Path
    config: Path
    journal: Path
    period: str
    files: dict[str, Path]
    pack_ok: bool
    journal_ok: bool
    figures: dict[str, Any]
    elapsed_s: float
    notifications: int = 0


def prepare(out: Path) -> None:
    """Make ``out`` empty for the demo: refuse a directory that holds anything the demo did not make."""
    if out.exists():
        if not out.is_dir():
            raise DemoError(f"{out} exists and is not a directory")
        if any(out.iterdir()) and not (out / MARKER).exists():
            raise DemoError(f"{out} is not empty and was not made by `watchdog demo`; choose another -o DIR")
        shutil.rmtree(out)
    out.mkdir(parents=True)
    (out / MARKER).write_text("made by `watchdog demo`; it clears this directory when run again\n", encoding="utf-8")


async def run_demo(
    out: Path, *, interval_s: float = 1.0, language: Lang = "en", say: Callable[[str], None] = print
) -> DemoResult:
    """Run the whole demo into ``out`` and return where everything is."""
    started = time.monotonic()
    prepare(out)
    work = out / ".work"
    work.mkdir()
    world, pki = await open_world(work)
    try:
        (out / "demo-ca.pem").write_bytes(pki.ca_pem)
        config_path = out / "watchdog.yaml"
        config_path.write_text(config_text(world, out, interval_s, language), encoding="utf-8")
        config_path.chmod(0o600)  # it holds the demo's notify URL: as a user's own config should be
        config = load(config_path, env={}, checks=(check_config,))
        words = demo_words(language, config.zone)
        _intro(world, words, say)
        narrator = Narrator(out=say, words=words, targets=len(config.targets))
        from watchdog.outputs import default_sink_factories

        agent = Agent(config, sink_factories=[*default_sink_factories(), lambda _ctx: narrator])
        running = asyncio.create_task(agent.run(), name="demo-agent")
        ready = asyncio.create_task(agent.handle.started.wait())
        await asyncio.wait({running, ready}, return_when=asyncio.FIRST_COMPLETED)
        if running.done():
            ready.cancel()
            await running  # it failed to start: say why
            raise DemoError("the agent stopped before it started")
        narrator.started = time.monotonic()
        narrator.say(
            "agent.started", targets=words.count(len(config.targets), "target"), interval=words.dur(interval_s)
        )
        script = asyncio.create_task(run_script(world, config, narrator, Timing(interval_s), agent.handle.stop))
        try:
            await running
        finally:
            script.cancel()
            await asyncio.gather(script, return_exceptions=True)
        narrator.say("agent.stopped")
    finally:
        await close_world(world)
        shutil.rmtree(work, ignore_errors=True)
    return await asyncio.to_thread(_documents, config, out, started, say, list(world.inbox.messages), words)


def _intro(world: World, words: Phrasebook, say: Callable[[str], None]) -> None:
    w = world
    say(words("intro.title"))
    say(words("intro.broker", host=w.trading.host, trading=w.trading.port, web=w.broker_web.port))
    say(words("intro.isp", host=w.isp_dns.host, dns=w.isp_dns.port, web=w.isp_web.port))
    say(words("intro.bank", host=w.bank.host, web=w.bank.port))
    anchors = ", ".join(a.address for a in w.anchors)
    say(words("intro.line", router=w.router.address, anchors=anchors, ntp=w.ntp.address))
    say(words("intro.page", url=f"http://127.0.0.1:{w.web_port}/"))


def _notifications(messages: list[tuple[int, dict[str, Any]]], config: Config, path: Path) -> None:
    """What the customer's phone received, in the order it came, with the local time it came."""
    from watchdog.timefmt import local_text

    lines = []
    for at_ns, payload in messages:
        lines.append(f"{local_text(at_ns, config.zone)}  [{payload.get('type', '')}] {payload.get('title', '')}")
        lines.extend(f"    {line}" for line in str(payload.get("message", "")).splitlines())
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")


def _documents(
    config: Config,
    out: Path,
    started: float,
    say: Callable[[str], None],
    messages: list[tuple[int, dict[str, Any]]] | None = None,
    words: Phrasebook | None = None,
) -> DemoResult:
    """Report, pack and letters from the journal the agent left, then both verifiers."""
    from watchdog.analysis.sla import current_period
    from watchdog.documents.claim import write_complaint
    from watchdog.documents.pack.build import build_pack
    from watchdog.documents.pack.verify import verify_pack
    from watchdog.documents.report import build_report, render, report_json
    from watchdog.journal.store import Journal
    from watchdog.journal.verify import verify_journal
    from watchdog.timefmt import to_datetime

    now = time.time_ns()
    zone = config.provider_zone(PROVIDER)
    period = current_period("month", now, zone).label
    sent_on = to_datetime(now, zone).date()
    files: dict[str, Path] = {}
    lang = config.agent.language  # the report and the pack's summary speak the page's language
    words = words or demo_words(lang, config.zone)
    with Journal.open(config.journal_path, create=False) as journal:
        journal.seal()
        report = build_report(journal, config, PROVIDER, period, now)
        for fmt, template in (("txt", "report.txt.j2"), ("html", "report.html.j2")):
            files[f"report.{fmt}"] = out / f"report-broker.{fmt}"
            files[f"report.{fmt}"].write_text(render(report, template, lang=lang), encoding="utf-8")
        pack = out / "evidence-broker.zip"
        build_pack(journal, config, PROVIDER, period, pack, now_ns=now, lang=lang)
        files["pack"] = pack
        for lang in ("ru", "en"):
            for suffix in ("md", "html", "pdf"):
                path = out / f"complaint-broker-{lang}.{suffix}"
                write_complaint(
                    config,
                    journal,
                    provider_id=PROVIDER,
                    period=period,
                    lang=lang,
                    sent_on=sent_on,
                    output=path,
                    now_ns=now,
                    pack=pack,
                )
                files[f"{lang}.{suffix}"] = path
    files["notifications"] = out / "notifications.txt"
    _notifications(messages or [], config, files["notifications"])
    pack_verdict = verify_pack(pack)
    journal_verdict = verify_journal(config.journal_path)
    data = report_json(report)
    result = DemoResult(
        out=out,
        config=out / "watchdog.yaml",
        journal=config.journal_path,
        period=period,
        files=files,
        pack_ok=pack_verdict.ok,
        journal_ok=journal_verdict.ok,
        figures=data["figures"],
        elapsed_s=time.monotonic() - started,
        notifications=len(messages or []),
    )
    _summary(result, data, pack_verdict.files, journal_verdict.rows, journal_verdict.blocks, say, words)
    return result


def _summary(
    r: DemoResult,
    data: dict[str, Any],
    pack_files: int,
    rows: int,
    blocks: int,
    say: Callable[[str], None],
    words: Phrasebook,
) -> None:
    w = words
    f = data["figures"]
    here = Path.cwd()

    def show(path: Path) -> Path:
        return path.relative_to(here) if path.is_relative_to(here) else path

    ok = {True: w("summary.ok"), False: w("summary.failed")}
    whole = f["counted_s"] + f["no_data_s"]
    over_month = 100 * (1 - f["downtime_s"] / whole) if whole else 100.0
    listing = [
        ("report-broker.txt, .html", w("summary.report", period=r.period)),
        (
            "evidence-broker.zip",
            w("summary.pack", verdict=ok[r.pack_ok], files=w.count(pack_files, "file")),
        ),
        ("complaint-broker-ru.pdf, .md, .html", w("summary.complaint_ru")),
        ("complaint-broker-en.pdf, .md, .html", w("summary.complaint_en")),
        (
            str(r.journal.relative_to(r.out.resolve())),
            w("summary.journal", verdict=ok[r.journal_ok], rows=w.count(rows, "row"), blocks=w.count(blocks, "block")),
        ),
        ("notifications.txt", w("summary.notifications", messages=w.count(r.notifications, "message"))),
        ("watchdog.yaml", w("summary.config")),
    ]
    width = max(len(name) for name, _ in listing) + 3
    say("")
    say(w("summary.done", elapsed=w.dur(round(r.elapsed_s)), out=show(r.out)))
    for name, what in listing:
        say(f"  {name.ljust(width)}{what}")
    say("")
    say(w("summary.looking"))
    say(
        "  "
        + w(
            "summary.scene1",
            incidents=w.count(f["counted_incidents"], "incident"),
            downtime=w.dur(f["downtime_s"]),
            quorum=data["method"]["quorum"],
        )
    )
    changing = w("summary.changing", inconclusive=w.dur(f["inconclusive_s"])) if f["inconclusive_s"] else ""
    say("  " + w("summary.scene2", line=w.dur(f["customer_line_s"]), changing=changing))
    say("  " + w("summary.letters"))
    say(
        "  "
        + w(
            "summary.month",
            counted=w.dur(f["counted_s"]),
            coverage=w.pct(f["coverage"] * 100),
            over_month=w.pct(over_month),
        )
    )
    say("")
    say(w("summary.next_report", config=show(r.config)))
    say(w("summary.next_serve", config=show(r.config)))
    say(w("summary.next_verify", pack=show(r.files["pack"]), journal=show(r.journal)))
