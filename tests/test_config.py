"""Configuration: secrets are files; production refuses to start without them, demo creates them."""

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from creditbank.cli import app as cli
from creditbank.config import ConfigurationError, Settings, get_settings, load_secrets
from creditbank.crypto.symmetric import KEY_SIZE

SECRETS = {
    "master.key": "CREDITBANK_MASTER_KEY_FILE",
    "pepper.key": "CREDITBANK_TOKEN_PEPPER_FILE",
    "session.key": "CREDITBANK_SESSION_SECRET_FILE",
}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No CREDITBANK_ variable of the caller's shell leaks into these tests; the settings cache is fresh."""
    for name in list(os.environ):
        if name.startswith("CREDITBANK_"):
            monkeypatch.delenv(name)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _write_key(path: Path, value: bytes | None = None) -> bytes:
    value = value if value is not None else os.urandom(KEY_SIZE)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(value.hex() + "\n")
    path.chmod(0o600)  # production mode refuses key files others may read
    return value


class TestProduction:
    def test_missing_secrets_are_named_with_their_setting(self, tmp_path: Path) -> None:
        settings = Settings(mode="production", var_dir=tmp_path)
        for name, env in SECRETS.items():
            with pytest.raises(ConfigurationError) as caught:
                load_secrets(settings)
            message = str(caught.value)
            assert f"missing secret {name}" in message
            assert env in message
            assert str(tmp_path / "secrets" / name) in message
            # nothing was created in production mode
            assert not (tmp_path / "secrets" / name).exists()
            _write_key(tmp_path / "secrets" / name)
        loaded = load_secrets(settings)
        assert len({loaded.master_key, loaded.pepper, loaded.session_secret}) == 3

    def test_explicit_secret_files_are_used(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        keys = {name: _write_key(tmp_path / "elsewhere" / name) for name in SECRETS}
        for name, env in SECRETS.items():
            monkeypatch.setenv(env, str(tmp_path / "elsewhere" / name))
        monkeypatch.setenv("CREDITBANK_MODE", "production")
        monkeypatch.setenv("CREDITBANK_VAR_DIR", str(tmp_path / "var"))
        loaded = load_secrets(Settings())
        assert (loaded.master_key, loaded.pepper, loaded.session_secret) == (
            keys["master.key"],
            keys["pepper.key"],
            keys["session.key"],
        )
        assert not (tmp_path / "var").exists()

    def test_explicit_file_that_is_missing_is_named(self, tmp_path: Path) -> None:
        settings = Settings(
            mode="production", var_dir=tmp_path, master_key_file=tmp_path / "vault" / "mk.hex"
        )
        with pytest.raises(ConfigurationError, match="CREDITBANK_MASTER_KEY_FILE") as caught:
            load_secrets(settings)
        assert str(tmp_path / "vault" / "mk.hex") in str(caught.value)


class TestDemo:
    def test_creates_private_secret_files_and_reuses_them(self, tmp_path: Path) -> None:
        settings = Settings(mode="demo", var_dir=tmp_path)
        first = load_secrets(settings)
        for name in SECRETS:
            path = tmp_path / "secrets" / name
            assert path.exists(), name
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, name
            assert len(bytes.fromhex(path.read_text().strip())) == KEY_SIZE
        assert len({first.master_key, first.pepper, first.session_secret}) == 3

        second = load_secrets(Settings(mode="demo", var_dir=tmp_path))
        assert second == first

    def test_existing_files_are_not_overwritten(self, tmp_path: Path) -> None:
        master = _write_key(tmp_path / "secrets" / "master.key")
        loaded = load_secrets(Settings(mode="demo", var_dir=tmp_path))
        assert loaded.master_key == master

    def test_fresh_var_dirs_get_fresh_secrets(self, tmp_path: Path) -> None:
        one = load_secrets(Settings(mode="demo", var_dir=tmp_path / "one"))
        two = load_secrets(Settings(mode="demo", var_dir=tmp_path / "two"))
        assert one.master_key != two.master_key


class TestMalformedKeyFiles:
    @pytest.mark.parametrize("mode", ["demo", "production"])
    def test_not_hex(self, tmp_path: Path, mode: str) -> None:
        for name in SECRETS:
            _write_key(tmp_path / "secrets" / name)
        (tmp_path / "secrets" / "pepper.key").write_text("this is not a key\n")
        with pytest.raises(ConfigurationError) as caught:
            load_secrets(Settings(mode=mode, var_dir=tmp_path))
        assert str(tmp_path / "secrets" / "pepper.key") in str(caught.value)
        assert "hex" in str(caught.value)

    @pytest.mark.parametrize("size", [0, 16, 31, 33, 64])
    def test_wrong_length(self, tmp_path: Path, size: int) -> None:
        _write_key(tmp_path / "secrets" / "master.key", os.urandom(size))
        with pytest.raises(ConfigurationError) as caught:
            load_secrets(Settings(mode="demo", var_dir=tmp_path))
        message = str(caught.value)
        assert "master.key" in message
        assert f"must hold {KEY_SIZE} bytes" in message
        assert f"found {size}" in message


class TestCli:
    def test_production_without_secrets_exits_with_the_message(self, tmp_path: Path) -> None:
        runner = CliRunner()
        env = {"CREDITBANK_MODE": "production", "CREDITBANK_VAR_DIR": str(tmp_path / "var")}
        for command in (
            ["db", "upgrade"],
            ["tokens", "list"],
            ["demo", "--tokens-file", str(tmp_path / "t.json")],
        ):
            get_settings.cache_clear()
            result = runner.invoke(cli, command, env=env)
            assert result.exit_code != 0, command
            assert "configuration error" in result.output
            assert "missing secret master.key" in result.output
            assert "CREDITBANK_MASTER_KEY_FILE" in result.output
            assert result.exception is None or isinstance(result.exception, SystemExit)
        assert not (tmp_path / "var" / "secrets").exists()
        assert not (tmp_path / "t.json").exists()

    def test_production_with_secrets_starts(self, tmp_path: Path) -> None:
        var = tmp_path / "var"
        for name in SECRETS:
            _write_key(var / "secrets" / name)
        result = CliRunner().invoke(
            cli, ["db", "upgrade"], env={"CREDITBANK_MODE": "production", "CREDITBANK_VAR_DIR": str(var)}
        )
        assert result.exit_code == 0, result.output
        assert (var / "creditbank.db").exists()
