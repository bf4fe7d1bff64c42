"""The trust file and the signed issuer register an offline verifier pins and checks."""

import copy
from typing import Any

import pytest
from fastapi.testclient import TestClient

from creditbank.standards.vc import trust
from creditbank.standards.vc.errors import ResolutionFailed
from tests.credentials.conftest import World


@pytest.fixture
def roots(client: TestClient) -> trust.TrustRoots:
    response = client.get("/trust.json")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["type"] == "CreditBankTrustRoots" and body["logs"], body
    return trust.TrustRoots.from_json(body)


def _register(client: TestClient) -> dict[str, Any]:
    response = client.get("/issuer-register.json")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


class TestIssuerRegister:
    def test_verifies_with_the_pinned_bank_key_and_lists_the_school(
        self, world: World, client: TestClient, roots: trust.TrustRoots
    ) -> None:
        assert roots.bank_did_document is not None
        found = trust.verify_register(_register(client), roots.bank_did_document)
        mine = [i for i in found if i.did.endswith(world.institution_id)]
        assert len(mine) == 1 and mine[0].did_document["id"] == mine[0].did

    def test_an_edited_register_does_not_verify(
        self, world: World, client: TestClient, roots: trust.TrustRoots
    ) -> None:
        assert roots.bank_did_document is not None
        edited = copy.deepcopy(_register(client))
        edited["issuers"][0]["description"] = "registered institution (edited)"
        with pytest.raises(ResolutionFailed, match="does not verify"):
            trust.verify_register(edited, roots.bank_did_document)

    def test_another_bank_key_does_not_verify_it(self, world: World, client: TestClient) -> None:
        stranger = {"id": _register(client)["issuer"], "assertionMethod": [], "verificationMethod": []}
        with pytest.raises(ResolutionFailed):
            trust.verify_register(_register(client), stranger)


class TestTrustFile:
    @pytest.mark.parametrize(
        "value",
        [
            None,
            [],
            {"type": "Other"},
            {"type": "CreditBankTrustRoots", "version": 1, "logs": [{"verifierKey": "x"}]},
        ],
    )
    def test_malformed_trust_files_are_refused(self, value: Any) -> None:
        with pytest.raises(ResolutionFailed):
            trust.TrustRoots.from_json(value)

    def test_round_trip(self, roots: trust.TrustRoots) -> None:
        again = trust.TrustRoots.from_json(roots.to_json())
        assert [k.to_text() for k in again.log_keys] == [k.to_text() for k in roots.log_keys]
        assert again.bank_did_document == roots.bank_did_document
        assert roots.log_key(roots.log_keys[0].name) is not None
        assert roots.log_key("elsewhere/logs/main") is None
