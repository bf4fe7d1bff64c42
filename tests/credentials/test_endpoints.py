"""The certificate API: who may issue, read, list and change certificates; /api/v1/verify; status lists."""

import json
import logging
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, text

from creditbank.auth.models import Role
from creditbank.standards.vc import dataintegrity, statuslist
from tests.conftest import Tokens
from tests.credentials.conftest import World, register_institution
from tests.support.postgres import as_superuser

PROBLEM = "application/problem+json"


def _create(
    client: TestClient, headers: dict[str, str], lot_ids: list[str], *, key: str | None = None, **extra: Any
) -> Any:
    return client.post(
        "/api/v1/certificates",
        json={"lot_ids": lot_ids, **extra},
        headers={**headers, "Idempotency-Key": key or str(uuid.uuid4())},
    )


class TestIssue:
    def test_institution_for_lots_it_issued(self, world: World, client: TestClient, auth: Tokens) -> None:
        response = _create(client, auth(Role.institution, world.institution_id), [world.lot_id])
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["id"].startswith("crt_")
        assert body["kind"] == "lot"
        assert body["status"] == "active"
        assert body["issuer_id"] == world.institution_id
        assert body["learner_id"] == world.learner_id
        assert body["credential"]["id"] == body["credential_id"]
        assert body["credential"]["proof"]["cryptosuite"] == "eddsa-rdfc-2022"

    def test_learner_for_own_lots_is_signed_by_the_issuer(
        self, world: World, client: TestClient, auth: Tokens
    ) -> None:
        second = world.lot()
        response = _create(client, auth(Role.learner, world.learner_id), [world.lot_id, second])
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["kind"] == "clr"
        assert body["issuer_id"] == world.institution_id
        assert len(body["parts"]) == 2
        part = client.get(
            f"/api/v1/certificates/{body['parts'][0]}", headers=auth(Role.learner, world.learner_id)
        )
        assert part.json()["bundle_id"] == body["id"]

    def test_admin_with_destination(self, world: World, client: TestClient, auth: Tokens) -> None:
        destination = world.run(lambda s: register_institution(s, name="北京开放大学"))
        response = _create(
            client,
            auth(Role.admin),
            [world.lot_id],
            destination_institution_id=destination,
            valid_until="2099-01-01T00:00:00+08:00",
        )
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["destination_institution_id"] == destination
        assert body["credential"]["validUntil"] == "2098-12-31T16:00:00Z"

    def test_refusals(self, world: World, client: TestClient, auth: Tokens) -> None:
        stranger = world.run(lambda s: register_institution(s, name="别的学校"))
        cases = [
            (auth(Role.institution, stranger), [world.lot_id], 403, "/forbidden"),
            (auth(Role.learner, "lrn_someoneelse"), [world.lot_id], 403, "/forbidden"),
            (auth(Role.admin), ["lot_nosuchlot"], 404, "/lot-not-found"),
            (auth(Role.admin), [world.lot_id, world.lot_id], 422, "/certificate-request-invalid"),
            (auth(Role.admin), [], 422, "/validation-failed"),
        ]
        for headers, lot_ids, status, slug in cases:
            response = _create(client, headers, lot_ids)
            assert response.status_code == status, (lot_ids, response.text)
            assert response.headers["content-type"] == PROBLEM
            assert response.json()["type"].endswith(slug)
        naive = _create(client, auth(Role.admin), [world.lot_id], valid_until="2099-01-01T00:00:00")
        assert naive.status_code == 422
        for role in (Role.auditor, Role.reviewer):
            assert _create(client, auth(role), [world.lot_id]).status_code == 403


class TestIdempotency:
    def test_a_retry_returns_the_first_certificate(
        self, world: World, client: TestClient, auth: Tokens
    ) -> None:
        issuer = auth(Role.institution, world.institution_id)
        first = _create(client, issuer, [world.lot_id], key="retry-1")
        again = _create(client, issuer, [world.lot_id], key="retry-1")
        assert first.status_code == again.status_code == 201, again.text
        assert again.json() == first.json()
        assert again.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
        # an admin's keys are its token's: another admin token with the same key issues anew
        admin_first = _create(client, auth(Role.admin), [world.lot()], key="retry-admin")
        admin_other = _create(client, auth(Role.admin), [world.lot()], key="retry-admin")
        assert admin_first.status_code == admin_other.status_code == 201, admin_other.text
        assert admin_other.json()["id"] != admin_first.json()["id"]
        other = _create(client, issuer, [world.lot(), world.lot_id], key="retry-1")
        assert other.status_code == 409
        assert other.json()["type"].endswith("/idempotency-key-reused")

    def test_the_key_is_required(self, world: World, client: TestClient, auth: Tokens) -> None:
        response = client.post(
            "/api/v1/certificates", json={"lot_ids": [world.lot_id]}, headers=auth(Role.admin)
        )
        assert response.status_code == 422
        assert response.json()["type"].endswith("/idempotency-key-invalid")


