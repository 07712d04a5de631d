"""MMRM (placeholder until the REML fit lands)."""

from vtrial.analysis.result import nan_result

ALLOWED_MISSING = ("complete_case",)


def mmrm(data, *, missing="complete_case", alpha=0.05, scale="pct", rng=None):
    """Not implemented yet."""
    return nan_result("mmrm", missing, "not implemented yet")
