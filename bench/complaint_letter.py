"""Bench: time to build and render a complaint letter from a busy month of journal history.

A month of scripted history for an ISP and its controls (N short outages of the provider plus N of the
internet anchors), through the real journal; then build_letter (analysis, SLA figures, the compensation
engine) and render to Markdown, HTML and PDF. Prints figures; asserts nothing about speed.

    .venv/bin/python bench/complaint_letter.py [OUTAGES]
"""

from __future__ import annotations

import datetime as dt
import sys
import tempfile
import time
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]  # the real probes package before tests/probes, as pytest's pythonpath does
sys.path.append(str(ROOT / "tests"))

from helpers import ScriptedJournal, target  # noqa: E402

from watchdog.config import loads  # noqa: E402
from watchdog.documents.compensation.values import ContactEntry  # noqa: E402
from watchdog.documents.letter.build import build_letter  # noqa: E402
from watchdog.documents.letter.rendering import render, render_pdf  # noqa: E402
from watchdog.documents.letter.request import LetterRequest  # noqa: E402
from watchdog.documents.rulebook import load_rulebook  # noqa: E402
from watchdog.journal.store import Journal  # noqa: E402
from watchdog.timefmt import to_ns  # noqa: E402

CONFIG = """
agent: {id: bench, timezone: Europe/Moscow}
controls:
  lan: [{name: router, kind: tcp, address: "127.0.0.1:1"}]
  internet:
    - {name: a, kind: tcp, address: "127.0.0.1:2"}
    - {name: b, kind: tcp, address: "127.0.0.1:3"}
    - {name: c, kind: tcp, address: "127.0.0.1:4"}
  quorum: 2
providers:
  - id: isp
    kind: isp
    targets: [{name: gateway, kind: tcp, address: "127.0.0.1:5"}]
    contract: {number: "1", fee: {amount: 600, currency: RUB}}
    sla: {restore_within: 72h}
    compensation: [{rule: ru.zozpp.28.5}, {rule: contract.service_credit, days: 3}]
    jurisdiction: RU
"""


def main() -> None:
    outages = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    zone = ZoneInfo("Europe/Moscow")
    origin = to_ns(dt.datetime(2026, 10, 1, tzinfo=zone))
    config = loads(CONFIG, env={})
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "journal.sqlite3"
        journal = ScriptedJournal(path, [target(t.key, role=t.role) for t in config.targets], origin_ns=origin)
        journal.run(0, 31 * 86400)
        step = 31 * 86400 / outages
        contacts = []
        for i in range(outages):
            start = i * step + 600
            keys = ("isp/gateway",) if i % 2 else ("isp/gateway", "internet/a", "internet/b", "internet/c")
            for key in keys:
                journal.outage(key, start - 30, start, start + 870, start + 900)
            contacts.append(ContactEntry(origin + int((start + 60) * 1e9), "phone", f"№ {i}"))
        journal.close()
        t0 = time.perf_counter()
        book = load_rulebook()
        t1 = time.perf_counter()
        request = LetterRequest("isp", "2026-10", "ru", dt.date(2026, 11, 2), contacts=tuple(contacts))
        with Journal.open(path, create=False, readonly=True) as j:
            letter = build_letter(config, j, request, now_ns=origin + 32 * 86400 * 10**9, rulebook=book)
        t2 = time.perf_counter()
        md = render(letter, "md")
        t3 = time.perf_counter()
        html = render(letter, "html")
        t4 = time.perf_counter()
        render_pdf(letter)  # the first PDF loads fpdf2 and the fonts
        t5 = time.perf_counter()
        pdf = render_pdf(letter)
        t6 = time.perf_counter()
    print(f"outages in the month: {outages} provider + {outages // 2 + outages % 2} line windows")
    print(f"rulebook load:        {1000 * (t1 - t0):8.1f} ms ({len(book.rules)} rules)")
    print(f"build_letter:         {1000 * (t2 - t1):8.1f} ms (analysis, SLA figures, compensation engine)")
    print(f"render markdown:      {1000 * (t3 - t2):8.1f} ms ({len(md.encode())} bytes)")
    print(f"render html:          {1000 * (t4 - t3):8.1f} ms ({len(html.encode())} bytes)")
    print(f"render pdf (first):   {1000 * (t5 - t4):8.1f} ms (imports fpdf2, loads the fonts)")
    print(f"render pdf:           {1000 * (t6 - t5):8.1f} ms ({len(pdf)} bytes)")
    print(f"claims: {[(i.rule.id, str(i.amount.amount)) for i in letter.assessment.items]}")


if __name__ == "__main__":
    main()
