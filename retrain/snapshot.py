"""Training data snapshots: Parquet files named by the sha256 of their bytes.

Rows are sorted by id (when there is one) and columns kept in a fixed order
before writing, so the same training set gives the same bytes; reading checks
the hash, so a snapshot hash always stands for the same training set.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from retrain.interface import DataRef, SnapshotError

if TYPE_CHECKING:
    import pandas as pd

ID_COLUMN = "prediction_id"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def canonical(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """The frame reduced to `columns` (plus the id), in a deterministic row order."""
    keep = [ID_COLUMN, *columns] if ID_COLUMN in frame.columns else list(columns)
    out = frame.loc[:, keep]
    if ID_COLUMN in out.columns:
        out = out.astype({ID_COLUMN: str}).sort_values(ID_COLUMN, kind="stable")
    return out.reset_index(drop=True)


def write_snapshot(frame: pd.DataFrame, directory: Path, columns: list[str]) -> DataRef:
    """Write `frame` as `<sha256>.parquet` under `directory`; an existing one is reused."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    # Model inputs: private whatever the umask (mkstemp below makes the file 0600).
    for missing in reversed([d for d in (directory, *directory.parents) if not d.exists()]):
        missing.mkdir(mode=0o700, exist_ok=True)
    table = pa.Table.from_pandas(canonical(frame, columns), preserve_index=False)
    # Pandas metadata holds the pandas version: dropped so the bytes depend on the data only.
    table = table.replace_schema_metadata(None)
    fd, tmp = tempfile.mkstemp(dir=directory, suffix=".parquet.tmp")
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        pq.write_table(table, tmp_path, compression="zstd")
        sha = _sha256(tmp_path)
        final = directory / f"{sha}.parquet"
        if final.exists():
            tmp_path.unlink()
        else:
            tmp_path.replace(final)
    finally:
        tmp_path.unlink(missing_ok=True)
    return DataRef(uri=str(final.resolve()), sha256=sha, rows=table.num_rows)


def read_snapshot(ref: DataRef) -> pd.DataFrame:
    """The snapshot's rows; raises SnapshotError when the file changed or is gone."""
    import pandas as pd

    path = Path(ref.uri.removeprefix("file://"))
    try:
        actual = _sha256(path)
    except OSError as exc:
        raise SnapshotError(f"snapshot {ref.uri} cannot be read: {exc.strerror}") from exc
    if actual != ref.sha256:
        raise SnapshotError(
            f"snapshot {ref.uri} has sha256 {actual}, the job expects {ref.sha256}: "
            "the file was changed after the job was created"
        )
    return pd.read_parquet(path)
