"""Issuing certificates for real ledger lots: what the credential says, who signs, what is refused."""

import base64
import datetime as dt
import hashlib
import re

import pytest

from creditbank.credentials import issuance, lot_facts
from creditbank.credentials.keys import did_document
from creditbank.credentials.models import BANK_OWNER, Certificate
from creditbank.errors import NotFound
from creditbank.institutions.service import institution_did
from creditbank.ledger import service as ledger
from creditbank.ledger.models import JournalTransaction, Lot
from creditbank.standards.vc import dataintegrity
from creditbank.standards.vc.did import key_for_proof
from creditbank.transparency import store
from tests.credentials.conftest import World, record_lot, register_institution
from tests.credentials.jsonld_helpers import assert_nothing_dropped


def _verify_signature(world: World, credential: dict[str, object], owner: str) -> None:
    document = world.run(lambda s: did_document(s, world.ctx.settings.base_url, owner))
    proof = credential["proof"]
    assert isinstance(proof, dict)

    def resolve(method: str) -> bytes:
        return key_for_proof(document, method, dataintegrity.parse_datetime(str(proof["created"])))

    dataintegrity.verify(credential, resolve)
    dataintegrity.check_issuer(credential, str(proof["verificationMethod"]))


class TestIssueLotCertificate:
    def test_credential_says_what_the_ledger_says(self, world: World) -> None:
        issued = world.issue()
        cred = issued.credential
        subject = cred["credentialSubject"]
        transfer = subject["creditTransfer"]
        assert cred["type"] == ["VerifiableCredential", "OpenBadgeCredential"]
        assert cred["issuer"]["id"] == institution_did(world.ctx.settings.base_url, world.institution_id)
        assert cred["issuer"]["name"] == "北京市示范职业学院"
        assert subject["creditsEarned"] == 2.5
        assert subject["achievement"]["creditsAvailable"] == 2.5
        assert transfer["creditSystem"] == "16 学时 = 1 学分"
        assert transfer["lotIds"] == [world.lot_id]
        assert transfer["ruleCitation"] == {
            "type": "RuleCitation",
            "ruleId": "bj-training-hours",
            "ruleVersion": "3",
            "ruleSetHash": "ab" * 32,
        }
        assert transfer["sourceOutcome"] == "out_test0001"

        def ledger_facts(s: object) -> tuple[str, int, bytes]:
            from sqlmodel import Session

            assert isinstance(s, Session)
            lot = s.get(Lot, world.lot_id)
            assert lot is not None
            tx = s.get(JournalTransaction, lot.recognition_tx_id)
            assert tx is not None
            log = store.get_log(s, tx.log_id)
            return log.origin, tx.seq, store.leaf_hashes(s, tx.log_id, tx.seq, tx.seq + 1)[tx.seq]

        origin, seq, leaf_hash = world.run(ledger_facts)
        assert transfer["ledgerReference"] == {
            "type": "LedgerReference",
            "logOrigin": origin,
            "sequenceNumber": seq,
            "leafHash": base64.b64encode(leaf_hash).decode(),
        }
        _verify_signature(world, cred, world.institution_id)

    def test_learner_identity_is_hashed_with_a_fresh_salt(self, world: World) -> None:
        first, second = world.issue().credential, world.issue().credential
        salts = []
        for cred in (first, second):
            [identity] = cred["credentialSubject"]["identifier"]
            assert identity["hashed"] is True
            assert re.fullmatch(r"[0-9a-f]{32}", identity["salt"])
            expected = hashlib.sha256((world.learner_id + identity["salt"]).encode()).hexdigest()
            assert identity["identityHash"] == "sha256$" + expected
            assert world.learner_id not in str(cred)
            salts.append(identity["salt"])
        assert salts[0] != salts[1]

    def test_status_entries_and_validity(self, world: World) -> None:
        until = dt.datetime.now(dt.UTC) + dt.timedelta(days=365)
        issued = world.issue(valid_until=until)
        cred = issued.credential
        revocation = cred["credentialStatus"]  # one object, as OB 3.0 requires
        assert revocation["type"] == "BitstringStatusListEntry"
        assert revocation["statusPurpose"] == "revocation"
        row = issued.certificate
        assert (row.suspension_list_id, row.suspension_index) == (None, None)
        assert revocation["statusListIndex"] == str(row.revocation_index)
        assert revocation["statusListCredential"].endswith(f"/status-lists/{row.revocation_list_id}")
        assert cred["validFrom"] == cred["proof"]["created"]
        assert cred["validUntil"] == until.strftime("%Y-%m-%dT%H:%M:%SZ")

    def test_stored_row(self, world: World) -> None:
        issued = world.issue()
        row = world.run(lambda s: s.get(Certificate, issued.certificate.id))
        assert row.kind == "lot"
        assert row.lot_ids == [world.lot_id]
        assert row.learner_id == world.learner_id
        assert row.issuer_owner_id == world.institution_id
        assert row.document == issued.credential
        assert row.credential_id == issued.credential["id"]

    def test_indexes_are_never_reused(self, world: World) -> None:
        rows = [world.issue().certificate for _ in range(6)]
        assert len({(r.revocation_list_id, r.revocation_index) for r in rows}) == 6

    def test_unregistered_issuer_means_the_bank_signs(self, world: World) -> None:
        lot_id = world.lot(issuer_id="ins_not_registered")
        issued = world.issue(lot_id)
        assert issued.certificate.issuer_owner_id == BANK_OWNER
        assert issued.credential["issuer"]["id"] == "did:web:testserver"
        _verify_signature(world, issued.credential, BANK_OWNER)

    def test_destination_institution(self, world: World) -> None:
        destination = world.run(lambda s: register_institution(s, name="北京开放大学"))
        issued = world.issue(destination_institution_id=destination)
        assert issued.credential["credentialSubject"]["creditTransfer"]["destinationInstitution"] == (
            institution_did(world.ctx.settings.base_url, destination)
        )
        with pytest.raises(NotFound):
            world.issue(destination_institution_id="ins_nowhere")

    def test_expiry_of_the_lot_bounds_validity(self, world: World) -> None:
        expires = dt.date.today() + dt.timedelta(days=30)
        lot_id = world.lot(expires_on=expires)
        issued = world.issue(lot_id)
        assert issued.credential["validUntil"] == f"{expires.isoformat()}T00:00:00Z"
        with pytest.raises(lot_facts.CertificateRequestInvalid):
            world.issue(lot_id, valid_until=dt.datetime.now(dt.UTC) + dt.timedelta(days=90))
        with pytest.raises(lot_facts.CertificateRequestInvalid):
            world.issue(valid_until=dt.datetime.now(dt.UTC) - dt.timedelta(days=1))

    def test_expired_and_reversed_lots_are_refused(self, world: World) -> None:
        old = world.lot(expires_on=dt.date.today() - dt.timedelta(days=1))
        with pytest.raises(lot_facts.LotNotCertifiable, match="expired"):
            world.issue(old)

        def reverse(s: object) -> None:
            from sqlmodel import Session

            assert isinstance(s, Session)
            ledger.revoke_lot(s, world.lot_id, reason="test", by="test")

        world.run(reverse)
        with pytest.raises(lot_facts.LotNotCertifiable, match="reversed"):
            world.issue()

    def test_unknown_lot(self, world: World) -> None:
        with pytest.raises(NotFound):
            world.issue("lot_doesnotexist")

    def test_every_issued_credential_expands_offline(self, world: World) -> None:
        issued = world.issue(destination_institution_id=world.institution_id)
        assert_nothing_dropped(issued.credential)
        bundle = world.run(
            lambda s: issuance.issue_clr_bundle(s, world.ctx, lot_ids=[world.lot_id, record_lot_id(s, world)])
        )
        assert_nothing_dropped(bundle.credential)


