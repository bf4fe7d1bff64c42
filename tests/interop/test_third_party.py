"""Certificates of a running service, checked by verifiers the project did not write.

A real server process serves the demo world; ``verify.mjs`` (Node, packages pinned by this folder's
``package-lock.json``, installed by ``make test`` with ``npm ci``) verifies what it issued with
Digital Bazaar's ``@digitalbazaar/vc`` + ``data-integrity`` + ``eddsa-rdfc-2022-cryptosuite`` +
``vc-bitstring-status-list``, validates it with ``ajv`` against 1EdTech's OB 3.0 / CLR 2.0 JSON
Schemas, and runs the Digital Credentials Consortium's ``@digitalcredentials/verifier-core``.
Contexts come from their publishers' npm packages, ours from the running service.

The ``TestWhatFailedBefore`` cases feed the same verifiers the shapes the service issued before
(an unresolvable context URL, a ``credentialStatus`` array, an ``eddsa-jcs-2022`` proof only, a
compromised key still under ``assertionMethod``) and check each is rejected, with the message the
issue reported: they show the tests can fail, and on what.
"""

import copy
import datetime as dt
import json
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import Session, col, select

from creditbank.config import Settings
from creditbank.context import AppContext, build_context
from creditbank.credentials import issuance, keys
from creditbank.credentials import service as certificates
from creditbank.db import create_engine, transaction, utcnow
from creditbank.demo import load_demo, load_exchange
from creditbank.ledger.models import JournalTransaction, Lot
from creditbank.standards.vc import dataintegrity, statuslist
from creditbank.standards.vc.contexts import LEGACY_CREDIT_TRANSFER_CONTEXT, is_credit_transfer_context
from tests.support.postgres import PostgresServer
from tests.support.server import ServerProcess, free_port, prepare_database

pytestmark = [pytest.mark.slow]

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "verify.mjs"


@dataclass
class Service:
    server: ServerProcess
    ctx: AppContext
    valid: dict[str, Any]
    revoked: dict[str, Any]

    @property
    def base(self) -> str:
        return self.server.base_url

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in a committed transaction, so the running server sees what it wrote."""
        with self.ctx.sessions() as session, session.begin():
            yield session


def _node() -> str:
    node = shutil.which("node")
    if node is None or not (HERE / "node_modules").is_dir():
        pytest.fail(
            "the interop tests need Node 20 and `npm ci --no-audit --no-fund` in tests/interop "
            "(`make test` does both)",
            pytrace=False,
        )
    return node


def third_party(
    service: Service, credential: dict[str, Any], *, schema: str = "ob", dcc: bool = False
) -> dict[str, Any]:
    """Run verify.mjs on one credential; its JSON verdict."""
    job = service.server.var_dir / f"job-{credential['id'].rsplit(':', 1)[-1]}.json"
    out = job.with_suffix(".out.json")
    job.write_text(json.dumps({"base": service.base, "credential": credential, "schema": schema, "dcc": dcc}))
    done = subprocess.run(
        [_node(), str(SCRIPT), str(job), str(out)],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=HERE,
        check=False,
    )
    assert done.returncode == 0 and out.is_file(), (done.stdout + done.stderr)[-3000:]
    verdict: dict[str, Any] = json.loads(out.read_text())
    out.unlink()
    return verdict


def _server_log(service: Service) -> str:
    return (service.server.var_dir / f"server-{service.server.port}.log").read_text(errors="replace")[-3000:]


@pytest.fixture(scope="module")
def service(pg_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    var_dir = tmp_path_factory.mktemp("interop-var")
    port = free_port()
    url = prepare_database(pg_server, "creditbank_interop", var_dir)
    engine = create_engine(url, pool_size=2)
    settings = Settings(
        var_dir=var_dir, database_url=url, base_url=f"http://127.0.0.1:{port}", background_publisher=False
    )
    ctx = build_context(settings, engine=engine)
    for session in transaction(ctx.sessions):
        load_demo(session, ctx)
        valid, revoked = load_exchange(session, ctx)
    server = ServerProcess(url, var_dir, port=port).start()
    try:
        yield Service(server, ctx, valid, revoked)
    finally:
        server.stop()
        engine.dispose()


def _certifiable_lots(session: Session, learner_id: str, issuer_id: str | None, count: int) -> list[str]:
    """Lots of the learner (of one issuer, when given) whose recognition stands and that have not expired."""
    reversed_ids = set(session.exec(select(JournalTransaction.reverses_id)).all())
    stmt = select(Lot).where(col(Lot.learner_id) == learner_id).order_by(col(Lot.created_at))
    if issuer_id is not None:
        stmt = stmt.where(col(Lot.issuer_id) == issuer_id)
    today = dt.date.today()
    lots = [
        lot.id
        for lot in session.exec(stmt).all()
        if lot.recognition_tx_id not in reversed_ids and (lot.expires_on is None or lot.expires_on > today)
    ]
    assert len(lots) >= count, "the demo world has too few lots for this test"
    return lots[:count]


def _issue(service: Service, count: int = 1) -> tuple[str, dict[str, Any]]:
    """Issue a certificate (a CLR bundle when count > 1) for spare lots of the valid certificate's learner."""
    with service.session() as session:
        row = certificates.by_credential_id(session, service.valid["id"])
        assert row is not None
        lots = _certifiable_lots(session, row.learner_id, row.issuer_owner_id if count == 1 else None, count)
        if count == 1:
            issued = issuance.issue_lot_certificate(session, service.ctx, lot_id=lots[0])
        else:
            issued = issuance.issue_clr_bundle(session, service.ctx, lot_ids=lots)
    return issued.certificate.id, issued.credential


