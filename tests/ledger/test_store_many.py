"""The responses a group of postings stores under their keys in one statement come back exactly as given."""

from typing import Any

from sqlmodel import Session

from creditbank.ledger import idempotency

BODIES: list[Any] = [
    {"title": '引号 "quoted" and \\backslash\\', "list": [1, 2], "braces": "{a,b}", "nul": "NULL"},
    {"text": "tab\there\nnewline, comma; 中文：数字技能培训", "empty": "", "none": None},
    ["", "NULL", " spaced ", "\\"],
]


def test_stored_responses_replay_exactly(session: Session) -> None:
    answers = []
    for i, body in enumerate(BODIES):
        key = f"k-{i} with space, comma"
        assert idempotency.claim(session, "test:store-many", key, f"{i:064}") is None
        answers.append(idempotency.Answer("test:store-many", key, 201 + i, body))
    idempotency.store_many(session, answers)
    for i, body in enumerate(BODIES):
        stored = idempotency.claim(session, "test:store-many", f"k-{i} with space, comma", f"{i:064}")
        assert stored == idempotency.StoredResponse(201 + i, body)
