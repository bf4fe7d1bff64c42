"""The demo's exchange: a transfer that converted, a valid certificate and a revoked one, made once."""

from sqlalchemy import Connection, text

from creditbank.context import AppContext
from creditbank.credentials.local_resolver import DatabaseResolver
from creditbank.demo import load_demo, load_exchange
from creditbank.standards.vc.verification import verify_certificate


def test_demo_exchange_is_idempotent_and_verifiable(ctx: AppContext, db: Connection) -> None:
    results = []
    for _ in range(2):
        with ctx.sessions() as session, session.begin():
            load_demo(session, ctx)
        with ctx.sessions() as session, session.begin():
            results.append(load_exchange(session, ctx))
    (valid, revoked), (valid_again, revoked_again) = results
    assert valid == valid_again
    assert revoked == revoked_again
    assert db.execute(text("SELECT count(*) FROM conversions")).scalar_one() == 1
    assert (
        db.execute(text("SELECT count(*) FROM transfer_requests WHERE status = 'accepted'")).scalar_one() == 1
    )
    # the converted transfer carries the learner's consent, used by that conversion
    consent = db.execute(
        text(
            "SELECT c.given_via, c.used_at IS NOT NULL, c.learner_id = v.learner_id "
            "FROM conversions v JOIN learner_consents c ON c.id = v.consent_id "
            "AND c.conversion_id = v.id AND c.transfer_id = v.transfer_id"
        )
    ).one()
    assert tuple(consent) == ("transfer", True, True)
    assert (
        db.execute(
            text("SELECT count(*) FROM credential_certificates WHERE revoked_at IS NOT NULL")
        ).scalar_one()
        == 1
    )
    with ctx.sessions() as session:
        resolver = DatabaseResolver(session, ctx.settings.base_url)
        good = verify_certificate(valid, resolver)
        bad = verify_certificate(revoked, resolver)
    assert good.valid, good.to_json()
    assert not bad.valid
    assert [c.name for c in bad.checks if not c.ok] == ["status"]
