"""The zero-config start: what this machine already tells us, turned into a commented config.

With no ``watchdog.yaml`` the agent watches the one thing every user has, their own internet line:

* the LAN control is the default gateway, read from ``/proc/net/route`` (else ``/proc/net/ipv6_route``);
  ICMP when this process may open ICMP sockets, else TCP to the router's DNS port;
* the internet controls are well-known public resolvers run by three different operators, reached over
  TCP port 53 (``WATCHDOG_ANCHORS`` or ``watchdog init --anchor`` replaces them), quorum a majority;
* the provider is the ISP: name lookups through the resolvers in ``/etc/resolv.conf``. For an ISP,
  a failure while the router answers is the ISP's (its DNS or its line); a loopback stub resolver is
  skipped, because a local daemon failing is the customer's side, not the ISP's.

:func:`render` writes the same config as commented YAML: the built-in default is that text loaded with
:func:`~watchdog.config.loader.loads` (no file naming a company), and ``watchdog init`` writes it to disk
with the user's broker or bank added. Nothing here runs a command or sends a packet.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from watchdog.config.loader import DEFAULT_CONFIG_NAMES, ConfigCheck, loads
from watchdog.config.models import Config

BUILTIN_NAME = "<built-in default>"
"""The file name the built-in default's messages carry (it has no file)."""

ANCHORS_ENV = "WATCHDOG_ANCHORS"
NTP_ENV = "WATCHDOG_NTP"

DEFAULT_ANCHORS: tuple[tuple[str, str], ...] = (
    ("cloudflare-dns", "1.1.1.1:53"),
    ("google-dns", "8.8.8.8:53"),
    ("quad9-dns", "9.9.9.9:53"),
)
"""Public resolvers of three operators on different networks: TCP port 53 answers without privileges."""

LOOKUP_NAME = "example.com"
"""The name the ISP's resolvers are asked for (reserved by IANA for this, resolvable for good)."""

_RTF_GATEWAY = 0x0002
_HOST_RE = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass(frozen=True, slots=True)
class Anchor:
    """An internet control: a name and a ``host:port`` reached over TCP."""

    name: str
    address: str


@dataclass(frozen=True, slots=True)
class NewTarget:
    """A target of a provider that ``watchdog init`` adds."""

    name: str
    kind: str  # tcp | http
    address: str


@dataclass(frozen=True, slots=True)
class NewProvider:
    """The broker, bank or other service ``watchdog init`` adds to the ISP line."""

    id: str
    name: str
    kind: str
    targets: tuple[NewTarget, ...]


@dataclass(frozen=True, slots=True)
class Discovery:
    """What this machine says about itself, and where each piece came from."""

    agent_id: str
    timezone: str
    gateway: str | None  # an IP literal (an IPv6 link-local one with its %interface)
    icmp: bool  # this process may open ICMP sockets
    anchors: tuple[Anchor, ...]
    anchors_from: str  # "built-in" | "WATCHDOG_ANCHORS" | "--anchor"
    resolvers: tuple[str, ...]  # usable (not loopback) resolvers from resolv.conf
    ntp: tuple[str, ...] | None = None  # None: the config's default servers; () = off
    skipped_resolvers: tuple[str, ...] = field(default=())  # loopback stubs left out

    @property
    def lan_kind(self) -> str:
        """How the router is probed."""
        return "icmp" if self.icmp else "tcp"

    @property
    def lan_address(self) -> str | None:
        """The router as a target address (TCP: its DNS port)."""
        if self.gateway is None:
            return None
        if self.icmp:
            return self.gateway
        return f"[{self.gateway}]:53" if ":" in self.gateway else f"{self.gateway}:53"

    @property
    def quorum(self) -> int:
        """A majority of the anchors."""
        return len(self.anchors) // 2 + 1


# ------------------------------------------------------------------------------------------ discovery


def parse_ipv4_routes(text: str) -> list[str]:
    """Default gateways in ``/proc/net/route`` (lowest metric first)."""
    found: list[tuple[int, str]] = []
    for line in text.splitlines()[1:]:
        cols = line.split()
        if len(cols) < 8:
            continue
        try:
            dest, gateway, flags = int(cols[1], 16), int(cols[2], 16), int(cols[3], 16)
            metric, mask = int(cols[6]), int(cols[7], 16)
        except ValueError:
            continue
        if dest == 0 and mask == 0 and flags & _RTF_GATEWAY and gateway:
            address = str(ipaddress.IPv4Address(gateway.to_bytes(4, "little")))
            found.append((metric, address))
    return [address for _, address in sorted(found, key=lambda item: item[0])]


