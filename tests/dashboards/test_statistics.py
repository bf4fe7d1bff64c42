"""The statistics (数据看板): who sees which figures, and whether the figures are right.

From the attacker's side: a district sub-centre's reviewer asking for another district's figures by
a query parameter, an institution asking for another's. Then the figures the summary tables give
after a mixed workload (postings in two districts, reviews decided at both stages, a revocation, a
transfer and its conversion) are checked against counts and sums taken straight from the base
tables, for every scope. Real PostgreSQL with its triggers, real tokens, real HTTP through the app.
"""

from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Connection, text

from creditbank.auth.models import Role
from creditbank.context import AppContext
from creditbank.dashboards import service
from creditbank.transparency import store
from tests.catalog.scenario import build as build_exchange
from tests.conftest import Tokens
from tests.outcomes.factories import training, work_experience
from tests.outcomes.test_review_districts import TwoDistricts, reviewer

PROBLEM = "application/problem+json"


def statistics(client: TestClient, headers: dict[str, str], **params: str) -> Any:
    return client.get("/api/v1/statistics", params=params, headers=headers)


def assert_refused(response: Any) -> None:
    assert response.status_code == 403, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["type"].endswith("/dashboard-out-of-scope")


class TestScopes:
    def test_district_reviewer_cannot_ask_for_another_district(
        self, client: TestClient, auth: Tokens
    ) -> None:
        world = TwoDistricts(client, auth)
        chaoyang = reviewer(client, auth, "朝阳审核", "朝阳区")
        for other in ("海淀区", "110108", "Haidian"):
            assert_refused(statistics(client, chaoyang, district=other))
        assert_refused(statistics(client, chaoyang, institution_id=world.haidian.institution_id))
        own = statistics(client, chaoyang)
        assert own.status_code == 200, own.text
        body = own.json()
        assert body["district"] == "朝阳区"
        assert {d["district"] for d in body["by_district"]} == {"朝阳区"}
        assert body["total"]["posted"] == 1  # the Chaoyang outcome only
        assert body["total"]["backlog_district"] == 1
        same = statistics(client, chaoyang, district="110105")
        assert same.status_code == 200 and same.json() == body

    def test_institution_sees_only_itself(self, client: TestClient, auth: Tokens) -> None:
        world = TwoDistricts(client, auth)
        mine = statistics(client, world.chaoyang.headers)
        assert mine.status_code == 200, mine.text
        assert mine.json()["institution_id"] == world.chaoyang.institution_id
        assert mine.json()["total"]["posted"] == 1
        assert_refused(
            statistics(client, world.chaoyang.headers, institution_id=world.haidian.institution_id)
        )
        assert_refused(statistics(client, world.chaoyang.headers, district="海淀区"))

    def test_city_centre_sees_all_and_filters(self, client: TestClient, auth: Tokens) -> None:
        world = TwoDistricts(client, auth)
        city = reviewer(client, auth, "市级管理中心", None)
        everything = statistics(client, city).json()
        assert everything["district"] is None
        assert {"海淀区", "朝阳区"} <= {d["district"] for d in everything["by_district"]}
        haidian = statistics(client, city, district="海淀区").json()
        assert {d["district"] for d in haidian["by_district"]} == {"海淀区"}
        one = statistics(client, city, institution_id=world.haidian.institution_id).json()
        assert one["institution_id"] == world.haidian.institution_id and one["total"]["posted"] == 1
        assert_refused(
            statistics(client, city, district="朝阳区", institution_id=world.haidian.institution_id)
        )

    def test_unknown_district_is_a_422(self, client: TestClient, auth: Tokens) -> None:
        r = statistics(client, auth(Role.admin), district="火星区")
        assert r.status_code == 422 and r.json()["type"].endswith("/unknown-district")


