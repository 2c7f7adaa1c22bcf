"""InfluxDB replica of the journal for Grafana: schema, the two write dialects, the exporter, its status.

The journal is the record; InfluxDB is a copy that can always be rebuilt from it. The exporter reads
journal rows past a persisted cursor, writes them as line protocol and moves the cursor only after the
server accepted them, so a server that is down, slow or refusing never loses a row.

Errors raised by the write clients (``watchdog.influx.client``)::

    WatchdogError
      x InfluxError            - anything the InfluxDB side did wrong; never stops probing
        + Unavailable          - 429, 5xx, refused, reset, timeout: retry with backoff (Retry-After honoured)
        + Rejected             - 400/413/422...: these points are refused; bisect, then dead-letter
        + AuthFailed           - 401/403: alert, stop exporting, keep the backlog
        + DestinationMissing   - 404: no such database/bucket/endpoint; alert and keep retrying slowly
"""

from __future__ import annotations