class TestDigitalBazaar:
    def test_demo_certificate_verifies_with_its_status(self, service: Service) -> None:
        verdict = third_party(service, service.valid)
        assert verdict["digitalBazaar"]["verified"] is True, verdict["digitalBazaar"]["error"]
        [status] = verdict["digitalBazaar"]["status"]["results"]
        assert status == {"verified": True, "purpose": "revocation", "status": False, "error": None}
        # (a) our context came from the running service, every other one from its npm package
        assert f"{service.base}/contexts/credit-transfer/v1" in verdict["loaded"]
        assert not [u for u in verdict["loaded"] if "creditbank.example" in u]

    def test_revoked_demo_certificate_reads_revoked(self, service: Service) -> None:
        verdict = third_party(service, service.revoked)
        # the library's `verified` covers the proofs and that the status could be checked; the
        # status itself is in the results: `status: true` means the revocation bit is set
        [status] = verdict["digitalBazaar"]["status"]["results"]
        assert status["purpose"] == "revocation"
        assert status["status"] is True

    def test_clr_bundle_and_its_parts(self, service: Service) -> None:
        _, bundle = _issue(service, count=2)
        verdict = third_party(service, bundle, schema="clr")
        assert verdict["digitalBazaar"]["verified"] is True, (verdict, _server_log(service))
        assert verdict["schema"] == {"valid": True, "errors": []}
        assert len(verdict["parts"]) == 2
        for part in verdict["parts"]:
            assert part["digitalBazaar"]["verified"] is True, part["digitalBazaar"]["error"]
            assert part["schema"] == {"valid": True, "errors": []}

    def test_tampered_credits_fail(self, service: Service) -> None:
        forged = copy.deepcopy(service.valid)
        forged["credentialSubject"]["creditsEarned"] = 40
        assert third_party(service, forged)["digitalBazaar"]["verified"] is False


class TestSchemas:
    @pytest.mark.parametrize("which", ["valid", "revoked"])
    def test_lot_certificates_validate_against_ob30(self, service: Service, which: str) -> None:
        verdict = third_party(service, getattr(service, which))
        assert verdict["schema"] == {"valid": True, "errors": []}


class TestVerifierCore:
    def test_dcc_verifier_accepts_a_valid_certificate(self, service: Service) -> None:
        verdict = third_party(service, service.valid, dcc=True)
        assert verdict["dcc"]["signature"] is True, verdict["dcc"]
        assert verdict["dcc"]["errors"] == []


