"""The collective report for people and programs: one JSON document, and text, CSV, HTML and a chart from it.

Everything shown comes from :func:`collective_json`, so the formats cannot disagree. Times people read are
in the report's zone with its UTC offset, and in UTC; the JSON carries UTC nanoseconds plus both ISO forms.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import functools
import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
import yaml
from matplotlib import dates as mdates
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from watchdog import __version__
from watchdog.analysis.timeline import State
from watchdog.collective.core import Collective, Step, Window
from watchdog.documents.chart import COLOURS
from watchdog.documents.words import Lang, Phrasebook
from watchdog.model import NS
from watchdog.safetext import CompiledTemplates
from watchdog.timefmt import local_iso, utc_iso

FORMAT = "outage-watchdog-collective/1"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"


@functools.cache
def _table_of(lang: Lang) -> dict[str, Any]:
    data = yaml.safe_load((LOCALE_DIR / f"collective.{lang}.yaml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def collective_words(lang: Lang, zone: ZoneInfo) -> Phrasebook:
    """The report's words in ``lang`` (``watchdog/collective/locale/collective.<lang>.yaml``)."""
    return Phrasebook(lang, _table_of(lang), zone)


METHOD = str(_table_of("en")["method"])  # the JSON's method is English: a program's contract, not a page


def _t(ns: int, zone: ZoneInfo) -> dict[str, Any]:
    return {"ns": ns, "utc": utc_iso(ns), "local": local_iso(ns, zone)}


def _step(step: Step, zone: ZoneInfo) -> dict[str, Any]:
    return {
        "start": _t(step.start_ns, zone),
        "end": _t(step.end_ns, zone),
        "confirming": list(step.confirming),
        "reporting": step.reporting,
        "line_down": list(step.line_down),
        "inconclusive": list(step.inconclusive),
    }


def peak_text(window: Window) -> str:
    """``confirmed by N of M agents reporting at that time``."""
    n, m = len(window.peak.confirming), window.peak.reporting
    return f"confirmed by {n} of {m} agent{'s' if m != 1 else ''} reporting at that time"


def _window(w: Window, zone: ZoneInfo) -> dict[str, Any]:
    return {
        "start": _t(w.start_ns, zone),
        "end": _t(w.end_ns, zone),
        "duration_s": w.duration_s,
        "confirmed_by": list(w.confirmed_by),
        "reporting": list(w.reporting),
        "line_down": list(w.line_down),
        "inconclusive": list(w.inconclusive),
        "peak": {
            "start": _t(w.peak.start_ns, zone),
            "end": _t(w.peak.end_ns, zone),
            "confirming": len(w.peak.confirming),
            "reporting": w.peak.reporting,
            "agents": list(w.peak.confirming),
        },
        "text": peak_text(w),
        "steps": [_step(s, zone) for s in w.steps],
    }


def collective_json(
    c: Collective,
    *,
    zone: ZoneInfo,
    period: Mapping[str, Any],
    asked: Sequence[str],
    where: Mapping[str, str],
    source: Mapping[str, Any],
    generated_ns: int,
    rejected: Sequence[Mapping[str, Any]] = (),
    skipped: Sequence[Mapping[str, Any]] = (),
    problems: Sequence[str] = (),
) -> dict[str, Any]:
    """The report as plain data (stable; documented in the README)."""
    return {
        "format": FORMAT,
        "made_with": f"outage-watchdog {__version__}",
        "provider": c.provider,
        "asked": list(asked),
        "names": list(c.names),
        "where": dict(where),
        "k": c.k,
        "timezone": str(zone.key),
        "period": {"label": period["label"], "start": _t(period["start_ns"], zone), "end": _t(period["end_ns"], zone)},
        "window": {"start": _t(c.window[0], zone), "end": _t(c.window[1], zone)},
        "generated": _t(generated_ns, zone),
        "source": dict(source),
        "windows": [_window(w, zone) for w in c.windows],
        "agents": [
            {
                "agent": a.agent,
                "tags": dict(sorted(a.tags.items())),
                "provider": a.provider,
                "kind": a.kind,
                "sources": list(a.sources),
                "covered_s": a.covered_s,
                "coverage": round(a.coverage, 6),
                "up_s": a.up_s,
                "provider_s": a.provider_s,
                "customer_line_s": a.customer_line_s,
                "inconclusive_s": a.inconclusive_s,
                "windows": a.windows,
            }
            for a in c.agents
        ],
        "rejected": [dict(r) for r in rejected],
        "skipped": [dict(s) for s in skipped],
        "problems": list(problems),
        "method": METHOD,
    }


