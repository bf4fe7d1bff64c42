"""Read-only share links of a learner's archive.

A link carries the id of a ``share_links`` row, signed with the session secret (itsdangerous, its
own salt), so it cannot be forged. The row decides whether the link works
(:func:`creditbank.learners.access.live_share_link`): it stops at its expiry, when the learner
revokes it on the archive page, and when the learner's data is erased. Each view through a link is
logged as an access to the archive by someone other than the learner.
"""

from itsdangerous import BadSignature, URLSafeSerializer

from creditbank.errors import NotFound


class ShareLinkInvalid(NotFound):
    slug = "share-link-invalid"
    title = "Share link not valid"


SHARE_DAYS = 7
_SALT = "creditbank-share-link"


def _serializer(secret: bytes) -> URLSafeSerializer:
    return URLSafeSerializer(secret, salt=_SALT)


def make_share_token(secret: bytes, link_id: str) -> str:
    """The signed token of a share link (the path segment after ``/share/``)."""
    return _serializer(secret).dumps({"s": link_id})


def read_share_token(secret: bytes, token: str) -> str | None:
    """The share link id of a genuine token, else None (whether the link still works is the row's)."""
    if len(token) > 400:
        return None
    try:
        payload = _serializer(secret).loads(token)
    except BadSignature:
        return None
    link_id = payload.get("s") if isinstance(payload, dict) else None
    return link_id if isinstance(link_id, str) else None
