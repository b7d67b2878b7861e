"""Evidently's full HTML report of a drift window: written on demand only.

Our own drift tests decide (checks/drift/) and mlmaint's own page is the
evidence of every alerting window (daemon/evidence/page.py). Evidently's
report, megabytes and seconds to build, is what a data scientist may still
want: `mlmaint evidence NAME --at TIME --evidently`, or once per alert firing
with `[evidence] evidently_on_firing`. evidently is imported only here, inside
the functions, so the daemon starts without it.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from daemon.private import write_private
from daemon.report import csp

if TYPE_CHECKING:
    from evidently.core.report import Snapshot

log = logging.getLogger(__name__)

# Our method names where Evidently registers another.
_EVIDENTLY_NAMES = {"energy": "ed"}
# What Evidently's template writes where the data would go with embed_data=False.
_NO_DATA = "<!-- no embedded data -->"


class EvidenceError(Exception):
    """Evidently's page could not be built safely."""


def evidently_method(method: str) -> str:
    return _EVIDENTLY_NAMES.get(method, method)


def write_drift_evidence(
    reference: pd.DataFrame,
    window: pd.DataFrame,
    *,
    numeric: tuple[str, ...],
    categorical: tuple[str, ...],
    path: Path,
    methods: Mapping[str, str] | None = None,
    thresholds: Mapping[str, float] | None = None,
    drift_share: float = 0.5,
) -> Path:
    """Run `Report([DataDriftPreset()])` on the columns and save its HTML at `path`.

    `methods` and `thresholds` carry the per-column choices of the check (our
    method names), so the report shows the same tests that alerted.
    """
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    columns = [c for c in (*numeric, *categorical) if c in reference and c in window]
    num = [c for c in numeric if c in columns]
    cat = [c for c in categorical if c in columns]
    definition = DataDefinition(numerical_columns=num, categorical_columns=cat)
    ref = Dataset.from_pandas(reference[columns].reset_index(drop=True), data_definition=definition)
    cur = Dataset.from_pandas(window[columns].reset_index(drop=True), data_definition=definition)
    per_method = {c: evidently_method(m) for c, m in (methods or {}).items() if c in columns}
    per_threshold = {c: t for c, t in (thresholds or {}).items() if c in columns}
    preset = DataDriftPreset(
        columns=columns,
        drift_share=drift_share,
        per_column_method=per_method or None,
        per_column_threshold=per_threshold or None,
    )
    snapshot = Report([preset], include_tests=True).run(current_data=cur, reference_data=ref)
    page = evidence_page(snapshot)
    write_private(path, page.encode("utf-8"))
    log.debug("drift evidence written to %s", path)
    return path


def evidence_page(snapshot: Snapshot) -> str:
    """Evidently's standalone page for a run snapshot, safe for data that holds markup.

    `Snapshot.save_html` puts `json.dumps` output raw inside a <script>: a feature
    name or category holding `</script>` ends the script and becomes live markup.
    This builds the same page from Evidently's own pieces (evidently 0.7's
    `render_widgets` and `file_html_template`) with the data escaped for a
    script, and adds a policy that allows only the page's own scripts.
    """
    from evidently.legacy.model.dashboard import DashboardInfo
    from evidently.legacy.model.widget import AdditionalGraphInfo, BaseWidgetInfo
    from evidently.legacy.renderers.html_widgets import group_widget
    from evidently.legacy.utils import NumpyEncoder
    from evidently.legacy.utils.dashboard import TemplateParams, file_html_template

    widgets = [group_widget(title="", widgets=snapshot._widgets), *snapshot._tests_widgets]
    graphs: dict[str, object] = {}
    for widget in widgets:
        for graph in widget.get_additional_graphs():
            info = graph.params if isinstance(graph, AdditionalGraphInfo) else graph
            graphs[str(graph.id)] = info.dict() if isinstance(info, BaseWidgetInfo) else info
    dashboard_id = "metric_" + uuid.uuid4().hex
    dashboard = DashboardInfo(name="Report", widgets=widgets).dict()
    for widget_dict in dashboard["widgets"]:
        widget_dict.pop("additionalGraphs", None)
    params = TemplateParams(
        dashboard_id=dashboard_id,
        dashboard_info=DashboardInfo(name="Report", widgets=[]),
        additional_graphs={},
        embed_data=False,
    )
    data = (
        "<script>\n"
        f"    var {dashboard_id} = {csp.dumps(dashboard, cls=NumpyEncoder)};\n"
        f"    var additional_graphs_{dashboard_id} = {csp.dumps(graphs, cls=NumpyEncoder)};\n"
        "</script>"
    )
    page = str(file_html_template(params))
    if page.count(_NO_DATA) != 1:
        raise EvidenceError("evidently's page template changed: no place for the data")
    page = page.replace(_NO_DATA, data)
    return csp.with_meta_policy(page, csp.evidence_policy(csp.inline_script_hashes(page)))