def parse_ipv6_routes(text: str) -> list[str]:
    """Default gateways in ``/proc/net/ipv6_route`` (lowest metric first; link-local ones with %interface)."""
    found: list[tuple[int, str]] = []
    for line in text.splitlines():
        cols = line.split()
        if len(cols) < 10:
            continue
        dest, plen, hop, metric_hex, iface = cols[0], cols[1], cols[4], cols[5], cols[9]
        try:
            if int(dest, 16) or int(plen, 16) or not int(hop, 16):
                continue
            address = ipaddress.IPv6Address(bytes.fromhex(hop))
            metric = int(metric_hex, 16)
        except ValueError:
            continue
        text_address = f"{address}%{iface}" if address.is_link_local else str(address)
        found.append((metric, text_address))
    return [address for _, address in sorted(found, key=lambda item: item[0])]


def parse_resolv_conf(text: str) -> tuple[list[str], list[str]]:
    """Nameservers in ``resolv.conf``: (usable, loopback stubs)."""
    usable: list[str] = []
    loopback: list[str] = []
    for line in text.splitlines():
        cols = line.split("#", 1)[0].split(";", 1)[0].split()
        if len(cols) < 2 or cols[0] != "nameserver":
            continue
        try:
            address = ipaddress.ip_address(cols[1].split("%", 1)[0])
        except ValueError:
            continue
        if address.is_loopback:
            loopback.append(str(address))
        elif not (isinstance(address, ipaddress.IPv6Address) and address.is_link_local):
            usable.append(str(address))
    return usable, loopback


def zone_name(env: Mapping[str, str], root: Path) -> str:
    """The system's zone: ``TZ``, else where ``/etc/localtime`` points, else ``/etc/timezone``, else UTC."""
    candidates: list[str] = []
    tz = env.get("TZ", "").lstrip(":")
    if tz:
        candidates.append(tz)
    try:
        candidates.append(os.readlink(root / "etc" / "localtime"))
    except OSError:
        pass
    try:
        candidates.append((root / "etc" / "timezone").read_text(encoding="utf-8").strip())
    except (OSError, UnicodeDecodeError):
        pass
    for candidate in candidates:
        name = candidate.split("zoneinfo/", 1)[-1]
        for prefix in ("posix/", "right/"):
            name = name.removeprefix(prefix)
        if not name or name.startswith(("/", ".")) or name == "localtime":
            continue
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            continue
        return name
    return "UTC"


def agent_name(hostname: str) -> str:
    """An agent id from the host name: its first label, in the characters an id may hold."""
    label = _HOST_RE.sub("-", hostname.split(".", 1)[0]).strip("-._")[:63]
    return label if label and label[0].isalnum() else "home"


def icmp_permitted() -> bool:
    """True when this process may open a raw or an unprivileged ICMP socket (opening sends nothing)."""
    for kind in (socket.SOCK_RAW, socket.SOCK_DGRAM):
        try:
            socket.socket(socket.AF_INET, kind, socket.IPPROTO_ICMP).close()
        except OSError:
            continue
        return True
    return False


def parse_anchors(text: str, source: str) -> tuple[Anchor, ...]:
    """``host:port`` entries separated by commas or spaces; ValueError names the bad one."""
    anchors: list[Anchor] = []
    for i, item in enumerate(re.split(r"[,\s]+", text.strip()), start=1):
        if not item:
            continue
        host, _, port = item.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{source}: {item!r} is not host:port (e.g. 1.1.1.1:53)")
        anchors.append(Anchor(f"anchor{i}", item))
    if not anchors:
        raise ValueError(f"{source}: no anchors given")
    return tuple(anchors)


def parse_ntp(text: str) -> tuple[str, ...]:
    """``off`` or servers separated by commas or spaces."""
    if text.strip().lower() in ("off", "none", "false", "0"):
        return ()
    return tuple(s for s in re.split(r"[,\s]+", text.strip()) if s)


