"""Assurance, one-directional power, Type S/M: against scipy quadrature, closed forms and simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, special, stats

from vtrial import assurance, power, priors
from vtrial.config import load_config, set_key
from vtrial.errors import InputError

NO_DROPOUT = ["dropout.anastrozole=0", "dropout.placebo=0"]


def _student_lower(d, n=44, sd=3.0, alpha=0.05):
    """P(t < -t_crit) for a pooled t-test with n per arm, by scipy.stats.nct.

    scipy's noncentral t CDF is NaN where the probability is below ~1e-20; it is
    then 0 (ncp far above the critical value) or 1.
    """
    df = 2 * n - 2
    crit = stats.t.ppf(1 - alpha / 2, df)
    ncp = d / (sd * math.sqrt(2 / n))
    v = stats.nct.cdf(-crit, df, ncp)
    return v if np.isfinite(v) else float(ncp < -crit)


def _quad_over_prior(f, p, points):
    """Integral of f(d) p.pdf(d) over the real line, split at prior quantiles and ``points``."""
    br = sorted(
        {
            float(p.ppf(q))
            for q in (1e-12, 1e-9, 1e-6, 1e-4, 0.1, 0.5, 0.9, 1 - 1e-4, 1 - 1e-6, 1 - 1e-9, 1 - 1e-12)
        }
        | set(points)
    )
    edges = [-np.inf, *br, np.inf]
    return sum(
        integrate.quad(lambda d: f(d) * p.pdf(d), a, b, epsabs=1e-13, epsrel=1e-12, limit=400)[0]
        for a, b in zip(edges[:-1], edges[1:], strict=True)
    )


@pytest.mark.parametrize("method", ["student_t", "ancova", "welch_t"])
@pytest.mark.parametrize("overrides", [[], NO_DROPOUT])
def test_tails_sum_to_analytic_power(method, overrides):
    n = "trial.n_per_arm=20" if method == "welch_t" else "trial.n_per_arm=44"
    cfg = load_config(overrides=[*overrides, n])
    for d in (-2.46, 0.8):
        up, lo = assurance.directional_power(cfg, method, d)
        ref = power.analytic_power(set_key(cfg, "effects.difference_pct", d), method)
        assert up[0] + lo[0] == pytest.approx(ref, abs=1e-12)
        assert (lo[0] > up[0]) == (d < 0)


def test_welch_tails_in_passes_equal_one_pass(monkeypatch):
    from vtrial import analytic

    cfg = load_config(overrides=["trial.n_per_arm=20", "trial.randomization=simple"])
    d = np.array([-2.46, 0.8])
    whole = assurance.directional_power(cfg, "welch_t", d)
    monkeypatch.setattr(analytic, "WELCH_PAIRS_PER_PASS", 23)
    parts = assurance.directional_power(cfg, "welch_t", d)
    np.testing.assert_allclose(parts, whole, rtol=0, atol=1e-13)


def test_directional_power_student_against_nct():
    cfg = load_config(overrides=NO_DROPOUT)
    d = np.array([-4.0, -2.46, -0.5, 0.0, 1.0, 6.0])
    up, lo = assurance.directional_power(cfg, "student_t", d)
    np.testing.assert_allclose(lo, [_student_lower(x) for x in d], atol=1e-13)
    np.testing.assert_allclose(up, [_student_lower(-x) for x in d], atol=1e-13)


@pytest.mark.parametrize(
    "prior",
    [
        priors.Normal(-2.46, 0.73797),
        priors.Normal(-1.0, 3.0),
        priors.StudentT(-2.46, 0.74, 4.0),
        priors.StudentT(-1.0, 2.0, 1.5),
        priors.TruncatedNormal(-2.46, 0.74, -math.inf, 0.0),
        priors.TruncatedNormal(-2.46, 2.0, -5.0, 1.0),
        priors.Mixture((0.7, 0.3), (-2.46, 0.0), (0.74, 1.0)),
    ],
    ids=lambda p: type(p).__name__,
)
def test_assurance_equals_scipy_quadrature(prior):
    cfg = load_config(overrides=NO_DROPOUT)
    r = assurance.analytic_assurance_detail(cfg, "student_t", prior)
    crit = stats.t.ppf(0.975, 86) * 3 * math.sqrt(2 / 44)
    pts = (-crit, 0.0, crit)
    assert r["direction"] == -1
    assert r["assurance"] == pytest.approx(_quad_over_prior(_student_lower, prior, pts), abs=1e-6)
    assert r["p_wrong_sign"] == pytest.approx(
        _quad_over_prior(lambda d: _student_lower(-d), prior, pts), abs=1e-6
    )


def test_draws_prior_is_the_mean_over_draws():
    cfg = load_config(overrides=NO_DROPOUT)
    draws = np.random.default_rng(2).normal(-2.46, 1.0, 1000)  # > 256 values: spline path
    ref = np.mean([_student_lower(d) for d in draws])
    assert assurance.analytic_assurance(cfg, "student_t", priors.Draws(tuple(draws))) == pytest.approx(
        ref, abs=1e-6
    )
    few = priors.Draws((-3.0, -2.0, -2.0, 0.5))  # few values: exact
    ref = np.mean([_student_lower(d) for d in few.values])
    assert assurance.analytic_assurance(cfg, "student_t", few) == pytest.approx(ref, abs=1e-12)


def _normal_prior_rule(mean, sd, k=400):
    """Nodes and weights of N(mean, sd^2) on mean +/- 12 sd (Gauss-Legendre times the density)."""
    x, w = np.polynomial.legendre.leggauss(k)
    d = mean + 12 * sd * x
    return d, 12 * sd * w * stats.norm.pdf(d, mean, sd)


def _nct_lower(crit, df, ncp):
    v = stats.nct.cdf(-crit, df, ncp)
    return np.where(np.isfinite(v), v, (ncp < -crit).astype(float))


def test_ancova_normal_prior_against_double_quadrature():
    """ANCOVA: noncentral t on N - 3 df with ncp d sqrt(1 - R) / (sd_e h), R ~ Beta(1/2, (N-2)/2).

    Reference: Gauss-Legendre in t = sqrt(R) (which removes the r^(-1/2) singularity)
    times a Gauss-Legendre rule for the normal prior, with scipy.stats.nct.
    """
    from vtrial import model

    cfg = load_config(overrides=[*NO_DROPOUT, "trial.n_per_arm=20"])
    mo = model.moments(cfg)
    sd_e = math.sqrt(mo.cov[1, 1] - mo.cov[0, 1] ** 2 / mo.cov[0, 0])
    big_n, h, b = 40, math.sqrt(2 / 20), (40 - 2) / 2
    crit = stats.t.ppf(0.975, big_n - 3)
    prior = priors.Normal(-2.46, 0.9)
    d, wd = _normal_prior_rule(prior.mean, prior.sd)
    x, wx = np.polynomial.legendre.leggauss(200)
    t, wt = (x + 1) / 2, wx / 2
    dens = 2 * (1 - t**2) ** (b - 1) / special.beta(0.5, b)  # density of sqrt(R)
    ncp = d[None, :] * np.sqrt(1 - t[:, None] ** 2) / (sd_e * h)
    ref = (wt * dens) @ _nct_lower(crit, big_n - 3, ncp) @ wd
    assert assurance.analytic_assurance(cfg, "ancova", prior) == pytest.approx(ref, abs=1e-6)


@pytest.mark.parametrize("method", ["ancova", "welch_t", "student_t"])
def test_vanishing_prior_sd_gives_the_power(method):
    cfg = load_config()  # with dropout and permuted blocks
    a = assurance.analytic_assurance(cfg, method, priors.Normal(-2.46, 1e-7))
    assert a == pytest.approx(power.analytic_power(cfg, method), abs=1e-7)


def test_osc_closed_form_against_quadrature_and_large_sample_t():
    mean, tau, se = -2.46, 0.74, 0.3
    z = stats.norm.ppf(0.975)
    a, w = assurance.normal_assurance(mean, tau, se)
    ref_a = integrate.quad(
        lambda d: stats.norm.cdf(-z - d / se) * stats.norm.pdf(d, mean, tau), -np.inf, np.inf, epsabs=1e-13
    )[0]
    ref_w = integrate.quad(
        lambda d: stats.norm.sf(z - d / se) * stats.norm.pdf(d, mean, tau), -np.inf, np.inf, epsabs=1e-13
    )[0]
    assert a == pytest.approx(ref_a, abs=1e-10)
    assert w == pytest.approx(ref_w, abs=1e-12)
    # The same integral by the package's prior-expectation rule (used for the
    # spline priors and Type S/M).
    p = priors.Normal(mean, tau)
    got = assurance._expect(p, lambda d: stats.norm.cdf(-z - d / se), [-z * se, 0, z * se])
    assert got == pytest.approx(ref_a, abs=1e-10)
    # The t-test assurance tends to the z-test closed form as n grows.
    gaps = []
    for n in (20, 400):
        cfg = load_config(overrides=[*NO_DROPOUT, f"trial.n_per_arm={n}"])
        s = 3 * math.sqrt(2 / n)
        gaps.append(
            abs(
                assurance.analytic_assurance(cfg, "student_t", p)
                - assurance.normal_assurance(mean, tau, s)[0]
            )
        )
    assert gaps[1] < 2e-3 and gaps[1] < gaps[0] / 5


def test_explicit_direction_swaps_tails():
    cfg = load_config(overrides=NO_DROPOUT)
    p = priors.Normal(-0.3, 1.0)
    neg = assurance.analytic_assurance_detail(cfg, "student_t", p)
    pos = assurance.analytic_assurance_detail(cfg, "student_t", p, direction=1)
    assert pos["assurance"] == pytest.approx(neg["p_wrong_sign"], abs=1e-15)
    assert pos["max_assurance"] == pytest.approx(stats.norm.sf(0, -0.3, 1.0))


@pytest.mark.parametrize("df", [12.0, 67.0])
def test_sd_prior_against_nested_quadrature(df):
    """Outer scipy quad over sigma^2 ~ inverse-gamma, inner Gauss-Legendre over the normal prior."""
    cfg = load_config(overrides=NO_DROPOUT)
    dp = priors.DesignPrior(priors.Normal(-2.46, 0.74), priors.ScaledInvChi2(3.0, df))
    ig = stats.invgamma(df / 2, scale=df * 9.0 / 2)  # law of sigma^2
    d, wd = _normal_prior_rule(-2.46, 0.74)
    crit = stats.t.ppf(0.975, 86)
    floor = 2.0  # sqrt(2) x 1% DXA CV, squared: sigma^2 must exceed it

    def inner(v):
        return _nct_lower(crit, 86, d / math.sqrt(v * 2 / 44)) @ wd * ig.pdf(v)

    ref = integrate.quad(inner, floor, np.inf, epsabs=1e-12, limit=400)[0] / ig.sf(floor)
    assert assurance.analytic_assurance(cfg, "student_t", dp) == pytest.approx(ref, abs=1e-6)


def test_sd_prior_with_mass_below_the_measurement_floor_is_refused():
    dp = priors.DesignPrior(priors.Normal(-2.46, 0.74), priors.ScaledInvChi2(1.6, 5.0))
    with pytest.raises(InputError, match="prior.sd_pct_change"):
        assurance.analytic_assurance(load_config(), "student_t", dp)


def test_not_available_is_nan():
    p = priors.default_prior()
    assert math.isnan(assurance.analytic_assurance(load_config(), "mann_whitney", p))
    assert math.isnan(
        assurance.analytic_assurance(load_config(overrides=["dropout.mechanism=MNAR"]), "ancova", p)
    )


def test_sample_size_for_assurance():
    cfg = load_config()
    p = priors.default_prior()
    n = assurance.analytic_sample_size_for_assurance(cfg, "student_t", p, 0.8)

    def a(k):
        return assurance.analytic_assurance(set_key(cfg, "trial.n_per_arm", k), "student_t", p)

    assert a(int(n)) >= 0.8 > a(int(n) - 1)
    with pytest.raises(InputError, match="0.99957"):
        assurance.analytic_sample_size_for_assurance(cfg, "student_t", p, 0.9996)
    mix = priors.Mixture((0.7, 0.3), (-2.46, 0.5), (0.74, 0.3))
    bound = 0.7 * stats.norm.cdf(0, -2.46, 0.74) + 0.3 * stats.norm.cdf(0, 0.5, 0.3)
    assert assurance.max_assurance(mix) == pytest.approx(bound, rel=1e-12)
    with pytest.raises(InputError, match="not reachable"):
        assurance.analytic_sample_size_for_assurance(cfg, "student_t", mix, 0.8)
    with pytest.raises(InputError, match="target assurance"):
        assurance.analytic_sample_size_for_assurance(cfg, "student_t", p, 1.5)


# --------------------------------------------------------------------------- Type S and M


@pytest.mark.parametrize(("d", "s"), [(2.0, 8.1), (-0.5, 1.0), (1.0, 0.5), (3.0, 1.0)])
def test_type_s_m_against_integration(d, s):
    z = stats.norm.ppf(0.975)
    lo = integrate.quad(lambda e: stats.norm.pdf(e, d, s), -np.inf, -z * s, epsabs=1e-14)[0]
    hi = integrate.quad(lambda e: stats.norm.pdf(e, d, s), z * s, np.inf, epsabs=1e-14)[0]
    abs_lo = integrate.quad(lambda e: -e * stats.norm.pdf(e, d, s), -np.inf, -z * s, epsabs=1e-14)[0]
    abs_hi = integrate.quad(lambda e: e * stats.norm.pdf(e, d, s), z * s, np.inf, epsabs=1e-14)[0]
    wrong = lo if d > 0 else hi
    assert assurance.type_s(d, s) == pytest.approx(wrong / (lo + hi), rel=1e-8)
    assert assurance.type_m(d, s) == pytest.approx((abs_lo + abs_hi) / (lo + hi) / abs(d), rel=1e-8)


def test_type_s_m_published_example():
    """Gelman & Carlin (2014): true effect 2, SE 8.1 gives power 0.06 and Type S 0.24."""
    assert round(float(assurance.type_s(2.0, 8.1)), 2) == 0.24
    z = stats.norm.ppf(0.975)
    assert round(stats.norm.sf(z - 2 / 8.1) + stats.norm.cdf(-z - 2 / 8.1), 2) == 0.06


@pytest.mark.slow
def test_type_s_m_monte_carlo():
    rng = np.random.default_rng(8)
    d, s, n = 0.6, 0.5, 400_000
    est = rng.normal(d, s, n)
    sig = np.abs(est) > stats.norm.ppf(0.975) * s
    k = sig.sum()
    ts = np.mean(est[sig] < 0)
    assert abs(ts - assurance.type_s(d, s)) < 3 * math.sqrt(ts * (1 - ts) / k)
    m = np.abs(est[sig]) / d
    assert abs(m.mean() - assurance.type_m(d, s)) < 3 * m.std() / math.sqrt(k)


@pytest.mark.slow
def test_prior_type_s_m_monte_carlo():
    """Prior-averaged Type S/M against replicates drawn from the prior, via assurance_from_replicates."""
    rng = np.random.default_rng(9)
    prior, s, n = priors.Normal(-0.5, 0.6), 0.64, 400_000
    d = prior.sample(n, rng=rng)
    est = rng.normal(d, s)
    sig = np.abs(est) > stats.norm.ppf(0.975) * s
    r = assurance.assurance_from_replicates(sig, est, d, -1)
    ts, tm = assurance.prior_type_s_m(prior, s)
    k = r["n_significant"]
    assert abs(r["type_s"] - ts) < 3 * math.sqrt(ts * (1 - ts) / k)
    e, t = np.abs(est[sig]), np.abs(d[sig])
    se_ratio = np.std(e - r["type_m"] * t) / math.sqrt(k) / t.mean()  # delta method
    assert abs(r["type_m"] - tm) < 3 * se_ratio
    # z-test assurance of the same replicates against the closed form
    a, w = assurance.normal_assurance(-0.5, 0.6, s)
    assert abs(r["assurance"] - a) < 3 * r["assurance_se"]
    assert abs(r["p_wrong_sign"] - w) < 3 * r["p_wrong_sign_se"]


def test_assurance_from_replicates_by_hand():
    r = assurance.assurance_from_replicates(
        np.array([True, True, True, False, True]),
        np.array([-3.0, 2.0, -1.0, -0.2, np.nan]),
        np.array([-2.0, -1.0, 0.0, -1.0, -2.0]),
        -1,
    )
    assert r["reps"] == 5 and r["n_significant"] == 3  # the NaN estimate is a failed fit
    assert r["assurance"] == pytest.approx(2 / 5)
    assert r["p_wrong_sign"] == pytest.approx(1 / 5)
    assert r["assurance_se"] == pytest.approx(math.sqrt(0.4 * 0.6 / 5))
    assert r["type_s"] == pytest.approx((0 + 1 + 0.5) / 3)
    assert r["type_m"] == pytest.approx((3 + 2 + 1) / (2 + 1 + 0))
    empty = assurance.assurance_from_replicates(np.zeros(3, bool), np.zeros(3), -1.0, -1)
    assert empty["assurance"] == 0.0 and math.isnan(empty["type_s"]) and math.isnan(empty["type_m"])
    with pytest.raises(InputError, match="direction"):
        assurance.assurance_from_replicates(np.zeros(3, bool), np.zeros(3), -1.0, 0)


@pytest.mark.slow
def test_simulated_t_tests_agree_with_analytic_assurance():
    """Student t trials with the true difference drawn from the default prior, simulated directly."""
    rng = np.random.default_rng(12)
    reps, n = 20_000, 44
    prior = priors.default_prior()
    d = prior.difference.sample(reps, rng=rng)
    x = rng.normal(0.0, 3.0, (reps, n))
    y = rng.normal(d[:, None], 3.0, (reps, n))
    est = y.mean(1) - x.mean(1)
    sp2 = (x.var(1, ddof=1) + y.var(1, ddof=1)) / 2
    t = est / np.sqrt(sp2 * 2 / n)
    sig = 2 * stats.t.sf(np.abs(t), 2 * n - 2) < 0.05
    r = assurance.assurance_from_replicates(sig, est, d, prior.difference.direction())
    ana = assurance.analytic_assurance_detail(load_config(overrides=NO_DROPOUT), "student_t", prior)
    assert abs(r["assurance"] - ana["assurance"]) < 3 * r["assurance_se"]
    assert abs(r["p_wrong_sign"] - ana["p_wrong_sign"]) < 3 * max(
        r["p_wrong_sign_se"], math.sqrt(ana["p_wrong_sign"] / reps)
    )
