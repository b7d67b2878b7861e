"""A global drift method applies to the columns it fits; a column's own must fit it."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pytest
from click.testing import CliRunner

from checks.interface import CheckKind, Measure, Status
from checks.methods import METHODS, ColumnKind, Method, fits
from daemon.checking.run import run_checks
from daemon.checking.specs import drift_spec
from daemon.cli import main
from daemon.config import EX_CONFIG, ConfigError, Settings, parse_config
from tests.checks.frames import START, window


def _model(drift: dict[str, object]) -> dict[str, object]:
    return {
        "name": "churn",
        "source": {"kind": "http"},
        "schema": {
            "numeric": ["age", "income", "visits"],
            "categorical": ["plan", "region"],
            "score": "score",
        },
        "checks": {"min_rows": 50, "drift": drift},
    }


def _settings(drift: dict[str, object]) -> Settings:
    return parse_config({"models": [_model(drift)]}, environ={})


def _methods(measures: Iterable[Measure]) -> dict[str, str]:
    return {m.subject: m.name for m in measures if m.subject != "dataset"}


@pytest.mark.parametrize("method", [Method.CHISQUARE, Method.Z])
def test_a_categorical_only_global_method_runs_on_the_categoricals_only(method: Method) -> None:
    model = _settings({"method": method.value}).model("churn")
    spec = drift_spec(model)
    by_column = {c.name: c for c in spec.columns}
    assert by_column["plan"].method is method and by_column["region"].method is method
    for name in ("age", "income", "visits", "prediction", "score", "label"):
        assert by_column[name].method is None, name  # auto

    reference = window(3000, seed=1)
    current = window(2000, seed=2)
    cycle = run_checks(None, model, START, current, reference, kinds=[CheckKind.DRIFT])
    result = cycle.result(CheckKind.DRIFT)
    assert result.status is not Status.ERROR, result.reason
    methods = _methods(result.measures)
    assert methods["plan"] == method.value and methods["region"] == method.value
    # The numerics (the prediction, score and label too) keep Evidently's choice.
    assert methods["age"] == Method.WASSERSTEIN.value
    assert methods["score"] == Method.WASSERSTEIN.value
    assert methods["label"] == Method.JENSENSHANNON.value
    assert not set(methods.values()) - {method.value, "wasserstein", "jensenshannon"}


def test_a_numeric_only_global_method_leaves_the_categoricals_on_auto() -> None:
    model = _settings({"method": "ks"}).model("churn")
    cycle = run_checks(
        None,
        model,
        START,
        window(2000, seed=2),
        window(3000, seed=1),
        kinds=[CheckKind.DRIFT],
    )
    result = cycle.result(CheckKind.DRIFT)
    assert result.status is not Status.ERROR, result.reason
    methods = _methods(result.measures)
    assert methods["age"] == "ks" and methods["label"] == "ks"
    assert methods["plan"] == "jensenshannon"


def test_a_global_method_that_fits_no_column_is_refused() -> None:
    only_numeric = _model({"method": "chisquare"})
    only_numeric["schema"] = {"numeric": ["age"], "score": "score"}
    with pytest.raises(ConfigError, match=r"checks.drift.method: 'chisquare' applies to"):
        parse_config({"models": [only_numeric]}, environ={})


@pytest.mark.parametrize(
    ("column", "method", "kind"),
    [
        pytest.param("age", "chisquare", "numeric", id="chisquare-on-a-numeric-feature"),
        pytest.param("label", "z", "numeric", id="z-on-the-binary-label"),
        pytest.param("plan", "ks", "categorical", id="ks-on-a-categorical"),
        pytest.param("score", "z", "numeric", id="z-on-the-score"),
    ],
)
def test_a_column_method_that_cannot_fit_is_refused_naming_the_column(
    column: str, method: str, kind: str
) -> None:
    drift = {"columns": {column: {"method": method}}}
    with pytest.raises(ConfigError) as err:
        _settings(drift)
    text = str(err.value)
    assert f"checks.drift.columns.{column}.method" in text
    assert f"the {kind} column {column!r}" in text


def test_config_check_exits_78_naming_the_column(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        f'[store]\nurl = "sqlite:///{tmp_path}/s.db"\n'
        "[[models]]\n"
        'name = "churn"\n'
        'source = { kind = "http" }\n'
        "[models.schema]\n"
        'numeric = ["age", "income"]\n'
        'categorical = ["plan"]\n'
        "[models.checks.drift.columns.income]\n"
        'method = "chisquare"\n'
    )
    result = CliRunner().invoke(main, ["--config", str(config), "config", "check"])
    assert result.exit_code == EX_CONFIG, result.output
    assert "checks.drift.columns.income.method" in result.output
    assert "'income'" in result.output


def test_fits_follows_the_method_table() -> None:
    for method, info in METHODS.items():
        assert fits(method, ColumnKind.NUMERIC) is info.numeric
        assert fits(method, ColumnKind.CATEGORICAL) is info.categorical
