"""The aiohttp application: overview and provider pages, the JSON API, /metrics and /healthz.

Routes (all GET unless noted; the README documents the API):

* ``/``                                     overview: each provider now, period-to-date SLA, outages, your line
* ``/providers/{id}?period=2026-11``        timelines, latency, outages, contact log, report figures, documents
* ``/providers/{id}/documents/{name}``      a registered document (report, evidence pack, complaint) for a period
* ``/api/v1/status``, ``/api/v1/outages``, ``/api/v1/report``
* ``/metrics`` (Prometheus text), ``/healthz``, ``/login`` (GET, POST), ``/logout`` (POST), ``/static/…``
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from aiohttp import web
from markupsafe import Markup

from watchdog.analysis.sla import Period, current_period, parse_period
from watchdog.config import Config, ProviderSection, split_listen
from watchdog.errors import NothingToClaim
from watchdog.journal.integrity import JournalDamaged
from watchdog.model import NS, Role
from watchdog.safetext import CompiledTemplates
from watchdog.timefmt import local_text, parse_time, to_datetime, utc_iso
from watchdog.web import metrics, views
from watchdog.web.data import DAY_NS, EV_CONTACT, History, StatusService
from watchdog.web.documents import KNOWN, DocumentRequest, Documents
from watchdog.web.guard import BODY_TIMEOUT_S
from watchdog.web.i18n import Lang, language
from watchdog.web.limits import Busy, DocumentGate, journal_start_ns, period_problem
from watchdog.web.security import (
    SECURITY_HEADERS,
    SESSION_COOKIE,
    HostPolicy,
    IPNetwork,
    LoginThrottle,
    TokenAuth,
    client_address,
    is_public,
    networks,
    safe_next,
    session_value,
)
from watchdog.web.timeline import latency_chart, timeline

_LOGGER = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
SESSION_MAX_AGE_S = 30 * 86400

_dumps = functools.partial(json.dumps, ensure_ascii=False, sort_keys=True)


class Settings:
    """What the handlers need, held by the app under one key."""

    def __init__(
        self,
        service: StatusService,
        *,
        documents: Documents,
        token: str | None,
        hosts: HostPolicy,
        lang: Lang,
        refresh_s: float,
        trusted_proxies: tuple[IPNetwork, ...] = (),
    ) -> None:
        self.service = service
        self.config: Config = service.config
        self.documents = dict(documents)
        self.auth = TokenAuth(token) if token else None
        self.hosts = hosts
        self.lang = lang
        self.refresh_s = refresh_s
        self.throttle = LoginThrottle()
        self.trusted_proxies = trusted_proxies
        self.documents_gate = DocumentGate()
        self.journal_start_ns: int | None = None  # read once the journal has data (issue 13 item 10)
        self.env = _environment(lang, self.config.zone)


SETTINGS = web.AppKey("settings", Settings)


def create_app(
    service: StatusService,
    *,
    documents: Documents | None = None,
    token: str | None = None,
    extra_hosts: tuple[str, ...] | None = None,
    listen_host: str | None = None,
    lang: str | None = None,
) -> web.Application:
    """The status page app for one source; settings default to the config's ``web`` section."""
    config = service.config
    section = config.model.web
    host = listen_host if listen_host is not None else split_listen(section.listen)[0]
    settings = Settings(
        service,
        documents=documents or {},
        token=token if token is not None else (section.token.get_secret_value() if section.token else None),
        hosts=HostPolicy(host, tuple(section.hosts) if extra_hosts is None else extra_hosts),
        lang=language(lang or section.language or config.agent.language),
        refresh_s=section.refresh,
        trusted_proxies=networks(section.trusted_proxies),
    )
    app = web.Application(middlewares=[_host_guard, _auth_guard, _errors], client_max_size=64 * 1024)
    app[SETTINGS] = settings
    app.on_response_prepare.append(_security_headers)
    app.router.add_get("/", overview)
    app.router.add_get("/providers/{provider}", provider_page)
    app.router.add_get("/providers/{provider}/documents/{name}", document)
    app.router.add_get("/api/v1/status", api_status)
    app.router.add_get("/api/v1/outages", api_outages)
    app.router.add_get("/api/v1/report", api_report)
    app.router.add_get("/metrics", metrics_handler)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/login", login_form)
    app.router.add_post("/login", login)
    app.router.add_post("/logout", logout)
    app.router.add_static("/static/", HERE / "static", name="static", append_version=True)
    return app


