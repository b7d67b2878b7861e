"""One typing: the same rows reach the checks alike through every path in.

A user's rows come typed as their source types them: a JSON log holds
booleans and integer codes, a CSV log or a `pd.read_csv` reference holds
text, a Parquet file may hold float codes or a `category` column with unused
categories, labels are pushed as integers, booleans or text. Each path below
is one such case (named by its pytest id); each must store every row and
hand the checks the same frame and the same reference statistics, and the
same rows must not drift against themselves.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import case, select, update

from checks.interface import CheckKind, Status
from checks.reference import ReferenceStats
from daemon.api import ApiServer
from daemon.checking.cache import CheckCache
from daemon.checking.references import load_reference, reference_stats
from daemon.checking.run import run_checks
from daemon.config import Secret, Settings, parse_config
from daemon.jobs import JobContext
from daemon.retraining.snapshots import build_snapshots
from daemon.retraining.specs import retrain_plan
from daemon.sampling import ingest_label_records, ingest_records, sample_predictions
from daemon.store.engine import make_engine, session_factory
from daemon.store.tables import Model, Prediction, RejectedRow
from daemon.store.windows import load_labelled, load_window
from retrain.snapshot import read_snapshot

T0 = datetime(2026, 3, 2, tzinfo=UTC)
END = T0 + timedelta(days=1)
N = 1200  # above 1,000 reference rows: Jensen-Shannon and Wasserstein, distances
TOKEN = "typing-token"
NUMERIC = ("age", "income")
CATEGORICAL = ("is_student", "plan_code", "city")
FEATURES = (*NUMERIC, *CATEGORICAL)


# --------------------------------------------------------------------------- the rows


def rows() -> list[dict[str, object]]:
    """The rows as the serving code has them: bools, int codes, text, some missing."""
    rng = np.random.default_rng(7)
    out: list[dict[str, object]] = []
    for i in range(N):
        out.append(
            {
                "prediction_id": f"p{i}",
                "timestamp": (T0 + timedelta(seconds=i)).isoformat(),
                "age": round(float(rng.normal(40, 10)), 3),
                "income": round(float(rng.gamma(2.0, 1000.0)), 2),
                "is_student": bool(rng.random() < 0.3),
                "plan_code": int(rng.choice([1, 2, 3], p=[0.5, 0.3, 0.2])),
                # A tenth missing: it must stay missing on every path, never "None".
                "city": None if rng.random() < 0.1 else str(rng.choice(["paris", "lyon"])),
                "prediction": float(i % 2),
                "score": round(float(rng.random()), 4),
                "latency_ms": round(float(rng.gamma(4.0, 5.0)), 3),
                "error": bool(i % 200 == 0),
            }
        )
    return out


def labels() -> list[int]:
    return [int(i % 3 == 0) for i in range(N)]


def canonical_features(data: list[dict[str, object]]) -> pd.DataFrame:
    """The typed features, spelled out by hand (not by the typing under test)."""
    return pd.DataFrame(
        {
            "age": pd.Series([r["age"] for r in data], dtype="float64"),
            "income": pd.Series([r["income"] for r in data], dtype="float64"),
            "is_student": pd.Series(
                ["true" if r["is_student"] else "false" for r in data], dtype=object
            ),
            "plan_code": pd.Series([str(r["plan_code"]) for r in data], dtype=object),
            "city": pd.Series([r["city"] for r in data], dtype=object),
        }
    )


def source_frame(data: list[dict[str, object]]) -> pd.DataFrame:
    """The rows as a pandas frame of the source's types (bool, int64, object)."""
    frame = pd.DataFrame(data)
    assert frame["is_student"].dtype == bool and frame["plan_code"].dtype == np.int64
    return frame


def reference_frame(data: list[dict[str, object]]) -> pd.DataFrame:
    """The rows as a user's reference file holds them: features, outputs and the label."""
    frame = source_frame(data).drop(columns=["prediction_id", "timestamp", "error"])
    frame["label"] = labels()
    return frame


# --------------------------------------------------------------------------- settings


