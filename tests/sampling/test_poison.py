"""Every row stands alone: a poison row is rejected or quarantined, never a stall.

A NUL (which PostgreSQL cannot hold in text) or a lone surrogate (which no UTF-8
store can hold) among 3,000 good rows: every good row lands, the bad one is in
rejected_rows with its reason, and the next cycle runs clean. A row validation
passes but the database refuses (here a real trigger in the store) is split out
and quarantined with the database's error. A store that cannot write at all
raises StoreUnavailable and stores nothing of the chunk.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.engine import make_url

from daemon.api import ApiServer
from daemon.config import Secret
from daemon.jobs import JobContext
from daemon.sampling import ingest_records, records, sample_predictions
from daemon.sampling.rows import Reason, Reject
from daemon.sampling.specs import spec_of
from daemon.sampling.validation import RowValidator
from daemon.store.engine import StoreUnavailable
from daemon.store.tables import Prediction, RejectedRow
from tests.conftest import _pg_admin
from tests.sampling.conftest import T0, row, write_jsonl

Factory = Callable[..., JobContext]
TOKEN = "a-test-token-of-32-bytes-length!"
BEFORE, AFTER = 1000, 2000

# The poison, and the reason it must be rejected with.
POISONS = {
    "nul": ("par\x00is", "nul_character"),
    "lone_surrogate": ("\ud800", "lone_surrogate"),
}


def _log_rows(city: str) -> list[dict[str, object]]:
    good = [row(i) for i in range(BEFORE + AFTER)]
    return [*good[:BEFORE], row(1500, prediction_id="poison", city=city), *good[BEFORE:]]


def _stored(ctx: JobContext) -> int:
    with ctx.engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(Prediction)) or 0)


def _kept(ctx: JobContext) -> list[tuple[str, str, str]]:
    with ctx.engine.connect() as conn:
        found = conn.execute(select(RejectedRow.reason, RejectedRow.detail, RejectedRow.raw))
        return [(r.reason, r.detail, r.raw) for r in found]


@pytest.mark.parametrize("poison", sorted(POISONS))
def test_a_poison_row_in_a_log_is_rejected_and_the_rest_lands(
    ctx_factory: Factory, tmp_path: Path, poison: str
) -> None:
    value, reason = POISONS[poison]
    ctx = ctx_factory({"kind": "files", "glob": str(tmp_path / "*.jsonl")})
    write_jsonl(tmp_path / "preds.jsonl", _log_rows(value))
    now = datetime.now(UTC)
    out = sample_predictions(ctx, "churn", now)
    assert (out.read, out.sampled) == (BEFORE + AFTER + 1, BEFORE + AFTER)
    assert dict(out.rejected) == {reason: 1}
    assert _stored(ctx) == BEFORE + AFTER
    ((kept_reason, detail, raw),) = _kept(ctx)
    assert kept_reason == reason and detail.startswith("city: ") and '"poison"' in raw
    # The next cycle runs clean: nothing new, nothing rejected, no error.
    again = sample_predictions(ctx, "churn", now)
    assert (again.read, again.sampled, again.rejected_total) == (0, 0, 0)
    (state,) = ctx.writes.snapshot()
    assert (state.model, state.stream, state.ok) == ("churn", "predictions", True)


@pytest.mark.parametrize("poison", sorted(POISONS))
@pytest.mark.parametrize("body_kind", ["array", "jsonl"])
def test_a_poison_row_pushed_answers_202_with_its_reason(
    ctx_factory: Factory, poison: str, body_kind: str
) -> None:
    value, reason = POISONS[poison]
    ctx = ctx_factory({"kind": "http"})
    server = ApiServer(ctx, port=0, token=Secret(TOKEN, "test"), clock=lambda: T0).start()
    rows = _log_rows(value)
    if body_kind == "array":
        body, content_type = json.dumps(rows), "application/json"
    else:
        body, content_type = "\n".join(json.dumps(r) for r in rows), "application/x-ndjson"
    try:
        answer = httpx.post(
            server.url + "/v1/models/churn/predictions",
            content=body,
            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": content_type},
            timeout=60,
        )
    finally:
        server.stop()
    assert answer.status_code == 202, answer.text
    got = answer.json()
    assert (got["accepted"], got["rejected"], got["reasons"]) == (3000, 1, {reason: 1})
    assert _stored(ctx) == BEFORE + AFTER
    assert [k[0] for k in _kept(ctx)] == [reason]


def test_a_byte_that_is_not_utf8_in_a_pushed_array_costs_only_its_row(
    ctx_factory: Factory,
) -> None:
    ctx = ctx_factory({"kind": "http"})
    server = ApiServer(ctx, port=0, token=Secret(TOKEN, "test"), clock=lambda: T0).start()
    rows = _log_rows("poison")
    body = json.dumps(rows).encode().replace(b'"poison"', b'"poi\xffson"', 1)
    try:
        answer = httpx.post(
            server.url + "/v1/models/churn/predictions",
            content=body,
            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
            timeout=60,
        )
    finally:
        server.stop()
    assert answer.status_code == 202, answer.text
    got = answer.json()
    assert (got["accepted"], got["rejected"]) == (3000, 1), got
    assert _stored(ctx) == BEFORE + AFTER


def _refuse_in_store(ctx: JobContext, prediction_id: str) -> None:
    """A real trigger in the store that refuses one row, as a CHECK would."""
    with ctx.engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql(
                "CREATE TRIGGER refuse_one BEFORE INSERT ON predictions "
                f"WHEN NEW.prediction_id = '{prediction_id}' "
                "BEGIN SELECT RAISE(ABORT, 'refused by the store''s own rule'); END"
            )
        else:
            conn.exec_driver_sql(
                "CREATE FUNCTION refuse_one() RETURNS trigger AS $$ BEGIN "
                f"IF NEW.prediction_id = '{prediction_id}' THEN RAISE EXCEPTION "
                "'refused by the store''s own rule' USING ERRCODE = 'check_violation'; "
                "END IF; RETURN NEW; END $$ LANGUAGE plpgsql"
            )
            conn.exec_driver_sql(
                "CREATE TRIGGER refuse_one BEFORE INSERT ON predictions "
                "FOR EACH ROW EXECUTE FUNCTION refuse_one()"
            )


def test_a_row_the_store_refuses_is_split_out_and_quarantined(
    ctx_factory: Factory, tmp_path: Path
) -> None:
    ctx = ctx_factory({"kind": "files", "glob": str(tmp_path / "*.jsonl")})
    sample_predictions(ctx, "churn", datetime.now(UTC))  # the schema's model row
    _refuse_in_store(ctx, "p1500")
    write_jsonl(tmp_path / "preds.jsonl", [row(i) for i in range(3000)])
    now = datetime.now(UTC)
    out = sample_predictions(ctx, "churn", now)
    assert (out.read, out.sampled, dict(out.rejected)) == (3000, 2999, {"store_refused": 1})
    assert _stored(ctx) == 2999
    ((reason, detail, raw),) = _kept(ctx)
    assert reason == "store_refused"
    assert "refused by the store's own rule" in detail and '"p1500"' in raw
    again = sample_predictions(ctx, "churn", now)
    assert (again.read, again.sampled, again.rejected_total) == (0, 0, 0)
    # Pushed rows too, in one transaction: the refused row alone is left out.
    pushed = ingest_records(ctx, "churn", [row(i) for i in range(1490, 1510)], T0)
    assert (pushed.sampled, pushed.duplicates, dict(pushed.rejected)) == (
        0,
        19,
        {"store_refused": 1},
    )


def test_a_refused_row_is_kept_even_when_the_reject_sample_is_full(
    ctx_factory: Factory, tmp_path: Path
) -> None:
    ctx = ctx_factory({"kind": "files", "glob": str(tmp_path / "*.jsonl")})
    sample_predictions(ctx, "churn", datetime.now(UTC))  # the schema's model row
    rejects = [
        Reject(Reason.MALFORMED, "not JSON", "{"),
        Reject(Reason.STORE_REFUSED, "refused by the store", '{"id": "p7"}'),
    ]
    with ctx.engine.begin() as conn:
        model_id = records.model_id_of(conn, "churn")
        assert model_id is not None
        records.keep_rejects(conn, model_id, "predictions", rejects, datetime.now(UTC), 0)
    assert [reason for reason, _, _ in _kept(ctx)] == ["store_refused"]


def _read_only(ctx: JobContext) -> Callable[[], None]:
    """The store refuses every write (a read-only database) until the returned undo."""
    if ctx.engine.dialect.name == "sqlite":

        def query_only(dbapi_conn: object, _record: object) -> None:
            dbapi_conn.execute("PRAGMA query_only=ON")  # type: ignore[attr-defined]

        event.listen(ctx.engine, "connect", query_only)
        ctx.engine.dispose()

        def undo() -> None:
            event.remove(ctx.engine, "connect", query_only)
            ctx.engine.dispose()

        return undo
    name = make_url(ctx.engine.url).database

    def alter(setting: str) -> None:
        admin = _pg_admin()
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" {setting}'))
        admin.dispose()
        ctx.engine.dispose()

    alter("SET default_transaction_read_only = on")
    return lambda: alter("RESET ALL")


def test_a_store_that_cannot_write_stores_nothing_and_says_so(
    ctx_factory: Factory, tmp_path: Path
) -> None:
    ctx = ctx_factory({"kind": "files", "glob": str(tmp_path / "*.jsonl"), "batch_size": 500})
    log = tmp_path / "preds.jsonl"
    write_jsonl(log, [row(i) for i in range(100)])
    now = datetime.now(UTC)
    assert sample_predictions(ctx, "churn", now).sampled == 100
    write_jsonl(log, [row(i) for i in range(100, 1100)], mode="a")
    undo = _read_only(ctx)
    try:
        with pytest.raises(StoreUnavailable, match="store unavailable"):
            sample_predictions(ctx, "churn", now)
        with pytest.raises(StoreUnavailable):
            ingest_records(ctx, "churn", [row(5000)], T0)
        (state,) = ctx.writes.snapshot()
        assert not state.ok and state.error and "store unavailable" in state.error
        assert state.last_ok_at == now
    finally:
        undo()
    assert _stored(ctx) == 100
    # The watermark did not move: once the store takes writes, every row lands once.
    out = sample_predictions(ctx, "churn", now)
    assert (out.read, out.sampled, out.duplicates) == (1000, 1000, 0)
    assert _stored(ctx) == 1100
    assert ctx.writes.snapshot()[0].ok


# --------------------------------------------------------------------------- validation


def _validator(ctx_factory: Factory) -> RowValidator:
    ctx = ctx_factory({"kind": "http"})
    return RowValidator(spec_of(ctx.settings.model("churn")))


@pytest.mark.parametrize("column", ["prediction_id", "city", "error"])
@pytest.mark.parametrize("poison", sorted(POISONS))
def test_every_path_names_text_the_store_cannot_hold(
    ctx_factory: Factory, column: str, poison: str
) -> None:
    value, reason = POISONS[poison]
    validator = _validator(ctx_factory)
    rows = [row(i) for i in range(300)]
    rows[150] = row(150, **{column: f"x{value}y"})
    lines = [json.dumps(r).encode() for r in rows]
    for got in (
        validator.from_jsonl(lines),
        validator.from_lines(lines),
        validator.from_records(json.loads(b"[" + b",".join(lines) + b"]")),
    ):
        assert got.rows == 299
        ((reject,),) = [got.rejects]
        assert reject.reason == reason and reject.detail.startswith(f"{column}: ")
    # CSV: a raw NUL in a cell (a CSV can't spell a lone surrogate in valid UTF-8).
    header = ("prediction_id", "timestamp", "age", "income", "city", "prediction")
    cells = [",".join(str(r[h]) for h in header).encode() for r in (row(i) for i in range(300))]
    cells[7] = cells[7].replace(b"paris", b"pa\x00ris").replace(b"lyon", b"ly\x00on")
    got = validator.from_csv(header, cells)
    assert got.rows == 299 and [r.reason.value for r in got.rejects] == ["nul_character"]


def test_invalid_utf8_is_named_on_every_path(ctx_factory: Factory) -> None:
    validator = _validator(ctx_factory)
    lines = [json.dumps(row(i)).encode() for i in range(300)]
    lines[42] = lines[42].replace(b"paris", b"pa\xffris").replace(b"lyon", b"ly\xffon")
    for got in (validator.from_jsonl(lines), validator.from_lines(lines)):
        assert got.rows == 299
        assert [r.reason.value for r in got.rejects] == ["invalid_utf8"]
    header = ("prediction_id", "timestamp", "age", "income", "city", "prediction")
    cells = [",".join(str(r[h]) for h in header).encode() for r in (row(i) for i in range(50))]
    cells[3] = cells[3].replace(b"paris", b"pa\xffris").replace(b"lyon", b"ly\xffon")
    got = validator.from_csv(header, cells)
    assert got.rows == 49 and [r.reason.value for r in got.rejects] == ["invalid_utf8"]
