"""Request bodies are validated without pydantic-core's string cache.

pydantic-core keeps a cache of up to 16,384 Python strings that validation made (``cache_strings``, on
by default), and a string field with ``str_strip_whitespace`` makes its value anew through that
cache, even when there is nothing to strip. So every single posting's reference, and with many
learners its learner id, stayed in the cache until another string took its slot: a worker kept about
one small object per posting until it had served some tens of thousands, each for minutes at the
soak's rates, holding on to the memory pool it was made in (``tests/test_residue.py``,
``docs/performance.md``). A request's strings are not seen again, so the cache saves nothing here:
a posting's body took the same time to validate without it (about 31 µs).

Two places decide: a model validated by itself (``Model.model_validate``: a batch's rows) follows its
own configuration (:data:`REQUEST_BODY`); a body FastAPI validates follows the configuration of the
adapter FastAPI builds around the model (FastAPI 0.165 gives it none, so the default), which
:func:`bodies_without_string_cache` replaces by the same schema with the cache off.
"""

import threading
import weakref
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict
from pydantic_core import CoreConfig, SchemaValidator

#: a request body: unknown fields refused, text stripped, and no string kept after the request
REQUEST_BODY = ConfigDict(extra="forbid", str_strip_whitespace=True, cache_strings=False)

_done: "weakref.WeakSet[Any]" = weakref.WeakSet()  # adapters already changed (routers outlive apps)
_built: dict[tuple[type, str], SchemaValidator] = {}  # by model and FastAPI's field: a few
_lock = threading.Lock()


class _UncachedValidator:
    """Stands in for the validator of a body's adapter: validates with the same schema and no string
    cache, built at the first validation (about 30 ms a model: paid once a process, not once an app,
    and not at all for the bodies a process never sees)."""

    def __init__(self, original: Any, schema: Any, key: tuple[type, str]) -> None:
        self._original = original
        self._schema = schema
        self._key = key

    def _uncached(self) -> SchemaValidator:
        found = _built.get(self._key)
        if found is None:
            with _lock:
                found = _built.get(self._key)
                if found is None:
                    found = _built[self._key] = SchemaValidator(self._schema, CoreConfig(cache_strings=False))
        return found

    def __getattr__(self, name: str) -> Any:
        if name.startswith("validate_"):
            return getattr(self._uncached(), name)
        return getattr(self._original, name)


def _routes(app: FastAPI) -> list[Any]:
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # pragma: no cover - FastAPI before lazily included routers
        return list(app.routes)
    return list(iter_route_contexts(app.routes))


def _asks_for_no_cache(annotation: Any) -> bool:
    """Whether ``annotation`` is a model that asks for no string cache (:data:`REQUEST_BODY`)."""
    return (
        isinstance(annotation, type)
        and issubclass(annotation, BaseModel)
        and annotation.model_config.get("cache_strings") is False
    )


def bodies_without_string_cache(app: FastAPI) -> int:
    """Validate the body of every API route of ``app`` with the same schema and no string cache;
    the number of body fields changed (those changed by an earlier app are not counted)."""
    changed = 0
    for route in _routes(app):
        # an included router's route is served through its effective context (FastAPI 0.165), which
        # has a dependant and body fields of its own beside the original route's
        if not isinstance(getattr(route, "original_route", route), APIRoute):
            continue
        fields: list[Any] = []
        for holder in {id(r): r for r in (route, getattr(route, "original_route", route))}.values():
            if getattr(holder, "body_field", None) is not None:
                fields.append(holder.body_field)
            stack = [holder.dependant] if getattr(holder, "dependant", None) is not None else []
            while stack:
                dependant = stack.pop()
                fields.extend(dependant.body_params)
                stack.extend(dependant.dependencies)
        for field in fields:
            adapter = field._type_adapter
            if adapter in _done or not _asks_for_no_cache(field.field_info.annotation):
                continue
            key = (field.field_info.annotation, repr(field.field_info))
            adapter.validator = _UncachedValidator(adapter.validator, adapter.core_schema, key)
            _done.add(adapter)
            changed += 1
    return changed