def model_settings(
    store_url: str,
    state: Path,
    source: Mapping[str, object],
    *,
    reference: Mapping[str, object] | None = None,
    task: str = "binary_classification",
) -> Settings:
    model: dict[str, object] = {
        "name": "churn",
        "task": task,
        "source": dict(source),
        "labels": {"kind": "http"},
        "schema": {
            "numeric": list(NUMERIC),
            "categorical": list(CATEGORICAL),
            "score": "score",
            "latency": "latency_ms",
            "error": "error",
        },
        "checks": {"performance": {"bootstrap": 20, "min_labelled": 100}},
    }
    if reference is not None:
        model["reference"] = dict(reference)
    return parse_config(
        {"service": {"state_dir": str(state)}, "store": {"url": store_url}, "models": [model]},
        environ={},
    )


@pytest.fixture
def contexts(store_url: str, tmp_path: Path) -> Iterator[Callable[..., JobContext]]:
    made: list[JobContext] = []

    def build(source: Mapping[str, object], **kwargs: object) -> JobContext:
        settings = model_settings(store_url, tmp_path / "state", source, **kwargs)  # type: ignore[arg-type]
        engine = make_engine(settings.store.url)
        ctx = JobContext(settings=settings, engine=engine, sessions=session_factory(engine))
        made.append(ctx)
        return ctx

    yield build
    for ctx in made:
        checked_out = ctx.engine.pool.checkedout()  # type: ignore[attr-defined]
        ctx.close()
        assert checked_out == 0, f"{checked_out} connection(s) leaked"


@pytest.fixture
def api(contexts: Callable[..., JobContext]) -> Iterator[tuple[JobContext, httpx.Client]]:
    ctx = contexts({"kind": "http"})
    server = ApiServer(ctx, port=0, token=Secret(TOKEN, "test"), clock=lambda: T0).start()
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=60) as client:
        yield ctx, client
    server.stop()


# --------------------------------------------------------------------------- paths in


def _jsonl(path: Path, data: list[dict[str, object]]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in data))


def _write_jsonl_log(directory: Path, data: list[dict[str, object]]) -> dict[str, object]:
    _jsonl(directory / "preds.jsonl", data)
    return {"kind": "files", "glob": str(directory / "*.jsonl")}


def _write_jsonl_float_codes(directory: Path, data: list[dict[str, object]]) -> dict[str, object]:
    coded = [{**r, "plan_code": float(r["plan_code"])} for r in data]  # type: ignore[arg-type]
    _jsonl(directory / "preds.jsonl", coded)
    return {"kind": "files", "glob": str(directory / "*.jsonl")}


def _write_csv_log(directory: Path, data: list[dict[str, object]]) -> dict[str, object]:
    # pandas writes booleans as True/False, codes as 1, a missing city as "".
    source_frame(data).to_csv(directory / "preds.csv", index=False)
    return {"kind": "files", "glob": str(directory / "*.csv"), "format": "csv"}


def _write_parquet_log(directory: Path, data: list[dict[str, object]]) -> dict[str, object]:
    pq.write_table(pa.Table.from_pandas(source_frame(data)), directory / "preds.parquet")
    return {"kind": "files", "glob": str(directory / "*.parquet"), "format": "parquet"}


def _write_parquet_category_log(
    directory: Path, data: list[dict[str, object]]
) -> dict[str, object]:
    frame = source_frame(data)
    frame["plan_code"] = pd.Categorical(frame["plan_code"], categories=[1, 2, 3, 4, 99])
    frame["city"] = pd.Categorical(frame["city"], categories=["paris", "lyon", "berlin"])
    pq.write_table(pa.Table.from_pandas(frame), directory / "preds.parquet")
    return {"kind": "files", "glob": str(directory / "*.parquet"), "format": "parquet"}


LOGS = {
    "jsonl-log-bool-and-int-codes": _write_jsonl_log,
    "jsonl-log-float-codes": _write_jsonl_float_codes,
    "csv-log-bool-and-int-codes": _write_csv_log,
    "parquet-log-bool-and-int-codes": _write_parquet_log,
    "parquet-log-category-dtype-unused-categories": _write_parquet_category_log,
}


def _window(ctx: JobContext) -> pd.DataFrame:
    return load_window(ctx, ctx.settings.model("churn"), T0, END)


