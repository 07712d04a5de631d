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
from engine_helpers import compare
from scipy import stats
from test_analysis_helpers import DATASETS, load, r_reference

from vtrial import samplers
from vtrial.analysis.data import to_wide
from vtrial.analysis.missing import single_outcome
from vtrial.analysis.nonparametric import hodges_lehmann, mann_whitney, mann_whitney_vec, wilcox_counts
from vtrial.config import load_config

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


# --------------------------------------------------------------------------- many replicates (power engine)


@pytest.mark.parametrize(
    "overrides",
    [
        [],  # exact branch (under 50 per arm, no ties)
        ["analysis.missing=bocf"],  # tied zeros: normal branch, zeroin roots
        ["analysis.missing=locf", "dropout.mechanism=MNAR"],
        ["trial.n_per_arm=60", "dropout.anastrozole=0", "dropout.placebo=0"],  # 50+ per arm
        ["trial.n_per_arm=4", "dropout.anastrozole=0.5", "dropout.placebo=0.5"],  # failures
        ["analysis.scale=absolute", "analysis.missing=bocf"],
    ],
)
def test_mann_whitney_equals_reference(overrides):
    cfg = load_config(overrides=overrides)
    block = samplers.per_man_block(cfg, 30, np.random.SeedSequence([5, len(overrides)]), need_y6=True)
    worst = compare(block, cfg, ["mann_whitney"], 30)
    assert worst["mann_whitney"] < 1e-10, worst


def test_mann_whitney_normal_branch_p_matches_scipy():
    """Rank-sum p-value with ties equals scipy's asymptotic test with tie and continuity correction."""
    cfg = load_config(overrides=["analysis.missing=bocf"])  # many tied zeros
    block = samplers.per_man_block(cfg, 30, np.random.SeedSequence(5), need_y6=True)
    rep = mann_whitney_vec(block, "bocf", "pct", 0.05)
    for r in range(30):
        ys = []
        for a in (0, 1):
            y, w = samplers.outcome_from_bmd(block, a, "bocf", "pct")
            ys.append(y[:, r][w[:, r]])
        ref = stats.mannwhitneyu(ys[1], ys[0], method="asymptotic", use_continuity=True)
        assert rep.p_value[r] == pytest.approx(ref.pvalue, rel=1e-10, abs=1e-14)


def test_mann_whitney_p_only_keeps_the_p_values():
    # The sample-size search asks only for p-values; they must be the very
    # p-values of the full computation, in both of R's branches.
    from vtrial.engine import run_block

    for n in (20, 60):
        cfg = load_config(overrides=[f"trial.n_per_arm={n}", "analysis.methods=[mann_whitney]"])
        full = run_block(cfg, "0123456789", 0, 300, ["mann_whitney"])["mann_whitney"]
        quick = run_block(cfg, "0123456789", 0, 300, ["mann_whitney"], p_only=True)["mann_whitney"]
        assert np.array_equal(full.p_value, quick.p_value, equal_nan=True)
        assert np.isnan(quick.ci_low).all() and np.isfinite(full.ci_low).any()
