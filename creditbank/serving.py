"""Serving the app with uvicorn: one process or several, with ``TCP_NODELAY`` on every connection.

Why a protocol class of our own: when uvicorn runs several worker processes it binds the listening
socket itself and hands it to the workers; that socket reports protocol 0 instead of TCP, so
asyncio does not switch off Nagle's algorithm on the connections it accepts, and every response
on a kept-alive connection whose last write is small waits for the client's delayed ACK (about
40 ms on Linux; uvicorn issue #3149). :class:`NoDelayHttpToolsProtocol` sets the option itself when a
connection is made, whatever the socket reports.

Why ``httptools``: uvicorn's default parser when it is installed, in C; the pure-Python one (``h11``,
:class:`NoDelayH11Protocol`, served before) cost about 0.2 ms of a worker's CPU per request
(``bench/http_layer.py``, ``docs/performance.md``). Both honour the same ASGI flow control, so body
limits while streaming, slow clients and kept-alive connections behave alike (``tests/test_limits.py``,
``tests/test_serving.py``). Where ``httptools`` is not installed (an environment from before it was a
dependency) the service serves on ``h11`` (:data:`C_PARSER` is false), as uvicorn itself would.

Why an event loop of our own: the worker processes share one listening socket, and asyncio's
selector loop accepts every pending connection each time the socket is ready, so two uploads that
arrive together land in the same worker, which runs both on one core (one interpreter lock) while
the other worker idles (two concurrent 10,000-row batches: about 2,700 outcomes/s instead of
4,000, in four runs of eight; accepting one connection per readiness event still gave five of six).
:class:`FairAcceptLoop` balances by open connections instead: a worker that already holds a
connection stops accepting for :data:`ACCEPT_DEFER_SECONDS`, so that a worker with none (woken by
the same readiness) takes the new one; if none does, it accepts after the pause.

Why kept-alive connections end: the fair accept balances new connections, not kept-alive ones. When
a worker dies and is replaced, its clients reconnect at once, before the replacement listens, so they
all land on the surviving worker, and a client that keeps its connection keeps it there: the soak of
``docs/performance.md`` ran its last 60 % on one worker (one interpreter lock) while the replacement
served only the odd new connection. As nginx does (``keepalive_requests``, ``keepalive_time``), the
answer to a connection's ``CREDITBANK_KEEPALIVE_REQUESTS``-th request, or to the first request begun
``CREDITBANK_KEEPALIVE_SECONDS`` after the connection was made, carries ``Connection: close`` and the
connection is closed once that answer is complete (:class:`KeepAliveLimits`). No request in flight is
cut; a request a client pipelined behind that answer was not started, which ``Connection: close``
tells the client (RFC 9112, section 9.6), so it may send it again. The client reconnects, and the fair
accept hands the new connection to a worker that holds none if there is one (a replacement that has
just started), else to whichever worker takes it first after the pause.

Why at most two malloc arenas: a worker's threads (the request thread pool, group commit, the
checkpoint publisher, the database pool) each get a glibc malloc arena of their own, up to eight per
core, and memory freed in one arena stays with it, so a process's resident size can grow while the
memory it holds does not. The soaks saw a worker's resident size grow by 120-240 MB an hour; a native
heap profile of a worker (``memray run --native``, ``docs/performance.md``) found what it holds flat
while it grew. :func:`limit_malloc_arenas` caps the arenas at :data:`MALLOC_ARENAS`, in this process
(``mallopt``) and in the workers uvicorn starts (``MALLOC_ARENA_MAX``, which glibc reads when a process
starts); an operator's own ``MALLOC_ARENA_MAX`` wins. It bounds that one mechanism: that it is the
whole of the soaks' growth is not shown (see ``docs/performance.md``).

Why a periodic ``malloc_trim``: glibc gives memory freed in the middle of a heap back to the system
only when asked, so a worker's resident size stays at the high-water mark of its busiest moment (a
2,000-row batch beside the single postings) and climbs a step each time a busier moment comes; the
soaks' per-process samples show workers growing in steps at batch uploads and flat between them.
:class:`MallocTrimmer` calls ``malloc_trim(0)`` every :data:`MALLOC_TRIM_SECONDS` in each served
process, so the resident size follows what the process holds.

Why ``X-Served-By``: a benchmark that samples each worker's memory needs to know what each worker
served (the soak's batch client keeps one connection, so one worker gets every batch). With
``CREDITBANK_SERVED_BY_HEADER`` on, :class:`ServedBy` names the process (its pid) in every answer.
It is off by default: a process id is nothing a client needs.

Why a supervisor of our own: uvicorn's supervisor checks its workers every half second by sending
each a ping over a pipe and waiting up to the health-check timeout for the answer. A worker killed
while a ping waits (or stopped, then killed) never answers, and the pipe shows no end of file because
the supervisor holds the worker's end too: uvicorn noticed the death only after the whole timeout
(:data:`WORKER_HEALTHCHECK_SECONDS`, 60 s; the soak of ``docs/performance.md`` saw the replacement start
60.2 s after a SIGKILL), and a two-worker server ran on one meanwhile. :class:`WatchfulSupervisor`
waits for the answer and for the worker's exit at once (the process's sentinel), so a dead worker is
replaced as soon as it dies, while a live one that is slow to answer (still importing the app on a
loaded machine) keeps the whole timeout.
"""

