"""The read-only /v1 JSON API: models, their stored measures over time, alerts, jobs,
framework findings, and the OpenAPI document that describes them.

    GET /v1/models                    every configured model at a glance
    GET /v1/models/{name}             one model, its latest measures, alerts and jobs
    GET /v1/models/{name}/checks      stored measures over time (kind, subject, since, until)
    GET /v1/alerts                    firing alerts (state=resolved|event|all for others)
    GET /v1/jobs                      retrain jobs, newest first
    GET /v1/frameworks                the latest framework findings per environment
    GET /v1/openapi.json              the OpenAPI 3.1 document of every /v1 path

Each is `Access.READ`: open on loopback, the read or API token beyond it. The
endpoints are declared once (`ENDPOINTS`): the router, the parameter checks and
the OpenAPI document are all built from that table.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from pydantic import BaseModel

from checks.interface import CheckKind
from daemon.api import v1_names
from daemon.api import v1_queries as queries
from daemon.api import v1_schema as schema
from daemon.api.router import Access, Request, Response, Router
from daemon.api.v1_params import (
    BadParam,
    Endpoint,
    Query,
    choice,
    limit,
    parse_query,
    text,
    time,
)
from daemon.config import ModelSettings
from daemon.jobs import JobContext
from daemon.store.tables import AlertState
from retrain.interface import JobState

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

ALERT_STATES = (*(s.value for s in AlertState), "all")
RECENT_JOBS = 5


def finding_kinds() -> tuple[str, ...]:
    """The framework finding kinds (their room is imported on the first ask)."""
    from checks.frameworks.policy import FindingKind

    return tuple(k.value for k in FindingKind)


class NotFound(LookupError):
    """A path names something that does not exist: answered 404 with this message."""


class V1Routes:
    """The handlers of the /v1 reads, over the daemon's store and settings."""

    def __init__(self, ctx: JobContext, clock: Callable[[], datetime]) -> None:
        self.ctx = ctx
        self.clock = clock

    def add_to(self, router: Router) -> None:
        for endpoint in ENDPOINTS:
            router.add("GET", endpoint.path, self._serve(endpoint), access=Access.READ)

    def _serve(self, endpoint: Endpoint) -> Callable[[Request], Response]:
        def serve(request: Request) -> Response:
            try:
                query = parse_query(endpoint.params, request.query)
                body = endpoint.handler(self, request, query)
            except BadParam as exc:
                return Response.json(400, {"error": str(exc)})
            except NotFound as exc:
                return Response.json(404, {"error": str(exc)})
            if isinstance(body, BaseModel):
                return Response(200, body.model_dump_json().encode(), "application/json")
            return Response(200, json.dumps(body).encode(), "application/json")

        return serve

    # ------------------------------------------------------------------ helpers

    def model(self, name: str) -> ModelSettings:
        for model in self.ctx.settings.models:
            if model.name == name:
                return model
        names = ", ".join(m.name for m in self.ctx.settings.models) or "none"
        raise NotFound(f"unknown model {name!r}: the configured models are {names}")

    def overview(
        self, session: Session, models: tuple[ModelSettings, ...], now: datetime
    ) -> list[schema.ModelOut]:
        from daemon.checking.specs import enabled_kinds

        stored = queries.stored_models(session, now)
        runs = queries.latest_runs(session, [m.name for m in models])
        out = []
        for model in models:
            row = stored.get(model.name)
            out.append(
                schema.ModelOut(
                    name=model.name,
                    task=model.task,
                    serving_version=row.serving_version if row else None,
                    alias=model.retrain.alias,
                    retrain_enabled=model.retrain.enabled,
                    pin=row.pin if row else None,
                    checks=list(enabled_kinds(model)),
                    rows_sampled=row.rows_sampled if row else 0,
                    rows_rejected=row.rows_rejected if row else 0,
                    firing_alerts=row.firing_alerts if row else 0,
                    last_checks=runs.get(model.name, []),
                )
            )
        return out

    # ------------------------------------------------------------------ handlers

    def models(self, _request: Request, _query: Query) -> schema.ModelsOut:
        with self.ctx.sessions() as session:
            return schema.ModelsOut(
                models=self.overview(session, self.ctx.settings.models, self.clock())
            )

    def model_detail(self, request: Request, _query: Query) -> schema.ModelDetail:
        model = self.model(request.params["name"])
        now = self.clock()
        with self.ctx.sessions() as session:
            (summary,) = self.overview(session, (model,), now)
            measures = queries.measures_of_runs(session, [c.run_id for c in summary.last_checks])
            alerts, _ = queries.alerts(
                session, now, states=(AlertState.FIRING,), scope=model.name, limit=100
            )
            jobs, _ = queries.jobs(session, model=model.name, state=None, limit=RECENT_JOBS)
            versions = queries.versions(session, model.name, summary.serving_version)
        return schema.ModelDetail(
            **summary.model_dump(),
            latest_measures=measures,
            alerts=alerts,
            recent_jobs=jobs,
            versions=versions,
        )

    def checks(self, request: Request, query: Query) -> schema.ChecksOut:
        model = self.model(request.params["name"])
        since, until = query.time("since"), query.time("until")
        if since is not None and until is not None and since > until:
            raise BadParam(f"since ({since.isoformat()}) is after until ({until.isoformat()})")
        kind_name = query.text("kind")
        kind = CheckKind(kind_name) if kind_name else None
        subject = query.text("subject")
        segment = query.text("segment")
        count = query.number("limit")
        with self.ctx.sessions() as session:
            measures, truncated = queries.measures(
                session,
                model.name,
                kind=kind,
                subject=subject,
                name=query.text("name"),
                since=since,
                until=until,
                limit=count,
                segment=segment,
            )
            if segment is not None and not measures:
                self.known_segment(
                    session, model.name, segment, model.checks.segments, model.checks.min_rows
                )
            if subject is not None and not measures:
                self.known_subject(session, model.name, subject)
            runs, more_runs = queries.runs(
                session,
                model.name,
                kind=kind,
                since=since,
                until=until,
                limit=count,
                segment=segment,
            )
        return schema.ChecksOut(
            model=model.name,
            segment=segment,
            measures=measures,
            runs=runs,
            limit=count,
            truncated=truncated or more_runs,
        )

    def known_subject(self, session: Session, model: str, subject: str) -> None:
        """A subject the model never stored a measure about is a 404 naming recent ones."""
        if v1_names.has_subject(session, model, subject):
            return
        names = ", ".join(v1_names.recent_subjects(session, model)) or "none yet"
        raise NotFound(
            f"unknown subject {subject!r} for model {model!r}: its recent runs measured {names}"
        )

    def known_segment(
        self, session: Session, model: str, segment: str, columns: Sequence[str], min_rows: int
    ) -> None:
        """A segment the model never stored a run of is a 404 naming the stored ones."""
        if v1_names.has_segment(session, model, segment):
            return
        names = ", ".join(v1_names.recent_segments(session, model)) or "none yet"
        cut_by = ", ".join(columns) or "none (no [models.checks] segments)"
        raise NotFound(
            f"unknown segment {segment!r} for model {model!r}: its runs have segments "
            f"{names}; segmented by {cut_by}; a segment is written COLUMN=VALUE; a value the "
            f"reference holds fewer than min_rows = {min_rows} rows of is not checked "
            f"(`mlmaint check {model}` lists those)"
        )

    def known(self, what: str, name: str | None, groups: Mapping[str, Sequence[str]]) -> None:
        """A name that is in none of `groups` is a 404 listing them."""
        if name is None or any(name in names for names in groups.values()):
            return
        listed = "; ".join(
            f"the {label} are {', '.join(dict.fromkeys(names)) or 'none'}"
            for label, names in groups.items()
        )
        raise NotFound(f"unknown {what} {name!r}: {listed}")

    def configured(self) -> tuple[list[str], list[str]]:
        """The configured model and framework environment names."""
        settings = self.ctx.settings
        return [m.name for m in settings.models], [e.name for e in settings.frameworks.environments]

    def alerts(self, _request: Request, query: Query) -> schema.AlertsOut:
        state = query.text("state") or AlertState.FIRING.value
        states = tuple(AlertState) if state == "all" else (AlertState(state),)
        count = query.number("limit")
        scope = query.text("scope")
        models, environments = self.configured()
        with self.ctx.sessions() as session:
            if scope is not None and scope not in (*models, *environments):
                stored = v1_names.alert_scopes(session)
                groups = {"models": models, "environments": environments, "stored scopes": stored}
                self.known("scope", scope, groups)
            found, truncated = queries.alerts(
                session, self.clock(), states=states, scope=scope, limit=count
            )
        return schema.AlertsOut(alerts=found, limit=count, truncated=truncated)

    def jobs(self, _request: Request, query: Query) -> schema.JobsOut:
        state = query.text("state")
        count = query.number("limit")
        model = query.text("model")
        models, _ = self.configured()
        with self.ctx.sessions() as session:
            if model is not None and model not in models:
                stored = v1_names.model_names(session)
                self.known("model", model, {"configured models": models, "stored models": stored})
            found, truncated = queries.jobs(
                session,
                model=model,
                state=JobState(state) if state else None,
                limit=count,
            )
        return schema.JobsOut(jobs=found, limit=count, truncated=truncated)

    def frameworks(self, _request: Request, query: Query) -> schema.FrameworksOut:
        count = query.number("limit")
        _, configured = self.configured()
        environment = query.text("environment")
        with self.ctx.sessions() as session:
            envs = queries.environments(session, configured)
            clean = queries.clean_scan(session)
            self.known("environment", environment, {"environments": [e.name for e in envs]})
            found, truncated = queries.findings(
                session,
                environment=environment,
                kind=query.text("kind"),
                limit=count,
            )
        scans = [e.scanned_at for e in envs if e.scanned_at is not None]
        scans.extend([clean] if clean is not None else [])
        return schema.FrameworksOut(
            scanned_at=max(scans, default=None),
            note=None if scans else schema.NO_SCAN_YET,
            environments=envs,
            findings=found,
            limit=count,
            truncated=truncated,
        )

    def openapi(self, _request: Request, _query: Query) -> Mapping[str, object]:
        from daemon.api.openapi import document

        return document(ENDPOINTS)


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        path="/v1/models",
        summary="Every configured model at a glance",
        response=schema.ModelsOut,
        handler=V1Routes.models,
    ),
    Endpoint(
        path="/v1/models/{name}",
        summary="One model: its latest measures, firing alerts and recent retrain jobs",
        response=schema.ModelDetail,
        handler=V1Routes.model_detail,
        errors=(404,),
    ),
    Endpoint(
        path="/v1/models/{name}/checks",
        summary="A model's stored measures over time, per subject (feature, metric), "
        "and the status of each run, measured or not",
        response=schema.ChecksOut,
        handler=V1Routes.checks,
        params=(
            choice("kind", "only this check kind", [k.value for k in CheckKind]),
            text("subject", 'only this subject: a column, "dataset" or a metric'),
            text("name", 'only measures of this name (e.g. "estimated", "ci_low", "wasserstein")'),
            text(
                "segment",
                'only this segment ("region=A"; 404 if the model never stored it); '
                "without it, the whole windows",
            ),
            time("since", "only windows ending at or after this time"),
            time("until", "only windows ending at or before this time"),
            limit(1000, 10_000),
        ),
        errors=(400, 404),
    ),
    Endpoint(
        path="/v1/alerts",
        summary="Alerts, the most recently fired first",
        response=schema.AlertsOut,
        handler=V1Routes.alerts,
        params=(
            choice("state", "which alerts", ALERT_STATES, default=AlertState.FIRING.value),
            text("scope", "only this model or framework environment (404 if unknown)"),
            limit(100, 1000),
        ),
        errors=(400, 404),
    ),
    Endpoint(
        path="/v1/jobs",
        summary="Retrain jobs, the newest first",
        response=schema.JobsOut,
        handler=V1Routes.jobs,
        params=(
            text("model", "only this model's jobs (404 if unknown)"),
            choice("state", "only jobs in this state", [s.value for s in JobState]),
            limit(100, 1000),
        ),
        errors=(400, 404),
    ),
    Endpoint(
        path="/v1/frameworks",
        summary="The latest framework findings of each environment, the most severe first "
        "(vulnerabilities, then the other actionable kinds, then notes; by severity within each)",
        response=schema.FrameworksOut,
        handler=V1Routes.frameworks,
        params=(
            text("environment", "only this environment (404 if unknown)"),
            choice("kind", "only findings of this kind", finding_kinds),
            limit(500, 5000),
        ),
        errors=(400, 404),
    ),
    Endpoint(
        path="/v1/openapi.json",
        summary="This API's OpenAPI 3.1 document",
        response=None,
        handler=V1Routes.openapi,
    ),
)
