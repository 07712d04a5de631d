"""Winner's-curse adjustment: conditional MLE, its SD and the conditional interval."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, optimize, stats

from vtrial import selection

CASES = [(-2.46, 0.73797, 0.05), (2.46, 0.73797, 0.05), (-2.1, 1.0, 0.05), (3.0, 0.9, 0.01), (-1.7, 0.8, 0.1)]


def _neg_loglik(mu, x, s, alpha):
    """Truncated-normal likelihood written directly with scipy.stats."""
    c = stats.norm.ppf(1 - alpha / 2)
    sel = stats.norm.cdf(-c - mu / s) + stats.norm.sf(c - mu / s)
    return -(stats.norm.logpdf((x - mu) / s) - np.log(sel))


@pytest.mark.parametrize(("x", "s", "alpha"), CASES)
def test_mle_equals_direct_maximisation(x, s, alpha):
    grid = np.linspace(-3 * abs(x), 3 * abs(x), 6001)
    best = grid[np.argmin(_neg_loglik(grid, x, s, alpha))]
    step = grid[1] - grid[0]
    res = optimize.minimize_scalar(
        _neg_loglik, bounds=(best - step, best + step), args=(x, s, alpha), method="bounded",
        options={"xatol": 1e-11},
    )  # fmt: skip
    assert selection.conditional_mle(x, s, alpha) == pytest.approx(res.x, abs=1e-6)
    # shrunk towards zero, same sign
    assert 0 < selection.conditional_mle(x, s, alpha) / x < 1


@pytest.mark.parametrize("theta", [-1.5, 0.0, 0.7, 2.0, 4.5])
def test_conditional_moments_against_quadrature(theta):
    c = 1.959964
    sel = stats.norm.cdf(-c - theta) + stats.norm.sf(c - theta)

    def moment(k):
        f = lambda z: z**k * stats.norm.pdf(z - theta)  # noqa: E731
        return (
            integrate.quad(f, -np.inf, -c, epsabs=1e-13)[0] + integrate.quad(f, c, np.inf, epsabs=1e-13)[0]
        ) / sel

    m, v = selection.conditional_moments(theta, c)
    assert m == pytest.approx(moment(1), abs=1e-9)
    assert v == pytest.approx(moment(2) - moment(1) ** 2, abs=1e-8)


@pytest.mark.parametrize(("x", "s", "alpha"), CASES)
def test_conditional_se_is_observed_information(x, s, alpha):
    """SD = 1 / sqrt(-d2 loglik / dmu2) at the MLE, by central differences."""
    mle = selection.conditional_mle(x, s, alpha)
    h = 1e-3 * s
    d2 = (
        _neg_loglik(mle + h, x, s, alpha)
        - 2 * _neg_loglik(mle, x, s, alpha)
        + _neg_loglik(mle - h, x, s, alpha)
    ) / h**2
    assert selection.conditional_se(x, s, alpha) == pytest.approx(1 / math.sqrt(d2), rel=1e-5)


@pytest.mark.parametrize(("x", "s", "alpha"), CASES)
def test_interval_limits_invert_the_conditional_cdf(x, s, alpha):
    lo, hi = selection.conditional_interval(x, s, alpha, level=0.9)
    c = stats.norm.ppf(1 - alpha / 2)

    def cdf(mu):
        th = mu / s
        sel = stats.norm.cdf(-c - th) + stats.norm.sf(c - th)
        z = x / s
        below = (
            stats.norm.cdf(z - th)
            if z < 0
            else stats.norm.cdf(-c - th) + stats.norm.cdf(z - th) - stats.norm.cdf(c - th)
        )
        return below / sel

    assert cdf(lo) == pytest.approx(0.95, abs=1e-9)
    assert cdf(hi) == pytest.approx(0.05, abs=1e-9)
    assert lo < selection.conditional_mle(x, s, alpha) < hi


@pytest.mark.slow
@pytest.mark.parametrize("theta", [0.0, 1.0, 2.5, 4.0])
def test_interval_has_exact_conditional_coverage(theta):
    """Draw z ~ N(theta, 1) given |z| > c; the 95% interval covers theta within 3 MC SEs."""
    c = stats.norm.ppf(0.975)
    rng = np.random.default_rng(int(theta * 10) + 1)
    z = rng.normal(theta, 1.0, 20_000)
    z = z[np.abs(z) > c][:4000]
    if len(z) < 4000:  # theta = 0 selects only 5%: top up
        more = rng.normal(theta, 1.0, 100_000)
        z = np.concatenate([z, more[np.abs(more) > c]])[:4000]
    cover = np.mean([lo <= theta <= hi for lo, hi in (selection.conditional_interval(v, 1.0) for v in z)])
    assert abs(cover - 0.95) < 3 * math.sqrt(0.95 * 0.05 / len(z))


def test_unselected_estimate_is_rejected():
    with pytest.raises(ValueError, match="not selected"):
        selection.conditional_mle(-1.0, 0.74)