class TestWhatFailedBefore:
    """The shapes issued before, through the same verifiers: each is rejected (the issue's (a)-(d))."""

    def _resigned(self, service: Service, document: dict[str, Any], cryptosuite: str) -> dict[str, Any]:
        with service.session() as session:
            row = certificates.by_credential_id(session, document["id"])
            assert row is not None
            signer = keys.signer_for(
                session, service.ctx.secrets.master_key, service.base, row.issuer_owner_id
            )
        unsigned = {k: v for k, v in document.items() if k != "proof"}
        return dataintegrity.sign(
            unsigned,
            signer.seed,
            signer.verification_method,
            document["proof"]["created"],
            cryptosuite=cryptosuite,
        )

    def test_a_unresolvable_context(self, service: Service) -> None:
        old = copy.deepcopy(service.valid)
        old["@context"] = [
            LEGACY_CREDIT_TRANSFER_CONTEXT if is_credit_transfer_context(c) else c for c in old["@context"]
        ]
        verdict = third_party(service, self._resigned(service, old, dataintegrity.CRYPTOSUITE_RDFC))
        assert verdict["digitalBazaar"]["verified"] is False
        assert "creditbank.example" in (verdict["digitalBazaar"]["error"] or "")

    def test_b_status_array(self, service: Service) -> None:
        old = copy.deepcopy(service.valid)
        old["credentialStatus"] = [
            old["credentialStatus"],
            {**old["credentialStatus"], "statusPurpose": "suspension"},
        ]
        verdict = third_party(service, old)
        assert verdict["schema"]["valid"] is False
        assert "/credentialStatus must be object" in verdict["schema"]["errors"]

    def test_c_jcs_only(self, service: Service) -> None:
        old = self._resigned(service, service.valid, dataintegrity.CRYPTOSUITE_JCS)
        verdict = third_party(service, old, dcc=True)
        assert verdict["digitalBazaar"]["verified"] is False
        assert "insufficient proofs matched the acceptable suite" in (verdict["digitalBazaar"]["error"] or "")
        assert verdict["dcc"]["signature"] is False


class TestKeyCompromise:
    def test_compromised_key_is_rejected_and_the_reissue_accepted(self, service: Service) -> None:
        certificate_id, before = _issue(service)
        assert third_party(service, before)["digitalBazaar"]["verified"] is True
        # the key leaks; an attacker signs a certificate with it, dated before the compromise
        with service.session() as session:
            row = certificates.get(session, certificate_id)
            key_id = row.key_id
            signer = keys.signer_for(
                session, service.ctx.secrets.master_key, service.base, row.issuer_owner_id
            )
            assert signer.key_id == key_id
            seed, method = signer.seed, signer.verification_method
            _, reissued = certificates.compromise_key(session, service.ctx, key_id, utcnow())
            pairs = {old.id: new for old, new in reissued}
            assert certificate_id in pairs
            new_id, new_key = pairs[certificate_id].id, pairs[certificate_id].key_id
        assert new_key != key_id
        forged = {k: v for k, v in before.items() if k != "proof"}
        forged["credentialSubject"] = {**forged["credentialSubject"], "creditsEarned": 40}
        forged = dataintegrity.sign(forged, seed, method, before["proof"]["created"])
        # (d) Digital Bazaar's verifier no longer accepts the leaked key, even for a backdated proof
        verdict = third_party(service, forged)
        assert verdict["digitalBazaar"]["verified"] is False
        assert "assertionMethod" in (verdict["digitalBazaar"]["error"] or "")
        # the certificate it signed before was re-issued under the fresh key and verifies
        with service.session() as session:
            old, new = certificates.get(session, certificate_id), certificates.get(session, new_id)
            assert certificates.status_of(old) == "superseded"
            assert old.successor_id == new.id
            assert new.lot_ids == old.lot_ids
            renewed = new.document
        assert third_party(service, renewed)["digitalBazaar"]["verified"] is True
        # the old one fails for everyone (its key is no longer an assertion method), and its
        # revocation bit is set too: it was superseded
        assert third_party(service, before)["digitalBazaar"]["verified"] is False
        listed = httpx.get(before["credentialStatus"]["statusListCredential"], timeout=30).json()
        assert statuslist.read_status(listed, before["credentialStatus"]) is True
