"""Resampling methods (placeholder)."""

from vtrial.analysis.result import nan_result

ALLOWED_MISSING = ("complete_case", "bocf", "locf")


def permutation(data, *, missing="complete_case", alpha=0.05, scale="pct", rng=None):
    """Not implemented yet."""
    return nan_result("permutation", missing, "not implemented yet")


def bootstrap(data, *, missing="complete_case", alpha=0.05, scale="pct", rng=None):
    """Not implemented yet."""
    return nan_result("bootstrap", missing, "not implemented yet")


def bootstrap_percentile(data, *, missing="complete_case", alpha=0.05, scale="pct", rng=None):
    """Not implemented yet."""
    return nan_result("bootstrap_percentile", missing, "not implemented yet")