# ------------------------------------------------------------------------------------------ middleware

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _local_port(request: web.Request) -> int:
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    return int(sockname[1]) if sockname else 0


@web.middleware
async def _host_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """400 for a Host header that does not name this server (DNS rebinding)."""
    settings = request.app[SETTINGS]
    host = request.headers.get("Host")
    if not settings.hosts.allows(host, _local_port(request)):
        _LOGGER.warning("refused request with foreign Host host=%r path=%s peer=%s", host, request.path, request.remote)
        return web.Response(
            status=400,
            text=f"Host {host!r} is not allowed here. If you reach the status page under this name, "
            "add it to web.hosts in the agent's config.\n",
        )
    return await handler(request)


def _authenticated(request: web.Request) -> bool:
    auth = request.app[SETTINGS].auth
    if auth is None:
        return True
    return auth.bearer_ok(request.headers.get("Authorization")) or auth.cookie_ok(request.cookies.get(SESSION_COOKIE))


def _client(request: web.Request) -> str:
    """Who a request is counted against (the peer, or the client a trusted reverse proxy names)."""
    settings = request.app[SETTINGS]
    return client_address(request.remote, request.headers.get("X-Forwarded-For"), settings.trusted_proxies)


def _guessed(request: web.Request) -> bool:
    """A credential came along (and was wrong): a Bearer header or a session cookie."""
    return bool(request.headers.get("Authorization") or request.cookies.get(SESSION_COOKIE))


def _over_budget(request: web.Request) -> bool:
    """For an unauthenticated request: a wrong Bearer header or cookie came along, and it spent the budget."""
    if not _guessed(request):
        return False
    return _count_failure(request, "bearer" if request.headers.get("Authorization") else "cookie")


def _count_failure(request: web.Request, what: str) -> bool:
    """Count a wrong credential; True when the client is over its budget (answer 429, log once)."""
    settings = request.app[SETTINGS]
    client = _client(request)
    throttle = settings.throttle
    if throttle.blocked(client):
        if throttle.first_refusal(client):
            _LOGGER.warning(
                "login throttled peer=%s failures=%d window_s=%g", client, throttle.attempts, throttle.window_s
            )
        return True
    throttle.failed(client)
    _LOGGER.warning("login failed peer=%s credential=%s", client, what)
    return False


def _wants_html(request: web.Request) -> bool:
    return not request.path.startswith(("/api/", "/metrics")) and "text/html" in request.headers.get("Accept", "")


@web.middleware
async def _auth_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """401 without the token (a login form for browsers, JSON for the API)."""
    if is_public(request.path) or _authenticated(request):
        return await handler(request)
    if _over_budget(request):
        return _too_many(request)
    if _wants_html(request):
        return _render(request, "login.html", http_status=401, next=request.path_qs, error=None)
    return web.json_response(
        {"error": "unauthorized", "detail": "send Authorization: Bearer <web.token>"},
        status=401,
        headers={"WWW-Authenticate": 'Bearer realm="outage-watchdog"'},
        dumps=_dumps,
    )


def _too_many(request: web.Request, target: str = "/") -> web.Response:
    """429 for a client over its budget of wrong credentials."""
    headers = {"Retry-After": str(int(request.app[SETTINGS].throttle.window_s))}
    if _wants_html(request) or request.path == "/login":
        response = _render(
            request, "login.html", http_status=429, next=target, error="Too many attempts; wait a minute."
        )
        response.headers.update(headers)
        return response
    return web.json_response(
        {"error": "too many failed attempts; wait a minute"}, status=429, headers=headers, dumps=_dumps
    )


