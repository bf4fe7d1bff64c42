"""The learner's archive, its export, and erasure by crypto-shredding."""

import base64
import json
from decimal import Decimal

from fastapi.testclient import TestClient
from sqlalchemy import Connection, text
from sqlmodel import Session, col, select

from creditbank.audit.replay import replay
from creditbank.auth.models import Role
from creditbank.context import AppContext
from creditbank.learners import service as learners
from creditbank.learners.models import Learner, LearnerVault
from creditbank.ledger import service as ledger
from creditbank.ledger.models import JournalTransaction
from creditbank.outcomes import records
from creditbank.outcomes import service as outcomes
from creditbank.outcomes.models import Outcome
from creditbank.outcomes.schemas import OutcomeCreate
from creditbank.standards.tlog import merkle
from creditbank.transparency import store
from creditbank.transparency.models import SignedCheckpoint
from tests.conftest import Tokens
from tests.outcomes.factories import Desk, key, training, work_experience
from tests.support.factories import create_institution, grant, identity_number

PROBLEM = "application/problem+json"


def _access(db: Connection, learner_id: str) -> list[tuple[str, str]]:
    rows = db.execute(
        text("SELECT reader_role, what FROM archive_access_log WHERE learner_id = :l ORDER BY id"),
        {"l": learner_id},
    )
    return [(r.reader_role, r.what) for r in rows]