def _assert_window_is_the_rows(window: pd.DataFrame, data: list[dict[str, object]]) -> None:
    assert len(window) == N
    window = window.sort_values("prediction_id", key=lambda s: s.str[1:].astype(int))
    window = window.reset_index(drop=True)
    pd.testing.assert_frame_equal(window.loc[:, list(FEATURES)], canonical_features(data))
    assert window["prediction"].tolist() == [r["prediction"] for r in data]
    assert window["score"].tolist() == [r["score"] for r in data]
    # A boolean error column: false is no error, true is one (a rate of 1/200).
    errors = window["error"].tolist()
    assert errors == ["true" if r["error"] else None for r in data]


def _assert_nothing_drifts(ctx: JobContext, window: pd.DataFrame, reference: object) -> None:
    model = ctx.settings.model("churn")
    cycle = run_checks(
        None,
        model,
        END,
        window,
        reference,  # type: ignore[arg-type]
        kinds=[CheckKind.DRIFT, CheckKind.QUALITY, CheckKind.OPERATIONS],
    )
    drift = cycle.result(CheckKind.DRIFT)
    assert drift.status is Status.OK, drift.reason
    for measure in drift.measures:
        if measure.subject == "dataset":
            assert measure.value == 0.0
            continue
        if measure.subject == "label" and window["label"].isna().all():
            # No labels yet: nothing to compare, which is not drift.
            assert measure.status is Status.INSUFFICIENT_DATA, measure
            continue
        assert measure.status is Status.OK, measure
        # The same rows: every distance is zero (Jensen-Shannon, Wasserstein).
        assert measure.name in ("jensenshannon", "wasserstein"), measure
        assert measure.value is not None and abs(measure.value) < 1e-9, measure
    quality = cycle.result(CheckKind.QUALITY)
    assert quality.status is Status.OK, quality.measures
    operations = cycle.result(CheckKind.OPERATIONS)
    rate = next(m for m in operations.measures if m.name == "error_rate")
    assert rate.value == pytest.approx(6 / N) and rate.status is Status.OK
    assert not cycle.firing


@pytest.mark.parametrize("path", list(LOGS), ids=list(LOGS))
def test_a_log_stores_every_row_typed_alike(
    path: str, contexts: Callable[..., JobContext], tmp_path: Path
) -> None:
    data = rows()
    logs = tmp_path / "logs"
    logs.mkdir()
    ctx = contexts(LOGS[path](logs, data))
    out = sample_predictions(ctx, "churn", T0)
    assert dict(out.rejected) == {} and out.sampled == N
    window = _window(ctx)
    _assert_window_is_the_rows(window, data)
    _assert_nothing_drifts(ctx, window, reference_frame(data))


@pytest.mark.parametrize("body", ["json-array", "ndjson"])
def test_pushed_json_stores_every_row_typed_alike(
    body: str, api: tuple[JobContext, httpx.Client]
) -> None:
    ctx, client = api
    data = rows()
    lines = "\n".join(json.dumps(r) for r in data)
    content = json.dumps(data) if body == "json-array" else lines
    response = client.post("/v1/models/churn/predictions", content=content)
    assert response.status_code == 202
    assert response.json()["rejected"] == 0 and response.json()["sampled"] == N
    window = _window(ctx)
    _assert_window_is_the_rows(window, data)
    _assert_nothing_drifts(ctx, window, reference_frame(data))


# --------------------------------------------------------------------------- references