class BadRequest(Exception):
    """A client error whose message is safe to show."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Client errors as JSON for the API and text for pages; never a traceback to the client."""
    try:
        return await handler(request)
    except BadRequest as exc:
        if request.path.startswith("/api/"):
            return web.json_response({"error": str(exc)}, status=exc.status, dumps=_dumps)
        return web.Response(status=exc.status, text=f"{exc}\n")
    except JournalDamaged as exc:
        _LOGGER.error("%s", exc)
        if request.path.startswith("/api/"):
            return web.json_response({"error": str(exc)}, status=503, dumps=_dumps)
        return web.Response(status=503, text=f"{exc}\n")


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if not request.path.startswith("/static/"):
        response.headers.setdefault("Cache-Control", "no-store")


# --------------------------------------------------------------------------------------------- templates


_COMPILED = CompiledTemplates()  # templates compiled once per process (see its docstring)


def _environment(lang: Lang, zone: ZoneInfo) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        bytecode_cache=_COMPILED,
        extensions=["jinja2.ext.i18n"],
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_callables(lang.gettext, lang.ngettext, newstyle=True)  # type: ignore[attr-defined]

    @jinja2.pass_context
    def when(ctx: jinja2.runtime.Context, ts_ns: int | None, short: bool = False) -> Markup:
        if ts_ns is None:
            return Markup("—")
        d = to_datetime(ts_ns, zone)
        shown = d.strftime("%d.%m %H:%M" if short else "%Y-%m-%d %H:%M:%S")
        offset = d.strftime("%z")
        if offset != ctx.get("now_z"):  # a DST change inside the window: say which offset this time has
            shown += f" {offset[:3]}:{offset[3:]}"
        return Markup('<time datetime="{}" title="{} · {}">{}</time>').format(
            utc_iso(ts_ns), local_text(ts_ns, zone), utc_iso(ts_ns), shown
        )

    env.filters["when"] = when
    env.filters["dur"] = lang.duration
    env.filters["pct"] = lang.percent
    env.filters["lat"] = lang.latency
    env.filters["num"] = lang.number
    env.globals["lang"] = lang.code
    env.globals["zone_name"] = str(zone.key)
    return env


def _render(request: web.Request, name: str, *, http_status: int = 200, **context: Any) -> web.Response:
    settings = request.app[SETTINGS]
    config = settings.config
    zone = config.zone
    now_ns = settings.service.clock()
    offset = to_datetime(now_ns, zone).strftime("%z")
    html = settings.env.get_template(name).render(
        now_z=offset,
        agent=config.agent.id,
        providers_nav=[(p.id, p.display_name) for p in config.providers] if _authenticated(request) else [],
        signed_in=settings.auth is not None and _authenticated(request),
        refresh_s=int(settings.refresh_s),
        offset=f"UTC{offset[:3]}:{offset[3:]}",
        static=functools.partial(_static_url, request),
        **context,
    )
    return web.Response(text=html, status=http_status, content_type="text/html", charset="utf-8")


def _static_url(request: web.Request, path: str) -> str:
    """A static file's URL with its content hash (``?v=``), so browsers never run a stale script."""
    return str(request.app.router["static"].url_for(filename=path))


# ---------------------------------------------------------------------------------------------- pages


def _provider(config: Config, provider_id: str) -> ProviderSection:
    try:
        return config.provider(provider_id)
    except KeyError:
        raise BadRequest(
            f"no provider {provider_id!r} (known: {', '.join(p.id for p in config.providers)})", 404
        ) from None


def _period(provider: ProviderSection, config: Config, label: str | None, now_ns: int) -> Period:
    zone = config.provider_zone(provider.id)
    if not label:
        return current_period(provider.sla.period, now_ns, zone)
    try:
        return parse_period(label, zone)
    except (ValueError, OverflowError) as exc:
        raise BadRequest(
            f"cannot use period {label!r}: {exc}" if isinstance(exc, OverflowError) else str(exc)
        ) from None


