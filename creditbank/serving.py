"""Serving the app with uvicorn: one process or several, with ``TCP_NODELAY`` on every connection.

Why a protocol class of our own: when uvicorn runs several worker processes it binds the listening
socket itself and hands it to the workers; that socket reports protocol 0 instead of TCP, so
asyncio does not switch off Nagle's algorithm on the connections it accepts, and every response
on a kept-alive connection whose last write is small waits for the client's delayed ACK (about
40 ms on Linux; uvicorn issue #3149). :class:`NoDelayH11Protocol` sets the option itself when a
connection is made, whatever the socket reports.
"""

import asyncio
import socket

import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.h11_impl import H11Protocol

from creditbank.db import allow_write_behind
from creditbank.main import create_app


class NoDelayH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, with Nagle's algorithm off on every TCP connection."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)


def served_app() -> FastAPI:
    """The app of one server process: as :func:`creditbank.main.create_app`, with its database
    pool opened at startup and no write-behind thread (see :func:`creditbank.db.allow_write_behind`)."""
    allow_write_behind(False)
    app = create_app()
    app.state.warm_pool = True
    return app


def serve(host: str, port: int, workers: int = 1) -> None:
    """Serve :func:`served_app` on ``host:port`` with ``workers`` processes."""
    uvicorn.run(
        "creditbank.serving:served_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        http=NoDelayH11Protocol,
        log_config=None,
        access_log=False,
    )
