"""The ``creditbank`` command line against a temporary embedded (SQLite) var directory."""

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select
from typer.testing import CliRunner, Result

from creditbank.auth.models import Role
from creditbank.auth.service import Principal, authenticate
from creditbank.cli import app as cli
from creditbank.config import Settings, get_settings
from creditbank.context import AppContext, build_context
from creditbank.institutions.models import Institution
from creditbank.learners.models import Learner
from creditbank.migrate import current_revision, head_revision
from tests.support.factories import credit_code

FAILS_CHECK = "91310110666007217A"


class Cli:
    """Runs commands the way a shell would, with CREDITBANK_VAR_DIR pointing at a temporary folder."""

    def __init__(self, var_dir: Path) -> None:
        self.var_dir = var_dir
        self.runner = CliRunner()

    def __call__(self, *args: str) -> Result:
        get_settings.cache_clear()  # the CLI reads its settings once per process
        return self.runner.invoke(cli, list(args))

    def ok(self, *args: str) -> Result:
        result = self(*args)
        assert result.exit_code == 0, f"{args}: exit {result.exit_code}\n{result.output}"
        return result

    def context(self) -> AppContext:
        return build_context(Settings(var_dir=self.var_dir))

    def principal(self, token: str) -> Principal | None:
        ctx = self.context()
        try:
            with ctx.sessions() as session:
                return authenticate(session, ctx.token_key, token)
        finally:
            ctx.engine.dispose()

    def rows(self, model: Any) -> list[Any]:
        ctx = self.context()
        try:
            with ctx.sessions() as session:
                return list(session.exec(select(model)).all())
        finally:
            ctx.engine.dispose()


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cli]:
    for name in list(os.environ):
        if name.startswith("CREDITBANK_"):
            monkeypatch.delenv(name)
    var_dir = tmp_path / "var"
    monkeypatch.setenv("CREDITBANK_VAR_DIR", str(var_dir))
    monkeypatch.setenv("CREDITBANK_MODE", "demo")
    monkeypatch.setenv("CREDITBANK_LOG_LEVEL", "WARNING")
    yield Cli(var_dir)
    get_settings.cache_clear()


@pytest.fixture
def migrated(run: Cli) -> Cli:
    run.ok("db", "upgrade")
    return run


class TestDb:
    def test_upgrade_creates_the_embedded_database_at_head(self, run: Cli) -> None:
        result = run.ok("db", "upgrade")
        assert "database at head" in result.output
        assert (run.var_dir / "creditbank.db").exists()
        assert (run.var_dir / "secrets" / "master.key").exists(), "demo mode creates the secrets"
        ctx = run.context()
        try:
            with ctx.engine.connect() as conn:
                assert current_revision(conn) == head_revision()
        finally:
            ctx.engine.dispose()

    def test_upgrade_twice_is_harmless_and_current_reports(self, migrated: Cli) -> None:
        migrated.ok("db", "upgrade")
        current = migrated.ok("db", "current").output
        assert current.strip() == f"database: {head_revision()}  code: {head_revision()}"

    def test_downgrade_to_base(self, migrated: Cli) -> None:
        migrated.ok("db", "downgrade", "base")
        assert migrated.ok("db", "current").output.startswith("database: None")


class TestTokens:
    def test_create_list_revoke(self, migrated: Cli) -> None:
        created = migrated.ok("tokens", "create", "--role", "admin", "--label", "night operator")
        token = created.stdout.strip()
        assert re.fullmatch(r"cbt_[A-Za-z0-9_-]{40,}", token), created.stdout
        token_id = re.search(r"# token (tok_\w+) role=admin subject=- \(shown once\)", created.stderr)
        assert token_id, created.stderr
        principal = migrated.principal(token)
        assert principal is not None
        assert (principal.role, principal.subject, principal.token_id) == (
            Role.admin,
            None,
            token_id.group(1),
        )

        listed = migrated.ok("tokens", "list").stdout
        line = next(line for line in listed.splitlines() if line.startswith(token_id.group(1)))
        assert line.split("\t")[1:] == ["admin", "-", "live", "night operator"]
        assert token not in listed

        revoked = migrated.ok("tokens", "revoke", token_id.group(1))
        assert revoked.stdout.strip() == f"revoked {token_id.group(1)}"
        assert migrated.principal(token) is None
        listed = migrated.ok("tokens", "list").stdout
        assert re.search(
            rf"^{token_id.group(1)}\tadmin\t-\trevoked \d{{4}}-\d\d-\d\d\t", listed, re.MULTILINE
        )

    def test_subject_tokens(self, migrated: Cli) -> None:
        created = migrated.ok("tokens", "create", "--role", "institution", "--subject", "ins_somebody")
        principal = migrated.principal(created.stdout.strip())
        assert principal is not None
        assert (principal.role, principal.subject) == (Role.institution, "ins_somebody")

    def test_institution_token_needs_a_subject(self, migrated: Cli) -> None:
        result = migrated("tokens", "create", "--role", "institution")
        assert result.exit_code == 1
        assert "error (token-subject-required)" in result.output
        assert "cbt_" not in result.output

    def test_unknown_role_is_a_usage_error(self, migrated: Cli) -> None:
        result = migrated("tokens", "create", "--role", "superuser")
        assert result.exit_code == 2

    def test_revoking_an_unknown_token(self, migrated: Cli) -> None:
        result = migrated("tokens", "revoke", "tok_nothing")
        assert result.exit_code == 1
        assert "error (token-not-found)" in result.output


