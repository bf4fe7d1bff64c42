"""Sixteen learners ask for the five seats of a shared course at the same moment, each in a
transaction of its own on PostgreSQL: exactly five get a seat, the others a clear ``course-full``,
and the count of seats taken never passes the seats."""

import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

import pytest
from sqlmodel import col, select

from creditbank.auth.models import Role
from creditbank.auth.service import Principal
from creditbank.catalog import courses
from creditbank.catalog import service as catalog
from creditbank.catalog.models import CourseEnrolment, SharedCourse
from creditbank.catalog.schemas import ProgrammeCreate, SharedCourseCreate
from creditbank.db import transaction
from creditbank.errors import CreditBankError
from creditbank.ids import LearnerId
from creditbank.learners import service as learners
from tests.support.postgres import PostgresServer
from tests.support.server import prepare_database
from tests.support.world import build_world

pytestmark = pytest.mark.slow

RACERS = 16
SEATS = 5


def test_concurrent_enrolments_never_oversell_the_seats(pg_server: PostgresServer, tmp_path: Path) -> None:
    url = prepare_database(pg_server, "seat_race", tmp_path)
    world = build_world(url, tmp_path, n_institutions=2, n_learners=RACERS)
    (home, _), (host, _) = world.institutions
    home_who = Principal(Role.institution, home, None)
    for session in transaction(world.ctx.sessions):
        programme = catalog.create_programme(
            session,
            home,
            ProgrammeCreate(
                code="P1", title_zh="软件技术", title_en="Software", graduation_credits=Decimal(60)
            ),
        )
        course = catalog.publish_course(
            session,
            host,
            SharedCourseCreate(
                code="C1",
                title_zh="数据库",
                title_en="Databases",
                credits=Decimal(2),
                level=5,
                seats=SEATS,
            ),
        )
        for learner in world.learners:
            learners.link(session, LearnerId(learner), home)
            courses.admit(session, home_who, programme.id, learner)
        programme_id, course_id = programme.id, course.id
    start = threading.Barrier(RACERS)

    def racer(learner: str) -> str:
        who = Principal(Role.learner, learner, None)
        start.wait()
        try:
            for session in transaction(world.ctx.sessions):
                courses.request_enrolment(session, who, course_id=course_id, programme_id=programme_id)
            return "enrolled"
        except CreditBankError as exc:
            return exc.slug

    with ThreadPoolExecutor(RACERS) as pool:
        outcomes = list(pool.map(racer, world.learners))
    assert outcomes.count("enrolled") == SEATS, outcomes
    assert outcomes.count("course-full") == RACERS - SEATS, outcomes
    for session in transaction(world.ctx.sessions):
        row = session.get(SharedCourse, course_id)
        assert row is not None and row.seats_taken == SEATS
        enrolled = session.exec(
            select(CourseEnrolment).where(col(CourseEnrolment.course_id) == course_id)
        ).all()
        assert len(enrolled) == SEATS
    world.ctx.engine.dispose()
