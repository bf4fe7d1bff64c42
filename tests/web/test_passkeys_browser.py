"""Passkeys in a real headless Chromium with its virtual authenticator (CDP ``WebAuthn`` domain),
against a real server process: a person registers, adds a passkey on the account page, signs out,
signs in with the passkey alone, and deletes it. The server is reached as ``localhost`` (WebAuthn
refuses IP addresses as relying party IDs), with the RP ID and origin from its configuration.

Chromium is Debian's ``/usr/bin/chromium``; without it this test fails with a message, it is not skipped.
"""

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, Playwright, expect, sync_playwright

from tests.support.factories import identity_number
from tests.support.postgres import PostgresServer
from tests.support.server import ServerProcess, prepare_database
from tests.web.test_browser import CHROMIUM, CHROMIUM_ARGS, DESKTOP, Watch, shot

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PASSWORD = "学分银行-passkey-walk"


@pytest.fixture(scope="module")
def server(pg_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    var_dir = tmp_path_factory.mktemp("passkey-var")
    url = prepare_database(pg_server, "creditbank_passkeys", var_dir)
    process = ServerProcess(url, var_dir, publisher=False)
    origin = f"http://localhost:{process.port}"
    process.extra_env = {
        "CREDITBANK_BASE_URL": origin,
        "CREDITBANK_PASSKEY_RP_ID": "localhost",
        "CREDITBANK_PASSKEY_ORIGINS": origin,
    }
    process.start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"Chromium is not installed at {CHROMIUM} (run `make system-deps`)", pytrace=False)
    with sync_playwright() as p:
        yield _launch(p)


def _launch(p: Playwright) -> Browser:
    return p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


def _register(page: Page, contact: str) -> None:
    page.goto("/register")
    page.locator("#name").fill("林晓")
    page.locator("#identity_number").fill(identity_number())
    page.locator("#contact").fill(contact)
    page.locator("#district").select_option("海淀区")
    page.locator("#password").fill(PASSWORD)
    page.locator("#password_again").fill(PASSWORD)
    with page.expect_navigation():
        page.locator("form[action='/register'] button[type=submit]").click()
    assert page.url.endswith("/account?done=registered"), page.url


def test_add_a_passkey_then_sign_in_with_it_alone(server: ServerProcess, chromium: Browser) -> None:
    base = f"http://localhost:{server.port}"
    context = chromium.new_context(base_url=base, viewport=DESKTOP, locale="zh-CN")  # type: ignore[arg-type]
    watch = Watch(base)
    page = context.new_page()
    page.on("request", watch.on_request)
    page.on("console", watch.on_console)
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    added: dict[str, Any] = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    authenticator = added["authenticatorId"]
    try:
        _register(page, "13911112222")
        code = page.locator("#account-code").inner_text()
        # 1. add a passkey on the account page
        page.locator("#passkey-label").fill("我的电脑")
        with page.expect_navigation():
            page.get_by_role("button", name="添加通行密钥").click()
        assert page.url.endswith("/account?done=passkey"), page.url
        expect(page.locator("#passkey-table")).to_contain_text("我的电脑")
        shot(page, "account-passkey")
        held = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})["credentials"]
        assert len(held) == 1 and held[0]["isResidentCredential"]
        # 2. sign out, then sign in with the passkey alone (no name, no password typed)
        with page.expect_navigation():
            page.locator("form[action='/signout'] button").first.click()
        page.goto("/archive")
        shot(page, "signin-passkey")
        with page.expect_navigation():
            page.get_by_role("button", name="用通行密钥登录").click()
        assert page.url.endswith("/account"), page.url
        assert page.locator("#account-code").inner_text() == code
        held = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})["credentials"]
        assert held[0]["signCount"] >= 1
        expect(page.locator("#passkey-table")).not_to_contain_text("尚未使用")
        # 3. delete it: the table is gone, and the passkey no longer signs in
        with page.expect_navigation():
            page.locator("#passkey-table").get_by_role("button", name="删除").click()
        expect(page.locator("#passkey-table")).to_have_count(0)
        with page.expect_navigation():
            page.locator("form[action='/signout'] button").first.click()
        page.goto("/archive")
        page.get_by_role("button", name="用通行密钥登录").click()
        expect(page.locator("#passkey-status")).to_contain_text("通行密钥登录未成功")
        assert "cb_session" not in {c["name"] for c in context.cookies()}
    finally:
        context.close()
    watch.check()
