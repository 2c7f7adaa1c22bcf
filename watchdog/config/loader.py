"""YAML config → frozen, validated models; every error names the file, the line and the key path.

Loading works in four steps:

1. read at most 1 MiB and compose it with PyYAML's *safe* loader (no Python tags, no code): libyaml's where it
   reads the text as PyYAML's pure-Python one does, that one otherwise and for every error (``source``);
2. walk the node tree into plain data, recording the line of every key and rejecting duplicate keys,
   and expand ``${VAR}`` / ``${VAR:-default}`` in string values (``$$`` is a literal ``$``);
3. validate the data with strict pydantic models (unknown keys and wrong types are errors);
4. apply ``defaults`` to each target, validate its probe options with the probe's own model, and run the
   cross-field rules (timeout < interval, unique names, quorum ≤ internet controls).

All problems are collected and raised together as one :class:`~watchdog.errors.ConfigError`, one line
each, in the form ``FILE:LINE: key.path: message``.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    BaseModel,
    ValidationError,
)

from watchdog.config.capacity import capacity_warning
from watchdog.config.models import Config, ConfigModel, TargetSpec
from watchdog.config.quality import resolve_quality
from watchdog.config.redact import redact_composed
from watchdog.config.source import Problems, format_path, pydantic_message, raise_config, read_yaml
from watchdog.model import Role, Target
from watchdog.units import format_duration, redact_url

MAX_CONFIG_BYTES = 1 << 20
RESERVED_PROVIDER_IDS = frozenset({"lan", "internet", "line"})
DEFAULT_CONFIG_NAMES = ("watchdog.yaml",)

ConfigCheck = Callable[[ConfigModel], Iterable[tuple[tuple[str | int, ...], str]]]
"""A check that a higher layer adds to loading: (key path, message) for each problem it finds.

