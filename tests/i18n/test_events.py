"""An outcome's history says what happened in both languages, from the catalogues.

The posted event (``event.posted``, ``event.posted_correction``, with the recognition's status in
each language) and the learner's correction request (``event.correction_requested``) are written
from one message each, so a translator's change to the catalogue is what the archive shows.
"""

import shutil
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from creditbank import i18n
from creditbank.auth.models import Role
from creditbank.context import AppContext
from creditbank.i18n import Both, catalogue, msg
from creditbank.outcomes.records import _posted_texts
from tests.conftest import Tokens
from tests.outcomes.factories import Desk, training, work_experience
from tests.web.scene import build_scene

IDS = (
    "event.posted",
    "event.posted_correction",
    "event.posted_status.recognised",
    "event.posted_status.review",
    "event.posted_status.rejected",
    "event.correction_requested",
)


def _events(desk: Desk, outcome_id: str) -> list[dict[str, Any]]:
    outcomes = {
        o["id"]: o for o in desk.archive(headers=desk.auth(Role.learner, desk.learner_id))["outcomes"]
    }
    events: list[dict[str, Any]] = outcomes[outcome_id]["events"]
    return events


def test_the_event_messages_are_in_both_catalogues() -> None:
    assert set(IDS) <= catalogue("zh").ids & catalogue("en").ids


def test_a_posted_outcome_says_so_in_each_language(client: TestClient, auth: Tokens) -> None:
    desk = Desk(client, auth)
    posted = desk.posted(training(reference="EV-1", hours=48))
    waiting = desk.posted(work_experience(reference="EV-W"))
    first = _events(desk, posted["id"])[0]
    explanation = Both(posted["recognition"]["explanation_zh"], posted["recognition"]["explanation_en"])
    zh, en = msg("event.posted", status=msg("event.posted_status.recognised"), explanation=explanation).pair()
    assert (first["detail_zh"], first["detail_en"]) == (zh, en)
    assert zh.startswith("提交并已认定：") and en.startswith("Posted and recognised: ")
    review = _events(desk, waiting["id"])[0]
    assert review["detail_zh"].startswith("提交并待人工审核：")
    assert review["detail_en"].startswith("Posted and sent to review: ")


def test_a_correction_says_what_it_corrects_in_each_language(client: TestClient, auth: Tokens) -> None:
    desk = Desk(client, auth)
    old = desk.posted(training(reference="EV-2", hours=40))
    fixed = desk.correct(old["id"], training(reference="EV-2", hours=48)).json()["outcome"]
    first = _events(desk, fixed["id"])[0]
    assert first["detail_zh"].startswith(f"作为对 {old['id']} 的更正提交并已认定：")
    assert first["detail_en"].startswith(f"Posted as the correction of {old['id']} and recognised: ")


def test_a_correction_request_is_recorded_in_each_language(
    client: TestClient, auth: Tokens, ctx: AppContext
) -> None:
    scene = build_scene(client, auth, ctx)
    posted = scene.post(training("EV-3"))
    csrf = scene.sign_in(Role.learner, scene.learner_id)
    asked = scene.client.post(
        "/archive/correction",
        data={"csrf": csrf, "outcome_id": posted["id"], "reason": "学时应为 {hours} 64"},
        follow_redirects=False,
    )
    assert asked.status_code == 303
    archive = scene.client.get(f"/api/v1/learners/{scene.learner_id}/archive", headers=auth(Role.admin))
    events = {o["id"]: o for o in archive.json()["outcomes"]}[posted["id"]]["events"]
    asked_event = events[-1]
    # the learner's words are a value: braces in them are kept as written
    assert asked_event["detail_zh"] == "学习者申请更正：学时应为 {hours} 64"
    assert asked_event["detail_en"] == "The learner asked for a correction: 学时应为 {hours} 64"


def test_the_posted_events_texts_are_rendered_once_and_follow_the_catalogues(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The texts are kept by status and explanation (a cohort's postings share them), for the
    catalogues they came from: a reworded catalogue is what the next posting's history says."""
    explanation = Both("说明", "why")

    def rendered() -> tuple[str, str]:
        return msg("event.posted", status=msg("event.posted_status.review"), explanation=explanation).pair()

    first = _posted_texts("review", "说明", "why")
    assert first == rendered()
    assert _posted_texts("review", "说明", "why") is first
    copy = tmp_path / "locale"
    shutil.copytree(i18n.LOCALE_DIR, copy)
    en = copy / "en/LC_MESSAGES/messages.po"
    lines = en.read_text(encoding="utf-8").splitlines()
    at = lines.index('msgid "event.posted"')
    lines[at + 1] = 'msgstr "Reworded: {status}, {explanation}"'
    en.write_text("\n".join(lines) + "\n", encoding="utf-8")
    monkeypatch.setattr(i18n, "LOCALE_DIR", copy)
    catalogue.cache_clear()
    try:
        again = _posted_texts("review", "说明", "why")
        assert again == rendered() and again[0] == first[0]
        assert again[1].startswith("Reworded: ") and again[1] != first[1]
    finally:
        catalogue.cache_clear()
