"""`tierwise db upgrade`, `publish`, `user add` and `user token` against a real database."""
from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from designer.cli import main

BUNDLE = Path(__file__).parent / "data" / "crm.bundle.yaml"


def test_workspace_commands(database_url, tmp_path):
    run = CliRunner()
    common = ["--database", database_url, "--instance", str(tmp_path / "inst")]
    result = run.invoke(main, ["db", "upgrade", *common])
    assert result.exit_code == 0 and "up to date" in result.output
    result = run.invoke(main, ["publish", str(BUNDLE), "--note", "first", *common])
    assert result.exit_code == 0 and "published version 1" in result.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("bundle: bad\nobjects:\n  customer:\n    fields: [{key: n, type: nope}]\n", encoding="utf-8")
    result = run.invoke(main, ["publish", str(bad), *common])
    assert result.exit_code == 1 and f"{bad}:4:" in result.stderr
    result = run.invoke(main, ["user", "add", "alice", "--role", "rep", "--generate", *common])
    assert result.exit_code == 0 and "with password" in result.output
    result = run.invoke(main, ["user", "add", "alice", "--password", "whatever-long", *common])
    assert result.exit_code == 1 and "already exists" in result.output
    result = run.invoke(main, ["user", "add", "bob", "--password", "short", *common])
    assert result.exit_code == 1 and "at least 8" in result.output
    result = run.invoke(main, ["user", "token", "alice", *common])
    assert result.exit_code == 0 and result.output.startswith("tw_")
