"""Kept-alive connections spread again over the workers after one is replaced.

A worker that dies is replaced at once, but the clients that were on it reconnect before the
replacement listens: every connection lands on the surviving worker, and a client that keeps its
connection keeps it there for good, so one worker (one interpreter lock) carries everything while the
replacement idles. The server ends a kept-alive connection after ``CREDITBANK_KEEPALIVE_REQUESTS``
requests or ``CREDITBANK_KEEPALIVE_SECONDS`` seconds, with ``Connection: close`` on the answer, so the
clients reconnect and the fair accept spreads them again.

The test is the clients' side: kept-alive connections through the lean load generator
(``tests/support/loadgen.py``), one worker SIGKILLed, and the answers counted by the worker that served
them (``X-Served-By``).
"""

import asyncio
import os
import signal
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from starlette.types import Receive, Scope, Send
from uvicorn.config import Config
from uvicorn.server import ServerState

from creditbank import serving
from creditbank.config import Settings
from creditbank.serving import KeepAliveLimits, NoDelayH11Protocol, NoDelayHttpToolsProtocol, served_app
from tests.support.loadgen import Connection, TransportError
from tests.support.server import ServerProcess
from tests.test_worker_replacement import _until, _workers

CLIENTS = 8
ROUNDS = 400  # requests per client after the replacement serves: four times the default limit
LAST = 100  # the window judged: each client's last LAST requests


class Clients:
    """``CLIENTS`` threads, each with one kept-alive connection, asking ``/healthz`` while ``go`` is
    set; each answer's serving pid in order, per client."""

    def __init__(self, base_url: str) -> None:
        self.connections = [Connection(base_url, timeout=30) for _ in range(CLIENTS)]
        self.served: list[list[int]] = [[] for _ in range(CLIENTS)]
        self.errors: list[list[str]] = [[] for _ in range(CLIENTS)]
        self.rounds = 0  # 0: until stopped
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(CLIENTS)]

    def _run(self, i: int) -> None:
        http = self.connections[i]
        while not self.stop.is_set() and (self.rounds == 0 or len(self.served[i]) < self.rounds):
            try:
                answer = http.get("/healthz")
            except TransportError as exc:
                self.errors[i].append(type(exc).__name__)
                time.sleep(0.01)
                continue
            if answer.status != 200:
                self.errors[i].append(str(answer.status))
                continue
            self.served[i].append(int(answer.headers["x-served-by"]))

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def join(self) -> None:
        for thread in self.threads:
            thread.join(timeout=300)
        for http in self.connections:
            http.close()


def _served_by_fresh_connection(base_url: str) -> int | None:
    try:
        with Connection(base_url, timeout=5) as http:
            return int(http.get("/healthz").headers["x-served-by"])
    except TransportError:
        return None


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="/proc")
def test_kept_alive_clients_spread_over_the_replacement_worker(pg_url: str, secrets_dir: Path) -> None:
    server = ServerProcess(
        pg_url, secrets_dir, publisher=False, workers=2, extra_env={"CREDITBANK_SERVED_BY_HEADER": "true"}
    ).start()
    try:
        assert server.process is not None
        supervisor = server.process.pid
        _until(lambda: len(_workers(supervisor)) == 2, 180, "two workers")
        clients = Clients(server.base_url)
        clients.start()
        _until(lambda: all(len(s) >= 20 for s in clients.served), 120, "every client answered")
        survivor, victim = _workers(supervisor)
        os.kill(victim, signal.SIGKILL)
        _until(lambda: len(set(_workers(supervisor)) - {survivor, victim}) == 1, 120, "a new worker")
        [new] = set(_workers(supervisor)) - {survivor, victim}
        # the replacement serves: a new connection reaches it (the fair accept leaves it to the idle one)
        _until(lambda: _served_by_fresh_connection(server.base_url) == new, 120, "the new worker serving")
        # from now on, a bounded number of requests per client
        clients.rounds = max(len(s) for s in clients.served) + ROUNDS
        started = [len(s) for s in clients.served]
        clients.join()
        window = Counter(pid for s in clients.served for pid in s[-LAST:])
        after = [s[n:] for s, n in zip(clients.served, started, strict=True)]
        assert all(len(a) >= ROUNDS for a in after)
        assert set(window) <= {survivor, new}, window
        total = sum(window.values())
        # a fair share is half; each worker must answer at least half of its fair share
        assert window[new] >= total / 4, (window, survivor, new)
        assert window[survivor] >= total / 4, (window, survivor, new)
        # the clients were told to reconnect, not cut: no errors after the kill's own
        errors = [e for errs in clients.errors for e in errs]
        assert len(errors) <= CLIENTS, errors  # at most one cut per client, by the kill
    finally:
        server.stop()


