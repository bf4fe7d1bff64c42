"""The graduation audit pages: the learner's /progress (zh-CN first) and the registrar's view of
each learner of a programme; another school's registrar and the learner are kept out of the latter."""

import pytest
from fastapi.testclient import TestClient

from creditbank.auth.models import Role
from creditbank.context import AppContext
from tests.catalog.courses_scenario import Schools, build_schools
from tests.catalog.test_progress import CURRICULUM
from tests.conftest import Tokens
from tests.support.signin import mint, sign_in


@pytest.fixture
def schools(client: TestClient, auth: Tokens) -> Schools:
    s = build_schools(client, auth)
    r = s.client.put(f"/api/v1/programmes/{s.programme}/curriculum", json=CURRICULUM, headers=s.home_h)
    assert r.status_code == 200, r.text
    r = s.post(f"/api/v1/shared-courses/{s.course}/enrolments", {"programme_id": s.programme}, s.learner_h)
    assert r.status_code == 201, r.text
    return s


def test_the_learner_sees_figures_per_category_and_suggestions(schools: Schools, ctx: AppContext) -> None:
    s = schools
    sign_in(s.client, mint(ctx, Role.learner, s.learner), "/progress")
    page = s.client.get("/progress")
    assert page.status_code == 200
    assert "学业进度" in page.text and "计算机应用技术" in page.text
    # major: 8 needed, 4 planned (the enrolment in CS201), 4 missing
    row = page.text.split('data-category="major"', 1)[1].split("</tr>", 1)[0]
    assert '<td class="planned">4</td>' in row and "<strong>4</strong>" in row, row
    assert 'data-state="planned"' in page.text  # C-DS
    english = s.client.get("/progress?lang=en")
    assert "Progress towards graduation" in english.text and "Missing" in english.text


def test_the_registrar_sees_each_learner_and_others_do_not(schools: Schools, ctx: AppContext) -> None:
    s = schools
    sign_in(s.client, mint(ctx, Role.institution, s.home), "/console")
    page = s.client.get(f"/console/programmes/{s.programme}/progress")
    assert page.status_code == 200, page.text
    assert s.learner in page.text and s.stranger in page.text
    detail = s.client.get(f"/console/programmes/{s.programme}/progress/{s.learner}")
    assert detail.status_code == 200 and 'data-category="major"' in detail.text
    s.client.post("/signout", data={"csrf": ""}, follow_redirects=False)
    s.client.cookies.clear()
    sign_in(s.client, mint(ctx, Role.institution, s.other), "/console")
    refused = s.client.get(f"/console/programmes/{s.programme}/progress/{s.learner}")
    assert refused.status_code == 403 and 'data-category="major"' not in refused.text
    refused = s.client.get(f"/console/programmes/{s.programme}/progress")
    assert refused.status_code == 404
    s.client.cookies.clear()
    sign_in(s.client, mint(ctx, Role.learner, s.learner), "/progress")
    assert s.client.get(f"/console/programmes/{s.programme}/progress").status_code in (401, 403)
