"""Issue 13 item 3: passwords in a target's URL, and a token echoed back by InfluxDB, are written nowhere.

One real HTTP server on loopback plays both the monitored service (it wants HTTP Basic credentials, which
the config gives in the URL: ``http://alice:PASSWORD@127.0.0.1:PORT/``) and an InfluxDB (or a proxy in
front of one) that refuses every write with an error body echoing the request's ``Authorization`` header.
The real agent runs against it with DEBUG logging; then every output a user, a pack or an advocate could
carry is searched for the two secrets: the agent's log, the journal files, ``check``, ``config check``,
``outages``, ``report --json``, the evidence pack (every entry), and the status page's JSON API.
Before the fix the URL's password reached the journal as "(redirected from http://alice:…@…)" although
nothing redirected.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from web_helpers import free_port

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "canary-url-pass-3e1f77"
TOKEN = "canary-echoed-token-b29c41"
GOOD_AUTH = "Basic " + base64.b64encode(f"alice:{PASSWORD}".encode()).decode()

pytestmark = pytest.mark.slow


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        if self.path.startswith("/ping"):  # InfluxDB 1.8 answers /ping like this
            self.send_response(204)
            self.send_header("X-Influxdb-Version", "1.8.10")
            self.end_headers()
            return
        ok = self.headers.get("Authorization") == GOOD_AUTH
        body = b"welcome" if ok else b"who are you?"
        self.send_response(200 if ok else 401)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        echoed = self.headers.get("Authorization", "")
        body = json.dumps({"error": f"unable to parse points; request had Authorization: {echoed}"}).encode()
        self.send_response(400)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def server() -> Iterator[int]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(httpd.server_address[1])
    finally:
        httpd.shutdown()
        httpd.server_close()


def _watchdog(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CANARY_TOKEN": TOKEN}
    return subprocess.run(
        [sys.executable, "-m", "watchdog", *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=120
    )


def test_url_credentials_and_an_echoed_token_appear_in_no_output(tmp_path: Path, server: int) -> None:
    web_port = free_port()
    config = tmp_path / "watchdog.yaml"
    config.write_text(
        f"""
agent: {{id: creds, timezone: Europe/Moscow, data_dir: "{tmp_path / "data"}"}}
defaults: {{interval: 1s, timeout: 900ms}}
controls:
  internet: [{{name: anchor, kind: tcp, address: "127.0.0.1:{server}"}}]
providers:
  - id: svc
    targets: [{{name: web, kind: http, address: "http://alice:{PASSWORD}@127.0.0.1:{server}/"}}]
influxdb: {{url: "http://127.0.0.1:{server}", org: home, bucket: watchdog, token: "${{CANARY_TOKEN}}", api: v2}}
web: {{listen: "127.0.0.1:{web_port}"}}
ntp: {{enabled: false}}
"""
    )
    config.chmod(0o600)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CANARY_TOKEN": TOKEN}
    agent = subprocess.Popen(
        [sys.executable, "-m", "watchdog", "run", "-c", str(config), "--for", "6s", "--log-level", "DEBUG"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    status = ""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not status:
        time.sleep(0.5)
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/api/v1/status", timeout=2) as answer:
                status = answer.read().decode()
        except OSError:
            continue
    log, _ = agent.communicate(timeout=60)
    assert agent.returncode == 0, log[-3000:]
    assert status, "the status page never answered"

    c = str(config)
    check = _watchdog("check", "-c", c, "--json", cwd=tmp_path)
    assert check.returncode == 0, check.stdout + check.stderr
    web = next(r for r in json.loads(check.stdout)["results"] if r["target"] == "svc/web")
    assert web["ok"] is True
    assert web["detail"] == f"HTTP 200 OK from http://***@127.0.0.1:{server}/"  # no phantom redirect
    outputs = {
        "agent log": log,
        "status API": status,
        "check --json": check.stdout + check.stderr,
        "config check": _watchdog("config", "check", "-c", c, cwd=tmp_path).stdout,
        "config check --json": _watchdog("config", "check", "-c", c, "--json", cwd=tmp_path).stdout,
        "outages --json": _watchdog("outages", "-c", c, "--json", "--controls", cwd=tmp_path).stdout,
        "report --json": _watchdog("report", "-c", c, "--provider", "svc", "--json", cwd=tmp_path).stdout,
    }
    assert "http://***@127.0.0.1" in outputs["config check"]
    pack = tmp_path / "pack.zip"
    made = _watchdog("evidence", "-c", c, "--provider", "svc", "-o", str(pack), cwd=tmp_path)
    assert made.returncode == 0, made.stdout + made.stderr
    outputs["evidence stdout"] = made.stdout + made.stderr
    with zipfile.ZipFile(pack) as zf:
        for info in zf.infolist():
            outputs[f"pack {info.filename}"] = zf.read(info).decode("utf-8", "replace")
    for path in sorted((tmp_path / "data").iterdir()):
        outputs[f"file {path.name}"] = path.read_bytes().decode("utf-8", "replace")
    assert "unable to parse points" in log  # the echoing server really was written to and refused
    for secret in (PASSWORD, TOKEN):
        for name, text in outputs.items():
            assert secret not in text, f"a secret appears in the {name}"
