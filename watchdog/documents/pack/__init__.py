"""Evidence packs: one zip per provider and period that anyone can open and check with ``watchdog verify``.

Files, in this order (fixed dates and order, so the same journal and inputs give the same bytes):

* ``summary.html`` / ``summary.pdf`` — the SLA report, the chart, the pack's contents and chain head;
* ``outages.csv``   — the provider's outages (and its ISP line windows) and the controls', with bounds;
* ``results.csv``   — every raw result of the provider's targets *and* the controls in the chain segment;
* ``events.csv``    — every event in the chain segment (outages, runs, clock, contacts, ...);
* ``contacts.csv``  — the contact log for the provider in the period; ``clock.csv`` — clock samples/steps;
* ``timeline.png``  — the chart; ``config.yaml`` — the config with secrets redacted;
* ``environment.json`` — agent versions, hosts, zones and the clock summary;
* ``manifest.json`` — SHA-256 of every other file, and the chain segment with its *prologue*: the few
  earlier events the segment's rows build on (the included targets' latest definitions, the start of the
  run going on and the opening of every outage still open when the segment begins), so a reader can
  recompute the period from the pack alone. They sit in blocks the pack does not carry, so they can only
  be checked against the chained rows that refer to them, not against the chain itself.

The chain segment: every sealed block that holds a row of the period. ``results.csv`` and ``events.csv``
carry the canonical columns of their rows (``seq, target_id, ts_ns, latency_us, failure, detail,
metrics`` / ``seq, ts_ns, type, target_id, ref, data``; an empty cell is NULL) plus ``seal``, the first
4 bytes of the row's hash as the block recorded it. For each block the manifest gives its header and,
for every stream the pack leaves out (other providers' targets), its row count and digest. ``verify``
recomputes every row hash, stream digest and block hash, links the blocks, and names the file and row
that changed. CSVs are UTF-8 with a BOM and CRLF line ends, so spreadsheet programs read Cyrillic.

A *shared* pack (``share=``; ``watchdog evidence --share``) is for a consumer advocate: the summary is built
without the contract and the contact log, ``contacts.csv`` is left out, ``config.yaml`` is the shared view
(:func:`watchdog.collective.share.shared_config_text`), the manifest names the shared identity, and the
events that are the customer's own business — contacts, declared deadlines, and every event of a target of
a provider not shared — are *redacted*: their ``data`` cell is ``<redacted row-hash=…>`` with the row's
full SHA-256, so the chain still verifies without their content.

Where each part lives:

* :mod:`.build` — :func:`~.build.build_pack`, which walks the chain segment, writes every file and the zip;
* :mod:`.csvfiles` — the CSV files' columns and encoding, and the writers of contacts, clock and outages;
* :mod:`.chain` — the sealed blocks that hold the period, their rows in seq order, and the prologue;
* :mod:`.summary` — ``summary.html`` / ``summary.pdf`` and the chart (``timeline.png``);
* :mod:`.redact` — ``config.yaml`` with secrets redacted, and the check that no secret reaches a pack;
* :mod:`.environment` — ``environment.json``;
* :mod:`.manifest` — ``manifest.json``: the format, the file order, every file's hash and size;
* :mod:`.verify` — :func:`~.verify.verify_pack`, what ``watchdog verify PACK.zip`` runs.
"""
