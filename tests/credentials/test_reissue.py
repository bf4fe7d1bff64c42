"""Re-issue after a key compromise: the learner sees the new certificates and the old ones marked
superseded, a CLR bundle comes back whole, and a revoked certificate is not re-issued."""

import datetime as dt

from fastapi.testclient import TestClient

from creditbank.auth.models import Role
from creditbank.credentials import issuance, service
from tests.conftest import Tokens
from tests.credentials.conftest import World


def _compromise(world: World, key_id: str) -> list[tuple[str, str]]:
    moment = dt.datetime.now(dt.UTC)
    _, pairs = world.run(lambda s: service.compromise_key(s, world.ctx, key_id, moment))
    return [(old.id, new.id) for old, new in pairs]


class TestAfterCompromise:
    def test_the_learner_sees_the_new_certificate_and_the_old_superseded(
        self, world: World, client: TestClient, auth: Tokens
    ) -> None:
        issued = world.issue()
        [(old_id, new_id)] = _compromise(world, issued.certificate.key_id)
        assert old_id == issued.certificate.id
        listed = client.get(
            f"/api/v1/learners/{world.learner_id}/certificates", headers=auth(Role.learner, world.learner_id)
        )
        assert listed.status_code == 200, listed.text
        by_id = {c["id"]: c for c in listed.json()}
        assert by_id[old_id]["status"] == "superseded"
        assert by_id[old_id]["successor_id"] == new_id
        assert by_id[new_id]["status"] == "active"
        assert by_id[new_id]["lot_ids"] == by_id[old_id]["lot_ids"]
        # the learner is given the new signed credential, under a key that is not the compromised one
        new = by_id[new_id]["credential"]
        assert new["proof"]["verificationMethod"] != issued.credential["proof"]["verificationMethod"]
        assert (
            new["credentialSubject"]["creditTransfer"]
            == issued.credential["credentialSubject"]["creditTransfer"]
        )
        assert (
            new["credentialStatus"]["statusListIndex"]
            != issued.credential["credentialStatus"]["statusListIndex"]
        )

    def test_a_bundle_is_re_issued_with_its_parts(self, world: World) -> None:
        second = world.lot(credits="0.5")
        bundle = world.run(lambda s: issuance.issue_clr_bundle(s, world.ctx, lot_ids=[world.lot_id, second]))
        pairs = _compromise(world, bundle.certificate.key_id)
        assert [old for old, _ in pairs] == [bundle.certificate.id]  # the bundle, not its parts apart
        new_id = pairs[0][1]
        parts = world.run(lambda s: service.parts_of(s, new_id))
        assert sorted(lot for p in parts for lot in p.lot_ids) == sorted([world.lot_id, second])
        old_parts = world.run(lambda s: service.parts_of(s, bundle.certificate.id))
        assert {p.successor_id for p in old_parts} == {p.id for p in parts}
        document = world.run(lambda s: service.get(s, new_id).document)
        inner = document["credentialSubject"]["verifiableCredential"]
        assert {c["id"] for c in inner} == {p.credential_id for p in parts}

    def test_a_revoked_certificate_is_not_re_issued(
        self, world: World, client: TestClient, auth: Tokens
    ) -> None:
        revoked = world.issue()
        response = client.post(
            f"/api/v1/certificates/{revoked.certificate.id}/revoke",
            json={},
            headers={**auth(Role.admin), "Idempotency-Key": "revoke-r"},
        )
        assert response.status_code == 200, response.text
        assert _compromise(world, revoked.certificate.key_id) == []
