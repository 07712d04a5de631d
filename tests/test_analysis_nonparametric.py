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


# --------------------------------------------------------------------------- fast path against the scalar test


def _scalar_reference(x_list, y_list, alpha=0.05):
    """Per-replicate loop over :func:`hodges_lehmann` (checked against R above), NaN where it has no answer."""
    out = {f: np.full(len(x_list), np.nan) for f in ("estimate", "ci_low", "ci_high", "p_value")}
    for r, (x, y) in enumerate(zip(x_list, y_list, strict=True)):
        if min(len(x), len(y)) < 2:
            continue
        try:
            with np.errstate(invalid="ignore", divide="ignore"):
                res = hodges_lehmann(x, y, alpha=alpha)
        except ZeroDivisionError:  # every value tied: no CI, no p-value
            continue
        for f in out:
            out[f][r] = res[f]
    return out


def _assert_matches_scalar(res, x_list, y_list, alpha=0.05):
    ref = _scalar_reference(x_list, y_list, alpha)
    assert np.array_equal(res["nx"], [len(x) for x in x_list])
    assert np.array_equal(res["ny"], [len(y) for y in y_list])
    for f in ("estimate", "ci_low", "ci_high"):
        # bit for bit: the roots of a step function leave no room for rounding
        assert np.array_equal(res[f], ref[f], equal_nan=True), (f, np.flatnonzero(res[f] != ref[f]))
    # p-values: the scalar test sums the exact null law directly and the fast
    # path from cumulative tables, so they may differ in the last bits
    assert np.array_equal(np.isnan(res["p_value"]), np.isnan(ref["p_value"]))
    ok = ~np.isnan(ref["p_value"])
    np.testing.assert_allclose(res["p_value"][ok], ref["p_value"][ok], rtol=1e-14, atol=0)


@pytest.mark.slow
@pytest.mark.parametrize(
    "overrides",
    [
        ["trial.n_per_arm=30"],  # exact branch
        ["trial.n_per_arm=60"],  # normal branch, 50 or more in most arms, dropout
        ["trial.n_per_arm=150", "dropout.mechanism=MNAR"],
        ["trial.n_per_arm=60", "analysis.missing=bocf"],  # tied zeros
    ],
)
def test_mann_whitney_vec_bit_identical_to_scalar_loop(overrides):
    cfg = load_config(overrides=overrides)
    reps = 300
    block = samplers.per_man_block(cfg, reps, np.random.SeedSequence([11, len(overrides)]), need_y6=True)
    missing, scale = cfg["analysis"]["missing"], cfg["analysis"]["scale"]
    rep = mann_whitney_vec(block, missing, scale, 0.05)
    samples = []
    for a in (1, 0):
        y, w = samplers.outcome_from_bmd(block, a, missing, scale)
        samples.append([y[:, r][w[:, r]] for r in range(reps)])
    res = {
        "estimate": rep.estimate, "ci_low": rep.ci_low, "ci_high": rep.ci_high, "p_value": rep.p_value,
        "nx": rep.n_anastrozole, "ny": rep.n_placebo,
    }  # fmt: skip
    _assert_matches_scalar(res, *samples)
    assert np.isfinite(rep.ci_low).all()


def _padded(samples, width):
    out = np.full((len(samples), width), np.nan)
    for i, s in enumerate(samples):
        out[i, : len(s)] = np.sort(s)
    return out


