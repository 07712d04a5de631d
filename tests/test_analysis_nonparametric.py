"""Mann-Whitney / Hodges-Lehmann against R wilcox.test(conf.int = TRUE) and scipy.

The fixtures cover R's exact branch (no ties, both arms < 50), the normal
approximation with ties (BOCF zeros, identical BMD pairs, rounded g/cm2
changes) and the normal approximation for an arm of 50 or more men.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats
from test_analysis_helpers import DATASETS, load, r_reference

from vtrial.analysis.data import to_wide
from vtrial.analysis.missing import single_outcome
from vtrial.analysis.nonparametric import hodges_lehmann, mann_whitney, wilcox_counts

CASES = [
    (d, s, sc) for d in DATASETS for s in ("complete_case", "bocf", "locf") for sc in ("pct", "absolute")
]


def _samples(dataset, strategy, scale):
    wide = to_wide(load(dataset))
    y = single_outcome(wide, strategy, scale)
    arm = wide["arm"].to_numpy()
    return y[(arm == "anastrozole") & ~np.isnan(y)], y[(arm == "placebo") & ~np.isnan(y)]


def test_fixtures_cover_both_r_branches():
    ref = r_reference()
    flags = [ref[f"{d}/{s}/{sc}/mann_whitney"]["exact"] for d, s, sc in CASES]
    assert any(flags) and not all(flags)
    a, p = _samples("trial_large", "complete_case", "pct")
    assert max(len(a), len(p)) >= 50 and len(np.unique(np.concatenate([a, p]))) == len(a) + len(p)


@pytest.mark.parametrize(("dataset", "strategy", "scale"), CASES)
def test_mann_whitney_matches_r(dataset, strategy, scale):
    ref = r_reference()[f"{dataset}/{strategy}/{scale}/mann_whitney"]
    res = mann_whitney(load(dataset), missing=strategy, scale=scale)
    for field in ("estimate", "ci_low", "ci_high", "p_value"):
        assert getattr(res, field) == pytest.approx(ref[field], rel=0, abs=1e-12), field
    assert math.isnan(res.se) and math.isnan(res.df)
    a, p = _samples(dataset, strategy, scale)
    raw = hodges_lehmann(a, p)
    assert raw["statistic"] == ref["statistic"]
    assert raw["exact"] == ref["exact"]


@pytest.mark.parametrize(("dataset", "strategy", "scale"), CASES)
def test_mann_whitney_p_value_matches_scipy(dataset, strategy, scale):
    a, p = _samples(dataset, strategy, scale)
    exact = hodges_lehmann(a, p)["exact"]
    ref = stats.mannwhitneyu(a, p, alternative="two-sided", method="exact" if exact else "asymptotic")
    res = mann_whitney(load(dataset), missing=strategy, scale=scale)
    assert res.p_value == pytest.approx(ref.pvalue, rel=1e-9, abs=1e-14)


@pytest.mark.parametrize(("m", "n"), [(1, 1), (2, 3), (4, 3), (5, 5)])
def test_wilcox_counts_by_enumeration(m, n):
    counts = np.zeros(m * n + 1, dtype=int)
    for chosen in itertools.combinations(range(m + n), m):
        counts[sum(chosen) - m * (m - 1) // 2] += 1
    assert wilcox_counts(m, n).tolist() == counts.tolist()


def test_wilcox_counts_large_sizes_use_exact_integers():
    # Beyond int64 the counts are Python integers: they must still sum to
    # C(m + n, m) exactly and be symmetric, and match R's dwilcox-based p-value
    # through the exact-branch fixture (trial_large complete case).
    counts = wilcox_counts(33, 36)
    assert sum(int(c) for c in counts) == math.comb(69, 33)
    assert counts.tolist() == counts[::-1].tolist()
    small = wilcox_counts(12, 13)
    assert small.dtype == np.int64 and int(small.sum()) == math.comb(25, 12)


def test_exact_ci_uses_pairwise_differences_order_statistics():
    # 5 vs 4, no ties: qwilcox(0.025, 5, 4) = 2, so the 95% CI is the 2nd
    # smallest and 2nd largest of the 20 pairwise differences (as R).
    x = np.array([1.0, 2.5, 3.1, 4.7, 6.2])
    y = np.array([0.2, 1.4, 2.2, 3.9])
    diffs = np.sort(np.subtract.outer(x, y).ravel())
    res = hodges_lehmann(x, y)
    assert res["exact"]
    assert (res["ci_low"], res["ci_high"]) == (diffs[1], diffs[-2])
    assert res["estimate"] == np.median(diffs)