class TestArchive:
    def test_everything_with_its_explanation_and_ledger_reference(
        self, client: TestClient, auth: Tokens, session: Session
    ) -> None:
        desk = Desk(client, auth, name="周晓燕")
        kept = desk.posted(training(reference="T-1", hours=48))
        converted = desk.posted(training(reference="T-2", hours=64))
        waiting = desk.posted(work_experience())
        revoked = desk.posted(training(reference="T-3", hours=32))
        old = desk.posted(training(reference="T-4", hours=40))
        assert desk.revoke(revoked["id"], reason="学员未完成考核").status_code == 200
        fixed = desk.correct(old["id"], training(reference="T-4", hours=48)).json()["outcome"]
        with session.begin():
            ledger.convert_lots(
                session,
                learner_id=desk.learner_id,
                lot_ids=[converted["recognition"]["lot_id"]],
                programme_id="prog-web-2026",
                institution_id=desk.institution_id,
            )

        archive = desk.archive(headers=auth(Role.learner, desk.learner_id))
        assert archive["learner"]["name"] == "周晓燕" and archive["learner"]["erased"] is False
        by_id = {o["id"]: o for o in archive["outcomes"]}
        assert set(by_id) == {
            kept["id"],
            converted["id"],
            waiting["id"],
            revoked["id"],
            old["id"],
            fixed["id"],
        }
        named = {"kept": kept, "waiting": waiting, "revoked": revoked, "old": old, "fixed": fixed}
        statuses = {k: by_id[v["id"]]["recognition"]["status"] for k, v in named.items()}
        assert statuses == {
            "kept": "recognised",
            "waiting": "review",
            "revoked": "revoked",
            "old": "superseded",
            "fixed": "recognised",
        }
        first = by_id[kept["id"]]
        assert (
            "48 学时" in first["recognition"]["explanation_zh"]
            and "48 hours" in first["recognition"]["explanation_en"]
        )
        assert first["recognition"]["rule_id"] == "BJ-REC-TRAIN" and first["recognition"]["rule_set_hash"]
        assert [e["kind"] for e in first["events"]] == ["recognised"]
        assert by_id[old["id"]]["superseded_by"] == fixed["id"]
        assert "hours: 40 -> 48" in by_id[old["id"]]["events"][-1]["detail_en"]
        assert by_id[revoked["id"]]["events"][-1]["kind"] == "revoked"
        assert "学员未完成考核" in by_id[revoked["id"]]["events"][-1]["detail_zh"]

        lots = {lot["outcome_id"]: lot for lot in archive["lots"]}
        assert lots[kept["id"]]["state"] == "available"
        assert lots[converted["id"]]["state"] == "converted"
        assert lots[converted["id"]]["converted_into"] == "prog-web-2026"
        assert lots[revoked["id"]]["state"] == lots[old["id"]]["state"] == "reversed"
        assert "48 学时" in lots[kept["id"]]["explanation_zh"]
        assert Decimal(archive["total_available"]) == Decimal(3 + 3)  # T-1 and the correction of T-4
        assert Decimal(archive["total_converted"]) == Decimal(4)
        assert [(b["category"], b["level"]) for b in archive["balances"]] == [("non_degree_training", 3)]
        [conversion] = archive["conversions"]
        assert conversion["programme_id"] == "prog-web-2026" and conversion["reversed"] is False
        assert conversion["lot_ids"] == [converted["recognition"]["lot_id"]]
        assert archive["certificates"] == []

        # every journal entry of the learner, each matching the Merkle tree's leaf
        entries = archive["ledger"]
        kinds = [e["kind"] for e in entries]
        assert kinds.count("recognition") == 5 and kinds.count("reversal") == 2 and "conversion" in kinds
        for entry in entries:
            stored = store.leaf_hashes(session, entry["log"], entry["index"], entry["index"] + 1)
            assert base64.b64decode(entry["leaf_hash"]) == stored[entry["index"]]

    def test_each_archive_holds_exactly_its_learners_events_and_ledger_references(
        self, client: TestClient, auth: Tokens, session: Session
    ) -> None:
        """Events are read by the learner's outcomes (not by a list of their ids) and each journal
        entry's reference is made once and shared: every event of the learner and none of another's,
        in order, and every reference the leaf hash of its entry."""
        desks = [Desk(client, auth, name="李明"), Desk(client, auth, name="张华")]
        for n, desk in enumerate(desks):
            for i in range(3):
                desk.posted(training(reference=f"E-{n}-{i}", hours=16 * (i + 1)))
            revoked = desk.posted(training(reference=f"E-{n}-r", hours=32))
            assert desk.revoke(revoked["id"], reason="重复登记").status_code == 200
        leaves = {
            tx.id: base64.b64encode(merkle.leaf_hash(tx.leaf)).decode()
            for tx in session.exec(select(JournalTransaction)).all()
        }
        for desk in desks:
            archive = desk.archive(headers=auth(Role.admin))
            stored = session.execute(
                text(
                    "SELECT e.outcome_id, e.kind FROM outcome_events e "
                    "JOIN outcomes o ON o.id = e.outcome_id "
                    "WHERE o.learner_id = :l ORDER BY e.at, e.id"
                ),
                {"l": desk.learner_id},
            ).all()
            shown = [(o["id"], e["kind"]) for o in archive["outcomes"] for e in o["events"]]
            assert sorted(shown) == sorted((r.outcome_id, r.kind) for r in stored)
            assert len(shown) == 5  # four recognised, one revoked
            refs = [o["ledger"] for o in archive["outcomes"] if o["ledger"]]
            refs += [lot["ledger"] for lot in archive["lots"] if lot["ledger"]]
            refs += [e["ledger"] for o in archive["outcomes"] for e in o["events"] if e["ledger"]]
            refs += archive["ledger"]
            assert len(archive["ledger"]) == 5  # four recognitions and a reversal
            assert len(refs) > 2 * len(archive["ledger"])  # entries named from several places
            for reference in refs:
                assert reference["leaf_hash"] == leaves[reference["transaction_id"]]

    def test_lists_the_transfer_certificates(self, client: TestClient, auth: Tokens) -> None:
        desk = Desk(client, auth)
        lot_id = desk.posted(training())["recognition"]["lot_id"]
        mine = auth(Role.learner, desk.learner_id)
        assert desk.archive(headers=mine)["certificates"] == []
        issued = client.post(
            "/api/v1/certificates", json={"lot_ids": [lot_id]}, headers={**mine, "Idempotency-Key": key()}
        )
        assert issued.status_code == 201, issued.text
        [certificate] = desk.archive(headers=mine)["certificates"]
        assert certificate["id"] == issued.json()["id"] and certificate["lot_ids"] == [lot_id]
        assert certificate["status"] == "active" and certificate["credential"]["proof"]

    def test_who_may_read_and_reads_are_logged(
        self, client: TestClient, auth: Tokens, db: Connection
    ) -> None:
        desk = Desk(client, auth)
        desk.posted(training())
        path = f"/api/v1/learners/{desk.learner_id}/archive"
        assert client.get(path, headers=auth(Role.learner, desk.learner_id)).status_code == 200
        assert _access(db, desk.learner_id) == []
        # the institution that registered the learner and posted for them needs the learner's grant
        ungranted = client.get(path, headers=desk.headers)
        assert ungranted.status_code == 403 and ungranted.json()["type"].endswith("/grant-required")
        grant_id = grant(client, auth, desk.learner_id, desk.institution_id)
        for role, headers, what in (
            ("institution", desk.headers, f"archive (grant {grant_id})"),
            ("auditor", auth(Role.auditor), "archive"),
            ("admin", desk.admin, "archive"),
        ):
            assert client.get(path, headers=headers).status_code == 200
            assert _access(db, desk.learner_id)[-1] == (role, what)
        other_learner = auth(Role.learner, "lrn_someoneelse0000000000")
        stranger = auth(Role.institution, create_institution(client, desk.admin))
        for headers in (other_learner, stranger, auth(Role.reviewer)):
            refused = client.get(path, headers=headers)
            assert refused.status_code == 403 and refused.headers["content-type"] == PROBLEM
        assert len(_access(db, desk.learner_id)) == 3

    def test_export_is_a_download_with_the_personal_data(
        self, client: TestClient, auth: Tokens, db: Connection
    ) -> None:
        number = identity_number("19880412")
        admin = auth(Role.admin)
        institution_id = create_institution(client, admin)
        institution = auth(Role.institution, institution_id)
        registered = client.post(
            "/api/v1/learners",
            json={"name": "钱多多", "identity_number": number, "contact": "qdd@example.cn"},
            headers=institution,
        )
        learner_id = registered.json()["id"]
        path = f"/api/v1/learners/{learner_id}/archive/export"
        own = client.get(path, headers=auth(Role.learner, learner_id))
        assert own.status_code == 200, own.text
        assert (
            own.headers["content-disposition"]
            == f'attachment; filename="creditbank-archive-{learner_id}.json"'
        )
        data = own.json()
        assert data["personal_data"] == {
            "name": "钱多多",
            "identity_number": number,
            "contact": "qdd@example.cn",
        }
        assert data["learner"]["identity_number_masked"] == learners.mask_identity_number(number)
        assert client.get(path, headers=institution).status_code == 403
        assert client.get(path, headers=auth(Role.auditor)).status_code == 403
        assert client.get(path, headers=admin).status_code == 200
        assert _access(db, learner_id) == [("admin", "archive-export")]
        again = client.get(path, headers=auth(Role.learner, learner_id)).json()
        assert again["access_log"][0]["reader_role"] == "admin"


