"""The demo's shared courses and graduation audit: 王芳's page shows real figures, made once."""

from decimal import Decimal

from sqlalchemy import Connection, text

from creditbank.auth.models import Role
from creditbank.auth.service import Principal
from creditbank.catalog import progress
from creditbank.context import AppContext
from creditbank.demo import load_courses, load_demo, load_exchange


def test_demo_courses_are_idempotent_and_the_audit_shows_real_figures(
    ctx: AppContext, db: Connection
) -> None:
    for _ in range(2):
        with ctx.sessions() as session, session.begin():
            load_demo(session, ctx)
        with ctx.sessions() as session, session.begin():
            load_exchange(session, ctx)
        with ctx.sessions() as session, session.begin():
            load_courses(session, ctx)
    assert db.execute(text("SELECT count(*) FROM course_enrolments")).scalar_one() == 2
    assert db.execute(text("SELECT count(*) FROM conversions")).scalar_one() == 2  # the transfer and DB201
    learner, programme = db.execute(text("SELECT learner_id, programme_id FROM programme_learners")).one()
    with ctx.sessions() as session, session.begin():
        found = progress.audit(session, ctx, Principal(Role.learner, learner, None), programme, learner)
    major = next(f for f in found.categories if f.category == "major")
    assert major.needed == Decimal(24)
    assert major.converted >= Decimal(4)  # DB201 through the shared course (and the transfer's CS201)
    assert major.planned == Decimal(4)  # NET201, under way
    assert major.missing > 0
    states = {c.course.code: c.state for c in found.courses}
    assert states["DB201"] == "converted" and states["NET201"] == "planned" and states["SE301"] == "open"
    suggested = {(s.kind, s.item.destination_code) for s in found.suggestions}
    assert ("shared_course", "SE301") in suggested and ("shared_course", "ENG101") in suggested
