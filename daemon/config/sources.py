"""A model's `source` and `labels`: where its predictions and late labels are read."""

from __future__ import annotations

import enum
from datetime import timedelta
from typing import Annotated, Literal, Self

from pydantic import Field, model_validator

from daemon.config.common import ByteCount, ByteSize, Duration, Frozen
from daemon.config.secrets import Needs, Secret, SecretField, SecretRef, secret_of


class FileFormat(enum.StrEnum):
    CSV = "csv"
    JSONL = "jsonl"
    PARQUET = "parquet"


class FileSource(Frozen):
    kind: Literal["files"]
    glob: str
    format: FileFormat = FileFormat.JSONL
    batch_size: int = Field(default=50_000, gt=0)
    # A last line without its newline is waited for this long before it counts as cut short.
    partial_line_grace: Duration = timedelta(minutes=5)


class CursorKind(enum.StrEnum):
    TIMESTAMP = "timestamp"
    ID = "id"


class SqlSource(Frozen):
    kind: Literal["sql"]
    url: str
    password: Annotated[SecretRef | None, SecretField(Needs.SOURCES)] = None
    table: str | None = None
    query: str | None = None
    cursor_column: str
    cursor_kind: CursorKind = CursorKind.TIMESTAMP
    # Rows that arrive late by up to this much are still picked up.
    lag: Duration = timedelta(minutes=5)
    batch_size: int = Field(default=10_000, gt=0)

    @model_validator(mode="after")
    def _table_or_query(self) -> Self:
        if (self.table is None) == (self.query is None):
            raise ValueError("give exactly one of 'table' or 'query'")
        return self

    def password_secret(self) -> Secret | None:
        return secret_of(self.password)


class HttpSource(Frozen):
    kind: Literal["http"]
    max_body_bytes: ByteSize = Field(default=ByteCount(16 * 2**20), gt=0)


Source = Annotated[FileSource | SqlSource | HttpSource, Field(discriminator="kind")]
