"""The attacker's side of offline verification: a certificate and an evidence bundle made from scratch.

The forger holds no key of the bank. They sign a certificate in the name of a registered school with
their own key, and ship a bundle with their own DID document for that school, their own status
lists, a register snapshot (unsigned, and one signed by themselves in the bank's name), and a
one-leaf tree whose checkpoint they signed with a log key named after the bank's log origin. Every
documented way of running ``creditbank verify`` (and ``POST /api/v1/verify``) must reject it.

And the other door: a certificate signed with the issuer's REAL key whose body claims more credits
(or other lots) than the leaf it cites must fail ``ledger``.
"""

import base64
import copy
import datetime as dt
import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

import creditbank.credentials.cli as verify_cli
from creditbank.cli import app
from creditbank.credentials import keys
from creditbank.credentials.http_resolver import HttpResolver
from creditbank.crypto import signing
from creditbank.ids import InstitutionId, LearnerId, LogId, LotId
from creditbank.standards.ledger import leaf
from creditbank.standards.tlog import merkle, note
from creditbank.standards.vc import dataintegrity, statuslist, trust
from creditbank.standards.vc.did import KeyInfo, build_did_document, key_for_proof
from creditbank.standards.vc.evidence import LedgerEvidence
from creditbank.standards.vc.resolvers import OfflineResolver
from creditbank.standards.vc.verification import verify_certificate
from tests.credentials.conftest import World

runner = CliRunner()
BASE = "http://testserver"
CREATED = "2026-01-01T00:00:00Z"
KEY_CREATED = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


@dataclass
class Forgery:
    certificate: dict[str, Any]
    bundle: dict[str, Any]
    paths: dict[str, str]


def _sign(document: dict[str, Any], seed: bytes, method: str) -> dict[str, Any]:
    # credentials are JSON-LD (eddsa-rdfc-2022); the issuer register is plain JSON (eddsa-jcs-2022)
    suite = dataintegrity.CRYPTOSUITE_RDFC if "@context" in document else dataintegrity.CRYPTOSUITE_JCS
    return dataintegrity.sign(document, seed, method, CREATED, cryptosuite=suite)


@pytest.fixture
def real(world: World, client: TestClient) -> tuple[dict[str, Any], dict[str, Any]]:
    """A real certificate of the world's school, and its real evidence bundle."""
    result = world.issue()
    world.publish()
    bundle = client.get(f"/api/v1/certificates/{result.certificate.id}/evidence").json()
    return result.credential, bundle


@pytest.fixture
def trust_file(client: TestClient, tmp_path: Path) -> str:
    path = tmp_path / "trust.json"
    path.write_text(json.dumps(client.get("/trust.json").json()), encoding="utf-8")
    return str(path)