def discover(
    env: Mapping[str, str] | None = None,
    *,
    root: Path = Path("/"),
    anchors: Sequence[str] = (),
    icmp: bool | None = None,
    hostname: str | None = None,
) -> Discovery:
    """Read the routing table, resolv.conf, the zone and the host name (``anchors``: ``--anchor`` values).

    ValueError for a malformed ``WATCHDOG_ANCHORS`` / ``--anchor`` / ``WATCHDOG_NTP``.
    """
    env = os.environ if env is None else env

    def read(*parts: str) -> str:
        try:
            return root.joinpath(*parts).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    gateways = parse_ipv4_routes(read("proc", "net", "route")) or parse_ipv6_routes(read("proc", "net", "ipv6_route"))
    usable, loopback = parse_resolv_conf(read("etc", "resolv.conf"))
    if anchors:
        found, source = parse_anchors(" ".join(anchors), "--anchor"), "--anchor"
    elif env.get(ANCHORS_ENV, "").strip():
        found, source = parse_anchors(env[ANCHORS_ENV], ANCHORS_ENV), ANCHORS_ENV
    else:
        found, source = tuple(Anchor(n, a) for n, a in DEFAULT_ANCHORS), "built-in"
    ntp = parse_ntp(env[NTP_ENV]) if env.get(NTP_ENV, "").strip() else None
    return Discovery(
        agent_id=agent_name(socket.gethostname() if hostname is None else hostname),
        timezone=zone_name(env, root),
        gateway=gateways[0] if gateways else None,
        icmp=icmp_permitted() if icmp is None else icmp,
        anchors=found,
        anchors_from=source,
        resolvers=tuple(usable[:2]),
        ntp=ntp,
        skipped_resolvers=tuple(loopback),
    )


def user_config_path(cwd: Path | None = None) -> Path | None:
    """``./watchdog.yaml`` when it exists (else the built-in default applies)."""
    for name in DEFAULT_CONFIG_NAMES:
        path = Path(name) if cwd is None else cwd / name
        if path.exists():
            return path
    return None


# ------------------------------------------------------------------------------------------ rendering


def _q(text: str) -> str:
    """A YAML double-quoted scalar that the loader reads back as ``text`` (``$`` doubled: no ``${VAR}``)."""
    return json.dumps(text.replace("$", "$$"), ensure_ascii=False)


def _dns_address(resolver: str) -> str:
    return f"[{resolver}]:53" if ":" in resolver else resolver


def isp_targets(found: Discovery) -> list[str]:
    """The ISP's target lines (YAML list items) and why each is there."""
    lines: list[str] = []
    if found.resolvers:
        for i, resolver in enumerate(found.resolvers, start=1):
            lines.append(f"      # name lookups through {resolver}, a resolver from /etc/resolv.conf")
            lines.append(
                f"      - {{name: dns{i}, kind: dns, address: {_q(_dns_address(resolver))}, "
                f"dns: {{query_name: {LOOKUP_NAME}, query_type: A}}}}"
            )
    else:
        anchor = found.anchors[0]
        host = anchor.address.rpartition(":")[0]
        lines.append("      # no resolver outside this machine in /etc/resolv.conf: name lookups across the ISP's")
        lines.append(f"      # network, asked of the first anchor ({host})")
        lines.append(
            f"      - {{name: dns1, kind: dns, address: {_q(host)}, dns: {{query_name: {LOOKUP_NAME}, query_type: A}}}}"
        )
    return lines


