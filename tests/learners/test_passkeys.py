"""Passkeys of learner accounts through real HTTP, with a software authenticator making real ES256
signatures, tried from the attacker's side: a replayed assertion, a challenge taken from another
browser, another account's credential, another origin, a cloned authenticator, an expired challenge."""

import re
from typing import Any

from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Connection, text

from creditbank.auth.models import Role
from creditbank.context import AppContext
from creditbank.main import create_app
from tests.conftest import Tokens
from tests.learners.accounts_support import account_code, register
from tests.support.authenticator import SoftAuthenticator
from tests.support.factories import create_institution, create_learner, identity_number
from tests.support.signin import csrf_of

ORIGIN = "http://testserver"
RP_ID = "testserver"


def _browser(ctx: AppContext) -> TestClient:
    return TestClient(create_app(ctx=ctx), raise_server_exceptions=False)


def _signed_up(ctx: AppContext) -> tuple[TestClient, str]:
    """A browser signed in to a new account; the account page's CSRF token."""
    browser = _browser(ctx)
    assert register(browser, identity_number()).status_code == 303
    return browser, csrf_of(browser.get("/account").text)


def _add_passkey(
    browser: TestClient, csrf: str, device: SoftAuthenticator, label: str = "办公室电脑"
) -> Response:
    options = browser.post("/account/passkeys/options", headers={"X-CSRF-Token": csrf})
    assert options.status_code == 200, options.text
    response: Response = browser.post(
        "/account/passkeys",
        json={"credential": device.create(options.json()), "label": label},
        headers={"X-CSRF-Token": csrf},
    )
    return response


def _signin_form(ctx: AppContext) -> tuple[TestClient, str]:
    browser = _browser(ctx)
    return browser, csrf_of(browser.get("/archive").text)


def _signin_options(browser: TestClient, csrf: str) -> dict[str, Any]:
    options = browser.post("/signin/passkey/options", headers={"X-CSRF-Token": csrf})
    assert options.status_code == 200, options.text
    found: dict[str, Any] = options.json()
    return found


def _finish(browser: TestClient, csrf: str, assertion: dict[str, Any]) -> Response:
    response: Response = browser.post(
        "/signin/passkey", json={"credential": assertion}, headers={"X-CSRF-Token": csrf}
    )
    return response


def _device() -> SoftAuthenticator:
    return SoftAuthenticator(rp_id=RP_ID, origin=ORIGIN)


def _type(response: Response) -> str:
    kind: str = response.json()["type"]
    return kind.rsplit("/", 1)[-1]


class TestPasskeyLife:
    def test_register_list_sign_in_and_delete(self, ctx: AppContext, db: Connection) -> None:
        owner, csrf = _signed_up(ctx)
        code = account_code(owner)
        device = _device()
        added = _add_passkey(owner, csrf, device)
        assert added.status_code == 201, added.text
        page = owner.get("/account").text
        assert "办公室电脑" in page and 'id="passkey-table"' in page
        # signing in with it from another browser, no password
        browser, signin_csrf = _signin_form(ctx)
        done = _finish(browser, signin_csrf, device.get(_signin_options(browser, signin_csrf)))
        assert done.status_code == 200, done.text
        assert done.json()["location"] == "/account" and "cb_session" in browser.cookies
        assert account_code(browser) == code
        stored = db.execute(
            text("SELECT sign_count, last_used_at FROM passkeys WHERE account_id = :a"), {"a": code}
        ).one()
        assert stored.sign_count == 1 and stored.last_used_at is not None
        # deleting it: it no longer signs in
        passkey_id = added.json()["id"]
        deleted = owner.post(
            "/account/passkeys/delete", data={"passkey_id": passkey_id, "csrf": csrf}, follow_redirects=False
        )
        assert deleted.status_code == 303
        assert "办公室电脑" not in owner.get("/account").text
        again, again_csrf = _signin_form(ctx)
        refused = _finish(again, again_csrf, device.get(_signin_options(again, again_csrf)))
        assert refused.status_code == 401 and _type(refused) == "passkey-signin-failed"
        assert "cb_session" not in again.cookies