def _create_institution(run: Cli, code: str, *extra: str) -> Result:
    return run(
        "institutions",
        "create",
        "--name-zh",
        "北京市西城区社区学院",
        "--name-en",
        "Xicheng Community College",
        "--credit-code",
        code,
        "--kind",
        "community_college",
        "--district",
        "西城区",
        *extra,
    )


class TestInstitutions:
    def test_create_prints_the_institution(self, migrated: Cli) -> None:
        code = credit_code()
        result = _create_institution(migrated, code)
        assert result.exit_code == 0, result.output
        printed = json.loads(result.stdout)
        assert printed["id"].startswith("ins_")
        assert (printed["credit_code"], printed["name_zh"], printed["kind"]) == (
            code,
            "北京市西城区社区学院",
            "community_college",
        )
        assert [i.id for i in migrated.rows(Institution)] == [printed["id"]]

    def test_duplicate_code(self, migrated: Cli) -> None:
        code = credit_code()
        assert _create_institution(migrated, code).exit_code == 0
        again = _create_institution(migrated, code)
        assert again.exit_code == 1
        assert "error (credit-code-registered)" in again.output
        assert len(migrated.rows(Institution)) == 1

    def test_code_failing_its_check_needs_an_exception(self, migrated: Cli) -> None:
        refused = _create_institution(migrated, FAILS_CHECK)
        assert refused.exit_code == 1
        assert "error (invalid-credit-code)" in refused.output
        accepted = _create_institution(migrated, FAILS_CHECK, "--exception", "early code, confirmed by phone")
        assert accepted.exit_code == 0, accepted.output
        assert json.loads(accepted.stdout)["credit_code_exception"] == "early code, confirmed by phone"

    def test_unknown_kind(self, migrated: Cli) -> None:
        result = migrated(
            "institutions",
            "create",
            "--name-zh",
            "赌场",
            "--name-en",
            "Casino",
            "--credit-code",
            credit_code(),
            "--kind",
            "casino",
            "--district",
            "朝阳区",
        )
        assert result.exit_code == 2
        assert "unknown kind 'casino'" in result.output
        assert migrated.rows(Institution) == []


class TestDemo:
    def test_demo_writes_tokens_for_every_actor(self, migrated: Cli, tmp_path: Path) -> None:
        tokens_file = tmp_path / "demo-tokens.json"
        result = migrated.ok("demo", "--tokens-file", str(tokens_file))
        assert f"demo tokens written to {tokens_file}" in result.stderr
        tokens = json.loads(tokens_file.read_text(encoding="utf-8"))
        assert {"admin", "institutions", "learners", "auditor"} <= set(tokens)
        assert json.loads(result.stdout) == tokens

        admin = migrated.principal(tokens["admin"])
        assert admin is not None
        assert admin.role is Role.admin
        auditor = migrated.principal(tokens["auditor"])
        assert auditor is not None
        assert auditor.role is Role.auditor
        assert tokens["institutions"] and tokens["learners"]
        for group, role in (("institutions", Role.institution), ("learners", Role.learner)):
            for entry in tokens[group].values():
                principal = migrated.principal(entry["token"])
                assert principal is not None
                assert (principal.role, principal.subject) == (role, entry["id"])
        institution_ids = {i.id for i in migrated.rows(Institution)}
        assert {e["id"] for e in tokens["institutions"].values()} <= institution_ids
        assert {e["id"] for e in tokens["learners"].values()} <= {r.id for r in migrated.rows(Learner)}

    def test_demo_twice_adds_nothing_but_fresh_tokens(self, migrated: Cli, tmp_path: Path) -> None:
        first_file, second_file = tmp_path / "first.json", tmp_path / "second.json"
        migrated.ok("demo", "--tokens-file", str(first_file))
        counts = (len(migrated.rows(Institution)), len(migrated.rows(Learner)))
        migrated.ok("demo", "--tokens-file", str(second_file))
        assert (len(migrated.rows(Institution)), len(migrated.rows(Learner))) == counts
        first = json.loads(first_file.read_text(encoding="utf-8"))
        second = json.loads(second_file.read_text(encoding="utf-8"))

        def ids(tokens: dict[str, Any]) -> dict[str, dict[str, str]]:
            return {g: {k: v["id"] for k, v in tokens[g].items()} for g in ("institutions", "learners")}

        assert ids(first) == ids(second)
        assert first["admin"] != second["admin"]
        assert migrated.principal(first["admin"]) is not None, "earlier demo tokens stay valid"

    def test_demo_before_migrating_fails_and_writes_nothing(self, run: Cli, tmp_path: Path) -> None:
        result = run("demo", "--tokens-file", str(tmp_path / "t.json"))
        assert result.exit_code != 0
        assert not (tmp_path / "t.json").exists()