import asyncio
import ctypes
import ctypes.util
import functools
import logging
import os
import pickle
import socket
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import wait as wait_for_any
from typing import Any

import uvicorn
from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.config import STARTUP_FAILURE
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.supervisors.multiprocess import Multiprocess
from uvicorn.supervisors.multiprocess import Process as WorkerProcess

from creditbank.config import Settings
from creditbank.main import create_app

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    C_PARSER = True
except ImportError:  # pragma: no cover - an environment installed before httptools was a dependency
    HttpToolsProtocol = H11Protocol  # type: ignore[misc,assignment]
    C_PARSER = False

ACCEPT_DEFER_SECONDS = 0.002
RECENT_ACCEPT_SECONDS = 0.05
# uvicorn's supervisor pings each worker and kills one that does not answer within this many
# seconds (its default, 5, killed workers that were still importing the app on a loaded machine,
# again and again, so that a two-worker server never came up)
WORKER_HEALTHCHECK_SECONDS = 60


class _WatchedSocket:
    """The listening socket, noting on the loop when a connection was accepted."""

    def __init__(self, sock: socket.socket, loop: "FairAcceptLoop") -> None:
        self._sock = sock
        self._loop = loop

    def accept(self) -> tuple[socket.socket, Any]:
        accepted = self._sock.accept()
        self._loop.last_accept = self._loop.time()
        return accepted

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class FairAcceptLoop(asyncio.SelectorEventLoop):
    """asyncio's selector loop, leaving new connections to idle workers first (see above).

    ``open_connections`` is kept by :class:`NoDelayHttpToolsProtocol`. A worker with open connections
    takes its reader off the listening socket for :data:`ACCEPT_DEFER_SECONDS` and then accepts one
    connection whatever its load, so no connection waits longer than that for a busy worker.
    """

    def __init__(self) -> None:
        super().__init__()
        self.accept_defer = ACCEPT_DEFER_SECONDS
        self.open_connections = 0
        self.deferred_accepts = 0
        self.last_accept = -1.0
        self._waited = False

    def busy(self) -> bool:
        """Holds a connection, or accepted one a moment ago (its protocol is made a few loop
        iterations later)."""
        return self.open_connections > 0 or self.time() - self.last_accept < RECENT_ACCEPT_SECONDS

    def _accept_connection(
        self,
        protocol_factory: Any,
        sock: socket.socket,
        sslcontext: Any = None,
        server: Any = None,
        backlog: int = 100,
        *args: Any,
    ) -> None:
        if self.busy() and not self._waited:
            self._waited = True
            self.deferred_accepts += 1
            self._remove_reader(sock.fileno())  # type: ignore[attr-defined]
            self.call_later(self.accept_defer, self._resume, protocol_factory, sock, sslcontext, server, args)
            return
        self._waited = False
        watched = _WatchedSocket(sock, self)
        super()._accept_connection(protocol_factory, watched, sslcontext, server, 1, *args)  # type: ignore[misc]

    def _resume(
        self, protocol_factory: Any, sock: socket.socket, sslcontext: Any, server: Any, args: Any
    ) -> None:
        if sock.fileno() < 0 or (server is not None and not server.is_serving()):
            return  # the server closed meanwhile
        self._add_reader(  # type: ignore[attr-defined]
            sock.fileno(), self._accept_connection, protocol_factory, sock, sslcontext, server, 1, *args
        )


@dataclass(slots=True)
class KeepAliveLimits:
    """How long a kept-alive connection lasts (see the module's docstring): its last answer is the
    ``requests``-th, or the first to a request begun ``seconds`` after it was made; 0: no limit."""

    requests: int
    seconds: float


