"""A committed little world (institutions, learners, tokens) for tests that run a real server."""

from dataclasses import dataclass
from pathlib import Path

from creditbank.auth.models import Role
from creditbank.auth.service import create_token
from creditbank.config import Settings
from creditbank.context import AppContext, build_context
from creditbank.db import create_engine, transaction
from creditbank.institutions import service as institutions
from creditbank.institutions.models import InstitutionKind
from creditbank.learners import service as learners
from tests.support.factories import credit_code, identity_number


@dataclass
class World:
    ctx: AppContext
    institutions: list[tuple[str, str]]  # (id, token)
    learners: list[str]
    admin_token: str


def build_world(url: str, var_dir: Path, *, n_institutions: int = 2, n_learners: int = 8) -> World:
    ctx = build_context(
        Settings(var_dir=var_dir, database_url=url, background_publisher=False),
        engine=create_engine(url, pool_size=4),
    )
    insts: list[tuple[str, str]] = []
    people: list[str] = []
    for session in transaction(ctx.sessions):
        for i in range(n_institutions):
            inst = institutions.register(
                session,
                name_zh=f"测试学校{i}",
                name_en=f"Test School {i}",
                credit_code=credit_code(),
                kind=InstitutionKind.vocational_school,  # accredited for every type the tests post
                district="海淀区",
            )
            _, token = create_token(session, ctx.token_key, Role.institution, inst.id)
            insts.append((inst.id, token))
        for i in range(n_learners):
            learner, _ = learners.register(
                session,
                identity_key=ctx.identity_key,
                master_key=ctx.secrets.master_key,
                name=f"学员{i}",
                identity_number=identity_number(),
                institution_id=insts[i % n_institutions][0],
            )
            people.append(learner.id)
        _, admin = create_token(session, ctx.token_key, Role.admin)
    return World(ctx=ctx, institutions=insts, learners=people, admin_token=admin)
