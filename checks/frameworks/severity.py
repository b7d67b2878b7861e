"""How severe an advisory is: CVSS base scores from the OSV record, else the database's word.

OSV puts severity in a record's `severity` list (and, rarely, an `affected[]`
entry's), as `{"type": "CVSS_V3", "score": "<vector>"}`. The base score of each
vector is computed by Red Hat's `cvss` library (CVSS 2, 3.0/3.1 and 4.0) and the
rating is the library's qualitative word for it. The newest CVSS version present
wins (a GHSA record often carries 3.1 and 4.0 of the same assessment; 4.0 is what
its source publishes now); within one version, the highest score across the
records of one advisory. Without a vector that scores, GitHub's
`database_specific.severity` word ("HIGH", "MODERATE") is used, with no number.
Without either, the severity is `unknown`: never a zero score.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from cvss import CVSS2, CVSS3, CVSS4, CVSSError


class AdvisorySeverity(enum.StrEnum):
    """An advisory's rating, in CVSS's qualitative words, plus `unknown`."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    # A CVSS score of 0.0: the assessment found no impact.
    NONE = "none"
    # Neither a vector that scores nor a database's word: shown as such, never as 0.
    UNKNOWN = "unknown"


# Most severe first. Unknown sits between medium and low: it is not known to be low,
# and the report weighs it as medium (daemon/report/actions.py), neither hidden nor
# alarming.
SEVERITY_ORDER: tuple[AdvisorySeverity, ...] = (
    AdvisorySeverity.CRITICAL,
    AdvisorySeverity.HIGH,
    AdvisorySeverity.MEDIUM,
    AdvisorySeverity.UNKNOWN,
    AdvisorySeverity.LOW,
    AdvisorySeverity.NONE,
)


def severity_rank(label: str) -> int:
    """0 for critical and up: a sort key. A word that is no advisory severity sorts last."""
    try:
        return SEVERITY_ORDER.index(AdvisorySeverity(label))
    except ValueError:
        return len(SEVERITY_ORDER)


class CvssVersion(enum.Enum):
    """The OSV severity types that carry a CVSS vector, oldest first."""

    V2 = "CVSS_V2"
    V3 = "CVSS_V3"
    V4 = "CVSS_V4"


# CVSS 4.0 base metrics: a vector may add threat or environmental metrics (E:U lowers
# the score); the base score is computed from these alone.
_V4_BASE = ("AV", "AC", "AT", "PR", "UI", "VC", "VI", "VA", "SC", "SI", "SA")


@dataclass(frozen=True, kw_only=True)
class Score:
    version: CvssVersion
    vector: str
    score: float
    severity: AdvisorySeverity


@dataclass(frozen=True, kw_only=True)
class Rating:
    """An advisory's severity; `score` and `vector` only where a CVSS vector scored."""

    severity: AdvisorySeverity
    score: float | None = None
    vector: str | None = None


def cvss_method(vector: str) -> str:
    """The CycloneDX rating method of a vector: CVSSv4, CVSSv31, CVSSv3 or CVSSv2."""
    if vector.startswith("CVSS:4."):
        return "CVSSv4"
    if vector.startswith("CVSS:3.1"):
        return "CVSSv31"
    if vector.startswith("CVSS:3."):
        return "CVSSv3"
    return "CVSSv2"


UNKNOWN = Rating(severity=AdvisorySeverity.UNKNOWN)


def _word(text: str) -> AdvisorySeverity:
    # The library's qualitative ratings: "None", "Low", "Medium", "High", "Critical".
    return AdvisorySeverity(text.lower())


def base_score(kind: str, vector: str) -> Score | None:
    """The base score of one OSV severity entry; None for a type or vector that does not score."""
    try:
        version = CvssVersion(kind)
    except ValueError:
        return None
    text = vector.strip()
    try:
        if version is CvssVersion.V4:
            metrics = dict(p.split(":", 1) for p in text.split("/")[1:] if ":" in p)
            prefix = text.split("/", 1)[0]
            base = "/".join([prefix, *(f"{m}:{metrics[m]}" for m in _V4_BASE if m in metrics)])
            v4 = CVSS4(base)
            return Score(
                version=version,
                vector=text,
                score=float(v4.base_score),
                severity=_word(v4.severity),
            )
        scored = CVSS3(text) if version is CvssVersion.V3 else CVSS2(text)
        return Score(
            version=version,
            vector=text,
            score=float(scored.base_score),
            severity=_word(scored.severities()[0]),
        )
    except (CVSSError, ValueError):
        return None


# GitHub's words ("MODERATE" is its medium); other databases use the CVSS words.
_DATABASE_WORDS = {
    "critical": AdvisorySeverity.CRITICAL,
    "high": AdvisorySeverity.HIGH,
    "moderate": AdvisorySeverity.MEDIUM,
    "medium": AdvisorySeverity.MEDIUM,
    "low": AdvisorySeverity.LOW,
}


def database_word(database_specific: Mapping[str, object]) -> AdvisorySeverity | None:
    """The severity a database states in words (`database_specific.severity`), if it is one."""
    word = database_specific.get("severity")
    return _DATABASE_WORDS.get(word.strip().lower()) if isinstance(word, str) else None


def rate(vectors: Iterable[tuple[str, str]], words: Iterable[AdvisorySeverity] = ()) -> Rating:
    """One advisory's rating from its records' (type, vector) entries and database words."""
    scores = [s for kind, vector in vectors if (s := base_score(kind, vector)) is not None]
    if scores:
        newest = max((s.version for s in scores), key=list(CvssVersion).index)
        best = max((s for s in scores if s.version is newest), key=lambda s: s.score)
        return Rating(severity=best.severity, score=best.score, vector=best.vector)
    stated = sorted(set(words), key=SEVERITY_ORDER.index)
    return Rating(severity=stated[0]) if stated else UNKNOWN
