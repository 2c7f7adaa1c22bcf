"""Attribution: whose fault each stretch of an outage was, decided by the customer's own-line controls.

Pure functions over journal data. For every control target we know, at any instant, one of three
states, read from its outages (found with the same hysteresis as any target):

* ``down``    between its first and its last failed probe of an outage;
* ``unknown`` where the change happened somewhere between two probes (between the last success and the
  first failure, and between the last failure and the first success), and wherever that control has no
  data (the agent was not running, or the control could not be probed at all);
* ``up``      everywhere else the agent was running.

The line timeline cuts time into pieces on which every control's state is constant. On each piece:

* the agent was not running                                   → ``no_data``
* non-ISP provider: internet quorum up and no LAN control down → ``provider``
                    a LAN control down, or the quorum is lost  → ``customer_line``
* ISP provider:     every LAN control up                       → ``provider``
                    a LAN control down                         → ``customer_line``
                    no LAN verdict, but the internet quorum up → ``provider`` (the line works)
* anything else (controls disagree, too few controls, changes in flight) → ``inconclusive``

"Quorum lost" means so many internet controls are down that the quorum cannot be met. An ISP
provider's outages also include the windows where the internet quorum was lost (``line/internet``):
that is the ISP's service failing.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from watchdog.model import AttributedOutage, Attribution, Outage, ProviderKind, Role, Segment

Interval = tuple[int, int]
LINE_INTERNET = "line/internet"
LINE_LAN = "line/lan"

UP, DOWN, UNKNOWN = "up", "down", "unknown"


def union(intervals: Iterable[Interval]) -> list[Interval]:
    """Merge overlapping or touching intervals."""
    out: list[list[int]] = []
    for a, b in sorted(i for i in intervals if i[1] > i[0]):
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [(a, b) for a, b in out]


def intersect(xs: Sequence[Interval], ys: Sequence[Interval]) -> list[Interval]:
    """Intersection of two sorted, disjoint interval lists."""
    out = []
    i = j = 0
    while i < len(xs) and j < len(ys):
        a, b = max(xs[i][0], ys[j][0]), min(xs[i][1], ys[j][1])
        if a < b:
            out.append((a, b))
        if xs[i][1] < ys[j][1]:
            i += 1
        else:
            j += 1
    return out


def subtract(xs: Sequence[Interval], ys: Sequence[Interval]) -> list[Interval]:
    """``xs`` minus ``ys`` (both sorted and disjoint)."""
    out = []
    j = 0
    for a, b in xs:
        cur = a
        while j < len(ys) and ys[j][1] <= cur:
            j += 1
        k = j
        while k < len(ys) and ys[k][0] < b:
            if ys[k][0] > cur:
                out.append((cur, ys[k][0]))
            cur = max(cur, ys[k][1])
            k += 1
        if cur < b:
            out.append((cur, b))
    return out


def total(intervals: Iterable[Interval]) -> int:
    """Summed length."""
    return sum(b - a for a, b in intervals)


@dataclass(frozen=True, slots=True)
class ControlInfo:
    """A control target and where it had data (the agent ran and could probe it)."""

    key: str
    role: Role
    coverage: tuple[Interval, ...]


@dataclass(frozen=True, slots=True)
class Piece:
    """A stretch of time on which every control's state is constant."""

    start_ns: int
    end_ns: int
    covered: bool
    lan: tuple[int, int, int]  # up, down, unknown
    internet: tuple[int, int, int]


