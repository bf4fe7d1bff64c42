"""Signing keys: lazy creation, rotation, retirement, compromise, sealing, DID documents and the CLI."""

import datetime as dt

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session
from typer.testing import CliRunner

from creditbank.cli import app as cli_app
from creditbank.context import AppContext
from creditbank.credentials import keys
from creditbank.credentials.models import BANK_OWNER, KeyState, SigningKey
from creditbank.crypto import DecryptionFailed
from creditbank.crypto.symmetric import open_sealed
from creditbank.institutions.service import institution_did
from creditbank.standards.vc.multikey import decode_public_key
from tests.credentials.conftest import World


def _keys(world: World, owner: str) -> list[SigningKey]:
    return list(world.run(lambda s: keys.list_keys(s, owner)))


class TestActiveKey:
    def test_created_lazily_once(self, world: World) -> None:
        assert _keys(world, world.institution_id) == []
        first = world.run(lambda s: keys.active_key(s, world.ctx.secrets.master_key, world.institution_id))
        again = world.run(lambda s: keys.active_key(s, world.ctx.secrets.master_key, world.institution_id))
        assert first.id == again.id
        assert first.state == KeyState.active
        assert first.created_at.microsecond == 0

    def test_issuing_creates_the_key(self, world: World) -> None:
        world.issue()
        [key] = _keys(world, world.institution_id)
        assert key.state == "active"

    def test_unknown_owner(self, world: World) -> None:
        with pytest.raises(keys.IssuerNotFound):
            world.run(lambda s: keys.active_key(s, world.ctx.secrets.master_key, "ins_nobody"))

    def test_seed_is_sealed_for_its_own_key_id(self, world: World) -> None:
        signer = world.run(
            lambda s: keys.signer_for(s, world.ctx.secrets.master_key, "http://testserver", BANK_OWNER)
        )
        row = world.run(lambda s: s.get(SigningKey, signer.key_id))
        assert signer.seed not in bytes(row.private_key_sealed)
        assert open_sealed(
            world.ctx.secrets.master_key, row.private_key_sealed, f"creditbank/signing-key/{row.id}"
        ) == (signer.seed)
        with pytest.raises(DecryptionFailed):
            open_sealed(
                world.ctx.secrets.master_key, row.private_key_sealed, "creditbank/signing-key/key_other"
            )
        assert "seed" not in repr(signer)


class TestRotateRetireCompromise:
    def test_rotate_keeps_the_old_key_listed(self, world: World) -> None:
        master = world.ctx.secrets.master_key
        old = world.run(lambda s: keys.active_key(s, master, world.institution_id))
        retired, new = world.run(lambda s: keys.rotate(s, master, world.institution_id))
        assert retired is not None
        assert retired.id == old.id
        listed = {k.id: k for k in _keys(world, world.institution_id)}
        assert listed[old.id].state == "retired"
        retired_at = listed[old.id].retired_at
        assert retired_at is not None
        assert retired_at > listed[old.id].created_at
        assert listed[new.id].state == "active"

    def test_rotate_without_a_key_creates_one(self, world: World) -> None:
        old, new = world.run(lambda s: keys.rotate(s, world.ctx.secrets.master_key, BANK_OWNER))
        assert old is None
        assert new.owner_id == BANK_OWNER

    def test_retire_then_next_signature_makes_a_new_key(self, world: World) -> None:
        first = world.issue().certificate.key_id
        world.run(lambda s: keys.retire(s, first))
        second = world.issue().certificate.key_id
        assert first != second
        assert world.run(lambda s: keys.retire(s, first)).state == "retired"  # idempotent

    def test_compromise(self, world: World) -> None:
        key_id = world.issue().certificate.key_id
        now = dt.datetime.now(dt.UTC)
        with pytest.raises(keys.CompromiseTimeInvalid):
            world.run(lambda s: keys.compromise(s, key_id, now + dt.timedelta(hours=1)))
        with pytest.raises(keys.CompromiseTimeInvalid):
            world.run(lambda s: keys.compromise(s, key_id, dt.datetime(2026, 1, 1)))
        key = world.run(lambda s: keys.compromise(s, key_id, now - dt.timedelta(minutes=5)))
        assert key.state == "compromised"
        later = world.run(lambda s: keys.compromise(s, key_id, now - dt.timedelta(minutes=1)))
        assert later.compromised_at == key.compromised_at, "the earlier compromise time stays"
        with pytest.raises(keys.KeyStateConflict):
            world.run(lambda s: keys.retire(s, key_id))
        assert world.issue().certificate.key_id != key_id

    def test_unknown_key(self, world: World) -> None:
        with pytest.raises(keys.SigningKeyNotFound):
            world.run(lambda s: keys.retire(s, "key_nope"))


