"""The names the /v1 reads accept, for the 404 that lists them: each a small,
bounded read (a probe, a DISTINCT over a small table, or over the latest runs)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from daemon.store.tables import Alert, CheckMetric, CheckRun, Model


def has_subject(session: Session, model: str, subject: str) -> bool:
    """Whether any stored run of the model has a measure about `subject`: one indexed probe."""
    probe = (
        select(CheckMetric.id)
        .join(CheckRun, CheckRun.id == CheckMetric.run_id)
        .join(Model, Model.id == CheckRun.model_id)
        .where(Model.name == model, CheckMetric.subject == subject)
        .limit(1)
    )
    return session.execute(probe).first() is not None


def recent_subjects(session: Session, model: str, runs: int = 50) -> list[str]:
    """The subjects measured by the model's latest `runs` runs (a bounded read)."""
    recent = (
        select(CheckRun.id)
        .join(Model, Model.id == CheckRun.model_id)
        .where(Model.name == model)
        .order_by(CheckRun.window_end.desc(), CheckRun.id.desc())
        .limit(runs)
        .scalar_subquery()
    )
    found = session.scalars(
        select(CheckMetric.subject).where(CheckMetric.run_id.in_(recent)).distinct()
    )
    return sorted(found)


def has_segment(session: Session, model: str, segment: str) -> bool:
    """Whether any stored run of the model is of `segment`: one indexed probe."""
    probe = (
        select(CheckRun.id)
        .join(Model, Model.id == CheckRun.model_id)
        .where(Model.name == model, CheckRun.segment == segment)
        .limit(1)
    )
    return session.execute(probe).first() is not None


def recent_segments(session: Session, model: str, runs: int = 500) -> list[str]:
    """The segments among the model's latest `runs` runs (a bounded read)."""
    recent = (
        select(CheckRun.segment)
        .join(Model, Model.id == CheckRun.model_id)
        .where(Model.name == model, CheckRun.segment.is_not(None))
        .order_by(CheckRun.window_end.desc(), CheckRun.id.desc())
        .limit(runs)
        .subquery()
    )
    return sorted({s for s in session.scalars(select(recent.c.segment)) if s is not None})


def alert_scopes(session: Session) -> list[str]:
    """The scopes alerts were ever stored under (a model or a framework environment)."""
    return sorted(session.scalars(select(Alert.scope).distinct()))


def model_names(session: Session) -> list[str]:
    """The models the store has a row for (configured now or once)."""
    return sorted(session.scalars(select(Model.name)))