class LineTimeline:
    """The state of the customer's line over a window, and the attribution it implies."""

    def __init__(self, pieces: list[Piece], quorum: int, lan_total: int, internet_total: int) -> None:
        self.pieces = pieces
        self.quorum = quorum
        self.lan_total = lan_total
        self.internet_total = internet_total
        self._starts = [p.start_ns for p in pieces]

    def verdict(self, piece: Piece, kind: ProviderKind) -> tuple[Attribution, str]:
        """The attribution of one piece for a provider of ``kind``, with the reason in words."""
        if not piece.covered:
            return Attribution.NO_DATA, "the agent was not running"
        lan_up, lan_down, _lan_unknown = piece.lan
        net_up, net_down, _net_unknown = piece.internet
        lan_text = f"LAN {lan_up}/{self.lan_total} up" if self.lan_total else "no LAN control"
        reason = f"{lan_text}, internet {net_up}/{self.internet_total} up (quorum {self.quorum})"
        n, q = self.internet_total, self.quorum
        net_ok = n > 0 and net_up >= q
        net_lost = n > 0 and net_down > n - q
        lan_any_down = lan_down > 0
        lan_all_up = self.lan_total > 0 and lan_up == self.lan_total
        if kind is ProviderKind.ISP:
            if lan_any_down:
                if net_ok:
                    return Attribution.INCONCLUSIVE, reason + "; LAN control down but internet up"
                return Attribution.CUSTOMER_LINE, reason
            if lan_all_up or net_ok:
                return Attribution.PROVIDER, reason
            return Attribution.INCONCLUSIVE, reason
        if lan_any_down:
            if net_ok:
                return Attribution.INCONCLUSIVE, reason + "; LAN control down but internet up"
            return Attribution.CUSTOMER_LINE, reason
        if net_ok:
            return Attribution.PROVIDER, reason
        if net_lost:
            return Attribution.CUSTOMER_LINE, reason
        return Attribution.INCONCLUSIVE, reason

    def segments(self, start_ns: int, end_ns: int, kind: ProviderKind) -> tuple[Segment, ...]:
        """Attribution segments of [start, end), merged where the verdict and reason repeat."""
        out: list[Segment] = []
        if end_ns <= start_ns:
            return ()
        i = max(0, bisect.bisect_right(self._starts, start_ns) - 1)
        cursor = start_ns
        while cursor < end_ns:
            if i < len(self.pieces) and self.pieces[i].start_ns <= cursor < self.pieces[i].end_ns:
                piece = self.pieces[i]
                stop = min(piece.end_ns, end_ns)
                attribution, reason = self.verdict(piece, kind)
                i += 1
            else:
                # outside the timeline's window: nothing is known
                nxt = self.pieces[i].start_ns if i < len(self.pieces) and self.pieces[i].start_ns > cursor else end_ns
                stop = min(nxt, end_ns)
                attribution, reason = Attribution.NO_DATA, "outside the analysed window"
                if i < len(self.pieces) and self.pieces[i].end_ns <= cursor:
                    i += 1
            if stop <= cursor:
                continue
            if out and out[-1].attribution is attribution and out[-1].reason == reason and out[-1].end_ns == cursor:
                out[-1] = Segment(out[-1].start_ns, stop, attribution, reason)
            else:
                out.append(Segment(cursor, stop, attribution, reason))
            cursor = stop
        return tuple(out)


def _control_marks(outages: Iterable[Outage], now_ns: int) -> list[tuple[int, int, str]]:
    marks = []
    for o in outages:
        lo = o.start_bounds[0]
        if lo is not None and lo < o.start_ns:
            marks.append((lo, o.start_ns, UNKNOWN))
        if o.end_ns is None:
            marks.append((o.start_ns, now_ns, DOWN))
            continue
        last_fail = o.end_bounds[0] if o.end_bounds else o.start_ns
        marks.append((o.start_ns, max(last_fail, o.start_ns), DOWN))
        if last_fail < o.end_ns:
            marks.append((max(last_fail, o.start_ns), o.end_ns, UNKNOWN))
    return marks