class TestReplay:
    def test_a_replayed_assertion_signs_nobody_in(self, ctx: AppContext) -> None:
        owner, csrf = _signed_up(ctx)
        device = _device()
        assert _add_passkey(owner, csrf, device).status_code == 201
        browser, signin_csrf = _signin_form(ctx)
        assertion = device.get(_signin_options(browser, signin_csrf))
        assert _finish(browser, signin_csrf, assertion).status_code == 200
        # the same assertion again, from the attacker who captured it: its challenge is used
        attacker, attacker_csrf = _signin_form(ctx)
        replayed = _finish(attacker, attacker_csrf, assertion)
        assert replayed.status_code == 422 and _type(replayed) == "passkey-challenge-missing"
        # with a fresh challenge of the attacker's own: the old assertion signed another challenge
        _signin_options(attacker, attacker_csrf)
        replayed = _finish(attacker, attacker_csrf, assertion)
        assert replayed.status_code == 401 and "cb_session" not in attacker.cookies

    def test_a_challenge_serves_once_even_when_refused(self, ctx: AppContext) -> None:
        owner, csrf = _signed_up(ctx)
        device = _device()
        assert _add_passkey(owner, csrf, device).status_code == 201
        browser, signin_csrf = _signin_form(ctx)
        options = _signin_options(browser, signin_csrf)
        forged = device.get(options)
        forged["response"]["signature"] = forged["response"]["signature"][:-4] + "AAAA"
        assert _finish(browser, signin_csrf, forged).status_code == 401
        honest = device.get(options)  # the right answer to the used challenge: too late
        late = _finish(browser, signin_csrf, honest)
        assert late.status_code == 422 and _type(late) == "passkey-challenge-missing"

    def test_a_cloned_authenticator_is_caught_by_the_sign_counter(self, ctx: AppContext) -> None:
        owner, csrf = _signed_up(ctx)
        device = _device()
        assert _add_passkey(owner, csrf, device).status_code == 201
        browser, signin_csrf = _signin_form(ctx)
        assert (
            _finish(browser, signin_csrf, device.get(_signin_options(browser, signin_csrf))).status_code
            == 200
        )
        clone, clone_csrf = _signin_form(ctx)
        stale = device.get(
            _signin_options(clone, clone_csrf), count=False
        )  # counter not above the stored one
        refused = _finish(clone, clone_csrf, stale)
        assert refused.status_code == 401 and "cb_session" not in clone.cookies


class TestAnotherBrowsersChallenge:
    def test_signing_in_over_a_challenge_issued_to_another_browser(self, ctx: AppContext) -> None:
        owner, csrf = _signed_up(ctx)
        device = _device()
        assert _add_passkey(owner, csrf, device).status_code == 201
        victim, victim_csrf = _signin_form(ctx)
        assertion = device.get(_signin_options(victim, victim_csrf))
        attacker, attacker_csrf = _signin_form(ctx)
        _signin_options(attacker, attacker_csrf)  # the attacker's own challenge waits
        refused = _finish(attacker, attacker_csrf, assertion)
        assert refused.status_code == 401 and "cb_session" not in attacker.cookies

    def test_registering_over_a_challenge_issued_to_another_session(self, ctx: AppContext) -> None:
        first, csrf = _signed_up(ctx)
        options = first.post("/account/passkeys/options", headers={"X-CSRF-Token": csrf}).json()
        other, other_csrf = _signed_up(ctx)
        refused = other.post(
            "/account/passkeys",
            json={"credential": _device().create(options)},
            headers={"X-CSRF-Token": other_csrf},
        )
        assert refused.status_code == 422 and _type(refused) == "passkey-challenge-missing"
        assert 'id="passkey-table"' not in other.get("/account").text

    def test_a_cross_site_request_gets_no_challenge(self, ctx: AppContext) -> None:
        owner, _ = _signed_up(ctx)
        assert owner.post("/account/passkeys/options").status_code == 403
        browser, _ = _signin_form(ctx)
        stale = browser.post("/signin/passkey/options", headers={"X-CSRF-Token": "0" * 64})
        assert stale.status_code == 422 and _type(stale) == "csrf-failed"


