"""One identity per person: identity numbers are NFKC-normalised, then only ASCII digits and X pass.

Attacker's view: an institution (or a learner registering again) writes the same identity number in
full-width digits, or in Arabic-Indic / Devanagari digits, to get a second learner record and have a
count-once award recognised again."""

import datetime as dt
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, text
from sqlmodel import Session

from creditbank.auth.models import Role
from creditbank.context import AppContext
from creditbank.identifiers import InvalidIdentityNumber, normalise_identity_number
from creditbank.ids import random_id
from creditbank.learners import service, vault
from creditbank.learners.models import Learner
from tests.conftest import Tokens
from tests.outcomes.factories import key
from tests.support.factories import WITH_X, create_institution, identity_number

PROBLEM = "application/problem+json"
FULL_WIDTH = str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")
ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
DEVANAGARI = str.maketrans("0123456789", "०१२३४५६७८९")


def _register(client: TestClient, headers: dict[str, str], number: str, name: str = "张敏") -> Any:
    return client.post("/api/v1/learners", json={"name": name, "identity_number": number}, headers=headers)


def _ending_in_x() -> str:
    """A fresh valid identity number whose check character is X."""
    while not (number := identity_number()).endswith("X"):
        pass
    return number


class TestNormalise:
    def test_full_width_digits_are_the_ascii_number(self) -> None:
        number = identity_number()
        assert normalise_identity_number(number.translate(FULL_WIDTH)) == number
        assert normalise_identity_number(WITH_X.translate(FULL_WIDTH).lower()) == WITH_X

    @pytest.mark.parametrize("table", [ARABIC_INDIC, DEVANAGARI], ids=["arabic-indic", "devanagari"])
    def test_other_unicode_digits_are_refused(self, table: dict[int, str]) -> None:
        number = identity_number()
        assert number.translate(table) != number
        with pytest.raises(InvalidIdentityNumber, match="ASCII"):
            normalise_identity_number(number.translate(table))


class TestOnePersonOneLearner:
    def test_full_width_registration_returns_the_same_learner(
        self, client: TestClient, auth: Tokens, db: Connection
    ) -> None:
        headers = auth(Role.institution, create_institution(client, auth(Role.admin)))
        number = identity_number()
        first = _register(client, headers, number)
        assert first.status_code == 201, first.text
        again = _register(client, headers, number.translate(FULL_WIDTH))
        assert again.status_code == 200, again.text
        assert again.json() == {"id": first.json()["id"], "created": False}
        looked_up = client.post(
            "/api/v1/learners/lookup", json={"identity_number": number.translate(FULL_WIDTH)}, headers=headers
        )
        assert looked_up.status_code == 200, looked_up.text
        assert looked_up.json()["id"] == first.json()["id"]

    @pytest.mark.parametrize("table", [ARABIC_INDIC, DEVANAGARI], ids=["arabic-indic", "devanagari"])
    def test_other_digits_get_a_422_problem_and_write_nothing(
        self, client: TestClient, auth: Tokens, db: Connection, table: dict[int, str]
    ) -> None:
        headers = auth(Role.institution, create_institution(client, auth(Role.admin)))
        number = _ending_in_x()  # its check character stays ASCII: only the digits differ
        assert _register(client, headers, number).status_code == 201
        before = db.execute(text("SELECT count(*) FROM learners")).scalar_one()
        refused = _register(client, headers, number.translate(table))
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"] == PROBLEM
        assert refused.json()["type"].endswith("/invalid-identity-number")
        assert db.execute(text("SELECT count(*) FROM learners")).scalar_one() == before

    def test_competition_counts_once_per_person_whatever_digits_are_used(
        self, client: TestClient, auth: Tokens
    ) -> None:
        headers = auth(Role.institution, create_institution(client, auth(Role.admin)))
        number = identity_number()
        award = {
            "outcome_type": "competition_award",
            "title": "全国职业院校技能大赛 网络安全 一等奖",
            "achieved_on": (dt.date.today() - dt.timedelta(days=10)).isoformat(),
            "level": "national",
            "attributes": {"competition_id": "2026-GZ-113"},
            "learner_name": "张敏",
        }
        statuses, learners = [], set()
        for i, written in enumerate((number, number.translate(FULL_WIDTH), number.lower())):
            posted = client.post(
                "/api/v1/outcomes",
                json={**award, "reference": f"NFKC-{i}", "identity_number": written},
                headers={**headers, "Idempotency-Key": key()},
            )
            assert posted.status_code == 201, posted.text
            statuses.append(posted.json()["recognition"]["status"])
            learners.add(posted.json()["learner_id"])
        assert len(learners) == 1, "one person, one learner"
        assert statuses == ["recognised", "rejected", "rejected"], "a national award counts once per person"
        refused = client.post(
            "/api/v1/outcomes",
            json={**award, "reference": "NFKC-x", "identity_number": number.translate(ARABIC_INDIC)},
            headers={**headers, "Idempotency-Key": key()},
        )
        assert refused.status_code == 422, refused.text


class TestDuplicatesFinder:
    def _legacy(self, session: Session, ctx: AppContext, stored: str) -> str:
        """A learner as the old code registered it: the raw number in the vault, its own lookup HMAC."""
        learner = Learner(id=random_id("lrn"), lookup_hmac=service.lookup_hash(ctx.identity_key, stored))
        session.add(learner)
        session.flush()
        vault.store(
            session,
            ctx.secrets.master_key,
            learner.id,
            vault.PersonalData(name="张敏", identity_number=stored),
        )
        return learner.id

    def test_finds_the_person_registered_twice_and_the_refused_number(
        self, session: Session, ctx: AppContext
    ) -> None:
        number = identity_number()
        ascii_id = self._legacy(session, ctx, number)
        wide_id = self._legacy(session, ctx, number.translate(FULL_WIDTH))
        arabic_id = self._legacy(session, ctx, identity_number().translate(ARABIC_INDIC))
        alone_id = self._legacy(session, ctx, identity_number())

        report = service.find_duplicates(session, ctx.identity_key, ctx.secrets.master_key)
        [group] = [g for g in report.groups if ascii_id in g.learner_ids]
        assert sorted(group.learner_ids) == sorted([ascii_id, wide_id])
        assert group.lookup_stale == [wide_id]
        assert group.identity_number_masked == service.mask_identity_number(number)
        assert arabic_id in report.invalid
        assert all(alone_id not in g.learner_ids for g in report.groups)
