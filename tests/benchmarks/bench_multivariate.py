"""Multivariate drift against NannyML 0.13, and the false alarms of clean windows.

Run on demand:
    .venv/bin/python tests/benchmarks/bench_multivariate.py [--windows 300] [--chunk 1000]

NannyML is never a dependency of mlmaint: it runs in a separate virtual
environment, in a subprocess, on the same synthetic data written to Parquet:

    python3 -m venv ../nannyml-venv-mv
    ../nannyml-venv-mv/bin/pip install 'nannyml==0.13.*' statsmodels

(NannyML 0.13.1 imports statsmodels without declaring it.)

(`--nannyml-python` or `$NANNYML_PYTHON` names another interpreter.) Without it
the comparison is skipped with a message and the rest still runs.

1. Reconstruction error per chunk (reference and analysis chunks of `--chunk`
   rows; numeric columns with missing values, categoricals with missing values
   and, in the analysis, a category the reference never held; the analysis'
   second half has two features whose correlation flips sign): the largest
   absolute difference from NannyML's `DataReconstructionDriftCalculator`
   (target <= 1e-6), and whether the alerting chunks are the same under
   NannyML's rule (reference chunks' mean ± 3 std).
2. The domain classifier's AUROC per chunk beside NannyML's
   `DomainClassifierCalculator` (LightGBM there, HistGradientBoosting here:
   close, not equal), and the chunks each alerts on (upper threshold 0.65).
3. Clean windows: the share of `--windows` windows drawn from the reference's
   population that alert, at n = 500 and 1,500 rows, with the daemon's band.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from checks.interface import Status
from checks.multivariate import (
    MultivariateCheck,
    MultivariateSpec,
    domain_auroc,
    fit_multivariate,
    fit_reconstruction,
)

ROOT = Path(__file__).resolve().parents[2]
NUMERIC = tuple(f"n{j}" for j in range(8))
CATEGORICAL = ("plan", "region")
COLUMNS = [*NUMERIC, *CATEGORICAL]

NANNYML_SCRIPT = r"""
import json, sys, warnings
warnings.filterwarnings("ignore")
import pandas as pd
import nannyml as nml
folder, chunk, numeric, categorical, classifier = sys.argv[1:6]
numeric, categorical = numeric.split(","), categorical.split(",")
reference = pd.read_parquet(f"{folder}/reference.parquet")
analysis = pd.read_parquet(f"{folder}/analysis.parquet")
import numpy as np
for frame in (reference, analysis):
    for c in categorical:
        # Missing as NaN, the marker NannyML's imputer (missing_values=np.nan) looks for:
        # pandas 2 reads a missing string from Parquet as None, which scikit-learn's
        # object-column mask does not take for NaN, so NannyML would keep it as a
        # category of its own (pandas 3 gives NaN, and NannyML imputes it).
        frame[c] = frame[c].astype(object).where(frame[c].notna(), np.nan)
columns = numeric + categorical
out = {"version": nml.__version__}
calc = nml.DataReconstructionDriftCalculator(column_names=columns, chunk_size=int(chunk))
calc.fit(reference)
data = calc.calculate(analysis).to_df(multilevel=False)
out["period"] = data["chunk_period"].tolist()
out["error"] = data["reconstruction_error_value"].tolist()
out["alert"] = [bool(a) for a in data["reconstruction_error_alert"]]
out["upper"] = calc.upper_threshold_value
out["lower"] = calc.lower_threshold_value
if classifier == "1":
    dc = nml.DomainClassifierCalculator(feature_column_names=columns, chunk_size=int(chunk))
    dc.fit(reference)
    d = dc.calculate(analysis).to_df(multilevel=False)
    out["dc_period"] = d["chunk_period"].tolist()
    value = next(c for c in d.columns if c.endswith("_value"))
    alert = next(c for c in d.columns if c.endswith("_alert"))
    out["auroc"] = d[value].tolist()
    out["dc_alert"] = [bool(a) for a in d[alert]]
