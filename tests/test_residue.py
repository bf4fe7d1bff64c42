"""What a long-lived server process keeps per request: nothing.

The app is served over real HTTP (uvicorn in a thread of this process, real PostgreSQL, the
checkpoint publisher on), and Python's allocated blocks are read when nothing is in flight, after
rounds of single postings, archive reads, checkpoints, inclusion proofs and verifications. A worker
that kept one small object per request would grow for as long as it serves (the soak's memory
criterion, ``docs/performance.md``).

What was kept: pydantic-core's string cache (``cache_strings``, on by default) holds up to 16,384
strings that validation made, and a constrained string field with ``str_strip_whitespace`` makes its
value anew through that cache, so every posting's reference (and, with many learners, its learner
id) stayed in it, for minutes, pinning the memory pools they were made in. Request bodies are now
validated without it (:mod:`creditbank.request_models`).
"""

import datetime as dt
import importlib
import pkgutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute
from pydantic import BaseModel

from creditbank.config import Settings
from creditbank.db import transaction
from creditbank.demo import load_demo, load_exchange
from creditbank.main import create_app
from creditbank.outcomes.endpoints import router as outcomes_router
from creditbank.outcomes.schemas import OutcomeCreate
from tests.support.inprocess import InProcessServer, Send, blocks_per_request, closed_loop, quiet_blocks
from tests.support.loadgen import Answer, Connection
from tests.support.postgres import PostgresServer
from tests.support.server import free_port, prepare_database
from tests.support.world import World, build_world

PACKAGE = Path(__file__).resolve().parent.parent / "creditbank"
POSTINGS = 500  # a round of postings
READINGS = 200  # a round of reads (a verification takes about 20 ms of CPU)
# the blocks three rounds together may leave behind: between two quiet moments about 400 are noise on
# a loaded machine (threads of the pool, the publisher's rounds, the connections the server ends after
# 100 requests); the string cache left 0.6 to 1.1 a posting, 850 to 1,650 over three rounds
POSTINGS_LIMIT = 600
READS_LIMIT = 400  # over 600 reads: a read keeping one block would leave 600


def posting(i: int, learner: str, ref: str) -> dict[str, Any]:
    return {
        "learner_id": learner,
        "reference": ref,
        "outcome_type": "training_course",
        "title": "数字技能培训",
        "achieved_on": (dt.date.today() - dt.timedelta(days=1 + i % 300)).isoformat(),
        "hours": 16 + 8 * (i % 6),
    }


@dataclass
class Served:
    world: World
    certificate: dict[str, Any]
    log_id: str
    connections: list[Connection]

    def post(self, tag: str) -> Send:
        auth = {"Authorization": f"Bearer {self.world.institutions[0][1]}"}
        learners = self.world.learners

        def send(http: Connection, i: int) -> Answer:
            ref = f"{tag}-{i}"
            body = posting(i, learners[i % len(learners)], ref)
            return http.post_json("/api/v1/outcomes", body, {**auth, "Idempotency-Key": ref})

        return send