def test_keepalive_limits_default_to_spreading_within_a_minute() -> None:
    settings = Settings()
    assert 0 < settings.keepalive_requests <= 1000
    assert 0 < settings.keepalive_seconds <= 120
    assert KeepAliveLimits(settings.keepalive_requests, settings.keepalive_seconds) == serving.KEEPALIVE


def test_a_served_process_takes_its_keepalive_limits_from_the_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CREDITBANK_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("CREDITBANK_KEEPALIVE_REQUESTS", "7")
    monkeypatch.setenv("CREDITBANK_KEEPALIVE_SECONDS", "0")
    monkeypatch.setattr(serving, "KEEPALIVE", KeepAliveLimits(100, 60.0))
    app = served_app()
    app.state.malloc_trimmer.stopped.set()
    assert KeepAliveLimits(7, 0.0) == serving.KEEPALIVE


# --- the protocols on a real socket, with a small app ------------------------------------------------


async def _hello(scope: Scope, receive: Receive, send: Send) -> None:
    assert scope["type"] == "http"
    more = True
    while more:  # read the whole body before answering
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


Protocol = type[NoDelayHttpToolsProtocol] | type[NoDelayH11Protocol]
PROTOCOLS = [NoDelayHttpToolsProtocol, NoDelayH11Protocol]


@contextmanager
def _served(protocol: Protocol) -> Iterator[str]:
    """``protocol`` serving :func:`_hello` on a loop in a thread; yields the base URL."""
    loop = asyncio.new_event_loop()
    config = Config(app=_hello)
    config.load()
    state = ServerState()
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    started = threading.Event()
    holder: list[asyncio.Server] = []

    def factory() -> asyncio.Protocol:
        return protocol(config=config, server_state=state, app_state={}, _loop=loop)

    def run() -> None:
        asyncio.set_event_loop(loop)
        holder.append(loop.run_until_complete(loop.create_server(factory, sock=listener)))
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    started.wait(10)
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:

        def stop() -> None:
            holder[0].close()
            loop.stop()

        loop.call_soon_threadsafe(stop)
        thread.join(10)
        loop.close()


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_the_nth_answer_of_a_connection_says_close_and_the_client_reconnects(
    protocol: Protocol, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(serving, "KEEPALIVE", KeepAliveLimits(requests=3, seconds=0))
    with _served(protocol) as base_url, Connection(base_url, timeout=10) as http:
        answers = [http.get("/") for _ in range(10)]  # a TransportError would fail the test
        assert [a.body for a in answers] == [b"ok"] * 10
        closing = [i + 1 for i, a in enumerate(answers) if a.headers.get("connection") == "close"]
        assert closing == [3, 6, 9]
        assert http.connections_made == 4  # each close honoured: a new connection, no error


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_connection_older_than_the_limit_ends_at_its_next_answer(
    protocol: Protocol, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(serving, "KEEPALIVE", KeepAliveLimits(requests=0, seconds=0.5))
    with _served(protocol) as base_url, Connection(base_url, timeout=10) as http:
        young = [http.get("/") for _ in range(5)]
        assert all("connection" not in a.headers for a in young)
        time.sleep(0.6)
        old = http.get("/")
        assert old.headers.get("connection") == "close"
        again = http.get("/")
        assert "connection" not in again.headers
        assert http.connections_made == 2


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_no_limit_keeps_one_connection(protocol: Protocol, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(serving, "KEEPALIVE", KeepAliveLimits(requests=0, seconds=0))
    with _served(protocol) as base_url, Connection(base_url, timeout=10) as http:
        answers = [http.get("/") for _ in range(300)]
        assert all("connection" not in a.headers for a in answers)
        assert http.connections_made == 1


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_pipelined_requests_behind_the_last_answer_are_not_started(
    protocol: Protocol, monkeypatch: pytest.MonkeyPatch
) -> None:
    # three requests in one write on a connection whose limit is two: the second answer says close,
    # the connection then ends, and the third was never run (a client may send it again)
    monkeypatch.setattr(serving, "KEEPALIVE", KeepAliveLimits(requests=2, seconds=0))
    with _served(protocol) as base_url:
        port = int(base_url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            request = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx"
            sock.sendall(request * 3)
            received = b""
            while data := sock.recv(65536):
                received += data
    heads = received.split(b"HTTP/1.1 ")[1:]
    assert len(heads) == 2, received
    assert heads[0].startswith(b"200") and b"connection: close" not in heads[0].lower()
    assert heads[1].startswith(b"200") and b"connection: close" in heads[1].lower()
