"""One verification, start to end, the same on a worker and in a local subprocess.

Resolve the champion (the registered model's alias) and download it, read
its logged requirements.txt, apply the upgrade, build (or reuse) the
candidate environment, replay the datasets in the current environment and in
the candidate, compare, decide. A candidate that does not install or does
not load is a verdict; a verification that cannot run at all (no champion,
a dataset changed on disk, the index does not answer, the champion's own
logged requirements do not install without the upgrade, the champion does
not load even in the current environment) raises `VerifyError`.

Datasets: those the spec carries (the model's reference, a recent production
sample) and the champion's holdout, when a retrain job trained the version
(`mlmaint.job_id`) and logged the scored holdout (`mlmaint.reference_uri`).
A version registered by hand has none; one onboarded carries its reference
under the same tag, replayed as the "logged reference", never called a
holdout. The outcome's notes say what was replayed.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from checks.frameworks.verdict import (
    MIN_LABELLED,
    Comparison,
    MetricGain,
    Verdict,
    agreement,
    decide,
    failed,
    metric_gain,
    timing,
)
from checks.interface import TaskKind
from checks.performance import NEEDS_SCORE, Metric, default_metric
from checks.typed import canonical_category
from retrain import registry
from retrain.executors.local import job_env
from retrain.interface import DataRef, SnapshotError
from retrain.snapshot import read_snapshot
from retrain.verify import candidate
from retrain.verify.spec import VerifyError, VerifyOutcome, VerifySpec

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

log = logging.getLogger(__name__)

# Rows replayed per dataset at most: enough for a metric interval, quick to score twice.
MAX_ROWS = 20_000
HOLDOUT = "holdout"
# The reference an onboarded version carries on its tags (no holdout).
LOGGED_REFERENCE = "logged reference"


class BaselineFailed(VerifyError):
    """The champion's own logged requirements do not install: no verdict on the upgrade."""


