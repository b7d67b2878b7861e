"""What a framework finding is (its kind) and which rule made it: the words the
scan, the store, the alerts and the outputs share."""

from __future__ import annotations

import enum


class FindingKind(enum.StrEnum):
    VULNERABLE = "vulnerable"
    YANKED = "yanked"
    OUTDATED = "outdated"
    MAJOR_BEHIND = "major_behind"
    MINOR_BEHIND = "minor_behind"
    STALE = "stale"
    PYTHON_EOL = "python_eol"
    PYTHON_EOL_SOON = "python_eol_soon"
    TORCH_PYTHON = "torch_python"
    TORCH_CUDA = "torch_cuda"
    TORCH_UNKNOWN = "torch_unknown"
    UNPINNED = "unpinned"
    SOURCE_UNAVAILABLE = "source_unavailable"


class Rule(enum.StrEnum):
    """Which rule made a finding: an outdated framework breaks one cadence or the other."""

    ADVISORY = "advisory"
    YANKED = "yanked"
    SECURITY_CADENCE = "security_cadence"
    MAJOR_CADENCE = "major_cadence"
    MAJOR_BEHIND = "major_behind"
    MINOR_BEHIND = "minor_behind"
    MAX_RELEASE_AGE = "max_release_age"
    PYTHON_EOL = "python_eol"
    PYTHON_EOL_SOON = "python_eol_soon"
    TORCH_PYTHON = "torch_python"
    TORCH_CUDA = "torch_cuda"
    TORCH_UNKNOWN = "torch_unknown"
    UNPINNED = "unpinned"
    SOURCE_UNAVAILABLE = "source_unavailable"


# The rule of each kind that has one; OUTDATED names its cadence on the finding.
KIND_RULE: dict[FindingKind, Rule] = {
    FindingKind.VULNERABLE: Rule.ADVISORY,
    FindingKind.YANKED: Rule.YANKED,
    FindingKind.MAJOR_BEHIND: Rule.MAJOR_BEHIND,
    FindingKind.MINOR_BEHIND: Rule.MINOR_BEHIND,
    FindingKind.STALE: Rule.MAX_RELEASE_AGE,
    FindingKind.PYTHON_EOL: Rule.PYTHON_EOL,
    FindingKind.PYTHON_EOL_SOON: Rule.PYTHON_EOL_SOON,
    FindingKind.TORCH_PYTHON: Rule.TORCH_PYTHON,
    FindingKind.TORCH_CUDA: Rule.TORCH_CUDA,
    FindingKind.TORCH_UNKNOWN: Rule.TORCH_UNKNOWN,
    FindingKind.UNPINNED: Rule.UNPINNED,
    FindingKind.SOURCE_UNAVAILABLE: Rule.SOURCE_UNAVAILABLE,
}


# Kinds that make `mlmaint frameworks` exit 1; the rest are informational.
ACTIONABLE = frozenset(
    {
        FindingKind.VULNERABLE,
        FindingKind.YANKED,
        FindingKind.OUTDATED,
        FindingKind.MAJOR_BEHIND,
        FindingKind.MINOR_BEHIND,
        FindingKind.STALE,
        FindingKind.PYTHON_EOL,
        FindingKind.TORCH_PYTHON,
        FindingKind.TORCH_CUDA,
    }
)
