"""Probe implementations, one module per protocol. REGISTRY maps a target's ``kind`` to its Probe."""

from __future__ import annotations

from probes import dns, http, icmp, speed, tcp, tls
from watchdog.probe import Probe

REGISTRY: dict[str, Probe] = {
    "icmp": Probe(icmp.IcmpOptions, icmp.probe_icmp, check_address=icmp.check_address, setup=icmp.setup_icmp),
    "tcp": Probe(tcp.TcpOptions, tcp.probe_tcp, check_address=tcp.check_address, advise=tcp.advise),
    "http": Probe(http.HttpOptions, http.probe_http, check_address=http.check_address, advise=http.advise),
    "dns": Probe(dns.DnsOptions, dns.probe_dns, check_address=dns.check_address),
    "tls": Probe(tls.TlsOptions, tls.probe_tls, check_address=tls.check_address),
    "speed": Probe(speed.SpeedOptions, speed.probe_speed, check_address=speed.check_address),
}

__all__ = ["REGISTRY"]