# this process's limits: Settings' defaults until served_app sets them from the settings
KEEPALIVE = KeepAliveLimits(
    Settings.model_fields["keepalive_requests"].default, Settings.model_fields["keepalive_seconds"].default
)
_CLOSE = (b"connection", b"close")


class _NoDelayCounted(asyncio.Protocol):
    """Mixed in before a uvicorn protocol: Nagle's algorithm off on every TCP connection, the
    connections counted for :class:`FairAcceptLoop`, and each ended after :data:`KEEPALIVE`."""

    _made_at = 0.0
    _requests = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        _connected(transport)  # type: ignore[arg-type]
        self._made_at = time.monotonic()
        super().connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        _count_connection(-1)
        super().connection_lost(exc)

    def _request_began(self, cycle: Any) -> None:
        """Count a request whose answer is not started yet; make its answer the connection's last
        (``Connection: close``, then uvicorn closes it once the answer is complete) when the
        connection has reached :data:`KEEPALIVE`."""
        self._requests += 1
        limits = KEEPALIVE
        if (limits.requests and self._requests >= limits.requests) or (
            limits.seconds and time.monotonic() - self._made_at >= limits.seconds
        ):
            cycle.default_headers = [*cycle.default_headers, _CLOSE]


class NoDelayHttpToolsProtocol(_NoDelayCounted, HttpToolsProtocol):
    """uvicorn's HTTP/1.1 protocol on the C parser (``httptools``), with Nagle's algorithm off on
    every TCP connection, the connections counted for :class:`FairAcceptLoop` and ended after
    :data:`KEEPALIVE`. The one served."""

    def on_headers_complete(self) -> None:
        previous = self.cycle
        super().on_headers_complete()
        if self.cycle is not previous:  # a request (not an upgrade): its task runs after this
            self._request_began(self.cycle)


class NoDelayH11Protocol(_NoDelayCounted, H11Protocol):
    """The same on uvicorn's pure-Python parser (``h11``): what was served before, kept for comparison
    (``bench/http_layer.py``)."""

    def handle_events(self) -> None:
        previous = self.cycle
        super().handle_events()  # h11 starts at most one request per call (a pipelined one waits)
        if self.cycle is not None and self.cycle is not previous:
            self._request_began(self.cycle)


def _connected(transport: asyncio.Transport) -> None:
    """``TCP_NODELAY`` on a new TCP connection, whatever its listening socket reported; counted."""
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    _count_connection(+1)


def _count_connection(change: int) -> None:
    loop = asyncio.get_running_loop()
    if isinstance(loop, FairAcceptLoop):
        loop.open_connections += change


MALLOC_ARENAS = 2
_M_ARENA_MAX = -8  # mallopt's parameter number in glibc's malloc.h


def limit_malloc_arenas(arenas: int = MALLOC_ARENAS) -> bool:
    """At most ``arenas`` glibc malloc arenas (``MALLOC_ARENA_MAX`` if set) in this process and in the
    processes it starts. False where the C library is not glibc (nothing to limit)."""
    value = os.environ.setdefault("MALLOC_ARENA_MAX", str(arenas))
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    libc = ctypes.CDLL(name)
    if not hasattr(libc, "mallopt") or not hasattr(libc, "gnu_get_libc_version"):
        return False
    return bool(libc.mallopt(_M_ARENA_MAX, int(value)))


MALLOC_TRIM_SECONDS = 30.0


@functools.cache
def _libc() -> Any:
    """The C library, loaded once: ``find_library`` runs ``ldconfig -p`` in a subprocess (about
    0.1 s), which the trimmer did every round in every worker before."""
    name = ctypes.util.find_library("c")
    return ctypes.CDLL(name) if name is not None else None


def trim_malloc() -> bool:
    """Give the free pages of every malloc arena back to the system (glibc's ``malloc_trim(0)``).
    True when some memory was released; False when none was, or the C library has no such call."""
    libc = _libc()
    if libc is None or not hasattr(libc, "malloc_trim"):
        return False
    return bool(libc.malloc_trim(0))


class MallocTrimmer(threading.Thread):
    """A daemon thread calling :func:`trim_malloc` every ``seconds`` (see the module's docstring)."""

    def __init__(self, seconds: float = MALLOC_TRIM_SECONDS) -> None:
        super().__init__(name="malloc-trim", daemon=True)
        self.seconds = seconds
        self.stopped = threading.Event()
        self.rounds = 0

    def run(self) -> None:
        while not self.stopped.wait(self.seconds):
            trim_malloc()
            self.rounds += 1


