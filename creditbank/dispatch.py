"""Routing without walking every router: an included router that cannot match a path is skipped.

FastAPI (0.16x) keeps each ``include_router`` as one entry of the app's routes and matches a request
by asking every entry in turn; an entry asks each of its routes, with a few dictionary writes and
restores per route. The app includes about forty routers, so a route included late (``/healthz``,
the pages) was found after some hundred and fifty such tries: about 1.9 ms of a bare ``GET /healthz``'s
3.5 ms of CPU (``bench/http_layer.py``, ``docs/performance.md``).

:func:`skip_unmatchable_routers` gives each included router one regular expression, the union of the
path patterns of every route it holds (nested routers too), and the router answers "no match" at
once when a request's path matches none of them. It is exact: FastAPI's own match of an HTTP request
starts with the same patterns (a route whose pattern does not match the path is neither a full nor a
partial match), so the routes that are tried, their order, the partial matches (405) and the slash
redirects are the same. A router holding a kind of route matched otherwise than by its path (a
``Host``, a frontend route group) is not filtered. The union is built at the first request: routes
added to an included router afterwards (the app adds none) would not be seen.
"""

import re
from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI
from starlette._utils import get_route_path
from starlette.routing import Match, Mount, Route, WebSocketRoute
from starlette.types import Scope

try:
    from fastapi.routing import APIRoute, APIWebSocketRoute, _IncludedRouter
except ImportError:  # pragma: no cover - FastAPI before lazily included routers: nothing to skip
    _IncludedRouter = None  # type: ignore[assignment,misc]

_NAMED_GROUP = re.compile(r"\(\?P<[^>]+>")


def _patterns(router: Any) -> Iterator[str | None]:
    """The path pattern of every route ``router`` holds (None for one matched otherwise)."""
    for context in router.effective_route_contexts():
        route = context.starlette_route or context.original_route
        if isinstance(route, WebSocketRoute | APIWebSocketRoute):
            continue  # never matches an HTTP request
        if isinstance(route, APIRoute | Route | Mount) or isinstance(context.original_route, APIRoute):
            regex = context.path_regex if context.starlette_route is None else route.path_regex
            yield regex.pattern
        else:
            yield None


def path_union(router: Any) -> re.Pattern[str] | None:
    """One expression matching exactly the paths some route of ``router`` matches; None when a route
    of it is matched by more than its path."""
    patterns = list(_patterns(router))
    if any(p is None for p in patterns):
        return None
    # the names of the groups repeat from route to route; the union only says yes or no
    return re.compile("|".join(f"(?:{_NAMED_GROUP.sub('(?:', p)})" for p in patterns if p is not None))


if _IncludedRouter is not None:

    class PathFilteredRouter(_IncludedRouter):
        """An included router that answers "no match" without trying its routes when the path
        matches none of them (see the module docstring). The union is made at the first request,
        when FastAPI makes its routes' handlers too."""

        paths: re.Pattern[str] | None = None
        unfiltered = False  # a route of it is matched by more than its path

        def matches(self, scope: Scope) -> tuple[Match, Scope]:
            if scope["type"] == "http" and not self.unfiltered:
                if self.paths is None:
                    self.paths = path_union(self)
                    self.unfiltered = self.paths is None
                if self.paths is not None and self.paths.match(get_route_path(scope)) is None:
                    return Match.NONE, {}
            result: tuple[Match, Scope] = super().matches(scope)
            return result


def skip_unmatchable_routers(app: FastAPI) -> int:
    """Give each router ``app`` includes its path filter (see the module docstring); how many got one."""
    if _IncludedRouter is None:  # pragma: no cover
        return 0
    routes = app.router.routes
    filtered = 0
    for i, route in enumerate(routes):
        if type(route) is _IncludedRouter:
            routes[i] = PathFilteredRouter(
                original_router=route.original_router, include_context=route.include_context
            )
            filtered += 1
    return filtered
