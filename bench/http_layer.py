"""The service's CPU per request under the route: the HTTP layer (server protocol, event loop,
middlewares, routing, rendering), against same-run baselines served the same way.

Measured, each closed loop from ``--clients`` keep-alive connections of a raw-socket client (a few
microseconds of client CPU per request, so the load generator leaves the machine to the server), CPU
seconds (user + system, every thread of every process of the tree) read from ``/proc``:

* baseline ``bare ASGI``: :func:`bare_asgi.app` served by uvicorn with the service's own options
  (:func:`creditbank.serving.uvicorn_options`: the same protocol class, event loop and workers): the
  floor no change to the app can go under;
* baseline ``bare ASGI, h11 parser``: the same on uvicorn's pure-Python parser (what was served before
  ``httptools``), for the parser's share;
* baseline ``bare FastAPI``: :func:`bare_asgi.fastapi_app`, one ``async`` route, served the same way;
* the service (``creditbank serve``, its own PostgreSQL with fsync on): ``GET /healthz``, an
  authenticated ``GET /api/v1/outcomes/{id}``, and single postings (``POST /api/v1/outcomes``).

Run: .venv/bin/python bench/http_layer.py [--requests 2000] [--postings 1000] [--clients 8] [--workers 2]
Writes ``bench/results/http-cpu.json``.
"""

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import Table, outcome, tree_cpu_seconds, write_results  # noqa: E402

from tests.support.postgres import start_postgres  # noqa: E402
from tests.support.server import ServerProcess, free_port, prepare_database  # noqa: E402
from tests.support.world import build_world  # noqa: E402

Request = Callable[[int], bytes]