def execute(spec: VerifySpec) -> VerifyOutcome:
    """Verify the spec's upgrade on the champion; raises VerifyError when it cannot run."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="mlmaint-verify-") as tmp:
        outcome = _run(spec, Path(tmp))
    outcome = replace(outcome, duration_s=time.monotonic() - started)
    log.info(
        "verify %s %s on %s: %s in %.1fs",
        spec.model,
        " ".join(spec.upgrades) or "(no upgrade)",
        outcome.model_version,
        outcome.verdict.value,
        outcome.duration_s,
    )
    return outcome


def _run(spec: VerifySpec, work: Path) -> VerifyOutcome:
    if datetime.now(UTC) > spec.deadline:
        raise VerifyError(f"the verification's deadline {spec.deadline.isoformat()} passed")
    upgrades = [candidate.parse_upgrade(u) for u in spec.upgrades]
    client = registry.client(spec.tracking_uri)
    version = registry.by_alias(client, spec.registered_model, spec.alias)
    if version is None:
        raise VerifyError(f"{spec.registered_model!r} has no {spec.alias!r} version to verify")
    model_dir = _download(spec, client, str(version.version), work)
    logged, skipped = candidate.read_requirements(
        (model_dir / "requirements.txt").read_text(encoding="utf-8")
        if (model_dir / "requirements.txt").exists()
        else ""
    )
    want = candidate.plan(logged, upgrades, skipped)
    notes = [f"not checked: {line}" for line in want.skipped]
    pinned = candidate.logged_pins(logged, upgrades)
    frames, truths, more = _datasets(spec, version.tags, work)
    notes.extend(more)
    packages = [u.name for u in upgrades]
    base = VerifyOutcome(
        verification_id=spec.verification_id,
        verdict=Verdict.FAILS_TO_INSTALL,
        comparison=Comparison(verdict=Verdict.FAILS_TO_INSTALL),
        model_version=str(version.version),
        changes=want.changes,
        installed=want.install,
        notes=tuple(notes),
        logged_versions=pinned,
    )
    try:
        env = candidate.build(Path(spec.env_root), want, spec.index_url)
    except candidate.InstallFailed as exc:
        _require_baseline(spec, logged, skipped)
        return replace(base, comparison=failed(Verdict.FAILS_TO_INSTALL, exc.output))
    base = replace(base, env_key=env.key, env_reused=env.reused)
    request: dict[str, object] = {
        "model_dir": str(model_dir),
        "task": spec.task.value,
        "positive": _positive(spec, truths),
        "features": list(spec.features),
        "datasets": [{"name": n, "path": str(p)} for n, p in frames.items()],
        "latency_rows": spec.latency_rows,
        "packages": packages,
        "python_path": list(spec.python_path),
    }
    now = _replay(sys.executable, request, work / "current")
    if "error" in now:
        raise VerifyError(
            f"the champion does not {now.get('stage', 'load')} in the current environment "
            f"either: {str(now['error']).strip().splitlines()[-1:]}"
        )
    then = _replay(str(env.python), request, work / "candidate")
    base = replace(
        base,
        current_versions=dict(now.get("versions", {})),  # type: ignore[call-overload]
        candidate_versions=dict(then.get("versions", {})),  # type: ignore[call-overload]
    )
    if "error" in then:
        return replace(
            base,
            verdict=Verdict.FAILS_TO_LOAD,
            comparison=failed(Verdict.FAILS_TO_LOAD, str(then["error"])),
        )
    comparison = _compare(spec, request, truths, now, then)
    return replace(base, verdict=comparison.verdict, comparison=comparison)


def _require_baseline(spec: VerifySpec, logged: list[Requirement], skipped: list[str]) -> None:
    """The champion's own pins, without the upgrade, must install: else no verdict.

    A candidate that did not install says something about the upgrade only when
    what it was layered on installs by itself. Checked after a failure only, so
    a candidate that installs costs nothing more.
    """
    upgraded = {canonicalize_name(candidate.parse_upgrade(u).name) for u in spec.upgrades}
    alone = candidate.plan(
        [r for r in logged if canonicalize_name(r.name) not in upgraded], [], skipped
    )
    if not alone.install:
        return
    try:
        candidate.build(Path(spec.env_root), alone, spec.index_url)
    except candidate.InstallFailed as exc:
        last = exc.output.strip().splitlines()[-1:] or ["no output"]
        raise BaselineFailed(
            f"the champion's own logged requirements do not install from {spec.index_url}, "
            f"without any upgrade ({' '.join(alone.install)}): {last[0][:300]}; "
            "no verdict on the upgrade"
        ) from exc


def _download(spec: VerifySpec, client: object, version: str, work: Path) -> Path:
    import mlflow.artifacts

    try:
        location = client.get_model_version_download_uri(  # type: ignore[attr-defined]
            spec.registered_model, version
        )
        local = mlflow.artifacts.download_artifacts(
            artifact_uri=location, dst_path=str(work / "model"), tracking_uri=spec.tracking_uri
        )
    except Exception as exc:  # MlflowException and transport errors alike
        raise VerifyError(
            f"cannot download {spec.registered_model!r} version {version}: {exc}"
        ) from exc
    return Path(local)


def _datasets(
    spec: VerifySpec, tags: dict[str, str], work: Path
) -> tuple[dict[str, Path], dict[str, np.ndarray], list[str]]:
    """Each dataset's features as a Parquet file, and its labels; notes on what is missing."""
    import pandas as pd

    refs = {d.name: d.data for d in spec.datasets}
    notes: list[str] = []
    logged_uri = tags.get(registry.TAG_REFERENCE)
    logged_sha = tags.get(registry.TAG_REFERENCE_DIGEST)
    # A retrain job logs the holdout it scored the version on; onboarding logs the
    # reference it was given under the same tag, and that is no holdout.
    name = HOLDOUT if registry.TAG_JOB in tags else LOGGED_REFERENCE
    if logged_uri is not None:
        if logged_sha and any(r.sha256 == logged_sha for r in refs.values()):
            what = "holdout" if name == HOLDOUT else "logged reference"
            notes.append(f"the champion's {what} is the model's reference: replayed once")
        else:
            refs[name] = DataRef(uri=logged_uri, sha256=logged_sha or "", rows=0)
    if logged_uri is None or name != HOLDOUT:
        notes.append(
            "no holdout logged with the champion (a version registered by hand): "
            f"replayed {', '.join(refs) or 'nothing else'}"
        )
    frames: dict[str, Path] = {}
    truths: dict[str, np.ndarray] = {}
    (work / "data").mkdir()
    for name, ref in refs.items():
        try:
            frame = (
                read_snapshot(ref)
                if ref.sha256
                else pd.read_parquet(ref.uri.removeprefix("file://"))
            )
        except (SnapshotError, OSError) as exc:
            raise VerifyError(f"dataset {name}: {exc}") from exc
        missing = [c for c in spec.features if c not in frame.columns]
        if missing:
            notes.append(f"{name} skipped: it lacks {', '.join(missing)}")
            continue
        frame = frame.iloc[:MAX_ROWS]
        path = work / "data" / f"{name}.parquet"
        frame.loc[:, list(spec.features)].to_parquet(path)
        frames[name] = path
        truths[name] = _truth(frame, spec)
        notes.append(f"{name}: {len(frame)} rows")
    if not frames:
        raise VerifyError(f"{spec.model}: no rows to replay (no reference, holdout or sample)")
    return frames, truths, notes