def _csv(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_csv(path, index=False)
    return path


def _parquet(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_parquet(path, index=False)
    return path


def _float_codes(frame: pd.DataFrame) -> pd.DataFrame:
    # What an int-coded column becomes once pandas meets a missing value anywhere.
    return frame.assign(plan_code=frame["plan_code"].astype("float64"))


def _category_dtype(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(
        is_student=pd.Categorical(frame["is_student"], categories=[False, True]),
        plan_code=pd.Categorical(frame["plan_code"], categories=[1, 2, 3, 4, 99]),
        city=pd.Categorical(frame["city"], categories=["paris", "lyon", "berlin", "rome"]),
    )


REFERENCE_FILES: dict[str, Callable[[pd.DataFrame, Path], Path]] = {
    "csv-reference-bool-and-int-codes": lambda f, d: _csv(f, d / "ref.csv"),
    "csv-reference-float-codes": lambda f, d: _csv(_float_codes(f), d / "ref.csv"),
    "parquet-reference-bool-and-int-codes": lambda f, d: _parquet(f, d / "ref.parquet"),
    "parquet-reference-float-codes": lambda f, d: _parquet(_float_codes(f), d / "ref.parquet"),
    "parquet-reference-category-dtype-unused-categories": lambda f, d: _parquet(
        _category_dtype(f), d / "ref.parquet"
    ),
}


def _expected_stats(ctx: JobContext, data: list[dict[str, object]]) -> ReferenceStats:
    """The statistics of the rows typed by hand, with the window's reserved names."""
    frame = canonical_features(data)
    for column in ("prediction", "score", "latency_ms"):
        frame[column] = [r[column] for r in data]
    frame["label"] = np.asarray(labels(), dtype=np.float64)
    return reference_stats(ctx.settings.model("churn"), frame, cache=CheckCache())


def _assert_same_stats(got: ReferenceStats, expected: ReferenceStats) -> None:
    assert set(got.categorical) == set(expected.categorical) == {*CATEGORICAL}
    for name, stats in expected.categorical.items():
        mine = got.categorical[name]
        assert dict(mine.counts) == dict(stats.counts), name
        assert (mine.rows, mine.missing) == (stats.rows, stats.missing), name
    assert set(got.numeric) == set(expected.numeric)
    for name, numbers in expected.numeric.items():
        np.testing.assert_array_equal(got.numeric[name].sorted, numbers.sorted, err_msg=name)
    for name in CATEGORICAL:
        assert got.frame[name].dtype == object
        assert not (got.frame[name] == "None").any(), name


@pytest.mark.parametrize("path", list(REFERENCE_FILES), ids=list(REFERENCE_FILES))
def test_a_reference_file_gives_the_same_statistics(
    path: str, contexts: Callable[..., JobContext], tmp_path: Path
) -> None:
    data = rows()
    file = REFERENCE_FILES[path](reference_frame(data), tmp_path)
    ctx = contexts({"kind": "http"}, reference={"kind": "file", "path": str(file)})
    model = ctx.settings.model("churn")
    with ctx.sessions() as session:
        frame, digest = load_reference(session, model)
    stats = reference_stats(model, frame, digest=digest, cache=CheckCache())
    _assert_same_stats(stats, _expected_stats(ctx, data))
    # A window of the same rows, pushed as JSON, does not drift against it.
    assert ingest_records(ctx, "churn", data, T0).rejected_total == 0
    _assert_nothing_drifts(ctx, _window(ctx), stats)


def test_a_category_frame_and_its_plain_twin_share_statistics_not_a_cache_key(
    contexts: Callable[..., JobContext],
) -> None:
    ctx = contexts({"kind": "http"})
    model = ctx.settings.model("churn")
    data = rows()
    cache = CheckCache()
    plain = reference_stats(model, reference_frame(data), cache=cache)
    category = reference_stats(model, _category_dtype(reference_frame(data)), cache=cache)
    # Different dtypes, different digests: never one's statistics served for the other.
    assert plain.digest != category.digest
    expected = _expected_stats(ctx, data)
    _assert_same_stats(plain, expected)
    _assert_same_stats(category, expected)


# --------------------------------------------------------------------------- labels


LABEL_FORMS: dict[str, tuple[Callable[[int], object], dict[int, str]]] = {
    "labels-pushed-as-int": (lambda y: y, {0: "0", 1: "1"}),
    "labels-pushed-as-bool": (lambda y: bool(y), {0: "false", 1: "true"}),
    "labels-pushed-as-text": (lambda y: str(y), {0: "0", 1: "1"}),
    "labels-pushed-as-float-text": (lambda y: f"{y}.0", {0: "0", 1: "1"}),
}


def _stored_labels(ctx: JobContext) -> dict[str, str | None]:
    with ctx.engine.connect() as conn:
        return dict(conn.execute(select(Prediction.prediction_id, Prediction.label)).all())  # type: ignore[arg-type]


@pytest.mark.parametrize("form", list(LABEL_FORMS), ids=list(LABEL_FORMS))
def test_labels_pushed_in_any_form_are_stored_canonical(
    form: str, api: tuple[JobContext, httpx.Client]
) -> None:
    ctx, client = api
    data = rows()
    assert client.post("/v1/models/churn/predictions", content=json.dumps(data)).status_code == 202
    spell, stored = LABEL_FORMS[form]
    body = [{"prediction_id": f"p{i}", "label": spell(y)} for i, y in enumerate(labels())]
    response = client.post("/v1/models/churn/labels", content=json.dumps(body))
    assert response.status_code == 202
    assert response.json()["rejected"] == 0 and response.json()["joined"] == N
    kept = _stored_labels(ctx)
    assert {kept[f"p{i}"] for i in range(N)} == set(stored.values())
    assert all(kept[f"p{i}"] == stored[y] for i, y in enumerate(labels()))
    # The checks read a binary label as 0/1, whatever its spelling.
    window = _window(ctx).set_index("prediction_id")
    assert window.loc[[f"p{i}" for i in range(N)], "label"].tolist() == [float(y) for y in labels()]
    cycle = run_checks(
        None,
        ctx.settings.model("churn"),
        END,
        window.reset_index(),
        reference_frame(data),
        kinds=[CheckKind.PERFORMANCE, CheckKind.DRIFT],
    )
    performance = cycle.result(CheckKind.PERFORMANCE)
    assert performance.status is Status.OK, performance.reason
    label_drift = next(m for m in cycle.result(CheckKind.DRIFT).measures if m.subject == "label")
    assert label_drift.status is Status.OK and label_drift.value == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize(
    ("task", "pushed", "stored"),
    [
        pytest.param("multiclass_classification", [0, 1, 2], ["0", "1", "2"], id="multiclass-int"),
        pytest.param(
            "multiclass_classification",
            [True, False, 2.0],
            ["true", "false", "2"],
            id="multiclass-bool-and-float-codes",
        ),
        pytest.param("regression", [3, "2.5", True], ["3.0", "2.5", "1.0"], id="regression-float"),
    ],
)
def test_labels_of_other_tasks(
    task: str,
    pushed: list[object],
    stored: list[str],
    contexts: Callable[..., JobContext],
) -> None:
    ctx = contexts({"kind": "http"}, task=task)
    multiclass = task == "multiclass_classification"
    data = [{**r, "prediction": str(i) if multiclass else 1.5} for i, r in enumerate(rows()[:3])]
    assert ingest_records(ctx, "churn", data, T0).rejected_total == 0
    records = [{"prediction_id": f"p{i}", "label": v} for i, v in enumerate(pushed)]
    out = ingest_label_records(ctx, "churn", records, T0)
    assert out.rejected_total == 0 and out.joined == 3
    kept = _stored_labels(ctx)
    assert [kept[f"p{i}"] for i in range(3)] == stored


def test_a_label_under_the_wrong_key_names_the_expected_column(
    contexts: Callable[..., JobContext],
) -> None:
    ctx = contexts({"kind": "http"})
    assert ingest_records(ctx, "churn", rows()[:2], T0).rejected_total == 0
    records = [{"prediction_id": "p0", "target": 1}, {"id": "p1", "label": 1}]
    out = ingest_label_records(ctx, "churn", records, T0)
    assert dict(out.rejected) == {"missing_label": 1, "missing_id": 1}
    with ctx.engine.connect() as conn:
        details = dict(conn.execute(select(RejectedRow.reason, RejectedRow.detail)).all())  # type: ignore[arg-type]
    assert "'label'" in details["missing_label"] and "target" in details["missing_label"]
    assert "'prediction_id'" in details["missing_id"] and "id, label" in details["missing_id"]


# --------------------------------------------------------------------------- snapshots


def test_missing_categoricals_stay_missing_through_a_snapshot(
    api: tuple[JobContext, httpx.Client], tmp_path: Path
) -> None:
    ctx, client = api
    data = rows()
    client.post("/v1/models/churn/predictions", content=json.dumps(data))
    body = [{"prediction_id": f"p{i}", "label": y} for i, y in enumerate(labels())]
    client.post("/v1/models/churn/labels", content=json.dumps(body))
    model = ctx.settings.model("churn")
    with ctx.sessions() as session:
        model_id = session.scalars(select(Model.id)).one()
        since = END - model.retrain.recent_labelled
        recent = load_labelled(session.connection(), model_id, model, since, END)
    train, holdout = build_snapshots(None, recent, retrain_plan(model), tmp_path / "snapshots")
    assert holdout is not None
    snapshot = pd.concat([read_snapshot(train), read_snapshot(holdout)], ignore_index=True)
    snapshot = snapshot.sort_values("prediction_id", key=lambda s: s.str[1:].astype(int))
    snapshot = snapshot.reset_index(drop=True)
    expected = canonical_features(data)
    pd.testing.assert_frame_equal(snapshot.loc[:, list(FEATURES)], expected)
    assert snapshot["city"].isna().sum() == expected["city"].isna().sum() > 0
    assert snapshot["label"].tolist() == [str(y) for y in labels()]
    # The snapshot as the next reference: its categoricals count what the window holds.
    stats = reference_stats(model, snapshot, cache=CheckCache())
    window = _window(ctx)
    cycle = run_checks(None, model, END, window, stats, kinds=[CheckKind.DRIFT])
    by_subject = {m.subject: m for m in cycle.result(CheckKind.DRIFT).measures}
    for name in CATEGORICAL:
        assert by_subject[name].status is Status.OK, by_subject[name]
        assert by_subject[name].value == pytest.approx(0.0, abs=1e-9), by_subject[name]


# --------------------------------------------------------------------------- errors

ERROR_FORMS: dict[str, tuple[str, object, object]] = {
    "jsonl-bool": ("jsonl", False, True),
    "jsonl-null-and-message": ("jsonl", None, "timeout after 30s"),
    "jsonl-empty-string-and-message": ("jsonl", "", "boom"),
    "jsonl-numeric-codes": ("jsonl", 0, 503),
    "csv-bool": ("csv", False, True),
    "csv-numeric-codes": ("csv", 0, 1),
}


@pytest.mark.parametrize("form", list(ERROR_FORMS), ids=list(ERROR_FORMS))
def test_the_error_column_counts_only_errors(
    form: str, contexts: Callable[..., JobContext], tmp_path: Path
) -> None:
    fmt, fine, failed = ERROR_FORMS[form]
    data = [{**r, "error": failed if i % 200 == 0 else fine} for i, r in enumerate(rows())]
    logs = tmp_path / "logs"
    logs.mkdir()
    if fmt == "jsonl":
        _jsonl(logs / "preds.jsonl", data)
        source: dict[str, object] = {"kind": "files", "glob": str(logs / "*.jsonl")}
    else:
        pd.DataFrame(data).to_csv(logs / "preds.csv", index=False)
        source = {"kind": "files", "glob": str(logs / "*.csv"), "format": "csv"}
    ctx = contexts(source)
    out = sample_predictions(ctx, "churn", T0)
    assert dict(out.rejected) == {} and out.sampled == N
    window = _window(ctx)
    # 99.5% of the rows say "no error": they are stored as no error.
    assert window["error"].notna().sum() == N // 200
    cycle = run_checks(
        None,
        ctx.settings.model("churn"),
        END,
        window,
        reference_frame(data),
        kinds=[CheckKind.OPERATIONS],
    )
    operations = cycle.result(CheckKind.OPERATIONS)
    rate = next(m for m in operations.measures if m.name == "error_rate")
    assert rate.value == pytest.approx(1 / 200)
    assert operations.status is Status.OK and not cycle.firing


def test_binary_labels_stored_before_the_typing_read_as_one_class(
    contexts: Callable[..., JobContext],
) -> None:
    ctx = contexts({"kind": "http"})
    data = rows()[:4]
    assert ingest_records(ctx, "churn", data, T0).rejected_total == 0
    records = [{"prediction_id": f"p{i}", "label": i % 2} for i in range(4)]
    assert ingest_label_records(ctx, "churn", records, T0).joined == 4
    with ctx.engine.begin() as conn:
        # What an older mlmaint stored for the first two: the text of a float.
        conn.execute(
            update(Prediction)
            .where(Prediction.prediction_id.in_(["p0", "p1"]))
            .values(label=case((Prediction.prediction_id == "p0", "0.0"), else_="1.0"))
        )
    model = ctx.settings.model("churn")
    with ctx.sessions() as session:
        model_id = session.scalars(select(Model.id)).one()
        since = END - model.retrain.recent_labelled
        recent = load_labelled(session.connection(), model_id, model, since, END)
    assert recent["label"].tolist() == ["0", "1", "0", "1"]
