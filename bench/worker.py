"""Run our probes the way the agent runs them, in a process of its own, and report what it cost.

``python -m bench.worker`` reads SPEC (JSON) on stdin and prints one JSON line. SPEC:

* ``mode``: ``prober`` — the agent's probe path alone: the real scheduler (one task per target, fixed
  rate on the monotonic clock, staggered starts, the agent's concurrency limit), the real runner and the
  real probes, the collector tuned before the first probe as the agent tunes it (``tune_gc``, default true), and of
  each result only what the summary needs kept in memory; ``agent`` — the whole
  :class:`watchdog.agent.core.Agent` with its journal in ``data_dir``; ``legacy`` — like ``prober`` but ICMP
  through the socket-per-probe path this branch replaced (``bench/legacy_icmp.py``).
* ``targets``: ``[{"kind", "address", "options"}]``; ``interval_s``, ``timeout_s``.
* ``icmp_wheel``: false runs every ICMP target as a task of its own (``run_target``), as before issue 19's
  timer wheel; by default ICMP targets with an IP address go to :class:`watchdog.agent.icmp_driver.IcmpDriver`
  in both modes, as in the agent.
* ``warmup_s``, ``duration_s``: CPU is measured over the window after the warm-up; only results whose
  probe started inside the window count.
* ``stall``: optional ``{"at_s", "for_s"}``: block the event loop's thread once, ``at_s`` after the probes start, for
  ``for_s`` (``time.sleep`` in a callback: what a long collector pause, a swap-in or the hypervisor taking the CPU
  away does to the agent), to measure whether and how soon start lateness recovers afterwards.
* ``load``: optional ``{"journal", "config", "period", "where"}``: generate SLA reports over that journal
  over and over while the probes run: in a thread of this process (``where: thread``, as a status page
  inside the agent would), or in a process of its own (``where: process``); ``switch_interval`` sets
  ``sys.setswitchinterval`` for the thread case.

Answer: probes and CPU in the window, results by failure kind, RTTs (ICMP), start lateness samples,
missed slots, per-target drift of the stored timestamps, peak RSS, reports generated.
"""

from __future__ import annotations

import asyncio
import gc
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.common import percentile, proc_rss_kb, rusage_cpu
from probes import REGISTRY
from watchdog.agent.core import _tune_gc
from watchdog.agent.icmp_driver import IcmpDriver, wheel_targets
from watchdog.agent.scheduler import ScheduleStats, run_target, stagger_offsets
from watchdog.model import NS, Result, Role, Target
from watchdog.probe import Probe, ProbeContext

KEEP_SAMPLES = 100_000


def _targets(spec: dict[str, Any]) -> list[Target]:
    return [
        Target(
            key=f"bench/t{i}",
            name=f"t{i}",
            kind=t["kind"],
            address=t["address"],
            role=Role.PROVIDER,
            provider="bench",
            interval_s=float(spec["interval_s"]),
            timeout_s=float(spec["timeout_s"]),
            options=REGISTRY[t["kind"]].options.model_validate(t.get("options", {})),
        )
        for i, t in enumerate(spec["targets"])
    ]


def _config_text(spec: dict[str, Any], data_dir: Path) -> str:
    lines = [
        f'agent: {{id: bench, timezone: UTC, data_dir: "{data_dir}", concurrency: {spec.get("concurrency", 64)}}}',
        f"defaults: {{interval: {spec['interval_s'] * 1000:.0f}ms, timeout: {spec['timeout_s'] * 1000:.0f}ms}}",
        "providers:",
        "  - id: bench",
        "    targets:",
    ]
    for i, t in enumerate(spec["targets"]):
        options = f", {t['kind']}: {json.dumps(t['options'])}" if t.get("options") else ""
        lines.append(f'      - {{name: t{i}, kind: {t["kind"]}, address: "{t["address"]}"{options}}}')
    return "\n".join(lines) + "\n"


