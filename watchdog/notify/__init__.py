"""Notifications through Apprise that arrive even after the line was down.

``sink``      the :class:`~watchdog.notify.sink.NotifySink` wired into ``watchdog run``: events in, ticker, lifecycle;
``messages``  facts → words → a keyed message queued once per routed channel (and the SLA snapshot it quotes);
``outages``   provider outages opened/closed, flap summaries, SLA breach, restore deadline (24 h, 1 h, passed);
``line``      the customer's line going down and coming back; ``digest`` the daily digest;
``expiry``    certificate expiry, complaint answer deadlines, reminders;
``delivery``  one loop per channel: oldest first, capped backoff, pause after two failures, retry when the line returns;
``outbox``    the durable queue in the journal file (stable keys, attempts, delivered_at);
``channels``  Apprise services per URL, routing by Apprise tags, sending in daemon threads, log scrubbing;
``words``     the message catalogs (``watchdog/notify/locale/notify.<lang>.yaml``) and how facts are written;
``fold``      flap folding; ``facts`` SLA standing from the journal; ``deadlines`` reminders and answer dates.
"""
