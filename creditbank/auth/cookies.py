"""The web session cookie: the API token, signed and time-limited with itsdangerous."""

from itsdangerous import BadSignature, URLSafeTimedSerializer

SESSION_MAX_AGE_SECONDS = 8 * 3600


def _serializer(secret: bytes) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt="creditbank-session")


def make_session_cookie(secret: bytes, token: str) -> str:
    return _serializer(secret).dumps(token)


def read_session_cookie(secret: bytes, value: str) -> str | None:
    """Return the token inside a valid, unexpired cookie, else None."""
    try:
        token = _serializer(secret).loads(value, max_age=SESSION_MAX_AGE_SECONDS)
    except BadSignature:
        return None
    return token if isinstance(token, str) else None
