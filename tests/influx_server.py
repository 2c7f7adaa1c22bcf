"""A real InfluxDB 1.x (Debian's ``influxd``) for tests and benchmarks, on loopback ports only.

Each instance gets its own meta/data/wal directories and a config that binds the HTTP API and the RPC
service to 127.0.0.1 on free ports, with reporting, the monitor store, UDP, Graphite, collectd and
OpenTSDB all off. It can be stopped and started again on the same port and data (the fault tests).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from web_helpers import free_port

INFLUXD = shutil.which("influxd") or "/usr/bin/influxd"


def available() -> bool:
    """True when the influxd binary is installed (scripts/debian-packages.txt has ``influxdb``)."""
    return Path(INFLUXD).exists()


class InfluxServer:
    """One influxd process with its own directory; ``url`` is ``http://127.0.0.1:<port>``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.rpc_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        root.mkdir(parents=True, exist_ok=True)
        self.conf = root / "influxdb.conf"
        self.log = root / "influxd.log"
        self.conf.write_text(
            f"""
reporting-disabled = true
bind-address = "127.0.0.1:{self.rpc_port}"

[meta]
  dir = "{root / "meta"}"
  logging-enabled = false

[data]
  dir = "{root / "data"}"
  wal-dir = "{root / "wal"}"
  query-log-enabled = false
  trace-logging-enabled = false

[monitor]
  store-enabled = false

[http]
  enabled = true
  bind-address = "127.0.0.1:{self.port}"
  auth-enabled = false
  log-enabled = false
  pprof-enabled = false

[logging]
  level = "error"
  suppress-logo = true

[continuous_queries]
  enabled = false

[subscriber]
  enabled = false

[ifql]
  enabled = false

[[graphite]]
  enabled = false

[[collectd]]
  enabled = false

[[opentsdb]]
  enabled = false

[[udp]]
  enabled = false
""",
            encoding="utf-8",
        )

    @property
    def url(self) -> str:
        """The HTTP API."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 30.0) -> None:
        """Start influxd and wait until ``/ping`` answers."""
        log = self.log.open("ab")
        self.proc = subprocess.Popen([INFLUXD, "-config", str(self.conf)], stdout=log, stderr=log)
        log.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"influxd exited with {self.proc.returncode}: {self.log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/ping", timeout=1) as resp:
                    if resp.status == 204:
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("influxd did not answer /ping in time")

    def stop(self) -> None:
        """Stop influxd (SIGTERM, then SIGKILL) and wait for it."""
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None

    def query(self, q: str, db: str | None = None, *, epoch: str = "ns") -> list[dict[str, Any]]:
        """Run InfluxQL; return the ``series`` of the first statement (raises on an error)."""
        params = {"q": q, "epoch": epoch}
        if db:
            params["db"] = db
        data = urllib.parse.urlencode(params).encode()
        with urllib.request.urlopen(f"{self.url}/query", data=data, timeout=30) as resp:
            body = json.loads(resp.read())
        result = body["results"][0]
        if "error" in result:
            raise RuntimeError(f"InfluxQL error for {q!r}: {result['error']}")
        return list(result.get("series", []))

    def rows(self, q: str, db: str) -> list[dict[str, Any]]:
        """InfluxQL → one dict per row (columns plus the series' tags)."""
        out = []
        for series in self.query(q, db):
            tags = series.get("tags", {})
            for values in series["values"]:
                out.append({**tags, **dict(zip(series["columns"], values, strict=True))})
        return out

    def write(self, db: str, text: str) -> None:
        """Write line protocol (ns) through the 1.x endpoint; raises on anything but 204."""
        url = f"{self.url}/write?" + urllib.parse.urlencode({"db": db, "precision": "ns"})
        with urllib.request.urlopen(urllib.request.Request(url, data=text.encode(), method="POST"), timeout=30) as r:
            if r.status != 204:
                raise RuntimeError(f"write answered {r.status}")

    def create_database(self, db: str) -> None:
        """``CREATE DATABASE``."""
        self.query(f'CREATE DATABASE "{db}"')
