"""Traceroute rate limit (issue 17 item 4): a flapping target starts one traceroute per ``min_gap`` at most.

Only the sink's decision is tested here: ``_trace`` is replaced by a counter, because a real trace needs
raw sockets and a routed path (tests/reliability/test_traceroute_netns.py runs the real one).
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from watchdog.agent.traceroute import TracerouteSink
from watchdog.config import TracerouteSection
from watchdog.model import Role, Target


class Counting(TracerouteSink):
    def __init__(self, section: TracerouteSection) -> None:
        super().__init__(None, section)  # type: ignore[arg-type]
        self.calls: list[tuple[str, str]] = []

    async def _trace(self, notice: Any) -> None:
        self.calls.append((notice.target.key, notice.event))


def notice(key: str, event: str) -> Any:
    return SimpleNamespace(target=Target(key, key, "tcp", "10.0.0.1:443", Role.PROVIDER, "p", 1.0, 0.5), event=event)


async def test_flapping_target_is_traced_once_per_gap() -> None:
    sink = Counting(TracerouteSection.model_validate({"enabled": True, "min_gap": "10m"}))
    for _ in range(10):  # ten flaps in a row
        await sink.on_outage(notice("p/a", "opened"))
        await sink.on_outage(notice("p/a", "closed"))
    await sink.on_outage(notice("p/b", "opened"))  # another target has its own gap
    await asyncio.sleep(0)
    await asyncio.gather(*sink._tasks)
    # the first opening and its close are traced; the other nine flaps inside the gap are not
    assert sink.calls == [("p/a", "opened"), ("p/a", "closed"), ("p/b", "opened")]
    assert sink.skipped == 18
