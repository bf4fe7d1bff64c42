"""Small typed helpers for the outcome workflow tests: an institution with a learner, and bodies."""

import datetime as dt
import itertools
import shutil
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from httpx import Response

from creditbank.auth.models import Role
from tests.conftest import PROJECT_ROOT, Tokens
from tests.support.factories import create_institution, create_learner

PILOT = PROJECT_ROOT / "rules" / "beijing-pilot"
TRAINING_V2_MAX = "    max_credits: 6\n"


def raised_training_maximum(
    target: Path, *, version: str | None = None, effective: dt.date | None = None
) -> Path:
    """A copy of the pilot set whose 2025 training rule allows 8 credits a course instead of 6."""
    shutil.copytree(PILOT, target)
    recognition = target / "recognition.yaml"
    rules = recognition.read_text(encoding="utf-8")
    revision = rules.index("(2025 revision)")
    at = rules.index(TRAINING_V2_MAX, revision)
    recognition.write_text(
        rules[:at] + "    max_credits: 8\n" + rules[at + len(TRAINING_V2_MAX) :], encoding="utf-8"
    )
    manifest = target / "ruleset.yaml"
    text = manifest.read_text(encoding="utf-8")
    if version is not None:
        text = text.replace('version: "2025.1"', f'version: "{version}"')
    if effective is not None:
        text = text.replace("effective_from: 2021-01-01", f"effective_from: {effective.isoformat()}")
    manifest.write_text(text, encoding="utf-8")
    return target


_keys = itertools.count(1)


def key() -> str:
    """A fresh Idempotency-Key."""
    return f"test-key-{next(_keys)}"


def days_ago(days: int) -> str:
    return (dt.date.today() - dt.timedelta(days=days)).isoformat()


def training(reference: str = "T-1", hours: int = 48, **extra: Any) -> dict[str, Any]:
    return {
        "reference": reference,
        "outcome_type": "training_course",
        "title": "Python 数据分析",
        "achieved_on": days_ago(30),
        "hours": hours,
        **extra,
    }


def work_experience(reference: str = "W-1", years: int = 2, **extra: Any) -> dict[str, Any]:
    """Work experience: the pilot rules always send it to review (2 credits a year, at most 6)."""
    return {
        "reference": reference,
        "outcome_type": "work_experience",
        "title": "软件开发岗位工作经历",
        "achieved_on": days_ago(60),
        "attributes": {"years": years},
        **extra,
    }


class Desk:
    """An institution with a learner, and the calls the tests make."""

    def __init__(
        self, client: TestClient, auth: Tokens, *, name: str = "王小明", kind: str = "vocational_school"
    ) -> None:
        self.client = client
        self.auth = auth
        self.admin = auth(Role.admin)
        self.institution_id = create_institution(client, self.admin, kind=kind)
        self.headers = auth(Role.institution, self.institution_id)
        self.learner_id = create_learner(client, self.headers, name=name)

    def post(self, body: dict[str, Any], idempotency_key: str | None = None) -> Response:
        headers = {**self.headers, "Idempotency-Key": idempotency_key or key()}
        response: Response = self.client.post("/api/v1/outcomes", json=body, headers=headers)
        return response

    def posted(self, body: dict[str, Any]) -> dict[str, Any]:
        response = self.post({"learner_id": self.learner_id, **body})
        assert response.status_code == 201, response.text
        data: dict[str, Any] = response.json()
        return data

    def decide(
        self,
        outcome_id: str,
        headers: dict[str, str],
        decision: str = "approve",
        reason: str = "材料齐全，经核实",
        idempotency_key: str | None = None,
        **extra: Any,
    ) -> Response:
        response: Response = self.client.post(
            f"/api/v1/reviews/{outcome_id}/decision",
            json={"decision": decision, "reason": reason, **extra},
            headers={**headers, "Idempotency-Key": idempotency_key or key()},
        )
        return response

    def revoke(
        self, outcome_id: str, reason: str = "证书信息有误", headers: dict[str, str] | None = None
    ) -> Response:
        response: Response = self.client.post(
            f"/api/v1/outcomes/{outcome_id}/revoke",
            json={"reason": reason},
            headers={**(headers or self.headers), "Idempotency-Key": key()},
        )
        return response

    def correct(self, outcome_id: str, body: dict[str, Any], idempotency_key: str | None = None) -> Response:
        response: Response = self.client.post(
            f"/api/v1/outcomes/{outcome_id}/correct",
            json={"learner_id": self.learner_id, **body},
            headers={**self.headers, "Idempotency-Key": idempotency_key or key()},
        )
        return response

    def archive(self, headers: dict[str, str] | None = None) -> dict[str, Any]:
        response = self.client.get(
            f"/api/v1/learners/{self.learner_id}/archive", headers=headers or self.headers
        )
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()
        return data
