"""`mlmaint alerts list | ack | test` against a migrated SQLite store and a file channel."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner

from checks.interface import CheckKind
from daemon.alerts.finding import Finding
from daemon.alerts.policy import apply_findings
from daemon.cli import main
from daemon.config import load_config
from daemon.jobs import JobContext
from daemon.store import migrate


def test_list_ack_and_test(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox.jsonl"
    config = tmp_path / "config.toml"
    config.write_text(
        f'[store]\nurl = "sqlite:///{tmp_path}/store.db"\n\n'
        f'[[alerts.channels]]\nname = "outbox"\nkind = "file"\npath = "{outbox}"\n'
    )
    settings = load_config(config)
    ctx = JobContext.from_settings(settings)
    migrate.upgrade(ctx.engine)
    now = datetime.now(UTC)
    with ctx.sessions() as s, s.begin():
        apply_findings(
            s,
            settings,
            [
                Finding(
                    scope="churn", kind=CheckKind.DRIFT, subject="age", firing=True, summary="moved"
                ),
                *(
                    Finding(
                        scope=m, kind=CheckKind.DRIFT, subject="income", firing=True, summary="up"
                    )
                    for m in ("churn", "buyer")
                ),
            ],
            now - timedelta(hours=1),
        )
    ctx.close()
    runner = CliRunner()
    args = ["--config", str(config), "alerts"]

    listed = runner.invoke(main, [*args, "list"])
    assert listed.exit_code == 0, listed.output
    assert "churn" in listed.output and "age" in listed.output and "moved" in listed.output

    acked = runner.invoke(main, [*args, "ack", "1", "--until", "4h", "--note", "on it"])
    assert acked.exit_code == 0, acked.output
    assert "acknowledged until" in acked.output
    assert "acked until" in runner.invoke(main, [*args, "list"]).output
    assert runner.invoke(main, [*args, "ack", "99"]).exit_code != 0
    assert runner.invoke(main, [*args, "ack", "1", "--until", "soon"]).exit_code != 0

    # All of one model's firing alerts at once (what each alert message says once).
    every = runner.invoke(main, [*args, "ack", "--model", "churn", "--note", "looking"])
    assert every.exit_code == 0, every.output
    assert every.output.count("acknowledged until it resolves") == 2, every.output
    assert "churn / age" in every.output and "churn / income" in every.output
    assert "buyer" not in every.output
    listed = runner.invoke(main, [*args, "list", "--format", "json"])
    acks = {(a["scope"], a["subject"]): a["acked"] for a in json.loads(listed.output)}
    assert acks == {("churn", "age"): True, ("churn", "income"): True, ("buyer", "income"): False}
    assert runner.invoke(main, [*args, "ack", "--model", "nope"]).exit_code != 0
    assert runner.invoke(main, [*args, "ack"]).exit_code == 64  # EX_USAGE
    assert runner.invoke(main, [*args, "ack", "1", "--model", "churn"]).exit_code == 64

    tested = runner.invoke(main, [*args, "test", "--channel", "outbox"])
    assert tested.exit_code == 0, tested.output
    [line] = [json.loads(x) for x in outbox.read_text().splitlines()]
    assert line["kind"] == "test" and "test message" in line["title"]
    assert runner.invoke(main, [*args, "test", "--channel", "nope"]).exit_code != 0
