"""Request dependencies shared by every domain, as short ``Annotated`` aliases."""

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlmodel import Session

from creditbank.context import AppContext
from creditbank.db import transaction


def get_context(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


def get_session(request: Request) -> Iterator[Session]:
    """One transaction per request: committed on success, rolled back on error.

    Declared with ``scope="function"`` below so that the commit happens when the endpoint returns
    and BEFORE the response is sent: a client never sees a success whose commit could still fail.
    """
    yield from transaction(get_context(request).sessions)


ContextDep = Annotated[AppContext, Depends(get_context)]
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