class _Window:
    """The measurement window: CPU and wall clock at its start and end."""

    def __init__(self) -> None:
        self.start_ns = 1 << 62  # nothing counts before the window opens
        self.end_ns = 1 << 62
        self.cpu0: Any = None
        self.cpu1: Any = None

    def open(self) -> None:
        self.cpu0 = rusage_cpu()
        self.start_ns = time.time_ns()

    def close(self) -> None:
        self.end_ns = time.time_ns()
        self.cpu1 = rusage_cpu()

    def holds(self, ts_ns: int) -> bool:
        return self.start_ns <= ts_ns < self.end_ns


def _report_load(load: dict[str, Any], stop: threading.Event, counter: list[int]) -> None:
    """Generate SLA reports over ``load['journal']`` until stopped (runs in a thread)."""
    from bench.reports import generate_report
    from watchdog.config import loads

    config = loads(Path(load["config"]).read_text(), env={})
    while not stop.is_set():
        generate_report(Path(load["journal"]), config, load["period"])
        counter[0] += 1


def _kept(r: Result) -> tuple[str, int, str | None, float | None]:
    """What the summary needs of a result: target, time, failure, average RTT (a tuple the collector leaves alone).

    The probe path used to keep every Result (a dataclass with a metrics dict) for the summary: ~300,000 objects
    the cyclic collector walked again and again in a 62 s window, a cost the agent, which keeps none, never pays.
    """
    rtt = r.metrics.get("rtt_avg_s") if r.ok else None
    return r.target, r.ts_ns, None if r.ok else str(r.failure), None if rtt is None else float(rtt)


def _summary(
    results: list[tuple[str, int, str | None, float | None]],
    window: _Window,
    stats: dict[str, ScheduleStats],
    interval_s: float,
) -> dict[str, Any]:
    failures: dict[str, int] = {}
    rtts: list[float] = []
    by_target: dict[str, list[int]] = {}
    for target, ts_ns, failure, rtt in results:
        if failure is None:
            if rtt is not None:
                rtts.append(rtt)
        else:
            failures[failure] = failures.get(failure, 0) + 1
        by_target.setdefault(target, []).append(ts_ns)
    # Drift: how far a target's probes moved off its own grid over the window: the least-squares slope of
    # each probe's offset from the grid (anchored at its first probe) times the window, so the jitter of
    # single probes averages out instead of counting as drift.
    drifts = []
    step = interval_s * NS
    for stamps in by_target.values():
        if len(stamps) < 3:
            continue
        stamps.sort()
        ks = [round((ts - stamps[0]) / step) for ts in stamps]
        offsets = [ts - stamps[0] - k * step for ts, k in zip(stamps, ks, strict=True)]
        k_mean, o_mean = sum(ks) / len(ks), sum(offsets) / len(offsets)
        spread = sum((k - k_mean) ** 2 for k in ks)
        if spread:
            slope = sum((k - k_mean) * (o - o_mean) for k, o in zip(ks, offsets, strict=True)) / spread
            drifts.append(slope * (ks[-1] - ks[0]) / NS)
    lateness = [s for st in stats.values() for s in st.late_samples]
    window_s = (window.end_ns - window.start_ns) / NS
    return {
        "probes": len(results),
        "ok": sum(1 for r in results if r[2] is None),
        "failures": failures,
        "window_s": window_s,
        "cpu_user_s": window.cpu1.user_s - window.cpu0.user_s,
        "cpu_sys_s": window.cpu1.system_s - window.cpu0.system_s,
        "rtts_s": rtts,
        "lateness_p50_s": percentile(lateness, 50),
        "lateness_p99_s": percentile(lateness, 99),
        "lateness_p999_s": percentile(lateness, 99.9),
        "lateness_max_s": max(lateness, default=float("nan")),
        "missed_slots": sum(st.missed_slots for st in stats.values()),
        "drift_p50_s": percentile(drifts, 50),
        "drift_abs_p99_s": percentile([abs(d) for d in drifts], 99),
        "drift_abs_max_s": max((abs(d) for d in drifts), default=float("nan")),
        "targets_seen": len(by_target),
        "rss_hwm_kb": proc_rss_kb()[1],
    }


