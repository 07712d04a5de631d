"""Permutation and bootstrap methods against independent computations.

Permutation: each re-randomized statistic refitted with statsmodels OLS on the
same label draws; the CI checked by re-testing shifted data. Bootstrap: scipy's
BCa interval rebuilt from its bootstrap distribution with vtrial's closed-form
acceleration, the BCa p-value by re-running the interval at level 1 - p, and
the bootstrap SE against the exact plug-in SD of a stratified mean difference.
"""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import special
from test_analysis_helpers import load

from vtrial.analysis.ancova import ancova
from vtrial.analysis.data import to_wide
from vtrial.analysis.missing import single_outcome
from vtrial.analysis.resampling import (
    _acceleration,
    bootstrap,
    bootstrap_percentile,
    permutation,
    permutation_test,
)
from vtrial.analysis.ttests import welch_t
from vtrial.errors import InputError


def _arrays(dataset="trial_small", strategy="complete_case"):
    wide = to_wide(load(dataset))
    y = single_outcome(wide, strategy, "pct")
    keep = ~np.isnan(y)
    return y[keep], wide["treat"].to_numpy()[keep], wide["bmd0"].to_numpy()[keep]


@pytest.mark.parametrize("statistic", ["ancova", "mean_difference"])
def test_permutation_p_value_matches_refits_with_statsmodels(statistic):
    y, treat, bmd0 = _arrays()
    b = 300
    res = permutation(load("trial_small"), n_permutations=b, rng=42, statistic=statistic)
    # The same label draws as the implementation: default_rng(42).permuted(...).
    perms = np.random.default_rng(42).permuted(np.tile(treat, (b, 1)), axis=1)

    def coef(t):
        cols = [np.ones(len(y)), t] + ([bmd0] if statistic == "ancova" else [])
        return sm.OLS(y, np.column_stack(cols)).fit().params[1]

    observed = coef(treat)
    extreme = sum(abs(coef(t)) >= abs(observed) - 1e-12 for t in perms)
    assert res.estimate == pytest.approx(observed, abs=1e-12)
    assert res.p_value == pytest.approx((1 + extreme) / (b + 1), abs=1e-15)
    if statistic == "ancova":
        assert res.estimate == pytest.approx(ancova(load("trial_small")).estimate, abs=1e-12)
    else:
        assert res.estimate == pytest.approx(welch_t(load("trial_small")).estimate, abs=1e-12)


def test_permutation_ci_is_the_set_of_unrejected_shifts():
    y, treat, bmd0 = _arrays("trial_large")
    r = permutation_test(y, treat, bmd0[:, None], n_permutations=999, alpha=0.05, rng=3)
    for end, inside in ((r["ci_low"], +1), (r["ci_high"], -1)):
        eps = 1e-7 * max(1.0, abs(end))
        p_in = permutation_test(
            y - (end + inside * eps) * treat, treat, bmd0[:, None], n_permutations=999, rng=3
        )["p_value"]
        p_out = permutation_test(
            y - (end - inside * eps) * treat, treat, bmd0[:, None], n_permutations=999, rng=3
        )["p_value"]
        assert p_in > 0.05 >= p_out


def test_permutation_options_checked_and_unbounded_ci_noted():
    data = load("trial_small")
    with pytest.raises(InputError, match="statistic='t'.*ancova, mean_difference"):
        permutation(data, statistic="t")
    res = permutation(data, n_permutations=9, rng=1)
    assert np.isinf(res.ci_low) and "n_permutations" in res.note


@pytest.mark.parametrize("alpha", [0.05, 0.2])
def test_bca_interval_rebuilt_from_distribution_with_closed_form_acceleration(alpha):
    from scipy import stats

    y, treat, _ = _arrays("trial_large", "locf")
    a, p = y[treat == 1], y[treat == 0]
    res = stats.bootstrap(
        (a, p),
        lambda x, z, axis=-1: x.mean(axis) - z.mean(axis),
        n_resamples=2000,
        confidence_level=1 - alpha,
        method="BCa",
        rng=np.random.default_rng(9),
    )
    boot = res.bootstrap_distribution
    est = a.mean() - p.mean()
    z0 = special.ndtri((np.sum(boot < est) + np.sum(boot <= est)) / (2 * len(boot)))
    acc = _acceleration(a, p)
    ends = []
    for z in (special.ndtri(alpha / 2), -special.ndtri(alpha / 2)):
        level = special.ndtr(z0 + (z0 + z) / (1 - acc * (z0 + z)))
        ends.append(np.percentile(boot, 100 * level))
    assert ends == pytest.approx([res.confidence_interval.low, res.confidence_interval.high], abs=1e-12)
    ours = bootstrap(load("trial_large"), missing="locf", n_resamples=2000, alpha=alpha, rng=9)
    assert (ours.ci_low, ours.ci_high) == pytest.approx(tuple(ends), abs=1e-12)


@pytest.mark.parametrize("fn", [bootstrap, bootstrap_percentile])
def test_bootstrap_p_value_is_where_the_interval_reaches_zero(fn):
    data = load("trial_small")
    res = fn(data, n_resamples=4000, rng=5)
    assert 0.01 < res.p_value < 0.9
    at_p = fn(data, n_resamples=4000, rng=5, alpha=res.p_value)
    nearest = min(abs(at_p.ci_low), abs(at_p.ci_high))
    # Within the bootstrap distribution's resolution near zero.
    assert nearest < 0.02 * res.se


def test_bootstrap_se_matches_exact_plug_in_sd():
    y, treat, _ = _arrays("trial_large")
    a, p = y[treat == 1], y[treat == 0]
    exact = np.sqrt(a.var(ddof=0) / len(a) + p.var(ddof=0) / len(p))
    res = bootstrap(load("trial_large"), n_resamples=20000, rng=2)
    # Relative MC SE of an SD from B draws is about 1/sqrt(2B) = 0.5%.
    assert res.se == pytest.approx(exact, rel=0.02)
    assert res.estimate == pytest.approx(a.mean() - p.mean(), abs=1e-12)


def _numbers(r):
    return (r.estimate, r.ci_low, r.ci_high, r.p_value)


def test_resampling_is_reproducible_with_rng():
    data = load("trial_small")
    boot = [_numbers(bootstrap(data, n_resamples=500, rng=seed)) for seed in (7, 7, 8)]
    perm = [_numbers(permutation(data, n_permutations=500, rng=seed)) for seed in (7, 7, 8)]
    assert boot[0] == boot[1] and boot[0] != boot[2]
    assert perm[0] == perm[1] and perm[0] != perm[2]
