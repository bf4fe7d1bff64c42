"""Group commit of single postings (creditbank.outcomes.grouped): postings that arrive while a group
runs share the next group's one transaction, and each keeps every guarantee of a posting alone."""

import dataclasses
import datetime as dt
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, text
from starlette.responses import Response

from creditbank.auth.service import hash_token
from creditbank.main import create_app
from creditbank.outcomes.grouped import GroupCommit, Posting, Staged
from tests.support.postgres import PostgresServer
from tests.support.server import prepare_database
from tests.support.world import World, build_world

pytestmark = pytest.mark.slow


@dataclass
class Served:
    world: World
    client: TestClient
    postings: GroupCommit


@pytest.fixture
def served(pg_server: PostgresServer, tmp_path: Path) -> Iterator[Served]:
    url = prepare_database(pg_server, "group_commit", tmp_path)
    world = build_world(url, tmp_path, n_institutions=2, n_learners=4)
    app = create_app(ctx=world.ctx)
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            yield Served(world, client, app.state.postings)
    finally:
        world.ctx.engine.dispose()


def _body(learner: str, reference: str, hours: int = 32) -> dict[str, Any]:
    return {
        "learner_id": learner,
        "reference": reference,
        "outcome_type": "training_course",
        "title": "分组提交课程",
        "achieved_on": (dt.date.today() - dt.timedelta(days=3)).isoformat(),
        "hours": hours,
    }