def _dump(db: Connection) -> list[str]:
    """Every value of every column of every table, as text (bytea as hex)."""
    columns = db.execute(
        text(
            "SELECT c.table_name, c.column_name FROM information_schema.columns c "
            "JOIN information_schema.tables t "
            "ON t.table_schema = c.table_schema AND t.table_name = c.table_name "
            "WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE'"
        )
    ).all()
    values: list[str] = []
    for table, column in columns:
        values.extend(
            v
            for (v,) in db.execute(
                text(f'SELECT "{column}"::text FROM "{table}" WHERE "{column}" IS NOT NULL')
            )
        )
    return values


def _publish(ctx: AppContext) -> SignedCheckpoint:
    with ctx.sessions() as s, s.begin():
        checkpoint = store.publish_checkpoint(s, ctx.secrets.master_key, store.DEFAULT_LOG)
    assert checkpoint is not None
    return checkpoint


def _needles(name: str, number: str) -> set[str]:
    plain = {name, number, number.lower(), number[:17]}
    return plain | {n.encode().hex() for n in plain}


class TestErasure:
    def test_crypto_shredding_keeps_the_record_and_the_ledger(
        self, client: TestClient, auth: Tokens, ctx: AppContext, session: Session, db: Connection
    ) -> None:
        name, number = "司马相如", identity_number("19790815", district="510104")
        admin = auth(Role.admin)
        institution_id = create_institution(client, admin)
        institution = auth(Role.institution, institution_id)
        learner_id = client.post(
            "/api/v1/learners", json={"name": name, "identity_number": number}, headers=institution
        ).json()["id"]
        posted = client.post(
            "/api/v1/outcomes",
            json=training(identity_number=number),  # posted by identity number: the content is hashed
            headers={**institution, "Idempotency-Key": key()},
        )
        assert posted.status_code == 201 and posted.json()["learner_id"] == learner_id
        mine = auth(Role.learner, learner_id)
        digest = learners.lookup_hash(ctx.identity_key, number)
        # positive control: the scan finds the lookup HMAC before erasure
        assert digest in _dump(db)
        before = _publish(ctx)

        # someone else cannot erase the learner; the learner can, once
        other = auth(Role.learner, "lrn_someoneelse0000000000")
        path = f"/api/v1/learners/{learner_id}/erasure"
        assert client.post(path, headers={**other, "Idempotency-Key": key()}).status_code == 403
        assert client.post(path, headers={**institution, "Idempotency-Key": key()}).status_code == 403
        assert client.post(path, headers=mine).status_code == 422  # no Idempotency-Key
        erased = client.post(path, headers={**mine, "Idempotency-Key": key()})
        assert erased.status_code == 200, erased.text
        result = erased.json()
        assert result["vault_shredded"] is True and result["tokens_revoked"] == 1
        assert client.get(f"/api/v1/learners/{learner_id}/archive", headers=mine).status_code == 401
        assert client.post(path, headers={**admin, "Idempotency-Key": key()}).status_code == 409

        # the raw database holds neither the name nor the identity number (nor its lookup HMAC)
        session.expire_all()
        assert session.get(LearnerVault, learner_id) is None
        learner = session.get(Learner, learner_id)
        assert learner is not None and learner.erased_at is not None and learner.lookup_hmac is None
        dump = _dump(db)
        assert [n for n in _needles(name, number) | {digest} if any(n in v for v in dump)] == []

        # the archive still works, without a name; the export has no personal data
        archive = client.get(f"/api/v1/learners/{learner_id}/archive", headers=admin).json()
        assert archive["learner"]["erased"] is True and archive["learner"]["name"] is None
        assert [o["id"] for o in archive["outcomes"]] == [posted.json()["id"]]
        assert archive["ledger"][-1]["kind"] == "erasure"
        export = client.get(f"/api/v1/learners/{learner_id}/archive/export", headers=admin).json()
        assert export["personal_data"] is None

        # the tombstone: no personal data, in the tree, provably (RFC 9162 inclusion and consistency)
        tombstone = session.get(JournalTransaction, result["tombstone"]["transaction_id"])
        assert tombstone is not None and tombstone.kind == "erasure"
        leaf = json.loads(tombstone.leaf)
        assert leaf["details"] == {
            "learner": learner_id,
            "action": "erasure",
            "vault": "shredded",
            "requested_by": "learner",
        }
        after = _publish(ctx)
        assert after.size > tombstone.seq
        leaf_hash, proof, checkpoint = store.inclusion(session, store.DEFAULT_LOG, tombstone.seq, None)
        assert leaf_hash == merkle.leaf_hash(tombstone.leaf)
        assert base64.b64decode(result["tombstone"]["leaf_hash"]) == leaf_hash
        merkle.verify_inclusion(leaf_hash, tombstone.seq, checkpoint.size, proof, checkpoint.root)
        size, consistency, _ = store.consistency(session, store.DEFAULT_LOG, before.size, after.size)
        merkle.verify_consistency(before.size, size, consistency, before.root, after.root)
        assert merkle.root(store.DbNodeReader(session, store.DEFAULT_LOG), after.size) == after.root

        # the person can no longer be found, and nothing more is posted for the erased id
        lookup = client.post("/api/v1/learners/lookup", json={"identity_number": number}, headers=institution)
        assert lookup.status_code == 404
        refused = client.post(
            "/api/v1/outcomes",
            json=training(reference="T-2", learner_id=learner_id),
            headers={**institution, "Idempotency-Key": key()},
        )
        assert refused.status_code == 409 and refused.json()["type"].endswith("/learner-erased")

    def test_admin_erasure_and_replay(self, client: TestClient, auth: Tokens, session: Session) -> None:
        desk = Desk(client, auth)
        path = f"/api/v1/learners/{desk.learner_id}/erasure"
        same = key()
        first = client.post(path, headers={**desk.admin, "Idempotency-Key": same})
        replay = client.post(path, headers={**desk.admin, "Idempotency-Key": same})
        assert first.status_code == replay.status_code == 200
        assert replay.json() == first.json() and replay.headers["Idempotent-Replayed"] == "true"
        erasures = session.exec(
            select(JournalTransaction).where(
                col(JournalTransaction.learner_id) == desk.learner_id,
                col(JournalTransaction.kind) == "erasure",
            )
        ).all()
        assert len(erasures) == 1
        assert json.loads(erasures[0].leaf)["details"]["requested_by"] == "admin"
        missing = client.post(
            "/api/v1/learners/lrn_nosuchlearner00000000/erasure",
            headers={**desk.admin, "Idempotency-Key": key()},
        )
        assert missing.status_code == 404 and missing.headers["content-type"] == PROBLEM


