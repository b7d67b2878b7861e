"""A segment's item beside the whole window's on the same subject: told on one line.

A column that drifts in the whole window usually drifts in several of its
segments too. Each is an alert of its own (its own state, id and acknowledgement),
but a message that lists `age` once for the window and once per region reads as
noise: one model with four drifted columns and three regions made sixteen lines.
The renderings (text, HTML, Slack) put a segment's item under the whole window's
item of the same kind, subject and change: `also in 2 segments: region=eu
[CRITICAL] (alert 13): PSI 0.51 above threshold 0.1; region=us [WARNING] (alert
14): PSI 0.38 above threshold 0.1`, each with its own severity and measure. A
segment's item with no such partner (one region decaying alone) keeps its own
line, as does every item of the webhook's JSON, which is for machines.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from daemon.alerts.message import AlertItem, Change

# Between a segment and its subject in an item's subject: "region=eu/age"
# (daemon/checking/findings.py SEGMENT_SEP).
_SEP = "/"

_Key = tuple[str, str, Change]


@dataclass(frozen=True)
class Line:
    """An item as a message shows it, with the segments' items told under it."""

    item: AlertItem
    segments: tuple[tuple[str, AlertItem], ...] = ()

    def also(self) -> str | None:
        """ "also in 2 segments: region=eu [CRITICAL] (alert 13): K-S p_value 1.5e-38
        below threshold 0.00125; region=us [WARNING] (alert 14): ..." — each segment's
        own severity and measure, in its alert's words less what the line says."""
        if not self.segments:
            return None
        head = self.item.summary.split(",")[0]  # "drift of age"
        parts = []
        for label, item in self.segments:
            words = item.summary.removeprefix(f"in {label}: ")
            words = words.removeprefix(f"{head}, ")
            parts.append(f"{label} [{item.mark.upper()}] (alert {item.alert_id}): {words}")
        noun = "segment" if len(parts) == 1 else "segments"
        return f"also in {len(parts)} {noun}: {'; '.join(parts)}"


def _whole_partner(
    item: AlertItem, whole: Mapping[_Key, AlertItem]
) -> tuple[str, AlertItem] | None:
    """The segment's label and the whole window's item `item` repeats, if any. A
    segment's value or a column may hold the separator: every split is tried."""
    at = item.subject.find(_SEP)
    while at != -1:
        label, rest = item.subject[:at], item.subject[at + 1 :]
        partner = whole.get((item.kind, rest, item.change))
        if "=" in label and partner is not None:
            return label, partner
        at = item.subject.find(_SEP, at + 1)
    return None


def folded(items: Iterable[AlertItem]) -> list[Line]:
    """The items as lines, in their order, each segment's repeat under its partner."""
    items = list(items)
    whole = {(i.kind, i.subject, i.change): i for i in items}
    under: dict[int, list[tuple[str, AlertItem]]] = {}
    folded_ids: set[int] = set()
    for item in items:
        found = _whole_partner(item, whole)
        if found is not None and found[1].alert_id != item.alert_id:
            under.setdefault(found[1].alert_id, []).append((found[0], item))
            folded_ids.add(item.alert_id)
    return [
        Line(item, tuple(under.get(item.alert_id, ())))
        for item in items
        if item.alert_id not in folded_ids
    ]