async def _asked_period(settings: Settings, provider: ProviderSection, label: str | None, now_ns: int) -> Period:
    """The query's period, refused (400) when it is too long or outside the journal's span (see web.limits)."""
    period = _period(provider, settings.config, label, now_ns)
    if not label:
        return period
    if settings.journal_start_ns is None:
        settings.journal_start_ns = await asyncio.to_thread(journal_start_ns, settings.config.journal_path)
    problem = period_problem(period, now_ns, settings.journal_start_ns)
    if problem is not None:
        raise BadRequest(problem)
    return period


async def overview(request: web.Request) -> web.Response:
    """The overview page."""
    settings = request.app[SETTINGS]
    service, config = settings.service, settings.config
    now = await service.now()
    history = await service.history(now)
    status = views.status_json(now, history, config)
    recent = sorted((o for p in status["providers"] for o in p["outages"]), key=lambda o: o["start_ns"], reverse=True)[
        : views.RECENT_OUTAGES
    ]
    return _render(
        request,
        "overview.html",
        status=status,
        recent=recent,
        names={p.id: p.display_name for p in config.providers},
        period_title={p.id: _period_title(p.sla.period) for p in config.providers},
        documents=_document_links(settings),
    )


def _period_title(kind: str) -> str:
    return {"week": "Week to date", "quarter": "Quarter to date", "year": "Year to date"}.get(kind, "Month to date")


def _document_links(settings: Settings) -> list[tuple[str, str]]:
    titles = {
        "report": "SLA report",
        "evidence": "Evidence pack",
        "complaint": "Complaint draft",
        "complaint-pdf": "Complaint draft (PDF)",
    }
    names = [n for n in KNOWN if n in settings.documents] + sorted(n for n in settings.documents if n not in KNOWN)
    return [(n, titles.get(n, n)) for n in names]


async def provider_page(request: web.Request) -> web.Response:
    """One provider: timelines, latency, report figures for a period, outages, contacts, documents."""
    settings = request.app[SETTINGS]
    service, config = settings.service, settings.config
    provider = _provider(config, request.match_info["provider"])
    now_ns = settings.service.clock()
    period = await _asked_period(settings, provider, request.query.get("period"), now_ns)
    now = await service.now()
    history, latency = await asyncio.gather(service.history(now), service.latency(provider.id))
    current = history.figures[provider.id]
    figures = current if period.label == current.period.label else await service.report(provider, period)
    pzone = config.provider_zone(provider.id)
    prev_period = current_period(provider.sla.period, period.start_ns - NS, pzone)  # ns → float loses 1 ns
    next_period = current_period(provider.sla.period, period.end_ns, pzone) if period.end_ns <= now_ns else None
    data = views.provider_json(provider, now, history, config, recent=None)
    outages = views.provider_outages(history, provider.id)
    keys = [t.key for t in config.targets_of(provider.id)]
    keys += sorted({o.outage.target for o in outages} - set(keys))  # an ISP's lost-internet windows
    rows = []
    for key in keys:
        mine = [o for o in outages if o.outage.target == key]
        cov = history.target_coverage.get(key, tuple(history.analysis.coverage))
        rows.append(
            {
                "key": key,
                "day": timeline(key, now.now_ns - DAY_NS, now.now_ns, cov, mine),
                "month": timeline(key, history.since_ns, now.now_ns, cov, mine),
            }
        )
    return _render(
        request,
        "provider.html",
        p=data,
        provider=provider,
        report=views.report_json(provider, figures, config),
        incidents=[views.incident_json(i, config.zone) for i in figures.incidents],
        period=period,
        prev_period=prev_period.label,
        next_period=next_period.label if next_period else None,
        timelines=rows,
        latency=[(s, latency_chart(s)) for s in latency],
        contacts=_contacts(history, provider.id),
        documents=_document_links(settings),
        now_ns=now.now_ns,
        status={
            "mode": now.mode,
            "agent_running": now.agent_running,
            "last_record_ns": now.last_record_ns,
            "journal": {"error": now.journal_error},
            "generated_ns": now.now_ns,
        },
    )


