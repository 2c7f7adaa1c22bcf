"""HTTP requests and conditions (issue 18 item 2) against a real aiohttp JSON API on 127.0.0.1.

The API's state flips between the tests' steps (up → 200 with {"status": "maintenance"} → 503), the way
a bank's API that answers 200 while down would; every state must come out as the right result kind with
each failed condition named.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from probe_servers import make_target, probe
from pydantic import ValidationError
from speaking_servers import TOKEN, Api, start_api

from probes.conditions import parse_condition
from probes.http import HttpOptions
from watchdog.config import loads
from watchdog.errors import ConfigError
from watchdog.model import FailureKind
from watchdog.probe import ProbeContext


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    state, runner = await start_api()
    yield state
    await runner.cleanup()


CONDITIONS = [
    "[STATUS] == 200",
    "[HEADER].Content-Type ~= ^application/json",
    "[RESPONSE_TIME] < 500",
    "[BODY].status == UP",
    "[BODY].account.balance > 100",
]


def options(**extra: Any) -> dict[str, Any]:
    return {
        "method": "POST",
        "body": '{"account": "main"}',
        "headers": {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        "conditions": CONDITIONS,
        "metrics": {"balance": "[BODY].accounts[?(@.id == 'main')].balance"},
        **extra,
    }


async def test_status_flips_each_state_named(ctx: ProbeContext, api: Api, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    url = f"{api.base}/v1/health"
    target = make_target("http", url, **options())
    up = await probe(ctx, target)
    assert (up.ok, up.failure) == (True, None), up.detail
    assert up.detail == f"HTTP 200 OK from {url}; 5 conditions met; balance=180.5"
    assert up.metrics == {"status_code": 200, "body_bytes": up.metrics["body_bytes"], "balance": 180.5}
    method, path, headers, body = api.requests[-1]
    assert (method, path, json.loads(body), headers["Authorization"]) == (
        "POST",
        "/v1/health",
        {"account": "main"},
        f"Bearer {TOKEN}",
    )

    api.state.update(status="maintenance", balance="42")  # 200, but not up
    maint = await probe(ctx, target)
    assert (maint.ok, maint.failure) == (False, FailureKind.UNEXPECTED)
    assert maint.detail == (
        f"HTTP 200 from {url}: 2 of 5 conditions failed: [BODY].status == UP (got 'maintenance'); "
        "[BODY].account.balance > 100 (got '42')"
    )
    assert maint.metrics["balance"] == 42.0  # recorded on failure too

    api.state.update(http=503, status="DOWN")
    down = await probe(ctx, target)
    assert down.detail == (
        f"HTTP 503 from {url}: 3 of 5 conditions failed: [STATUS] == 200 (got 503); [BODY].status == UP (got 'DOWN'); "
        "[BODY].account.balance > 100 (got '42')"
    )

    api.state.update(http=200, status="UP", balance="900")
    api.delay_s = 0.6
    slow = await probe(ctx, target)
    assert slow.failure is FailureKind.UNEXPECTED
    assert slow.detail.startswith(f"HTTP 200 from {url}: 1 of 5 conditions failed: [RESPONSE_TIME] < 500 (got 6")

    assert all(TOKEN not in r.detail for r in (up, maint, down, slow))
    assert TOKEN not in caplog.text


async def test_missing_values_and_a_body_that_is_not_json(ctx: ProbeContext, api: Api) -> None:
    url = f"{api.base}/v1/health"
    conditions = ["[BODY].nothing.here == 1", "[HEADER].X-Missing == 1", "[HEADER].X-Api-Version == 2.7"]
    result = await probe(ctx, make_target("http", url, **options(conditions=conditions)))
    assert result.detail == (
        f"HTTP 200 from {url}: 2 of 3 conditions failed: [BODY].nothing.here == 1 (not found); "
        "[HEADER].X-Missing == 1 (no such header)"
    )
    text = await probe(ctx, make_target("http", url, conditions=["[BODY].status == UP", '[BODY] ~= "unauth"']))
    # no [STATUS] condition: the default 200-399 rule fails first and the detail says only that
    assert (text.failure, text.detail) == (FailureKind.UNEXPECTED, f"HTTP 401 Unauthorized from {url}")


async def test_put_with_a_body_and_regular_expressions_on_the_body(ctx: ProbeContext, api: Api) -> None:
    """PUT carries its body; ``~=`` and ``!~`` search the body text, and a failed one is named."""
    url = f"{api.base}/v1/state"
    target = make_target(
        "http",
        url,
        method="PUT",
        body="ping",
        headers={"Authorization": f"Bearer {TOKEN}"},
        conditions=['[BODY] ~= "status": "UP"', "[BODY] !~ maintenance"],
    )
    up = await probe(ctx, target)
    assert (up.ok, up.detail) == (True, f"HTTP 200 OK from {url}; 2 conditions met")
    assert [(m, p, b) for m, p, _h, b in api.requests] == [("PUT", "/v1/state", b"ping")]
    api.state.update(status="maintenance")
    down = await probe(ctx, target)
    got = """(got '{"status": "maintenance", "account": {"…')"""
    assert (down.failure, down.detail) == (
        FailureKind.UNEXPECTED,
        f'HTTP 200 from {url}: 2 of 2 conditions failed: [BODY] ~= "status": "UP" {got}; [BODY] !~ maintenance {got}',
    )


async def test_default_status_rule_holds_without_a_status_condition(ctx: ProbeContext, api: Api) -> None:
    url = f"{api.base}/v1/health"
    result = await probe(ctx, make_target("http", url, conditions=["[BODY].error == unauthorised"]))
    assert (result.failure, result.detail) == (FailureKind.UNEXPECTED, f"HTTP 401 Unauthorized from {url}")
    judged = await probe(ctx, make_target("http", url, conditions=["[STATUS] == 401", "[BODY].error == unauthorised"]))
    assert (judged.ok, judged.detail) == (True, f"HTTP 401 Unauthorized from {url}; 2 conditions met")


PAGE = """<!doctype html><html><body><h1>Личный кабинет</h1>
<div class="acct">Лицевой счёт 248393</div>
<div class="balance">Баланс: <b>{balance}</b> ₽</div>
<p>Тариф «Домашний 100», 600 ₽/мес.</p></body></html>"""


async def test_a_personal_account_page_whose_balance_drops(ctx: ProbeContext) -> None:
    """An HTML account page (no API): ``[BODY] ~= pattern`` reads the balance from its first group."""
    shown = {"balance": "1 234,50", "cookie": ""}

    async def cabinet(request: web.Request) -> web.Response:
        shown["cookie"] = request.headers.get("Cookie", "")
        return web.Response(text=PAGE.format(balance=shown["balance"]), content_type="text/html")

    app = web.Application()
    app.router.add_get("/lk", cabinet)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/lk"  # type: ignore[union-attr]
    target = make_target(
        "http",
        url,
        headers={"Cookie": f"session={TOKEN}"},
        conditions=["[STATUS] == 200", "[BODY] ~= Лицевой счёт 248393"],
        metrics={"balance": r'[BODY] ~= "Баланс:\s*<b>([-\d ,.]+)</b>"', "bonus": r"[BODY] ~= Бонусы: (\d+)"},
    )
    try:
        full = await probe(ctx, target)
        shown["balance"] = "99,50"
        low = await probe(ctx, target)
        shown["balance"] = "-12,00"
        owed = await probe(ctx, target)
    finally:
        await runner.cleanup()
    assert shown["cookie"] == f"session={TOKEN}"
    # the page has no "Бонусы": that metric is left out, the probe is not failed for it
    assert [(r.ok, r.detail, r.metrics.get("balance")) for r in (full, low, owed)] == [
        (True, f"HTTP 200 OK from {url}; 2 conditions met; balance=1234.5", 1234.5),
        (True, f"HTTP 200 OK from {url}; 2 conditions met; balance=99.5", 99.5),
        (True, f"HTTP 200 OK from {url}; 2 conditions met; balance=-12", -12.0),
    ]
    assert all("bonus" not in r.metrics and TOKEN not in r.detail for r in (full, low, owed))


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("[BODY].flag == true", True),
        ("[BODY].flag != false", True),
        ("[BODY].none == null", True),
        ("[BODY].n >= 3", True),
        ("[BODY].n < 3", False),
        ('[BODY].s == "two words"', True),
        ("[BODY].s ~= ^two", True),
        ("[BODY].s !~ ^two", False),
        ("[BODY].list[1] == 5", True),
        ("[BODY].comma > 1234", True),
    ],
)
def test_comparisons(text: str, ok: bool) -> None:
    from probes.conditions import Answer

    doc = {"flag": True, "none": None, "n": 3, "s": "two words", "list": [4, 5], "comma": "1 234,5"}
    answer = Answer(200, 0.1, {}, json.dumps(doc).encode(), "utf-8")
    assert (parse_condition(text).check(answer) is None) == ok


@pytest.mark.parametrize(
    ("opts", "message"),
    [
        ({"conditions": ["[BODY].status = UP"]}, "not a condition like '[STATUS] == 200'"),
        ({"conditions": ["[STATUS] == ok"]}, "[STATUS] is a number: 'ok' is not one"),
        ({"conditions": ["[STATUS] == 200", "[BODY].a.. == 1"]}, "not a JSONPath: '.a..'"),
        ({"conditions": ["[BODY].n > many"]}, "> compares numbers: 'many' is not one"),
        ({"conditions": ["[BODY] ~= ("]}, "not a regular expression: '('"),
        # jsonpath-ng runs these with the standard re, unstoppable, on the provider's JSON (issue 18)
        (
            {"conditions": ["[BODY].items[?(@.name =~ 'a+')].id == 1"]},
            "a regular expression inside a JSONPath (=~ or sub()) cannot be time-limited and could stall the agent"
            " on a provider's answer: select the value and write a condition '[BODY].path ~= pattern' instead:"
            " \".items[?(@.name =~ 'a+')].id\"",
        ),
        ({"metrics": {"n": "[BODY].a.`sub(/(a|a)+$/, b)`"}}, "metric n: a regular expression inside a JSONPath"),
        ({"metrics": {"Balance": "[BODY].x"}}, "metric name 'Balance': lower-case letters, digits and _"),
        ({"metrics": {"status_code": "[BODY].x"}}, "metric name 'status_code'"),
        ({"metrics": {"balance": "$.x"}}, "metric balance: not [STATUS], [RESPONSE_TIME], [HEADER].Name, [BODY]"),
        ({"metrics": {"balance": "[BODY] ~= ("}}, "metric balance: not a regular expression: '('"),
        (
            {"metrics": {"balance": "[BODY].balance > 5"}},
            "metric balance: a metric reads a value ([BODY].json.path, [HEADER].Name, [RESPONSE_TIME]) or searches"
            " one with ~= pattern (its first group, else the whole match, is read): '[BODY].balance > 5'",
        ),
        ({"body": "{}"}, "a body needs method POST, PUT, PATCH or DELETE (method is GET)"),
        ({"method": "HEAD", "conditions": ["[BODY].a == 1"]}, "[BODY] conditions need a method other than HEAD"),
        ({"method": "TRACE"}, "Input should be 'GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE' or 'OPTIONS'"),
    ],
)
def test_bad_options(opts: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as info:
        HttpOptions.model_validate(opts)
    assert message in str(info.value)


CONFIG = """
agent: {id: t, timezone: Europe/Moscow, data_dir: /tmp/never-written}
ntp: {enabled: false}
providers:
  - id: bank
    targets:
      - name: api
        kind: http
        address: "https://127.0.0.1:8443/v1/health"
        http:
          method: POST
          headers: {Authorization: "Bearer ${BANK_TOKEN}"}
          conditions:
            - "[STATUS] == 200"
            - "[BODY].status === UP"
"""


def test_config_error_names_file_line_and_field() -> None:
    with pytest.raises(ConfigError) as caught:
        loads(CONFIG, env={"BANK_TOKEN": TOKEN})
    (problem,) = caught.value.problems
    assert problem == (
        "<config>:15: providers[0].targets[0].http.conditions[1]: unknown operator '===' "
        "(operators == != < <= > >= ~= !~): '[BODY].status === UP'"
    )
    assert TOKEN not in problem


def test_header_token_from_env_is_a_secret() -> None:
    config = loads(CONFIG.replace("=== UP", "== UP"), env={"BANK_TOKEN": TOKEN})
    assert {f"Bearer {TOKEN}", TOKEN} <= set(config.secrets())
