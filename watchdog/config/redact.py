"""config.yaml as an evidence pack carries it: the config as written, every secret replaced by ``<redacted>``.

Here rather than with the pack because the agent journals the hash of this text when it starts
(``pack_config_sha256`` of its ``agent_start`` event): ``watchdog verify`` then knows whether a pack's
config.yaml is the config the agent ran with.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from watchdog.config.source import compose_libyaml

REDACTED = "<redacted>"
_SECRET_KEY = re.compile(r"(token|password|passwd|secret|api[_-]?key|authorization|cookie|credential)", re.I)
_SECRET_PATHS = {
    ("notify", "urls"),
    ("influxdb", "token"),
    ("influxdb", "password"),
    ("web", "token"),
    ("share", "salt"),
    ("tsas", "url"),  # a TSA's URL may carry credentials (qualified TSAs)
    ("heartbeat", "url"),  # a push URL is the secret itself (Healthchecks, Uptime Kuma, ntfy topic)
}
_ENV_ONLY = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*\}$")
_URL_USERINFO = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^/@:\s]*):(?P<pw>[^/@\s]+)@", re.I)


def redact_config(text: str) -> str:
    """The config as written, re-emitted with every secret replaced by ``<redacted>``.

    ``${VAR}`` references are never expanded here, so a secret that came from the environment cannot
    appear; a reference alone under a secret key is kept (it says where the secret lives), anything else
    there — a literal, or a reference with a default — is redacted. Keys that look like credentials
    anywhere (http headers included) and passwords inside URLs are redacted too.
    """
    node = compose_libyaml(text)
    if node is not None:
        try:
            return redact_composed(node)
        except Exception:  # the pure-Python path below raises it, as before
            pass
    return redact_composed(yaml.compose(text, Loader=yaml.SafeLoader))


def redact_composed(node: yaml.Node | None) -> str:
    """:func:`redact_config` of the text ``node`` was composed from, without parsing the text again.

    The data is what ``yaml.safe_load`` gives (merge keys merged, aliases shared, keys as typed, nothing
    expanded); ``node`` is not used afterwards (merging rewrites the node tree).
    """
    data = yaml.constructor.SafeConstructor().construct_document(node) if node is not None else None
    return _emit(data or {})


def _emit(data: Any) -> str:
    # PyYAML's pure-Python emitter, never libyaml's: this text's SHA-256 binds a pack to the journal, so it must not
    # change with the machine (libyaml present or not, and its version) that ran the agent or made the pack
    def walk(node: Any, path: tuple[str, ...]) -> Any:
        if isinstance(node, dict):
            return {k: walk(v, (*path, str(k))) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v, path) for v in node]
        secret = path[-2:] in _SECRET_PATHS or bool(path and _SECRET_KEY.search(path[-1]))
        if secret and node is not None and node != "":
            return node if isinstance(node, str) and _ENV_ONLY.match(node) else REDACTED
        if isinstance(node, str):
            return _URL_USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:{REDACTED}@", node)
        return node

    body = yaml.safe_dump(walk(data, ()), allow_unicode=True, sort_keys=False, default_flow_style=False, width=100)
    head = (
        "# The configuration this pack was made with. Secrets are replaced by <redacted>; ${VAR} references\n"
        "# are shown as written and their values are not included. Comments of the original are not kept.\n"
    )
    return head + body
