"""Serving: TCP_NODELAY on the connections of a server whose listening socket came from elsewhere,
and workers that leave new connections to an idle worker.

uvicorn's multi-worker mode hands workers a listening socket that reports protocol 0, so asyncio
leaves Nagle's algorithm on for the connections it accepts (each kept-alive response then waits
about 40 ms for a delayed ACK). The project's protocol class sets the option itself.
"""

import asyncio
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from creditbank.serving import (
    C_PARSER,
    FairAcceptLoop,
    NoDelayH11Protocol,
    NoDelayHttpToolsProtocol,
    _count_connection,
    served_app,
    uvicorn_options,
)
from tests.support.postgres import PostgresServer
from tests.support.server import ServerProcess, prepare_database

Protocol = type[H11Protocol] | type[HttpToolsProtocol]


async def _nodelay_of_accepted(protocol_class: Protocol) -> int:
    loop = asyncio.get_running_loop()
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)  # proto 0, as uvicorn binds it
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.setblocking(False)
    config = Config(app=None)  # type: ignore[arg-type]
    state = ServerState()

    def factory() -> H11Protocol | HttpToolsProtocol:
        return protocol_class(config=config, server_state=state, app_state={}, _loop=loop)

    server = await loop.create_server(factory, sock=listener)
    client = socket.create_connection(listener.getsockname())
    try:
        for _ in range(100):
            if state.connections:
                break
            await asyncio.sleep(0.01)
        [connection] = list(state.connections)
        sock = connection.transport.get_extra_info("socket")
        return int(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
    finally:
        client.close()
        server.close()


@pytest.mark.parametrize("protocol", [HttpToolsProtocol, H11Protocol])
def test_uvicorn_protocols_leave_nagle_on_for_a_proto_zero_listener(protocol: Protocol) -> None:
    # the behaviour the project works around: if this starts failing, uvicorn fixed it upstream
    assert asyncio.run(_nodelay_of_accepted(protocol)) == 0


@pytest.mark.parametrize("protocol", [NoDelayHttpToolsProtocol, NoDelayH11Protocol])
def test_project_protocols_turn_nagle_off(protocol: Protocol) -> None:
    assert asyncio.run(_nodelay_of_accepted(protocol)) == 1


def test_the_served_protocol_is_the_c_parser_with_nagle_off() -> None:
    assert C_PARSER  # httptools is a dependency
    for workers in (1, 2):
        assert uvicorn_options(workers)["http"] is NoDelayHttpToolsProtocol


@pytest.mark.parametrize("protocol", [NoDelayHttpToolsProtocol, NoDelayH11Protocol])
def test_project_protocols_count_their_connections_for_the_fair_accept(protocol: Protocol) -> None:
    loop = FairAcceptLoop()
    try:
        assert loop.run_until_complete(_nodelay_of_accepted(protocol)) == 1
        assert loop.open_connections == 1  # the client closed; the server has not noticed yet
        loop.run_until_complete(asyncio.sleep(0.2))
        assert loop.open_connections == 0
    finally:
        loop.close()


def test_a_served_process_opens_its_pool_at_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CREDITBANK_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("MALLOC_ARENA_MAX", "2")  # served_app sets it for the processes it starts
    app = served_app()
    assert app.state.warm_pool
    assert app.state.malloc_trimmer.is_alive()  # see test_a_served_process_trims_its_heap
    app.state.malloc_trimmer.stopped.set()


# --- malloc arenas: a worker's threads share two ---------------------------------------------------

_ARENAS_PROBE = """
import ctypes, ctypes.util, os, sys, tempfile, threading
if sys.argv[1] == "limited":
    from creditbank.serving import limit_malloc_arenas
    assert limit_malloc_arenas()
libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
libc.fopen.restype = ctypes.c_void_p
started, go = threading.Barrier(17), threading.Event()
def work():
    started.wait()  # all alive at once: each asks malloc for memory while the others hold theirs
    held = [libc.malloc(4096) for _ in range(200)]
    go.wait()
    for block in held:
        libc.free(block)
threads = [threading.Thread(target=work) for _ in range(16)]
for thread in threads:
    thread.start()
started.wait()
go.set()
for thread in threads:
    thread.join()
path = tempfile.mktemp()
out = libc.fopen(path.encode(), b"w")
libc.malloc_info(0, ctypes.c_void_p(out))
libc.fclose(ctypes.c_void_p(out))
print(open(path).read().count("<heap nr="), os.environ.get("MALLOC_ARENA_MAX"))
"""


def _arenas(mode: str) -> tuple[int, str]:
    env = {key: value for key, value in os.environ.items() if key != "MALLOC_ARENA_MAX"}
    done = subprocess.run(
        [sys.executable, "-c", _ARENAS_PROBE, mode], env=env, capture_output=True, text=True, check=True
    )
    heaps, setting = done.stdout.split()
    return int(heaps), setting


@pytest.mark.skipif(sys.platform != "linux", reason="glibc's malloc")
def test_threads_share_two_malloc_arenas() -> None:
    unlimited, setting = _arenas("default")
    assert unlimited > 2 and setting == "None"  # glibc's default: an arena per thread, up to 8 per core
    limited, setting = _arenas("limited")
    assert limited <= 2 and setting == "2"  # and uvicorn's workers inherit MALLOC_ARENA_MAX


# --- malloc_trim: a served process gives freed heap pages back ------------------------------------

_TRIM_PROBE = """
import ctypes, ctypes.util, sys, time
from creditbank.serving import MallocTrimmer
libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
def rss():
    return int(open("/proc/self/statm").read().split()[1]) * 4096
held = [libc.malloc(1000) for _ in range(100_000)]  # 100 MB of small blocks (a batch's rows)
for block in held:
    ctypes.memset(block, 1, 1000)
keep = libc.malloc(1000)  # one block above them: the heap's top cannot shrink
for block in held:
    libc.free(block)
before = rss()
if sys.argv[1] == "trimmed":
    MallocTrimmer(0.05).start()
time.sleep(1.0)
print(before, rss())
"""


def _rss_after_freeing(mode: str) -> tuple[int, int]:
    done = subprocess.run(
        [sys.executable, "-c", _TRIM_PROBE, mode], capture_output=True, text=True, check=True, timeout=120
    )
    before, after = done.stdout.split()
    return int(before), int(after)


@pytest.mark.skipif(sys.platform != "linux", reason="glibc's malloc")
def test_a_served_process_trims_its_heap() -> None:
    # glibc keeps 100 MB freed under a live block resident; the trimmer gives it back
    before, after = _rss_after_freeing("kept")
    assert after > before - 20 * 2**20
    before, after = _rss_after_freeing("trimmed")
    assert after < before - 80 * 2**20


# --- accepting: a worker that holds connections leaves new ones to an idle worker -----------------


class _Counted(asyncio.Protocol):
    """A connection counted on its loop, as NoDelayHttpToolsProtocol counts it."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        _count_connection(+1)

    def connection_lost(self, exc: Exception | None) -> None:
        _count_connection(-1)


class _Worker(threading.Thread):
    """A FairAcceptLoop serving a shared listening socket in a thread (a worker process in small)."""

    def __init__(self, listener: socket.socket, defer: float) -> None:
        super().__init__(daemon=True)
        self.listener = listener
        self.loop = FairAcceptLoop()
        self.loop.accept_defer = defer
        self.ready = threading.Event()

    def run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.server = self.loop.run_until_complete(self.loop.create_server(_Counted, sock=self.listener))
        self.ready.set()
        self.loop.run_forever()

    def stop(self) -> None:
        def close() -> None:
            self.server.close()
            self.loop.stop()

        self.loop.call_soon_threadsafe(close)
        self.join(timeout=10)
        self.loop.close()


def _listener() -> socket.socket:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    listener.setblocking(False)
    return listener


def _shared(listener: socket.socket) -> socket.socket:
    sock = socket.fromfd(listener.fileno(), socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    return sock


def _wait(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


@contextmanager
def _workers(count: int, defer: float) -> Iterator[tuple[tuple[str, int], list[_Worker]]]:
    """``count`` workers on one listening socket; yields its address and the workers."""
    listener = _listener()
    # each worker its own descriptor of the one socket, as each worker process has
    workers = [_Worker(_shared(listener), defer=defer) for _ in range(count)]
    for worker in workers:
        worker.start()
        worker.ready.wait(10)
    try:
        yield listener.getsockname(), workers
    finally:
        for worker in workers:
            worker.stop()
        listener.close()


def _second_while_busy(worker: _Worker, address: tuple[str, int]) -> tuple[socket.socket, socket.socket]:
    """A first connection, accepted at once by the idle worker; then, past the "just accepted"
    window, a second one while the worker holds the first."""
    first = socket.create_connection(address)
    _wait(lambda: worker.loop.open_connections == 1)
    assert worker.loop.deferred_accepts == 0  # idle: accepted at once
    time.sleep(0.1)
    return first, socket.create_connection(address)


def test_a_second_connection_goes_to_the_idle_worker() -> None:
    with _workers(2, defer=0.5) as (address, workers):
        for _ in range(10):
            first = socket.create_connection(address)
            _wait(lambda: sum(w.loop.open_connections for w in workers) == 1)
            second = socket.create_connection(address)
            _wait(lambda: sum(w.loop.open_connections for w in workers) == 2)
            # each worker holds one: the busy one left the newcomer to the idle one
            assert [w.loop.open_connections for w in workers] == [1, 1]
            first.close()
            second.close()
            _wait(lambda: sum(w.loop.open_connections for w in workers) == 0)


def test_a_busy_worker_alone_still_accepts_after_the_pause() -> None:
    with _workers(1, defer=0.2) as (address, [worker]):
        started = time.monotonic()
        first, second = _second_while_busy(worker, address)
        _wait(lambda: worker.loop.open_connections == 2)
        waited = time.monotonic() - started - 0.1
        assert worker.loop.deferred_accepts == 1
        assert 0.15 <= waited < 2.0  # waited for the pause, and no longer
        first.close()
        second.close()


def test_a_server_closed_during_the_pause_is_not_resumed() -> None:
    with _workers(1, defer=0.2) as (address, [worker]):
        first, second = _second_while_busy(worker, address)
        _wait(lambda: worker.loop.deferred_accepts == 1)
        errors: list[dict[str, object]] = []
        worker.loop.set_exception_handler(lambda _loop, context: errors.append(context))
        worker.loop.call_soon_threadsafe(worker.server.close)
        time.sleep(0.4)  # the pause ends after the close
        assert worker.is_alive()
        assert worker.loop.open_connections == 1
        assert errors == []
        first.close()
        second.close()


# --- X-Served-By: which worker answered, for the soak's per-worker report ---------------------------


def _workers_of(root: int) -> set[int]:
    """The uvicorn worker processes of a server (its multiprocessing children)."""
    found = set()
    for entry in Path("/proc").iterdir():
        try:
            parent = int(Path(f"/proc/{entry.name}/stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = Path(f"/proc/{entry.name}/cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue
        if parent == root and b"multiprocessing.spawn" in cmdline:
            found.add(int(entry.name))
    return found


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
def test_answers_name_the_worker_that_served_them_only_when_asked(
    pg_server: PostgresServer, tmp_path: Path
) -> None:
    url = prepare_database(pg_server, "served_by", tmp_path)
    plain = ServerProcess(url, tmp_path, publisher=False).start()
    try:  # off by default: no client learns a process id
        answers = [httpx.get(plain.base_url + path) for path in ("/healthz", "/no-such-page")]
        assert [r.status_code for r in answers] == [200, 404]
        assert all("x-served-by" not in r.headers for r in answers)
    finally:
        plain.stop()
    server = ServerProcess(
        url, tmp_path, publisher=False, workers=2, extra_env={"CREDITBANK_SERVED_BY_HEADER": "true"}
    ).start()
    try:
        assert server.process is not None
        workers = _workers_of(server.process.pid)
        assert len(workers) == 2
        named = set()
        for _ in range(5):  # new connections, which either worker may take
            with httpx.Client(base_url=server.base_url) as http:
                for path in ("/healthz", "/api/v1/learners/nobody/archive"):
                    r = http.get(path)  # an answer of the app and an unauthenticated problem alike
                    assert r.status_code in (200, 401), r.text
                    named.add(int(r.headers["x-served-by"]))
        assert named and named <= workers  # a worker's pid, never the supervisor's
    finally:
        server.stop()


_LOOKUP_PROBE = """
import ctypes.util
looked_up = []
real = ctypes.util.find_library
def counted(name):
    looked_up.append(name)
    return real(name)
ctypes.util.find_library = counted
from creditbank.serving import trim_malloc
for _ in range(3):
    trim_malloc()
print(len(looked_up))
"""


@pytest.mark.skipif(sys.platform != "linux", reason="glibc's malloc")
def test_the_trimmer_looks_up_the_c_library_once() -> None:
    # ctypes' find_library runs `ldconfig -p` in a subprocess; every 30 s in every worker, it was a
    # process started from a 200 MB server and a tenth of a second of its time for nothing
    done = subprocess.run(
        [sys.executable, "-c", _LOOKUP_PROBE], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.split() == ["1"]
