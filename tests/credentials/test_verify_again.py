"""Verifying again: the RDFC digests remembered between verifications never change an answer.

``creditbank.standards.vc.rdfc_digests`` remembers the SHA-256 of canonical forms by value. These
tests verify a certificate once (so its digests and its status list's are remembered), then change
what a verification must see afresh (the status list, the document), and verify again over HTTP.
"""

import copy
import datetime as dt
import json
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient

from creditbank.auth.models import Role
from creditbank.credentials import keys, service
from creditbank.standards.vc import dataintegrity, rdfc_digests
from tests.conftest import Tokens
from tests.credentials.conftest import World


def _verify(client: TestClient, credential: dict[str, Any]) -> dict[str, bool]:
    response = client.post("/api/v1/verify", json={"certificate": credential})
    assert response.status_code == 200, response.text
    return {c["name"]: c["ok"] for c in response.json()["checks"]}


def test_a_revocation_shows_on_the_next_verification(world: World, client: TestClient, auth: Tokens) -> None:
    issued = world.issue()
    world.publish()
    rdfc_digests.clear()
    assert all(_verify(client, issued.credential).values())
    remembered = rdfc_digests.size()
    assert remembered >= 4  # the certificate's and its status list's document and proof configuration
    assert all(_verify(client, issued.credential).values())
    assert rdfc_digests.size() == remembered  # the second verification canonicalised nothing new
    revoked = client.post(
        f"/api/v1/certificates/{issued.certificate.id}/revoke",
        headers={**auth(Role.institution, world.institution_id), "Idempotency-Key": str(uuid.uuid4())},
    )
    assert revoked.status_code == 200, revoked.text
    after = _verify(client, issued.credential)
    assert after["status"] is False
    assert after["proof"] is True


def _variant(credential: dict[str, Any], change: str) -> dict[str, Any]:
    changed = copy.deepcopy(credential)
    subject = changed["credentialSubject"]
    reference = subject["creditTransfer"]["ledgerReference"]
    if change == "integer as float":
        reference["sequenceNumber"] = float(reference["sequenceNumber"])
    elif change == "number as string":
        subject["creditsEarned"] = str(subject["creditsEarned"])
    elif change == "number as boolean":
        subject["creditsEarned"] = True
    else:  # keys in another order: the same JSON-LD document
        changed["credentialSubject"] = dict(reversed(list(subject.items())))
    return changed


@pytest.mark.parametrize(
    "change", ["integer as float", "number as string", "number as boolean", "keys in another order"]
)
def test_a_document_like_one_verified_before_gets_the_answer_it_gets_alone(
    world: World, client: TestClient, change: str
) -> None:
    """A document that differs from one verified before only in a value's JSON type (``0`` and
    ``0.0``, ``2.5`` and ``"2.5"``) or its keys' order gets the answer it gets on a fresh start."""
    credential = world.issue().credential
    world.publish()
    variant = _variant(credential, change)
    assert json.dumps(variant) != json.dumps(credential)  # 0 == 0.0 in Python, not in JSON
    rdfc_digests.clear()
    alone = _verify(client, variant)
    rdfc_digests.clear()
    assert _verify(client, credential)["proof"] is True
    assert _verify(client, variant) == alone
    assert _verify(client, variant) == alone


def test_the_key_is_exact() -> None:
    key = rdfc_digests.exact_key
    assert key({"a": 1}) != key({"a": 1.0}) != key({"a": True})
    assert key({"a": 1, "b": 2}) != key({"b": 2, "a": 1})  # insertion order kept
    assert key({"a": "é"}) == key({"a": "é"}) != key({"a": "e"})
    assert key({1: "a"}) is None  # not a JSON object
    assert key({"a": (1, 2)}) is None  # a tuple is not a list to JSON-LD
    assert key({"a": float("nan")}) is None


def test_at_most_so_many_digests_are_kept() -> None:
    rdfc_digests.clear()
    for i in range(rdfc_digests.MAX_ENTRIES + 10):
        rdfc_digests.digest({"n": i}, lambda value: repr(value).encode())
    assert rdfc_digests.size() == rdfc_digests.MAX_ENTRIES


def test_an_error_is_never_remembered() -> None:
    calls: list[int] = []

    def failing(value: Any) -> bytes:
        calls.append(1)
        raise ValueError("not JSON-LD")

    for _ in range(2):
        with pytest.raises(ValueError, match="not JSON-LD"):
            rdfc_digests.digest({"x": 1}, failing)
    assert len(calls) == 2


def test_a_key_compromise_recorded_elsewhere_shows_on_the_very_next_verification(
    world: World, client: TestClient
) -> None:
    """The verifier reads the issuer's keys afresh for each verification: a compromise committed by
    another transaction after a successful verification fails the next one (a DID document or key
    remembered from the first would let it pass)."""
    issued = world.issue()
    world.publish()
    assert all(_verify(client, issued.credential).values())
    assert all(_verify(client, issued.credential).values())
    signed_at = dataintegrity.parse_datetime(issued.credential["proof"]["created"])
    key_id = issued.credential["proof"]["verificationMethod"].split("#")[1]
    world.run(lambda s: service.compromise_key(s, world.ctx, key_id, signed_at - dt.timedelta(minutes=1)))
    after = _verify(client, issued.credential)
    assert after["key"] is False
    assert after["status"] is False  # re-issued under a fresh key: the old one superseded


def test_a_key_made_after_a_verification_verifies_at_once(world: World, client: TestClient) -> None:
    """A certificate signed with a key rotated in after a verification of the issuer's earlier
    certificate verifies at once, and so does the earlier one (its key retired, not removed)."""
    first = world.issue()
    world.publish()
    assert all(_verify(client, first.credential).values())
    world.run(lambda s: keys.rotate(s, world.ctx.secrets.master_key, world.institution_id))
    second = world.issue(lot_id=world.lot())
    world.publish()
    assert second.credential["proof"]["verificationMethod"] != first.credential["proof"]["verificationMethod"]
    assert all(_verify(client, second.credential).values())
    assert all(_verify(client, first.credential).values())


def test_an_unregistered_issuer_is_refused_every_time(world: World, client: TestClient) -> None:
    """A certificate naming an issuer DID of this service that is not a registered institution
    fails the proof, key and issuer checks, on the first verification and the next."""
    issued = world.issue()
    world.publish()
    forged = copy.deepcopy(issued.credential)
    ghost = forged["issuer"]["id"].rsplit(":", 1)[0] + ":inst_ghost"
    forged["issuer"]["id"] = ghost
    forged["proof"]["verificationMethod"] = ghost + "#" + forged["proof"]["verificationMethod"].split("#")[1]
    for _ in range(2):
        checks = _verify(client, forged)
        assert (checks["proof"], checks["key"], checks["issuer"]) == (False, False, False)
