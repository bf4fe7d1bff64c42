"""Who is handed the signed credential (the JSON a school converts): the learner, the destination the
learner named, and the learner's share link; every such read by someone else is in the learner's
access log. Written from the side of everyone else who may see a certificate's record."""

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Connection, text

from creditbank.auth.models import Role
from creditbank.context import AppContext
from tests.catalog.scenario import Scenario, build
from tests.conftest import Tokens


def _transfer(s: Scenario) -> dict[str, Any]:
    r = s.post(
        "/api/v1/transfers",
        {"lot_ids": s.lots[:1], "destination_institution_id": s.dest, "programme_id": s.programme},
        s.learner_headers,
        "t",
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


def _log(db: Connection, learner_id: str) -> list[tuple[str, str | None, str]]:
    rows = db.execute(
        text(
            "SELECT reader_role, reader_subject, what FROM archive_access_log "
            "WHERE learner_id = :l ORDER BY id"
        ),
        {"l": learner_id},
    )
    return [(r.reader_role, r.reader_subject, r.what) for r in rows]


class TestCertificateRead:
    def test_only_the_learner_and_the_destination_receive_the_credential(
        self, client: TestClient, auth: Tokens, ctx: AppContext, db: Connection
    ) -> None:
        s = build(client, auth, ctx)
        transfer = _transfer(s)
        [cid] = transfer["certificate_ids"]
        seen: dict[str, Any] = {}
        for who, headers in (
            ("learner", s.learner_headers),
            ("destination", s.dest_headers),
            ("issuer", s.source_headers),
            ("admin", auth(Role.admin)),
            ("auditor", auth(Role.auditor)),
        ):
            r = client.get(f"/api/v1/certificates/{cid}", headers=headers)
            assert r.status_code == 200, (who, r.text)
            seen[who] = r.json()["credential"]
        assert seen["learner"] == seen["destination"] == transfer["certificates"][0]
        assert seen["issuer"] is None and seen["admin"] is None and seen["auditor"] is None
        # a school that is neither issuer nor destination reads nothing at all
        assert client.get(f"/api/v1/certificates/{cid}", headers=s.other_headers).status_code == 403
        log = _log(db, s.learner)
        assert ("institution", s.dest, f"certificate {cid} credential") in log
        assert ("institution", s.source, f"certificate {cid}") in log
        assert not any(role == "learner" for role, _, _ in log), "the learner's own reads are not logged"

    def test_a_transfer_lists_its_certificates_to_the_learner_and_destination_only(
        self, client: TestClient, auth: Tokens, ctx: AppContext, db: Connection
    ) -> None:
        s = build(client, auth, ctx)
        transfer = _transfer(s)
        path = f"/api/v1/transfers/{transfer['id']}"
        assert client.get(path, headers=s.learner_headers).json()["certificates"] == transfer["certificates"]
        assert client.get(path, headers=s.dest_headers).json()["certificates"] == transfer["certificates"]
        for headers in (s.source_headers, auth(Role.admin), auth(Role.auditor)):
            r = client.get(path, headers=headers)
            assert r.status_code == 200 and r.json()["certificates"] == [], r.text
        assert ("institution", s.dest, f"transfer {transfer['id']} credentials") in _log(db, s.learner)

    def test_the_archive_carries_credentials_only_for_the_learner(
        self, client: TestClient, auth: Tokens, ctx: AppContext
    ) -> None:
        s = build(client, auth, ctx)
        _transfer(s)
        path = f"/api/v1/learners/{s.learner}/archive"
        own = client.get(path, headers=s.learner_headers).json()
        assert own["certificates"] and all(c["credential"] for c in own["certificates"])
        for reader in (auth(Role.admin), auth(Role.auditor)):
            r = client.get(path, headers=reader)
            assert r.status_code == 200, r.text
            assert r.json()["certificates"] and all(c["credential"] is None for c in r.json()["certificates"])
        export = client.get(f"{path}/export", headers=auth(Role.admin)).json()
        assert all(c["credential"] is None for c in export["certificates"])