class TestPublicDocuments:
    def test_did_document_lists_every_key(self, world: World, client: TestClient) -> None:
        master = world.ctx.secrets.master_key
        old = world.run(lambda s: keys.active_key(s, master, world.institution_id))
        _, new = world.run(lambda s: keys.rotate(s, master, world.institution_id))
        compromised_at = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(minutes=1)
        world.run(lambda s: keys.compromise(s, old.id, compromised_at))
        response = client.get(f"/institutions/{world.institution_id}/did.json")
        assert response.status_code == 200, response.text
        document = response.json()
        did = institution_did("http://testserver", world.institution_id)
        assert document["id"] == did == f"did:web:testserver:institutions:{world.institution_id}"
        methods = {m["id"]: m for m in document["verificationMethod"]}
        assert set(methods) == {f"{did}#{old.id}", f"{did}#{new.id}"}
        # the compromised key left assertionMethod at once; it stays a verification method, with its time
        assert document["assertionMethod"] == [f"{did}#{new.id}"]
        assert methods[f"{did}#{old.id}"]["revoked"] == compromised_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert "retired" in methods[f"{did}#{old.id}"]
        assert decode_public_key(methods[f"{did}#{new.id}"]["publicKeyMultibase"]) == bytes(new.public_key)
        assert all(m["type"] == "Multikey" and m["controller"] == did for m in methods.values())

    def test_jwks_leaves_out_compromised_keys(self, world: World, client: TestClient) -> None:
        master = world.ctx.secrets.master_key
        old = world.run(lambda s: keys.active_key(s, master, world.institution_id))
        _, new = world.run(lambda s: keys.rotate(s, master, world.institution_id))
        assert len(client.get(f"/institutions/{world.institution_id}/jwks.json").json()["keys"]) == 2
        world.run(lambda s: keys.compromise(s, old.id, dt.datetime.now(dt.UTC)))
        jwks = client.get(f"/institutions/{world.institution_id}/jwks.json").json()
        [jwk] = jwks["keys"]
        assert jwk["kid"].endswith(f"#{new.id}")
        assert (jwk["kty"], jwk["crv"], jwk["alg"]) == ("OKP", "Ed25519", "EdDSA")

    def test_bank_did_document(self, world: World, client: TestClient) -> None:
        world.run(lambda s: keys.active_key(s, world.ctx.secrets.master_key, BANK_OWNER))
        for path in ("/did.json", "/.well-known/did.json"):
            document = client.get(path).json()
            assert document["id"] == "did:web:testserver"
            assert len(document["assertionMethod"]) == 1

    def test_unknown_institution_is_404(self, client: TestClient) -> None:
        for path in ("/institutions/ins_nobody/did.json", "/institutions/ins_nobody/jwks.json"):
            response = client.get(path)
            assert response.status_code == 404
            assert response.headers["content-type"] == "application/problem+json"
            assert response.json()["type"].endswith("/issuer-not-found")

    def test_did_helpers(self) -> None:
        base = "http://127.0.0.1:8000"
        assert keys.bank_did(base) == "did:web:127.0.0.1%3A8000"
        assert keys.owner_for_did(base, "did:web:127.0.0.1%3A8000") == BANK_OWNER
        assert keys.owner_for_did(base, "did:web:127.0.0.1%3A8000:institutions:ins_a1") == "ins_a1"
        assert keys.owner_for_did(base, "did:web:127.0.0.1%3A8000:institutions:a:b") is None
        assert keys.owner_for_did(base, "did:web:elsewhere:institutions:ins_a1") is None
        assert keys.bank_did("https://bank.example/cb") == "did:web:bank.example:cb"


class TestKeysCli:
    @pytest.fixture
    def cli(self, ctx: AppContext, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
        import creditbank.credentials.cli

        monkeypatch.setattr(creditbank.credentials.cli, "context", lambda: ctx)
        return CliRunner()

    def test_rotate_list_retire_compromise(self, cli: CliRunner, world: World, session: Session) -> None:
        rotated = cli.invoke(cli_app, ["keys", "rotate", "--owner", world.institution_id])
        assert rotated.exit_code == 0, rotated.output
        first = rotated.output.split()[1]
        rotated = cli.invoke(cli_app, ["keys", "rotate", "--owner", world.institution_id])
        assert rotated.exit_code == 0, rotated.output
        assert rotated.output.startswith(f"retired {first}")

        listed = cli.invoke(cli_app, ["keys", "list", "--owner", world.institution_id])
        assert listed.exit_code == 0, listed.output
        lines = listed.output.strip().splitlines()
        assert len(lines) == 2
        assert lines[0].split("\t")[:3] == [first, world.institution_id, "retired"]

        second = lines[1].split("\t")[0]
        retired = cli.invoke(cli_app, ["keys", "retire", second])
        assert retired.exit_code == 0, retired.output
        assert "\tretired\t" in retired.output

        at = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        compromised = cli.invoke(cli_app, ["keys", "compromise", first, "--at", at])
        assert compromised.exit_code == 0, compromised.output
        assert "compromised=" + at in compromised.output

    def test_errors_are_one_line_and_exit_nonzero(self, cli: CliRunner) -> None:
        missing = cli.invoke(cli_app, ["keys", "retire", "key_missing"])
        assert missing.exit_code == 1
        assert "signing-key-not-found" in missing.output
        naive = cli.invoke(cli_app, ["keys", "compromise", "key_missing", "--at", "2026-01-01T00:00:00"])
        assert naive.exit_code == 2
        nobody = cli.invoke(cli_app, ["keys", "rotate", "--owner", "ins_nobody"])
        assert nobody.exit_code == 1
        assert "issuer-not-found" in nobody.output
