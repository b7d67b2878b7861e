"""The ingest routes: prediction rows and labels pushed by the model's service.

    POST /v1/models/{name}/predictions   JSON array or JSON Lines, gzip accepted
    POST /v1/models/{name}/labels

Each answers 202 with the counts of accepted and rejected rows, or 404 for an
unknown model; the body's limit is the model's `max_body_bytes`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime

from daemon.api.body import DEFAULT_MAX_BODY
from daemon.api.router import Access, BodyLimit, Request, Response, Router
from daemon.api.v1_schema import IngestedLabels, IngestedPredictions
from daemon.config import HttpSource, ModelSettings
from daemon.http_body import documents
from daemon.jobs import JobContext

PREDICTIONS = "/v1/models/{name}/predictions"
LABELS = "/v1/models/{name}/labels"


class IngestRoutes:
    """The handlers of the ingest routes, storing through the sampling stage."""

    def __init__(self, ctx: JobContext, clock: Callable[[], datetime]) -> None:
        self.ctx = ctx
        self.clock = clock

    def _model(self, name: str) -> ModelSettings | None:
        for model in self.ctx.settings.models:
            if model.name == name:
                return model
        return None

    def _limit_for(self, stream: str) -> BodyLimit:
        def limit(params: Mapping[str, str]) -> int:
            model = self._model(params.get("name", ""))
            if model is None:
                return DEFAULT_MAX_BODY
            source = model.source if stream == "predictions" else model.labels
            return source.max_body_bytes if isinstance(source, HttpSource) else DEFAULT_MAX_BODY

        return limit

    def add_to(self, router: Router) -> None:
        router.add(
            "POST",
            PREDICTIONS,
            self.predictions,
            body_limit=self._limit_for("predictions"),
            access=Access.WRITE,
        )
        router.add(
            "POST",
            LABELS,
            self.labels,
            body_limit=self._limit_for("labels"),
            access=Access.WRITE,
        )

    def predictions(self, request: Request) -> Response:
        from daemon.sampling.push import ingest_records, ingest_validated
        from daemon.sampling.specs import spec_of
        from daemon.sampling.validation import RowValidator

        model = self._model(request.params["name"])
        if model is None:
            return Response.json(404, {"error": f"unknown model {request.params['name']!r}"})
        docs = documents(request.body)
        now = self.clock()
        if docs.records is not None:
            outcome = ingest_records(self.ctx, model, docs.records, now)
        else:
            outcome = ingest_validated(
                self.ctx, model, [RowValidator(spec_of(model)).from_jsonl(docs.lines)], now
            )
        accepted = outcome.sampled + outcome.skipped + outcome.duplicates + outcome.capped
        answer = IngestedPredictions(
            accepted=accepted,
            rejected=outcome.rejected_total,
            sampled=outcome.sampled,
            duplicates=outcome.duplicates,
            reasons=dict(outcome.rejected),
        )
        return Response.json(202, answer.model_dump(mode="json"))

    def labels(self, request: Request) -> Response:
        from daemon.sampling.push import ingest_label_records
        from daemon.sampling.rows import Reason, Reject, excerpt

        model = self._model(request.params["name"])
        if model is None:
            return Response.json(404, {"error": f"unknown model {request.params['name']!r}"})
        docs = documents(request.body)
        records: list[object] = []
        rejects: list[Reject] = []
        if docs.records is not None:
            records = docs.records
        else:
            for line in docs.lines:
                try:
                    records.append(json.loads(line))
                except (ValueError, RecursionError) as exc:
                    rejects.append(Reject(Reason.MALFORMED, f"not JSON: {exc}", excerpt(line)))
        outcome = ingest_label_records(self.ctx, model, records, self.clock(), rejects)
        answer = IngestedLabels(
            accepted=outcome.joined + outcome.pending + outcome.skipped,
            rejected=outcome.rejected_total,
            joined=outcome.joined,
            pending=outcome.pending,
            reasons=dict(outcome.rejected),
        )
        return Response.json(202, answer.model_dump(mode="json"))