@pytest.fixture(scope="module")
def served(pg_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    var = tmp_path_factory.mktemp("residue")
    url = prepare_database(pg_server, "creditbank_residue", var)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("CREDITBANK_BASE_URL", base)  # the world's certificates name the server
        world = build_world(url, var, n_institutions=2, n_learners=40)
        for session in transaction(world.ctx.sessions):
            load_demo(session, world.ctx)
        for session in transaction(world.ctx.sessions):
            certificate, _ = load_exchange(session, world.ctx)
        world.ctx.engine.dispose()
    settings = Settings(
        var_dir=var,
        database_url=url,
        base_url=base,
        background_publisher=True,
        checkpoint_interval_seconds=0.5,
        log_level="WARNING",
    )
    with InProcessServer(create_app(settings), port) as server:
        connections = [Connection(server.base_url, timeout=60) for _ in range(8)]
        log_id = connections[0].get("/logs").json()[0]["id"]
        here = Served(world, certificate, log_id, connections)
        # warm-up: every path taken, every pool and cache of fixed size filled
        assert not closed_loop(connections, POSTINGS, here.post("warm"))
        for read in READS.values():
            assert not closed_loop(connections, 100, read(here, "warm"))
        yield here
        for connection in connections:
            connection.close()


def test_a_server_keeps_nothing_per_posting(served: Served) -> None:
    per = blocks_per_request(served.connections, served.post, rounds=3, requests=POSTINGS)
    assert sum(per) * POSTINGS < POSTINGS_LIMIT, per


def _archive(s: Served, tag: str) -> Send:
    admin = {"Authorization": f"Bearer {s.world.admin_token}"}
    return lambda http, i: http.get(
        f"/api/v1/learners/{s.world.learners[i % len(s.world.learners)]}/archive", admin
    )


def _checkpoint(s: Served, tag: str) -> Send:
    return lambda http, i: http.get(f"/logs/{s.log_id}/checkpoint")


def _inclusion(s: Served, tag: str) -> Send:
    return lambda http, i: http.get(f"/logs/{s.log_id}/proof/inclusion?index={i % 400}")


def _verify(s: Served, tag: str) -> Send:
    return lambda http, i: http.post_json("/api/v1/verify", {"certificate": s.certificate})


READS = {"archive": _archive, "checkpoint": _checkpoint, "inclusion": _inclusion, "verify": _verify}


@pytest.mark.parametrize("kind", sorted(READS))
def test_a_server_keeps_nothing_per_read(served: Served, kind: str) -> None:
    per = blocks_per_request(
        served.connections, lambda tag: READS[kind](served, tag), rounds=3, requests=READINGS
    )
    assert sum(per) * READINGS < READS_LIMIT, per


def _blocks_left(validate: Any, n: int = 2_000) -> int:
    """The blocks ``n`` validations of postings with their own reference and learner leave."""
    body = posting(1, "lrn_0123456789", "ref")
    for i in range(200):  # warm-up
        validate({**body, "reference": f"warm-{i}"})
    before = quiet_blocks(settle=0)
    for i in range(n):
        validate({**body, "reference": f"ref-{i}", "learner_id": f"lrn_{i:010d}"})
    return quiet_blocks(settle=0) - before


def test_a_posted_body_leaves_no_string_behind(tmp_path: Path) -> None:
    create_app(Settings(var_dir=tmp_path, database_url="sqlite://", background_publisher=False))
    route = next(
        r for r in outcomes_router.routes if isinstance(r, APIRoute) and r.path == "/api/v1/outcomes"
    )
    field = route.dependant.body_params[0]

    def through_fastapi(body: dict[str, Any]) -> None:
        value, errors = field.validate(body)
        assert isinstance(value, OutcomeCreate) and not errors

    assert _blocks_left(through_fastapi) < 200  # with the string cache: about 3,600
    assert _blocks_left(OutcomeCreate.model_validate) < 200  # a batch's rows


def _models() -> Iterator[type[BaseModel]]:
    """Every pydantic model defined under creditbank/ (every module imported)."""
    for info in pkgutil.walk_packages([str(PACKAGE)], "creditbank."):
        importlib.import_module(info.name)
    seen: set[type[BaseModel]] = set()
    todo = list(BaseModel.__subclasses__())
    while todo:
        model = todo.pop()
        if model not in seen:
            seen.add(model)
            todo.extend(model.__subclasses__())
    yield from (m for m in seen if m.__module__.startswith("creditbank."))


def test_models_that_strip_strings_keep_none() -> None:
    stripping = [m for m in _models() if m.model_config.get("str_strip_whitespace")]
    assert OutcomeCreate in stripping  # the scan finds what it looks for
    kept = [
        f"{m.__module__}.{m.__qualname__}"
        for m in stripping
        if m.model_config.get("cache_strings") is not False
    ]
    assert not kept
