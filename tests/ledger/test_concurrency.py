"""Many concurrent clients against a real server on PostgreSQL: no lost, doubled or out-of-order entry."""

import base64
import datetime as dt
import json
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from creditbank.standards.tlog import merkle
from creditbank.standards.tlog.note import NoteVerifier, open_checkpoint
from tests.support.postgres import PostgresServer
from tests.support.server import ServerProcess, prepare_database
from tests.support.world import build_world

pytestmark = pytest.mark.slow

CLIENTS = 16
POSTS_PER_CLIENT = 20


def _outcome(learner_id: str, ref: str, hours: int) -> dict[str, Any]:
    return {
        "learner_id": learner_id,
        "reference": ref,
        "outcome_type": "training_course",
        "title": "并发测试课程",
        "achieved_on": (dt.date.today() - dt.timedelta(days=3)).isoformat(),
        "hours": hours,
    }


def test_concurrent_postings_stay_consistent(pg_server: PostgresServer, tmp_path: Path) -> None:
    url = prepare_database(pg_server, "concurrency", tmp_path)
    world = build_world(url, tmp_path)
    # eight clients share each token here, each with a batch: lift the per-token limit of
    # uploads at once (CREDITBANK_HEAVY_REQUESTS_PER_TOKEN, tests/test_limits.py) for this race
    server = ServerProcess(
        url, tmp_path, workers=2, extra_env={"CREDITBANK_HEAVY_REQUESTS_PER_TOKEN": str(CLIENTS)}
    ).start()
    try:

        def client_run(n: int) -> list[int]:
            _, token = world.institutions[n % len(world.institutions)]
            codes = []
            with httpx.Client(base_url=server.base_url, timeout=60) as http:
                for i in range(POSTS_PER_CLIENT):
                    learner = world.learners[(n + i) % len(world.learners)]
                    r = http.post(
                        "/api/v1/outcomes",
                        json=_outcome(learner, f"c{n}-{i}", 16 * (1 + (n + i) % 4)),
                        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": f"c{n}-{i}"},
                    )
                    codes.append(r.status_code)
                # and one batch per client, racing with the single postings
                rows = [
                    _outcome(world.learners[(n + k) % len(world.learners)], f"b{n}-{k}", 32)
                    for k in range(10)
                ]
                r = http.post(
                    "/api/v1/outcomes/batch", json=rows, headers={"Authorization": f"Bearer {token}"}
                )
                codes.append(r.status_code)
                assert r.json()["summary"]["created"] == 10
            return codes

        with ThreadPoolExecutor(CLIENTS) as pool:
            codes = [c for result in pool.map(client_run, range(CLIENTS)) for c in result]
        assert codes.count(201) == CLIENTS * POSTS_PER_CLIENT
        assert codes.count(200) == CLIENTS  # the batches
        expected_entries = CLIENTS * (POSTS_PER_CLIENT + 10)

        with world.ctx.engine.connect() as conn:
            seqs = [
                r[0]
                for r in conn.execute(
                    text("SELECT seq FROM ledger_transactions WHERE log_id='main' ORDER BY seq")
                )
            ]
            assert seqs == list(range(expected_entries)), "sequence numbers must be gapless from 0"
            # every learner's balance equals the sum of their lots; all accounts sum to zero
            lots: dict[str, Decimal] = dict(
                conn.execute(
                    text("SELECT learner_id, sum(credits) FROM ledger_lots GROUP BY learner_id")
                ).all()
            )
            balances: dict[str, Decimal] = dict(
                conn.execute(
                    text("SELECT owner_id, balance FROM ledger_accounts WHERE kind='learner_available'")
                ).all()
            )
            assert {k: Decimal(v) for k, v in lots.items()} == {k: Decimal(v) for k, v in balances.items()}
            assert conn.execute(text("SELECT sum(balance) FROM ledger_accounts")).scalar_one() == 0
            outcomes = conn.execute(text("SELECT count(*) FROM outcomes")).scalar_one()
            assert outcomes == expected_entries

        # every entry is provably in the tree under a signed checkpoint
        http = httpx.Client(base_url=server.base_url, timeout=30)
        [log] = http.get("/logs").json()
        verifier = NoteVerifier.parse(log["verifier_key"])
        deadline = dt.datetime.now() + dt.timedelta(seconds=20)
        while True:
            checkpoint = open_checkpoint(http.get("/logs/main/checkpoint").text.encode(), verifier)
            if checkpoint.size == expected_entries or dt.datetime.now() > deadline:
                break
            time.sleep(0.2)
        assert checkpoint.size == expected_entries, "a checkpoint within seconds of growth"
        entries: list[dict[str, Any]] = []
        for start in range(0, expected_entries, 1000):
            entries += http.get("/logs/main/entries", params={"start": start, "end": start + 1000}).json()[
                "entries"
            ]
        for entry in entries:
            leaf = base64.b64decode(entry["leaf"])
            assert json.loads(leaf)["seq"] == entry["index"]
            proof = http.get("/logs/main/proof/inclusion", params={"index": entry["index"]}).json()
            merkle.verify_inclusion(
                merkle.leaf_hash(leaf),
                entry["index"],
                proof["size"],
                [base64.b64decode(p) for p in proof["proof"]],
                checkpoint.root_hash,
            )
        http.close()
    finally:
        server.stop()
        world.ctx.engine.dispose()
