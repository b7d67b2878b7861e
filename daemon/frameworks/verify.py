"""`frameworks verify`: which upgrades to prove, the rows to replay, the executor, the record.

With `--upgrade name==version` that upgrade is verified; several are each
verified on their own, each with its verdict. Before anything is built the
package index is asked for each version: an index that does not answer, or a
version it lacks, stops the command (exit 2) and stores nothing. Without, the
model's vulnerable packages (the findings of the `mlflow_model` environments
that name it) are: for each, the releases that clear its advisories, smallest
first (`checks.frameworks.verdict.clearing_candidates`, from the release
cache and the advisory mirror), verified one after another until one is
`safe`, at most `verify_candidates` of them. The first safe one is the
recommendation; each verdict is stored (`framework_verifications`), and the
package's firing advisory alerts are handed to the alert policy again with the
verdict in their text.

The rows replayed: the model's reference from the store, a recent production
sample (`verify_sample`, at most `verify_sample_rows`), and on the worker the
champion's logged holdout where a retrain job logged one. They travel as
content-hashed Parquet snapshots, as a retrain job's data does (the worker
never reads the store), written for the one command and removed after it.

The "from" version of an upgrade is the one the champion's logged requirements
pin, not the one installed where mlmaint runs.
"""

from __future__ import annotations

import logging
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, assert_never

from sqlalchemy import select

from checks.frameworks.policy import FindingKind, PackageFinding
from checks.frameworks.verdict import Verdict, clearing_candidates, describe, headline
from checks.interface import LABEL
from daemon.config import EnvironmentKind, ExecutorKind, ModelSettings, Settings
from daemon.frameworks.findings import alerts_of, stored_ids
from daemon.store.engine import transaction
from daemon.store.tables import FrameworkFinding, FrameworkVerification
from daemon.store.tables import Model as ModelRow
from retrain.verify.spec import Dataset, VerifyError, VerifyOutcome, VerifySpec

if TYPE_CHECKING:
    from pathlib import Path

    import pandas as pd

    from daemon.jobs import JobContext

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class Verified:
    """One stored verification, as the CLI prints it."""

    model: str
    package: str
    installed: str
    target: str
    cleared: tuple[str, ...]
    outcome: VerifyOutcome

    @property
    def headline(self) -> str:
        return headline(
            self.package, self.installed, self.target, self.cleared, self.outcome.comparison
        )


@dataclass(frozen=True, kw_only=True)
class Upgrade:
    package: str
    installed: str
    # Releases to try, smallest first; each clears the advisories in `ids`.
    targets: tuple[str, ...]
    ids: tuple[str, ...]


def model_environments(settings: Settings, model: str) -> list[str]:
    return [
        e.name
        for e in settings.frameworks.environments
        if e.kind is EnvironmentKind.MLFLOW_MODEL and e.model == model
    ]


def planned_upgrades(ctx: JobContext, model: str) -> list[Upgrade]:
    """The model's vulnerable packages and the releases that clear them, from the store."""
    from daemon.frameworks.mirror import load_index
    from daemon.frameworks.releases import cached_releases

    settings = ctx.settings.frameworks
    envs = model_environments(ctx.settings, model)
    with ctx.sessions() as session:
        rows = session.scalars(
            select(FrameworkFinding).where(
                FrameworkFinding.environment.in_(envs),
                FrameworkFinding.kind == FindingKind.VULNERABLE.value,
                FrameworkFinding.ignored_reason.is_(None),
            )
        ).all()
    by_package: dict[tuple[str, str], set[str]] = {}
    for row in rows:
        by_package.setdefault((row.package, row.installed), set()).update(
            stored_ids(row.advisory_ids)
        )
    if not by_package:
        return []
    names = {p for p, _ in by_package}
    index = load_index(ctx.sessions, names)
    releases = cached_releases(ctx.sessions, settings.index_url, names)
    upgrades = []
    for (package, installed), ids in sorted(by_package.items()):
        info = releases.get(package)
        # The ignores are applied already: only findings not ignored are read above.
        targets = clearing_candidates(package, installed, index, info[1] if info else None)
        upgrades.append(
            Upgrade(
                package=package,
                installed=installed,
                targets=tuple(targets[: settings.verify_candidates]),
                ids=tuple(sorted(ids)),
            )
        )
    return upgrades


def _frame_for_replay(frame: pd.DataFrame, model: ModelSettings) -> pd.DataFrame:
    """Features under their schema names and the label as `label` (missing when unknown)."""
    import numpy as np

    schema = model.schema_
    out = frame.loc[:, [c for c in schema.features if c in frame.columns]].copy()
    if LABEL in frame.columns:
        out[LABEL] = frame[LABEL].to_numpy()
    elif schema.label in frame.columns:
        out[LABEL] = frame[schema.label].to_numpy()
    else:
        out[LABEL] = np.nan
    return out