# ---------------------------------------------------------------------------------------------- text


def _names(agents: Sequence[str], w: Phrasebook, limit: int = 12) -> str:
    if not agents:
        return w("none")
    shown = ", ".join(agents[:limit])
    return w("more", shown=shown, more=len(agents) - limit) if len(agents) > limit else shown


def _peak(window: Mapping[str, Any], w: Phrasebook) -> str:
    """``confirmed by N of M agents reporting at that time`` in ``w``'s language."""
    peak = window["peak"]
    return w("peak", n=peak["confirming"], agents=w.count(peak["reporting"], "agent_gen"))


def render_text(doc: Mapping[str, Any], lang: Lang = "en") -> str:
    """The report as a plain text page in ``lang``."""
    zone = ZoneInfo(doc["timezone"])
    w = collective_words(lang, zone)
    where = w("where", tags=", ".join(f"{k}={v}" for k, v in doc["where"].items())) if doc["where"] else ""
    lines = [
        w(
            "head",
            provider=doc["provider"],
            names=", ".join(doc["names"]) or w("none"),
            period=doc["period"]["label"],
            zone=doc["timezone"],
            k=doc["k"],
            where=where,
        ),
        w("source", source=_source_text(doc["source"], w)),
        w("window", start=w.instant(doc["window"]["start"]["ns"]), end=w.instant(doc["window"]["end"]["ns"])),
        "",
    ]
    windows = doc["windows"]
    lines.append(w("windows", k=w.count(doc["k"], "agent_gen"), n=len(windows)))
    for i, win in enumerate(windows, 1):
        lines += [
            w(
                "row",
                i=i,
                start=w.instant(win["start"]["ns"]),
                end=w.instant(win["end"]["ns"]),
                duration=w.dur(win["duration_s"]),
                peak=_peak(win, w),
                at=w.instant(win["peak"]["start"]["ns"]),
            ),
            w("row_utc", start=win["start"]["utc"], end=win["end"]["utc"]),
            w(
                "row_confirmed",
                n=len(win["confirmed_by"]),
                agents=w.count(len(win["reporting"]), "agent_gen"),
                names=_names(win["confirmed_by"], w),
            ),
            w("row_excluded", line=_names(win["line_down"], w), inconclusive=_names(win["inconclusive"], w)),
        ]
    lines += ["", w("agents", n=len(doc["agents"]))]
    rows = [
        [
            a["agent"],
            " ".join(f"{k}={v}" for k, v in a["tags"].items()),
            _coverage(100 * a["coverage"], w),
            w.dur(a["provider_s"]),
            w.dur(a["customer_line_s"]),
            w.dur(a["inconclusive_s"]),
            a["windows"],
            ", ".join(a["sources"]),
        ]
        for a in doc["agents"]
    ]
    lines.append(_table(w.phrases["columns"], rows))
    if doc["rejected"]:
        lines += ["", w("rejected", n=len(doc["rejected"]))]
        for r in doc["rejected"]:
            lines.append(f"  {r['path']}:")
            lines += [f"    {reason}" for reason in r["reasons"]]
    if doc["skipped"]:
        lines += ["", w("skipped", n=len(doc["skipped"]))]
        lines += [f"  {s['path']}: {s['reason']}" for s in doc["skipped"]]
    if doc["problems"]:
        lines += ["", w("problems")] + [f"  {p}" for p in doc["problems"]]
    lines += ["", w("method_label") + " ".join(str(w.phrases["method"]).split()), ""]
    return "\n".join(lines)


