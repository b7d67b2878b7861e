"""What the listing commands print: tables that never cut a word, JSON, TOML, error messages.

The commands run through click on a migrated SQLite store holding one model's
rows, an alert, a retrain job and a pin; the terminal width is `COLUMNS`.
"""

from __future__ import annotations

import json
import re
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select
from sqlalchemy.orm import Session

from checks.interface import CheckKind, Status
from daemon.alerts.finding import Finding
from daemon.alerts.policy import apply_findings
from daemon.cli import main
from daemon.config import Needs, load_config, parse_config
from daemon.config.dump import format_duration
from daemon.jobs import JobContext
from daemon.sampling.records import LABELS, bump_counts
from daemon.store import migrate
from daemon.store.models import ensure_model
from daemon.store.tables import CheckRun, JobRun, Model, RetrainJob
from daemon.tables import (
    ELLIPSIS,
    NO_STATUS,
    Column,
    fmt_value,
    render,
    shorten,
    utc_text,
    wrap,
)
from retrain.interface import JobState
from tests.checks.frames import window
from tests.checks.stored import stored_prediction

NOW = datetime.now(UTC).replace(microsecond=0)
LONG_SUBJECT = "monthly_recurring_charges_after_discount per customer segment and region"


# ----------------------------------------------------------------------------- tables


def _words(text: str) -> set[str]:
    """The words printed, the rules under table headers left out."""
    return {word for word in text.split() if set(word) != {"-"}}


CELLS = [
    ("drift", "tenure_years", "0.1096", "0.0335 (at n=100000, calibrated for 1% false alarms)"),
    ("quality", "insufficient_data_share", "n/a", "insufficient_data: 3 rows, 100 needed"),
]
COLUMNS = (Column("check"), Column("subject"), Column("value", right=True), Column("threshold"))


@pytest.mark.parametrize("width", [40, 60, 79, 80, 100, 200])
def test_no_word_is_ever_cut(width: int) -> None:
    out = render(COLUMNS, CELLS, width=width)
    printed = _words(out)
    for row in CELLS:
        for cell in row:
            assert _words(cell) <= printed, (cell, out)
    assert ELLIPSIS not in out


def test_a_table_that_fits_stays_one_line_per_row() -> None:
    out = render(COLUMNS, CELLS, width=200).splitlines()
    assert out[0].split() == ["check", "subject", "value", "threshold"]
    assert len(out) == 2 + len(CELLS)
    assert out[2].startswith("drift") and out[2].endswith("false alarms)")


def test_wraps_at_words_when_wide_enough_else_key_value_blocks() -> None:
    wrapped = render(COLUMNS, CELLS, width=80)
    assert wrapped.splitlines()[0].startswith("check")
    assert all(len(line) <= 80 for line in wrapped.splitlines())
    assert len(wrapped.splitlines()) > 2 + len(CELLS)  # some cell took two lines
    narrow = render(COLUMNS, CELLS, width=60)
    assert "subject:   tenure_years" in narrow and "subject:   insufficient_data_share" in narrow
    assert all(len(line) <= 60 for line in narrow.splitlines())


def test_piped_output_is_80_columns_wide() -> None:
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    out = subprocess.run(
        [sys.executable, "-c", "from daemon.tables import terminal_width; print(terminal_width())"],
        env={**env, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "80"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.07055, "0.07055"),
        (0.0669, "0.0669"),
        (0.000667, "0.000667"),
        (0.0, "0"),
        (0.5, "0.5"),
        (1234.5678, "1235"),
        (None, "n/a"),
    ],
)
def test_one_formatter_for_tables_and_messages(value: float | None, text: str) -> None:
    from daemon.checking.findings import short

    assert fmt_value(value) == text
    if value is not None:
        assert short(value) == text  # what alert messages say


def test_shorten_cuts_at_a_word_and_says_so() -> None:
    assert shorten("short", 10) == "short"
    cut = shorten("a very long subject name that goes on", 21)
    assert cut == f"a very long subject{ELLIPSIS}" and len(cut) <= 21
    assert shorten("averyveryverylongword", 8) == f"averyve{ELLIPSIS}"


