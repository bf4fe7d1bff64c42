"""Random identifiers: the format, and no repeats across threads or forked processes."""

import os
import re
import threading

from creditbank.ids import random_id

FORMAT = re.compile(r"^lot_[0-9a-hjkmnp-tv-z]{20}$")


def test_format() -> None:
    for _ in range(1000):
        assert FORMAT.match(random_id("lot"))


def test_no_repeats_across_threads() -> None:
    seen: list[str] = []
    lock = threading.Lock()

    def draw() -> None:
        mine = [random_id("lot") for _ in range(2000)]
        with lock:
            seen.extend(mine)

    threads = [threading.Thread(target=draw) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(seen)) == len(seen) == 16000


def test_a_forked_child_draws_other_ids() -> None:
    random_id("lot")  # the parent's pool is filled
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.write(write, " ".join(random_id("lot") for _ in range(50)).encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child = set(os.read(read, 65536).decode().split())
    os.close(read)
    parent = {random_id("lot") for _ in range(50)}
    assert len(child) == 50 and not child & parent