def _contacts(history: History, provider_id: str) -> list[dict[str, Any]]:
    """Contact-log entries for a provider, newest first (the fields `watchdog contact add` records)."""
    out = []
    for e in history.contacts:
        if e.type != EV_CONTACT or e.data.get("provider") != provider_id:
            continue
        at = e.data.get("at_ns")
        out.append(
            {
                "at_ns": int(at) if isinstance(at, int) else e.ts_ns,
                "channel": str(e.data.get("channel", "")),
                "ref": str(e.data.get("ref") or ""),
                "note": str(e.data.get("note") or ""),
            }
        )
    return sorted(out, key=lambda c: c["at_ns"], reverse=True)


async def document(request: web.Request) -> web.Response:
    """Render a registered document for a provider and period (in a worker thread)."""
    settings = request.app[SETTINGS]
    config = settings.config
    name = request.match_info["name"]
    renderer = settings.documents.get(name)
    if renderer is None:
        raise BadRequest(f"no document {name!r} here (available: {', '.join(settings.documents) or 'none'})", 404)
    provider = _provider(config, request.match_info["provider"])
    period = await _asked_period(settings, provider, request.query.get("period"), settings.service.clock())
    doc_request = DocumentRequest(
        config, config.journal_path, provider, period, settings.lang.code, settings.service.clock()
    )
    try:
        async with settings.documents_gate.slot():  # one document at a time, a few waiting (issue 13 item 10)
            doc = await asyncio.to_thread(renderer, doc_request)
    except Busy as exc:
        raise BadRequest(str(exc), 503) from None
    except JournalDamaged:
        raise
    except NothingToClaim as exc:  # a complaint with nothing to claim: the reason, not a server error
        raise BadRequest(f"no {name}: {exc}", 409) from None
    except Exception:
        _LOGGER.exception("document failed to render name=%s provider=%s period=%s", name, provider.id, period.label)
        return web.Response(status=500, text=f"the {name} could not be rendered; the agent's log says why\n")
    headers = {}
    if doc.filename:
        safe = "".join(c for c in doc.filename if c.isalnum() or c in "._-") or name
        headers["Content-Disposition"] = f'attachment; filename="{safe}"'
    return web.Response(
        body=doc.body,
        headers=headers,
        content_type=doc.content_type.split(";")[0].strip(),
        charset=_charset(doc.content_type),
    )


def _charset(content_type: str) -> str | None:
    for part in content_type.split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key.lower() == "charset":
            return value.strip()
    return None


# ------------------------------------------------------------------------------------------------ API


async def api_status(request: web.Request) -> web.Response:
    """``/api/v1/status``."""
    settings = request.app[SETTINGS]
    now = await settings.service.now()
    history = await settings.service.history(now)
    return web.json_response(views.status_json(now, history, settings.config), dumps=_dumps)


async def api_outages(request: web.Request) -> web.Response:
    """``/api/v1/outages?provider=&since=&until=&controls=1`` (default: the last 30 days)."""
    settings = request.app[SETTINGS]
    config = settings.config
    q = request.query
    now = settings.service.clock()
    try:
        since = parse_time(q["since"], config.zone, now) if q.get("since") else now - 30 * DAY_NS
        until = parse_time(q["until"], config.zone, now) if q.get("until") else None
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    provider = q.get("provider")
    if provider:
        _provider(config, provider)
    controls = q.get("controls", "") in ("1", "true", "yes")
    analysis = await settings.service.analysis(since, until)
    items = [
        a
        for a in analysis.outages
        if (controls or a.role is Role.PROVIDER) and (not provider or a.provider == provider)
    ]
    return web.json_response(
        views.outages_json(items, config, analysis.now_ns, analysis.since_ns, analysis.until_ns), dumps=_dumps
    )


