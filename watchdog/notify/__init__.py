"""Notifications through Apprise that arrive even after the line was down.

``sink``      the :class:`~watchdog.notify.sink.NotifySink` wired into ``watchdog run``: events → messages;
``outbox``    the durable queue in the journal file (stable keys, attempts, delivered_at);
``channels``  Apprise services per URL, routing by Apprise tags, sending in daemon threads, log scrubbing;
``words``     the message catalogs (``watchdog/notify/locale/notify.<lang>.yaml``) and how facts are written;
``fold``      flap folding; ``facts`` SLA standing from the journal; ``deadlines`` reminders and answer dates.
"""