def build_timeline(
    window: Interval,
    coverage: Sequence[Interval],
    controls: Sequence[ControlInfo],
    control_outages: Mapping[str, Sequence[Outage]],
    quorum: int,
    now_ns: int,
) -> LineTimeline:
    """Cut ``window`` into pieces of constant control state.

    ``coverage`` is when the agent ran (runs minus stalls); each control's own coverage says where it
    could be probed; ``control_outages`` maps a control key to its outages.
    """
    since, until = window
    points = {since, until}
    for a, b in coverage:
        points.update((a, b))
    marks_by_key: dict[str, list[tuple[int, int, str]]] = {}
    for c in controls:
        for a, b in c.coverage:
            points.update((a, b))
        marks = _control_marks(control_outages.get(c.key, ()), now_ns)
        marks_by_key[c.key] = marks
        for a, b, _ in marks:
            points.update((a, b))
    cuts = sorted(p for p in points if since <= p <= until)
    spans = list(itertools.pairwise(cuts))
    covered = [False] * len(spans)
    starts = [a for a, _ in spans]
    cov = union(coverage)
    for a, b in cov:
        for i in range(max(0, bisect.bisect_left(starts, a)), bisect.bisect_left(starts, b)):
            covered[i] = True
    rank = {UP: 0, UNKNOWN: 1, DOWN: 2}
    lan = [c for c in controls if c.role is Role.LAN]
    net = [c for c in controls if c.role is Role.INTERNET]
    counts = {"lan": [[0, 0, 0] for _ in spans], "internet": [[0, 0, 0] for _ in spans]}
    for group, members in (("lan", lan), ("internet", net)):
        for c in members:
            state = [UNKNOWN] * len(spans)  # a control with no data is unknown, whatever else is said
            for a, b in union(c.coverage):
                for i in range(max(0, bisect.bisect_left(starts, a)), bisect.bisect_left(starts, b)):
                    state[i] = UP
            has = [s == UP for s in state]
            for a, b, s in marks_by_key[c.key]:
                for i in range(max(0, bisect.bisect_left(starts, a)), bisect.bisect_left(starts, b)):
                    if has[i] and rank[s] > rank[state[i]]:
                        state[i] = s
            for i, s in enumerate(state):
                counts[group][i][(UP, DOWN, UNKNOWN).index(s)] += 1
    pieces = [
        Piece(a, b, covered[i], tuple(counts["lan"][i]), tuple(counts["internet"][i]))  # type: ignore[arg-type]
        for i, (a, b) in enumerate(spans)
    ]
    # merge neighbours with identical state so segments stay few
    merged: list[Piece] = []
    for p in pieces:
        if merged and (merged[-1].covered, merged[-1].lan, merged[-1].internet) == (p.covered, p.lan, p.internet):
            merged[-1] = Piece(merged[-1].start_ns, p.end_ns, p.covered, p.lan, p.internet)
        else:
            merged.append(p)
    return LineTimeline(merged, quorum, len(lan), len(net))


def _sweep(intervals: Iterable[Interval], threshold: int) -> list[Interval]:
    """Windows where at least ``threshold`` of the intervals overlap."""
    edges: list[tuple[int, int]] = []
    for a, b in intervals:
        if b > a:
            edges += [(a, 1), (b, -1)]
    edges.sort(key=lambda e: (e[0], e[1]))
    out: list[Interval] = []
    depth, opened = 0, 0
    for t, d in edges:
        before = depth
        depth += d
        if before < threshold <= depth:
            opened = t
        elif depth < threshold <= before and t > opened:
            out.append((opened, t))
    return union(out)


def _most_at_once(outages: Sequence[Outage], a: int, b: int, now_ns: int) -> int:
    """The most of these targets down at one moment within [a, b)."""
    edges: list[tuple[int, int]] = []
    for o in outages:
        lo, hi = max(o.start_ns, a), min(now_ns if o.end_ns is None else o.end_ns, b)
        if lo < hi:
            edges += [(lo, 1), (hi, -1)]
    most = down = 0
    for _, step in sorted(edges):
        down += step
        most = max(most, down)
    return most


