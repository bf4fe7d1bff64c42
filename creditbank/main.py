"""The application factory."""

import gc
import json
import logging
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import inspect, text
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from creditbank import __version__
from creditbank.auth.deps import Admissions, PublicGuard, RoleGuard, provisional_refusal
from creditbank.config import Settings, get_settings
from creditbank.context import AppContext, build_context
from creditbank.db import unavailability, warm_pool
from creditbank.deps import request_lang
from creditbank.dispatch import skip_unmatchable_routers
from creditbank.errors import (
    PROBLEM_BASE,
    PROBLEM_MEDIA_TYPE,
    CreditBankError,
    DatabaseUnavailable,
    TooManyRequests,
    problem_title,
)
from creditbank.i18n import DEFAULT_LANG, Lang, Translator
from creditbank.limits import BodyLimitMiddleware, SharedSlots, heavy_slots, limits_of
from creditbank.observability import Metrics, RequestContextMiddleware, configure_logging
from creditbank.outcomes.reasons import first_error
from creditbank.problems import accepted_values, domain_error_of
from creditbank.request_models import bodies_without_string_cache

GC_THRESHOLD = 20_000  # first-generation allocations between collections (Python's default: 700)

log = logging.getLogger("creditbank")


def problem(
    status: int,
    slug: str,
    title: str,
    detail: str,
    headers: Mapping[str, str] | None = None,
    lang: Lang = DEFAULT_LANG,
    **extra: Any,
) -> JSONResponse:
    """A problem+json answer; ``title`` (English) is shown in ``lang`` when the catalogues have it."""
    shown = problem_title(slug, title, lang)
    body = {
        "type": PROBLEM_BASE + slug,
        "title": shown,
        "status": status,
        "detail": shown if detail == title else detail,
        **extra,
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def _install_error_handlers(app: FastAPI) -> None:
    from creditbank.web.pages import refusal_page

    @app.exception_handler(CreditBankError)
    async def domain_error(request: Request, exc: CreditBankError) -> Response:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        if isinstance(exc, TooManyRequests | DatabaseUnavailable):
            headers = {"Retry-After": str(exc.retry_after)}
        page = refusal_page(request, exc)  # a browser on a page's route: a page, not problem+json
        if page is not None:
            page.headers.update(headers or {})
            return page
        return JSONResponse(
            exc.to_problem(instance=request.url.path, lang=request_lang(request)),
            status_code=exc.status,
            media_type=PROBLEM_MEDIA_TYPE,
            headers=headers,
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        revoked = await provisional_refusal(request)  # a revoked token is told so first, as by its guard
        if revoked is not None:
            return await domain_error(request, revoked)
        errors = [
            {
                "loc": [str(p) for p in e.get("loc", ())],
                "msg": str(e.get("msg", "")),
                "type": str(e.get("type", "")),
                **accepted_values(e),
            }
            for e in exc.errors()
        ]
        lang = request_lang(request)
        return problem(
            422,
            "validation-failed",
            "The request is not valid",
            first_error(exc.errors(), lang),
            lang=lang,
            errors=errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        error = domain_error_of(exc, request.app.state.ctx.settings)  # a body over its limit
        if error is not None:
            return await domain_error(request, error)
        slugs = {
            400: "bad-request",
            401: "unauthenticated",
            403: "forbidden",
            404: "not-found",
            405: "method-not-allowed",
        }
        slug = slugs.get(exc.status_code, f"http-{exc.status_code}")
        # keep the exception's headers: a 405 must name the allowed methods (Allow)
        return problem(
            exc.status_code,
            slug,
            str(exc.detail),
            str(exc.detail),
            headers=exc.headers,
            lang=request_lang(request),
        )

    @app.exception_handler(DataError)
    async def data_error(request: Request, exc: DataError) -> JSONResponse:
        # A value that passed validation but that the database cannot store (a NUL character in
        # text, a number out of range). The transaction is already rolled back; the log names the
        # driver error class only, never the statement's parameters.
        log.warning("database refused a value", extra={"fields": {"error": type(exc.orig).__name__}})
        t = Translator(request_lang(request))
        return problem(
            422,
            "unstorable-value",
            "The request holds a value that cannot be stored",
            t("problem_detail.unstorable-value"),
            lang=t.lang,
        )

    async def database_error(request: Request, exc: Exception) -> Response:
        # The database is down, restarting or read-only (a failover): 503 with Retry-After, and the
        # connection to the client stays usable. Any other database error is a bug: 500.
        error = domain_error_of(exc, request.app.state.ctx.settings)
        if error is None:
            return await unexpected(request, exc)
        log.warning("database unavailable", extra={"fields": {"error": type(exc).__name__}})
        return await domain_error(request, error)

    for kind in (DBAPIError, PoolTimeout, psycopg.Error):
        app.add_exception_handler(kind, database_error)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        t = Translator(request_lang(request))
        return problem(
            500, "internal-error", "Internal error", t("problem_detail.internal-error"), lang=t.lang
        )


def _declared_roles(app: FastAPI) -> Iterator[tuple[str, set[str], list[str]]]:
    """Yield (path, methods, declared callers) for every API route, also inside included routers.

    The callers are the roles of the route's :class:`RoleGuard` dependencies, or ``["public"]``
    for routes marked ``Public``; an empty list means the route declares nobody.
    """
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # pragma: no cover - FastAPI before lazily included routers
        routes: list[Any] = list(app.routes)
    else:
        routes = list(iter_route_contexts(app.routes))
    for route in routes:
        if not isinstance(getattr(route, "original_route", route), APIRoute):
            continue
        roles: set[str] = set()
        public = False
        stack = list(route.dependant.dependencies)
        while stack:
            dep = stack.pop()
            if isinstance(dep.call, RoleGuard):
                roles |= {r.value for r in dep.call.roles}
            elif isinstance(dep.call, PublicGuard):
                public = True
            stack.extend(dep.dependencies)
        yield route.path_format, set(route.methods or ()), ["public"] if public else sorted(roles)


PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details; `type` is stable for each kind of error",
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "description": "URI naming the kind of error"},
        "title": {"type": "string", "description": "short summary of the kind of error"},
        "status": {"type": "integer", "description": "the HTTP status"},
        "detail": {"type": "string", "description": "what went wrong with this request"},
        "instance": {"type": "string", "description": "the request path"},
    },
    "additionalProperties": True,
}