def record_lot_id(session: object, world: World) -> str:
    from sqlmodel import Session

    assert isinstance(session, Session)
    return record_lot(session, learner_id=world.learner_id, issuer_id=world.institution_id, credits="3.0").id


class TestClrBundle:
    def test_bundle_of_two_lots(self, world: World) -> None:
        second = world.lot(credits="3.0")
        bundle = world.run(lambda s: issuance.issue_clr_bundle(s, world.ctx, lot_ids=[world.lot_id, second]))
        cred = bundle.credential
        assert cred["type"] == ["VerifiableCredential", "ClrCredential"]
        inner = cred["credentialSubject"]["verifiableCredential"]
        assert [c["credentialSubject"]["creditTransfer"]["lotIds"] for c in inner] == [
            [world.lot_id],
            [second],
        ]
        assert [c["credentialSubject"]["creditsEarned"] for c in inner] == [2.5, 3]
        assert bundle.certificate.kind == "clr"
        assert bundle.certificate.lot_ids == [world.lot_id, second]
        assert all(p.certificate.bundle_id == bundle.certificate.id for p in bundle.parts)
        _verify_signature(world, cred, world.institution_id)

    def test_mixed_issuers_are_signed_by_the_bank(self, world: World) -> None:
        other = world.lot(issuer_id="ins_unregistered_two")
        bundle = world.run(lambda s: issuance.issue_clr_bundle(s, world.ctx, lot_ids=[world.lot_id, other]))
        assert bundle.certificate.issuer_owner_id == BANK_OWNER

    def test_lots_of_two_learners_are_refused(self, world: World) -> None:
        stranger = world.lot(learner_id="lrn_someoneelse")
        with pytest.raises(lot_facts.CertificateRequestInvalid):
            world.run(lambda s: issuance.issue_clr_bundle(s, world.ctx, lot_ids=[world.lot_id, stranger]))

    def test_duplicate_lot_is_refused(self, world: World) -> None:
        with pytest.raises(lot_facts.CertificateRequestInvalid):
            world.run(lambda s: issuance.issue_clr_bundle(s, world.ctx, lot_ids=[world.lot_id, world.lot_id]))


def test_record_lot_helper_creates_distinct_lots(world: World) -> None:
    ids = {world.lot() for _ in range(3)}
    assert len(ids) == 3
    assert world.run(lambda s: record_lot(s, learner_id=world.learner_id, issuer_id=world.institution_id)).id


def test_status_lists_and_did_documents_expand_offline(world: World) -> None:
    from creditbank.credentials import keys, status_service

    issued = world.issue()
    world.run(lambda s: keys.rotate(s, world.ctx.secrets.master_key, world.institution_id))
    row = issued.certificate
    for list_id in (row.revocation_list_id,):
        with world.tx() as s, s.begin():
            assert_nothing_dropped(status_service.list_credential(s, list_id))
    assert_nothing_dropped(
        world.run(lambda s: did_document(s, world.ctx.settings.base_url, world.institution_id))
    )