class TestRead:
    @pytest.fixture
    def certificate_id(self, world: World) -> str:
        return world.issue().certificate.id

    def test_who_may_read(self, world: World, client: TestClient, auth: Tokens, certificate_id: str) -> None:
        stranger = world.run(lambda s: register_institution(s, name="别的学校"))
        url = f"/api/v1/certificates/{certificate_id}"
        allowed = [
            auth(Role.learner, world.learner_id),
            auth(Role.institution, world.institution_id),
            auth(Role.admin),
            auth(Role.auditor),
        ]
        for headers in allowed:
            response = client.get(url, headers=headers)
            assert response.status_code == 200, response.text
            assert response.json()["id"] == certificate_id
        for headers in (auth(Role.learner, "lrn_other"), auth(Role.institution, stranger)):
            response = client.get(url, headers=headers)
            assert response.status_code == 403
            assert "credential" not in response.json()
        assert client.get(url).status_code == 401
        assert client.get(url, headers=auth(Role.reviewer)).status_code == 403
        missing = client.get("/api/v1/certificates/crt_missing", headers=auth(Role.learner, world.learner_id))
        assert missing.status_code == 404
        assert missing.json()["type"].endswith("/certificate-not-found")

    def test_reads_by_others_are_logged(
        self, world: World, client: TestClient, auth: Tokens, certificate_id: str, db: Connection
    ) -> None:
        def rows() -> list[tuple[str, str]]:
            result = db.execute(
                text("SELECT reader_role, what FROM archive_access_log WHERE learner_id = :l ORDER BY id"),
                {"l": world.learner_id},
            )
            return [(r.reader_role, r.what) for r in result]

        client.get(f"/api/v1/certificates/{certificate_id}", headers=auth(Role.learner, world.learner_id))
        assert rows() == []
        client.get(f"/api/v1/certificates/{certificate_id}", headers=auth(Role.auditor))
        assert rows() == [("auditor", f"certificate {certificate_id}")]

    def test_learner_list(self, world: World, client: TestClient, auth: Tokens, certificate_id: str) -> None:
        second = world.issue().certificate.id
        url = f"/api/v1/learners/{world.learner_id}/certificates"
        mine = client.get(url, headers=auth(Role.learner, world.learner_id))
        assert mine.status_code == 200, mine.text
        assert {c["id"] for c in mine.json()} == {certificate_id, second}
        assert client.get(url, headers=auth(Role.admin)).status_code == 200
        assert client.get(url, headers=auth(Role.learner, "lrn_other")).status_code == 403
        assert client.get(url, headers=auth(Role.institution, world.institution_id)).status_code == 403