class TestErasedLearnerCannotBeReidentified:
    """The attacker holds the public log and the service's pepper, and wants to know whose entries an
    erased learner id are. Before this was fixed, every recognition leaf carried a keyed hash of the
    posted row, identity number and name included: with the pepper, a guess was confirmed at once."""

    def test_the_log_holds_no_keyed_or_plain_function_of_the_identity(
        self, client: TestClient, auth: Tokens, ctx: AppContext, session: Session, db: Connection
    ) -> None:
        name, number = "卓文君", identity_number("19810101", district="510104")
        admin = auth(Role.admin)
        institution = auth(Role.institution, create_institution(client, admin))
        bodies = [
            training(reference="R-1", identity_number=number, learner_name=name),
            training(reference="R-2", identity_number=number, hours=32),
        ]
        learner_id = ""
        for body in bodies:
            posted = client.post(
                "/api/v1/outcomes", json=body, headers={**institution, "Idempotency-Key": key()}
            )
            assert posted.status_code == 201, posted.text
            learner_id = posted.json()["learner_id"]
        erased = client.post(
            f"/api/v1/learners/{learner_id}/erasure", headers={**admin, "Idempotency-Key": key()}
        )
        assert erased.status_code == 200, erased.text
        checkpoint = _publish(ctx)
        # the public log, as anyone downloads it
        entries = client.get("/logs/main/entries", params={"start": 0, "end": checkpoint.size}).json()[
            "entries"
        ]
        leaves = [base64.b64decode(e["leaf"]) for e in entries]
        mine = [leaf for leaf in leaves if learner_id.encode() in leaf]
        assert len(mine) >= 3  # two recognitions and the tombstone
        # every function of the identity the service computes with the pepper, for the true guess
        guesses = {
            outcomes.request_hash(outcomes.content_key(ctx), OutcomeCreate(**body)) for body in bodies
        } | {learners.lookup_hash(ctx.identity_key, number)}
        needles = guesses | _needles(name, number)
        assert [n for n in needles if any(n.encode() in leaf for leaf in leaves)] == []
        # what the leaf cites instead is recomputable from the outcome, without the person
        recognitions = [json.loads(leaf) for leaf in mine if json.loads(leaf)["kind"] == "recognition"]
        stored = {o.id: o for o in session.exec(select(Outcome).where(col(Outcome.learner_id) == learner_id))}
        for entry in recognitions:
            details = entry["details"]
            assert details["content"] == records.ledger_content(stored[details["outcome"]])
            assert "evidence" not in details
        # and the audit of the whole log still passes
        assert replay(leaves, "main").ok