@pytest.mark.slow
@pytest.mark.parametrize(("n", "decimals"), [(20, 1), (60, 1), (150, 0), (150, 2)])
def test_mw_sorted_rounded_data_bit_identical_to_scalar_loop(n, decimals):
    # Rounded values: ties within and across the arms, and shifts of the root
    # search at which x - d equals some y (multiples of the rounding step).
    from vtrial.analysis.nonparametric import _mw_sorted

    rng = np.random.default_rng([n, decimals])
    reps = 200
    x_list = [np.round(rng.normal(-1.0, 3.0, n - rng.integers(0, n // 3)), decimals) for _ in range(reps)]
    y_list = [np.round(rng.normal(0.0, 3.0, n - rng.integers(0, n // 3)), decimals) for _ in range(reps)]
    x_list[0] = y_list[0] = np.zeros(n)  # all tied: no CI, no p-value
    x_list[1] = np.array([1.0])  # one man: nothing
    res = _mw_sorted(_padded(x_list, n), _padded(y_list, n), 0.05)
    _assert_matches_scalar(res, x_list, y_list)
    assert np.isnan(res["ci_low"][:2]).all() and np.isfinite(res["ci_low"][2:]).all()


def _random_pooled(rng, reps, nxm, nym, shift, decimals):
    """Samples of 2 to nxm (x, mean shift) and 2 to nym (y) normals, rounded if asked, and their pooled rows."""
    from vtrial.analysis.nonparametric import _within_ties

    x_list = [rng.normal(shift, 3.0, rng.integers(2, nxm + 1)) for _ in range(reps)]
    y_list = [rng.normal(0.0, 3.0, rng.integers(2, nym + 1)) for _ in range(reps)]
    if decimals is not None:
        x_list = [np.round(x, decimals) for x in x_list]
        y_list = [np.round(y, decimals) for y in y_list]
    xs, ys = _padded(x_list, nxm), _padded(y_list, nym)
    nx = np.array([len(x) for x in x_list])
    ny = np.array([len(y) for y in y_list])
    return x_list, y_list, np.concatenate([xs, ys], axis=1), nx, ny, _within_ties(xs) + _within_ties(ys)


@pytest.mark.parametrize("decimals", [None, 1])
def test_shifted_counts_equal_pairwise_counts(decimals):
    # #(x - d > y), #(x - d == y) and the tie term of (x - d, y) by brute force
    # over the pairs and the groups of equal values, at shifts that make x - d
    # hit y values and at shifts between, over more rows than one merge chunk.
    from vtrial.analysis.nonparametric import _shifted_counts

    rng = np.random.default_rng(7)
    reps, nxm = 1500, 40
    x_list, y_list, pooled, nx, ny, base = _random_pooled(rng, reps, nxm, 50, 0.0, decimals)
    # a pairwise difference (x - d == y often holds exactly there) or a random shift
    d = np.array(
        [
            x[0] - y[-1] if r % 3 == 0 else rng.normal()
            for r, (x, y) in enumerate(zip(x_list, y_list, strict=True))
        ]
    )
    rows = rng.permutation(reps)
    gt, n_eq, ties, k = _shifted_counts(pooled, nxm, rows, nx[rows], ny[rows], d[rows], base[rows])
    for j, r in enumerate(rows):
        xd, y = x_list[r] - d[r], y_list[r]
        assert gt[j] == np.sum(xd[:, None] > y[None, :])
        assert n_eq[j] == np.sum(xd[:, None] == y[None, :])
        _, t = np.unique(np.concatenate([xd, y]), return_counts=True)
        assert ties[j] == np.sum(t**3 - t)
        below = np.sum(np.sort(xd)[:, None] > y[None, :], axis=1)  # K_i: y values below x_(i) - d
        assert k[j].tolist() == below.tolist() + [len(y)] * (nxm - len(xd))
    assert (n_eq > 0).sum() > reps // 10


@pytest.mark.parametrize("decimals", [None, 1])
def test_shift_search_candidate_pairs_equal_merges(decimals):
    # The root searches' statistic from candidate pairs equals the one from a
    # merge at every point, bit for bit: points inside narrowing brackets,
    # points equal to pairwise differences (x_i - d == y_j), points outside the
    # bracket (merged for good), problems leaving the search at random.
    from vtrial.analysis import nonparametric as npm

    rng = np.random.default_rng(13)
    reps, nxm = 300, 60
    x_list, y_list, pooled, nx, ny, base = _random_pooled(rng, reps, nxm, 70, -1.0, decimals)
    mn, big_n = (nx * ny).astype(float), (nx + ny).astype(float)
    work = npm._merge_buffer(pooled.shape[1])
    zqs, corrects = (1.96, 0.0), (True, False)
    search = npm._ShiftSearch(pooled, nxm, nx, ny, base, mn, big_n, work, np.arange(reps), zqs, corrects)

    def merged_value(d, idx):
        rows = idx % reps
        gt, n_eq, ties, _ = npm._shifted_counts(pooled, nxm, rows, nx[rows], ny[rows], d, base[rows], work)
        dz, s = npm._standardize(gt, n_eq, ties, mn[rows], big_n[rows])
        zq, correct = np.array(zqs)[idx // reps], np.array(corrects)[idx // reps]
        return (dz - np.where(correct, np.sign(dz) * 0.5, 0.0)) / s - zq

    lo = np.array([x.min() - y.max() for x, y in zip(x_list, y_list, strict=True)])
    hi = np.array([x.max() - y.min() for x, y in zip(x_list, y_list, strict=True)])
    ends = search.ends(lo, hi)
    idx = np.arange(2 * reps)
    for value, d in zip(ends, (lo, hi), strict=True):
        assert np.array_equal(value, merged_value(np.tile(d, 2), idx))
    low, high = np.tile(lo, 2), np.tile(hi, 2)
    for _ in range(30):
        d = low + (high - low) * rng.uniform(0.1, 0.9, len(idx))
        # a pairwise difference inside the bracket: x_i - d often equals y_j there
        pair = np.array([x_list[r % reps][0] - y_list[r % reps][-1] for r in idx])
        pair_inside = (pair > low) & (pair < high)
        d = np.where(pair_inside & (rng.random(len(idx)) < 0.3), pair, d)
        # next to the lower end: x_i - d may still equal the y_j that x_i - L equalled
        d = np.where(rng.random(len(idx)) < 0.2, np.nextafter(low, high), d)
        d = np.where(rng.random(len(idx)) < 0.005, high + 1.0, d)  # outside the bracket
        assert np.array_equal(search.f(d, idx), merged_value(d, idx))
        c = np.where(rng.random(len(idx)) < 0.5, low, high)
        search.narrow(idx, d, c)
        low, high = np.where(c > d, d, low), np.where(c > d, high, d)
        keep = rng.random(len(idx)) < 0.97  # problems whose search ended
        idx, low, high = idx[keep], low[keep], high[keep]
    assert (search.mode == 1).sum() > reps and (search.mode == 2).any()