def _post(served: Served, token: str, body: dict[str, Any], key: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": key}
    answer: httpx.Response = served.client.post("/api/v1/outcomes", json=body, headers=headers)
    return answer


def _in_one_group(
    served: Served,
    calls: list[tuple[str, dict[str, Any], str]],
    first: Posting | None = None,
    meanwhile: Callable[[], None] | None = None,
) -> list[httpx.Response]:
    """Send ``calls`` (token, body, key) at once while a group is held open, so that they all wait
    and then form ONE group (after ``first``, queued before them); returns their answers in order.
    ``meanwhile`` runs once they all wait (their guards have admitted them), before the group runs."""
    release = threading.Event()

    def blocking(_db: Any) -> Staged:
        release.wait(60)
        return Staged([], lambda _db, _txs: Response(status_code=204))

    holder = threading.Thread(
        target=served.postings.submit, args=(Posting(("test", "hold"), blocking, Response),)
    )
    holder.start()
    deadline = time.monotonic() + 60
    while (served.postings._waiting or not served.postings._leading) and time.monotonic() < deadline:
        time.sleep(0.01)  # the held group is running: whatever comes now waits for the next
    queued = len(calls) + (first is not None)
    with ThreadPoolExecutor(len(calls) + 1) as pool:
        if first is not None:
            pool.submit(served.postings.submit, first)
            while not served.postings._waiting:
                time.sleep(0.01)
        futures = []
        for number, (token, body, key) in enumerate(calls, 1 + (first is not None)):
            futures.append(pool.submit(_post, served, token, body, key))
            # one at a time: the group takes them in this order (at once, a later one could overtake)
            deadline = time.monotonic() + 60
            while len(served.postings._waiting) < number and time.monotonic() < deadline:
                time.sleep(0.01)
        assert len(served.postings._waiting) == queued, "the postings did not all wait for the group"
        if meanwhile is not None:
            meanwhile()
        release.set()
        answers = [f.result() for f in futures]
    holder.join(60)
    return answers


def _seqs(served: Served) -> list[int]:
    with served.world.ctx.engine.connect() as conn:
        seqs = conn.execute(text("SELECT seq FROM ledger_transactions ORDER BY seq")).scalars()
        return [int(s) for s in seqs]


def test_waiting_postings_share_one_transaction_and_all_commit(served: Served) -> None:
    (_, token), learners = served.world.institutions[0], served.world.learners
    calls = [(token, _body(learners[i % 4], f"g-{i}"), f"key-{i}") for i in range(8)]
    before = served.postings.groups
    answers = _in_one_group(served, calls)
    assert [a.status_code for a in answers] == [201] * 8, [a.text for a in answers]
    assert served.postings.groups - before == 2  # the held one, then all eight together
    indexes = sorted(a.json()["ledger"]["index"] for a in answers)
    seqs = _seqs(served)
    assert seqs == list(range(len(seqs))), "sequence numbers have a gap"
    assert indexes == seqs[-8:]
    with served.world.ctx.engine.connect() as conn:
        stored = conn.execute(
            text("SELECT count(*) FROM idempotency_keys WHERE key LIKE 'key-%' AND status_code = 201")
        ).scalar_one()
        size = conn.execute(text("SELECT size FROM tlog_logs WHERE id = 'main'")).scalar_one()
    assert stored == 8 and size == len(seqs)
    # each one's answer was stored under its own key: a retry replays exactly it
    again = _post(served, token, calls[3][1], "key-3")
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == answers[3].json()


def test_a_posting_with_its_own_problem_fails_alone(served: Served) -> None:
    (_, token), learners = served.world.institutions[0], served.world.learners
    calls = [
        (token, _body(learners[0], "ok-1"), "ok-1"),
        (token, _body("lrn_does_not_exist", "bad-learner"), "bad-learner"),
        (token, _body(learners[1], "ok-2"), "ok-2"),
        (token, _body(learners[2], "ok-1", hours=64), "other-content"),  # reference ok-1, other facts
    ]
    answers = _in_one_group(served, calls)
    codes = [a.status_code for a in answers]
    assert codes[0] == 201 and codes[2] == 201, [a.text for a in answers]
    assert codes[1] == 404 and codes[3] == 409, [a.text for a in answers]
    seqs = _seqs(served)
    assert seqs == list(range(len(seqs)))
    with served.world.ctx.engine.connect() as conn:
        refs = set(conn.execute(text("SELECT reference FROM outcomes")).scalars())
        keys = set(conn.execute(text("SELECT key FROM idempotency_keys")).scalars())
    assert refs == {"ok-1", "ok-2"}
    # the failed postings left no claim: their keys are free for a corrected request
    assert keys == {"ok-1", "ok-2"}
    fixed = _post(served, token, _body(learners[3], "fixed"), "bad-learner")
    assert fixed.status_code == 201, fixed.text


def test_a_group_takes_savepoints_only_once_a_posting_had_a_problem(served: Served) -> None:
    """Savepoints cost two statements and two round trips a posting: a group runs without them, and
    only when a posting has a problem of its own does it run again, each posting in a savepoint."""
    (_, token), learners = served.world.institutions[0], served.world.learners
    savepoints: list[str] = []

    def noted(_conn: Any, name: str) -> None:
        savepoints.append(name)

    event.listen(served.world.ctx.engine, "savepoint", noted)
    try:
        clean = _in_one_group(served, [(token, _body(learners[i], f"sp-{i}"), f"sp-{i}") for i in range(4)])
        assert [a.status_code for a in clean] == [201] * 4, [a.text for a in clean]
        assert savepoints == []
        mixed = _in_one_group(
            served,
            [
                (token, _body(learners[0], "sp-ok-1"), "sp-ok-1"),
                (token, _body("lrn_does_not_exist", "sp-bad"), "sp-bad"),
                (token, _body(learners[1], "sp-ok-2"), "sp-ok-2"),
            ],
        )
        assert [a.status_code for a in mixed] == [201, 404, 201], [a.text for a in mixed]
        assert len(savepoints) == 3  # the second run: one for each posting of the group
    finally:
        event.remove(served.world.ctx.engine, "savepoint", noted)
    with served.world.ctx.engine.connect() as conn:
        refs = set(conn.execute(text("SELECT reference FROM outcomes")).scalars())
    assert refs == {"sp-0", "sp-1", "sp-2", "sp-3", "sp-ok-1", "sp-ok-2"}
    assert _seqs(served) == list(range(6))


def test_a_posting_alone_in_its_group_with_its_own_problem_leaves_nothing(served: Served) -> None:
    """A group of one runs without a savepoint: its posting's problem rolls the whole transaction back."""
    (_, token), learners = served.world.institutions[0], served.world.learners
    before = served.postings.groups
    [bad] = _in_one_group(served, [(token, _body("lrn_does_not_exist", "alone-bad"), "alone-bad")])
    assert bad.status_code == 404, bad.text
    assert served.postings.groups - before == 1  # the held one; the failed group of one committed nothing
    with served.world.ctx.engine.connect() as conn:
        assert (
            conn.execute(text("SELECT count(*) FROM idempotency_keys WHERE key = 'alone-bad'")).scalar_one()
            == 0
        )
        assert (
            conn.execute(text("SELECT count(*) FROM outcomes WHERE reference = 'alone-bad'")).scalar_one()
            == 0
        )
    fixed = _post(served, token, _body(learners[0], "alone-fixed"), "alone-bad")  # the key is free
    assert fixed.status_code == 201, fixed.text
    [alone] = _in_one_group(served, [(token, _body(learners[1], "alone-ok"), "alone-ok")])
    assert alone.status_code == 201, alone.text
    assert _seqs(served) == list(range(len(_seqs(served))))


def test_the_same_key_twice_posts_once(served: Served) -> None:
    (_, token), learners = served.world.institutions[0], served.world.learners
    body = _body(learners[0], "twice")
    answers = _in_one_group(served, [(token, body, "same"), (token, body, "same")])
    assert sorted(a.status_code for a in answers) == [201, 201], [a.text for a in answers]
    assert answers[0].json() == answers[1].json()
    assert [a.headers.get("Idempotent-Replayed") for a in answers].count("true") == 1
    with served.world.ctx.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM outcomes")).scalar_one() == 1


def test_another_institution_with_the_same_key_gets_its_own_posting(served: Served) -> None:
    """Idempotency keys are per caller also inside a group: a school that sends the same key as
    another in the same moment neither gets the other's answer nor blocks it."""
    (mine, my_token), (theirs, their_token) = served.world.institutions
    learners = served.world.learners
    answers = _in_one_group(
        served,
        [
            (my_token, _body(learners[0], "shared-ref"), "shared-key"),
            (their_token, _body(learners[1], "shared-ref"), "shared-key"),
        ],
    )
    assert [a.status_code for a in answers] == [201, 201], [a.text for a in answers]
    assert answers[0].json()["institution_id"] == mine
    assert answers[1].json()["institution_id"] == theirs
    assert answers[0].json()["id"] != answers[1].json()["id"]
    assert all("Idempotent-Replayed" not in a.headers for a in answers)


def test_a_token_revoked_while_its_posting_waits_is_refused(served: Served) -> None:
    """A school's token is revoked (leaked, say) after the guard admitted a posting but before the
    posting's group ran: the posting is refused (401) and nothing of it is written, while another
    school's posting in the same group is posted."""
    (_, revoked), (_, other) = served.world.institutions
    learners = served.world.learners
    admin = {"Authorization": f"Bearer {served.world.admin_token}"}
    [token_id] = [
        t["id"]
        for t in served.client.get("/api/v1/tokens", headers=admin).json()
        if t["role"] == "institution" and t["subject"] == served.world.institutions[0][0]
    ]

    def revoke() -> None:
        done = served.client.delete(f"/api/v1/tokens/{token_id}", headers=admin)
        assert done.status_code == 200 and done.json()["revoked_at"], done.text

    answers = _in_one_group(
        served,
        [
            (revoked, _body(learners[0], "after-revocation"), "rev-1"),
            (other, _body(learners[1], "still-valid"), "rev-2"),
        ],
        meanwhile=revoke,
    )
    assert [a.status_code for a in answers] == [401, 201], [a.text for a in answers]
    assert answers[0].json()["type"].endswith("/unauthenticated"), answers[0].text
    with served.world.ctx.engine.connect() as conn:
        refs = set(conn.execute(text("SELECT reference FROM outcomes")).scalars())
        keys = set(conn.execute(text("SELECT key FROM idempotency_keys")).scalars())
    assert refs == {"still-valid"} and keys == {"rev-2"}
    # and from now on at once, by the guard
    again = _post(served, revoked, _body(learners[0], "after-revocation"), "rev-1")
    assert again.status_code == 401, again.text


def test_a_token_stored_under_the_previous_pepper_posts_and_is_rehashed(served: Served) -> None:
    """The posting's guard reads tokens outside any transaction; one found only under the previous
    pepper (after a rotation) is still admitted, and re-hashed under the current one."""
    ctx = served.world.ctx
    ctx.secrets = dataclasses.replace(ctx.secrets, previous_pepper=b"the pepper before the rotation")
    assert ctx.previous_token_key is not None
    (_, token), learners = served.world.institutions[0], served.world.learners
    current, old = hash_token(ctx.token_key, token), hash_token(ctx.previous_token_key, token)
    with ctx.engine.begin() as conn:
        conn.execute(
            text("UPDATE api_tokens SET token_hash = :old, pepper_previous = true WHERE token_hash = :new"),
            {"old": old, "new": current},
        )
    answer = _post(served, token, _body(learners[0], "under-the-old-pepper"), "old-pepper")
    assert answer.status_code == 201, answer.text
    with ctx.engine.connect() as conn:
        hashes = set(conn.execute(text("SELECT token_hash FROM api_tokens")).scalars())
    assert current in hashes and old not in hashes


def test_a_lost_connection_in_a_group_is_no_500(served: Served) -> None:
    """The group's connection dies while a posting is staged (what a database restart does): the
    other postings of the group are not answered with the broken transaction's error (a 500) but
    run again on their own, and are posted."""

    def cut(db: Any) -> Staged:
        db.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))
        raise AssertionError("the connection should be gone")  # pragma: no cover

    (_, token), learners = served.world.institutions[0], served.world.learners
    calls = [(token, _body(learners[i], f"cut-{i}"), f"cut-{i}") for i in range(3)]
    answers = _in_one_group(
        served, calls, first=Posting(("test", "cut"), cut, lambda: Response(status_code=503))
    )
    assert [a.status_code for a in answers] == [201, 201, 201], [a.text for a in answers]
    seqs = _seqs(served)
    assert seqs == list(range(len(seqs)))
