"""Verifying certificates issued by the service, online (through the HTTP API) and offline (from
files): a good certificate passes every check, and each kind of damage fails the check named for it."""

import base64
import copy
import datetime as dt
import hashlib
import time
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from creditbank.credentials import issuance, keys, service
from creditbank.credentials.http_resolver import HttpResolver
from creditbank.crypto import signing
from creditbank.standards.vc import dataintegrity, statuslist
from creditbank.standards.vc.did import KeyInfo, build_did_document
from creditbank.standards.vc.evidence import LedgerEvidence
from creditbank.standards.vc.resolvers import OfflineResolver, Resolver
from creditbank.standards.vc.trust import TrustRoots
from creditbank.standards.vc.verification import CHECK_NAMES, Report, verify_certificate
from creditbank.transparency import store
from tests.credentials.conftest import World, register_institution

BASE = "http://testserver"
ALL_BUT_LEARNER = [n for n in CHECK_NAMES if n != "learner"]


@dataclass
class Issued:
    world: World
    certificate_id: str
    credential: dict[str, Any]


@pytest.fixture
def issued(world: World) -> Issued:
    result = world.issue()
    world.publish()
    return Issued(world, result.certificate.id, result.credential)


def online(client: TestClient) -> HttpResolver:
    return HttpResolver(BASE, client)


def evidence(client: TestClient, certificate_id: str) -> dict[str, Any]:
    response = client.get(f"/api/v1/certificates/{certificate_id}/evidence")
    assert response.status_code == 200, response.text
    bundle: dict[str, Any] = response.json()
    return bundle


def offline(client: TestClient, certificate_id: str, **drop: bool) -> OfflineResolver:
    bundle = evidence(client, certificate_id)
    for key in drop:
        bundle[key] = []
    resolver = OfflineResolver(trust=pinned(client))
    resolver.add_bundle(bundle)
    return resolver


def pinned(client: TestClient) -> TrustRoots:
    """The trust roots an auditor saved once from the service (``GET /trust.json``)."""
    response = client.get("/trust.json")
    assert response.status_code == 200, response.text
    return TrustRoots.from_json(response.json())


def resign(world: World, document: dict[str, Any], owner: str | None = None) -> dict[str, Any]:
    """Sign a changed document with the owner's active key (what a careless issuer would do)."""
    unsigned = {k: v for k, v in document.items() if k != "proof"}
    signer = world.run(
        lambda s: keys.signer_for(s, world.ctx.secrets.master_key, BASE, owner or world.institution_id)
    )
    return dataintegrity.sign(unsigned, signer.seed, signer.verification_method, document["proof"]["created"])


def assert_only(report: Report, name: str) -> None:
    assert report.failed == [name], report.to_json()
    assert not report.valid


class TestGoodCertificate:
    def test_online_every_check_passes(self, issued: Issued, client: TestClient) -> None:
        report = verify_certificate(issued.credential, online(client))
        assert report.valid, report.to_json()
        assert [c.name for c in report.checks] == ALL_BUT_LEARNER
        assert "registered institution" in report.check("issuer").detail
        assert "included in the checkpoint" in report.check("ledger").detail

    def test_offline_from_the_evidence_bundle(self, issued: Issued, client: TestClient) -> None:
        bundle = evidence(client, issued.certificate_id)
        assert bundle["type"] == "CertificateEvidence"
        assert bundle["certificateId"] == issued.credential["id"]
        assert len(bundle["statusLists"]) == 1  # one credentialStatus entry
        assert [e["index"] for e in bundle["ledger"]] == [
            issued.credential["credentialSubject"]["creditTransfer"]["ledgerReference"]["sequenceNumber"]
        ]
        assert issued.world.learner_id not in str(bundle)
        report = verify_certificate(issued.credential, offline(client, issued.certificate_id))
        assert report.valid, report.to_json()

    def test_service_verifier(self, issued: Issued) -> None:
        report = issued.world.run(lambda s: service.verify(s, issued.world.ctx, issued.credential))
        assert report.valid, report.to_json()

    def test_learner_check(self, issued: Issued, client: TestClient) -> None:
        good = verify_certificate(issued.credential, online(client), learner_id=issued.world.learner_id)
        assert good.valid, good.to_json()
        assert [c.name for c in good.checks] == list(CHECK_NAMES)
        assert_only(
            verify_certificate(issued.credential, online(client), learner_id="lrn_someoneelse"), "learner"
        )

    def test_signed_before_a_rotation_still_passes(self, issued: Issued, client: TestClient) -> None:
        world = issued.world
        world.run(lambda s: keys.rotate(s, world.ctx.secrets.master_key, world.institution_id))
        after = world.issue()
        world.publish()
        assert after.certificate.key_id != issued.credential["proof"]["verificationMethod"].split("#")[1]
        for credential in (issued.credential, after.credential):
            report = verify_certificate(credential, online(client))
            assert report.valid, report.to_json()
        report = verify_certificate(issued.credential, offline(client, issued.certificate_id))
        assert report.valid, report.to_json()

    def test_certificate_of_the_bank(self, world: World, client: TestClient) -> None:
        lot_id = world.lot(issuer_id="ins_unregistered")
        credential = world.issue(lot_id).credential
        world.publish()
        report = verify_certificate(credential, online(client))
        assert report.valid, report.to_json()
        assert "the credit bank itself" in report.check("issuer").detail


