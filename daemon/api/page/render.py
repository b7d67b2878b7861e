"""Render the page: the overview at / and one model's page, from PageData.

Server-rendered HTML with inline CSS and inline SVG charts: no script, no
font or image from anywhere, so it reads the same behind any proxy and under
the strictest policy (`default-src 'none'`). Jinja2 autoescaping is on: model
and feature names, alert summaries and errors come from users and data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

import jinja2

from daemon.api.page.charts import FONT_SIZE, Chart, Frame, Line, line_chart
from daemon.api.page.data import FeatureDrift, ModelView, PageData
from daemon.api.page.reads import OVERVIEW_FEATURES
from daemon.report.render import environment


@dataclass(frozen=True, kw_only=True)
class Sizes:
    drift: Frame
    performance: Frame


OVERVIEW_SIZES = Sizes(drift=Frame(width=300, height=130), performance=Frame(width=620, height=210))
MODEL_SIZES = Sizes(drift=Frame(width=420, height=160), performance=Frame(width=640, height=230))


@dataclass(frozen=True, kw_only=True)
class ModelCharts:
    drift: tuple[tuple[FeatureDrift, Chart], ...]
    # Features with drift history that are not charted here (the overview's limit).
    more: int
    performance: Chart | None


def _environment() -> jinja2.Environment:
    env = environment(
        "daemon.api.page",
        {
            "num": num,
            "exact": exact,
            "short": short,
            "iso": iso,
            "path": lambda name: quote(str(name), safe=""),
        },
    )
    env.globals["chart_font"] = FONT_SIZE
    return env


def num(value: float | None, digits: int = 4) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    if value != 0 and abs(value) < 1e-4:
        return f"{value:.{digits - 1}e}"
    return f"{value:.{digits}g}" if abs(value) < 10**digits else f"{value:,.0f}"


def exact(value: float | None) -> str:
    """The stored float, to the last bit (what the data attributes carry)."""
    return "" if value is None else repr(float(value))


def short(value: datetime | None) -> str:
    """For table cells: the page says once that its times are UTC."""
    return "–" if value is None else value.strftime("%Y-%m-%d %H:%M")


def iso(value: datetime) -> str:
    return value.isoformat()


def model_charts(m: ModelView, sizes: Sizes, *, features: int | None = None) -> ModelCharts:
    if m.start is None or m.end is None:
        return ModelCharts(drift=(), more=0, performance=None)
    shown = m.drift if features is None else m.drift[:features]
    drift = tuple(
        (
            f,
            line_chart(
                [Line(key="score", label=f.method, points=f.points)],
                start=m.start,
                end=m.end,
                frame=sizes.drift,
                y_label=f.method,
                floor=0.0,
                x_ticks=4,
            ),
        )
        for f in shown
    )
    perf = m.performance
    performance = None
    if not perf.empty:
        performance = line_chart(
            [
                Line(key="realized", label="realized", points=perf.realized),
                Line(key="estimated", label="estimated", points=perf.estimated),
            ],
            start=m.start,
            end=m.end,
            frame=sizes.performance,
            y_label=perf.metric or "metric",
            baseline=perf.baseline,
            x_ticks=8,
        )
    return ModelCharts(drift=drift, more=len(m.drift) - len(shown), performance=performance)


def render_overview(data: PageData) -> str:
    charts = {
        m.name: model_charts(m, OVERVIEW_SIZES, features=OVERVIEW_FEATURES) for m in data.models
    }
    template = _environment().get_template("overview.html.j2")
    return template.render(d=data, charts=charts, counts=data.health_counts(), root="")


def render_model(data: PageData) -> str:
    (model,) = data.models
    charts = {model.name: model_charts(model, MODEL_SIZES)}
    template = _environment().get_template("model.html.j2")
    return template.render(d=data, m=model, charts=charts, root="../")