class TestSecrets:
    """Secrets are checked at start and rotated by command (creditbank.keyring)."""

    def test_demo_token_file_is_readable_by_its_owner_only(self, migrated: Cli, tmp_path: Path) -> None:
        tokens_file = tmp_path / "tokens.json"
        tokens_file.write_text("{}", encoding="utf-8")
        tokens_file.chmod(0o644)
        migrated.ok("demo", "--tokens-file", str(tokens_file))
        assert tokens_file.stat().st_mode & 0o777 == 0o600

    def test_demo_refuses_production_mode(
        self, migrated: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("CREDITBANK_MODE", "production")
        result = migrated("demo", "--tokens-file", str(tmp_path / "t.json"))
        assert result.exit_code == 2
        assert "refuses to run in production mode" in result.output
        assert not (tmp_path / "t.json").exists()

    def test_demo_mode_never_makes_a_new_master_key_over_a_database_in_use(self, migrated: Cli) -> None:
        key = migrated.var_dir / "secrets" / "master.key"
        key.unlink()
        result = migrated("db", "current")
        assert result.exit_code == 2, result.output
        assert "missing secret master.key" in result.output
        assert "already holds data" in result.output
        assert not key.exists()

    def test_production_refuses_a_key_file_others_may_read(
        self, migrated: Cli, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        key = migrated.var_dir / "secrets" / "pepper.key"
        key.chmod(0o640)
        monkeypatch.setenv("CREDITBANK_MODE", "production")
        result = migrated("db", "current")
        assert result.exit_code == 2
        assert f"chmod 600 {key}" in result.output
        key.chmod(0o600)
        migrated.ok("db", "current")

    def test_wrong_master_key_or_pepper_stops_the_app_at_start(self, migrated: Cli) -> None:
        from fastapi.testclient import TestClient

        from creditbank.keyring.service import WrongSecret
        from creditbank.main import create_app

        ctx = migrated.context()
        with TestClient(create_app(ctx=ctx)):  # the first start stores the key-check values
            pass
        for name in ("master.key", "pepper.key"):
            path = migrated.var_dir / "secrets" / name
            right = path.read_text()
            path.write_text(os.urandom(32).hex() + "\n")
            try:
                with pytest.raises(WrongSecret, match=f"in {path} is not the one"):  # noqa: SIM117
                    with TestClient(create_app(ctx=migrated.context())):
                        pass
            finally:
                path.write_text(right)
        with TestClient(create_app(ctx=migrated.context())) as client:
            assert client.get("/readyz").status_code == 200
        ctx.engine.dispose()

    def test_rotate_master_key_reseals_everything(self, migrated: Cli, tmp_path: Path) -> None:
        from creditbank.crypto.errors import DecryptionFailed
        from creditbank.learners import vault

        migrated.ok("demo", "--tokens-file", str(tmp_path / "t.json"))
        secrets_dir = migrated.var_dir / "secrets"
        old = (secrets_dir / "master.key").read_text()
        result = migrated.ok("secrets", "rotate", "master-key")
        assert re.search(
            r"re-sealed [1-9]\d* learner data keys, [1-9]\d* signing keys, 1 log keys", result.output
        )
        new = (secrets_dir / "master.key").read_text()
        assert new != old
        [retired] = secrets_dir.glob("master.key.retired-*")
        assert retired.read_text() == old
        assert (secrets_dir / "master.key").stat().st_mode & 0o777 == 0o600
        ctx = migrated.context()
        try:
            with ctx.sessions() as session:
                learners = migrated.rows(Learner)
                data = vault.load(session, ctx.secrets.master_key, learners[0].id)
                assert data is not None and data.name
                with pytest.raises(DecryptionFailed):
                    vault.load(session, bytes.fromhex(old.strip()), learners[0].id)
        finally:
            ctx.engine.dispose()
        # the service starts with the new key, signs with its re-sealed keys, and refuses the old one
        from fastapi.testclient import TestClient

        from creditbank.keyring.service import WrongSecret
        from creditbank.main import create_app

        with TestClient(create_app(ctx=migrated.context())) as client:
            assert client.get("/readyz").status_code == 200
        (secrets_dir / "master.key").write_text(old)
        with pytest.raises(WrongSecret), TestClient(create_app(ctx=migrated.context())):
            pass

    def test_rotate_session_secret_and_pepper(self, migrated: Cli) -> None:
        secrets_dir = migrated.var_dir / "secrets"
        old = (secrets_dir / "session.key").read_text()
        migrated.ok("secrets", "rotate", "session-secret")
        assert (secrets_dir / "session.key").read_text() != old
        # the pepper on SQLite too (tests/test_pepper_rotation.py rotates it on PostgreSQL with data)
        old_pepper = (secrets_dir / "pepper.key").read_text()
        migrated.ok("secrets", "rotate", "pepper")
        assert (secrets_dir / "pepper.key").read_text() != old_pepper
        assert (secrets_dir / "pepper.key.previous").read_text() == old_pepper
        migrated.ok("secrets", "retire-pepper", "--grace-days", "0")
        assert not (secrets_dir / "pepper.key.previous").exists()
