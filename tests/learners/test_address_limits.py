"""Per-address limits on password sign-in and registration, tried from the attacker's side.

One address spraying a password over many accounts (one guess each, so no account locks), one
address opening account after account, and the same attacker writing ``X-Forwarded-For`` to look
like many addresses: each through real HTTP against the app on the real database."""

import dataclasses
import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, text

from creditbank.context import AppContext
from creditbank.main import create_app
from tests.learners.accounts_support import PASSWORD, password_signin, phone, register
from tests.support.factories import identity_number

LIMIT = 3
BROWSER = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


def _limited(ctx: AppContext, **more: object) -> AppContext:
    settings = ctx.settings.model_copy(
        update={"signin_failures_per_address": LIMIT, "registrations_per_address": LIMIT, **more}
    )
    return dataclasses.replace(ctx, settings=settings)


def _from(ctx: AppContext, address: str) -> TestClient:
    """A client whose connection comes from ``address``."""
    return TestClient(create_app(ctx=ctx), raise_server_exceptions=False, client=(address, 40000))


def _accounts(ctx: AppContext, count: int) -> list[str]:
    """Open ``count`` accounts, each from an address of its own; their sign-in names."""
    contacts = []
    for n in range(count):
        contact = phone()
        assert (
            register(_from(ctx, f"198.51.100.{n + 1}"), identity_number(), contact=contact).status_code == 303
        )
        contacts.append(contact)
    return contacts