def replay_datasets(
    ctx: JobContext, model: ModelSettings, now: datetime, directory: Path
) -> list[Dataset]:
    from daemon.retraining.snapshots import read_reference
    from daemon.store.windows import load_window
    from retrain.snapshot import write_snapshot

    settings = ctx.settings.frameworks
    columns = [*model.schema_.features, LABEL]
    found: list[Dataset] = []
    with ctx.sessions() as session:
        row = session.scalars(select(ModelRow).where(ModelRow.name == model.name)).one_or_none()
        reference = read_reference(row) if row is not None else None
    if reference is not None and len(reference):
        ref = write_snapshot(_frame_for_replay(reference, model), directory, columns)
        found.append(Dataset(name="reference", data=ref))
    if settings.verify_sample_rows:
        window = load_window(
            ctx, model, now - settings.verify_sample, now, limit=settings.verify_sample_rows
        )
        if len(window):
            sample = write_snapshot(_frame_for_replay(window, model), directory, columns)
            found.append(Dataset(name="production", data=sample))
    return found


def build_spec(
    settings: Settings, model: ModelSettings, upgrades: Sequence[str], datasets: Sequence[Dataset]
) -> VerifySpec:
    from daemon.checking.specs import decay_spec
    from daemon.retraining.specs import process_deadline, tracking_uri

    positive = model.retrain.params.get("positive_label")
    return VerifySpec(
        verification_id=uuid.uuid4().hex,
        model=model.name,
        registered_model=model.name,
        alias=model.retrain.alias,
        tracking_uri=tracking_uri(settings),
        task=model.task,
        features=model.schema_.features,
        label=LABEL,
        upgrades=tuple(upgrades),
        index_url=settings.frameworks.index_url,
        datasets=tuple(datasets),
        env_root=str((settings.service.state_dir / "verify-envs").resolve()),
        deadline=process_deadline(settings),
        metric=decay_spec(model).metric,
        positive=None if positive is None else str(positive),
        python_path=tuple(str(p) for p in model.retrain.python_path),
    )


def run_on_executor(settings: Settings, spec: VerifySpec) -> VerifyOutcome:
    """Run the verification where retraining runs, and wait for its outcome."""
    from retrain.verify.executors import run_celery, run_local

    timeout = settings.executor.timeout.total_seconds()
    kind = settings.executor.kind
    match kind:
        case ExecutorKind.LOCAL:
            python = str(settings.executor.python or sys.executable)
            workdir = settings.service.state_dir / "verify-jobs"
            return run_local(spec, python, workdir, timeout)
        case ExecutorKind.CELERY:
            celery = settings.executor.celery
            return run_celery(celery.broker_url, celery.result_backend, celery.queue, spec, timeout)
        case _:
            assert_never(kind)


def _cleared(ctx: JobContext, package: str, installed: str, target: str) -> tuple[str, ...]:
    """The advisory ids that affect `installed` and not `target`, first id of each."""
    from daemon.frameworks.mirror import load_index

    index = load_index(ctx.sessions, [package])
    before = {m.vulnerability.id for m in index.match(package, installed)}
    after = {m.vulnerability.id for m in index.match(package, target)}
    return tuple(sorted(before - after))


def store(ctx: JobContext, verified: Verified, now: datetime) -> None:
    c = verified.outcome.comparison
    with transaction(ctx.sessions) as session:
        session.add(
            FrameworkVerification(
                model=verified.model[:200],
                model_version=verified.outcome.model_version,
                package=verified.package[:200],
                installed=verified.installed[:100],
                target=verified.target[:100],
                verdict=verified.outcome.verdict.value,
                max_abs_diff=c.max_abs_diff,
                changed_share=None if c.verdict.failed else c.changed_share,
                p95_change=c.p95_change,
                summary=verified.headline,
                outcome={"json": verified.outcome.to_json()},
                created_at=now,
                duration_s=verified.outcome.duration_s,
            )
        )
        _realert(session, ctx.settings, verified, now)


def _realert(session: object, settings: Settings, verified: Verified, now: datetime) -> None:
    """The package's advisory alerts, told again with the verdict in their text."""
    from sqlalchemy.orm import Session

    from daemon.alerts.policy import apply_findings

    assert isinstance(session, Session)
    envs = model_environments(settings, verified.model)
    rows = session.scalars(
        select(FrameworkFinding).where(
            FrameworkFinding.environment.in_(envs),
            FrameworkFinding.package == verified.package,
            FrameworkFinding.kind == FindingKind.VULNERABLE.value,
            FrameworkFinding.ignored_reason.is_(None),
        )
    ).all()
    findings = []
    routing = settings.frameworks.routing
    for row in rows:
        data = row.advisory_ids if isinstance(row.advisory_ids, dict) else {}
        score = data.get("score")
        fixed = data.get("fixed")
        finding = PackageFinding(
            environment=row.environment,
            package=row.package,
            installed=row.installed,
            kind=FindingKind.VULNERABLE,
            severity=row.severity,
            detail=row.detail,
            advisory_ids=tuple(stored_ids(data)),
            score=float(score) if isinstance(score, int | float) else None,
            fixed=None if fixed is None else str(fixed),
            recommended=row.recommended,
        )
        # Routed as the scan routes it: an advisory left to the report raises no alert.
        proved = {(finding.package, finding.recommended or ""): verified.headline}
        findings.extend(alerts_of(row.environment, [finding], [], routing, proved))
    if findings:
        apply_findings(session, settings, findings, now)


