# The agent as a container, for docker-compose.yml. Not built on the development machine (no docker
# there); see the README section "InfluxDB and Grafana".
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /opt/outage-watchdog
COPY pyproject.toml README.md ./
COPY watchdog ./watchdog
COPY probes ./probes
COPY config ./config
RUN pip install --no-cache-dir . \
 && useradd --system --uid 10001 --home-dir /var/lib/outage-watchdog --shell /usr/sbin/nologin watchdog \
 && mkdir -p /var/lib/outage-watchdog \
 && chown watchdog: /var/lib/outage-watchdog

# ICMP without root: Docker (20.10+) opens net.ipv4.ping_group_range inside containers.
USER watchdog
VOLUME /var/lib/outage-watchdog
ENTRYPOINT ["watchdog"]
CMD ["run", "-c", "/etc/outage-watchdog/watchdog.yaml"]