class TestAnotherAccountsCredential:
    def test_deleting_another_accounts_passkey_by_id(self, ctx: AppContext, db: Connection) -> None:
        victim, csrf = _signed_up(ctx)
        added = _add_passkey(victim, csrf, _device())
        attacker, attacker_csrf = _signed_up(ctx)
        refused = attacker.post(
            "/account/passkeys/delete", data={"passkey_id": added.json()["id"], "csrf": attacker_csrf}
        )
        assert refused.status_code == 404
        assert (
            db.execute(
                text("SELECT count(*) FROM passkeys WHERE id = :id"), {"id": added.json()["id"]}
            ).scalar_one()
            == 1
        )

    def test_registering_a_credential_already_on_another_account(self, ctx: AppContext) -> None:
        victim, csrf = _signed_up(ctx)
        device = _device()
        assert _add_passkey(victim, csrf, device).status_code == 201
        attacker, attacker_csrf = _signed_up(ctx)
        taken = _add_passkey(attacker, attacker_csrf, device)
        assert taken.status_code == 409 and _type(taken) == "passkey-registered"

    def test_an_assertion_signed_with_another_key_for_the_victims_credential(self, ctx: AppContext) -> None:
        victim, csrf = _signed_up(ctx)
        device = _device()
        assert _add_passkey(victim, csrf, device).status_code == 201
        attacker_device = _device()
        attacker_device.credential_id = device.credential_id  # claims the victim's credential
        attacker_device.user_handle = device.user_handle
        browser, signin_csrf = _signin_form(ctx)
        refused = _finish(browser, signin_csrf, attacker_device.get(_signin_options(browser, signin_csrf)))
        assert refused.status_code == 401 and "cb_session" not in browser.cookies

    def test_a_user_handle_naming_another_account(self, ctx: AppContext) -> None:
        victim, csrf = _signed_up(ctx)
        device = _device()
        assert _add_passkey(victim, csrf, device).status_code == 201
        device.user_handle = b"acc_someone_else"
        browser, signin_csrf = _signin_form(ctx)
        refused = _finish(browser, signin_csrf, device.get(_signin_options(browser, signin_csrf)))
        assert refused.status_code == 401


class TestRelyingParty:
    def test_an_answer_made_at_another_origin_is_refused(self, ctx: AppContext) -> None:
        owner, csrf = _signed_up(ctx)
        device = _device()
        assert _add_passkey(owner, csrf, device).status_code == 201
        browser, signin_csrf = _signin_form(ctx)
        phished = device.get(_signin_options(browser, signin_csrf), origin="https://creditbank.example.net")
        assert _finish(browser, signin_csrf, phished).status_code == 401

    def test_a_passkey_for_another_rp_is_not_registered(self, ctx: AppContext) -> None:
        owner, csrf = _signed_up(ctx)
        refused = _add_passkey(owner, csrf, SoftAuthenticator(rp_id="evil.example", origin=ORIGIN))
        assert refused.status_code == 422 and _type(refused) == "passkey-invalid"

    def test_an_expired_challenge_is_refused(self, ctx: AppContext, db: Connection) -> None:
        owner, csrf = _signed_up(ctx)
        device = _device()
        assert _add_passkey(owner, csrf, device).status_code == 201
        browser, signin_csrf = _signin_form(ctx)
        options = _signin_options(browser, signin_csrf)
        db.execute(text("UPDATE passkey_challenges SET expires_at = now() - interval '1 second'"))
        late = _finish(browser, signin_csrf, device.get(options))
        assert late.status_code == 422 and _type(late) == "passkey-challenge-missing"


class TestPasskeyReturn:
    def test_a_passkey_sign_in_returns_to_its_page_and_never_to_another_site(
        self, ctx: AppContext, client: TestClient, auth: Tokens
    ) -> None:
        school = auth(Role.institution, create_institution(client, auth(Role.admin)))
        number = identity_number()
        create_learner(client, school, name="陈静", number=number)
        owner = _browser(ctx)
        assert register(owner, number).status_code == 303
        verified = client.post(
            f"/api/v1/accounts/{account_code(owner)}/verification",
            json={},
            headers={**school, "Idempotency-Key": "passkey-return-1"},
        )
        assert verified.status_code == 200, verified.text
        device = _device()
        assert _add_passkey(owner, csrf_of(owner.get("/account").text), device).status_code == 201
        for sent, expected in (
            (None, "/progress"),
            ("//evil.example/steal", "/archive"),
            ("https://evil.example/", "/archive"),
        ):
            browser = _browser(ctx)
            form = browser.get("/progress").text
            written = re.search(r'id="passkey-signin"[^>]*data-next="([^"]*)"', form)
            assert written and written.group(1) == "/progress"
            csrf = csrf_of(form)
            done = browser.post(
                "/signin/passkey",
                json={
                    "credential": device.get(_signin_options(browser, csrf)),
                    "next": written.group(1) if sent is None else sent,
                },
                headers={"X-CSRF-Token": csrf},
            )
            assert done.status_code == 200, done.text
            assert done.json()["location"] == expected, (sent, done.json())
