"""Each operator role walks its own pages in a real headless Chromium against a real server on the
demo world: the city centre's operator keeps the catalogue of recognised outcomes, a district
sub-centre's reviewer sees its district only and cannot change the catalogue, the institution's
registrar works through its outcomes, answers a learner's correction request and drafts a course
equivalence with its preview, and the admin registers, scopes, mints and reads the rule set.

The browser, the server and the screenshots are those of :mod:`tests.web.test_browser` (its
fixtures); every request a page makes must stay on the server and no content-security-policy error
may occur. Screenshots land in ``var/screenshots/``; the user guide's copies are in ``docs/images/``.
"""

import datetime as dt
from typing import Any

import pytest
from playwright.sync_api import expect

from creditbank.outcomes.rulesets import rule_book
from tests.web.test_browser import (  # noqa: F401 - fixtures
    PROJECT_ROOT,
    Demo,
    browser,
    demo,
    open_session,
    playwright,
    shot,
    sign_in,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


class TestCityOperator:
    def test_keeps_the_catalogue(self, demo: Demo, open_session: Any) -> None:  # noqa: F811 - fixtures
        page = open_session().page()
        sign_in(page, demo.tokens["city_reviewer"], start="/console")
        expect(page.get_by_role("heading", name="审核工作台")).to_be_visible()
        page.get_by_role("link", name="成果名录").click()
        expect(page.get_by_role("heading", name="学习成果名录", exact=True)).to_be_visible()
        add = page.locator("#add")
        add.get_by_label("代码").fill("NCRE-WEB-2")
        add.get_by_label("成果类型").select_option("national_exam")
        add.get_by_label("中文名称").fill("全国计算机等级考试二级 Web程序设计")
        add.get_by_label("英文名称").fill("NCRE level 2, web programming")
        add.get_by_label("等级或奖项等次").fill("二级")
        add.get_by_label("认定规则").fill("BJ-REC-NCRE")
        with page.expect_navigation():
            add.get_by_role("button", name="新增到名录").click()
        row = page.locator("#entry-NCRE-WEB-2")
        expect(row).to_be_visible()
        expect(page.get_by_role("status")).to_contain_text("NCRE-WEB-2")
        row.get_by_text("修改", exact=True).click()
        row.get_by_label("等级或奖项等次").fill("二级、三级")
        with page.expect_navigation():
            row.get_by_role("button", name="保存修改").click()
        expect(page.locator("#entry-NCRE-WEB-2")).to_contain_text("二级、三级")
        expect(page.locator("#versions")).to_contain_text("changed NCRE-WEB-2 (levels)")
        page.get_by_label("代码或名称包含").fill("计算机")
        with page.expect_navigation():
            page.get_by_role("button", name="筛选", exact=True).click()
        expect(page.locator("#catalogue-table tbody tr")).to_have_count(1)
        shot(page, "operator-catalogue")


class TestDistrictReviewer:
    def test_sees_its_district_and_only_reads_the_catalogue(self, demo: Demo, open_session: Any) -> None:  # noqa: F811 - fixtures
        page = open_session().page()
        sign_in(page, demo.tokens["reviewer"], start="/console")
        expect(page.get_by_role("heading", name="审核工作台")).to_be_visible()
        expect(page.locator("#queue")).to_contain_text("西城区")
        for district in page.locator("#queue dd").all_inner_texts():
            assert not district.endswith("区") or district == "西城区", district
        shot(page, "district-review")
        page.get_by_role("link", name="成果名录").click()
        expect(page.get_by_role("heading", name="学习成果名录", exact=True)).to_be_visible()
        expect(page.locator("#add")).to_have_count(0)  # no forms for a sub-centre
        expect(page.get_by_role("button", name="停用")).to_have_count(0)


class TestRegistrar:
    def test_answers_a_correction_and_works_through_the_outcomes(self, demo: Demo, open_session: Any) -> None:  # noqa: F811 - fixtures
        learner = open_session().page()
        sign_in(learner, demo.learner()["token"])
        outcome = learner.locator("article.outcome", has_text="中国近现代史纲要").first
        outcome.get_by_text("申请更正").click()
        outcome.get_by_label("需要更正的内容").fill("成绩应为 78 分")
        with learner.expect_navigation():
            outcome.locator("details.correction button[type=submit]").click()

        page = open_session().page()
        sign_in(page, demo.institution("open-university")["token"], start="/console")
        expect(page.get_by_role("heading", name="机构控制台")).to_be_visible()
        page.locator("#corrections").get_by_role("link", name="处理此申请").first.click()
        expect(page.locator("#requests")).to_contain_text("成绩应为 78 分")
        page.get_by_label("成绩").fill("78")
        shot(page, "registrar-correction")
        with page.expect_navigation():
            page.get_by_role("button", name="登记更正").click()
        expect(page.get_by_role("status")).to_contain_text("更正已登记")

        page.get_by_role("link", name="全部成果（检索、筛选、分页）").first.click()
        expect(page.get_by_role("heading", name="本机构登记的学习成果")).to_be_visible()
        page.get_by_label("状态").select_option("superseded")
        with page.expect_navigation():
            page.get_by_role("button", name="筛选", exact=True).click()
        expect(page.locator("#outcome-list tbody tr")).to_have_count(1)
        expect(page.locator("#outcome-list")).to_contain_text("中国近现代史纲要")
        page.get_by_label("状态").select_option("")
        with page.expect_navigation():
            page.get_by_role("button", name="筛选", exact=True).click()
        shot(page, "registrar-outcomes")

    def test_drafts_an_equivalence_with_its_preview(self, demo: Demo, open_session: Any) -> None:  # noqa: F811 - fixtures
        page = open_session().page()
        sign_in(page, demo.institution("haidian-vocational")["token"], start="/console")
        page.get_by_role("link", name="课程互认规则").first.click()
        page.get_by_label("课程代码").fill("WEB-201")
        page.get_by_label("课程中文名称").fill("网页设计与制作")
        page.get_by_label("课程英文名称").fill("Web page design")
        page.locator("#e-credits").fill("3")
        page.get_by_label("匹配条件（JSON）").fill(
            '{"lot": {"outcome_type": "mooc", "field": "web_front_end"}}'
        )
        with page.expect_navigation():
            page.get_by_role("button", name="预览转换结果").click()
        preview = page.locator("#preview-table")
        expect(preview.locator('tr[data-outcome="converted"]')).to_have_count(1)
        expect(preview.locator('tr[data-outcome="converted"]')).to_contain_text("JavaScript 程序设计")
        shot(page, "registrar-equivalence-preview")
        with page.expect_navigation():
            page.get_by_role("button", name="保存并发布").click()
        expect(page.locator("#equivalence-table")).to_contain_text("WEB-201")


class TestAdmin:
    def test_registers_scopes_mints_and_reads_the_rules(self, demo: Demo, open_session: Any) -> None:  # noqa: F811 - fixtures
        page = open_session().page()
        sign_in(page, demo.tokens["admin"], start="/console")
        page.get_by_role("link", name="系统管理").click()
        expect(page.get_by_role("heading", name="系统管理 · 成员单位")).to_be_visible()
        centre = page.locator("tr", has_text="北京市职业技能培训中心")
        centre.get_by_text("设置认定范围").click()
        centre.get_by_label("非学历培训课程").check()
        with page.expect_navigation():
            centre.get_by_role("button", name="保存认定范围").click()
        expect(page.get_by_role("status")).to_be_visible()
        shot(page, "admin-institutions")

        page.get_by_role("link", name="管理人员账户").click()
        page.get_by_label("姓名").fill("吴审核")
        page.get_by_label("单位").fill("朝阳区分中心")
        page.get_by_label("所属").select_option("朝阳区")
        with page.expect_navigation():
            page.get_by_role("button", name="创建账户").click()
        expect(page.locator("#operator-table")).to_contain_text("吴审核")

        page.get_by_role("link", name="访问令牌").click()
        page.get_by_label("角色").select_option("auditor")
        page.get_by_label("备注").fill("审计署抽查")
        with page.expect_navigation():
            page.get_by_role("button", name="签发", exact=True).click()
        secret = page.locator("#minted-token").inner_text()
        assert secret.startswith("cbt_")
        shot(page, "admin-token-minted", full_page=False)
        page.goto("/console/admin/tokens")
        expect(page.locator("#token-table")).to_contain_text("审计署抽查")
        expect(page.locator("#minted-token")).to_have_count(0)
        assert secret not in page.content()

        page.get_by_role("link", name="现行规则集").click()
        in_force = rule_book(PROJECT_ROOT / "rules").in_force(dt.date.today())
        expect(page.locator("#rule-set-hash")).to_have_text(in_force.hash)
        expect(page.locator('#case-table tr[data-passed="no"]')).to_have_count(0)
        shot(page, "admin-rules")
