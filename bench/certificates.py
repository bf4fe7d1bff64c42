"""Certificate benchmark: issuance per second, offline verification per second on one core against
raw Ed25519 verification of the same signed bytes, and signing and verifying per second for each
cryptosuite (eddsa-rdfc-2022, eddsa-jcs-2022) on the same document (all measured in the same run).

Offline verification here is the full check list of ``creditbank verify`` with local files: the
Data Integrity proof (RDF canonicalisation, SHA-256, Ed25519), the key's validity in the issuer's DID
document, the issuer register, the signed status list (its own proof, then the bit), validity dates,
and the ledger inclusion proof against a signed checkpoint.

Run: .venv/bin/python bench/certificates.py [--certificates 200] [--verifications 200] [--rounds 100]
"""

import argparse
import datetime as dt
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from common import write_results
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fastapi.testclient import TestClient

os.environ.setdefault("CREDITBANK_LOG_LEVEL", "WARNING")

from creditbank.auth.models import Role
from creditbank.auth.service import create_token
from creditbank.credentials import issuance
from creditbank.db import transaction
from creditbank.ids import InstitutionId, LearnerId
from creditbank.ledger import service as ledger
from creditbank.main import create_app
from creditbank.standards.vc import dataintegrity
from creditbank.standards.vc.resolvers import OfflineResolver
from creditbank.standards.vc.trust import TrustRoots
from creditbank.standards.vc.verification import verify_certificate
from creditbank.transparency import store
from tests.support.postgres import start_postgres
from tests.support.server import prepare_database
from tests.support.world import build_world


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--certificates", type=int, default=200)
    parser.add_argument("--verifications", type=int, default=200)
    parser.add_argument(
        "--rounds", type=int, default=100, help="signatures and verifications per cryptosuite"
    )
    args = parser.parse_args()

    pg = start_postgres(fsync=True)
    var = Path(tempfile.mkdtemp(prefix="creditbank-bench-"))
    try:
        url = prepare_database(pg, "bench_certificates", var)
        world = build_world(url, var, n_institutions=1, n_learners=20)
        ctx = world.ctx
        issuer_id = world.institutions[0][0]
        for session in transaction(ctx.sessions):
            pairs = ledger.record_recognitions(
                session,
                [
                    ledger.Recognition(
                        learner_id=LearnerId(world.learners[i % 20]),
                        issuer_id=InstitutionId(issuer_id),
                        credits=ledger.credits("2.5"),
                        category="non_degree_training",
                        level=3,
                        field="web_front_end",
                        rule_id="BJ-REC-TRAIN",
                        rule_version="2",
                        rule_set_hash="0" * 64,
                    )
                    for i in range(args.certificates)
                ],
            )
            store.publish_checkpoint(session, ctx.secrets.master_key, "main")
            _, admin = create_token(session, ctx.token_key, Role.admin)
        lot_ids = [lot.id for _, lot in pairs]
        # issuance: one transaction per certificate, as the API does it
        start = time.perf_counter()
        issued: list[tuple[str, dict[str, Any]]] = []
        for lot_id in lot_ids:
            for session in transaction(ctx.sessions):
                cert = issuance.issue_lot_certificate(session, ctx, lot_id=lot_id)
                issued.append((cert.certificate.id, cert.credential))
        issue_seconds = time.perf_counter() - start

        # offline evidence for one certificate, as `creditbank verify --evidence` would read it
        with TestClient(create_app(ctx=ctx)) as client:
            cert_id, document = issued[0]
            evidence = client.get(
                f"/api/v1/certificates/{cert_id}/evidence", headers={"Authorization": f"Bearer {admin}"}
            ).json()
            roots = TrustRoots.from_json(client.get("/trust.json").json())
        resolver = OfflineResolver(trust=roots)
        resolver.add_bundle(evidence)
        report = verify_certificate(document, resolver)
        assert report.valid, report.to_json()

        now = dt.datetime.now(dt.UTC)
        start = time.perf_counter()
        for _ in range(args.verifications):
            verify_certificate(document, resolver, now=now)
        verify_seconds = time.perf_counter() - start

        # baseline: raw Ed25519 verification of the very bytes the proof signs
        proof = document["proof"]
        config = {k: v for k, v in proof.items() if k != "proofValue"}
        suite = proof["cryptosuite"]
        config["@context"] = document["@context"]
        data = dataintegrity.hash_data(
            dataintegrity.canonical_proof_config(config, suite),
            dataintegrity.canonical_document(document, suite),
        )
        from creditbank.standards.vc.multikey import decode_base58btc, decode_public_key

        signature = decode_base58btc(proof["proofValue"])
        method = proof["verificationMethod"]
        did_document = resolver.did_document(method.split("#")[0])
        raw_key = next(
            decode_public_key(vm["publicKeyMultibase"])
            for vm in did_document["verificationMethod"]
            if vm["id"] == method
        )
        public = Ed25519PublicKey.from_public_bytes(raw_key)
        start = time.perf_counter()
        for _ in range(args.verifications):
            public.verify(signature, data)
        raw_seconds = time.perf_counter() - start
        suites = _per_suite(document, args.rounds)
    finally:
        pg.stop()

    verify_rate = args.verifications / verify_seconds
    raw_rate = args.verifications / raw_seconds
    issue_rate = args.certificates / issue_seconds
    print(f"{'measure':52} {'value':>12}")
    print(f"{'issuance, certificates/s (one transaction each)':52} {issue_rate:>12,.0f}")
    print(f"{'offline verification, all checks, /s on one core':52} {verify_rate:>12,.0f}")
    print(f"{'raw Ed25519 verification of the same bytes, /s':52} {raw_rate:>12,.0f}")
    print(f"{'raw / full verification (times slower)':52} {raw_rate / verify_rate:>12.1f}")
    print(f"{'target: offline verifications/s':52} {'>= 1,000':>12}")
    print()
    print(f"{'cryptosuite (one lot certificate, one core)':44} {'sign/s':>10} {'verify/s':>10}")
    for name, (sign_rate, check_rate) in suites.items():
        print(f"{name:44} {sign_rate:>10,.0f} {check_rate:>10,.0f}")
    rdfc, jcs = suites[dataintegrity.CRYPTOSUITE_RDFC], suites[dataintegrity.CRYPTOSUITE_JCS]
    print(f"{'jcs / rdfc (times faster)':44} {jcs[0] / rdfc[0]:>10.1f} {jcs[1] / rdfc[1]:>10.1f}")
    out = {
        "arguments": vars(args),
        "issuance_per_s": issue_rate,
        "offline_verifications_per_s": verify_rate,
        "raw_ed25519_verifications_per_s": raw_rate,
        "ratio_raw_over_full": raw_rate / verify_rate,
        "certificates": args.certificates,
        "verifications": args.verifications,
        "per_cryptosuite": {
            name: {"sign_per_s": sign_rate, "verify_per_s": check_rate, "rounds": args.rounds}
            for name, (sign_rate, check_rate) in suites.items()
        },
        "ratio_jcs_over_rdfc_sign": jcs[0] / rdfc[0],
        "ratio_jcs_over_rdfc_verify": jcs[1] / rdfc[1],
    }
    print(f"written {write_results('certificates', out)}")


def _per_suite(document: dict[str, Any], rounds: int) -> dict[str, tuple[float, float]]:
    """Signing and proof verification per second of the same unsigned document, for each cryptosuite."""
    from creditbank.crypto import signing

    unsigned = {k: v for k, v in document.items() if k != "proof"}
    seed = bytes(range(32))
    public = signing.public_key(seed)
    method, created = document["proof"]["verificationMethod"], document["proof"]["created"]
    rates: dict[str, tuple[float, float]] = {}
    for suite in (dataintegrity.CRYPTOSUITE_RDFC, dataintegrity.CRYPTOSUITE_JCS):
        start = time.perf_counter()
        for _ in range(rounds):
            signed = dataintegrity.sign(unsigned, seed, method, created, cryptosuite=suite)
        sign_seconds = time.perf_counter() - start
        start = time.perf_counter()
        for _ in range(rounds):
            dataintegrity.verify_proofs(signed, lambda _vm: public)
        verify_seconds = time.perf_counter() - start
        rates[suite] = (rounds / sign_seconds, rounds / verify_seconds)
    return rates


if __name__ == "__main__":
    main()
