"""Collective outage reports: many households' agents, one provider, windows confirmed by K or more of them.

* :mod:`~watchdog.analysis.timeline` — one agent's view of one provider (when it had data, whose fault
  each down stretch was), computed from a journal; the unit both sources deliver;
* :mod:`~watchdog.collective.share`    — what leaves the house: the shared identity, names and detail;
* :mod:`~watchdog.collective.core`     — the windows and counts (pure);
* :mod:`~watchdog.collective.packs`    — timelines from a folder of evidence packs, each verified first;
* :mod:`~watchdog.collective.influx`   — timelines from the shared InfluxDB (InfluxQL);
* :mod:`~watchdog.collective.render`   — text, JSON, CSV, HTML and the chart.
"""