def _truth(frame: pd.DataFrame, spec: VerifySpec) -> np.ndarray:
    import numpy as np

    if spec.label not in frame.columns:
        size = len(frame)
        return np.full(size, np.nan) if spec.task is TaskKind.REGRESSION else np.full(size, None)
    column = frame[spec.label]
    if spec.task is TaskKind.REGRESSION:
        return column.astype(float).to_numpy()
    return np.asarray([canonical_category(v) for v in column], dtype=object)


def _positive(spec: VerifySpec, truths: dict[str, np.ndarray]) -> str | None:
    """The configured positive label, else the greatest one seen (as retraining picks it)."""
    if spec.task is not TaskKind.BINARY:
        return None
    if spec.positive is not None:
        return spec.positive
    seen = sorted({str(v) for t in truths.values() for v in t if v is not None})
    return seen[-1] if seen else None


def _replay(python: str, request: dict[str, object], where: Path) -> dict[str, object]:
    where.mkdir()
    (where / "request.json").write_text(json.dumps(request), encoding="utf-8")
    out = where / "out.json"
    done = subprocess.run(
        [python, "-m", "retrain.verify.replay", str(where / "request.json"), str(out)],
        capture_output=True,
        text=True,
        env=job_env(os.environ),
        cwd=where,
        timeout=3600,
        check=False,
    )
    if out.exists():
        result: dict[str, object] = json.loads(out.read_text(encoding="utf-8"))
        return result
    return {"stage": "start", "error": (done.stdout + done.stderr)[-candidate.TAIL_CHARS :]}


def _compare(
    spec: VerifySpec,
    request: dict[str, object],
    truths: dict[str, np.ndarray],
    now: dict[str, object],
    then: dict[str, object],
) -> Comparison:
    import numpy as np

    numeric = now.get("gives") != "label"
    positive = request["positive"]
    before: dict[str, list[object]] = now["outputs"]  # type: ignore[assignment]
    after: dict[str, list[object]] = then["outputs"]  # type: ignore[assignment]
    agreements = []
    gain: MetricGain | None = None
    metric = spec.metric or default_metric(spec.task, has_score=numeric)
    if metric in NEEDS_SCORE and not numeric:
        metric = Metric.F1
    # The metric on the first dataset with enough labels: the holdout before the reference.
    order = sorted(before, key=lambda n: (n != HOLDOUT, n != "reference"))
    for name in order:
        a = np.asarray(before[name], dtype=np.float64 if numeric else object)
        b = np.asarray(after[name], dtype=np.float64 if numeric else object)
        agreements.append(agreement(name, a, b, spec.task, numeric=numeric))
        truth = truths[name]
        labelled = sum(1 for v in truth if v is not None and v == v)
        if gain is None and labelled >= MIN_LABELLED:
            gain = metric_gain(
                spec.task,
                metric,
                name,
                truth,
                a,
                b,
                numeric=numeric,
                positive=None if positive is None else str(positive),
            )
    return decide(
        agreements,
        gain,
        current=timing(now["latencies_s"], float(now["peak_rss_kb"])),  # type: ignore[arg-type]
        candidate=timing(then["latencies_s"], float(then["peak_rss_kb"])),  # type: ignore[arg-type]
    )
