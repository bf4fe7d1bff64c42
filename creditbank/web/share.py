"""Time-limited, read-only share links of a learner's archive.

A link carries ``{"l": learner id, "e": expiry (Unix seconds), "n": nonce}`` signed with the
session secret (itsdangerous, its own salt), so it cannot be forged or extended, and it stops
working at its expiry. Nothing is stored: the learner can make as many as they like, and each
view through a link is logged as an access to the archive by someone other than the learner.
"""

import datetime as dt
import secrets
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeSerializer

SHARE_DAYS = 7
_SALT = "creditbank-share-link"


@dataclass(frozen=True)
class ShareGrant:
    learner_id: str
    expires: dt.datetime
    nonce: str


def _serializer(secret: bytes) -> URLSafeSerializer:
    return URLSafeSerializer(secret, salt=_SALT)


def make_share_token(
    secret: bytes, learner_id: str, *, now: dt.datetime | None = None, days: int = SHARE_DAYS
) -> tuple[str, dt.datetime]:
    """A signed share token for the learner's archive and the moment it expires."""
    expires = (now or dt.datetime.now(dt.UTC)).replace(microsecond=0) + dt.timedelta(days=days)
    payload = {"l": learner_id, "e": int(expires.timestamp()), "n": secrets.token_urlsafe(6)}
    return _serializer(secret).dumps(payload), expires


def read_share_token(secret: bytes, token: str, *, now: dt.datetime | None = None) -> ShareGrant | None:
    """The grant of a genuine, unexpired token, else None."""
    if len(token) > 400:
        return None
    try:
        payload = _serializer(secret).loads(token)
    except BadSignature:
        return None
    if not isinstance(payload, dict):
        return None
    learner, expiry, nonce = payload.get("l"), payload.get("e"), payload.get("n")
    if not isinstance(learner, str) or not isinstance(expiry, int) or not isinstance(nonce, str):
        return None
    expires = dt.datetime.fromtimestamp(expiry, dt.UTC)
    if expires <= (now or dt.datetime.now(dt.UTC)):
        return None
    return ShareGrant(learner_id=learner, expires=expires, nonce=nonce)