class TestStatusChanges:
    def test_revoke_is_permanent_and_idempotent(self, world: World, client: TestClient, auth: Tokens) -> None:
        certificate_id = world.issue().certificate.id
        issuer = auth(Role.institution, world.institution_id)
        url = f"/api/v1/certificates/{certificate_id}"
        first = client.post(f"{url}/revoke", json={"reason": "issued in error"}, headers=_keyed(issuer, "r1"))
        assert first.status_code == 200, first.text
        assert first.json()["status"] == "revoked"
        assert first.json()["revocation_reason"] == "issued in error"
        again = client.post(f"{url}/revoke", headers=_keyed(issuer, "r2"))
        assert again.status_code == 200
        assert again.json()["revoked_at"] == first.json()["revoked_at"]
        refused = client.post(f"{url}/suspend", headers=_keyed(issuer, "s1"))
        assert refused.status_code == 409
        assert refused.json()["type"].endswith("/certificate-revoked")

    def test_only_the_issuer_or_an_admin(self, world: World, client: TestClient, auth: Tokens) -> None:
        certificate_id = world.issue().certificate.id
        stranger = world.run(lambda s: register_institution(s, name="别的学校"))
        url = f"/api/v1/certificates/{certificate_id}/suspend"
        assert client.post(url, headers=_keyed(auth(Role.institution, stranger), "a")).status_code == 403
        assert client.post(url, headers=_keyed(auth(Role.learner, world.learner_id), "b")).status_code == 403
        assert client.post(url, headers=_keyed(auth(Role.auditor), "c")).status_code == 403
        response = client.post(url, headers=_keyed(auth(Role.admin), "d"))
        assert response.status_code == 200
        assert response.json()["status"] == "suspended"
        lifted = client.post(
            f"/api/v1/certificates/{certificate_id}/unsuspend", headers=_keyed(auth(Role.admin), "e")
        )
        assert lifted.json()["status"] == "active"

    def test_status_list_is_signed_and_changes(self, world: World, client: TestClient, auth: Tokens) -> None:
        issued = world.issue()
        entry = issued.credential["credentialStatus"]
        url = entry["statusListCredential"].removeprefix("http://testserver")
        before = client.get(url)
        assert before.status_code == 200
        assert before.headers["cache-control"] == "no-cache"
        listed = before.json()
        assert listed["type"] == ["VerifiableCredential", "BitstringStatusListCredential"]
        assert listed["issuer"] == issued.credential["issuer"]["id"]
        assert statuslist.Bitstring.decode(listed["credentialSubject"]["encodedList"]).size >= 131_072
        assert statuslist.read_status(listed, entry) is False
        assert dataintegrity.extract_proof(listed)["proofPurpose"] == "assertionMethod"
        client.post(
            f"/api/v1/certificates/{issued.certificate.id}/revoke",
            headers=_keyed(auth(Role.institution, world.institution_id), "revoke"),
        )
        after = client.get(url).json()
        assert statuslist.read_status(after, entry) is True
        assert after["proof"]["proofValue"] != listed["proof"]["proofValue"]

    def test_unknown_status_list(self, client: TestClient) -> None:
        response = client.get("/status-lists/sl_nothing")
        assert response.status_code == 404
        assert response.json()["type"].endswith("/status-list-not-found")

    def test_status_changes_need_a_key_and_a_retry_applies_nothing(
        self, world: World, client: TestClient, auth: Tokens
    ) -> None:
        certificate_id = world.issue().certificate.id
        admin = auth(Role.admin)
        url = f"/api/v1/certificates/{certificate_id}"
        missing = client.post(f"{url}/suspend", headers=admin)
        assert missing.status_code == 422
        assert missing.json()["type"].endswith("/idempotency-key-invalid")
        assert client.get(url, headers=admin).json()["status"] == "active"
        suspended = client.post(f"{url}/suspend", headers=_keyed(admin, "suspend-1"))
        assert suspended.json()["status"] == "suspended"
        lifted = client.post(f"{url}/unsuspend", headers=_keyed(admin, "unsuspend-1")).json()
        assert lifted["status"] == "active"  # the re-issued certificate
        assert client.get(url, headers=admin).json()["status"] == "superseded"
        # a late retry of the suspension answers as the first time did and changes nothing again
        retried = client.post(f"{url}/suspend", headers=_keyed(admin, "suspend-1"))
        assert retried.headers.get("idempotent-replayed") == "true"
        assert retried.json() == suspended.json()
        assert client.get(url, headers=admin).json()["status"] == "superseded"
        assert client.get(f"/api/v1/certificates/{lifted['id']}", headers=admin).json()["status"] == "active"


