"""docker-compose.yml: docker cannot run here, so check what can be checked without it — the file parses,
every file it mounts or builds from exists, and its pieces agree (bucket, token, paths, service names)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from watchdog.config import load

ROOT = Path(__file__).resolve().parents[2]


def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))


def test_compose_parses_and_every_mounted_or_built_file_exists() -> None:
    services = compose()["services"]
    assert set(services) == {"influxdb", "grafana", "agent"}
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (ROOT / source).exists(), f"{name} mounts {source}, which does not exist"
    assert services["agent"]["build"] == "."
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    for source in re.findall(r"^COPY (.+) \S+$", dockerfile, flags=re.M):
        for part in source.split():
            assert (ROOT / part).exists(), f"Dockerfile copies {part}, which does not exist"


def test_the_pieces_agree() -> None:
    services = compose()["services"]
    influx_env = services["influxdb"]["environment"]
    grafana_env = services["grafana"]["environment"]
    mounts = dict(v.split(":")[:2] for v in services["agent"]["volumes"] if v.startswith("."))
    config = load(
        ROOT / mounts["./docker/watchdog.yaml"].replace("/etc/outage-watchdog/", "docker/"),
        env={"INFLUX_TOKEN": "t", "WATCHDOG_WEB_TOKEN": "w" * 16},
    )
    settings = config.model.influxdb
    assert settings is not None
    assert settings.url == "http://influxdb:8086" and settings.api == "v2"
    assert (settings.org, settings.bucket) == (influx_env["DOCKER_INFLUXDB_INIT_ORG"], "watchdog")
    assert influx_env["DOCKER_INFLUXDB_INIT_BUCKET"] == settings.bucket == grafana_env["INFLUX_DATABASE"]
    assert config.data_dir == Path("/var/lib/outage-watchdog")
    assert "watchdog-data:/var/lib/outage-watchdog" in services["agent"]["volumes"]
    assert services["agent"]["environment"]["INFLUX_TOKEN"] == "${INFLUX_TOKEN}"
    assert grafana_env["INFLUX_URL"] == settings.url
    dashboards = "./grafana/dashboards:/var/lib/grafana/dashboards/outage-watchdog:ro"
    assert dashboards in services["grafana"]["volumes"]
    provider = yaml.safe_load((ROOT / "grafana/provisioning/dashboards/outage-watchdog.yaml").read_text())
    assert provider["providers"][0]["options"]["path"] == dashboards.split(":")[1]
    env_example = (ROOT / "docker" / "env.example").read_text(encoding="utf-8")
    needed = set(re.findall(r"\$\{(\w+):\?", (ROOT / "docker-compose.yml").read_text(encoding="utf-8")))
    assert needed == {k for k in re.findall(r"^(\w+)=", env_example, flags=re.M)}


def test_the_status_page_is_reachable_from_the_host_only() -> None:
    """Inside the container the page listens on every interface (with a token: required off localhost);
    compose publishes it on the host's loopback, like InfluxDB and Grafana."""
    agent = compose()["services"]["agent"]
    token = "x" * 32
    config = load(ROOT / "docker" / "watchdog.yaml", env={"INFLUX_TOKEN": "t", "WATCHDOG_WEB_TOKEN": token})
    web = config.model.web
    assert (web.enabled, web.listen) == (True, "0.0.0.0:8080")
    assert web.token is not None and web.token.get_secret_value() == token
    assert agent["environment"]["WATCHDOG_WEB_TOKEN"] == "${WATCHDOG_WEB_TOKEN:?set WATCHDOG_WEB_TOKEN in .env}"
    assert agent["ports"] == ["127.0.0.1:8080:8080"]
    published = [p for s in compose()["services"].values() for p in s.get("ports", [])]
    assert all(p.startswith("127.0.0.1:") for p in published)
