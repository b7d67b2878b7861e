"""A job run in-process against a real MLflow store: register, compare, promote, roll back."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from retrain import registry
from retrain.interface import JobState, RegistryError, RetrainSpec, TrainerKind
from retrain.job import execute
from tests.retrain import data
from tests.retrain.conftest import decayed_data

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

MakeSpec = Callable[..., RetrainSpec]


def test_decayed_champion_is_replaced_and_can_be_rolled_back(make_spec: MakeSpec) -> None:
    old, new, holdout = decayed_data()
    first = execute(make_spec(old, trigger="initial"))
    assert first.state is JobState.SUCCEEDED and first.promoted, first.error
    assert first.registered_version == "1" and first.reason.startswith("no champion")

    spec = make_spec(new, holdout, trigger="decay")
    second = execute(spec)
    assert second.state is JobState.SUCCEEDED, second.traceback
    assert second.promoted and second.champion_version == "1"
    assert second.challenger_score is not None and second.champion_score is not None
    assert second.challenger_score > second.champion_score + 0.2

    client = registry.client(spec.tracking_uri)
    champion = client.get_model_version_by_alias("churn", "champion")
    assert str(champion.version) == "2"
    assert champion.tags[registry.TAG_JOB] == spec.job_id
    assert champion.tags[registry.TAG_DIGEST] == spec.snapshot.sha256
    assert champion.tags[registry.TAG_TRIGGER] == "decay"
    assert "scikit-learn" in champion.tags[registry.TAG_FRAMEWORKS]
    run = client.get_run(second.run_id)
    assert run.data.params["trainer"] == "sklearn"
    assert run.inputs.dataset_inputs[0].tags[0].value == "training"

    back = registry.rollback(spec.tracking_uri, "churn")
    assert (back.from_version, back.to_version) == ("2", "1")
    assert str(client.get_model_version_by_alias("churn", "champion").version) == "1"
    with pytest.raises(RegistryError, match="replaced no earlier champion"):
        registry.rollback(spec.tracking_uri, "churn")


def test_a_worse_challenger_is_registered_but_not_promoted(make_spec: MakeSpec) -> None:
    _, new, holdout = decayed_data()
    assert execute(make_spec(new, holdout)).promoted
    # Trained on the old concept: worse on the recent holdout.
    worse = execute(make_spec(data.frame(1500, seed=9, concept="a"), holdout))
    assert worse.state is JobState.SUCCEEDED and not worse.promoted
    assert worse.registered_version == "2" and worse.reason.startswith("kept the champion")
    client = registry.client(make_spec(new).tracking_uri)
    assert str(client.get_model_version_by_alias("churn", "champion").version) == "1"
    kept = client.get_model_version("churn", "2")
    assert kept.tags[registry.TAG_DECISION] == worse.reason


def test_a_user_entry_point_trains(make_spec: MakeSpec) -> None:
    _, new, holdout = decayed_data()
    outcome = execute(
        make_spec(
            new, holdout, trainer=TrainerKind.ENTRYPOINT, target="tests.retrain.entrypoints:good"
        )
    )
    assert outcome.state is JobState.SUCCEEDED and outcome.promoted, outcome.traceback


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("tests.retrain.entrypoint_import_error:train", "ModuleNotFoundError"),
        ("tests.retrain.entrypoints:raises", "user code failed on"),
        ("tests.retrain.entrypoints:wrong_type", "returned dict"),
        ("tests.retrain.entrypoints:missing", "has no attribute 'missing'"),
    ],
)
def test_a_broken_entry_point_fails_the_job_with_its_traceback(
    make_spec: MakeSpec, target: str, expected: str
) -> None:
    _, new, holdout = decayed_data()
    outcome = execute(make_spec(new, holdout, trainer=TrainerKind.ENTRYPOINT, target=target))
    assert outcome.state is JobState.FAILED and not outcome.promoted
    assert outcome.traceback is not None and "Traceback" in outcome.traceback
    assert expected in outcome.traceback
    assert outcome.registered_version is None