def request(method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    if body or method == "POST":
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class Connection:
    """One keep-alive HTTP/1.1 connection; answers are read by their ``Content-Length``."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def exchange(self, data: bytes) -> tuple[int, bytes]:
        self.sock.sendall(data)
        while b"\r\n\r\n" not in self.buffer:
            self._more()
        head, _, rest = self.buffer.partition(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        self.buffer = rest
        while len(self.buffer) < length:
            self._more()
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return status, body

    def _more(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        self.buffer += chunk

    def close(self) -> None:
        self.sock.close()


def closed_loop(port: int, make: Request, n: int, clients: int, expect: int) -> dict[str, Any]:
    """``n`` requests (``make(i)``), each client sending its next as soon as the last is answered."""
    counter = iter(range(n))
    lock = threading.Lock()
    errors: list[str] = []

    def run() -> None:
        connection = Connection(port)
        try:
            while True:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                status, body = connection.exchange(make(i))
                if status != expect:
                    with lock:
                        errors.append(f"{status} {body[:200]!r}")
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"requests": n, "errors": len(errors), "first_error": errors[:1]}


def measure(pids: list[int], port: int, make: Request, n: int, clients: int, expect: int) -> dict[str, Any]:
    """Warm up, then ``n`` requests; CPU seconds of each process tree in ``pids`` and of this one."""
    closed_loop(port, make, max(100, n // 10), clients, expect)

    def now() -> list[float]:
        times = os.times()
        return [sum(tree_cpu_seconds(pid)) for pid in pids] + [times.user + times.system]

    before, start = now(), time.perf_counter()
    run = closed_loop(port, make, n, clients, expect)
    after, wall = now(), time.perf_counter() - start
    used = [b - a for a, b in zip(before, after, strict=True)]
    return {
        **run,
        "wall_s": wall,
        "service_ms": used[0] / n * 1000,
        "postgres_ms": used[1] / n * 1000 if len(pids) > 1 else None,
        "client_ms": used[-1] / n * 1000,
        "per_second": n / wall,
    }


def serve_bare(factory: str, workers: int, var: Path, http: str = "") -> tuple[subprocess.Popen[bytes], int]:
    """``bare_asgi.<factory>`` served by uvicorn with the service's options (with ``http``, that
    protocol class of ``creditbank.serving`` instead); its process and port."""
    port = free_port()
    protocol = f", 'http': serving.{http}" if http else ""
    code = (
        "import uvicorn; from creditbank import serving; serving.limit_malloc_arenas(); "
        f"uvicorn.run('bare_asgi:{factory}', host='127.0.0.1', port={port}, "
        f"**{{**serving.uvicorn_options({workers}){protocol}}})"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "bench"), os.environ.get("PYTHONPATH", "")]),
    }
    log = open(var / f"bare-{factory}.log", "ab")  # noqa: SIM115 - lives with the process
    process = subprocess.Popen(
        [sys.executable, "-c", code], env=env, stdout=log, stderr=log, start_new_session=True
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process, port
        except httpx.HTTPError:
            time.sleep(0.1)
    os.killpg(process.pid, signal.SIGKILL)
    raise RuntimeError((var / f"bare-{factory}.log").read_text(errors="replace")[-4000:])


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=20)


def posting(token: str, learners: list[str], prefix: str) -> Request:
    def make(i: int) -> bytes:
        body = outcome(learners[i % len(learners)], f"{prefix}-{i}", i)
        headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Idempotency-Key": f"{prefix}-{i}",
        }
        return request("POST", "/api/v1/outcomes", headers, json.dumps(body).encode())

    return make


def run(args: argparse.Namespace) -> dict[str, Any]:
    n, clients, workers = args.requests, args.clients, args.workers
    var = Path(tempfile.mkdtemp(prefix="creditbank-bench-"))
    results: dict[str, Any] = {}
    healthz = request("GET", "/healthz")
    bare = (
        ("bare ASGI", "app", ""),
        ("bare ASGI, h11 parser", "app", "NoDelayH11Protocol"),
        ("bare FastAPI", "fastapi_app", ""),
    )
    for name, factory, http in bare:
        process, port = serve_bare(factory, workers, var, http)
        try:
            results[name] = measure([process.pid], port, lambda _i: healthz, n, clients, 200)
        finally:
            stop(process)
    pg = start_postgres(fsync=True)
    server = None
    try:
        url = prepare_database(pg, "bench_http", var)
        world = build_world(url, var, n_institutions=1, n_learners=args.learners)
        token = world.institutions[0][1]
        server = ServerProcess(url, var, workers=workers).start()
        assert server.process is not None
        pids = [server.process.pid, pg.process.pid]
        first = posting(token, world.learners, "first")(0)
        status, body = Connection(server.port).exchange(first)
        assert status == 201, body
        read = request(
            "GET", f"/api/v1/outcomes/{json.loads(body)['id']}", {"Authorization": f"Bearer {token}"}
        )
        results["GET /healthz"] = measure(pids, server.port, lambda _i: healthz, n, clients, 200)
        results["GET /api/v1/outcomes/{id}"] = measure(pids, server.port, lambda _i: read, n, clients, 200)
        results["POST /api/v1/outcomes"] = measure(
            pids, server.port, posting(token, world.learners, "p"), args.postings, clients, 201
        )
    finally:
        if server is not None:
            server.stop()
        pg.stop()
    return {"requests": n, "postings": args.postings, "clients": clients, "workers": workers, "runs": results}


def print_table(out: dict[str, Any]) -> None:
    table = Table(
        f"Service CPU per request: {out['requests']} requests ({out['postings']} postings), "
        f"{out['clients']} clients closed loop, {out['workers']} workers"
    )
    floor = out["runs"]["bare ASGI"]["service_ms"]
    for name, r in out["runs"].items():
        pg = f", PostgreSQL {r['postgres_ms']:.2f} ms" if r["postgres_ms"] is not None else ""
        note = (
            f"{r['service_ms'] - floor:+.2f} over bare ASGI{pg}; client {r['client_ms']:.2f} ms; "
            f"{r['per_second']:.0f}/s; {r['errors']} errors"
        )
        table.add(name, r["service_ms"], "ms", note)
    table.print()
    for name, r in out["runs"].items():
        if r["errors"]:
            print(f"{name}: first error {r['first_error'][0]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="requests of each GET measured")
    parser.add_argument("--postings", type=int, default=1000, help="single postings measured")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--learners", type=int, default=200)
    parser.add_argument("--name", default="http-cpu", help="the result file's name")
    args = parser.parse_args()
    out = run(args)
    print_table(out)
    print(f"written {write_results(args.name, out)}")


if __name__ == "__main__":
    main()
