"""Render a gathered week: one self-contained HTML page, and an email-safe summary.

Charts are drawn with matplotlib (the Agg/SVG backends, no pyplot state) and
embedded as `data:` URIs, CSS is inline, and nothing in the page points at
another host, so the file reads the same from disk, from the daemon or from an
email attachment. Jinja2 autoescaping is on for every template: feature names,
alert summaries and error texts come from data and are never trusted.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

import jinja2

from daemon.report.model import Health, ModelWeek, WeekReport

if TYPE_CHECKING:
    from matplotlib.axes import Axes

HEALTH_COLOURS = {
    Health.HEALTHY: "#2e7d32",
    Health.DEGRADED: "#ef6c00",
    Health.ALERTING: "#c62828",
    Health.NO_DATA: "#757575",
}
_BLUE = "#1f5fa8"
_ORANGE = "#e0801b"
_GREY = "#8a8a8a"


def environment(package: str, filters: Mapping[str, Callable[..., str]]) -> jinja2.Environment:
    """Strict, autoescaping Jinja2 over `package`'s templates (the report's and the
    page's), with `when` and `health_colour` and the given `filters`."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader(package, "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = when
    env.filters.update(filters)
    env.globals["health_colour"] = lambda h: HEALTH_COLOURS[Health(h)]
    return env


def _environment() -> jinja2.Environment:
    return environment("daemon.report", {"num": _num, "pct": _pct})


def _num(value: float | None, digits: int = 3) -> str:
    if value is None:
        return "–"
    return f"{value:.{digits}g}" if abs(value) < 10**digits else f"{value:,.0f}"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def when(value: datetime | None) -> str:
    return "–" if value is None else value.strftime("%Y-%m-%d %H:%M UTC")


# --------------------------------------------------------------------------- charts


def _series(
    ax: Axes,
    values: Sequence[float | None],
    color: str,
    linestyle: str = "-",
    label: str | None = None,
) -> None:
    xs = [i for i, v in enumerate(values) if v is not None]
    ys = [v for v in values if v is not None]
    if ys:
        ax.plot(
            xs,
            ys,
            marker="o",
            markersize=3,
            linewidth=1.6,
            color=color,
            linestyle=linestyle,
            label=label,
        )


def _axis(ax: Axes, title: str, labels: Sequence[str]) -> None:
    from matplotlib.ticker import MaxNLocator

    # An explicit y skips matplotlib's automatic title placement, a costly layout pass.
    ax.set_title(title, fontsize=9, loc="left", y=1.0, pad=4)
    ax.yaxis.set_major_locator(MaxNLocator(nbins=4))
    ax.set_xticks(range(len(labels)), labels, fontsize=7)
    ax.tick_params(axis="y", labelsize=7)
    ax.set_xlim(-0.5, len(labels) - 0.5)
    ax.grid(axis="y", color="#e4e4e4", linewidth=0.6)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