def _stall_later(spec: dict[str, Any]) -> None:
    """Arrange the spec's ``stall``: the event loop's thread blocked once (see the module's doc)."""
    stall = spec.get("stall")
    if stall:
        asyncio.get_running_loop().call_later(float(stall["at_s"]), time.sleep, float(stall["for_s"]))


async def _prober(spec: dict[str, Any], probe_for: dict[str, Probe]) -> dict[str, Any]:
    targets = _targets(spec)
    ctx = ProbeContext()
    for kind, probe in REGISTRY.items():
        mine = [t for t in targets if t.kind == kind]
        if mine and probe.setup is not None:
            problems = await probe.setup(ctx, mine)
            if problems:
                raise SystemExit(f"cannot probe {kind}: {problems}")
    window = _Window()
    results: list[tuple[str, int, str | None, float | None]] = []
    stats = {t.key: ScheduleStats() for t in targets}

    async def on_result(target: Target, result: Result) -> None:
        if window.holds(result.ts_ns):
            results.append(_kept(result))

    offsets = stagger_offsets(targets)
    if spec.get("tune_gc", True):
        _tune_gc()  # what the agent does before its first probe (``watchdog run``): the same collector for both
    _stall_later(spec)
    limiter = asyncio.Semaphore(int(spec.get("concurrency", 64)))
    # the agent's dispatch: ICMP targets with an IP address on the timer wheel, the others a task each
    wheel = wheel_targets(targets, probe_for, ctx) if spec.get("icmp_wheel", True) else []
    on_wheel = {t.key for t in wheel}
    tasks = [
        asyncio.create_task(
            run_target(t, probe_for[t.kind], ctx, on_result, limiter, offset_s=offsets[t.key], stats=stats[t.key])
        )
        for t in targets
        if t.key not in on_wheel
    ]
    if wheel:
        tasks.append(asyncio.create_task(IcmpDriver(wheel, ctx, on_result, offsets=offsets, stats=stats).run()))
    await asyncio.sleep(float(spec["warmup_s"]))
    for st in stats.values():
        st.keep_samples = KEEP_SAMPLES  # lateness from the window on (start-up staggering is not lateness)
    window.open()
    await asyncio.sleep(float(spec["duration_s"]))
    window.close()
    for task in tasks:
        task.cancel()
    # Python 3.11's wait_for (inside icmplib's socket-per-probe path) can swallow a cancellation
    # (gh-86296): do not wait forever for such a task.
    await asyncio.wait(tasks, timeout=10)
    await ctx.aclose()
    return _summary(results, window, stats, float(spec["interval_s"]))


async def _agent(spec: dict[str, Any]) -> dict[str, Any]:
    from watchdog.agent.core import Agent
    from watchdog.config import loads
    from watchdog.journal.store import Journal

    data_dir = Path(spec.get("data_dir") or tempfile.mkdtemp(prefix="wd-bench-"))
    config = loads(_config_text(spec, data_dir), env={})
    agent = Agent(
        config, sink_factories=[], tune_gc=bool(spec.get("tune_gc", True)), icmp_wheel=spec.get("icmp_wheel", True)
    )
    stats = {t.key: ScheduleStats() for t in config.targets}
    agent.handle.stats.update(stats)
    window = _Window()
    task = asyncio.create_task(agent.run())
    await asyncio.wait_for(agent.handle.started.wait(), 60)
    _stall_later(spec)
    await asyncio.sleep(float(spec["warmup_s"]))
    for st in stats.values():
        st.keep_samples = int(spec.get("keep_samples", KEEP_SAMPLES))  # few, when RSS growth is measured
    pauses = _GcPauses()
    window.open()
    rss_kb = await _sample_rss(float(spec["duration_s"]), float(spec.get("rss_every_s", 10.0)))
    window.close()
    pauses.stop()
    agent.handle.stop.set()
    await task
    with Journal.open(config.journal_path, create=False, readonly=True) as journal:
        results = [_kept(r) for _, r in journal.iter_results(window.start_ns, window.end_ns)]
        sealed = journal.conn.execute(
            "SELECT count(*), coalesce(sum(last_seq - first_seq + 1), 0) FROM blocks WHERE sealed_ns BETWEEN ? AND ?",
            (window.start_ns, window.end_ns),
        ).fetchone()
    out = _summary(results, window, stats, float(spec["interval_s"]))
    out["sealed_in_window"] = {"blocks": int(sealed[0]), "rows": int(sealed[1])}
    out["journal_bytes"] = config.journal_path.stat().st_size
    out["rows_per_commit"] = agent.writer.written / max(1, agent.writer.commits)
    turn = agent.writer.turn
    out["writer_waits"] = {"waits": turn.waits, "gave_up": turn.gave_up, "behind": turn.behind_waits}
    out["rss_kb_samples"] = rss_kb
    out["gc"] = pauses.summary()
    return out


