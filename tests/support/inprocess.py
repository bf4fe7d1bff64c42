"""The app served over real HTTP by uvicorn in a thread of this process, and what this process keeps.

For measuring what a long-lived server process keeps per request (``tests/test_residue.py``,
``bench/residue.py``): the server and its clients share the process, so Python's allocated blocks,
read when nothing is in flight, count what the requests left behind.
"""

import gc
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import uvicorn
from fastapi import FastAPI

from creditbank.serving import uvicorn_options
from tests.support.loadgen import Answer, Connection


class InProcessServer:
    """``app`` under uvicorn (the served protocol and options of one worker) in a thread."""

    def __init__(self, app: FastAPI, port: int) -> None:
        options = {k: v for k, v in uvicorn_options(1).items() if k not in ("factory", "workers")}
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, **options))
        self.thread = threading.Thread(target=self.server.run, name="uvicorn", daemon=True)
        self.base_url = f"http://127.0.0.1:{port}"

    def __enter__(self) -> "InProcessServer":
        self.thread.start()
        deadline = time.monotonic() + 120
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the in-process server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def quiet_blocks(settle: float = 1.0) -> int:
    """Python's allocated blocks once nothing is in flight (the caller's clients are done), after
    two full collections."""
    time.sleep(settle)
    gc.collect()
    gc.collect()
    return sys.getallocatedblocks()


Send = Callable[[Connection, int], Answer]


def closed_loop(connections: list[Connection], n: int, send: Send) -> list[str]:
    """``n`` requests, each connection sending its next as soon as its last is answered (one thread
    each); the answers that were not 200 or 201."""
    counter = iter(range(n))
    lock = threading.Lock()
    errors: list[str] = []

    def run(http: Connection) -> None:
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            r = send(http, i)
            if r.status not in (200, 201):
                with lock:
                    errors.append(f"{r.status} {r.body[:200]!r}")

    threads = [threading.Thread(target=run, args=(c,)) for c in connections]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def blocks_per_request(
    connections: list[Connection], send: Callable[[str], Send], rounds: int, requests: int
) -> list[float]:
    """Python's allocated blocks a round of ``requests`` left behind, per request, for each of
    ``rounds`` rounds, after one round not counted (``send(tag)`` sends a round's requests, ``tag``
    making each round's own).

    Raises:
        AssertionError: a request was not answered 200 or 201.
    """
    per: list[float] = []
    before = 0
    for r in range(rounds + 1):
        errors: list[Any] = closed_loop(connections, requests, send(f"round{r}"))
        assert not errors, errors[:3]
        after = quiet_blocks()
        if r:
            per.append((after - before) / requests)
        before = after
    return per