def _workload(client: TestClient, auth: Tokens, ctx: AppContext) -> TwoDistricts:
    """Postings in two districts, reviews at both stages (one rejected), a revocation, a transfer
    accepted (a conversion) and one left pending."""
    world = TwoDistricts(client, auth)
    haidian_rev = reviewer(client, auth, "海淀审核", "海淀区")
    chaoyang_rev = reviewer(client, auth, "朝阳审核", "朝阳区")
    city = reviewer(client, auth, "市级管理中心", None)
    for n in range(3):
        world.haidian.posted(training(f"HT-{n}", hours=32 + 16 * n))
        world.chaoyang.posted(training(f"CT-{n}", hours=48))
    second = world.haidian.posted(work_experience("H-2"))["id"]
    assert world.haidian.decide(world.in_haidian, haidian_rev, stage="district").status_code == 200
    assert world.haidian.decide(world.in_haidian, city, stage="city").status_code == 200
    assert (
        world.haidian.decide(second, haidian_rev, stage="district").status_code == 200
    )  # waits for the city
    rejected = world.chaoyang.decide(world.in_chaoyang, chaoyang_rev, decision="reject", stage="district")
    assert rejected.status_code == 200, rejected.text
    revoked = world.haidian.posted(training("HT-R", hours=64))["id"]
    assert world.haidian.revoke(revoked).status_code == 200
    s = build_exchange(client, auth, ctx)
    transfer = s.post(
        "/api/v1/transfers",
        {"lot_ids": s.lots, "destination_institution_id": s.dest, "programme_id": s.programme},
        s.learner_headers,
        "dash-t1",
    )
    assert transfer.status_code == 201, transfer.text
    with ctx.sessions() as session, session.begin():
        store.publish_checkpoint(session, ctx.secrets.master_key, "main")
    accepted = s.post(f"/api/v1/transfers/{transfer.json()['id']}/accept", {}, s.dest_headers, "dash-a1")
    assert accepted.status_code in (200, 201), accepted.text
    pending = s.post(
        "/api/v1/transfers",
        {"lot_ids": s.lots[:1], "destination_institution_id": s.other, "programme_id": s.other_programme},
        s.learner_headers,
        "dash-t2",
    )
    assert pending.status_code == 201, pending.text
    return world


def _scalar(db: Connection, sql: str, **params: str) -> Any:
    return db.execute(text(sql), params).scalar_one()