async def _sample_rss(duration_s: float, every_s: float) -> list[int]:
    """Resident memory (KiB) at the window's start and every ``every_s`` through it: growth, not just the peak."""
    samples = [proc_rss_kb()[0]]
    end = time.monotonic() + duration_s
    while (left := end - time.monotonic()) > 0:
        await asyncio.sleep(min(every_s, left))
        samples.append(proc_rss_kb()[0])
    return samples


class _GcPauses:
    """How long the cyclic collector held the interpreter, per generation, while installed (``gc.callbacks``)."""

    def __init__(self) -> None:
        self.t0 = 0.0
        self.pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self.t0 = time.perf_counter()
        else:
            self.pauses[info["generation"]].append(time.perf_counter() - self.t0)

    def stop(self) -> None:
        gc.callbacks.remove(self._callback)

    def summary(self) -> dict[str, Any]:
        every = [p for ps in self.pauses.values() for p in ps]
        return {
            "collections": {str(g): len(ps) for g, ps in self.pauses.items()},
            "pause_total_s": sum(every),
            "pause_max_s": max(every, default=0.0),
            "threshold": list(gc.get_threshold()),
            "frozen": gc.get_freeze_count(),
        }


def _run(coro: Any, spec: dict[str, Any]) -> dict[str, Any]:
    """``asyncio.run``, on uvloop's event loop when the spec says ``"loop": "uvloop"`` (issue 19)."""
    if spec.get("loop") == "uvloop":
        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(coro)  # type: ignore[no-any-return]
    return asyncio.run(coro)  # type: ignore[no-any-return]


def main() -> None:
    """Entry point: run the spec, print the answer as one JSON line."""
    spec = json.loads(sys.stdin.read())
    stop = threading.Event()
    reports = [0]
    loader = None
    other: subprocess.Popen[str] | None = None
    load = spec.get("load")
    if load and load.get("where", "thread") == "process":
        other = subprocess.Popen(
            [sys.executable, "-m", "bench.reports", "loop", load["journal"], load["period"]],
            stdout=subprocess.PIPE,
            text=True,
        )
    elif load:
        if load.get("switch_interval"):
            sys.setswitchinterval(float(load["switch_interval"]))
        loader = threading.Thread(target=_report_load, args=(load, stop, reports), daemon=True)
        loader.start()
    if spec.get("switch_interval"):  # the interpreter's thread switch interval for the whole run (default 5 ms)
        sys.setswitchinterval(float(spec["switch_interval"]))
    mode = spec["mode"]
    if mode == "agent":
        out = _run(_agent(spec), spec)
    else:
        probes = dict(REGISTRY)
        if mode == "legacy":
            from bench.legacy_icmp import LEGACY_ICMP

            probes["icmp"] = LEGACY_ICMP
        if mode == "legacy":
            # asyncio.run would wait at exit for tasks whose cancellation icmplib's wait_for swallowed
            # (gh-86296); this process has its answer then, so it does not wait.
            loop = asyncio.new_event_loop()
            out = loop.run_until_complete(_prober(spec, probes))
        else:
            out = _run(_prober(spec, probes), spec)
    stop.set()
    if loader is not None:
        loader.join()
    if other is not None:
        other.terminate()
        output, _ = other.communicate(timeout=60)
        reports[0] = output.count("\n")
    out["reports"] = reports[0]
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