async def api_report(request: web.Request) -> web.Response:
    """``/api/v1/report?provider=P&period=2026-11`` (default: the provider's current period)."""
    settings = request.app[SETTINGS]
    config = settings.config
    provider_id = request.query.get("provider")
    if not provider_id:
        if len(config.providers) != 1:
            raise BadRequest(f"say which provider: ?provider= one of {', '.join(p.id for p in config.providers)}")
        provider_id = config.providers[0].id
    provider = _provider(config, provider_id)
    period = await _asked_period(settings, provider, request.query.get("period"), settings.service.clock())
    figures = await settings.service.report(provider, period)
    return web.json_response(views.report_json(provider, figures, config), dumps=_dumps)


async def metrics_handler(request: web.Request) -> web.Response:
    """``/metrics`` in the Prometheus text format."""
    settings = request.app[SETTINGS]
    now = await settings.service.now()
    history = await settings.service.history(now)
    body = await asyncio.to_thread(metrics.render, settings.config, now, history)
    return web.Response(body=body, headers={"Content-Type": metrics.CONTENT_TYPE})


async def healthz(request: web.Request) -> web.Response:
    """200 while the agent probes and journals (live) or the journal is readable (serve); else 503.

    Public, but the details are only for holders of the token; a wrong token here counts against the client's
    budget like anywhere else, or the longer body would make this an unthrottled oracle for guessing it.
    """
    settings = request.app[SETTINGS]
    authenticated = _authenticated(request)
    if not authenticated and _over_budget(request):
        return _too_many(request)
    ok, details = await settings.service.source.health()
    body: dict[str, Any] = {"ok": ok}
    if authenticated:  # the details may name paths and errors: only for those holding the token
        body.update(details)
    return web.json_response(body, status=200 if ok else 503, dumps=_dumps)


# ---------------------------------------------------------------------------------------------- login


async def login_form(request: web.Request) -> web.Response:
    """The sign-in form (only useful when a token is set)."""
    return _render(request, "login.html", next=safe_next(request.query.get("next")), error=None)


def _same_origin(request: web.Request) -> bool:
    """A form POST must come from a page of this server (login CSRF)."""
    origin = request.headers.get("Origin")
    if origin is None or origin == "null":
        return origin is None
    host = request.headers.get("Host", "")
    return origin.split("://", 1)[-1].lower() == host.lower()


async def login(request: web.Request) -> web.Response:
    """Check the token; set the session cookie and go back where the user was."""
    settings = request.app[SETTINGS]
    if not _same_origin(request):
        return web.Response(status=403, text="cross-site form post refused\n")
    try:
        async with asyncio.timeout(BODY_TIMEOUT_S):  # a form trickled byte by byte must not hold a slot
            form = await request.post()
    except TimeoutError:
        return web.Response(status=408, text="the form did not arrive in time\n", headers={"Connection": "close"})
    target = safe_next(str(form.get("next", "/")))
    if settings.auth is None:
        raise web.HTTPSeeOther(target)
    client = _client(request)
    if not settings.auth.token_ok(str(form.get("token", ""))):
        if _count_failure(request, "form"):
            return _too_many(request, target)
        return _render(request, "login.html", http_status=401, next=target, error="Wrong token.")
    response = web.HTTPSeeOther(target)
    response.set_cookie(
        SESSION_COOKIE,
        session_value(settings.auth.token),
        max_age=SESSION_MAX_AGE_S,
        httponly=True,
        samesite="Strict",
        secure=request.secure,
        path="/",
    )
    _LOGGER.info("login peer=%s", client)
    raise response


async def logout(request: web.Request) -> web.Response:
    """Forget the session cookie."""
    if not _same_origin(request):
        return web.Response(status=403, text="cross-site form post refused\n")
    response = web.HTTPSeeOther("/")
    response.del_cookie(SESSION_COOKIE, path="/")
    raise response
