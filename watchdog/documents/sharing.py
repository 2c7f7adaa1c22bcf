"""What leaves the house for a consumer advocate: the shared identity, the providers and how much detail.

``agent.share`` in the config decides it (see :class:`watchdog.config.ShareSection`):

* the agent's name: its ``agent.id`` as is, or ``anon-`` + 16 hex digits of HMAC-SHA256(salt, agent.id)
  — the same every time for one installation and salt, and not reversible without the salt. The salt is
  the advocate's (``share.salt``: one campaign, ids stable across its households' re-installs) or, when
  none is given, a random one made once and kept in ``data_dir/share-salt``;
* the tags (``share.tags``, default all of ``agent.tags``), the providers and the names they go out
  under (``share.providers``), and whether failure detail lines go too (``share.details``).

It is applied to the advocate's InfluxDB (``share.influxdb``: :mod:`watchdog.collective.share`, a second
exporter with its own cursor) and to ``watchdog evidence --share`` packs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from watchdog.config import Config, Contract

SALT_FILE = "share-salt"
ANON_PREFIX = "anon-"
# provider keys that stay at home in a shared config: the contract (customer, address, account, fee …) and the
# compensation rules built on it
_PRIVATE_PROVIDER_KEYS = ("contract", "compensation")


@dataclass(frozen=True, slots=True)
class SharedIdentity:
    """The name, tags and providers under which an agent's data leaves the house."""

    agent: str
    tags: Mapping[str, str]
    providers: Mapping[str, str]  # local provider id → shared name (only the shared providers)
    details: bool
    hashed: bool

    def as_dict(self) -> dict[str, Any]:
        """Plain data for a pack's manifest."""
        return {
            "agent": self.agent,
            "agent_id": "hashed" if self.hashed else "plain",
            "tags": dict(sorted(self.tags.items())),
            "providers": dict(sorted(self.providers.items())),
            "details": self.details,
        }


def installation_salt(data_dir: Path) -> bytes:
    """This installation's own salt: made once (random, 256 bits), kept in ``data_dir/share-salt`` (mode 600)."""
    path = data_dir / SALT_FILE
    try:
        return bytes.fromhex(path.read_text(encoding="ascii").strip())
    except FileNotFoundError:
        pass
    data_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{SALT_FILE}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(secrets.token_hex(32) + "\n")
    try:
        os.link(tmp, path)  # the first writer wins; a concurrent one reads what it wrote
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return bytes.fromhex(path.read_text(encoding="ascii").strip())


def hashed_id(agent_id: str, salt: bytes) -> str:
    """``anon-`` + the first 16 hex digits of HMAC-SHA256(salt, agent id)."""
    return ANON_PREFIX + hmac.new(salt, agent_id.encode("utf-8"), hashlib.sha256).hexdigest()[:16]


def shared_identity(config: Config) -> SharedIdentity:
    """The identity ``agent.share`` asks for (everything, under the agent's own id, without a share section)."""
    agent = config.agent
    share = agent.share
    providers = [p.id for p in config.providers]
    if share is None:
        return SharedIdentity(
            agent.id, {k: v for k, v in agent.tags.items() if v}, {p: p for p in providers}, True, False
        )
    tags = {k: v for k, v in agent.tags.items() if v and (share.tags is None or k in share.tags)}
    name = agent.id
    if share.agent_id == "hashed":
        salt = share.salt.get_secret_value().encode("utf-8") if share.salt else installation_salt(config.data_dir)
        name = hashed_id(agent.id, salt)
    return SharedIdentity(name, tags, share.shared_providers(providers), share.details, share.agent_id == "hashed")


def report_config(config: Config, agent: str) -> Config:
    """The config a shared pack's summary is built from: the agent's shared name, every provider's contract and
    compensation emptied (what the pack's config.yaml says, so that verify rebuilds the same summary)."""
    providers = [p.model_copy(update={"contract": Contract(), "compensation": []}) for p in config.providers]
    named = config.model.agent.model_copy(update={"id": agent})
    return dataclasses.replace(config, model=config.model.model_copy(update={"providers": providers, "agent": named}))


def shared_config_text(text: str, identity: SharedIdentity) -> str:
    """The config as written, cut down to what a shared pack shows (secrets are redacted after this).

    Kept: the agent's shared id, zone, language and shared tags; ``defaults``; ``controls``; ``ntp``; the
    shared providers without their contract and compensation. Left out: ``data_dir``, ``share``, the other
    providers, ``notify``, ``influxdb``, ``web``, ``reminders`` and anything else not named here.
    """
    data = yaml.safe_load(text) or {}
    out: dict[str, Any] = {}
    agent = data.get("agent") or {}
    out["agent"] = {"id": identity.agent}
    for key in ("timezone", "language"):
        if key in agent:
            out["agent"][key] = agent[key]
    if identity.tags:
        out["agent"]["tags"] = dict(identity.tags)
    for key in ("defaults", "controls", "ntp"):
        if key in data:
            out[key] = data[key]
    providers = []
    for p in data.get("providers") or []:
        if isinstance(p, dict) and p.get("id") in identity.providers:
            providers.append({k: v for k, v in p.items() if k not in _PRIVATE_PROVIDER_KEYS})
    out["providers"] = providers
    return yaml.safe_dump(out, allow_unicode=True, sort_keys=False, default_flow_style=False, width=100)
