"""Only the learner decides where their credits go: the destination named in a certificate, with
the learner's recorded consent, is the only institution that converts. Written from the side of
the school that was not chosen, of the issuing institution skipping the learner, and of another
learner."""

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Connection, text

from creditbank.auth.models import Role
from creditbank.context import AppContext
from tests.catalog.scenario import Scenario, build
from tests.conftest import Tokens
from tests.support.factories import create_learner


def _counts(db: Connection) -> tuple[int, int]:
    conversions = db.execute(text("SELECT count(*) FROM conversions")).scalar_one()
    locks = db.execute(text("SELECT count(*) FROM ledger_lot_locks")).scalar_one()
    return conversions, locks


def _learner_transfer(s: Scenario, lots: list[str] | None = None, key: str = "t1") -> dict[str, Any]:
    r = s.post(
        "/api/v1/transfers",
        {"lot_ids": lots or s.lots, "destination_institution_id": s.dest, "programme_id": s.programme},
        s.learner_headers,
        key,
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


def _consent(s: Scenario, destination: str, lots: list[str], key: str) -> dict[str, Any]:
    r = s.post(
        "/api/v1/consents",
        {"destination_institution_id": destination, "lot_ids": lots},
        s.learner_headers,
        key,
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


def _issuer_certificate(s: Scenario, lots: list[str], key: str) -> dict[str, Any]:
    """What the issuing institution can do alone: certificates with no destination."""
    r = s.post("/api/v1/certificates", {"lot_ids": lots}, s.source_headers, key)
    assert r.status_code == 201, r.text
    return dict(r.json()["credential"])


class TestOnlyTheDestinationConverts:
    def test_another_school_with_the_certificates_gets_403_and_b_still_accepts(
        self, client: TestClient, auth: Tokens, ctx: AppContext, db: Connection
    ) -> None:
        s = build(client, auth, ctx)
        transfer = _learner_transfer(s)
        # school C obtained the certificate JSON addressed to B and posts it for its own programme
        stolen = s.post(
            "/api/v1/conversions",
            {"programme_id": s.other_programme, "certificates": transfer["certificates"]},
            s.other_headers,
            "steal",
        )
        assert stolen.status_code == 403, stolen.text
        assert stolen.headers["content-type"] == "application/problem+json"
        assert stolen.json()["type"].endswith("/not-the-destination")
        # even a consent the learner gave C does not redirect certificates addressed to B
        _consent(s, s.other, s.lots, "consent-c")
        again = s.post(
            "/api/v1/conversions",
            {"programme_id": s.other_programme, "certificates": transfer["certificates"]},
            s.other_headers,
            "steal-2",
        )
        assert again.status_code == 403 and again.json()["type"].endswith("/not-the-destination")
        # C cannot accept or decline B's transfer either
        for action, body in (("accept", {}), ("reject", {"reason": "not ours"})):
            r = s.post(f"/api/v1/transfers/{transfer['id']}/{action}", body, s.other_headers, f"c-{action}")
            assert r.status_code == 403, r.text
            assert r.json()["type"].endswith("/not-the-destination")
        assert _counts(db) == (0, 0), "nothing was converted"
        accepted = s.post(f"/api/v1/transfers/{transfer['id']}/accept", {}, s.dest_headers, "b-accept")
        assert accepted.status_code == 200, accepted.text
        assert sorted(accepted.json()["lot_ids"]) == sorted(s.lots)
        assert _counts(db) == (1, 2)

    def test_the_issuer_cannot_send_certificates_to_a_school_the_learner_did_not_choose(
        self, client: TestClient, auth: Tokens, ctx: AppContext, db: Connection
    ) -> None:
        s = build(client, auth, ctx)
        # the issuing institution certifies the learner's lots for the other school
        r = s.post(
            "/api/v1/certificates",
            {"lot_ids": s.lots[:1], "destination_institution_id": s.other},
            s.source_headers,
            "for-c",
        )
        certificate = r.json()["credential"]
        # B, not named, is refused; C, named, has no consent from the learner
        to_b = s.post(
            "/api/v1/conversions",
            {"programme_id": s.programme, "certificates": [certificate]},
            s.dest_headers,
            "b",
        )
        assert to_b.status_code == 403 and to_b.json()["type"].endswith("/not-the-destination")
        to_c = s.post(
            "/api/v1/conversions",
            {"programme_id": s.other_programme, "certificates": [certificate]},
            s.other_headers,
            "c",
        )
        assert to_c.status_code == 403 and to_c.json()["type"].endswith("/consent-required")
        assert _counts(db) == (0, 0)


class TestConsent:
    def test_issuer_certificate_converts_only_with_the_learners_consent(
        self, client: TestClient, auth: Tokens, ctx: AppContext, db: Connection
    ) -> None:
        s = build(client, auth, ctx)
        certificate = _issuer_certificate(s, s.lots[:1], "cert")
        body = {"programme_id": s.programme, "certificates": [certificate]}
        refused = s.post("/api/v1/conversions", body, s.dest_headers, "no-consent")
        assert refused.status_code == 403, refused.text
        assert refused.json()["type"].endswith("/consent-required")
        assert _counts(db) == (0, 0)
        # a consent for another lot, or for another school, does not help
        _consent(s, s.dest, s.lots[1:], "other-lot")
        _consent(s, s.other, s.lots[:1], "other-school")
        assert s.post("/api/v1/conversions", body, s.dest_headers, "wrong").status_code == 403
        consent = _consent(s, s.dest, s.lots[:1], "right")
        assert consent["state"] == "active" and consent["given_via"] == "api"
        done = s.post("/api/v1/conversions", body, s.dest_headers, "with-consent")
        assert done.status_code == 201, done.text
        assert done.json()["consent_id"] == consent["id"]
        listed = {c["id"]: c for c in client.get("/api/v1/consents", headers=s.learner_headers).json()}
        assert listed[consent["id"]]["state"] == "used"
        assert listed[consent["id"]]["conversion_id"] == done.json()["id"]
        # used: it cannot be revoked any more
        late = s.post(f"/api/v1/consents/{consent['id']}/revoke", {}, s.learner_headers, "late")
        assert late.status_code == 409 and late.json()["type"].endswith("/consent-used")

    def test_a_revoked_consent_converts_nothing(
        self, client: TestClient, auth: Tokens, ctx: AppContext, db: Connection
    ) -> None:
        s = build(client, auth, ctx)
        certificate = _issuer_certificate(s, s.lots, "cert")
        consent = _consent(s, s.dest, s.lots, "c")
        revoked = s.post(f"/api/v1/consents/{consent['id']}/revoke", {}, s.learner_headers, "r")
        assert revoked.status_code == 200 and revoked.json()["state"] == "revoked"
        r = s.post(
            "/api/v1/conversions",
            {"programme_id": s.programme, "certificates": [certificate], "consent_id": consent["id"]},
            s.dest_headers,
            "after-revoke",
        )
        assert r.status_code == 403 and r.json()["type"].endswith("/consent-required")
        assert _counts(db) == (0, 0)

    def test_issuer_initiated_transfer_needs_and_binds_a_consent(
        self, client: TestClient, auth: Tokens, ctx: AppContext, db: Connection
    ) -> None:
        s = build(client, auth, ctx)
        body = {
            "learner_id": s.learner,
            "lot_ids": s.lots,
            "destination_institution_id": s.dest,
            "programme_id": s.programme,
        }
        # a consent the learner gave to another school, or for fewer lots, is not this consent
        for_c = _consent(s, s.other, s.lots, "for-c")
        fewer = _consent(s, s.dest, s.lots[:1], "fewer")
        for key, cited in (("c", for_c["id"]), ("f", fewer["id"]), ("x", "cns_made_up_by_issuer")):
            r = s.post("/api/v1/transfers", {**body, "learner_consent": cited}, s.source_headers, key)
            assert r.status_code == 403, r.text
            assert r.json()["type"].endswith("/consent-required")
        consent = _consent(s, s.dest, s.lots, "given")
        transfer = s.post(
            "/api/v1/transfers", {**body, "learner_consent": consent["id"]}, s.source_headers, "t"
        )
        assert transfer.status_code == 201, transfer.text
        # bound to that transfer: it cannot be cited twice, nor used for certificates brought to B
        twice = s.post(
            "/api/v1/transfers", {**body, "learner_consent": consent["id"]}, s.source_headers, "t2"
        )
        assert twice.status_code == 403
        brought = s.post(
            "/api/v1/conversions",
            {
                "programme_id": s.programme,
                "certificates": transfer.json()["certificates"],
                "consent_id": consent["id"],
            },
            s.dest_headers,
            "brought",
        )
        assert brought.status_code == 403 and brought.json()["type"].endswith("/consent-required")
        accepted = s.post(f"/api/v1/transfers/{transfer.json()['id']}/accept", {}, s.dest_headers, "a")
        assert accepted.status_code == 200, accepted.text
        assert accepted.json()["consent_id"] == consent["id"]

    def test_learner_revokes_the_consent_of_a_pending_transfer(
        self, client: TestClient, auth: Tokens, ctx: AppContext, db: Connection
    ) -> None:
        s = build(client, auth, ctx)
        transfer = _learner_transfer(s)
        [consent] = client.get("/api/v1/consents", headers=s.learner_headers).json()
        assert consent["given_via"] == "transfer" and consent["transfer_id"] == transfer["id"]
        assert (
            s.post(f"/api/v1/consents/{consent['id']}/revoke", {}, s.learner_headers, "r").status_code == 200
        )
        r = s.post(f"/api/v1/transfers/{transfer['id']}/accept", {}, s.dest_headers, "a")
        assert r.status_code == 403 and r.json()["type"].endswith("/consent-required")
        assert _counts(db) == (0, 0)
        state = client.get(f"/api/v1/transfers/{transfer['id']}", headers=s.learner_headers).json()
        assert state["status"] == "issued"

    def test_consents_are_the_learners_own(self, client: TestClient, auth: Tokens, ctx: AppContext) -> None:
        s = build(client, auth, ctx)
        consent = _consent(s, s.dest, s.lots, "mine")
        other_learner = create_learner(client, s.source_headers)
        intruder = auth(Role.learner, other_learner)
        # another learner can neither see, revoke, nor give consent for these lots
        assert client.get("/api/v1/consents", headers=intruder).json() == []
        r = s.post(f"/api/v1/consents/{consent['id']}/revoke", {}, intruder, "i")
        assert r.status_code == 404 and r.json()["type"].endswith("/consent-not-found")
        r = s.post(
            "/api/v1/consents", {"destination_institution_id": s.other, "lot_ids": s.lots}, intruder, "g"
        )
        assert r.status_code == 404, r.text
        # institutions cannot give consent in the learner's name
        r = s.post(
            "/api/v1/consents", {"destination_institution_id": s.dest, "lot_ids": s.lots}, s.dest_headers, "d"
        )
        assert r.status_code == 403
        mine = client.get("/api/v1/consents", headers=s.learner_headers).json()
        assert [c["state"] for c in mine] == ["active"]

    def test_consents_are_in_the_archive_and_its_export(
        self, client: TestClient, auth: Tokens, ctx: AppContext
    ) -> None:
        s = build(client, auth, ctx)
        consent = _consent(s, s.dest, s.lots[:1], "c")
        archive = client.get(f"/api/v1/learners/{s.learner}/archive", headers=s.learner_headers).json()
        assert [(c["id"], c["state"]) for c in archive["consents"]] == [(consent["id"], "active")]
        export = client.get(f"/api/v1/learners/{s.learner}/archive/export", headers=s.learner_headers).json()
        assert [c["destination_institution_id"] for c in export["consents"]] == [s.dest]
