"""[frameworks]: where versions and advisories come from, and what is inventoried."""

from __future__ import annotations

import enum
from datetime import timedelta
from pathlib import Path
from typing import Literal, Self

from pydantic import Field, model_validator

from checks.frameworks.severity import AdvisorySeverity
from daemon.config.common import Duration, Frozen, Schedule


class EnvironmentKind(enum.StrEnum):
    PYTHON = "python"
    REQUIREMENTS = "requirements"
    LOCK = "lock"
    MLFLOW_MODEL = "mlflow_model"


class EnvironmentSettings(Frozen):
    name: str
    kind: EnvironmentKind
    # PYTHON: interpreter path; REQUIREMENTS / LOCK: the file.
    path: Path | None = None
    # MLFLOW_MODEL: registered model name and alias.
    model: str | None = None
    alias: str = "champion"

    @model_validator(mode="after")
    def _needs_target(self) -> Self:
        if self.kind is EnvironmentKind.MLFLOW_MODEL:
            if self.model is None:
                raise ValueError("an mlflow_model environment needs 'model'")
        elif self.path is None:
            raise ValueError(f"a {self.kind.value} environment needs 'path'")
        return self


class Ignore(Frozen):
    id: str
    reason: str = Field(min_length=1)
    until: str | None = Field(default=None, pattern=r"^\d{4}-\d\d-\d\d$")
    package: str | None = None


class AdvisoryRoute(enum.StrEnum):
    """What a newly found advisory does, by its severity."""

    # A critical alert: sent at once (quiet hours never hold it) to every channel,
    # a pager's (min_severity = "critical") included.
    PAGE = "page"
    # A warning alert, sent now (quiet hours hold it); repeated weekly while it lasts.
    ALERT = "alert"
    # No alert: the weekly report lists it with its upgrade.
    REPORT = "report"


class AdvisoryRouting(Frozen):
    """[frameworks.routing]: the route of each advisory severity."""

    critical: AdvisoryRoute = AdvisoryRoute.PAGE
    high: AdvisoryRoute = AdvisoryRoute.ALERT
    medium: AdvisoryRoute = AdvisoryRoute.ALERT
    low: AdvisoryRoute = AdvisoryRoute.REPORT
    # A CVSS score of 0.0.
    none: AdvisoryRoute = AdvisoryRoute.REPORT
    # No vector and no database word: unknown is not low, so it is told.
    unknown: AdvisoryRoute = AdvisoryRoute.ALERT

    def route(self, severity: AdvisorySeverity) -> AdvisoryRoute:
        return {
            AdvisorySeverity.CRITICAL: self.critical,
            AdvisorySeverity.HIGH: self.high,
            AdvisorySeverity.MEDIUM: self.medium,
            AdvisorySeverity.LOW: self.low,
            AdvisorySeverity.NONE: self.none,
            AdvisorySeverity.UNKNOWN: self.unknown,
        }[severity]


class FrameworkSettings(Frozen):
    enabled: bool = True
    schedule: Schedule = Schedule(cron="30 6 * * *", timezone="UTC")
    index_url: str = "https://pypi.org"
    osv_url: str = "https://api.osv.dev"
    # "simple+json": the PEP 691 JSON Simple API ({index_url}/simple/<name>/), with
    # the JSON API ({index_url}/pypi/<name>/json) for upload times a mirror's Simple
    # pages lack; "simple" or "json": one of them only.
    index_api: Literal["simple+json", "json", "simple"] = "simple+json"
    # Online: fetch releases, sync the OSV export and query OSV's API. Offline, the
    # release cache and the imported advisory mirror are all there is.
    online: bool = False
    # An OSV export ecosystem folder (".../PyPI") holding all.zip and modified_id.csv.
    osv_export_url: str | None = None
    # Query {osv_url}/v1/querybatch for the inventoried versions (online only).
    osv_query: bool = False
    # A directory or zip of OSV records (JSON, or PyPA advisory-db YAML) imported
    # into the store's mirror when the mirror holds nothing from it yet.
    advisory_db: Path | None = None
    # Overrides the shipped Python EOL / torch compatibility data (same JSON shape).
    support_data: Path | None = None
    # Where `mlmaint frameworks sync` fetches newer support data (same JSON shape);
    # without it, or when it fails, the shipped copy stays in use.
    support_url: str | None = None
    http_timeout: Duration = timedelta(seconds=10)
    release_cache_ttl: Duration = timedelta(hours=24)
    max_release_age_days: int = Field(default=365, gt=0)
    # Cadence policy for frameworks (torch, tensorflow, jax, scikit-learn, xgboost,
    # lightgbm, onnx, onnxruntime, transformers, mlflow, numpy, pandas, plus
    # cadence_packages): outdated when the installed release is older than the
    # security cadence while a newer one exists, or a newer major has been out
    # longer than the major cadence.
    security_cadence_months: int = Field(default=12, gt=0)
    major_cadence_years: int = Field(default=3, gt=0)
    cadence_packages: tuple[str, ...] = ()
    # `frameworks verify`: an optional schedule (off by default; weekly is the idea),
    # how many advisory-clearing releases to try per package until one verifies
    # safe, and the recent production rows replayed beside the reference.
    verify_schedule: Schedule | None = None
    verify_candidates: int = Field(default=3, gt=0)
    verify_sample: Duration = timedelta(days=7)
    verify_sample_rows: int = Field(default=2000, ge=0)
    environments: tuple[EnvironmentSettings, ...] = ()
    ignores: tuple[Ignore, ...] = ()
    routing: AdvisoryRouting = AdvisoryRouting()