class TestEachFailureHasItsName:
    def test_changed_credit_fails_the_proof(self, issued: Issued, client: TestClient) -> None:
        tampered = copy.deepcopy(issued.credential)
        tampered["credentialSubject"]["creditsEarned"] = 25
        for resolver in (online(client), offline(client, issued.certificate_id)):
            report = verify_certificate(tampered, resolver)
            assert report.failed == ["proof", "ledger"], report.to_json()
            assert "claims 25 credits, the leaf records 2.50" in report.check("ledger").detail

    def test_key_of_another_institution(self, issued: Issued, client: TestClient) -> None:
        world = issued.world
        other = world.run(lambda s: register_institution(s, name="别的学校"))
        signer = world.run(lambda s: keys.signer_for(s, world.ctx.secrets.master_key, BASE, other))
        swapped = copy.deepcopy(issued.credential)
        swapped["proof"]["verificationMethod"] = signer.verification_method
        report = verify_certificate(swapped, online(client))
        assert set(report.failed) == {"proof", "key"}, report.to_json()
        assert "not the issuer" in report.check("key").detail

    def test_signed_by_another_institution(self, issued: Issued, client: TestClient) -> None:
        world = issued.world
        other = world.run(lambda s: register_institution(s, name="别的学校"))
        forged = resign(world, issued.credential, owner=other)
        report = verify_certificate(forged, online(client))
        assert_only(report, "key")

    def test_newer_key_of_the_issuer(self, issued: Issued, client: TestClient) -> None:
        world = issued.world
        _, new = world.run(lambda s: keys.rotate(s, world.ctx.secrets.master_key, world.institution_id))
        swapped = copy.deepcopy(issued.credential)
        method = swapped["proof"]["verificationMethod"]
        swapped["proof"]["verificationMethod"] = method.split("#")[0] + "#" + new.id
        report = verify_certificate(swapped, online(client))
        assert "proof" in report.failed
        assert set(report.failed) <= {"proof", "key"}

    def test_revoked(self, issued: Issued, client: TestClient, auth: Any) -> None:
        from creditbank.auth.models import Role

        response = client.post(
            f"/api/v1/certificates/{issued.certificate_id}/revoke",
            json={"reason": "issued in error"},
            headers={**auth(Role.institution, issued.world.institution_id), "Idempotency-Key": "revoke"},
        )
        assert response.status_code == 200, response.text
        for resolver in (online(client), offline(client, issued.certificate_id)):
            report = verify_certificate(issued.credential, resolver)
            assert_only(report, "status")
            assert "revoked" in report.check("status").detail
            assert report.check("status").code == "credential-revoked"  # the pages say it in Chinese
            assert report.check("proof").code == ""

    def test_suspended_then_unsuspended(self, issued: Issued, client: TestClient, auth: Any) -> None:
        from creditbank.auth.models import Role

        admin = {**auth(Role.admin), "Idempotency-Key": "suspend"}
        suspended = client.post(f"/api/v1/certificates/{issued.certificate_id}/suspend", headers=admin)
        assert suspended.status_code == 200
        assert suspended.json()["status"] == "suspended"
        # one credentialStatus: while suspended the certificate reads revoked to every verifier
        report = verify_certificate(issued.credential, online(client))
        assert_only(report, "status")
        assert "revoked" in report.check("status").detail
        lifted = client.post(
            f"/api/v1/certificates/{issued.certificate_id}/unsuspend",
            headers={**admin, "Idempotency-Key": "unsuspend"},
        )
        assert lifted.status_code == 200
        # lifting it re-issues the certificate (same lots, a fresh status index); the old one is superseded
        renewed = lifted.json()
        assert renewed["id"] != issued.certificate_id
        assert renewed["status"] == "active"
        document = issued.world.run(lambda s: service.get(s, renewed["id"]).document)
        assert verify_certificate(document, online(client)).valid
        assert verify_certificate(issued.credential, online(client)).failed == ["status"]
        old = client.get(f"/api/v1/certificates/{issued.certificate_id}", headers=auth(Role.admin)).json()
        assert (old["status"], old["successor_id"]) == ("superseded", renewed["id"])

    def test_key_compromised_before_signing(self, issued: Issued, client: TestClient) -> None:
        world = issued.world
        signed_at = dataintegrity.parse_datetime(issued.credential["proof"]["created"])
        key_id = issued.credential["proof"]["verificationMethod"].split("#")[1]
        _, reissued = world.run(
            lambda s: service.compromise_key(s, world.ctx, key_id, signed_at - dt.timedelta(minutes=1))
        )
        assert [old.id for old, _ in reissued] == [issued.certificate_id]
        for resolver in (online(client), offline(client, issued.certificate_id)):
            report = verify_certificate(issued.credential, resolver)
            # the key left assertionMethod; the certificate was superseded (its bit set)
            assert report.failed == ["key", "status"]
            assert "compromised" in report.check("key").detail

    def test_key_compromised_after_signing_reissues(self, issued: Issued, client: TestClient) -> None:
        world = issued.world
        key_id = issued.credential["proof"]["verificationMethod"].split("#")[1]
        later = dataintegrity.parse_datetime(issued.credential["proof"]["created"]) + dt.timedelta(seconds=1)
        time.sleep(max(0.0, (later - dt.datetime.now(dt.UTC)).total_seconds()))
        _, reissued = world.run(lambda s: service.compromise_key(s, world.ctx, key_id, later))
        # a compromised key authorises nothing any more (its created times can be forged) ...
        assert "key" in verify_certificate(issued.credential, online(client)).failed
        # ... and what it signed while it was good was issued again under a fresh key
        [(old, new)] = reissued
        assert (old.id, new.lot_ids, new.key_id != key_id) == (issued.certificate_id, old.lot_ids, True)
        report = verify_certificate(new.document, online(client))
        assert report.valid, report.failed

    def test_expired(self, world: World, client: TestClient) -> None:
        until = dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)  # within the status list's 24 h
        credential = world.issue(valid_until=until).credential
        world.publish()
        assert verify_certificate(credential, online(client)).valid
        report = verify_certificate(credential, online(client), now=until + dt.timedelta(seconds=1))
        assert_only(report, "validity")
        assert "expired" in report.check("validity").detail
        early = dataintegrity.parse_datetime(credential["validFrom"]) - dt.timedelta(days=1)
        assert "validity" in verify_certificate(credential, online(client), now=early).failed

    def test_wrong_leaf_hash(self, issued: Issued, client: TestClient) -> None:
        changed = copy.deepcopy(issued.credential)
        reference = changed["credentialSubject"]["creditTransfer"]["ledgerReference"]
        reference["leafHash"] = base64.b64encode(hashlib.sha256(b"another leaf").digest()).decode()
        wrong = resign(issued.world, changed)
        for resolver in (online(client), offline(client, issued.certificate_id)):
            report = verify_certificate(wrong, resolver)
            assert_only(report, "ledger")
            assert "does not lead to the given root" in report.check("ledger").detail

    def test_wrong_sequence_number(self, issued: Issued, client: TestClient) -> None:
        issued.world.lot()
        issued.world.publish()
        changed = copy.deepcopy(issued.credential)
        changed["credentialSubject"]["creditTransfer"]["ledgerReference"]["sequenceNumber"] += 1
        assert_only(verify_certificate(resign(issued.world, changed), online(client)), "ledger")

    def test_leaf_not_yet_in_a_checkpoint(self, world: World, client: TestClient) -> None:
        credential = world.issue().credential
        report = verify_certificate(credential, online(client))
        assert_only(report, "ledger")

    def test_unreachable_status_list_fails_closed(self, issued: Issued, client: TestClient) -> None:
        report = verify_certificate(
            issued.credential, offline(client, issued.certificate_id, statusLists=True)
        )
        assert_only(report, "status")
        assert "fail closed" in report.check("status").detail

        class Unreachable(httpx.Client):
            def get(self, url: httpx.URL | str, **kwargs: Any) -> httpx.Response:
                if "/status-lists/" in str(url):
                    raise httpx.ConnectError("connection refused")
                response: httpx.Response = client.get(url, **kwargs)
                return response

        report = verify_certificate(issued.credential, HttpResolver(BASE, Unreachable()))
        assert_only(report, "status")
        assert "could not be read" in report.check("status").detail
        assert "could not be fetched" in report.check("status").detail
        assert "ConnectError" not in report.check("status").detail  # nothing about why: no port probing

    def test_status_list_with_a_bad_signature(self, issued: Issued, client: TestClient) -> None:
        resolver = offline(client, issued.certificate_id)
        resolver.status_lists[0]["credentialSubject"]["encodedList"] = statuslist.Bitstring().encode()
        resolver.status_lists[0]["validFrom"] = "2020-01-01T00:00:00Z"
        report = verify_certificate(issued.credential, resolver)
        assert_only(report, "status")
        assert "not validly signed" in report.check("status").detail

    def test_bundled_did_documents_are_not_what_is_trusted(self, issued: Issued, client: TestClient) -> None:
        # the issuer's keys come from the register the pinned bank key signed, not from the bundle
        report = verify_certificate(
            issued.credential, offline(client, issued.certificate_id, didDocuments=True)
        )
        assert report.valid, report.to_json()
        assert "issuer register signed by the pinned bank key" in report.check("issuer").detail

    def test_unregistered_issuer(self, issued: Issued, client: TestClient) -> None:
        resolver = offline(client, issued.certificate_id, signedIssuerRegister=True)
        report = verify_certificate(issued.credential, resolver)
        assert report.failed == ["proof", "key", "issuer", "status"], report.to_json()
        assert "nothing pinned vouches for it" in report.check("proof").detail


