"""The archive read as plain rows is byte for byte the archive built from ORM objects.

``tests/learners/archive_reference.py`` keeps the archive as it was built before (an ORM object and a
pydantic model for every outcome, recognition, event, lot and journal entry). A learner with every
kind of item (recognised, in review, revoked, corrected, converted, with a transfer certificate, a
CLR bundle and a consent) gets the same JSON both ways, for the learner and for a reader who is not
the learner, and over HTTP.
"""

import json

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from creditbank.archive import service
from creditbank.archive.schemas import Archive
from creditbank.auth.models import Role
from creditbank.context import AppContext
from creditbank.db import transaction
from creditbank.demo import load_demo
from creditbank.learners.models import Learner
from creditbank.ledger import service as ledger
from tests.conftest import Tokens
from tests.learners import archive_reference
from tests.outcomes.factories import Desk, key, training, work_experience


def _varied(client: TestClient, auth: Tokens, session: Session) -> Desk:
    desk = Desk(client, auth, name="周晓燕")
    kept = desk.posted(training(reference="V-1", hours=48))
    converted = desk.posted(training(reference="V-2", hours=64))
    desk.posted(work_experience())
    revoked = desk.posted(training(reference="V-3", hours=32))
    old = desk.posted(training(reference="V-4", hours=40))
    fifth = desk.posted(training(reference="V-5", hours=24))
    assert desk.revoke(revoked["id"], reason="学员未完成考核").status_code == 200
    assert desk.correct(old["id"], training(reference="V-4", hours=48)).status_code == 201
    with session.begin():
        ledger.convert_lots(
            session,
            learner_id=desk.learner_id,
            lot_ids=[converted["recognition"]["lot_id"]],
            programme_id="prog-web-2026",
            institution_id=desk.institution_id,
        )
    mine = auth(Role.learner, desk.learner_id)
    issued = client.post(
        "/api/v1/certificates",
        json={"lot_ids": [kept["recognition"]["lot_id"]]},
        headers={**mine, "Idempotency-Key": key()},
    )
    assert issued.status_code == 201, issued.text
    lots = [kept["recognition"]["lot_id"], fifth["recognition"]["lot_id"]]
    bundle = client.post(
        "/api/v1/certificates", json={"lot_ids": lots}, headers={**mine, "Idempotency-Key": key()}
    )
    assert bundle.status_code == 201 and len(bundle.json()["parts"]) == 2, bundle.text
    consent = {"destination_institution_id": desk.institution_id, "lot_ids": lots}
    given = client.post("/api/v1/consents", json=consent, headers={**mine, "Idempotency-Key": key()})
    assert given.status_code == 201, given.text
    return desk


def _both(ctx: AppContext, learner_id: str, with_credentials: bool) -> tuple[str, str]:
    with ctx.sessions() as s:
        learner = s.get(Learner, learner_id)
        assert learner is not None
        now = service.build_archive(s, ctx.secrets.master_key, learner, with_credentials=with_credentials)
        before = archive_reference.build_archive(
            s, ctx.secrets.master_key, learner, with_credentials=with_credentials
        )
    same_moment = now.model_copy(update={"generated_at": before.generated_at})
    return same_moment.model_dump_json(), before.model_dump_json()


@pytest.mark.parametrize("with_credentials", [True, False])
def test_the_archive_is_the_one_built_from_orm_objects(
    client: TestClient, auth: Tokens, session: Session, ctx: AppContext, with_credentials: bool
) -> None:
    desk = _varied(client, auth, session)
    now, before = _both(ctx, desk.learner_id, with_credentials)
    assert now == before
    archive = json.loads(now)
    # the archive compared holds every kind of item
    statuses = sorted(o["recognition"]["status"] for o in archive["outcomes"])
    assert statuses == [
        "recognised",
        "recognised",
        "recognised",
        "recognised",
        "review",
        "revoked",
        "superseded",
    ]
    assert {lot["state"] for lot in archive["lots"]} == {"available", "converted", "reversed"}
    assert any(o["superseded_by"] for o in archive["outcomes"])
    assert sum(len(o["events"]) for o in archive["outcomes"]) >= 8
    assert len(archive["conversions"]) == 1 and len(archive["consents"]) == 1
    assert sorted(c["kind"] for c in archive["certificates"]) == ["clr", "lot", "lot", "lot"]
    assert all(entry["leaf_hash"] for entry in archive["ledger"])


def test_the_archive_over_http_is_the_one_built_from_orm_objects(
    client: TestClient, auth: Tokens, session: Session, ctx: AppContext
) -> None:
    desk = _varied(client, auth, session)
    for headers, with_credentials in ((auth(Role.learner, desk.learner_id), True), (auth(Role.admin), False)):
        response = client.get(f"/api/v1/learners/{desk.learner_id}/archive", headers=headers)
        assert response.status_code == 200, response.text
        served = Archive.model_validate_json(response.content)
        _, before = _both(ctx, desk.learner_id, with_credentials)
        reference = Archive.model_validate_json(before)
        assert served.model_copy(update={"generated_at": reference.generated_at}).model_dump_json() == before


def _demo_archives_match(ctx: AppContext) -> int:
    """Every demo learner's archive, both ways, in the database ``ctx`` names; how many compared."""
    for s in transaction(ctx.sessions):
        load_demo(s, ctx)
    with ctx.sessions() as s:
        learner_ids = list(s.exec(select(Learner.id).order_by(col(Learner.id))).all())
    compared = 0
    for learner_id in learner_ids:
        for with_credentials in (True, False):
            now, before = _both(ctx, learner_id, with_credentials)
            assert now == before, learner_id
            compared += bool(json.loads(now)["outcomes"])
    return compared


def test_the_demo_archives_are_the_ones_built_from_orm_objects(ctx: AppContext) -> None:
    """The demo's learners (conversions, certificates, consents, reviews) on PostgreSQL (one round trip)."""
    assert _demo_archives_match(ctx) >= 4


@pytest.mark.sqlite
def test_the_demo_archives_on_sqlite_are_the_ones_built_from_orm_objects(sqlite_ctx: AppContext) -> None:
    """On SQLite the reads go one by one through the session, with the same answer."""
    assert _demo_archives_match(sqlite_ctx) >= 4