@pytest.fixture
def forgery(real: tuple[dict[str, Any], dict[str, Any]], world: World, tmp_path: Path) -> Forgery:
    credential, real_bundle = real
    seed = bytes(range(1, 33))
    issuer = credential["issuer"]["id"]  # the registered school, impersonated
    method = f"{issuer}#forged"
    did_document = build_did_document(
        issuer, [KeyInfo("forged", signing.public_key(seed), created=KEY_CREATED)]
    )
    # 1. status lists in the school's name, at the service's URLs, signed by the forger
    lists, entries = [], []
    for purpose in ("revocation", "suspension"):
        url = f"{BASE}/status-lists/forged-{purpose}"
        unsigned = statuslist.status_list_credential(url, issuer, statuslist.Bitstring(), purpose=purpose)
        lists.append(_sign(unsigned, seed, method))
        entries.append(statuslist.status_entry(url, 3, purpose))
    # 2. a one-leaf tree: a recognition of 60 credits, checkpointed under the bank's log origin
    origin = credential["credentialSubject"]["creditTransfer"]["ledgerReference"]["logOrigin"]
    lot_id = LotId("lot_forged00000000000000")
    learner = LearnerId(world.learner_id)
    data = leaf.encode(
        leaf.Leaf(
            log=LogId("main"),
            seq=0,
            id=leaf.TransactionId("jtx_forged"),
            kind=leaf.TxKind.recognition,
            time="2026-01-01T00:00:00.000Z",
            postings=(
                leaf.Posting(leaf.issuer_account("ins_x"), Decimal("-60.00"), lot_id),
                leaf.Posting(leaf.available_account(learner), Decimal("60.00"), lot_id),
            ),
            lots=(
                leaf.NewLot(
                    id=lot_id,
                    learner=learner,
                    issuer=InstitutionId(world.institution_id),
                    credits=Decimal("60.00"),
                    category="vocational",
                    level=4,
                    field="",
                    rule=leaf.RuleCitation("r1", "1", "00" * 32),
                ),
            ),
        )
    )
    root = merkle.leaf_hash(data)
    log_signer = note.NoteSigner(origin, bytes(range(2, 34)))
    checkpoint = note.sign_checkpoint(note.Checkpoint(origin, 1, root), log_signer).decode("utf-8")
    # 3. the certificate, in the school's name, citing the forged leaf
    unsigned = {k: v for k, v in copy.deepcopy(credential).items() if k != "proof"}
    subject = unsigned["credentialSubject"]
    subject["creditsEarned"] = 60
    subject["creditTransfer"]["lotIds"] = [lot_id]
    subject["creditTransfer"]["ruleCitation"] = {
        "type": "RuleCitation",
        "ruleId": "r1",
        "ruleVersion": "1",
        "ruleSetHash": "00" * 32,
    }
    subject["creditTransfer"]["ledgerReference"] = {
        "type": "LedgerReference",
        "logOrigin": origin,
        "sequenceNumber": 0,
        "leafHash": base64.b64encode(root).decode("ascii"),
    }
    unsigned["credentialStatus"] = entries
    certificate = _sign(unsigned, seed, method)
    # 4. the bundle: the forger's DID document, lists, registers and ledger evidence
    bank_did = real_bundle["signedIssuerRegister"]["issuer"]
    forged_register = _sign(
        trust.register_document(
            [trust.RegisteredIssuer(issuer, "registered institution (forged)", did_document)],
            bank_did,
            CREATED,
        ),
        seed,
        f"{bank_did}#forged",
    )
    evidence = LedgerEvidence(
        log_origin=origin,
        verifier_key=log_signer.verifier().to_text(),
        index=0,
        size=1,
        leaf_hash=root,
        proof=[],
        checkpoint=checkpoint,
        leaf=data,
    )
    bundle = {
        "type": "CertificateEvidence",
        "version": 1,
        "certificateId": certificate["id"],
        "didDocuments": [
            did_document,
            build_did_document(bank_did, [KeyInfo("forged", signing.public_key(seed), created=KEY_CREATED)]),
        ],
        "statusLists": lists,
        "issuerRegister": [{"did": issuer, "description": "registered institution"}],
        "signedIssuerRegister": forged_register,
        "ledger": [evidence.to_json()],
    }
    paths = {}
    for name, value in {
        "cert": certificate,
        "bundle": bundle,
        "did": did_document,
        "sl0": lists[0],
        "sl1": lists[1],
        "ledger": evidence.to_json(),
        "register": forged_register,
    }.items():
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(value, ensure_ascii=False), encoding="utf-8")
        paths[name] = str(path)
    paths["forged_log_key"] = log_signer.verifier().to_text()
    return Forgery(certificate, bundle, paths)


def _verify(*args: str) -> tuple[int, dict[str, Any]]:
    result = runner.invoke(app, ["verify", *args, "--json"])
    assert result.exit_code in (1, 2), result.output
    return result.exit_code, json.loads(result.output) if result.exit_code == 1 else {"valid": False}