class VerifyStopped(VerifyError):
    """A verification could not run: the walk stops; what was verified before it stands."""

    def __init__(self, message: str, done: Sequence[Verified]) -> None:
        self.done = tuple(done)
        super().__init__(message)


def verify_upgrade(
    ctx: JobContext,
    model: ModelSettings,
    upgrade: str,
    datasets: Sequence[Dataset],
    now: datetime,
) -> Verified:
    """Verify one upgrade on the model's champion; stored and returned."""
    spec = build_spec(ctx.settings, model, [upgrade], datasets)
    outcome = run_on_executor(ctx.settings, spec)
    package, _, target = upgrade.partition("==")
    # From the version the champion was logged with; else the one its replay imported.
    installed = (
        outcome.logged_versions.get(package)
        or outcome.current_versions.get(package)
        or _installed_from(outcome, package)
    )
    verified = Verified(
        model=model.name,
        package=package,
        installed=installed,
        target=target,
        cleared=_cleared(ctx, package, installed, target) if installed else (),
        outcome=outcome,
    )
    store(ctx, verified, now)
    log.info(
        "frameworks verify %s %s: %s (%s)",
        model.name,
        upgrade,
        outcome.verdict.value,
        describe(outcome.comparison),
    )
    return verified


def _installed_from(outcome: VerifyOutcome, package: str) -> str:
    """The current version from the plan's change line ("torch 1.13.0 -> ==2.6.0")."""
    for line in outcome.changes:
        name, _, rest = line.partition(" ")
        if name == package:
            return rest.split(" -> ")[0]
    return ""


def _on_index(settings: Settings, upgrade: str) -> None:
    """Before anything is built: the index answers and has the version (else exit 2)."""
    from retrain.verify.candidate import parse_upgrade
    from retrain.verify.index import require_on_index

    require_on_index(
        settings.frameworks.index_url,
        parse_upgrade(upgrade),
        timeout_s=settings.frameworks.http_timeout.total_seconds(),
    )


def verify_model(
    ctx: JobContext, model_name: str, upgrades: Sequence[str], now: datetime
) -> list[Verified]:
    """`mlmaint frameworks verify MODEL [--upgrade ...]`: each verification, stored.

    Each `--upgrade` is verified on its own, in its own candidate environment,
    and each gets its verdict. Raises VerifyError before anything runs (an index
    that does not answer, a version it lacks), VerifyStopped when one
    verification cannot run (the champion's own requirements do not install):
    no verdict is stored for it and nothing after it runs.
    """
    import shutil

    from retrain.verify.index import NotOnIndex

    try:
        model = ctx.settings.model(model_name)
    except KeyError as exc:
        raise VerifyError(str(exc)) from exc
    walk: list[list[str]]
    if upgrades:
        for upgrade in upgrades:
            _on_index(ctx.settings, upgrade)
        walk = [[u] for u in upgrades]
    else:
        walk = []
        for planned in planned_upgrades(ctx, model_name):
            targets = []
            for target in planned.targets:
                upgrade = f"{planned.package}=={target}"
                try:
                    _on_index(ctx.settings, upgrade)
                except NotOnIndex as exc:
                    log.warning("frameworks verify %s: %s; not tried", model_name, exc)
                    continue
                targets.append(upgrade)
            walk.append(targets)
    if not any(walk):
        return []
    directory = ctx.state_dir / "verify-data" / uuid.uuid4().hex
    done: list[Verified] = []
    try:
        datasets = replay_datasets(ctx, model, now, directory)
        for targets in walk:
            for upgrade in targets:
                try:
                    verified = verify_upgrade(ctx, model, upgrade, datasets, now)
                except VerifyError as exc:
                    raise VerifyStopped(str(exc), done) from exc
                done.append(verified)
                # Smallest first: the first safe release is the one to take.
                if not upgrades and verified.outcome.verdict is Verdict.SAFE:
                    break
    finally:
        # The replayed rows were written for this run only.
        shutil.rmtree(directory, ignore_errors=True)
    return done


def verify_scheduled(ctx: JobContext, now: datetime) -> list[Verified]:
    """The optional schedule: every model an `mlflow_model` environment names."""
    models = sorted(
        {
            e.model
            for e in ctx.settings.frameworks.environments
            if e.kind is EnvironmentKind.MLFLOW_MODEL and e.model is not None
        }
    )
    done: list[Verified] = []
    for name in models:
        try:
            done.extend(verify_model(ctx, name, (), now))
        except VerifyStopped as exc:
            done.extend(exc.done)
            log.warning("frameworks verify %s stopped: %s", name, exc)
        except VerifyError as exc:
            log.warning("frameworks verify %s could not run: %s", name, exc)
    return done
