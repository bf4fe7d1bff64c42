"""Routing that skips the routers a path cannot match (creditbank.dispatch): the same answers as
FastAPI's walk through every router, route for route, and the filter in place."""

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import _IncludedRouter, iter_route_contexts
from fastapi.testclient import TestClient
from starlette.routing import Match

from creditbank.config import Settings
from creditbank.context import AppContext
from creditbank.dispatch import PathFilteredRouter, path_union
from creditbank.main import create_app
from tests.test_operations import assert_problem


@pytest.fixture(scope="module")
def app(settings: Settings) -> Iterator[FastAPI]:
    made = create_app(settings)
    yield made
    made.state.ctx.engine.dispose()


def _paths(app: FastAPI) -> list[str]:
    """Every route's path with its parameters filled, with and without a slash at the end, their
    prefixes, and paths no route has."""
    found: set[str] = {"/", "", "/nowhere", "/api", "/api/v1", "/api/v1/", "//healthz", "/healthz\n"}
    for context in iter_route_contexts(app.routes):
        path = getattr(context, "path_format", None) or getattr(context, "path", None)
        if not path:
            continue
        filled = re.sub(r"\{[^}]+\}", "x1", path)
        found |= {filled, filled + "/", filled.rstrip("/"), filled + "/more", filled.upper()}
        parts = filled.split("/")
        found |= {"/".join(parts[:i]) for i in range(1, len(parts))}
    return sorted(found)


def test_every_included_router_is_filtered(app: FastAPI) -> None:
    included = [r for r in app.router.routes if isinstance(r, _IncludedRouter)]
    assert len(included) > 30
    assert all(isinstance(r, PathFilteredRouter) for r in included)


def test_a_filter_matches_exactly_where_its_router_does(app: FastAPI) -> None:
    paths = _paths(app)
    tried = 0
    for route in app.router.routes:
        if not isinstance(route, PathFilteredRouter):
            continue
        plain = _IncludedRouter(original_router=route.original_router, include_context=route.include_context)
        for path in paths:
            for method in ("GET", "POST", "DELETE"):
                scope: dict[str, Any] = {
                    "type": "http",
                    "path": path,
                    "root_path": "",
                    "method": method,
                    "headers": [],
                }
                filtered = route.matches(dict(scope))
                walked = plain.matches(dict(scope))
                assert filtered == walked, (path, method)
                tried += filtered[0] != Match.NONE
    assert tried > 100  # the paths reach routes, not only misses


def test_a_router_with_a_route_matched_by_more_than_its_path_is_not_filtered(app: FastAPI) -> None:
    from fastapi import APIRouter
    from starlette.routing import Host

    router = APIRouter()
    router.routes.append(Host("example.org", app=app))
    other = FastAPI()
    other.include_router(router)
    [included] = [r for r in other.router.routes if isinstance(r, _IncludedRouter)]
    assert path_union(included) is None


def test_answers_through_the_app_are_unchanged(ctx: AppContext) -> None:
    with TestClient(create_app(ctx=ctx), raise_server_exceptions=False) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        assert_problem(client.get("/api/v1/nothing-here"), 404, "not-found")
        refused = client.get("/api/v1/outcomes")  # a route of a filtered router, another method
        assert_problem(refused, 405, "method-not-allowed")
        assert refused.headers["allow"] == "POST"
        redirected = client.get("/healthz/", follow_redirects=False)  # the slash redirect
        assert redirected.status_code == 307
        assert redirected.headers["location"].endswith("/healthz")
        assert client.get("/static/nothing.css").status_code == 404  # the mount