def _count(db: Connection, table: str) -> int:
    return int(db.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


class TestPasswordSpray:
    def test_one_address_guessing_over_many_accounts_is_stopped_before_any_password_is_checked(
        self, ctx: AppContext, db: Connection
    ) -> None:
        limited = _limited(ctx)
        victims = _accounts(limited, LIMIT + 1)
        attacker = _from(limited, "203.0.113.9")
        attacker.headers.update(BROWSER)
        for contact in victims[:LIMIT]:  # one guess per account: no account locks
            assert password_signin(attacker, contact, "123456789").status_code == 422
        refused = password_signin(attacker, victims[LIMIT], "123456789")
        assert refused.status_code == 429, refused.text
        assert refused.headers["content-type"].startswith("text/html")
        assert "登录失败次数过多" in refused.text and "分钟后再试" in refused.text
        assert 0 < int(refused.headers["Retry-After"]) <= limited.settings.signin_address_window_seconds
        # even the right password is refused from that address (no argon2 time spent on it)
        right = password_signin(attacker, victims[0], PASSWORD)
        assert right.status_code == 429 and "cb_session" not in attacker.cookies
        # no account was locked by the spray, and the owners elsewhere sign in
        assert (
            db.execute(
                text("SELECT count(*) FROM learner_accounts WHERE locked_until IS NOT NULL")
            ).scalar_one()
            == 0
        )
        assert password_signin(_from(limited, "192.0.2.44"), victims[0]).status_code == 303

    def test_a_script_gets_a_problem_with_retry_after(self, ctx: AppContext) -> None:
        limited = _limited(ctx)
        attacker = _from(limited, "203.0.113.10")
        for _ in range(LIMIT):
            assert password_signin(attacker, phone(), "guess-123456").status_code == 422
        refused = password_signin(attacker, phone(), "guess-123456")
        assert refused.status_code == 429
        assert refused.headers["content-type"].startswith("application/problem+json")
        problem = refused.json()
        assert problem["type"].endswith("/too-many-signins") and problem["status"] == 429
        assert int(refused.headers["Retry-After"]) > 0

    def test_a_forged_forwarded_for_does_not_make_one_address_many(self, ctx: AppContext) -> None:
        limited = _limited(ctx)  # no trusted proxies: the header is never read
        attacker = _from(limited, "203.0.113.11")
        for n in range(LIMIT):
            attacker.headers["X-Forwarded-For"] = f"10.9.0.{n}"
            assert password_signin(attacker, phone(), "guess-123456").status_code == 422
        attacker.headers["X-Forwarded-For"] = "10.9.0.250"
        assert password_signin(attacker, phone(), "guess-123456").status_code == 429

    def test_behind_a_trusted_proxy_each_client_counts_alone_and_cannot_forge_its_way_out(
        self, ctx: AppContext
    ) -> None:
        limited = _limited(ctx, trusted_proxies="10.0.0.0/8")
        proxy = _from(limited, "10.0.0.2")
        # the attacker prepends forged addresses; the proxy appends the address it saw
        for n in range(LIMIT):
            proxy.headers["X-Forwarded-For"] = f"172.16.0.{n}, 203.0.113.12"
            assert password_signin(proxy, phone(), "guess-123456").status_code == 422
        proxy.headers["X-Forwarded-For"] = "172.16.9.9, 203.0.113.12"
        assert password_signin(proxy, phone(), "guess-123456").status_code == 429
        # another client behind the same proxy is not held back by the attacker
        proxy.headers["X-Forwarded-For"] = "203.0.113.77"
        assert password_signin(proxy, phone(), "guess-123456").status_code == 422

    def test_a_successful_sign_in_does_not_count(self, ctx: AppContext) -> None:
        limited = _limited(ctx)
        (contact,) = _accounts(limited, 1)
        school = _from(limited, "203.0.113.13")  # many learners behind one school's address
        for _ in range(LIMIT + 2):
            assert password_signin(school, contact).status_code == 303
            school.cookies.clear()


class TestRegistrationFlood:
    def test_one_address_opening_many_accounts_is_stopped_and_nothing_is_written(
        self, ctx: AppContext, db: Connection
    ) -> None:
        limited = _limited(ctx)
        flood = _from(limited, "203.0.113.20")
        flood.headers.update(BROWSER)
        for _ in range(LIMIT):
            assert register(flood, identity_number()).status_code == 303
            flood.cookies.clear()
        before = _count(db, "learner_accounts")
        refused = register(flood, identity_number())
        assert refused.status_code == 429, refused.text
        assert "注册次数过多" in refused.text and int(refused.headers["Retry-After"]) > 0
        assert "cb_session" not in flood.cookies
        assert _count(db, "learner_accounts") == before
        # a person at another address registers
        assert register(_from(limited, "192.0.2.45"), identity_number()).status_code == 303

    def test_refused_registrations_count_too(self, ctx: AppContext) -> None:
        limited = _limited(ctx)
        prober = _from(limited, "203.0.113.21")  # probing which phone numbers are registered
        taken = _accounts(limited, 1)[0]
        for _ in range(LIMIT):
            assert register(prober, identity_number(), contact=taken).status_code == 409
        refused = register(prober, identity_number(), contact=taken)
        assert refused.status_code == 429
        assert json.loads(refused.text)["type"].endswith("/too-many-registrations")


@pytest.mark.parametrize(
    ("peer", "forwarded", "trusted", "client"),
    [
        ("203.0.113.5", "1.2.3.4", "", "203.0.113.5"),
        ("10.0.0.2", "1.2.3.4, 198.51.100.7", "10.0.0.0/8", "198.51.100.7"),
        ("10.0.0.2", "198.51.100.7, 10.0.0.3", "10.0.0.0/8", "198.51.100.7"),
        ("10.0.0.2", "garbage", "10.0.0.0/8", "10.0.0.2"),
        ("2001:db8:1:2:3:4:5:6", "", "", "2001:db8:1:2::/64"),
        ("::ffff:203.0.113.5", "", "", "203.0.113.5"),
    ],
)
def test_the_client_address(ctx: AppContext, peer: str, forwarded: str, trusted: str, client: str) -> None:
    from starlette.requests import Request

    from creditbank.deps import client_address

    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded else []
    request = Request({"type": "http", "headers": headers, "client": (peer, 1)})
    assert client_address(request, trusted) == client


def test_uvicorn_rewrites_no_client_address() -> None:
    """The server must not take X-Forwarded-For on its own (uvicorn trusts 127.0.0.1 by default)."""
    from creditbank.serving import uvicorn_options

    assert uvicorn_options(1)["proxy_headers"] is False
