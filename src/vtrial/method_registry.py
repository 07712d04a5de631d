"""The analysis methods as plain data: names, descriptions, accepted missing-data strategies.

Naming, describing or checking a method needs none of the method modules
(pandas, SciPy, statsmodels): ``vtrial methods`` and the checks of a power run
read this table, and a method's function is imported when it is first looked
up in :data:`METHODS`. :mod:`vtrial.analysis` re-exports :data:`METHODS`,
:data:`ALLOWED_MISSING` and :func:`list_methods`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping

#: Missing-data strategies, as :data:`vtrial.analysis.missing.STRATEGIES`.
STRATEGIES: tuple[str, ...] = ("complete_case", "bocf", "locf", "multiple_imputation", "delta_mnar")
_CARRIED = ("complete_case", "bocf", "locf")

# name -> (module under vtrial.analysis, function, one-line description)
_REGISTRY: dict[str, tuple[str, str, str]] = {
    "student_t": ("ttests", "student_t", "Student two-sample t-test on 12-month % change"),
    "welch_t": ("ttests", "welch_t", "Welch unequal-variance t-test on 12-month % change"),
    "ancova": ("ancova", "ancova", "ANCOVA: 12-month % change ~ arm + baseline BMD (OLS)"),
    "mmrm": (
        "mmrm",
        "mmrm",
        "MMRM: every post-baseline scan, unstructured covariance, REML, Satterthwaite df",
    ),
    "mann_whitney": (
        "nonparametric",
        "mann_whitney",
        "Wilcoxon rank-sum test with Hodges-Lehmann shift and CI (as R wilcox.test)",
    ),
    "permutation": (
        "resampling",
        "permutation",
        "Re-randomization test of the ANCOVA arm effect, CI by test inversion",
    ),
    "bootstrap": ("resampling", "bootstrap", "Stratified bootstrap of the mean difference, BCa CI"),
    "bootstrap_percentile": (
        "resampling",
        "bootstrap_percentile",
        "Stratified bootstrap of the mean difference, percentile CI",
    ),
}

#: Strategies each method accepts: each method module's own ``ALLOWED_MISSING``,
#: repeated here so that a check needs no method module (a test asserts they agree).
ALLOWED_MISSING: dict[str, tuple[str, ...]] = {
    "student_t": STRATEGIES,
    "welch_t": STRATEGIES,
    "ancova": STRATEGIES,
    "mmrm": ("complete_case",),
    "mann_whitney": _CARRIED,
    "permutation": _CARRIED,
    "bootstrap": _CARRIED,
    "bootstrap_percentile": _CARRIED,
}


class _Methods(Mapping):
    """Method name -> (function, description), importing a method's module on first lookup."""

    def __getitem__(self, name: str) -> tuple[Callable, str]:
        module, function, description = _REGISTRY[name]
        return getattr(importlib.import_module(f"vtrial.analysis.{module}"), function), description

    def __iter__(self) -> Iterator[str]:
        return iter(_REGISTRY)

    def __len__(self) -> int:
        return len(_REGISTRY)

    def __contains__(self, name: object) -> bool:
        return name in _REGISTRY


#: Method name -> (function, one-line description), in registry order.
METHODS: Mapping[str, tuple[Callable, str]] = _Methods()


def list_methods() -> list[tuple[str, str]]:
    """Names and one-line descriptions of the analysis methods.

    Returns
    -------
    list of (str, str)
        In registry order.

    Examples
    --------
    >>> list_methods()[0][0]
    'student_t'
    """
    return [(name, description) for name, (_, _, description) in _REGISTRY.items()]