print(json.dumps(out))
"""


def population(n: int, rng: np.random.Generator, *, rho: float = 0.7) -> pd.DataFrame:
    """Eight numeric features (n0 and n1 correlated by rho, the rest a mix) and two
    categoricals; rho flips the correlation without touching any marginal."""
    z = rng.normal(size=(n, len(NUMERIC)))
    data: dict[str, object] = {
        "n0": z[:, 0],
        "n1": rho * z[:, 0] + np.sqrt(1 - rho**2) * z[:, 1],
        "n2": 0.5 * z[:, 0] + z[:, 2],
        "n3": np.exp(0.5 * z[:, 3]),
        "n4": z[:, 4] - 0.4 * z[:, 2],
        "n5": rng.poisson(3, n).astype(float),
        "n6": z[:, 6],
        "n7": 0.3 * z[:, 6] + z[:, 7],
    }
    data["plan"] = rng.choice(["basic", "plus", "pro"], n, p=[0.5, 0.3, 0.2]).astype(object)
    data["region"] = rng.choice(["eu", "us", "apac"], n, p=[0.5, 0.3, 0.2]).astype(object)
    return pd.DataFrame(data)


def with_missing(frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    frame = frame.copy()
    for c in ("n2", "n5"):
        frame.loc[rng.random(len(frame)) < 0.04, c] = np.nan
    frame.loc[rng.random(len(frame)) < 0.04, "plan"] = np.nan
    return frame


def synthetic(chunk: int, chunks: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A reference of `chunks` chunks and an analysis of as many: the first half clean,
    the second with n0/n1's correlation flipped, a new category in one chunk."""
    rng = np.random.default_rng(seed)
    reference = with_missing(population(chunk * chunks, rng), rng)
    half = chunks // 2
    clean = population(chunk * half, rng)
    flipped = population(chunk * (chunks - half), rng, rho=-0.7)
    analysis = with_missing(pd.concat([clean, flipped], ignore_index=True), rng)
    analysis.loc[: chunk // 10, "region"] = "latam"  # never in the reference: encoded 0
    return reference, analysis


def nannyml_python(given: str | None) -> Path:
    if given:
        return Path(given)
    if os.environ.get("NANNYML_PYTHON"):
        return Path(os.environ["NANNYML_PYTHON"])
    return ROOT.parent / "nannyml-venv-mv" / "bin" / "python"


def run_nannyml(
    python: Path, reference: pd.DataFrame, analysis: pd.DataFrame, chunk: int, classifier: bool
) -> dict[str, object] | None:
    if not python.exists():
        print(
            f"NannyML comparison skipped: no interpreter at {python}. Make one outside the "
            "project (python3 -m venv ../nannyml-venv-mv && ../nannyml-venv-mv/bin/pip install "
            "'nannyml==0.13.*' statsmodels) or pass --nannyml-python."
        )
        return None
    with tempfile.TemporaryDirectory() as folder:
        reference.to_parquet(f"{folder}/reference.parquet")
        analysis.to_parquet(f"{folder}/analysis.parquet")
        args = [",".join(NUMERIC), ",".join(CATEGORICAL), "1" if classifier else "0"]
        done = subprocess.run(
            [str(python), "-c", NANNYML_SCRIPT, folder, str(chunk), *args],
            capture_output=True,
            text=True,
            check=False,
        )
    if done.returncode != 0:
        print(f"NannyML failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
        return None
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def chunk_errors(model_errors: np.ndarray, chunk: int) -> np.ndarray:
    return model_errors.reshape(-1, chunk).mean(axis=1)


def compare_reconstruction(
    reference: pd.DataFrame, analysis: pd.DataFrame, chunk: int, theirs: dict[str, object] | None
) -> None:
    model = fit_reconstruction(reference, NUMERIC, CATEGORICAL)
    assert model is not None
    ref_chunks = chunk_errors(model.errors(reference), chunk)
    ana_chunks = chunk_errors(model.errors(analysis), chunk)
    # NannyML's rule: the reference chunks' mean ± 3 std (population), lower limit 0.
    mean, std = float(np.mean(ref_chunks)), float(np.std(ref_chunks))
    upper, lower = mean + 3 * std, mean - 3 * std
    lower_or_none = lower if lower > 0 else None
    alert = [not ((lower_or_none or -np.inf) < v < upper) for v in ana_chunks]
    print(
        f"reconstruction: {model.kept} of {len(model.columns)} components kept; "
        f"thresholds [{lower:.6f}, {upper:.6f}]"
    )
    print(f"  mlmaint analysis chunks: {np.array2string(ana_chunks, precision=5)}")
    print(f"  mlmaint alerting chunks: {[i for i, a in enumerate(alert) if a]}")
    if theirs is None:
        return
    period = list(theirs["period"])  # type: ignore[call-overload]
    values = np.asarray(theirs["error"], dtype=float)
    flags = list(theirs["alert"])  # type: ignore[call-overload]
    is_ref = np.asarray([p == "reference" for p in period])
    ours = np.r_[ref_chunks, ana_chunks]
    if values.shape != ours.shape:
        print(f"  chunk counts differ: NannyML {values.size}, mlmaint {ours.size}")
        return
    diff = float(np.max(np.abs(values - ours)))
    theirs_alert = [bool(f) for f, r in zip(flags, is_ref, strict=True) if not r]
    t_upper = float(theirs["upper"])  # type: ignore[arg-type]
    t_lower = theirs["lower"]
    print(
        f"  NannyML {theirs['version']} analysis chunks: "
        f"{np.array2string(values[~is_ref], precision=5)}"
    )
    print(f"  NannyML alerting chunks: {[i for i, a in enumerate(theirs_alert) if a]}")
    print(f"  max |mlmaint - NannyML| over {ours.size} chunks: {diff:.3e} (target <= 1e-6)")
    print(
        f"  upper threshold difference: {abs(t_upper - upper):.3e}; lower: "
        f"{'both none' if t_lower is None and lower_or_none is None else t_lower}"
    )
    same = theirs_alert == alert
    print(f"  alerting chunks the same under NannyML's rule: {'yes' if same else 'NO'}")
    if diff > 1e-6 or not same:
        raise SystemExit(1)


def compare_classifier(
    reference: pd.DataFrame, analysis: pd.DataFrame, chunk: int, theirs: dict[str, object] | None
) -> None:
    ours = [
        domain_auroc(reference, analysis.iloc[i : i + chunk], NUMERIC, CATEGORICAL)
        for i in range(0, len(analysis), chunk)
    ]
    print("domain classifier AUROC per analysis chunk (alert above 0.65):")
    print(f"  mlmaint (HistGradientBoosting, whole reference): {np.round(ours, 3).tolist()}")
    if theirs is None or "auroc" not in theirs:
        return
    period = list(theirs["dc_period"])  # type: ignore[call-overload]
    auroc = [v for v, p in zip(theirs["auroc"], period, strict=True) if p != "reference"]  # type: ignore[call-overload]
    print(f"  NannyML (LightGBM):                              {np.round(auroc, 3).tolist()}")
    ours_alert = [i for i, v in enumerate(ours) if v > 0.65]
    theirs_alert = [i for i, v in enumerate(auroc) if v > 0.65]
    print(f"  alerting chunks: mlmaint {ours_alert}, NannyML {theirs_alert}")
    print(f"  max |AUROC difference|: {np.max(np.abs(np.subtract(ours, auroc))):.3f}")


def false_alarms(windows: int, sizes: tuple[int, ...], reference_rows: int) -> None:
    rng = np.random.default_rng(7)
    reference = population(reference_rows, rng)
    spec = MultivariateSpec(numeric=NUMERIC, categorical=CATEGORICAL)
    began = time.perf_counter()
    check = MultivariateCheck(spec=spec, reference=fit_multivariate(reference, spec))
    fit_s = time.perf_counter() - began
    print(f"clean windows against a {reference_rows:,}-row reference (fit {fit_s:.2f} s):")
    for n in sizes:
        counts = {"reconstruction": 0, "domain_classifier": 0, "any": 0}
        began = time.perf_counter()
        for _ in range(windows):
            result = check.run(population(n, rng))
            for m in result.measures:
                counts[m.subject] += m.alerting
            counts["any"] += result.status is Status.ALERT
        per = (time.perf_counter() - began) / windows
        print(
            f"  n={n:>5}: {counts['any']}/{windows} windows alert "
            f"({100 * counts['any'] / windows:.1f}%; reconstruction {counts['reconstruction']}, "
            f"classifier {counts['domain_classifier']}), {per * 1000:.0f} ms a check"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunk", type=int, default=1_000)
    parser.add_argument("--chunks", type=int, default=10)
    parser.add_argument("--windows", type=int, default=300)
    parser.add_argument("--sizes", default="500,1500")
    parser.add_argument("--reference-rows", type=int, default=10_000)
    parser.add_argument("--no-classifier", action="store_true")
    parser.add_argument("--nannyml-python")
    args = parser.parse_args()
    reference, analysis = synthetic(args.chunk, args.chunks)
    print(
        f"reference {len(reference):,} rows, analysis {len(analysis):,} rows, "
        f"chunks of {args.chunk:,}; {len(NUMERIC)} numeric, {len(CATEGORICAL)} categorical"
    )
    began = time.perf_counter()
    theirs = run_nannyml(
        nannyml_python(args.nannyml_python), reference, analysis, args.chunk, not args.no_classifier
    )
    if theirs is not None:
        print(f"NannyML ran in {time.perf_counter() - began:.1f} s")
    compare_reconstruction(reference, analysis, args.chunk, theirs)
    if not args.no_classifier:
        compare_classifier(reference, analysis, args.chunk, theirs)
    sizes = tuple(int(s) for s in args.sizes.split(","))
    false_alarms(args.windows, sizes, args.reference_rows)


if __name__ == "__main__":
    main()
