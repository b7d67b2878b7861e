"""Reference I/O: the reference frame in (file, snapshot or a past window), its statistics out.

`load_reference` reads what the model's `[models.reference]` names and gives
its content digest; `reference_stats` summarises it once per (digest, layout)
through the service's `CheckCache`. An unreadable or missing reference is
`ReferenceUnavailable`: the checks then read "insufficient data" and the
model's "not monitored" alert fires, the daemon carries on.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import assert_never

import pandas as pd
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from checks.interface import LABEL, CheckError
from checks.multivariate import MultivariateReference, fit_multivariate
from checks.reference import ReferenceStats, build_reference, frame_digest
from daemon.checking.cache import CheckCache
from daemon.checking.specs import (
    multivariate_spec,
    output_names,
    reference_layout,
    text_columns,
)
from daemon.config import ModelSettings, ReferenceKind
from daemon.store.tables import Model

WindowLoader = Callable[[Session, ModelSettings, datetime, datetime], pd.DataFrame]


class ReferenceUnavailable(CheckError):
    def __init__(self, model: str, why: str) -> None:
        super().__init__(f"model {model}: no reference ({why})")
        self.why = why


def reference_stats(
    model: ModelSettings,
    frame: pd.DataFrame,
    *,
    digest: str | None = None,
    cache: CheckCache | None = None,
    directory: Path | None = None,
    owner: str | None = None,
) -> ReferenceStats:
    """The reference's statistics for this model's layout, cached by content digest.

    The frame is typed by the one typing (`daemon.frames.check_schema`) before
    any statistic, so a reference read by pandas (bool, int or float coded
    categoricals, a `category` dtype) counts the same values a window holds.
    The cache key covers the content with its dtypes (`frame_digest`) and the
    schema it is typed against. Without a `cache` the statistics are computed
    and kept by no one. With a `directory` (the state directory's
    `cache/references`), a miss reads them from disk before building them, and
    a build is written there (`daemon/checking/stats_file.py`): a new process,
    such as `mlmaint check`, then skips the build. `owner` is who holds the
    statistics in the cache (default: the model; a segment holds its slice's).
    """
    from daemon.frames import typed_check

    layout = reference_layout(model)
    frame = normalize_reference(model, frame)
    key_digest = digest or frame_digest(frame)
    disk_key = stats_file_key(model)

    def build() -> ReferenceStats:
        typed = typed_check(frame, model)
        if directory is not None:
            from daemon.checking.stats_file import load_stats

            stored = load_stats(directory, model.name, key_digest, disk_key, typed)
            if stored is not None:
                return stored
        built = build_reference(
            typed,
            layout.numeric,
            layout.categorical,
            score=layout.score,
            label=LABEL,
            digest=key_digest,
        )
        if directory is not None:
            from daemon.checking.stats_file import save_stats

            save_stats(directory, model.name, built, disk_key)
        return built

    if cache is None:
        return build()
    return cache.reference((key_digest, layout.key), build, owner=owner or model.name)


def multivariate_reference(
    model: ModelSettings, ref: ReferenceStats, *, cache: CheckCache | None = None
) -> MultivariateReference:
    """The multivariate check's reference side (PCA, band, classifier rows), fitted once
    per reference version and settings and kept in the cache (without one: for this call)."""
    spec = multivariate_spec(model)

    def build() -> MultivariateReference:
        return fit_multivariate(ref.frame, spec, digest=ref.digest)

    if cache is None:
        return build()
    return cache.fitted(("multivariate", ref.digest, spec.key), build)


def stats_file_key(model: ModelSettings) -> str:
    """The key of the model's statistics on disk: the layout and what the calibration is
    fitted on (a score for binary tasks only), so a task changed in the config never
    reads statistics built for the old one."""
    layout = reference_layout(model)
    return hashlib.sha256(f"{layout.key}\x1f{layout.score}\x1f{LABEL}".encode()).hexdigest()


def normalize_reference(model: ModelSettings, frame: pd.DataFrame) -> pd.DataFrame:
    """Rename the schema's prediction, score and label columns to the window's names."""
    names = output_names(model)
    rename = {a: b for a, b in names.items() if a != b and a in frame and b not in frame}
    return frame.rename(columns=rename) if rename else frame


def read_table(path: Path, model: str, *, text: Iterable[str] = ()) -> pd.DataFrame:
    """A reference file: Parquet or CSV, by suffix; unreadable is `ReferenceUnavailable`.

    CSV columns named in `text` (the categoricals) are read as the cells
    spell them (`checks.typed.text_category`), as a CSV log's are: "True" is
    "true", "1.0" is "1", "01234" stays a code, an empty cell is missing.
    """
    import pyarrow as pa

    from checks.typed import text_cells

    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path)
        if suffix in (".csv", ".txt"):
            as_text = list(text)
            frame = pd.read_csv(
                path,
                dtype=dict.fromkeys(as_text, str),
                # Only an empty cell is missing: "NA" is a category as a CSV log stores it.
                keep_default_na=False,
                na_values=[""],
            )
            for column in as_text:
                if column in frame:
                    frame[column] = text_cells(frame[column])
            return frame
    except (OSError, ValueError, pa.ArrowException) as exc:
        # A corrupt or truncated file: an insufficient-data run that names it, not a crash.
        raise ReferenceUnavailable(model, f"cannot read {path}: {exc}") from exc
    raise ReferenceUnavailable(model, f"unknown reference format {suffix!r} of {path}")


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_reference_file(model: ModelSettings) -> tuple[pd.DataFrame, str]:
    """A `file` reference (it needs no store): the frame and its content digest."""
    path = model.reference.path
    assert path is not None  # validated by ReferenceSettings
    if not path.exists():
        raise ReferenceUnavailable(model.name, f"file {path} not found")
    return read_table(path, model.name, text=text_columns(model)), _file_digest(path)


def load_reference(
    session: Session,
    model: ModelSettings,
    *,
    load_window: WindowLoader | None = None,
) -> tuple[pd.DataFrame, str]:
    """The reference frame and its content digest, from the kind the model configures."""
    ref = model.reference
    match ref.kind:
        case ReferenceKind.FILE:
            return read_reference_file(model)
        case ReferenceKind.SNAPSHOT:
            row = session.scalars(select(Model).where(Model.name == model.name)).one_or_none()
            if row is None or not row.reference_uri:
                raise ReferenceUnavailable(
                    model.name,
                    "none recorded for the serving version; see [models.reference] in config.toml",
                )
            path = Path(row.reference_uri.removeprefix("file://"))
            if not path.exists():
                raise ReferenceUnavailable(model.name, f"snapshot {path} not found")
            frame = read_table(path, model.name, text=text_columns(model))
            return frame, row.reference_sha256 or _file_digest(path)
        case ReferenceKind.WINDOW:
            assert ref.start is not None and ref.end is not None  # validated
            start = _parse_time(ref.start)
            end = _parse_time(ref.end)
            frame = (load_window or default_window_loader())(session, model, start, end)
            if frame.empty:
                raise ReferenceUnavailable(model.name, f"no rows between {start} and {end}")
            return frame, frame_digest(frame)
        case _:
            assert_never(ref.kind)


def _parse_time(text: str) -> datetime:
    from datetime import UTC

    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def default_window_loader() -> WindowLoader:
    """The store's window query (daemon/store/windows.py) on the session's engine."""
    from daemon.store.windows import load_window

    def loader(
        session: Session, model: ModelSettings, start: datetime, end: datetime
    ) -> pd.DataFrame:
        bind = session.get_bind()
        engine = bind if isinstance(bind, Engine) else bind.engine
        frame: pd.DataFrame = load_window(engine, model, start, end)
        return frame

    return loader
