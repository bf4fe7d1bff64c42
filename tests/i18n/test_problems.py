"""Problem documents in the reader's language: ``?lang``, the ``cb_lang`` cookie, ``Accept-Language``.

Through real HTTP against the app: the ``title`` (and a default ``detail``) comes from the catalogues
in the language asked for, Chinese when none is; the ``type`` never changes with the language; a
hostile ``Accept-Language`` is still a clean problem.
"""

import importlib
import pkgutil
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

import creditbank
from creditbank.auth.models import Role
from creditbank.errors import CreditBankError
from creditbank.i18n import LANGS, Lang, catalogue, choose_lang, negotiate
from creditbank.i18n.coded import CODED
from tests.conftest import Tokens

PROBLEM = "application/problem+json"


def every_error_class() -> list[type[CreditBankError]]:
    for module in pkgutil.walk_packages(creditbank.__path__, "creditbank."):
        importlib.import_module(module.name)

    def below(cls: type[CreditBankError]) -> Iterator[type[CreditBankError]]:
        for sub in cls.__subclasses__():
            yield sub
            yield from below(sub)

    return [CreditBankError, *below(CreditBankError)]


class TestEveryProblemHasItsTitle:
    def test_every_error_class_has_a_title_in_both_catalogues(self) -> None:
        classes = every_error_class()
        assert len(classes) > 100
        missing = {
            (lang, cls.__name__, f"problem.{cls.slug}")
            for cls in classes
            for lang in LANGS
            if f"problem.{cls.slug}" not in catalogue(lang).ids
        }
        assert missing == set(), "add N_('problem.<slug>') to creditbank/i18n/coded.py and translate it"
        unmarked = sorted({f"problem.{c.slug}" for c in classes} - set(CODED))
        assert unmarked == []


class TestNegotiation:
    @pytest.mark.parametrize(
        ("header", "lang"),
        [
            ("zh-CN,zh;q=0.9,en;q=0.8", "zh"),
            ("en-US,en;q=0.9", "en"),
            ("fr-FR, en;q=0.5, zh;q=0.4", "en"),
            ("de, *;q=0.5", None),
            ("en;q=0, zh-TW", "zh"),
            ("en;q=abc, zh;q=0.1", "zh"),
            ("", None),
            (None, None),
        ],
    )
    def test_accept_language(self, header: str | None, lang: Lang | None) -> None:
        assert negotiate(header) == lang

    def test_asked_beats_remembered_beats_header(self) -> None:
        assert choose_lang("en", "zh", "zh-CN") == "en"
        assert choose_lang(None, "en", "zh-CN") == "en"
        assert choose_lang("xx", None, "en") == "en"
        assert choose_lang(None, None, None) == "zh"


class TestProblemsOverHttp:
    def _unknown_learner(
        self, client: TestClient, headers: dict[str, str], **kw: object
    ) -> dict[str, object]:
        r = client.get("/api/v1/learners/lrn_nobody", headers=headers, **kw)
        assert r.status_code == 404, r.text
        assert r.headers["content-type"].startswith(PROBLEM)
        body: dict[str, object] = r.json()
        return body

    def test_accept_language_picks_the_title_and_the_type_stays(
        self, client: TestClient, auth: Tokens
    ) -> None:
        admin = auth(Role.admin)
        zh = self._unknown_learner(client, {**admin, "Accept-Language": "zh-CN,zh;q=0.9"})
        en = self._unknown_learner(client, {**admin, "Accept-Language": "en-GB,en;q=0.9"})
        assert zh["title"] == "没有该学习者"
        assert en["title"] == "No such learner"
        assert zh["type"] == en["type"] == "https://creditbank.example/problems/learner-not-found"
        assert zh["status"] == en["status"] == 404

    def test_chinese_when_nothing_is_asked(self, client: TestClient, auth: Tokens) -> None:
        assert self._unknown_learner(client, auth(Role.admin))["title"] == "没有该学习者"

    def test_query_and_cookie_beat_the_header(self, client: TestClient, auth: Tokens) -> None:
        headers = {**auth(Role.admin), "Accept-Language": "zh-CN"}
        asked = self._unknown_learner(client, headers, params={"lang": "en"})
        assert asked["title"] == "No such learner"
        client.cookies.set("cb_lang", "en")
        try:
            assert self._unknown_learner(client, headers)["title"] == "No such learner"
        finally:
            client.cookies.clear()

    def test_unauthenticated_and_validation_problems_are_translated(self, client: TestClient) -> None:
        r = client.get("/api/v1/learners/lrn_nobody", headers={"Accept-Language": "en"})
        assert (r.status_code, r.json()["title"]) == (401, "Authentication required")
        r = client.get("/api/v1/learners/lrn_nobody")
        assert (r.status_code, r.json()["title"], r.json()["detail"] != "") == (401, "需要身份认证", True)

    def test_router_problems_are_translated(self, client: TestClient, auth: Tokens) -> None:
        missing = client.get("/api/v1/no-such-route", headers={"Accept-Language": "zh"})
        assert (missing.status_code, missing.json()["title"], missing.json()["detail"]) == (
            404,
            "未找到",
            "未找到",
        )
        wrong = client.delete("/healthz", headers={"Accept-Language": "zh"})
        assert wrong.status_code == 405
        assert wrong.json()["title"] == "该地址不支持此请求方法"
        assert wrong.json()["type"].endswith("/method-not-allowed")

    def test_a_422_is_translated_and_keeps_its_errors(self, client: TestClient, auth: Tokens) -> None:
        headers = {**auth(Role.admin), "Accept-Language": "zh-CN"}
        r = client.post("/api/v1/learners", headers=headers, json={"name": 1})
        assert r.status_code == 422
        body = r.json()
        assert body["title"] == "请求无效"
        assert body["type"].endswith("/validation-failed")
        assert body["errors"]

    @pytest.mark.parametrize(
        "header",
        ["x" * 8000, ";;;,,,;q=;q=1e400,", "zh;q=nan, en;q=inf", "中文".encode(), ",".join(["en"] * 2000)],
    )
    def test_a_hostile_accept_language_is_still_a_clean_problem(
        self, client: TestClient, auth: Tokens, header: str | bytes
    ) -> None:
        headers: dict[str, str | bytes] = {**auth(Role.admin), "Accept-Language": header}
        r = client.get("/api/v1/learners/lrn_nobody", headers=headers)
        assert r.status_code in (400, 404, 431), r.text
        assert r.json()["title"] in ("没有该学习者", "No such learner", "请求有误", "Bad request")
