"""The app's router table as the tests walk it: every route, also inside included routers."""

from collections.abc import Iterator
from dataclasses import dataclass

from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.routing import BaseRoute


@dataclass(frozen=True)
class Route:
    path: str
    methods: frozenset[str]
    route: APIRoute


def app_routes(app: FastAPI) -> Iterator[Route]:
    """Every API route of ``app`` (the pages' and the API's), with its path and methods."""
    for context in iter_route_contexts(app.routes):
        original: BaseRoute = context.original_route
        if isinstance(original, APIRoute) and context.path_format:
            yield Route(context.path_format, frozenset(context.methods or ()), original)


def page_routes(app: FastAPI, method: str) -> Iterator[Route]:
    """The routes of the pages (not ``/api/v1``, the operations' or the API documents') for ``method``."""
    for route in app_routes(app):
        if method in route.methods and not route.path.startswith(
            ("/api/", "/healthz", "/readyz", "/metrics", "/docs", "/redoc", "/openapi")
        ):
            yield route