def _source_text(source: Mapping[str, Any], w: Phrasebook) -> str:
    if source.get("kind") == "packs":
        return w(
            "source_packs",
            packs=w.count(source["packs"], "pack"),
            folder=source["folder"],
            used=source["used"],
            rejected=source["rejected"],
            skipped=source["skipped"],
        )
    return w(
        "source_influx",
        url=source.get("url"),
        database=source.get("database"),
        points=w.count(source.get("points", 0), "point"),
    )


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    out = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    out.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(out)


# ----------------------------------------------------------------------------------------------- CSV

WINDOW_COLUMNS = (
    "window",
    "start_utc",
    "start_local",
    "end_utc",
    "end_local",
    "duration_s",
    "confirming_at_peak",
    "reporting_at_peak",
    "peak_start_utc",
    "confirmed_by",
    "reporting",
    "line_down",
    "inconclusive",
)
AGENT_COLUMNS = (
    "agent",
    "tags",
    "provider",
    "kind",
    "coverage",
    "covered_s",
    "up_s",
    "provider_s",
    "customer_line_s",
    "inconclusive_s",
    "windows",
    "sources",
)


def _csv(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return "\ufeff" + buf.getvalue()


def render_csv(doc: Mapping[str, Any]) -> tuple[str, str]:
    """``windows.csv`` and ``agents.csv`` (UTF-8 with a BOM, CRLF; agent lists separated by spaces)."""
    windows = [
        [
            i,
            w["start"]["utc"],
            w["start"]["local"],
            w["end"]["utc"],
            w["end"]["local"],
            f"{w['duration_s']:.3f}",
            w["peak"]["confirming"],
            w["peak"]["reporting"],
            w["peak"]["start"]["utc"],
            " ".join(w["confirmed_by"]),
            " ".join(w["reporting"]),
            " ".join(w["line_down"]),
            " ".join(w["inconclusive"]),
        ]
        for i, w in enumerate(doc["windows"], 1)
    ]
    agents = [
        [
            a["agent"],
            " ".join(f"{k}={v}" for k, v in a["tags"].items()),
            a["provider"],
            a["kind"],
            f"{a['coverage']:.6f}",
            f"{a['covered_s']:.3f}",
            f"{a['up_s']:.3f}",
            f"{a['provider_s']:.3f}",
            f"{a['customer_line_s']:.3f}",
            f"{a['inconclusive_s']:.3f}",
            a["windows"],
            " ".join(a["sources"]),
        ]
        for a in doc["agents"]
    ]
    return _csv(WINDOW_COLUMNS, windows), _csv(AGENT_COLUMNS, agents)


# ---------------------------------------------------------------------------------------------- HTML


_COMPILED = CompiledTemplates()  # templates compiled once per process (see its docstring)


def render_html(doc: Mapping[str, Any], png: bytes, lang: Lang = "en") -> str:
    """A standalone HTML page in ``lang``, the chart inlined (``watchdog/collective/templates/collective.html.j2``)."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("watchdog.collective", "templates"),
        autoescape=True,
        bytecode_cache=_COMPILED,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    zone = ZoneInfo(doc["timezone"])
    w = collective_words(lang, zone)
    env.filters["local"] = lambda t: w.instant(t["ns"])
    env.filters["dur"] = w.dur
    env.filters["names"] = lambda agents: _names(agents, w)
    env.filters["peak"] = lambda window: _peak(window, w)
    env.filters["pct"] = lambda value: _coverage(value, w)
    where = w("where", tags=", ".join(f"{k}={v}" for k, v in doc["where"].items())) if doc["where"] else ""
    return env.get_template("collective.html.j2").render(
        doc=doc, w=w, where=where, chart=base64.b64encode(png).decode("ascii"), source=_source_text(doc["source"], w)
    )


def _coverage(percent: float, w: Phrasebook) -> str:
    """``7.7%`` (as before) / ``7,7 %``."""
    text = w.pct(percent, 1)
    return text.replace(" ", "") if w.lang == "en" else text


# --------------------------------------------------------------------------------------------- chart

_STATE_COLOURS = {
    State.UP: COLOURS["up"],
    State.PROVIDER: COLOURS["provider"],
    State.CUSTOMER_LINE: COLOURS["customer_line"],
    State.INCONCLUSIVE: COLOURS["inconclusive"],
}


def _num(ts_ns: int, zone: ZoneInfo) -> float:
    return float(mdates.date2num(dt.datetime.fromtimestamp(ts_ns / NS, zone)))  # type: ignore[no-untyped-call]


def chart_png(c: Collective, zone: ZoneInfo, title: str, lang: Lang = "en") -> bytes:
    """Confirming and reporting agents over time (windows shaded), one band per agent (PNG), labels in ``lang``."""
    say = _table_of(lang)["chart"]
    rows = list(c.timelines)
    height = 3.2 + 0.16 * max(len(rows), 3)
    fig = Figure(figsize=(12, height), dpi=100)
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(2, 1, height_ratios=[2.4, max(1.0, 0.16 * len(rows))], hspace=0.12)
    top = fig.add_subplot(grid[0])
    bands = fig.add_subplot(grid[1], sharex=top)
    lo, hi = _num(c.window[0], zone), _num(c.window[1], zone)
    xs, confirming, reporting = [], [], []
    for s in c.steps:
        xs += [_num(s.start_ns, zone), _num(s.end_ns, zone)]
        confirming += [len(s.confirming)] * 2
        reporting += [s.reporting] * 2
    if xs:
        top.plot(xs, reporting, color="#555555", linewidth=1.0, label=say["reporting"])
        top.plot(xs, confirming, color=COLOURS["provider"], linewidth=1.4, label=say["confirming"])
    top.axhline(c.k, color="#1f77b4", linewidth=0.8, linestyle="--", label=f"K = {c.k}")
    for w in c.windows:
        top.axvspan(_num(w.start_ns, zone), _num(w.end_ns, zone), color=COLOURS["provider"], alpha=0.12, linewidth=0)
    top.set_ylim(0, max([c.k, *reporting, 1]) + 0.5)
    top.set_xlim(lo, hi)
    top.set_ylabel(say["agents"], fontsize=8)
    top.set_title(title, fontsize=11, loc="left")
    top.grid(color="#dddddd", linewidth=0.6)
    top.legend(fontsize=7, loc="upper right", frameon=False)
    top.tick_params(axis="x", labelbottom=False)
    top.tick_params(axis="y", labelsize=8)
    labels = []
    for y, t in enumerate(reversed(rows), start=1):
        labels.append(t.agent)
        bands.broken_barh([(lo, hi - lo)], (y - 0.4, 0.8), facecolors=COLOURS["no_data"], linewidth=0)
        for state, colour in _STATE_COLOURS.items():
            bars = [(_num(s.start_ns, zone), _num(s.end_ns, zone) - _num(s.start_ns, zone)) for s in t.spans]
            bars = [b for b, s in zip(bars, t.spans, strict=True) if s.state is state]
            if bars:
                bands.broken_barh(bars, (y - 0.4, 0.8), facecolors=colour, linewidth=0)
    bands.set_yticks(range(1, len(rows) + 1), labels, fontsize=6 if len(rows) > 40 else 8)
    bands.set_ylim(0.4, len(rows) + 0.6)
    bands.grid(axis="x", color="#dddddd", linewidth=0.6)
    locator = mdates.AutoDateLocator(tz=zone, maxticks=12)  # type: ignore[no-untyped-call]
    bands.xaxis.set_major_locator(locator)
    bands.xaxis.set_major_formatter(mdates.DateFormatter(f"{say['day']}\n%H:%M", tz=zone))  # type: ignore[no-untyped-call]
    bands.tick_params(axis="x", labelsize=8)
    bands.set_xlabel(say["local_time"].format(zone=zone.key), fontsize=8)
    legend = [
        Patch(color=COLOURS["up"], label=say["up"]),
        Patch(color=COLOURS["provider"], label=say["provider"]),
        Patch(color=COLOURS["customer_line"], label=say["customer_line"]),
        Patch(color=COLOURS["inconclusive"], label=say["inconclusive"]),
        Patch(color=COLOURS["no_data"], label=say["no_data"]),
    ]
    fig.legend(handles=legend, loc="lower center", ncol=5, fontsize=7, frameon=False, bbox_to_anchor=(0.5, -0.01))
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None}, bbox_inches="tight", pad_inches=0.2)
    return buf.getvalue()