class TestVerifyEndpoint:
    def test_valid_certificate(self, world: World, client: TestClient) -> None:
        credential = world.issue().credential
        world.publish()
        response = client.post(
            "/api/v1/verify", json={"certificate": credential, "learner_id": world.learner_id}
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["valid"] is True, body
        assert [c["name"] for c in body["checks"]] == [
            "proof",
            "key",
            "issuer",
            "status",
            "validity",
            "ledger",
            "learner",
        ]
        assert set(body) == {"valid", "checks"}

    def test_tampered_certificate(self, world: World, client: TestClient) -> None:
        credential = world.issue().credential
        world.publish()
        credential["credentialSubject"]["creditsEarned"] = 99
        body = client.post("/api/v1/verify", json={"certificate": credential}).json()
        assert body["valid"] is False
        failed = {c["name"]: c["detail"] for c in body["checks"] if not c["ok"]}
        assert list(failed) == ["proof", "ledger"]
        assert "claims 99 credits, the leaf records" in failed["ledger"]

    @pytest.mark.parametrize(
        "payload",
        [
            {"certificate": {}},
            {"certificate": {"proof": "x", "issuer": 5}},
            {"certificate": {"credentialStatus": {"statusListCredential": "file:///etc/passwd"}}},
            {"certificate": {"proof": {"verificationMethod": "did:web:testserver:institutions:\u0000#k"}}},
            {"certificate": json.loads('{"validFrom": "9999-99-99T99:99:99Z", "type": ["ClrCredential"]}')},
        ],
    )
    def test_malformed_certificates_get_a_report(self, client: TestClient, payload: dict[str, Any]) -> None:
        response = client.post("/api/v1/verify", json=payload)
        assert response.status_code == 200, response.text
        assert response.json()["valid"] is False

    @pytest.mark.parametrize(
        "payload", [[], {"certificate": []}, {"certificate": "x"}, {}, {"learner_id": 5}]
    )
    def test_malformed_requests_get_a_422(self, client: TestClient, payload: Any) -> None:
        response = client.post("/api/v1/verify", json=payload)
        assert response.status_code == 422
        assert response.headers["content-type"] == PROBLEM

    def test_not_json(self, client: TestClient) -> None:
        response = client.post(
            "/api/v1/verify", content=b"\xff{", headers={"content-type": "application/json"}
        )
        assert response.status_code in (400, 422)
        assert response.headers["content-type"] == PROBLEM


class TestEvidence:
    def test_unknown_certificate(self, client: TestClient) -> None:
        response = client.get("/api/v1/certificates/crt_missing/evidence")
        assert response.status_code == 404

    def test_context_is_published(self, client: TestClient) -> None:
        response = client.get("/contexts/credit-transfer/v1")
        assert response.status_code == 200
        assert "creditTransfer" in response.json()["@context"]


def _keyed(headers: dict[str, str], key: str) -> dict[str, str]:
    return {**headers, "Idempotency-Key": key}


class TestIssuedFromTheJournal:
    """A superuser edits ``ledger_lots`` behind the service's back: issuance must notice and refuse."""

    @pytest.mark.parametrize(
        ("column", "value", "shown"),
        [
            ("credits", "50", "credits (50.00 in the table, 2.50 in leaf"),
            ("learner_id", "lrn_someoneelse00000000", "learner (lrn_someoneelse00000000 in the table"),
            ("rule_version", "99", "rule ("),
            ("level", "7", "level (7 in the table, 4 in leaf"),
        ],
    )
    def test_tampered_lot_is_refused_with_an_alarm(
        self,
        world: World,
        client: TestClient,
        auth: Tokens,
        db: Connection,
        caplog: pytest.LogCaptureFixture,
        column: str,
        value: str,
        shown: str,
    ) -> None:
        with as_superuser(db):  # the service's role may not; the superuser, past the trigger, may
            db.execute(text("SET LOCAL session_replication_role = replica"))
            db.execute(
                text(f"UPDATE ledger_lots SET {column} = :value WHERE id = :id"),
                {"value": value, "id": world.lot_id},
            )
            db.execute(text("SET LOCAL session_replication_role = origin"))
        with caplog.at_level(logging.ERROR, logger="creditbank.integrity"):
            response = _create(client, auth(Role.admin), [world.lot_id])
        assert response.status_code == 409, response.text
        assert response.headers["content-type"].startswith(PROBLEM)
        problem = response.json()
        assert problem["type"].endswith("/lot-journal-mismatch")
        assert shown in problem["detail"]
        assert any(
            "integrity alarm" in r.getMessage() and world.lot_id in r.getMessage() for r in caplog.records
        )
        issued = db.execute(
            text("SELECT count(*) FROM credential_certificates WHERE lot_ids::text LIKE :lot"),
            {"lot": f"%{world.lot_id}%"},
        ).scalar_one()
        assert issued == 0

    def test_untampered_lot_is_issued_from_its_leaf(
        self, world: World, client: TestClient, auth: Tokens
    ) -> None:
        response = _create(client, auth(Role.admin), [world.lot_id])
        assert response.status_code == 201, response.text
        subject = response.json()["credential"]["credentialSubject"]
        assert subject["creditsEarned"] == 2.5
        assert subject["creditTransfer"]["lotIds"] == [world.lot_id]