class ModelCharts:
    """One figure with four axes, redrawn per model.

    Building axes and their ticks is most of matplotlib's cost for small charts;
    reusing them and swapping only the data artists makes a 50-model report about
    twice as fast as a figure per model.
    """

    def __init__(self, labels: Sequence[str]) -> None:
        from matplotlib.figure import Figure

        self.fig = Figure(figsize=(10.5, 2.1))
        self.axes = self.fig.subplots(1, 4)
        # Fixed margins: tight_layout draws the figure twice, which halves throughput.
        self.fig.subplots_adjust(left=0.04, right=0.99, bottom=0.2, top=0.87, wspace=0.28)
        for ax, title in zip(self.axes, _TITLES, strict=True):
            _axis(ax, title, labels)
        self.labels = labels

    def _reset(self) -> None:
        for ax in self.axes:
            for artist in (*ax.lines, *ax.patches):
                artist.remove()
            legend = ax.get_legend()
            if legend is not None:
                legend.remove()
            ax.relim()
            ax.set_autoscaley_on(True)
            ax.set_xlim(-0.5, len(self.labels) - 0.5)

    def render(self, model: ModelWeek) -> str:
        """The model's four daily trends, as an SVG data URI."""
        self._reset()
        drift, perf, latency, errors = self.axes

        xs = [i for i, v in enumerate(model.drift_share) if v is not None]
        drift.bar(xs, [v for v in model.drift_share if v is not None], color=_BLUE, width=0.6)
        if model.drift_threshold is not None:
            drift.axhline(
                model.drift_threshold, color=_ORANGE, linestyle="--", linewidth=1, zorder=3
            )
        drift.set_ylim(0, 1)

        _series(perf, model.performance.realized, color=_BLUE, label="realized")
        _series(perf, model.performance.estimated, color=_ORANGE, linestyle="--", label="estimated")
        if model.performance.baseline is not None:
            perf.axhline(
                model.performance.baseline,
                color=_GREY,
                linestyle=":",
                linewidth=1.2,
                label="baseline",
            )
        metric = model.performance.metric
        perf.set_title(
            "Performance" if metric is None else f"Performance ({metric[:30]})",
            fontsize=9,
            loc="left",
            y=1.0,
            pad=4,
        )
        if perf.lines:
            perf.legend(fontsize=6, frameon=False, loc="lower left")

        _series(latency, model.latency_p95, color=_BLUE)
        if model.latency_threshold is not None:
            latency.axhline(
                model.latency_threshold, color=_ORANGE, linestyle="--", linewidth=1, zorder=3
            )

        _series(errors, model.error_rate, color="#c62828")
        if model.error_threshold is not None:
            errors.axhline(
                model.error_threshold, color=_ORANGE, linestyle="--", linewidth=1, zorder=3
            )

        for ax in (perf, latency, errors):
            ax.autoscale_view(scalex=False)
        errors.set_ylim(bottom=0)

        buffer = io.BytesIO()
        self.fig.savefig(buffer, format="svg", metadata={"Date": None})
        return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


_TITLES = ("Drifted columns (share)", "Performance", "Latency p95 (ms)", "Error rate")


# --------------------------------------------------------------------------- pages


def render_report(report: WeekReport, *, link: str | None = None) -> str:
    """The full report: one HTML document with everything inline."""
    import matplotlib

    # Text as SVG <text> (escaped by matplotlib's XML writer): a third of the size of
    # glyph paths. The SVG is an <img> source, where no script can run anyway.
    matplotlib.rcParams["svg.fonttype"] = "none"
    matplotlib.rcParams["svg.hashsalt"] = "mlmaint"
    labels = [d.strftime("%a\n%d") for d in report.week.days]
    canvas = ModelCharts(labels)
    charts = {m.name: canvas.render(m) for m in report.models}
    template = _environment().get_template("report.html.j2")
    return template.render(r=report, charts=charts, day_labels=labels, link=link)


def render_email(report: WeekReport, *, link: str | None = None) -> str:
    """The email body: tables and inline styles only, no images or style sheets."""
    template = _environment().get_template("email.html.j2")
    return template.render(r=report, link=link)


def render_text(report: WeekReport, *, link: str | None = None) -> str:
    """The plain-text summary for Slack and the email's text part."""
    counts = report.health_counts
    lines = [
        f"Weekly maintenance report {report.week.label}: {len(report.models)} model(s), "
        + ", ".join(f"{counts.get(h.value, 0)} {h.value}" for h in Health),
    ]
    if report.actions:
        lines.append("Actions this week:")
        lines.extend(f"{i}. {a.text}" for i, a in enumerate(report.actions[:5], 1))
        if len(report.actions) > 5:
            lines.append(f"... and {len(report.actions) - 5} more in the report")
    else:
        lines.append(report.nothing_to_do())
    for m in report.models:
        if m.unmonitored:
            lines.append(f"Not monitored: {m.unmonitored}")
        if m.pin is not None and m.pin.holds:
            until = when(m.pin.until) if m.pin.until else "unpinned"
            lines.append(f"{m.name} is pinned to version {m.pin.version} until {until}")
    if link:
        lines.append(f"Full report: {link}")
    return "\n".join(lines)