class TestForgedBundle:
    def test_the_forgery_is_self_consistent(self, forgery: Forgery) -> None:
        """Trusting what the bundle says (its log key, its DID document) the forgery would pass: that is
        exactly what the verifier must refuse to do."""
        claimed_key = note.NoteVerifier.parse(forgery.paths["forged_log_key"])
        cp = note.open_checkpoint(forgery.bundle["ledger"][0]["checkpoint"].encode(), claimed_key)
        assert cp.size == 1
        did_document = forgery.bundle["didDocuments"][0]
        dataintegrity.verify(
            forgery.certificate,
            lambda m: key_for_proof(did_document, m, dataintegrity.parse_datetime(CREATED)),
        )

    def test_bundle_alone(self, forgery: Forgery) -> None:
        code, report = _verify(forgery.paths["cert"], "--ledger-evidence", forgery.paths["bundle"])
        assert code == 1 and report["valid"] is False
        failed = {c["name"] for c in report["checks"] if not c["ok"]}
        assert {"proof", "key", "issuer", "status", "ledger"} <= failed

    def test_bundle_with_the_trust_file(self, forgery: Forgery, trust_file: str) -> None:
        code, report = _verify(
            forgery.paths["cert"], "--ledger-evidence", forgery.paths["bundle"], "--trust", trust_file
        )
        assert code == 1 and report["valid"] is False
        failed = {c["name"]: c["detail"] for c in report["checks"] if not c["ok"]}
        assert {"proof", "key", "issuer", "status", "ledger"} <= set(failed)
        assert "does not verify" in failed["ledger"] or "signature" in failed["ledger"]

    def test_bundle_with_the_real_log_key(self, forgery: Forgery, trust_file: str) -> None:
        real_key = json.loads(Path(trust_file).read_text(encoding="utf-8"))["logs"][0]["verifierKey"]
        code, report = _verify(
            forgery.paths["cert"], "--ledger-evidence", forgery.paths["bundle"], "--log-key", real_key
        )
        assert code == 1 and report["valid"] is False
        assert {"proof", "ledger"} <= {c["name"] for c in report["checks"] if not c["ok"]}

    def test_separate_files(self, forgery: Forgery, trust_file: str) -> None:
        p = forgery.paths
        code, report = _verify(
            p["cert"],
            "--did-document",
            p["did"],
            "--status-list",
            p["sl0"],
            "--status-list",
            p["sl1"],
            "--ledger-evidence",
            p["ledger"],
            "--ledger-evidence",
            p["register"],
            "--trust",
            trust_file,
        )
        assert code == 1 and report["valid"] is False
        assert {"proof", "key", "issuer", "ledger"} <= {c["name"] for c in report["checks"] if not c["ok"]}

    def test_online(self, forgery: Forgery, client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(verify_cli, "_http_client", lambda url: TestClient(client.app))
        for extra in ([], ["--ledger-evidence", forgery.paths["bundle"]]):
            code, report = _verify(forgery.paths["cert"], "--url", BASE, *extra)
            assert code == 1 and report["valid"] is False
            assert {"proof", "key", "ledger"} <= {c["name"] for c in report["checks"] if not c["ok"]}

    def test_verify_endpoint(self, forgery: Forgery, client: TestClient) -> None:
        body = client.post("/api/v1/verify", json={"certificate": forgery.certificate}).json()
        assert body["valid"] is False
        assert {"proof", "key", "ledger"} <= {c["name"] for c in body["checks"] if not c["ok"]}

    def test_the_real_certificate_still_passes_every_invocation(
        self, real: tuple[dict[str, Any], dict[str, Any]], trust_file: str, tmp_path: Path
    ) -> None:
        credential, bundle = real
        cert, ev = tmp_path / "real.json", tmp_path / "real-ev.json"
        cert.write_text(json.dumps(credential), encoding="utf-8")
        ev.write_text(json.dumps(bundle), encoding="utf-8")
        result = runner.invoke(
            app, ["verify", str(cert), "--ledger-evidence", str(ev), "--trust", trust_file]
        )
        assert result.exit_code == 0, result.output
        result = runner.invoke(app, ["verify", str(cert), "--ledger-evidence", str(ev)])
        assert result.exit_code == 1, "no trust roots given: never VALID"
        assert "no pinned key for the log" in result.output


class TestLeafBinding:
    """Signed with the issuer's real key, but claiming what the leaf does not record."""

    def _resign(self, world: World, document: dict[str, Any]) -> dict[str, Any]:
        unsigned = {k: v for k, v in document.items() if k != "proof"}
        signer = world.run(
            lambda s: keys.signer_for(s, world.ctx.secrets.master_key, BASE, world.institution_id)
        )
        return dataintegrity.sign(
            unsigned, signer.seed, signer.verification_method, document["proof"]["created"]
        )

    @pytest.mark.parametrize(
        ("change", "message"),
        [
            (lambda s: s.update(creditsEarned=50), "claims 50 credits, the leaf records 2.50"),
            (lambda s: s["creditTransfer"].update(lotIds=["lot_other"]), "the leaf records ['lot_"),
            (lambda s: s["creditTransfer"]["ruleCitation"].update(ruleVersion="99"), "cites rule"),
            (lambda s: s.update(identifier=[{**s["identifier"][0], "salt": "00"}]), "not the learner"),
        ],
    )
    def test_claims_beyond_the_leaf_fail_ledger(
        self,
        world: World,
        client: TestClient,
        real: tuple[dict[str, Any], dict[str, Any]],
        change: Any,
        message: str,
    ) -> None:
        credential, _ = real
        changed = copy.deepcopy(credential)
        change(changed["credentialSubject"])
        forged = self._resign(world, changed)
        report = verify_certificate(forged, HttpResolver(BASE, client))
        assert report.failed == ["ledger"], report.to_json()
        assert message in report.check("ledger").detail
        body = client.post("/api/v1/verify", json={"certificate": forged}).json()
        assert [c["name"] for c in body["checks"] if not c["ok"]] == ["ledger"]

    def test_evidence_without_the_leaf_fails(
        self, world: World, client: TestClient, real: tuple[dict[str, Any], dict[str, Any]], trust_file: str
    ) -> None:
        credential, bundle = real
        stripped = copy.deepcopy(bundle)
        del stripped["ledger"][0]["leaf"]
        resolver = OfflineResolver(trust=trust.TrustRoots.from_json(json.loads(Path(trust_file).read_text())))
        resolver.add_bundle(stripped)
        report = verify_certificate(credential, resolver)
        assert report.failed == ["ledger"]
        assert "does not carry the leaf" in report.check("ledger").detail
