"""A single posting's answer is serialised once (creditbank.outcomes.idempotent.answer_later): its
bytes must stay those that FastAPI renders for the same outcome, the stored response must replay to
the same bytes, and odd characters (quotes, backslashes, control characters, U+2028, non-BMP) must
come out as they did."""

import datetime as dt
import json
from decimal import Decimal
from typing import Any

from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient

from creditbank.auth.models import Role
from creditbank.auth.service import Principal
from creditbank.outcomes import idempotent
from creditbank.outcomes.schemas import LedgerRef, OutcomePublic, RecognitionPublic
from tests.conftest import Tokens
from tests.support.factories import create_institution, create_learner

ODD = 'a "quoted" \\ back\u0001slash\u001f\tx\u2028y\u00e9\U0001f600 引号「」'


def _body(learner_id: str, reference: str) -> dict[str, Any]:
    return {
        "learner_id": learner_id,
        "reference": reference,
        "outcome_type": "training_course",
        "title": "培训 " + ODD,
        "achieved_on": (dt.date.today() - dt.timedelta(days=12)).isoformat(),
        "hours": "16.5",
        "field": ODD,
        "attributes": {"note": ODD, "n": 9007199254740991, "flag": True},
    }


def _as_starlette_renders(raw: bytes) -> bytes:
    """What Starlette's JSONResponse renders for the same JSON value (the answer before this change)."""
    value = json.loads(raw)
    return json.dumps(value, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")).encode()


def test_the_answer_bytes_are_those_rendered_for_the_same_outcome(client: TestClient, auth: Tokens) -> None:
    admin = auth(Role.admin)
    headers = auth(Role.institution, create_institution(client, admin))
    learner = create_learner(client, headers)
    body = _body(learner, "BYTES-1")

    posted = client.post("/api/v1/outcomes", json=body, headers={**headers, "Idempotency-Key": "bytes-1"})
    assert posted.status_code == 201, posted.text
    assert posted.headers["content-type"] == "application/json"
    assert int(posted.headers["content-length"]) == len(posted.content)
    assert posted.content == _as_starlette_renders(posted.content)
    answer = posted.json()
    assert answer["title"] == "培训 " + ODD and answer["attributes"]["note"] == ODD
    assert answer["hours"] == "16.5" and answer["attributes"]["n"] == 9007199254740991
    assert answer["recognition"]["status"] == "recognised" and answer["ledger"]["index"] >= 0

    # the same outcome read back (FastAPI's response model path): the same facts
    read = client.get(f"/api/v1/outcomes/{answer['id']}", headers=headers)
    assert read.status_code == 200, read.text
    assert {k: read.json()[k] for k in ("title", "field", "attributes", "ledger")} == {
        k: answer[k] for k in ("title", "field", "attributes", "ledger")
    }

    # the stored response replays to the same bytes
    replayed = client.post("/api/v1/outcomes", json=body, headers={**headers, "Idempotency-Key": "bytes-1"})
    assert replayed.status_code == 201
    assert replayed.headers.get("Idempotent-Replayed") == "true"
    assert replayed.content == posted.content


def test_answer_later_renders_what_a_json_response_of_the_dump_rendered() -> None:
    """The answer as it was made before (``JSONResponse(body.model_dump(mode="json"))``), byte for byte."""
    public = OutcomePublic(
        id="out_x",
        learner_id="lrn_x",
        institution_id="ins_x",
        reference=ODD,
        outcome_type="training_course",
        title=ODD,
        achieved_on=dt.date(2026, 1, 2),
        hours=Decimal("16.50"),
        level=None,
        score=Decimal("1E+2"),
        grade=ODD,
        field=None,
        course_code=None,
        identity_verified=True,
        evidence_hash=None,
        attributes={"note": ODD, "n": -(2**53) + 1, "flag": False, "nested": {"k": [1, "二"]}},
        supersedes_id=None,
        created_at=dt.datetime(2026, 12, 6, 4, 5, 6, 789012, tzinfo=dt.UTC),
        recognition=RecognitionPublic(
            status="recognised",
            stage=None,
            credits=Decimal("3.0"),
            level=2,
            category=None,
            field=ODD,
            rule_id="r",
            rule_version="1",
            rule_set_id="s",
            rule_set_version="1",
            rule_set_hash="h",
            explanation_zh=ODD,
            explanation_en=ODD,
            review_reason_zh=None,
            review_reason_en=None,
            expires_on=None,
            lot_id=None,
        ),
        ledger=LedgerRef(log="main", index=7, leaf_hash=None, transaction_id="jtx_x"),
    )
    who = Principal(role=Role.institution, subject="ins_x", token_id="tok_x")
    response, record = idempotent.answer_later(who, "k", 201, public)
    before = JSONResponse(public.model_dump(mode="json"), status_code=201)
    assert response.body == before.body
    assert response.status_code == 201
    assert dict(response.headers) == dict(before.headers)
    assert json.loads(record.json_text()) == public.model_dump(mode="json")