@dataclass
class Foreign:
    credential: dict[str, Any]
    did_document: dict[str, Any]
    resolver: OfflineResolver


class TestTrustedForeignIssuer:
    """An issuer the bank does not know, trusted through its DID document (``--trust-did-document``)."""

    @pytest.fixture
    def foreign(self, issued: Issued, client: TestClient) -> Foreign:
        seed = bytes(range(32))
        did = "did:web:school.example:issuers:7"
        created = "2025-01-01T00:00:00Z"
        key = KeyInfo("k1", signing.public_key(seed), created=dt.datetime(2024, 1, 1, tzinfo=dt.UTC))
        lists, entries = [], []
        for purpose in ("revocation", "suspension"):
            url = f"https://school.example/status/{purpose}"
            unsigned = statuslist.status_list_credential(url, did, statuslist.Bitstring(), purpose=purpose)
            lists.append(dataintegrity.sign(unsigned, seed, f"{did}#k1", created))
            entries.append(statuslist.status_entry(url, 7, purpose))
        # the bank's own ledger reference, vouched for by a school the bank does not know
        unsigned_cert = {k: v for k, v in issued.credential.items() if k != "proof"}
        unsigned_cert["issuer"] = {**unsigned_cert["issuer"], "id": did}
        unsigned_cert["credentialStatus"] = entries
        resolver = OfflineResolver(status_lists=lists, trust=pinned(client))
        resolver.ledger.extend(
            LedgerEvidence.from_json(e) for e in evidence(client, issued.certificate_id)["ledger"]
        )
        return Foreign(
            credential=dataintegrity.sign(unsigned_cert, seed, f"{did}#k1", created),
            did_document=build_did_document(did, [key]),
            resolver=resolver,
        )

    def test_untrusted_then_trusted(self, foreign: Foreign) -> None:
        foreign.resolver.did_documents.append(foreign.did_document)
        report = verify_certificate(foreign.credential, foreign.resolver)
        assert report.failed == ["proof", "key", "issuer", "status"], report.to_json()
        foreign.resolver.trusted_did_documents.append(foreign.did_document)
        report = verify_certificate(foreign.credential, foreign.resolver)
        assert report.valid, report.to_json()
        assert "trusted through a given DID document" in report.check("issuer").detail