class TestFiguresEqualTheBaseTables:
    def test_every_scope_after_a_mixed_workload(
        self, client: TestClient, auth: Tokens, ctx: AppContext, db: Connection
    ) -> None:
        world = _workload(client, auth, ctx)
        institutions = [r[0] for r in db.execute(text("SELECT id FROM institutions"))]
        scopes = [
            service.Scope(city=True),
            service.Scope(district="海淀区"),
            service.Scope(district="朝阳区"),
        ]
        scopes += [service.Scope(district=None, institution_id=i) for i in institutions]
        with ctx.sessions() as session, session.begin():
            for scope in scopes:
                summary = sorted(service.rows(session, scope), key=repr)
                direct = sorted(service.direct_rows(session, scope), key=repr)
                assert summary == direct, scope
                assert summary or scope.institution_id, "a district with activity has figures"
                places = service.by_institution(session, scope)
                assert places == service.by_institution(session, scope, direct=True), scope
                if scope.institution_id is not None:
                    assert set(places) <= {scope.institution_id}
        # and through HTTP, against counts written here from the base tables
        admin = auth(Role.admin)
        for district in ("海淀区", "朝阳区"):
            body = statistics(client, admin, district=district).json()["total"]
            join = "FROM outcomes o JOIN institutions i ON i.id = o.institution_id WHERE i.district = :d"
            assert body["posted"] == _scalar(db, f"SELECT count(*) {join}", d=district)
            rec = "JOIN recognitions r ON r.outcome_id = o.id"
            recognised = (
                f"FROM outcomes o {rec} JOIN institutions i ON i.id = o.institution_id WHERE i.district = :d"
            )
            assert body["recognised"] == _scalar(
                db, f"SELECT count(*) {recognised} AND r.status = 'recognised'", d=district
            )
            assert Decimal(body["recognised_credits"]) == _scalar(
                db, f"SELECT coalesce(sum(r.credits), 0) {recognised} AND r.status = 'recognised'", d=district
            )
            for stage in ("district", "city"):
                assert body[f"backlog_{stage}"] == _scalar(
                    db,
                    f"SELECT count(*) {recognised} AND r.status = 'review' AND r.stage = :s",
                    d=district,
                    s=stage,
                )
        city = statistics(client, admin).json()["total"]
        assert city["conversions"] == _scalar(db, "SELECT count(*) FROM conversions") == 1
        assert Decimal(city["conversion_credits"]) == _scalar(db, "SELECT sum(credits) FROM conversions")
        assert city["transfers"] == _scalar(db, "SELECT count(*) FROM transfer_requests") == 2
        assert city["decided"] == 2  # the city stage's recognition and the district's rejection
        assert city["turnaround_days"] is not None
        assert city["accounts"] == _scalar(db, "SELECT count(*) FROM learners")
        haidian = statistics(client, admin, district="海淀区").json()
        assert haidian["total"]["backlog_city"] == 1 and haidian["total"]["recognised"] >= 4
        one = statistics(client, world.haidian.headers).json()["total"]
        assert one["posted"] == _scalar(
            db, "SELECT count(*) FROM outcomes WHERE institution_id = :i", i=world.haidian.institution_id
        )

    def test_the_summary_holds_only_folded_figures_after_a_read(
        self, client: TestClient, auth: Tokens, ctx: AppContext, db: Connection
    ) -> None:
        world = TwoDistricts(client, auth)
        assert _scalar(db, "SELECT count(*) FROM dashboard_deltas") > 0, "the triggers wrote deltas"
        statistics(client, world.haidian.headers)
        assert _scalar(db, "SELECT count(*) FROM dashboard_deltas") == 0
        before = _scalar(db, "SELECT count(*) FROM dashboard_figures")
        statistics(client, world.haidian.headers)
        assert _scalar(db, "SELECT count(*) FROM dashboard_figures") == before, "a second fold adds nothing"


class TestReadOnlyConnection:
    """On a read-only connection (a standby) a read cannot fold the deltas: it adds the pending deltas
    to the summary as it reads, writes nothing, and gives the figures a fold would."""

    def test_the_figures_are_read_without_writing(
        self, client: TestClient, auth: Tokens, ctx: AppContext, db: Connection
    ) -> None:
        world = TwoDistricts(client, auth)
        statistics(client, world.haidian.headers)  # a fold: some figures in the summary
        world.haidian.posted(training("RO-1"))
        world.chaoyang.posted(work_experience("RO-2"))
        pending = _scalar(db, "SELECT count(*) FROM dashboard_deltas")
        assert pending > 0, "figures folded and figures pending"
        scopes = [
            service.Scope(city=True),
            service.Scope(district="海淀区"),
            service.Scope(district="朝阳区", institution_id=world.chaoyang.institution_id),
        ]
        with ctx.sessions() as session:
            session.begin()
            # a standby's transactions are read-only (the tests' sessions share one outer transaction,
            # so this one is made read-only in place of a `default_transaction_read_only` session)
            session.execute(text("SET TRANSACTION READ ONLY"))
            assert session.connection().execute(text("SHOW transaction_read_only")).scalar_one() == "on"
            read = {s: service.dashboard(session, s) for s in scopes}
            places = {s: service.by_institution(session, s) for s in scopes}
            session.rollback()
        assert _scalar(db, "SELECT count(*) FROM dashboard_deltas") == pending, "nothing was folded"
        with ctx.sessions() as session, session.begin():
            for scope in scopes:
                assert service.dashboard(session, scope) == read[scope], scope
                assert service.by_institution(session, scope) == places[scope], scope
                assert service.by_institution(session, scope, direct=True) == places[scope], scope
        assert _scalar(db, "SELECT count(*) FROM dashboard_deltas") == 0, "the writable read folded them"
        assert read[scopes[2]].total.posted == 2
