"""Signing in through the pages' own form, as a browser does: the one helper every page test uses.

A browser opens a page, gets its sign-in form (with the pre-session cookie and the form's CSRF token
and ``next`` field), and sends it back with the token. :func:`signin` does exactly that and returns
the answer (no redirect followed); :func:`sign_in` also checks the answer is the 303 of a success
and returns the CSRF token of the page it lands on, ready for the next form.
"""

import re

from fastapi.testclient import TestClient
from httpx import Response

from creditbank.auth.models import Role
from creditbank.auth.service import create_reviewer, create_token
from creditbank.context import AppContext

CSRF = re.compile(r'name="csrf" value="([0-9a-f]*)"')
NEXT = re.compile(r'name="next" value="([^"]*)"')


def mint(ctx: AppContext, role: Role, subject: str | None = None) -> str:
    """A plaintext token, committed inside the test's transaction (a reviewer token without a
    subject gets a new reviewer account: another person)."""
    with ctx.sessions() as s, s.begin():
        if role is Role.reviewer and subject is None:
            subject = create_reviewer(s, "页面审核员").id
        _, token = create_token(s, ctx.token_key, role, subject)
    return token


def csrf_of(html: str) -> str:
    """The CSRF token of the (first) form on a page."""
    found = CSRF.search(html)
    assert found, "the page has no CSRF field"
    return found.group(1)


def signin(client: TestClient, token: str, page: str = "/", **fields: str) -> Response:
    """Open ``page``, fill its sign-in form with ``token`` and send it back with every hidden field
    as the page wrote it (``fields`` added or overriding). No redirect is followed."""
    form = client.get(page)
    found = NEXT.search(form.text)
    hidden = {"csrf": csrf_of(form.text), **({"next": found.group(1)} if found else {})}
    response: Response = client.post(
        "/signin", data={**hidden, "token": token, **fields}, follow_redirects=False
    )
    return response


def sign_in(client: TestClient, token: str, page: str = "/") -> str:
    """Sign in through ``page``'s form; return the CSRF token of the page the sign-in lands on.

    Fails the test when the sign-in is not the 303 of a success.
    """
    response = signin(client, token, page)
    assert response.status_code == 303, response.text
    return csrf_of(client.get(response.headers["location"]).text)