def _document_roles_and_problems(app: FastAPI) -> None:
    """Complete the OpenAPI schema when it is first built.

    * Each operation gets ``x-roles``: its declared callers (the authorisation-matrix test calls
      every operation with every role and checks them).
    * Errors are documented as they are sent: ``application/problem+json`` bodies (the 422 of
      request validation, and a ``default`` response for every other error status); operations
      that answer with pages may also answer errors with a page (``text/html``).
    """
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        declared: dict[tuple[str, str], list[str]] = {}
        for path, methods, roles in _declared_roles(app):
            declared.update({(path, method.lower()): roles for method in methods})
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components["Problem"] = PROBLEM_SCHEMA
        problem_content = {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
        for path, operations in schema.get("paths", {}).items():
            for method, operation in operations.items():
                if (path, method) in declared:
                    operation["x-roles"] = declared[(path, method)]
                responses = operation.setdefault("responses", {})
                # a page (text/html) may answer an error with a page as well
                pages = any("text/html" in r.get("content", {}) for r in responses.values())
                content = (
                    {**problem_content, "text/html": {"schema": {"type": "string"}}}
                    if pages
                    else problem_content
                )
                if "422" in responses:
                    responses["422"] = {"description": "The request is not valid", "content": content}
                responses.setdefault("default", {"description": "An error", "content": content})
        text_form = json.dumps(schema["paths"])
        for unused in ("HTTPValidationError", "ValidationError"):
            if f"#/components/schemas/{unused}" not in text_form:
                components.pop(unused, None)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def create_app(settings: Settings | None = None, ctx: AppContext | None = None) -> FastAPI:
    """Build the ASGI application. ``ctx`` lets tests share an engine or a connection."""
    settings = settings or (ctx.settings if ctx else get_settings())
    configure_logging(settings.log_level)
    ctx = ctx or build_context(settings)
    context = ctx

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from creditbank.outcomes.rulesets import rule_book
        from creditbank.transparency.publisher import start_publisher

        # the published rule sets are loaded (and so checked) before the first request: a broken
        # set stops the service here instead of failing postings later
        rule_book(context.settings.rules_dir)
        # a wrong but well-formed master key or pepper stops the service here, before anything is
        # written with it (creditbank.keyring.service)
        _check_secrets(context)
        # a batch posting allocates millions of small objects that live until its chunk commits;
        # with the default first-generation threshold (700) the collector rescans them hundreds of
        # times per chunk, about a fifth of the bulk path's CPU (bench/posting.py)
        gc.set_threshold(GC_THRESHOLD, *gc.get_threshold()[1:])
        if app.state.warm_pool:  # a served process (creditbank.serving), not a test's app
            warm_pool(context.engine, context.settings.db_pool_size)
            # what exists now lives as long as the process: keep it out of every full collection
            gc.collect()
            gc.freeze()
        publisher = None
        if context.settings.background_publisher:  # the default log made sure of first
            publisher = start_publisher(context)
        try:
            yield
        finally:
            if isinstance(app.state.heavy_slots, SharedSlots):
                app.state.heavy_slots.close()
            if publisher is not None:
                publisher.stop()

    app = FastAPI(
        lifespan=lifespan,
        title="creditbank",
        version=__version__,
        description=(
            "Lifelong learning credit bank (学分银行): archive, recognition, ledger, transfer certificates."
        ),
    )
    app.state.ctx = ctx
    app.state.warm_pool = False  # set by creditbank.serving for served processes
    metrics = Metrics()
    app.add_middleware(BodyLimitMiddleware, limits=limits_of(settings))
    app.add_middleware(RequestContextMiddleware, metrics=metrics)
    app.state.heavy_slots = heavy_slots(ctx.engine, settings)
    from creditbank.outcomes.grouped import GroupCommit

    app.state.postings = GroupCommit(ctx.sessions)  # single postings, committed in groups
    app.state.admissions = Admissions()  # tokens the single posting's guard found live lately
    _install_error_handlers(app)

    from creditbank.accreditation.endpoints import router as accreditation_router
    from creditbank.applications.appeal_endpoints import router as appeals_router
    from creditbank.applications.endpoints import router as applications_router
    from creditbank.archive.endpoints import router as archive_router
    from creditbank.archive.inbox_endpoints import router as inbox_router
    from creditbank.auth.endpoints import reviewers_router
    from creditbank.auth.endpoints import router as tokens_router
    from creditbank.catalog.course_endpoints import router as courses_router
    from creditbank.catalog.endpoints import router as catalog_router
    from creditbank.credentials.endpoints import router as credentials_router
    from creditbank.dashboards.endpoints import router as dashboards_router
    from creditbank.dashboards.metrics import BusinessCollector
    from creditbank.exports.endpoints import router as exports_router
    from creditbank.institutions.endpoints import router as institutions_router
    from creditbank.learners.account_endpoints import router as accounts_router
    from creditbank.learners.endpoints import router as learners_router
    from creditbank.outcomes.endpoints import router as outcomes_router
    from creditbank.outcomes.review_endpoints import router as reviews_router
    from creditbank.transparency.endpoints import router as logs_router
    from creditbank.web.account_endpoints import router as account_pages_router
    from creditbank.web.admin_endpoints import router as admin_pages_router
    from creditbank.web.appeal_endpoints import router as appeal_pages_router
    from creditbank.web.application_endpoints import router as application_pages_router
    from creditbank.web.archive_endpoints import router as archive_pages_router
    from creditbank.web.catalogue_endpoints import router as catalogue_pages_router
    from creditbank.web.console_endpoints import router as console_pages_router
    from creditbank.web.course_endpoints import router as course_pages_router
    from creditbank.web.curriculum_endpoints import router as curriculum_pages_router
    from creditbank.web.download_endpoints import router as downloads_router
    from creditbank.web.enrolment_endpoints import router as enrolment_pages_router
    from creditbank.web.equivalence_endpoints import router as equivalence_pages_router
    from creditbank.web.inbox_endpoints import router as inbox_pages_router
    from creditbank.web.passkey_endpoints import router as passkey_pages_router
    from creditbank.web.programme_endpoints import router as programme_pages_router
    from creditbank.web.progress_endpoints import router as progress_pages_router
    from creditbank.web.registrar_endpoints import router as registrar_pages_router
    from creditbank.web.rendering import STATIC_DIR
    from creditbank.web.signin_endpoints import router as signin_router
    from creditbank.web.statistics_endpoints import router as statistics_page_router
    from creditbank.web.verify_endpoints import router as verify_page_router

    for router in (
        accreditation_router,
        institutions_router,
        learners_router,
        accounts_router,
        tokens_router,
        reviewers_router,
        logs_router,
        outcomes_router,
        credentials_router,
        reviews_router,
        applications_router,
        appeals_router,
        application_pages_router,
        appeal_pages_router,
        archive_router,
        inbox_router,
        catalog_router,
        courses_router,
        exports_router,
        dashboards_router,
        signin_router,
        account_pages_router,
        passkey_pages_router,
        inbox_pages_router,
        archive_pages_router,
        course_pages_router,
        progress_pages_router,
        curriculum_pages_router,
        enrolment_pages_router,
        downloads_router,
        verify_page_router,
        console_pages_router,
        catalogue_pages_router,
        registrar_pages_router,
        equivalence_pages_router,
        admin_pages_router,
        statistics_page_router,
        programme_pages_router,
    ):
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    metrics.registry.register(BusinessCollector(ctx.sessions))

    @app.get("/healthz", tags=["operations"], dependencies=[_public()])
    async def healthz() -> dict[str, str]:  # async: nothing to wait for, so no hop to the thread pool
        """The process is up."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"], dependencies=[_public()])
    def readyz() -> JSONResponse:
        """Ready when the database answers and its schema is at the latest migration."""
        from creditbank.migrate import current_revision, head_revision

        try:
            with ctx.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
                current = current_revision(conn)
        except Exception as exc:  # any database failure means "not ready"
            return problem(503, "not-ready", "Not ready", f"database unreachable: {type(exc).__name__}")
        head = head_revision()
        if current != head:
            return problem(
                503, "not-ready", "Not ready", f"database at migration {current}, code expects {head}"
            )
        return JSONResponse({"status": "ready", "migration": current})

    from creditbank.auth.deps import MonitoringGuard

    @app.get(
        "/metrics", tags=["operations"], dependencies=[MonitoringGuard], response_class=PlainTextResponse
    )
    def metrics_endpoint() -> Response:
        """Prometheus metrics: HTTP figures of this process and the bank's business figures. Not
        public: an admin or auditor token, or a request from this host (loopback, not forwarded)."""
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    skip_unmatchable_routers(app)
    bodies_without_string_cache(app)
    _document_roles_and_problems(app)
    return app


def _check_secrets(context: AppContext) -> None:
    from creditbank.db import transaction
    from creditbank.keyring.service import WrongSecret, check_secrets

    try:
        if not inspect(context.engine).has_table("secret_checks"):
            return  # not migrated yet: /readyz says so
        for attempt in (1, 2):
            try:
                for session in transaction(context.sessions):
                    sealed = check_secrets(
                        session,
                        context.secrets,
                        master_file=str(context.settings.secret_path("master.key")),
                        pepper_file=str(context.settings.secret_path("pepper.key")),
                    )
                break
            except IntegrityError:
                # another process (a second worker or instance starting on a new database) stored
                # the values first: check ours against them
                if attempt == 2:
                    raise
    except WrongSecret as exc:
        log.error("refusing to start: %s", exc)
        raise
    except DBAPIError as exc:
        if unavailability(exc) is None:
            raise
        # read-only (a standby during a failover): the stored values were checked, storing missing
        # ones waits for the next start on a writable primary. Unreachable: nothing could be
        # checked; the process starts not ready (/readyz 503) and checks at its next start
        log.warning("key-check values not stored now", extra={"fields": {"error": type(exc).__name__}})
        return
    if sealed:
        log.info("key-check values stored", extra={"fields": {"secrets": sealed}})


def _public() -> Any:
    from creditbank.auth.deps import Public

    return Public
