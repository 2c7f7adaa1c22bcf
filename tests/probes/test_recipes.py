"""config/recipes.yaml as shipped: each recipe, loaded by the real config loader, against a real server on 127.0.0.1.

The recipes take their addresses from ``${VAR:-default}``; here the variables point at servers the test
starts, so what is tested is the recipe text a user copies.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from probe_servers import probe, start_tcp_server
from speaking_servers import TOKEN, FixGateway, banner_handler, imap_handler, smtp_handler, start_api

from probes import REGISTRY
from watchdog.agent.runner import run_probe
from watchdog.config import Config, loads
from watchdog.model import FailureKind
from watchdog.probe import ProbeContext

RECIPES = Path(__file__).resolve().parents[2] / "config" / "recipes.yaml"


@pytest.fixture
async def stack() -> AsyncIterator[tuple[dict[str, str], FixGateway, object]]:
    gateway = FixGateway("answer")
    fix_port = await gateway.start()
    ssh, ssh_port = await start_tcp_server(banner_handler(b"SSH-2.0-OpenSSH_9.6\r\n", 0.0))
    smtp, smtp_port = await start_tcp_server(smtp_handler())
    imap, imap_port = await start_tcp_server(imap_handler())
    api, runner = await start_api()
    env = {
        "FIX_GATEWAY": f"127.0.0.1:{fix_port}",
        "SSH_SERVER": f"127.0.0.1:{ssh_port}",
        "SMTP_SERVER": f"127.0.0.1:{smtp_port}",
        "IMAP_SERVER": f"127.0.0.1:{imap_port}",
        "BANK_API": f"{api.base}/v1/health",
        "BANK_TOKEN": TOKEN,
    }
    yield env, gateway, api
    await gateway.stop()
    for server in (ssh, smtp, imap):
        server.close()
        await server.wait_closed()
    await runner.cleanup()


def recipes(env: dict[str, str]) -> Config:
    return loads(RECIPES.read_text(encoding="utf-8"), filename=str(RECIPES), env=env)


async def test_every_recipe_is_up_against_a_real_server(ctx: ProbeContext, stack: tuple) -> None:
    env, gateway, _api = stack
    config = recipes(env)
    results = {t.key: await run_probe(REGISTRY[t.kind], t, ctx) for t in config.targets}
    assert {k: (r.ok, r.failure) for k, r in results.items()} == {
        "broker/fix-gateway": (True, None),
        "broker/ssh-banner": (True, None),
        "isp/smtp": (True, None),
        "isp/imap": (True, None),
        "bank/api": (True, None),
    }, {k: r.detail for k, r in results.items()}
    assert results["broker/fix-gateway"].detail.startswith(f"dialogue with {env['FIX_GATEWAY']}: 4 steps done in ")
    assert results["isp/smtp"].detail.startswith(f"dialogue with {env['SMTP_SERVER']}: 5 steps done in ")
    assert results["bank/api"].detail == f"HTTP 200 OK from {env['BANK_API']}; 4 conditions met; balance=180.5"
    assert results["bank/api"].metrics["balance"] == 180.5
    assert gateway.valid == [True, True]
    assert TOKEN in config.secrets()


async def test_recipes_fail_as_unexpected_naming_the_step(ctx: ProbeContext, stack: tuple) -> None:
    env, gateway, api = stack
    gateway.mode = "ignore"
    api.state.update(status="maintenance")
    silent, silent_port = await start_tcp_server(banner_handler(b"SSH-2.0-late\r\n", 1.0))
    try:
        config = recipes({**env, "SSH_SERVER": f"127.0.0.1:{silent_port}"})
        targets = {t.key: t for t in config.targets}
        fix, ssh, bank = await asyncio.gather(
            probe(ctx, targets["broker/fix-gateway"]),
            probe(ctx, targets["broker/ssh-banner"]),
            probe(ctx, targets["bank/api"]),
        )
    finally:
        silent.close()
        await silent.wait_closed()
    assert (fix.failure, fix.detail) == (
        FailureKind.UNEXPECTED,
        "step 2 (logon answer): no FIX 35=A within 3s; got 0 bytes",
    )
    assert (ssh.failure, ssh.detail) == (
        FailureKind.UNEXPECTED,
        r"step 1 (banner): no /^SSH-2\.0-/ within 500ms; got 0 bytes",
    )
    assert (bank.failure, bank.detail) == (
        FailureKind.UNEXPECTED,
        f"HTTP 200 from {env['BANK_API']}: 1 of 4 conditions failed: [BODY].status == UP (got 'maintenance')",
    )


# ------------------------------------------------------------------------- the README shows the recipes

README = RECIPES.parents[1] / "README.md"
_VAR = re.compile(r"\$\{(\w+):-([^}]*)\}")


def _readme_targets() -> list[dict[str, Any]]:
    """The targets of the YAML examples under "Probes that speak the service" in README.md."""
    text = README.read_text(encoding="utf-8")
    section = text.split("### Probes that speak the service\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"^```yaml\n(.*?)^```$", section, flags=re.DOTALL | re.MULTILINE)
    return [target for block in blocks for target in yaml.safe_load(block)]


def _recipe_targets() -> list[dict[str, Any]]:
    """The recipes as written, each ``${VAR:-default}`` read as the README writes it: the address as its
    default (an example host), anything else (a secret) as ``${VAR}``."""
    data = yaml.safe_load(RECIPES.read_text(encoding="utf-8"))
    out = []
    for provider in data["providers"]:
        for target in provider["targets"]:
            plain = yaml.safe_load(_VAR.sub(r"${\1}", yaml.safe_dump(target, allow_unicode=True)))
            plain["address"] = _VAR.sub(r"\2", target["address"])
            out.append(plain)
    return out


def test_readme_shows_each_recipe_as_tested() -> None:
    """One README example per recipe, each the recipe this file runs against a real server (issue 18)."""
    readme = {t["name"]: t for t in _readme_targets()}
    recipes = {t["name"]: t for t in _recipe_targets()}
    assert sorted(readme) == sorted(recipes) == ["api", "fix-gateway", "imap", "smtp", "ssh-banner"]
    for name, recipe in recipes.items():
        assert readme[name] == recipe, name