def render(found: Discovery, provider: NewProvider | None = None, *, origin: str = "watchdog init") -> str:
    """The config as commented YAML: the ISP line, plus ``provider`` when given."""
    out = [
        f"# Outage Watchdog — written by {origin} from what this machine reports.",
        "# Every key, with what it does: config/example.yaml. Check edits without probing: watchdog config check",
        "# Durations: 500ms, 10s, 5m, 72h. ${VAR} is read from the environment ($$ is a literal $).",
        "",
        "agent:",
        f"  id: {_q(found.agent_id)}  # this vantage point's name (from the host name)",
        f"  timezone: {_q(found.timezone)}  # from the system (TZ, /etc/localtime), else UTC",
        "  data_dir: ./data               # the journal lives here, relative to the working directory",
        "",
        "defaults:",
        "  interval: 30s                  # probe every target every 30 s",
        "  timeout: 5s",
        "  failure_threshold: 3           # failures in a row that open an outage",
        "  success_threshold: 2           # successes in a row that close it",
        "",
        "controls:                       # they prove whether YOUR line worked while a provider failed",
    ]
    if found.gateway is None:
        out += ["  lan: []                        # no default route in /proc/net/route: add your router here"]
    else:
        how = (
            "ICMP echo"
            if found.icmp
            else "TCP to its DNS port (ICMP is not permitted to this process; kind: icmp needs CAP_NET_RAW)"
        )
        out += [
            f"  lan:                           # your router, the default gateway in the routing table: {how}",
            f"    - {{name: gateway, kind: {found.lan_kind}, address: {_q(found.lan_address or '')}}}",
        ]
    where = {
        "built-in": "public resolvers of three operators",
        ANCHORS_ENV: f"from {ANCHORS_ENV}",
        "--anchor": "from watchdog init --anchor",
    }[found.anchors_from]
    out += [f"  internet:                      # anchors on other networks, {where} (TCP connect)"]
    out += [f"    - {{name: {a.name}, kind: tcp, address: {_q(a.address)}}}" for a in found.anchors]
    out += [
        f"  quorum: {found.quorum}                      # anchors that must answer to call your line working",
        "",
        "providers:",
        "  - id: isp",
        '    name: "ISP"                  # your internet provider: put its name here for reports and letters',
        '    kind: isp                    # for an ISP, "no internet while your router answers" is its outage',
        "    targets:",
        *isp_targets(found),
        '    # contract: {number: "…", fee: {amount: 600, currency: RUB, per: month}}',
        "    # sla: {restore_within: 72h}",
    ]
    if provider is not None:
        out += [
            "",
            f"  - id: {provider.id}",
            f"    name: {_q(provider.name)}",
            f"    kind: {provider.kind}",
            "    targets:",
        ]
        for target in provider.targets:
            out.append(f"      - {{name: {target.name}, kind: {target.kind}, address: {_q(target.address)}}}")
        out += [
            '    # service_hours: {days: Mon-Fri, from: "07:00", to: "23:50"}',
            '    # contract: {number: "…", since: 2020-01-01, fee: {amount: 300, currency: RUB, per: month}}',
            "    # sla: {availability: 99.5, period: month, restore_within: 72h}",
            '    # contacts: {legal_name: "…", claims_email: "…"}',
            "    # jurisdiction: RU",
        ]
    out.append("")
    if found.ntp is None:
        out.append("ntp: {enabled: true}             # the clock is measured against pool.ntp.org (reports state it)")
    elif found.ntp:
        servers = ", ".join(_q(s) for s in found.ntp)
        out.append(f"ntp: {{servers: [{servers}], enabled: true}}   # from {NTP_ENV}")
    else:
        out.append(f"ntp: {{enabled: false}}            # off ({NTP_ENV}=off)")
    out += [
        "",
        '# notify: {urls: ["${TELEGRAM_URL}"]}  # Apprise URLs for messages (keep secrets in the environment)',
        'web: {listen: "127.0.0.1:8080"}  # the status page, on this machine only',
        "",
    ]
    return "\n".join(out)


def builtin_config(found: Discovery, checks: Sequence[ConfigCheck] = ()) -> Config:
    """The built-in default: :func:`render` loaded as if it were a file named :data:`BUILTIN_NAME`."""
    return loads(render(found, origin="the built-in default"), filename=BUILTIN_NAME, env={}, checks=checks)


def describe(found: Discovery) -> list[str]:
    """What the built-in default watches, in lines for the console."""
    lines = ["No watchdog.yaml here: watching your own internet line with the built-in default."]
    if found.gateway is None:
        lines.append("  your router: no default route in /proc/net/route, so no LAN control")
    else:
        how = "ping" if found.icmp else "TCP port 53 (ping is not permitted to this process)"
        lines.append(f"  your router (default gateway): {found.gateway}, by {how}")
    anchors = ", ".join(a.address for a in found.anchors)
    source = "" if found.anchors_from == "built-in" else f" (from {found.anchors_from})"
    lines.append(f"  internet anchors{source}: {anchors}; your line works while {found.quorum} answer")
    if found.resolvers:
        lines.append(f"  your ISP: name lookups through {', '.join(found.resolvers)} (from /etc/resolv.conf)")
    else:
        host = found.anchors[0].address.rpartition(":")[0]
        lines.append(f"  your ISP: name lookups across its network, asked of {host}")
    return lines