# ----------------------------------------------------------------------------- a store


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A churn model with a file reference, 300 rows in the last day, an alert on a long
    subject, two retrain jobs and a pin."""
    reference = tmp_path / "reference.csv"
    window(600, 1).to_csv(reference, index=False)
    path = tmp_path / "config.toml"
    monkeypatch.setenv("CLI_OUTPUT_WEBHOOK", "https://hooks.example/s3cret-value")
    path.write_text(
        f"""
[service]
state_dir = "{tmp_path / "state"}"
shutdown_grace = "90s"
[store]
url = "sqlite:///{tmp_path / "store.db"}"
[alerts]
delivery_every = "45s"
cooldown = "7d"
[[alerts.channels]]
name = "ops-slack"
kind = "slack"
webhook_url = {{ env = "CLI_OUTPUT_WEBHOOK" }}
[[alerts.channels]]
name = "outbox"
kind = "file"
path = "{tmp_path / "outbox.jsonl"}"
[[models]]
name = "churn"
source = {{ kind = "http" }}
[models.schema]
numeric = ["age", "income", "visits"]
categorical = ["plan", "region"]
score = "score"
[models.reference]
kind = "file"
path = "{reference}"
[models.checks]
window = "1d"
min_rows = 50
[models.checks.drift]
evidence = false
"""
    )
    settings = load_config(path, needs=Needs.NOTHING)
    ctx = JobContext.from_settings(settings)
    migrate.upgrade(ctx.engine)
    rows = window(300, 2, shift=0.5)
    with ctx.sessions() as session, session.begin():
        model_id = ensure_model(session.connection(), "churn", NOW - timedelta(days=30))
        for i, row in enumerate(rows.to_dict("records")):
            session.add(
                stored_prediction(
                    session, model_id, row, NOW - timedelta(hours=12) + timedelta(seconds=i), NOW
                )
            )
        _history(session, model_id)
        apply_findings(
            session,
            settings,
            [
                Finding(
                    scope="churn",
                    kind=CheckKind.DRIFT,
                    subject=LONG_SUBJECT,
                    firing=True,
                    summary="the distribution moved well beyond its calibrated threshold",
                    value=0.07055,
                    threshold=0.05,
                    link="https://mlmaint.example/evidence/7",
                    details={"window_end": "2026-12-01T00:00:00Z"},
                )
            ],
            NOW - timedelta(hours=1),
        )
    with ctx.engine.begin() as conn:
        bump_counts(conn, model_id, NOW.strftime("%Y-%m-%d"), LABELS, {"joined": 42})
    ctx.close()
    return path


def _history(session: Session, model_id: int) -> None:
    model = session.get_one(Model, model_id)
    model.current_version = "3"
    model.pinned_version, model.pinned_at, model.pinned_by = "3", NOW - timedelta(hours=2), "alice"
    model.pinned_until = NOW + timedelta(days=7)
    for i, (state, version) in enumerate(
        [(JobState.FAILED, None), (JobState.SUCCEEDED, "3"), (JobState.RUNNING, None)]
    ):
        session.add(
            RetrainJob(
                job_uid=f"job-{i}",
                model_id=model_id,
                trigger="manual",
                state=state,
                executor="local",
                spec={},
                created_at=NOW - timedelta(days=3 - i),
                finished_at=None if state is JobState.RUNNING else NOW - timedelta(days=3 - i),
                registered_version=version,
                promoted=version is not None,
            )
        )


def _run(config: Path, *args: str, columns: int = 80) -> Result:
    return CliRunner().invoke(main, ["--config", str(config), *args], env={"COLUMNS": str(columns)})


def _stdout_json(result: Result) -> object:
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return json.loads(result.stdout)


# ----------------------------------------------------------------------------- --format json


def test_check_json_and_narrow_table(config: Path) -> None:
    result = _run(config, "check", "churn", "--format", "json")
    assert result.exit_code in (0, 1), result.output
    document = _stdout_json(result)
    assert isinstance(document, dict)
    assert document["model"] == "churn" and document["rows"] == 300
    runs = {run["check"]: run for run in document["runs"]}
    assert set(runs) >= {"drift", "quality", "operations"}
    # The model logs no error column: its error rate is unknown, not 0.
    assert not any(m["name"] == "error_rate" for m in runs["operations"]["measures"])
    assert "errors" not in {m["subject"] for m in runs["operations"]["measures"]}
    drift = {m["subject"]: m for m in runs["drift"]["measures"]}
    assert {"age", "income", "plan"} <= set(drift)
    assert isinstance(drift["age"]["value"], float) and drift["age"]["name"]
    assert "measure" not in drift["age"]  # the /v1 API's field names
    assert str(document["window_end"]).endswith("Z") and "+00:00" not in result.stdout
    assert document["firing"] == (result.exit_code == 1)

    for columns in (60, 80):
        table = _run(config, "check", "churn", columns=columns)
        assert table.exit_code == result.exit_code, table.output
        text = table.stdout
        assert ELLIPSIS not in text and all(len(line) <= columns for line in text.splitlines())
        for measure in drift.values():
            if measure["basis"]:  # printed as "0.0013 (basis)"
                assert _words(f"({measure['basis']})") <= _words(text), text
            assert measure["subject"] in _words(text)
    assert "subject:" in _run(config, "check", "churn", columns=60).stdout

    wide = _run(config, "check", "churn", columns=250).stdout
    # The status column is the status alone; the statistic's name is the measure's.
    assert not re.search(r"\b(alert|ok) \(", wide), wide
    for measure in drift.values():
        if measure["detail"]:
            assert f"{measure['name']} ({measure['detail']})" in wide
    # Values as tables and messages print them: one formatter, four significant digits.
    for run in runs.values():
        for m in run["measures"]:
            if m["value"] is not None:
                assert f" {fmt_value(m['value'])} " in wide, (m, wide)
    assert not re.search(r"\b0\.0000\b", wide), wide  # never 0.0000 beside 0.000667
    # A measure with no threshold is informational: "—", not "ok".
    informational = [m for m in runs["operations"]["measures"] if m["threshold"] is None]
    assert informational, runs["operations"]
    lines = wide.splitlines()
    for m in informational:
        [line] = [x for x in lines if x.split()[:2] == [m["subject"], m["name"]]]
        assert line.rstrip().endswith(NO_STATUS) and not line.rstrip().endswith("ok"), line


def test_status_json_and_table(config: Path) -> None:
    document = _stdout_json(_run(config, "status", "--format", "json"))
    assert isinstance(document, dict)
    [model] = document["models"]
    assert model["name"] == "churn" and model["serving_version"] == "3"
    assert (
        model["pin"]["version"] == "3" and model["pin"]["holds"] and model["pin"]["by"] == "alice"
    )
    assert model["labels_joined"] == 42
    assert [j["state"] for j in model["recent_jobs"]] == ["running", "succeeded", "failed"]
    assert (
        document["alerts_firing"]
        == [{"model": "churn", "kind": "drift", "severity": "critical", "count": 1}]
        or document["alerts_firing"][0]["model"] == "churn"
    )

    text = _run(config, "status", columns=120).stdout
    assert _words(text) == _words(_run(config, "status", columns=80).stdout)
    until = (NOW + timedelta(days=7)).strftime("%Y-%m-%d %H:%M")
    assert f"3 until {until}" in text
    succeeded = (NOW - timedelta(days=2)).strftime("%Y-%m-%d %H:%M")
    assert f"{succeeded} succeeded v3 promoted" in text
    assert "running" in text and "failed" in text and " 42 " in text
    narrow = _run(config, "status", columns=60).stdout
    assert "serving:" in narrow and all(len(line) <= 60 for line in narrow.splitlines()[2:8])


def _times(node: object, key: str = "") -> list[tuple[str, object]]:
    """Every (key, value) of a document whose key names a time."""
    if isinstance(node, dict):
        return [pair for k, v in node.items() for pair in _times(v, k)]
    if isinstance(node, list):
        return [pair for item in node for pair in _times(item, key)]
    return [(key, node)] if key.endswith(("_at", "since", "until")) else []


def test_status_json_writes_every_time_in_utc_with_a_z(config: Path) -> None:
    settings = load_config(config, needs=Needs.NOTHING)
    ctx = JobContext.from_settings(settings)
    started = datetime(2026, 12, 1, 6, 0, 5, tzinfo=UTC)
    with ctx.sessions() as session, session.begin():
        session.add(
            JobRun(
                job_id="checks:churn",
                last_started_at=started,
                last_finished_at=started + timedelta(seconds=2),
                last_success_at=started + timedelta(seconds=2),
                last_status="ok",
                last_duration_s=2.0,
                runs=3,
                failures=0,
            )
        )
        session.add(
            CheckRun(
                model_id=session.scalars(select(Model.id)).one(),
                kind="drift",
                status=Status.OK,
                window_start=started - timedelta(days=1),
                window_end=started,
                ran_at=started,
                duration_s=0.1,
                rows=300,
                summary={},
            )
        )
    ctx.close()

    result = _run(config, "status", "--format", "json")
    document = _stdout_json(result)
    assert "+00:00" not in result.stdout
    assert isinstance(document, dict)
    [job] = [j for j in document["jobs"] if j["job_id"] == "checks:churn"]
    assert job["started_at"] == "2026-12-01T06:00:05Z"
    assert job["success_at"] == "2026-12-01T06:00:07Z"
    [check] = document["checks"]
    assert check["ran_at"] == "2026-12-01T06:00:05Z"
    [model] = document["models"]
    assert model["pin"]["until"] == utc_text(NOW + timedelta(days=7))
    times = _times(document)
    # Pin since/until, three jobs' created/finished, the job run's two, the check's one.
    assert len([v for _, v in times if v is not None]) == 2 + 5 + 2 + 1, times
    for key, value in times:
        assert value is None or (isinstance(value, str) and value.endswith("Z")), (key, value)


def test_alerts_list_json_and_a_long_subject_is_never_cut(config: Path) -> None:
    document = _stdout_json(_run(config, "alerts", "list", "--format", "json"))
    assert isinstance(document, list)
    [alert] = document
    assert alert["subject"] == LONG_SUBJECT and alert["scope"] == "churn" and not alert["acked"]
    # For scripts: what fired, against what, on which window, and where its evidence is.
    assert alert["value"] == 0.07055 and alert["threshold"] == 0.05
    assert alert["window_end"] == "2026-12-01T00:00:00Z"
    assert alert["evidence_url"] == "https://mlmaint.example/evidence/7"
    assert str(alert["first_fired_at"]).endswith("Z")
    for columns in (60, 80, 120):
        text = _run(config, "alerts", "list", columns=columns).stdout
        assert _words(LONG_SUBJECT) <= _words(text), text
        assert ELLIPSIS not in text
        # The table's headers (or block keys) are the JSON's names.
        assert {"scope", "kind"} <= {w.rstrip(":") for w in text.split()}, text
        assert "model" not in text.split() and "check" not in text.split()
        # Readable piped (80): no column squeezed to a slit, the summary in a line or two.
        assert len(text.splitlines()) <= 12, text
        [line] = [line for line in text.splitlines() if "the distribution" in line]
        assert len(line[line.index("the distribution") :]) >= 20, text


def test_a_long_text_is_never_squeezed_into_a_slit() -> None:
    """Wrapping that would leave a long cell under 20 characters prints blocks instead."""
    columns = (
        Column("id", right=True),
        Column("severity"),
        Column("since"),
        Column("a"),
        Column("b"),
        Column("summary"),
    )
    summary = "the distribution moved well beyond its calibrated threshold, by a lot"
    row = ("17", "critical", "2026-12-01 00:00", "x" * 15, "y" * 15, summary)
    out = render(columns, [row], width=80)
    assert "summary:" in out and summary in out.replace("\n", " "), out
    roomy = render(columns[:3] + columns[5:], [row[:3] + row[5:]], width=80)
    assert roomy.splitlines()[0].split() == ["id", "severity", "since", "summary"], roomy


def test_frameworks_json_parses(config: Path) -> None:
    result = _run(config, "frameworks", "--format", "json")
    assert result.exit_code in (0, 1), result.output
    assert isinstance(_stdout_json(result), dict | list)


# ----------------------------------------------------------------------------- config check


def test_config_check_prints_toml_as_written(config: Path) -> None:
    result = _run(config, "config", "check")
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "PT" not in text and "s3cret-value" not in text
    assert 'delivery_every = "45s"' in text and 'cooldown = "7d"' in text
    assert 'shutdown_grace = "90s"' in text
    assert 'webhook_url = { env = "CLI_OUTPUT_WEBHOOK" }' in text
    assert "[[models]]" in text and "http_port" not in text  # defaults left out
    original = load_config(config, needs=Needs.NOTHING)
    back = parse_config(tomllib.loads(text), needs=Needs.NOTHING)
    assert back.model_dump() == original.model_dump()

    every = _run(config, "config", "check", "--all").stdout
    assert "http_port = 8787" in every and 'retry_max = "30m"' in every
    back = parse_config(tomllib.loads(every), needs=Needs.NOTHING)
    assert back.model_dump() == original.model_dump()
    assert not re.search(r"P\d*T\d", every)

    # JSON: the same selection and spelling as the TOML.
    machine = _stdout_json(_run(config, "config", "check", "--format", "json"))
    assert isinstance(machine, dict) and machine["alerts"]["delivery_every"] == "45s"
    assert machine["service"]["shutdown_grace"] == "90s" and "http_port" not in machine["service"]
    assert {k: v for k, v in machine.items() if k != "secrets"} == tomllib.loads(text)
    everything = _stdout_json(_run(config, "config", "check", "--all", "--format", "json"))
    assert isinstance(everything, dict) and everything["service"]["http_port"] == 8787
    assert everything["alerts"]["retry_max"] == "30m"
    assert not re.search(r"P\d*T\d", json.dumps(everything))


def test_config_check_header_fits_a_narrow_terminal(config: Path) -> None:
    text = _run(config, "config", "check", columns=60).stdout
    header = [line for line in text.splitlines() if line.startswith("#")]
    assert len(header) >= 2 and "never their values" in " ".join(header)
    assert all(len(line) <= 60 or " " not in line[2:] for line in header), header


def test_the_embedded_config_round_trips() -> None:
    path = Path(__file__).resolve().parents[1] / "config.toml"
    original = load_config(path, needs=Needs.NOTHING)
    from daemon.config.dump import settings_toml

    raw = tomllib.loads(path.read_text())
    for every in (False, True):
        text = settings_toml(original, raw, every=every)
        assert parse_config(tomllib.loads(text), needs=Needs.NOTHING).model_dump() == (
            original.model_dump()
        )


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(30, "30s"), (90, "90s"), (3600, "1h"), (5400, "90m"), (7 * 86400, "7d"), (0.25, "250ms")],
)
def test_durations_in_their_largest_whole_unit(seconds: float, text: str) -> None:
    assert format_duration(timedelta(seconds=seconds)) == text


# ----------------------------------------------------------------------------- errors


def test_unknown_names_are_quoted_with_the_configured_ones(config: Path) -> None:
    channel = _run(config, "alerts", "test", "--channel", "nope")
    assert channel.exit_code != 0
    assert (
        "unknown alert channel 'nope'; configured channels: 'ops-slack', 'outbox'" in channel.stderr
    )
    model = _run(config, "check", "nope")
    assert model.exit_code == 2
    assert "unknown model 'nope'; configured models: 'churn'" in model.stderr
    for args in (["retrain", "nope", "--no-wait"], ["retrain", "unpin", "nope"]):
        result = _run(config, *args)
        assert "unknown model 'nope'; configured models: 'churn'" in result.output, args
    bad = _run(config, "check", "churn", "--window", "abc")
    assert bad.exit_code == 2 and "bad --window 'abc'" in bad.stderr


def test_the_schema_gate_reads_the_head_alembic_reads() -> None:
    """`require_current` skips alembic when the stored revision is the declared head."""
    from daemon.store import migrate

    assert migrate.declared_head() == migrate.head_revision()


@pytest.mark.parametrize("width", [60, 80, 160])
def test_frameworks_table_keeps_every_word(width: int) -> None:
    from daemon.frameworks.cli import render_reports
    from tests.frameworks.test_policy import pillow_report

    report = pillow_report()
    text = render_reports([report], width=width)
    assert "PYSEC-1" in text and "source_unavailable" in text
    assert _words("package index http://x unavailable: HTTP 500") <= _words(text)
    # Every line fits, but for one made of a single word longer than the width (a URL).
    assert all(len(line) <= width or " " not in line.strip() for line in text.splitlines()[1:])


def test_a_finding_names_the_window_it_judged() -> None:
    """`alerts list --format json` reads the window's end from the alert's details."""
    from checks.interface import CheckResult, Direction, Measure, Status
    from daemon.checking.findings import findings_of

    measure = Measure(
        subject="income",
        name="psi",
        value=0.31,
        threshold=0.1,
        status=Status.ALERT,
        severity_ratio=3.1,
        alerts_when=Direction.ABOVE,
    )
    result = CheckResult(kind=CheckKind.DRIFT, status=Status.ALERT, rows=500, measures=(measure,))
    end = datetime(2026, 12, 1, tzinfo=UTC)
    [finding] = findings_of("churn", result, "https://x/e/1", window_end=end)
    assert finding.details["window_end"] == "2026-12-01T00:00:00Z"
    assert finding.link == "https://x/e/1" and finding.value == 0.31


def test_a_command_prints_its_table_not_info_logs(config: Path) -> None:
    quiet = _run(config, "check", "churn", columns=60)
    assert quiet.exit_code in (0, 1), quiet.output
    assert " INFO " not in quiet.stderr, quiet.stderr
    assert quiet.stdout.startswith("churn: 300 rows")
    loud = _run(config, "--log-level", "INFO", "check", "churn", columns=60)
    assert " INFO " in loud.stderr


def test_times_never_wrap_and_headers_fit_their_columns() -> None:
    """The jobs table of `mlmaint status`, piped: a time stays on one line, under its header."""
    columns = (
        Column("job"),
        Column("last"),
        Column("started (UTC)"),
        Column("last success (UTC)"),
        Column("secs", right=True),
        Column("runs", right=True),
        Column("fail", right=True),
    )
    rows = [
        (
            "check:churn",
            "failed: store unreachable",
            "2026-12-06 04:15:50",
            "2026-12-05 04:15:50",
            "1.25",
            "24",
            "1",
        ),
        ("report:weekly", "ok", "2026-12-06 00:00:00", "2026-12-06 00:00:00", "0.40", "3", "0"),
    ]
    for width in (80, 100):
        out = render(columns, rows, width=width)
        lines = out.splitlines()
        assert all(len(line) <= width for line in lines), out
        for row in rows:
            for when in row[2:4]:
                assert when in out, out  # date and time on one line
        if lines[0].startswith("job "):  # a table: every header whole, over a rule as wide
            rule = lines[1].split()
            assert [len(r) for r in rule] == [
                max(len(c.header), len(line)) for c, line in zip(columns, rule, strict=True)
            ]
            assert "last success (UTC)" in lines[0]
    # In a paragraph or a cell alike: "since 2026-12-06 02:16:17", never "…-06" / "02:16:17".
    said = "churn: pinned to version 3 since 2026-12-06 02:16:17 UTC by alice"
    for width in range(36, 50):
        assert "2026-12-06 02:16:17" in wrap(said, width), width
        cell = render((Column("pin"), Column("x")), [(said, "y" * (width - 24))], width=width)
        assert "2026-12-06 02:16:17" in cell, cell


def test_status_sections_are_apart(config: Path) -> None:
    text = _run(config, "status", columns=80).stdout
    lines = text.splitlines()
    [outbox] = [i for i, line in enumerate(lines) if "outbox:" in line]
    # The per-model row counts are their own section, not items of the outbox line.
    assert not lines[outbox + 1].startswith(" "), text
    [counts] = [i for i, line in enumerate(lines) if "joined 42" in line]
    heading = max(i for i in range(counts) if not lines[i].startswith(" "))
    assert heading > outbox and "per model" in lines[heading], text
    # A long item wraps under itself, indented deeper than the next item.
    assert all(len(line) <= 80 for line in lines[2:]), text