class TestClrBundle:
    def test_bundle_verifies_and_a_revoked_part_fails_it(self, world: World, client: TestClient) -> None:
        second = world.lot(credits="3.0")
        bundle = world.run(lambda s: issuance.issue_clr_bundle(s, world.ctx, lot_ids=[world.lot_id, second]))
        world.publish()
        report = verify_certificate(bundle.credential, online(client), learner_id=world.learner_id)
        assert report.valid, report.to_json()
        assert report.check("ledger").detail.startswith("2 credential(s)")
        part = bundle.parts[1].certificate.id
        world.run(lambda s: service.revoke(s, world.ctx, _admin(), part))
        report = verify_certificate(bundle.credential, online(client))
        assert_only(report, "status")
        assert "part 2" in report.check("status").detail


def _admin() -> Any:
    from creditbank.auth.models import Role
    from creditbank.auth.service import Principal

    return Principal(role=Role.admin, subject=None, token_id=None)


class TestMalformedInput:
    @pytest.mark.parametrize(
        "document",
        [
            None,
            [],
            "a certificate",
            {},
            {"proof": 1},
            {"@context": 5, "proof": {"type": "DataIntegrityProof", "cryptosuite": "eddsa-jcs-2022"}},
            {
                "issuer": {"id": "did:web:testserver:institutions:x"},
                "credentialStatus": [{"type": "BitstringStatusListEntry", "statusListCredential": 4}],
                "validFrom": "yesterday",
                "credentialSubject": {"creditTransfer": {"ledgerReference": {"leafHash": "%%"}}},
                "proof": {
                    "type": "DataIntegrityProof",
                    "cryptosuite": "eddsa-jcs-2022",
                    "verificationMethod": "did:web:testserver:institutions:x#k",
                    "proofPurpose": "assertionMethod",
                    "proofValue": "z111",
                    "created": "2025-01-01T00:00:00Z",
                },
            },
            {"type": "ClrCredential", "credentialSubject": {"verifiableCredential": [1, {"x": 1e308}]}},
            {"credentialSubject": {"creditsEarned": 2**60}, "proof": {}},
        ],
    )
    def test_every_check_fails_without_raising(self, document: Any, client: TestClient) -> None:
        resolvers: list[Resolver] = [online(client), OfflineResolver()]
        for resolver in resolvers:
            report = verify_certificate(document, resolver, learner_id="lrn_x")
            assert not report.valid
            assert [c.name for c in report.checks] == list(CHECK_NAMES)

    def test_service_refuses_to_fetch_other_hosts(self, issued: Issued) -> None:
        changed = copy.deepcopy(issued.credential)
        changed["credentialStatus"]["statusListCredential"] = "http://169.254.169.254/latest/meta-data"
        resigned = resign(issued.world, changed)
        report = issued.world.run(lambda s: service.verify(s, issued.world.ctx, resigned))
        assert_only(report, "status")
        assert "not a status list of this service" in report.check("status").detail


def test_log_helper_is_the_default_log(world: World) -> None:
    assert world.run(lambda s: store.get_log(s, store.DEFAULT_LOG)).origin == "testserver/logs/main"