def group_windows(
    key: str, outages: Sequence[Outage], need: int, now_ns: int, total: int | None = None
) -> list[Outage]:
    """Windows where at least ``need`` of these targets were down at once, with honest bounds.

    Each window's detail states the real counts: how many were down at once out of ``total`` configured
    (by default, the targets that had outages).

    The point estimate uses each outage's [start, end); the start's lower bound comes from the widest
    reading (last success → first success) and the end's lower bound from the narrowest (first failure →
    last failure), so the true window lies within the stated bounds whenever each outage's does.
    """
    if need <= 0 or len(outages) < need:
        return []

    def end(o: Outage) -> int:
        return now_ns if o.end_ns is None else o.end_ns

    point = _sweep(((o.start_ns, end(o)) for o in outages), need)
    outer = _sweep((((o.start_bounds[0] or o.start_ns), end(o)) for o in outages), need)
    inner = _sweep(
        ((o.start_ns, now_ns if o.end_ns is None else (o.end_bounds or (o.start_ns, 0))[0]) for o in outages), need
    )
    windows = []
    for n, (a, b) in enumerate(point):
        lo_start = next((oa for oa, ob in outer if oa <= a < ob), a)
        last_fail = max((ib for ia, ib in inner if a <= ia and ib <= b), default=a)
        is_open = any(o.end_ns is None and o.start_ns <= a for o in outages) and b >= now_ns
        most = _most_at_once(outages, a, b, now_ns)
        down = f"{need}" if most <= need else f"{need} to {most}"
        windows.append(
            Outage(
                id=-(n + 1),
                target=key,
                start_ns=a,
                start_bounds=(lo_start if lo_start < a else None, a),
                confirmed_ns=a,
                end_ns=None if is_open else b,
                end_bounds=None if is_open else (last_fail, b),
                detail=f"{down} of {total or len({o.target for o in outages})} controls down at once",
            )
        )
    return windows


def internet_lost_windows(
    internet_outages: Sequence[Outage], internet_total: int, quorum: int, now_ns: int
) -> list[Outage]:
    """Windows where so many internet controls were down that the quorum could not be met."""
    need = internet_total - quorum + 1
    return group_windows(LINE_INTERNET, internet_outages, need, now_ns, internet_total)


TAIL_REASON = "recovered between two probes, and the line was not verified working at the last failure"


def attribute(
    outage: Outage, provider: str | None, role: Role, kind: ProviderKind, timeline: LineTimeline, now_ns: int
) -> AttributedOutage:
    """Cut an outage into attribution segments.

    Between the target's last failure and its first success the target itself recovered at some unknown
    moment. That stretch counts against the provider only if the line was verified working when the target
    last failed; otherwise (the whole line came back at once, say) it is ``inconclusive``.
    """
    end = outage.end_ns if outage.end_ns is not None else now_ns
    segments = timeline.segments(outage.start_ns, end, kind)
    if outage.end_bounds is not None and segments:
        last_fail = outage.end_bounds[0]
        at_last_fail = next(
            (s.attribution for s in segments if s.start_ns <= last_fail < s.end_ns),
            segments[-1].attribution if last_fail >= segments[-1].end_ns else segments[0].attribution,
        )
        if at_last_fail is not Attribution.PROVIDER:
            segments = _downgrade_tail(segments, last_fail)
    return AttributedOutage(outage, provider, role, segments)


def _downgrade_tail(segments: tuple[Segment, ...], last_fail: int) -> tuple[Segment, ...]:
    """Provider stretches after ``last_fail`` become inconclusive (cut at ``last_fail``)."""
    out: list[Segment] = []
    for s in segments:
        if s.attribution is not Attribution.PROVIDER or s.end_ns <= last_fail:
            out.append(s)
            continue
        if s.start_ns < last_fail:
            out.append(Segment(s.start_ns, last_fail, s.attribution, s.reason))
        tail = Segment(max(s.start_ns, last_fail), s.end_ns, Attribution.INCONCLUSIVE, TAIL_REASON)
        if out and out[-1].attribution is tail.attribution and out[-1].reason == tail.reason:
            out[-1] = Segment(out[-1].start_ns, tail.end_ns, tail.attribution, tail.reason)
        else:
            out.append(tail)
    return tuple(out)
