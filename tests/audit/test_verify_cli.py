"""``creditbank audit verify`` when the audit cannot run or cannot reach the log (no server needed).

The CLI against a live server, passing and failing, is in ``test_tamper.py``.
"""

from pathlib import Path

from typer.testing import CliRunner, Result

from creditbank.cli import app as cli
from creditbank.standards.tlog.note import NoteSigner
from tests.support.server import free_port

KEY = NoteSigner.generate("bank.example/logs/main").verifier().to_text()


def _verify(*args: str) -> Result:
    return CliRunner().invoke(cli, ["audit", "verify", "--no-progress", *args])


class TestVerifyCli:
    def test_unreachable_server_fails_the_checkpoint_fetch(self) -> None:
        result = _verify("--url", f"http://127.0.0.1:{free_port()}", "--key", KEY, "--timeout", "5")
        assert result.exit_code == 1
        assert "FAIL checkpoint-fetch: GET logs/main/checkpoint failed" in result.stderr
        assert "no verified checkpoint" in result.stderr

    def test_malformed_key_exits_2(self) -> None:
        result = _verify("--url", "http://127.0.0.1:9", "--key", "bank.example/logs/main+zz+AAAA")
        assert result.exit_code == 2 and "bad verifier key" in result.stderr

    def test_page_size_is_bounded(self) -> None:
        result = _verify("--url", "http://127.0.0.1:9", "--key", KEY, "--page-size", "1001")
        assert result.exit_code == 2

    def test_state_file_is_only_read_after_the_checkpoint_verifies(self, tmp_path: Path) -> None:
        state = tmp_path / "state.json"
        state.write_text("{not json")
        result = _verify("--url", f"http://127.0.0.1:{free_port()}", "--key", KEY, "--state", str(state))
        assert result.exit_code == 1  # nothing to compare with: the log was not reached
        assert state.read_text() == "{not json"
