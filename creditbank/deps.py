"""Request dependencies shared by every domain, as short ``Annotated`` aliases."""

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Header, Request
from sqlmodel import Session

from creditbank.context import AppContext
from creditbank.db import transaction
from creditbank.i18n import LANG_COOKIE, Lang, choose_lang


def context_of(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


async def get_context(request: Request) -> AppContext:
    """The app's context (async: no hop to the thread pool just to read an attribute)."""
    return context_of(request)


def request_lang(request: Request) -> Lang:
    """The language of the words for people in an answer (a problem's title): ``?lang=``, the
    ``cb_lang`` cookie, then ``Accept-Language``; Chinese when none says."""
    return choose_lang(
        request.query_params.get("lang"),
        request.cookies.get(LANG_COOKIE),
        request.headers.get("accept-language"),
    )


def get_session(request: Request) -> Iterator[Session]:
    """One transaction per request: committed on success, rolled back on error.

    Declared with ``scope="function"`` below so that the commit happens when the endpoint returns
    and BEFORE the response is sent: a client never sees a success whose commit could still fail.
    """
    yield from transaction(context_of(request).sessions)


ContextDep = Annotated[AppContext, Depends(get_context)]
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", description="a unique key per write (e.g. a UUID); retries reuse it"),
]
