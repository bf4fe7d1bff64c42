"""Request dependencies shared by every domain, as short ``Annotated`` aliases."""

import ipaddress
from collections.abc import Iterator
from functools import lru_cache
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


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def trusted_networks(spec: str) -> tuple[Network, ...]:
    """The networks of ``CREDITBANK_TRUSTED_PROXIES`` (validated with the settings)."""
    return tuple(ipaddress.ip_network(p.strip(), strict=False) for p in spec.split(",") if p.strip())


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        found = ipaddress.ip_address(text.strip().removeprefix("[").split("]")[0])
    except ValueError:
        return None
    if isinstance(found, ipaddress.IPv6Address) and found.ipv4_mapped is not None:
        return found.ipv4_mapped
    return found


def _trusted(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address | None, nets: tuple[Network, ...]
) -> bool:
    return address is not None and any(address.version == n.version and address in n for n in nets)


def client_address(request: Request, trusted_proxies: str) -> str:
    """The client's address, as the per-address limits count it.

    The connection's own address, unless it comes from a trusted proxy (``CREDITBANK_TRUSTED_PROXIES``):
    then ``X-Forwarded-For`` is read from the right (each proxy appends the address it saw), skipping
    trusted proxies; the first other address is the client. Anything a client writes to the left of
    that is never read, and without trusted proxies the header is never read at all. An IPv6 client
    counts by its /64 (one subscriber's prefix), an IPv4-mapped one as IPv4.
    """
    peer_text = request.client.host if request.client else ""
    nets = trusted_networks(trusted_proxies)
    found = _address(peer_text)
    if _trusted(found, nets):
        hops = [h for line in request.headers.getlist("x-forwarded-for") for h in line.split(",")]
        for hop in reversed(hops):
            address = _address(hop)
            if address is None:  # garbage: the last trusted hop is all that is known
                break
            found = address
            if not _trusted(address, nets):
                break
    if found is None:
        return peer_text
    if isinstance(found, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((found, 64), strict=False))
    return str(found)