The rule catalogue (:func:`watchdog.documents.rulebook.check_config`) checks ``compensation`` and
``jurisdiction`` this way, so config stays below the documents that own the rules.
"""


def _is_union_tag(part: str | int) -> bool:
    return isinstance(part, str) and ("[" in part or part[:1].isupper())


def _clean_loc(data: Any, loc: tuple[str | int, ...]) -> tuple[str | int, ...] | None:
    """The key path a user wrote, from a pydantic error location.

    Pydantic puts union-member names ("list[ServiceHours]", "ServiceHours") into locations; a part that
    is a key actually present in the input is always a key (``tags: {Region: …}`` stays in the path).
    Returns None for an error from the union branch the user did not write (a list vs a mapping).
    """
    node: Any = data
    out: list[str | int] = []
    for part in loc:
        if isinstance(node, dict) and isinstance(part, str) and part in node:
            out.append(part)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            out.append(part)
            node = node[part]
        elif _is_union_tag(part):
            assert isinstance(part, str)
            if node is not None and isinstance(node, list) != part.startswith("list["):
                return None
        else:
            out.append(part)  # a missing key, or below a value that is not a container
            node = None
    return tuple(out)


def _known_keys(model: type[BaseModel]) -> list[str]:
    return sorted(f.alias or name for name, f in model.model_fields.items())


def _model_at(path: tuple[str | int, ...]) -> type[BaseModel] | None:
    """The model that owns the mapping at ``path`` (used to list the allowed keys)."""
    model: Any = ConfigModel
    for part in path:
        if isinstance(part, int):
            continue
        field = None
        for name, f in model.model_fields.items():
            if (f.alias or name) == part:
                field = f
        if field is None:
            return None
        model = _inner_model(field.annotation)
        if model is None:
            return None
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _inner_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def load(
    path: str | os.PathLike[str], env: Mapping[str, str] | None = None, *, checks: Sequence[ConfigCheck] = ()
) -> Config:
    """Load and validate a config file; raise ConfigError listing every problem (``checks``: see ConfigCheck)."""
    file = Path(path)
    name = str(path)
    try:  # a device or a FIFO (-c /dev/zero) is refused unread; a file is read up to one byte past the limit
        # O_NONBLOCK: opening a FIFO nobody writes to returns at once (regular files ignore the flag)
        with os.fdopen(os.open(file, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)), "rb") as stream:
            if not stat.S_ISREG(os.fstat(stream.fileno()).st_mode):
                raise_config([f"{name}:1: (file): not a regular file (a device, FIFO or directory)"])
            raw = stream.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise_config([f"{name}:1: (file): cannot read: {exc.strerror or exc}"])
    if len(raw) > MAX_CONFIG_BYTES:
        raise_config([f"{name}:1: (file): larger than {MAX_CONFIG_BYTES} bytes"])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise_config([f"{name}:1: (file): not UTF-8 ({exc.reason} at byte {exc.start})"])
    config = loads(text, filename=name, env=os.environ if env is None else env, path=file, checks=checks)
    warnings = list(config.warnings)
    try:
        mode = file.stat().st_mode
    except OSError:
        mode = 0
    if mode & (stat.S_IRGRP | stat.S_IROTH) and _has_secrets(config.model):
        warnings.append(
            f"{name}: holds secrets and is readable by other users (mode {stat.S_IMODE(mode):o}); run: chmod 600 {name}"
        )
    return Config(config.model, config.targets, file, config.sha256, tuple(warnings), config.pack_sha256)


def _has_secrets(model: ConfigModel) -> bool:
    share = model.agent.share
    shared_influx = share.influxdb if share is not None else None
    return bool(
        model.notify.urls
        or (model.influxdb and (model.influxdb.token or model.influxdb.password))
        or model.web.token
        or (share is not None and share.salt)
        or (shared_influx and (shared_influx.token or shared_influx.password))
    )


def loads(
    text: str,
    *,
    filename: str = "<config>",
    env: Mapping[str, str] | None = None,
    path: Path | None = None,
    checks: Sequence[ConfigCheck] = (),
) -> Config:
    """Validate config text (see :func:`load`)."""
    doc, problems = read_yaml(text, filename, os.environ if env is None else env)
    report = Problems(doc)
    report.items.extend(problems)
    notes = Problems(doc)
    _blank_placeholders(doc.data, notes)
    try:
        model = ConfigModel.model_validate(doc.data)
    except ValidationError as exc:
        for err in exc.errors():
            loc = tuple(err["loc"])
            clean = _clean_loc(doc.data, loc)
            if clean is None:
                continue  # an error from the union branch the user did not write (list vs mapping)
            message = pydantic_message(err)
            if err.get("type") == "extra_forbidden":
                owner = _model_at(clean[:-1])
                if owner is not None:
                    message += f" (allowed: {', '.join(_known_keys(owner))})"
            report.add(clean, message)
        raise_config(report.lines())
    targets = _resolve_targets(model, report, notes)
    for check in checks:
        for key, message in check(model):
            report.add(key, message)
    if report.items:
        raise_config(report.lines())
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    try:
        packed = hashlib.sha256(redact_composed(doc.node).encode("utf-8")).hexdigest()  # the text, parsed once
    except (yaml.YAMLError, RecursionError, ValueError):
        packed = ""  # validated above, so not expected; a pack's config.yaml is then simply not bound
    rate_warning = capacity_warning(filename, targets)
    warnings = (*notes.lines(), *([rate_warning] if rate_warning else []))
    return Config(model, tuple(targets), path, digest, warnings, packed)


# the example config's "fill me in" values: an ellipsis ("…", "+7 …", "..."), or a hint in brackets ("[телефон]")
_PLACEHOLDER_RE = re.compile(r"…|\.\.\.|^\[[^\]]*\]$|^<[^>]*>$")
_PARTICULARS = ("contract", "contacts")  # what a letter prints about the parties


def is_placeholder(value: object) -> bool:
    """True for a value copied from the example config that was never filled in."""
    return isinstance(value, str) and bool(_PLACEHOLDER_RE.search(value.strip()))


def _blank_placeholders(data: object, notes: Problems) -> None:
    """Treat the example's placeholders in a provider's contract and contacts as missing, with a warning.

    A letter then prints the field as a gap to fill (``[почтовый адрес]``) and its notes list it, instead of
    printing "адрес для претензий: …" as if it were an address.
    """
    providers = data.get("providers") if isinstance(data, dict) else None
    if not isinstance(providers, list):
        return
    for i, provider in enumerate(providers):
        if not isinstance(provider, dict):
            continue
        for section in _PARTICULARS:
            fields = provider.get(section)
            if not isinstance(fields, dict):
                continue
            for key, value in list(fields.items()):
                if isinstance(value, str) and is_placeholder(value):
                    fields[key] = ""
                    notes.add(
                        ("providers", i, section, key),
                        f"{value.strip()!r} is a placeholder from the example config: treated as missing "
                        "(letters leave a gap to fill in and their notes list it)",
                    )


def _target_groups(
    model: ConfigModel,
) -> Iterator[tuple[tuple[str | int, ...], Role, str | None, list[TargetSpec]]]:
    yield ("controls", "lan"), Role.LAN, None, model.controls.lan
    yield ("controls", "internet"), Role.INTERNET, None, model.controls.internet
    for i, provider in enumerate(model.providers):
        yield ("providers", i, "targets"), Role.PROVIDER, provider.id, provider.targets


def _resolve_targets(model: ConfigModel, report: Problems, notes: Problems) -> list[Target]:
    from probes import REGISTRY  # config is one of the two modules allowed to import probes

    targets: list[Target] = []
    seen_providers: dict[str, int] = {}
    for i, provider in enumerate(model.providers):
        if provider.id in RESERVED_PROVIDER_IDS:
            report.add(("providers", i, "id"), f"{provider.id!r} is reserved for the controls; pick another id")
        if provider.id in seen_providers:
            report.add(
                ("providers", i, "id"),
                f"duplicate provider id {provider.id!r} (also providers[{seen_providers[provider.id]}])",
            )
        seen_providers.setdefault(provider.id, i)
        for j, window in enumerate(provider.maintenance):
            if window.to <= window.from_:
                report.add(("providers", i, "maintenance", j, "to"), "must be later than 'from'")

    if model.agent.share is not None:  # what goes to an advocate must name providers and tags that exist
        for path, message in model.agent.share.check(list(seen_providers), list(model.agent.tags)):
            report.add(("agent", "share", *path), message)

    quorum = model.controls.quorum
    if quorum is not None and quorum > len(model.controls.internet):
        report.add(
            ("controls", "quorum"),
            f"quorum {quorum} is more than the {len(model.controls.internet)} internet controls configured",
        )

    defaults = model.defaults
    kinds = sorted(REGISTRY)
    blocks = [name for name in TargetSpec.model_fields if name in ("icmp", "tcp", "http", "dns", "tls", "speed")]
    for base, role, provider_id, specs in _target_groups(model):
        names: dict[str, int] = {}
        for j, spec in enumerate(specs):
            path = (*base, j)
            if spec.name in names:
                report.add(
                    (*path, "name"),
                    f"duplicate name {spec.name!r} (also {format_path((*base, names[spec.name]))})",
                )
                continue
            names[spec.name] = j
            probe = REGISTRY.get(spec.kind)
            if probe is None:
                report.add((*path, "kind"), f"must be one of {', '.join(kinds)}, got {spec.kind!r}")
                continue
            interval = spec.interval if spec.interval is not None else defaults.interval
            timeout = spec.timeout if spec.timeout is not None else defaults.timeout
            if timeout >= interval:
                key = "timeout" if spec.timeout is not None else "interval" if spec.interval is not None else "name"
                report.add(
                    (*path, key),
                    f"timeout {format_duration(timeout)} must be shorter than interval {format_duration(interval)}",
                )
            if interval < 1.0:
                report.add((*path, "interval"), f"interval {format_duration(interval)} is shorter than 1s")
            for other in blocks:
                if other != spec.kind and getattr(spec, other, None) is not None:
                    report.add((*path, other), f"options for kind {other!r} given to a target of kind {spec.kind!r}")
            if probe.check_address is not None:
                problem = probe.check_address(spec.address)
                problem = None if problem is None else redact_url(problem)
                if problem:
                    report.add((*path, "address"), problem)
            block = getattr(spec, spec.kind, None) or {}
            try:
                options = probe.options.model_validate(block)
            except ValidationError as exc:
                for err in exc.errors():
                    message = pydantic_message(err)
                    if err.get("type") == "extra_forbidden":
                        message += f" (allowed: {', '.join(_known_keys(probe.options))})"
                    report.add((*path, spec.kind, *err["loc"]), message)
                continue
            if probe.advise is not None:
                for where, advice in probe.advise(options):
                    notes.add((*path, spec.kind, *where), advice)
            if spec.kind == "speed":  # the runner's timeout must leave each direction its max_seconds
                directions = 2 if getattr(options, "upload", False) else 1
                need = float(getattr(options, "max_seconds", 0.0)) * directions
                server = getattr(options, "server", "http")
                if (server == "iperf3") == ("://" in spec.address):
                    want = "host:port of an iperf3 server" if server == "iperf3" else "an http:// or https:// URL"
                    report.add((*path, "address"), f"speed.server {server} needs {want}, got {spec.address!r}")
                if timeout <= need:
                    report.add(
                        (*path, "timeout" if spec.timeout is not None else "name"),
                        f"timeout {format_duration(timeout)} must be longer than speed.max_seconds × directions"
                        f" ({format_duration(need)}): the test would be cut off",
                    )
            prefix = provider_id if role is Role.PROVIDER else role.value
            targets.append(
                Target(
                    key=f"{prefix}/{spec.name}",
                    name=spec.name,
                    kind=spec.kind,
                    address=redact_url(spec.address),
                    role=role,
                    provider=provider_id,
                    interval_s=interval,
                    timeout_s=timeout,
                    failure_threshold=spec.failure_threshold or defaults.failure_threshold,
                    success_threshold=spec.success_threshold or defaults.success_threshold,
                    options=options,
                    # a speed test is judged against the contract speed, not the latency/loss defaults
                    quality=resolve_quality(None if spec.kind == "speed" else defaults.quality, spec.quality),
                    secret_address=spec.address if redact_url(spec.address) != spec.address else None,
                )
            )
    return targets


def default_config_path(cwd: Path | None = None) -> Path:
    """``./watchdog.yaml`` if it exists, else the example shipped in ``config/``."""
    here = cwd or Path.cwd()
    for name in DEFAULT_CONFIG_NAMES:
        candidate = here / name
        if candidate.exists():
            return candidate
    for base in (here, Path(__file__).resolve().parents[2]):
        example = base / "config" / "example.yaml"
        if example.exists():
            return example
    return here / DEFAULT_CONFIG_NAMES[0]
