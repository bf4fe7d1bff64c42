"""Helpers for the learner-account tests: register and sign in through the pages' own forms."""

import itertools

from fastapi.testclient import TestClient
from httpx import Response

from tests.support.signin import csrf_of

PASSWORD = "学分银行-correct-horse"
_phones = itertools.count(1)


def phone() -> str:
    """A mobile number, different on every call (within one run)."""
    return f"1390{next(_phones):07d}"


def register(
    client: TestClient,
    number: str,
    *,
    name: str = "陈静",
    contact: str | None = None,
    password: str = PASSWORD,
    again: str | None = None,
    district: str = "海淀区",
) -> Response:
    """Open the registration form (its pre-session cookie and token), then post it. No redirect is
    followed."""
    form = client.get("/register")
    assert form.status_code == 200, form.text
    response: Response = client.post(
        "/register",
        data={
            "name": name,
            "identity_number": number,
            "contact": contact or phone(),
            "district": district,
            "password": password,
            "password_again": password if again is None else again,
            "csrf": csrf_of(form.text),
        },
        follow_redirects=False,
    )
    return response


def password_signin(client: TestClient, contact: str, password: str = PASSWORD) -> Response:
    form = client.get("/archive")
    response: Response = client.post(
        "/signin/password",
        data={"contact": contact, "password": password, "csrf": csrf_of(form.text)},
        follow_redirects=False,
    )
    return response


def account_code(client: TestClient) -> str:
    html: str = client.get("/account").text
    start = html.index('id="account-code">') + len('id="account-code">')
    return html[start : html.index("<", start)]
