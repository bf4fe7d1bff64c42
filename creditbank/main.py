"""The application factory."""

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from fastapi.routing import APIRoute
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from starlette.exceptions import HTTPException as StarletteHTTPException

from creditbank import __version__
from creditbank.auth.deps import PublicGuard, RoleGuard
from creditbank.config import Settings, get_settings
from creditbank.context import AppContext, build_context
from creditbank.errors import PROBLEM_BASE, PROBLEM_MEDIA_TYPE, CreditBankError
from creditbank.observability import Metrics, RequestContextMiddleware, configure_logging

log = logging.getLogger("creditbank")


def problem(status: int, slug: str, title: str, detail: str, **extra: Any) -> JSONResponse:
    body = {"type": PROBLEM_BASE + slug, "title": title, "status": status, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(CreditBankError)
    async def domain_error(request: Request, exc: CreditBankError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return JSONResponse(
            exc.to_problem(instance=request.url.path),
            status_code=exc.status,
            media_type=PROBLEM_MEDIA_TYPE,
            headers=headers,
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
            for e in exc.errors()
        ]
        first = errors[0] if errors else {"loc": [], "msg": "invalid"}
        detail = f"{'.'.join(first['loc'])}: {first['msg']}" if first["loc"] else str(first["msg"])
        return problem(422, "validation-failed", "The request is not valid", detail, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        slugs = {404: "not-found", 405: "method-not-allowed", 401: "unauthenticated", 403: "forbidden"}
        slug = slugs.get(exc.status_code, f"http-{exc.status_code}")
        return problem(exc.status_code, slug, str(exc.detail), str(exc.detail))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return problem(500, "internal-error", "Internal error", "an unexpected error; it has been logged")


def _annotate_roles(app: FastAPI) -> None:
    """Copy each route's declared callers into its OpenAPI operation as ``x-roles``."""
    for route in app.routes:
        if not isinstance(route, APIRoute):
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
        declared = ["public"] if public else sorted(roles)
        route.openapi_extra = {**(route.openapi_extra or {}), "x-roles": declared}


def create_app(settings: Settings | None = None, ctx: AppContext | None = None) -> FastAPI:
    """Build the ASGI application. ``ctx`` lets tests share an engine or a connection."""
    settings = settings or (ctx.settings if ctx else get_settings())
    configure_logging(settings.log_level)
    ctx = ctx or build_context(settings)
    app = FastAPI(
        title="creditbank",
        version=__version__,
        description="Lifelong learning credit bank (学分银行): archive, recognition, ledger, transfer certificates.",
    )
    app.state.ctx = ctx
    metrics = Metrics()
    app.add_middleware(RequestContextMiddleware, metrics=metrics)
    _install_error_handlers(app)

    from creditbank.auth.endpoints import router as tokens_router
    from creditbank.institutions.endpoints import router as institutions_router
    from creditbank.learners.endpoints import router as learners_router

    for router in (institutions_router, learners_router, tokens_router):
        app.include_router(router)

    @app.get("/healthz", tags=["operations"], dependencies=[_public()])
    def healthz() -> dict[str, str]:
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
            return problem(503, "not-ready", "Not ready", f"database at migration {current}, code expects {head}")
        return JSONResponse({"status": "ready", "migration": current})

    @app.get("/metrics", tags=["operations"], dependencies=[_public()], response_class=PlainTextResponse)
    def metrics_endpoint() -> Response:
        """Prometheus metrics."""
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    _annotate_roles(app)
    return app


def _public() -> Any:
    from creditbank.auth.deps import Public

    return Public
