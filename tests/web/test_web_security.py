"""The status page's guards: Host allowlist (DNS rebinding), token auth (Bearer and login cookie), headers."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient, TestServer
from web_helpers import TOKEN, script_config, write_script

from watchdog.config import loads
from watchdog.errors import ConfigError
from watchdog.timefmt import to_ns
from watchdog.web import JournalSource, StatusService, create_app
from watchdog.web.security import CSP, HostPolicy, session_value

ORIGIN = to_ns(dt.datetime(2026, 11, 20, tzinfo=ZoneInfo("Europe/Moscow")))
NOW = ORIGIN + 3630 * 1_000_000_000
PAGES = ["/", "/providers/broker", "/api/v1/status", "/api/v1/outages", "/api/v1/report?provider=broker", "/metrics"]


def make_app(tmp_path: Path, token: bool) -> Any:
    config = script_config(tmp_path / "data", extra=f"  token: {TOKEN}\n" if token else "")
    write_script(config, ORIGIN)
    return create_app(StatusService(JournalSource(config, clock=lambda: NOW), cache_s=0, clock=lambda: NOW))


@pytest.fixture
async def open_client(tmp_path: Path) -> AsyncIterator[TestClient[Any, Any]]:
    async with TestClient(TestServer(make_app(tmp_path, token=False))) as c:
        yield c


@pytest.fixture
async def locked(tmp_path: Path) -> AsyncIterator[TestClient[Any, Any]]:
    async with TestClient(TestServer(make_app(tmp_path, token=True))) as c:
        yield c


# ------------------------------------------------------------------------------------------------- Host


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("127.0.0.1:{port}", True),
        ("localhost:{port}", True),
        ("LOCALHOST:{port}", True),
        ("[::1]:{port}", True),
        ("127.0.0.2:{port}", True),  # all of 127/8 is this machine
        ("watchdog.home.lan", True),  # configured in web.hosts: any port (a reverse proxy may use its own)
        ("watchdog.home.lan:443", True),
        ("localhost:1", False),  # another port: not this server
        ("localhost", False),
        ("evil.example:{port}", False),  # DNS rebinding: the attacker's name resolving to 127.0.0.1
        ("evil.example", False),
        ("127.0.0.1.nip.io:{port}", False),
        ("watchdog.home.lan.evil.example", False),
        ("[::1", False),
        ("", False),
    ],
)
async def test_host_header(open_client: TestClient[Any, Any], host: str, allowed: bool) -> None:
    port = open_client.port
    for path in ("/", "/api/v1/status", "/healthz", "/static/style.css"):
        response = await open_client.get(path, headers={"Host": host.format(port=port)})
        body = await response.text()
        if allowed:
            assert response.status == 200, (path, body)
        else:
            assert response.status == 400, path
            assert body == (
                f"Host {host.format(port=port)!r} is not allowed here. If you reach the status page under this "
                "name, add it to web.hosts in the agent's config.\n"
            )
            assert response.headers["Content-Type"] == "text/plain; charset=utf-8"


def test_host_policy_for_a_lan_bind() -> None:
    policy = HostPolicy("192.168.1.10", ("nas.local:8443",))
    assert policy.allows("192.168.1.10:8080", 8080)
    assert not policy.allows("192.168.1.10:8081", 8080)
    assert policy.allows("nas.local:8443", 8080) and not policy.allows("nas.local:9000", 8080)
    assert not policy.allows("192.168.1.11:8080", 8080)
    assert not policy.allows(None, 8080)
    wildcard = HostPolicy("0.0.0.0")
    assert wildcard.allows("localhost:8080", 8080) and not wildcard.allows("0.0.0.0:8080", 8080)


# ------------------------------------------------------------------------------------------------- token


async def test_without_a_token_everything_is_401(locked: TestClient[Any, Any]) -> None:
    for path in PAGES:
        response = await locked.get(path)
        assert response.status == 401, path
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="outage-watchdog"'
        assert await response.json() == {"error": "unauthorized", "detail": "send Authorization: Bearer <web.token>"}
    wrong = await locked.get("/api/v1/status", headers={"Authorization": "Bearer " + TOKEN[:-1] + "X"})
    assert wrong.status == 401
    basic = await locked.get("/api/v1/status", headers={"Authorization": "Basic " + TOKEN})
    assert basic.status == 401
    page = await locked.get("/providers/broker", headers={"Accept": "text/html"})
    html = await page.text()
    assert page.status == 401 and '<form method="post" action="/login">' in html
    assert 'name="next" value="/providers/broker"' in html
    assert "ИТ Инвест" not in html and "Example Bank" not in html  # nothing about the customer before sign-in


async def test_bearer_token(locked: TestClient[Any, Any]) -> None:
    for path in PAGES:
        response = await locked.get(path, headers={"Authorization": f"Bearer {TOKEN}"})
        assert response.status == 200, path
        assert TOKEN not in await response.text()  # the token is a canary: never echoed


async def test_healthz_is_public_but_terse(locked: TestClient[Any, Any]) -> None:
    anonymous = await locked.get("/healthz")
    assert (anonymous.status, await anonymous.json()) == (200, {"ok": True})
    detailed = await (await locked.get("/healthz", headers={"Authorization": f"Bearer {TOKEN}"})).json()
    assert detailed["mode"] == "journal" and detailed["problems"] == []


async def test_login_sets_a_cookie_that_is_not_the_token(locked: TestClient[Any, Any]) -> None:
    origin = {"Origin": f"http://127.0.0.1:{locked.port}"}
    wrong = await locked.post("/login", data={"token": "nope", "next": "/"}, headers=origin, allow_redirects=False)
    assert wrong.status == 401 and "Wrong token." in await wrong.text()
    ok = await locked.post(
        "/login", data={"token": TOKEN, "next": "/providers/broker"}, headers=origin, allow_redirects=False
    )
    assert ok.status == 303 and ok.headers["Location"] == "/providers/broker"
    cookie = ok.headers["Set-Cookie"]
    assert cookie.startswith(f"owd_session={session_value(TOKEN)};")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    assert TOKEN not in cookie
    page = await locked.get("/providers/broker")
    assert page.status == 200 and "ИТ Инвест" in await page.text()
    out = await locked.post("/logout", headers=origin, allow_redirects=False)
    assert out.status == 303
    locked.session.cookie_jar.clear()
    assert (await locked.get("/api/v1/status")).status == 401


async def test_login_refuses_other_origins_and_open_redirects(locked: TestClient[Any, Any]) -> None:
    cross = await locked.post(
        "/login", data={"token": TOKEN}, headers={"Origin": "http://evil.example"}, allow_redirects=False
    )
    assert cross.status == 403 and "Set-Cookie" not in cross.headers
    bounce = await locked.post(
        "/login",
        data={"token": TOKEN, "next": "//evil.example/x"},
        headers={"Origin": f"http://127.0.0.1:{locked.port}"},
        allow_redirects=False,
    )
    assert bounce.status == 303 and bounce.headers["Location"] == "/"


async def test_login_is_throttled(locked: TestClient[Any, Any]) -> None:
    statuses = [
        (await locked.post("/login", data={"token": f"guess-{i}"}, allow_redirects=False)).status for i in range(11)
    ]
    assert statuses == [401] * 10 + [429]
    right = await locked.post("/login", data={"token": TOKEN}, allow_redirects=False)
    assert right.status == 303  # the right token is never refused: a guesser cannot lock the owner out


async def test_nothing_can_be_changed(open_client: TestClient[Any, Any]) -> None:
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        response = await open_client.request(method, "/api/v1/status")
        assert response.status == 405, method


# ------------------------------------------------------------------------------------------------- headers


async def test_security_headers_on_every_response(open_client: TestClient[Any, Any]) -> None:
    port = open_client.port
    cases = [("/", {}), ("/api/v1/status", {}), ("/static/app.js", {}), ("/nope", {}), ("/", {"Host": "evil.example"})]
    for path, headers in cases:
        response = await open_client.get(path, headers={"Host": f"127.0.0.1:{port}", **headers})
        assert response.headers["Content-Security-Policy"] == CSP, path
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert response.headers["X-Frame-Options"] == "DENY"
    assert "script-src 'self';" in CSP and "unsafe-inline" not in CSP
    html = await (await open_client.get("/")).text()
    assert "<script>" not in html and " style=" not in html and "onclick" not in html  # nothing inline for the CSP
    assert re.findall(r'(?:src|href)="([^"]+)"', html) and not re.findall(r'(?:src|href)="(?:https?:)?//', html)
    assert sorted(set(re.findall(r'(?:src)="([^"?]+)', html))) == ["/static/app.js"]  # no CDN: works offline


# ------------------------------------------------------------------------------------------------- config


def check(yaml_text: str) -> list[str]:
    try:
        loads(yaml_text, filename="watchdog.yaml", env={"TOKEN": TOKEN})
    except ConfigError as exc:
        return exc.problems
    return []


def test_config_rules() -> None:
    assert check('web: {listen: "127.0.0.1:8080"}') == []
    assert check('web: {listen: "[::1]:8080"}') == []
    assert check('web: {listen: "localhost:0"}') == []
    assert check('web: {listen: "0.0.0.0:8080", token: "${TOKEN}"}') == []
    assert check('agent: {id: x}\nweb:\n  enabled: true\n  listen: "0.0.0.0:8080"\n') == [
        "watchdog.yaml:4: web.listen: 0.0.0.0 is reachable from other machines, so the status page needs a valid "
        "token: set web.token (e.g. token: ${WATCHDOG_WEB_TOKEN}) or listen on 127.0.0.1"
    ]
    assert check('web: {listen: "192.168.1.10:80", token: short}') == [
        "watchdog.yaml:1: web.token: too short: use at least 16 random non-blank characters "
        "(e.g. from: openssl rand -hex 16)",
        "watchdog.yaml:1: web.listen: 192.168.1.10 is reachable from other machines, so the status page needs a "
        "valid token: set web.token (e.g. token: ${WATCHDOG_WEB_TOKEN}) or listen on 127.0.0.1",
    ]
    assert check('web: {listen: "8080"}') == [
        "watchdog.yaml:1: web.listen: expected host:port like 127.0.0.1:8080 or [::1]:8080, got '8080'"
    ]
    assert check('web: {listen: "127.0.0.1:70000"}') == [
        "watchdog.yaml:1: web.listen: port 70000 is out of range (0-65535)"
    ]
    assert check('web: {hosts: ["http://x"]}') == [
        "watchdog.yaml:1: web.hosts: expected a host name or address (optionally with :port), got 'http://x'"
    ]
    assert check("web: {refresh: 1s}") == ["watchdog.yaml:1: web.refresh: refresh 1s is shorter than 5s"]
