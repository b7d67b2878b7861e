"""Packed numeric features: migration 0002 both ways, layouts across a schema change,
exact float round trips, and a clear error for values that don't fit their layout.
All on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sqlalchemy import Engine, bindparam, text, update

from daemon.config import parse_config
from daemon.sampling import bulk
from daemon.sampling.specs import spec_of
from daemon.sampling.validation import RowValidator
from daemon.store import features as features_module
from daemon.store import migrate
from daemon.store.features import CorruptFeatures, ensure_layout
from daemon.store.models import ensure_model
from daemon.store.tables import Prediction, UTCDateTime
from daemon.store.windows import load_window

T0 = datetime(2026, 3, 2, tzinfo=UTC)
END = T0 + timedelta(days=1)


def model_settings(url: str, numeric: list[str], categorical: list[str]):  # type: ignore[no-untyped-def]
    settings = parse_config(
        {
            "store": {"url": url},
            "models": [
                {
                    "name": "m",
                    "source": {"kind": "http"},
                    "schema": {"numeric": numeric, "categorical": categorical, "score": "score"},
                }
            ],
        },
        environ={},
    )
    return settings.model("m")


def test_migration_packs_json_rows_and_the_downgrade_restores_them(engine: Engine) -> None:
    migrate.downgrade(engine, "0001")
    stored = [
        {"age": 31, "income": 1234.5678901234567, "city": "paris"},
        {"age": None, "income": -0.1, "city": "lyon"},
        {"income": 7.0, "city": None},  # a row written before "age" was in the schema
        {"age": 1e-300, "income": 2.5, "city": 'quote " and \\ and é'},
    ]
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO models (id, name, created_at) VALUES (1, 'm', :t)").bindparams(
                bindparam("t", type_=UTCDateTime())
            ),
            {"t": T0},
        )
        for i, feats in enumerate(stored):
            conn.execute(
                text(
                    "INSERT INTO predictions (model_id, prediction_id, ts, features, prediction,"
                    " score) VALUES (1, :pid, :ts, :f, '1', 0.5)"
                ).bindparams(bindparam("ts", type_=UTCDateTime())),
                {
                    "pid": f"p{i}",
                    "ts": T0 + timedelta(minutes=i),
                    "f": json.dumps(feats),
                },
            )
    migrate.upgrade(engine)
    migrate.check(engine)  # the converted table is exactly the ORM's

    model = model_settings(str(engine.url), ["age", "income"], ["city"])
    frame = load_window(engine, model, T0, END)
    assert frame["prediction_id"].tolist() == ["p0", "p1", "p2", "p3"]
    ages = frame["age"].tolist()
    assert ages[0] == 31.0 and np.isnan(ages[1]) and np.isnan(ages[2]) and ages[3] == 1e-300
    assert frame["income"].tolist() == [1234.5678901234567, -0.1, 7.0, 2.5]
    assert frame["city"].astype(object).where(frame["city"].notna(), None).tolist() == [
        "paris",
        "lyon",
        None,
        'quote " and \\ and é',
    ]

    migrate.downgrade(engine, "0001")
    with engine.connect() as conn:
        back = [
            f if isinstance(f, dict) else json.loads(f)
            for (f,) in conn.execute(text("SELECT features FROM predictions ORDER BY id"))
        ]
    # Nulls read back as missing either way; everything else is as it was.
    assert back == [{k: v for k, v in f.items() if v is not None} for f in stored]
    migrate.upgrade(engine)


def _write(engine: Engine, model_numeric: list[str], frame: pd.DataFrame) -> None:
    """Rows written by a model whose schema has the given numeric features."""
    model = model_settings(str(engine.url), model_numeric, ["city"])
    validator = RowValidator(spec_of(model))
    batch = validator.from_records(frame.to_dict("records"))
    assert not batch.rejects
    with engine.begin() as conn:
        model_id = ensure_model(conn, "m", T0)
        layout_id = ensure_layout(conn, model_id, model.schema_.numeric, T0)
        bulk.write_predictions(
            conn, model_id, layout_id, batch.table, model.schema_.numeric, ["city"], now=T0
        )


def _rows(start: int, n: int, names: list[str], rng: np.random.Generator) -> pd.DataFrame:
    data: dict[str, object] = {
        "prediction_id": [f"p{i}" for i in range(start, start + n)],
        "timestamp": [(T0 + timedelta(seconds=i)).isoformat() for i in range(start, start + n)],
        "prediction": 1.0,
        "score": rng.random(n),
        "city": "paris",
    }
    for name in names:
        data[name] = rng.normal(0, 1e6, n)
    return pd.DataFrame(data)


def test_windows_map_each_layout_onto_the_schema_they_are_read_with(engine: Engine) -> None:
    rng = np.random.default_rng(7)
    old = _rows(0, 30, ["a", "b"], rng)  # schema v1: a, b
    new = _rows(30, 30, ["c", "b"], rng)  # schema v2: "a" dropped, "c" added first
    _write(engine, ["a", "b"], old)
    _write(engine, ["c", "b"], new)
    model = model_settings(str(engine.url), ["b", "c", "a"], ["city"])
    # Chunks of 7 rows: one chunk straddles the change and holds both layouts.
    for chunk_rows in (7, 1000):
        frame = load_window(engine, model, T0, END, chunk_rows=chunk_rows)
        assert len(frame) == 60
        # Exact float64 round trip, no text in between.
        assert frame["b"].tolist() == [*old["b"], *new["b"]]
        assert frame["a"].iloc[:30].tolist() == old["a"].tolist()
        assert frame["a"].iloc[30:].isna().all()
        assert frame["c"].iloc[:30].isna().all()
        assert frame["c"].iloc[30:].tolist() == new["c"].tolist()
        assert frame["score"].tolist() == [*old["score"], *new["score"]]


def test_values_that_do_not_fit_their_layout_are_a_clear_error(engine: Engine) -> None:
    rng = np.random.default_rng(1)
    _write(engine, ["a", "b"], _rows(0, 5, ["a", "b"], rng))
    with engine.begin() as conn:
        conn.execute(
            update(Prediction)
            .where(Prediction.prediction_id == "p3")
            .values(numeric_features=np.zeros(3).tobytes())
        )
    model = model_settings(str(engine.url), ["a", "b"], ["city"])
    with pytest.raises(CorruptFeatures, match=r"holds 24 bytes .* not 2 float64"):
        load_window(engine, model, T0, END)


def test_a_layout_is_stored_once_whoever_asks(engine: Engine) -> None:
    with engine.begin() as conn:
        model_id = ensure_model(conn, "m", T0)
        first = ensure_layout(conn, model_id, ["a", "b"], T0)
        assert ensure_layout(conn, model_id, ["a", "b"], T0) == first
        assert ensure_layout(conn, model_id, ["b", "a"], T0) != first
        other = ensure_model(conn, "other", T0)
        assert ensure_layout(conn, other, ["a", "b"], T0) != first


def test_packed_values_are_float64_little_endian() -> None:
    from daemon.store.features import numeric_matrix, pack

    table = pa.table({"x": pa.array([1.5, None]), "y": pa.array([-2.0, 3.0])})
    packed = pack(numeric_matrix(table, ["y", "x"])).to_pylist()
    assert packed[0] == np.array([-2.0, 1.5], dtype="<f8").tobytes()
    assert np.isnan(np.frombuffer(packed[1], dtype="<f8")[1])


def test_a_window_reads_layouts_and_rows_in_one_snapshot(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(3)
    first = _rows(0, 3, ["a", "b"], rng)
    _write(engine, ["a", "b"], first)
    late = _rows(3, 2, ["b", "a"], rng)  # the schema reordered: same width, other order
    real = features_module.layouts_of

    def then_a_sampler_commits(conn: object, model_id: int) -> dict[int, tuple[str, ...]]:
        found = real(conn, model_id)  # type: ignore[arg-type]
        # A new layout and rows under it land between the layouts and the rows.
        _write(engine, ["b", "a"], late)
        return found

    monkeypatch.setattr(features_module, "layouts_of", then_a_sampler_commits)
    model = model_settings(str(engine.url), ["a", "b"], ["city"])
    during = load_window(engine, model, T0, END)
    # The window is the store as it was when it began: the late rows are not in it...
    assert during["prediction_id"].tolist() == ["p0", "p1", "p2"]
    assert during["a"].tolist() == first["a"].tolist()
    monkeypatch.undo()
    # ...and the next window reads them with their own layout.
    after = load_window(engine, model, T0, END)
    assert after["a"].tolist() == [*first["a"], *late["a"]]
    assert after["b"].tolist() == [*first["b"], *late["b"]]
