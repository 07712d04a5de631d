"""Rank methods (placeholder)."""

from vtrial.analysis.result import nan_result

ALLOWED_MISSING = ("complete_case", "bocf", "locf")


def mann_whitney(data, *, missing="complete_case", alpha=0.05, scale="pct", rng=None):
    """Not implemented yet."""
    return nan_result("mann_whitney", missing, "not implemented yet")
