"""One helper for every idempotent write endpoint (the pattern of ``POST /api/v1/outcomes``).

The key is claimed inside the request's transaction, the work runs, and its response is stored in
the same transaction (see :mod:`creditbank.ledger.idempotency`): the same key with the same request
returns the first response again (``Idempotent-Replayed: true``), with another request a 409, and
a failed request leaves no claim behind.
"""

from collections.abc import Callable, Sequence
from typing import Any

from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from sqlmodel import Session

from creditbank.auth.service import Principal
from creditbank.ledger import idempotency


def scope_of(who: Principal) -> str:
    """Whose keys: the role and the subject (or the token, for roles without a subject)."""
    return f"{who.role.value}:{who.subject or who.token_id}"


def run(
    session: Session,
    who: Principal,
    key: str | None,
    *,
    method: str,
    path: str,
    request: Any,
    work: Callable[[], tuple[int, BaseModel]],
    also: Sequence[Any] = (),
) -> JSONResponse:
    """Run ``work`` once per (caller, key); ``request`` is what makes two requests the same.
    ``also``: other forms of the same request, matched against a stored key but never stored (the
    request as it was fingerprinted under the pepper before a rotation).

    Raises:
        IdempotencyKeyInvalid: no or a malformed key.
        IdempotencyKeyReused: the key was used for a different request.
        whatever ``work`` raises (and then nothing is stored).
    """
    checked = idempotency.check_key(key)
    replayed = claim(session, who, checked, method=method, path=path, request=request, also=also)
    if replayed is not None:
        return replayed
    status_code, body = work()
    return answer(session, who, checked, status_code, body)


def claim(
    session: Session,
    who: Principal,
    key: str,
    *,
    method: str,
    path: str,
    request: Any,
    also: Sequence[Any] = (),
) -> JSONResponse | None:
    """The first half of :func:`run`: claim a checked key (None: do the work, then :func:`answer`),
    or the stored response again.

    Raises:
        IdempotencyKeyReused: the key was used for a different request.
    """
    stored = idempotency.claim(
        session,
        scope_of(who),
        key,
        idempotency.fingerprint(method, path, request),
        also=[idempotency.fingerprint(method, path, other) for other in also],
    )
    return replay(stored)


def replay(stored: idempotency.StoredResponse | None) -> JSONResponse | None:
    """The stored response of a key claimed before, given again (None: the key is this request's)."""
    if stored is None:
        return None
    return JSONResponse(stored.body, status_code=stored.status_code, headers={"Idempotent-Replayed": "true"})


def answer(session: Session, who: Principal, key: str, status_code: int, body: BaseModel) -> JSONResponse:
    """The second half of :func:`run`: store the response under the claimed key, and give it."""
    payload = body.model_dump(mode="json")
    idempotency.store(session, scope_of(who), key, status_code, payload)
    return JSONResponse(payload, status_code=status_code)


def answer_later(
    who: Principal, key: str, status_code: int, body: BaseModel
) -> tuple[Response, idempotency.Answer]:
    """:func:`answer` with the storing left to the caller (:func:`creditbank.ledger.idempotency.store_many`,
    in the same transaction): the response, and what to store under the claimed key.

    The body is serialised once, by pydantic, into the bytes a :class:`JSONResponse` of its
    ``model_dump(mode="json")`` renders (compact, UTF-8, no ASCII escapes), and those bytes are also
    the stored text (a replay parses it and renders it again: the same bytes). Checked byte for
    byte against the JSONResponse rendering: ``tests/outcomes/test_answer_bytes.py``.
    """
    rendered = body.__pydantic_serializer__.to_json(body)
    return Response(rendered, status_code=status_code, media_type="application/json"), idempotency.Answer(
        scope_of(who), key, status_code, text=rendered.decode()
    )


def post(
    session: Session,
    who: Principal,
    key: str | None,
    path: str,
    request: Any,
    work: Callable[[], tuple[int, BaseModel]],
    also: Sequence[Any] = (),
) -> JSONResponse:
    """:func:`run` for a ``POST`` to ``path``."""
    return run(session, who, key, method="POST", path=path, request=request, work=work, also=also)