SERVED_BY_HEADER = b"x-served-by"


class ServedBy:
    """Pure ASGI middleware: ``X-Served-By: <pid>`` on every HTTP answer (see the module docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        pid = str(os.getpid()).encode()

        async def send_with_pid(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), (SERVED_BY_HEADER, pid)]
            await send(message)

        await self.app(scope, receive, send_with_pid)


def served_app() -> FastAPI:
    """The app of one server process: as :func:`creditbank.main.create_app`, with its database
    pool opened at startup (and its malloc arenas limited before any thread starts, and trimmed
    every :data:`MALLOC_TRIM_SECONDS` while it serves)."""
    limit_malloc_arenas()
    trimmer = MallocTrimmer()
    trimmer.start()
    app = create_app()
    settings = app.state.ctx.settings
    KEEPALIVE.requests, KEEPALIVE.seconds = settings.keepalive_requests, settings.keepalive_seconds
    if settings.served_by_header:
        app.add_middleware(ServedBy)
    app.state.warm_pool = True
    app.state.malloc_trimmer = trimmer
    return app


def uvicorn_options(workers: int) -> dict[str, Any]:
    """How uvicorn runs the app (besides host and port). ``proxy_headers`` is off: uvicorn would
    otherwise take the client address from ``X-Forwarded-For`` of any connection from 127.0.0.1;
    the service decides which proxies it trusts itself (``CREDITBANK_TRUSTED_PROXIES``,
    :func:`creditbank.deps.client_address`)."""
    return {
        "factory": True,
        "workers": workers,
        "http": NoDelayHttpToolsProtocol,
        # a custom setting names the loop class itself; one worker has no one to leave connections to
        "loop": "creditbank.serving:FairAcceptLoop" if workers > 1 else "asyncio",
        "log_config": None,
        "access_log": False,
        "proxy_headers": False,
        "timeout_worker_healthcheck": WORKER_HEALTHCHECK_SECONDS,
    }


def worker_answers(worker: WorkerProcess, timeout: float) -> bool:
    """True when ``worker`` answers a ping within ``timeout`` seconds; False after the timeout, and
    False at once when the worker exits (or has exited) before it answers."""
    if not worker.process.is_alive():
        return False
    try:
        worker.parent_conn.send(b"ping")
        ready = wait_for_any([worker.parent_conn, worker.process.sentinel], timeout)
        if worker.parent_conn not in ready:
            return False  # exited, or no answer in time
        worker.parent_conn.recv()
        return True
    except (OSError, EOFError, pickle.UnpicklingError):
        return False


class WatchfulSupervisor(Multiprocess):
    """uvicorn's supervisor, replacing a dead worker as soon as it dies (see the module's docstring).
    The rest (signals, restarts, a worker that fails at start stopping the server) is uvicorn's."""

    def keep_subprocess_alive(self) -> None:
        if self.should_exit.is_set():
            return
        for idx, worker in enumerate(self.processes):
            if worker_answers(worker, self.config.timeout_worker_healthcheck):
                continue
            worker.kill()  # hung, or already dead
            worker.join()
            if worker.exitcode == STARTUP_FAILURE:
                _log.error("worker failed to start, stopping", extra={"fields": {"worker": worker.pid}})
                self.should_exit.set()
                return
            if self.should_exit.is_set():
                return
            died = {"worker": worker.pid, "exit_code": worker.exitcode}
            _log.warning("worker died, starting another", extra={"fields": died})
            replacement = WorkerProcess(self.config, self.sockets)
            replacement.start()
            self.processes[idx] = replacement


_log = logging.getLogger("creditbank.serving")
APP = "creditbank.serving:served_app"


def serve(host: str, port: int, workers: int = 1) -> None:
    """Serve :func:`served_app` on ``host:port`` with ``workers`` processes (several under
    :class:`WatchfulSupervisor`)."""
    limit_malloc_arenas()  # the workers inherit the environment
    if workers <= 1:
        uvicorn.run(APP, host=host, port=port, **uvicorn_options(workers))
        return
    config = uvicorn.Config(APP, host=host, port=port, **uvicorn_options(workers))
    sock = config.bind_socket()
    try:
        WatchfulSupervisor(config, sockets=[sock]).run()
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
