"""Assurance (probability of success under a design prior), Type S and Type M errors.

Definitions (``docs/assurance.md`` has the derivations):

assurance
    ``P(the trial is significant at two-sided alpha AND its estimate has the
    sign the prior favours)``, averaged over the design prior of the true
    difference (and of the SD, if given). The favoured sign is the sign of
    the prior median: negative (anastrozole loses bone) for the default prior.
p_wrong_sign
    the same probability for the other sign. ``assurance + p_wrong_sign`` is
    the prior-averaged two-sided power.
max_assurance
    the limit of the assurance as n grows: ``P_prior(favoured sign) +
    (alpha / 2) P_prior(difference = 0)``. A target at or above it cannot be
    reached by any sample size.
Type S, Type M (Gelman & Carlin 2014)
    for a true difference ``D`` and an estimate ``N(D, s^2)``: the probability
    that a significant estimate has the wrong sign, and the expected
    ``|estimate| / |D|`` given significance (exaggeration ratio), closed forms
    of Lu, Qiu & Deng (2018). Under a prior, Type S is
    ``P(sign(estimate) != sign(D) | significant)`` and Type M the ratio
    ``E[|estimate| | significant] / E[|D| | significant]`` (a ratio of
    means: the mean of the per-trial ratio is infinite whenever the prior has
    a positive density at 0).

Analytic assurance uses the one-directional power of each test: the
noncentral t gives each tail. Integrating over a normal prior ``N(m, tau^2)``
is exact without quadrature, because the estimate is then marginally
``N(m, se^2 + tau^2)`` and independent of the variance estimate: the t
statistic divided by ``k = sqrt(1 + tau^2 / se^2)`` is noncentral t with
noncentrality ``m / (se k)``, so each tail is the noncentral t CDF at
``-t_crit / k``. Mixtures are weighted sums, the t prior is a scale mixture
of normals (Gauss-Legendre on the probability scale of its chi-square),
and truncated-normal and draws priors integrate a cubic spline of the
directional power on a grid that is fine (SE/8) where the power changes.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import pandas as pd
from scipy import special

from vtrial import analytic, engine, model, power
from vtrial import config as config_mod
from vtrial import trial as trial_mod
from vtrial.errors import InputError
from vtrial.priors import DesignPrior, Draws, Mixture, Normal, StudentT

#: Methods with an analytic (one-directional) power.
ANALYTIC_METHODS = ("student_t", "welch_t", "ancova")


def _leggauss01(k: int) -> tuple[np.ndarray, np.ndarray]:
    x, w = np.polynomial.legendre.leggauss(k)
    return (x + 1) / 2, w / 2


@lru_cache(maxsize=256)
def _jacobi01(k: int, a: float) -> tuple[np.ndarray, np.ndarray]:
    # Nodes for R ~ Beta(1/2, a + 1) on (0, 1), as in analytic.analytic_power.
    x, w = special.roots_jacobi(k, a, -0.5)
    return (1 + x) / 2, w / w.sum()


def _graded_rule(k: int) -> tuple[np.ndarray, np.ndarray]:
    """Composite k-node Gauss-Legendre rule on (0, 1), panels graded towards both ends."""
    edges = np.array([0, 1e-8, 1e-6, 1e-4, 1e-3, 1e-2, 0.05, 0.2, 0.5, 0.8, 0.95, 0.99, 0.999,
                      1 - 1e-4, 1 - 1e-6, 1 - 1e-8, 1])  # fmt: skip
    x, wx = _leggauss01(k)
    a, b = edges[:-1, None], edges[1:, None]
    return (a + (b - a) * x).ravel(), ((b - a) * wx).ravel()


# --------------------------------------------------------------------------- directional power


def _unavailable(cfg: dict, method: str) -> bool:
    forced = {**cfg, "simulation": {**cfg["simulation"], "exact_shortcut": "auto"}}
    return method not in ANALYTIC_METHODS or not engine.exact_valid(forced, method)[0]


def _tails(cfg: dict, method: str, mean, var, memo: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One-directional power averaged over normal true differences ``N(mean, var)``.

    ``mean`` and ``var`` are arrays of equal shape (``var`` 0: a fixed
    difference). Returns ``(upper, lower)``: the probabilities of a significant
    result with a positive and with a negative estimate, each averaged over the
    law of the analysed arm sizes exactly as :func:`vtrial.analytic.analytic_power`.
    ``memo`` (a dict, or None) keeps the conditional tails of each arm-size
    pair for later calls on designs that differ only in n (the laws of
    neighbouring sizes share most pairs); results do not depend on it.
    """
    mean = np.atleast_1d(np.asarray(mean, dtype=float))
    var = np.broadcast_to(np.asarray(var, dtype=float), mean.shape)
    mo = model.moments(cfg)
    alpha = float(cfg["analysis"]["alpha"])
    n0, n1, p = analytic.analysable_law(cfg, method)
    zero = np.zeros(mean.shape)
    if not len(p):
        return zero, zero.copy()
    sigma = math.sqrt(mo.cov[1, 1])
    if method == "welch_t":
        return _welch_tails(n0, n1, p, sigma, alpha, mean, var)
    sd_e = math.sqrt(mo.cov[1, 1] - mo.cov[0, 1] ** 2 / mo.cov[0, 0])
    # The t laws depend on the arm sizes only through n0 + n1 and 1/n0 + 1/n1,
    # so (n0, n1) and (n1, n0) share them: evaluate each distinct pair once.
    (m0, m1), inverse = _distinct_pairs(n0, n1)
    memo = {} if memo is None else memo
    context = (method, alpha, sigma, sd_e, mean.shape, mean.tobytes(), var.tobytes())
    keys = [(context, *sorted((a, b))) for a, b in zip(m0.tolist(), m1.tolist(), strict=True)]
    new = np.array([k not in memo for k in keys], dtype=bool)
    if new.any():
        parts = _pair_tails(method, m0[new], m1[new], sigma, sd_e, alpha, mean, var)
        for k, *vals in zip([k for k, n in zip(keys, new, strict=True) if n], *parts, strict=True):
            memo[k] = vals
    up_w, lo_w, wr = (np.stack([memo[k][i] for k in keys])[inverse] for i in range(3))
    w = p[:, None] * wr
    return np.tensordot(w, up_w, axes=w.ndim), np.tensordot(w, lo_w, axes=w.ndim)


def _pair_tails(method, n0, n1, sigma, sd_e, alpha, mean, var):
    """Conditional upper and lower tails per arm-size pair (and ANCOVA node), with node weights.

    Returns three arrays ``(upper, lower, weight)`` of shapes ``(P, J) + mean.shape``,
    ``(P, J) + mean.shape`` and ``(P, J)`` (J = 1 for the t-test, the 32 nodes of
    the ANCOVA correlation otherwise).
    """
    h = np.sqrt(1 / n0 + 1 / n1)
    if method == "student_t":
        df = (n0 + n1 - 2)[:, None]
        scale = (sigma * h)[:, None]
        wr = np.ones((len(n0), 1))
    else:
        big_n = n0 + n1
        r = np.empty((len(n0), 32))
        wr = np.empty((len(n0), 32))
        for nn in np.unique(big_n):
            sel = big_n == nn
            r[sel], wr[sel] = _jacobi01(32, (nn - 4) / 2)
        df = (big_n - 3)[:, None]
        scale = sd_e * h[:, None] / np.sqrt(1 - r)
    crit = special.stdtrit(df, 1 - alpha / 2)[..., None]
    k = np.sqrt(1 + var / scale[..., None] ** 2)
    ncp = mean / (scale[..., None] * k)
    return nct_cdf(df[..., None], -ncp, -crit / k), nct_cdf(df[..., None], ncp, -crit / k), wr


def _distinct_pairs(n0: np.ndarray, n1: np.ndarray):
    """Arm-size pairs up to order, as ``((m0, m1), inverse)``: ``{n0, n1} == {m0, m1}[inverse]``.

    Each pair is kept as first met, so ``1 / m0 + 1 / m1`` reproduces the
    original ``1 / n0 + 1 / n1`` exactly (floating addition commutes).

    Examples
    --------
    >>> (m0, m1), inv = _distinct_pairs(np.array([3.0, 4.0, 5.0]), np.array([4.0, 3.0, 5.0]))
    >>> m0.tolist(), m1.tolist(), inv.tolist()
    ([3.0, 5.0], [4.0, 5.0], [0, 0, 1])
    """
    key = np.stack([np.minimum(n0, n1), np.maximum(n0, n1)], axis=1)
    _, first, inverse = np.unique(key, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.ravel()
    order = np.argsort(first)  # distinct pairs in order of first appearance
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    keep = first[order]
    return (n0[keep], n1[keep]), rank[inverse]


def nct_cdf(df, ncp, t):
    """Noncentral t CDF ``P(T <= t)``, robust in the far tails.

    ``scipy.special.nctdtr`` (scipy 1.17) returns NaN where the probability is
    below about 1e-20 or above 1 - 1e-20 (e.g. ``nctdtr(86, 12, -1.99)``);
    there the answer is 0 when ``ncp > t`` and 1 otherwise.

    Examples
    --------
    >>> float(nct_cdf(86.0, 12.0, -1.99)), float(nct_cdf(86.0, -12.0, 1.99))
    (0.0, 1.0)
    """
    r = special.nctdtr(df, ncp, t)
    bad = np.isnan(r)
    if bad.any():
        r = np.where(bad, np.broadcast_to(ncp < t, r.shape).astype(float), r)
    return r


def _welch_tails(n0, n1, p, sigma, alpha, mean, var, nodes: int = 32):
    # As analytic._welch_conditional, split by tail: given the two sample variances
    # the test rejects upwards when D > t_{nu} SE and downwards when D < -t_{nu} SE,
    # with D ~ N(mean, sigma^2 h^2 + var) marginally over the prior.
    step = analytic.WELCH_PAIRS_PER_PASS  # bounded memory for trials with many arm-size pairs
    if len(n0) > step:
        parts = [_welch_tails(n0[i : i + step], n1[i : i + step], p[i : i + step], sigma, alpha, mean, var, nodes)
                 for i in range(0, len(n0), step)]  # fmt: skip
        return sum(up for up, _ in parts), sum(lo for _, lo in parts)
    u, wu = _leggauss01(nodes)
    a0 = n0[:, None, None]
    a1 = n1[:, None, None]
    k0, k1 = a0 - 1, a1 - 1
    v0 = sigma**2 * special.chdtri(k0, 1 - u[None, :, None]) / k0 / a0
    v1 = sigma**2 * special.chdtri(k1, 1 - u[None, None, :]) / k1 / a1
    se2 = v0 + v1
    df = se2**2 / (v0**2 / k0 + v1**2 / k1)
    crit = (special.stdtrit(df, 1 - alpha / 2) * np.sqrt(se2))[..., None]
    w = p[:, None, None] * wu[None, :, None] * wu[None, None, :]
    h2 = (1 / n0 + 1 / n1)[:, None, None, None]
    upper = np.empty(mean.shape)
    lower = np.empty(mean.shape)
    step = max(1, 2_000_000 // w.size)
    for i in range(0, len(mean), step):
        m, v = mean[i : i + step], var[i : i + step]
        sd = np.sqrt(sigma**2 * h2 + v)
        upper[i : i + step] = np.tensordot(w, special.ndtr((m - crit) / sd), axes=3)
        lower[i : i + step] = np.tensordot(w, special.ndtr((-m - crit) / sd), axes=3)
    return upper, lower


def directional_power(cfg: dict, method: str, difference) -> tuple[np.ndarray, np.ndarray]:
    """Power split by the sign of the estimate, for true differences ``difference``.

    Parameters
    ----------
    cfg : dict
        Validated direct-mode config (its ``effects.difference_pct`` is ignored).
    method : {"student_t", "welch_t", "ancova"}
    difference : float or array
        True anastrozole-minus-placebo differences (percentage points).

    Returns
    -------
    upper, lower : ndarray
        ``P(p < alpha and estimate > 0)`` and ``P(p < alpha and estimate < 0)``
        at each difference; their sum is :func:`vtrial.analytic.analytic_power`.
        NaN where no formula exists.

    Examples
    --------
    >>> from vtrial.config import load_config
    >>> cfg = load_config(overrides=["dropout.anastrozole=0", "dropout.placebo=0"])
    >>> up, lo = directional_power(cfg, "student_t", -2.46)
    >>> round(float(lo[0]), 4), float(up[0]) < 1e-7
    (0.9673, True)
    """
    d = np.atleast_1d(np.asarray(difference, dtype=float))
    if _unavailable(cfg, method):
        nan = np.full(d.shape, np.nan)
        return nan, nan.copy()
    return _tails(cfg, method, d, np.zeros(d.shape))


def design_se(cfg: dict, method: str) -> float:
    """Approximate SE of the estimated difference (pp) at the expected numbers of completers.

    Uses the SD of the % change (t-tests) or its residual SD given baseline
    (ANCOVA) and ``n (1 - dropout)`` men per arm; the normal approximation
    behind :func:`type_s`/:func:`type_m` for a design.

    Examples
    --------
    >>> from vtrial.config import load_config
    >>> round(design_se(load_config(overrides=["dropout.anastrozole=0", "dropout.placebo=0"]), "welch_t"), 4)
    0.6396
    """
    mo = model.moments(cfg)
    var = mo.cov[1, 1]
    if method == "ancova":
        var -= mo.cov[0, 1] ** 2 / mo.cov[0, 0]
    n_p, n_a = trial_mod.arm_sizes(cfg["trial"])
    d = cfg["dropout"]
    return math.sqrt(var * (1 / (n_p * (1 - d["placebo"])) + 1 / (n_a * (1 - d["anastrozole"]))))


# --------------------------------------------------------------------------- averaging over the prior


def _as_design_prior(prior) -> DesignPrior:
    return prior if isinstance(prior, DesignPrior) else DesignPrior(prior)


def _normal_components(prior) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """``(weights, means, variances)`` if the prior is a (scale) mixture of normals."""
    if isinstance(prior, Normal):
        return np.ones(1), np.array([prior.mean]), np.array([prior.sd**2])
    if isinstance(prior, Mixture):
        return np.array(prior.weights), np.array(prior.means), np.array(prior.sds) ** 2
    if isinstance(prior, StudentT):
        # loc + scale Z / sqrt(W / df), W ~ chi2(df): normal given W. The integrand
        # behaves like u^(1/df) as the probability u of W -> 0 and has a log
        # singularity as u -> 1, so the panels are graded towards both ends
        # (8 Gauss-Legendre nodes each; error below 1e-9 in tests).
        u, w = _graded_rule(8)
        chi = special.chdtri(prior.df, 1 - u)
        return w, np.full(u.shape, prior.loc), prior.scale**2 * prior.df / chi
    return None


def _expect(prior, fn, breaks=()) -> np.ndarray:
    """``E_prior[fn(D)]`` for a vectorised ``fn`` (array -> array, last axis over D).

    Draws: the exact sample mean. Otherwise composite 16-node Gauss-Legendre on
    the prior's probability scale, with 32 equal panels plus panel edges at the
    prior CDF of ``breaks`` (where ``fn`` bends).
    """
    if isinstance(prior, Draws):
        return np.mean(fn(prior.array), axis=-1)
    edges = np.unique(
        np.concatenate([np.linspace(0, 1, 33), np.clip(prior.cdf(np.asarray(breaks, float)), 0, 1)])
    )
    u, w = _leggauss01(16)
    a, b = edges[:-1, None], edges[1:, None]
    nodes = (a + (b - a) * u).ravel()
    weights = ((b - a) * w).ravel()
    keep = weights > 0
    return fn(prior.ppf(nodes[keep])) @ weights[keep]


def _spline_tails(cfg: dict, method: str, prior) -> tuple[float, float]:
    """Prior mean of each directional power via a cubic spline in the difference."""
    if isinstance(prior, Draws):
        vals = np.unique(prior.array)
        if len(vals) <= 256:
            up, lo = _tails(cfg, method, vals, 0.0)
            counts = np.unique(prior.array, return_counts=True)[1] / len(prior.array)
            return float(up @ counts), float(lo @ counts)
        lo_d, hi_d = vals[0], vals[-1]
    else:
        lo_d, hi_d = float(prior.ppf(1e-12)), float(prior.ppf(1 - 1e-12))
    se = design_se(cfg, method)
    crit = float(special.ndtri(1 - cfg["analysis"]["alpha"] / 2))
    pts = [np.linspace(lo_d, hi_d, 65)]
    for centre in (-crit * se, crit * se):
        pts.append(np.arange(centre - 8 * se, centre + 8 * se + se / 16, se / 8))
    grid = np.unique(np.clip(np.concatenate(pts), lo_d, hi_d))
    up, lo = _tails(cfg, method, grid, 0.0)
    if len(grid) < 2:
        return float(up[0]), float(lo[0])
    from scipy import interpolate  # lazily: only the analytic assurance needs splines

    f_up = interpolate.CubicSpline(grid, up)
    f_lo = interpolate.CubicSpline(grid, lo)
    breaks = np.concatenate(pts[1:])

    def fn(d):
        return np.clip(np.stack([f_up(d), f_lo(d)]), 0.0, 1.0)

    out = _expect(prior, fn, breaks)
    return float(out[0]), float(out[1])


def _prior_tails(cfg: dict, method: str, prior, memo: dict | None = None) -> tuple[float, float]:
    comps = _normal_components(prior)
    if comps is None:
        return _spline_tails(cfg, method, prior)
    w, m, v = comps
    up, lo = _tails(cfg, method, m, v, memo)
    return float(w @ up), float(w @ lo)


def max_assurance(prior, alpha: float = 0.05, direction: int | None = None) -> float:
    """Limit of the assurance as n grows: ``P(favoured sign) + (alpha/2) P(D = 0)``.

    Examples
    --------
    >>> from vtrial.priors import default_prior
    >>> round(max_assurance(default_prior()), 5)
    0.99957
    """
    diff = _as_design_prior(prior).difference
    direction = diff.direction() if direction is None else direction
    favoured = diff.prob_negative() if direction < 0 else diff.prob_positive()
    return float(favoured + alpha / 2 * diff.prob_zero())


def analytic_assurance_detail(cfg: dict, method: str, prior, *, direction: int | None = None) -> dict:
    """Assurance, wrong-sign probability and their limit for one design.

    Parameters
    ----------
    cfg : dict
        Validated direct-mode config; ``effects.difference_pct`` is replaced by
        the prior (and ``effects.sd_pct_change`` too if the prior has an SD part).
    method : {"student_t", "welch_t", "ancova"}
    prior : DesignPrior or a difference prior of :mod:`vtrial.priors`
    direction : {-1, 1}, optional
        Sign counted as success; default the sign of the prior median.

    Returns
    -------
    dict
        ``assurance``, ``p_wrong_sign`` (NaN where no analytic power exists),
        ``max_assurance`` and ``direction``.

    Examples
    --------
    >>> from vtrial.config import load_config
    >>> from vtrial.priors import default_prior
    >>> r = analytic_assurance_detail(load_config(), "ancova", default_prior())
    >>> round(r["assurance"], 4), round(r["p_wrong_sign"], 5), r["direction"]
    (0.8352, 9e-05, -1)
    """
    return _assurance_detail(cfg, method, prior, direction, None)


def _assurance_detail(cfg: dict, method: str, prior, direction: int | None, memo: dict | None) -> dict:
    # analytic_assurance_detail, with the pair memo of _tails shared across calls
    dp = _as_design_prior(prior)
    direction = dp.difference.direction() if direction is None else int(direction)
    if direction not in (-1, 1):
        raise InputError(f"direction: value {direction!r} is not allowed (allowed: -1, 1)")
    out = {"assurance": float("nan"), "p_wrong_sign": float("nan"),
           "max_assurance": max_assurance(dp, cfg["analysis"]["alpha"], direction), "direction": direction}  # fmt: skip
    if _unavailable(cfg, method):
        return out
    if dp.sd_pct_change is None:
        up, lo = _prior_tails(cfg, method, dp.difference, memo)
    else:
        # Outer composite Gauss-Legendre on the probability scale of the SD prior,
        # graded towards both ends where the SD quantile function is singular. The
        # model needs SD > sqrt(2) cv (two DXA scans alone give that SD): the prior
        # is taken conditionally on it, and refused if it puts over 0.1% below.
        floor = math.sqrt(2) * cfg["measurement"]["bmd_cv_pct"]
        below = float(dp.sd_pct_change.cdf(floor))
        if below > 1e-3:
            raise InputError(
                f"config key 'prior.sd_pct_change': the prior puts {below:.2%} of its mass below "
                f"sqrt(2) x measurement.bmd_cv_pct = {floor:.3f} (allowed: at most 0.1%; raise value or df)"
            )
        v, w = _graded_rule(6)
        up = lo = 0.0
        for sd, wk in zip(dp.sd_pct_change.ppf(below + (1 - below) * v), w, strict=True):
            a, b = _prior_tails(
                config_mod.set_key(cfg, "effects.sd_pct_change", float(sd)), method, dp.difference, memo
            )
            up, lo = up + wk * a, lo + wk * b
    out["assurance"], out["p_wrong_sign"] = (lo, up) if direction < 0 else (up, lo)
    return out


def analytic_assurance(cfg: dict, method: str, prior, *, direction: int | None = None) -> float:
    """Probability of a significant result in the favoured direction, averaged over ``prior``.

    See :func:`analytic_assurance_detail`; NaN where no analytic power exists.

    Examples
    --------
    >>> from vtrial.config import load_config
    >>> from vtrial.priors import Normal
    >>> cfg = load_config(overrides=["dropout.anastrozole=0", "dropout.placebo=0"])
    >>> round(analytic_assurance(cfg, "student_t", Normal(-2.46, 1e-9)), 4)  # the power
    0.9673
    """
    return analytic_assurance_detail(cfg, method, prior, direction=direction)["assurance"]


def normal_assurance(mean: float, sd: float, se: float, alpha: float = 0.05, direction: int | None = None):
    """Closed-form assurance of a z-test (known ``se``) under a ``N(mean, sd^2)`` prior.

    O'Hagan, Stevens & Campbell (2005), split by direction: the estimate is
    marginally ``N(mean, se^2 + sd^2)``, so with ``z = z_{1-alpha/2}`` and
    ``g = direction``, assurance ``= Phi((g mean - z se) / sqrt(se^2 + sd^2))``
    and the wrong-sign probability ``= Phi((-g mean - z se) / sqrt(se^2 + sd^2))``.

    Returns
    -------
    (assurance, p_wrong_sign)

    Examples
    --------
    >>> [round(v, 4) for v in normal_assurance(-2.46, 0.738, 0.6396)]
    [0.8916, 0.0001]
    """
    g = (-1 if mean < 0 else 1) if direction is None else direction
    z = special.ndtri(1 - alpha / 2)
    tot = math.hypot(se, sd)
    return float(special.ndtr((g * mean - z * se) / tot)), float(special.ndtr((-g * mean - z * se) / tot))


def analytic_sample_size_for_assurance(
    cfg: dict, method: str, prior, target: float, *, direction: int | None = None, n_max: int = 100_000
) -> float:
    """Smallest ``trial.n_per_arm`` whose analytic assurance reaches ``target``.

    Doubling from 2, then bisection on integer n (assurance taken as
    non-decreasing in n, true when the prior favours one side). NaN where no
    analytic power exists or when ``n_max`` is not enough.

    Raises
    ------
    InputError
        If ``target`` is not in (0, 1) or is at or above :func:`max_assurance`,
        which no sample size reaches (the message gives that maximum).

    Examples
    --------
    >>> from vtrial.config import load_config
    >>> from vtrial.priors import default_prior
    >>> analytic_sample_size_for_assurance(load_config(), "student_t", default_prior(), 0.8)
    39.0
    """
    if isinstance(target, bool) or not isinstance(target, (int, float)) or not 0 < target < 1:
        raise InputError(f"target assurance: value {target!r} is not allowed (allowed: 0 < A < 1)")
    dp = _as_design_prior(prior)
    direction = dp.difference.direction() if direction is None else int(direction)
    top = max_assurance(dp, cfg["analysis"]["alpha"], direction)
    if target >= top:
        raise InputError(
            f"target assurance: value {target} is not reachable; assurance tends to {top:.6g} "
            f"(the prior probability of the favoured sign) as n grows (allowed: below {top:.6g})"
        )
    if _unavailable(cfg, method):
        return float("nan")

    def reached(n: int) -> bool:
        c = config_mod.set_key(cfg, "trial.n_per_arm", int(n))
        return analytic_assurance(c, method, dp, direction=direction) >= target

    return smallest_n(reached, n_max)


def smallest_n(reached, n_max: int) -> float:
    """Smallest integer n >= 2 with ``reached(n)`` True, for a predicate monotone in n.

    Doubles from 2 (so large n, which are costly to evaluate, are only tried
    when needed), then bisects. NaN if not reached by ``n_max``.

    Examples
    --------
    >>> smallest_n(lambda n: n * n >= 50, 1000), smallest_n(lambda n: False, 100)
    (8.0, nan)
    """
    lo, hi = 1, 2
    while not reached(hi):
        lo, hi = hi, hi * 2
        if hi > n_max:
            return float("nan")
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if reached(mid):
            hi = mid
        else:
            lo = mid
    return float(hi)


# --------------------------------------------------------------------------- Type S and Type M


def _significance_parts(d, s, alpha):
    """Per-true-difference: P(significant), P(significant with the wrong sign), E[|est|; significant]."""
    lam = np.abs(np.asarray(d, dtype=float)) / s
    z = special.ndtri(1 - alpha / 2)
    wrong = special.ndtr(-z - lam)
    right = special.ndtr(lam - z)
    # E[|W|; |W| > z] for W ~ N(lam, 1), times s.
    abs_mean = s * (lam * (right - wrong) + _phi(z - lam) + _phi(z + lam))
    return right + wrong, wrong, abs_mean


def _phi(x):
    return np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)


def type_s(d, s: float, alpha: float = 0.05):
    """Type S error: P(significant estimate has the wrong sign), estimate ``N(d, s^2)``.

    ``Phi(-z - |d|/s) / [Phi(-z - |d|/s) + Phi(|d|/s - z)]``; 1/2 at ``d = 0``.

    Examples
    --------
    >>> round(float(type_s(2.0, 8.1)), 2)  # Gelman & Carlin (2014): power 0.06, Type S 0.24
    0.24
    """
    pw, wrong, _ = _significance_parts(d, s, alpha)
    return wrong / pw


def type_m(d, s: float, alpha: float = 0.05):
    """Type M error (exaggeration ratio): ``E[|estimate| | significant] / |d|``.

    With ``lam = |d|/s`` and ``z = z_{1-alpha/2}`` (Lu, Qiu & Deng 2018):
    ``[phi(lam + z) + phi(lam - z) + lam (Phi(lam + z) + Phi(lam - z) - 1)] /
    [lam (1 - Phi(lam + z) + Phi(lam - z))]``; infinite at ``d = 0``.

    Examples
    --------
    >>> round(float(type_m(2.0, 8.1)), 2)
    9.54
    """
    pw, _, abs_mean = _significance_parts(d, s, alpha)
    with np.errstate(divide="ignore"):
        return abs_mean / (pw * np.abs(np.asarray(d, dtype=float)))


def prior_type_s_m(prior, s: float, alpha: float = 0.05) -> tuple[float, float]:
    """Type S and Type M averaged over the prior given significance (estimate ``N(D, s^2)``).

    Type S ``= E[P(sig, wrong sign | D)] / E[P(sig | D)]``; Type M
    ``= E[E(|est|; sig | D)] / E[|D| P(sig | D)]`` (expectations over the prior).

    Examples
    --------
    >>> from vtrial.priors import default_prior
    >>> [round(v, 4) for v in prior_type_s_m(default_prior(), 0.6396)]
    [0.0001, 1.034]
    """
    diff = _as_design_prior(prior).difference
    z = float(special.ndtri(1 - alpha / 2))

    def fn(d):
        pw, wrong, abs_mean = _significance_parts(d, s, alpha)
        return np.stack([pw, wrong, abs_mean, np.abs(d) * pw])

    pw, wrong, abs_mean, abs_d = _expect(diff, fn, np.array([0.0, -z * s, z * s]))
    return float(wrong / pw), float(abs_mean / abs_d)


# --------------------------------------------------------------------------- from simulated replicates


def assurance_from_replicates(significant, estimate, true_difference, direction: int) -> dict:
    """Assurance summaries from per-replicate results of trials whose truth was drawn from a prior.

    Parameters
    ----------
    significant : array of bool
        ``p < alpha`` per replicate (a failed fit is not significant).
    estimate : array of float
        Estimated difference (pp) per replicate; NaN for a failed fit.
    true_difference : array of float or float
        The difference each replicate was simulated with.
    direction : {-1, 1}
        Sign counted as success (see :func:`analytic_assurance_detail`).

    Returns
    -------
    dict
        ``reps``, ``assurance``, ``assurance_se`` (binomial Monte Carlo SE),
        ``p_wrong_sign``, ``p_wrong_sign_se``, ``n_significant``, ``type_s``
        (share of significant replicates whose estimate's sign differs from
        their true difference's; a true 0 counts 1/2) and ``type_m``
        (``sum |estimate| / sum |true difference|`` over significant
        replicates); the last two NaN without significant replicates.

    Examples
    --------
    >>> r = assurance_from_replicates(np.array([True, True, False, True]),
    ...                               np.array([-3.0, 1.0, -0.5, -2.0]), np.array([-2.0, -1.0, -1.0, -2.0]), -1)
    >>> r["assurance"], r["p_wrong_sign"], round(r["type_s"], 4), r["type_m"]
    (0.5, 0.25, 0.3333, 1.2)
    """
    if direction not in (-1, 1):
        raise InputError(f"direction: value {direction!r} is not allowed (allowed: -1, 1)")
    return summarise_sums(block_sums(significant, estimate, true_difference, direction))


# --------------------------------------------------------------------------- block sums (the engine)

# Sums kept per block and method by the engine (added in block order, so a run's
# summaries do not depend on chunking): replicates, significant in the favoured
# direction, significant in the other, significant (finite estimate), significant
# with the sign of the estimate differing from the replicate's truth (a true 0
# counts 1/2), and over significant replicates sum |estimate| and sum |truth|.
_A_REPS, _A_RIGHT, _A_WRONG, _A_SIG, _A_TYPE_S, _A_ABS_EST, _A_ABS_TRUE = range(7)
N_BLOCK_SUMS = 7


def block_sums(significant, estimate, true_difference, direction: int) -> np.ndarray:
    """The sums behind :func:`assurance_from_replicates` for one block of replicates.

    Adding the sums of several blocks and calling :func:`summarise_sums` gives
    the same summaries as :func:`assurance_from_replicates` on all replicates.

    Examples
    --------
    >>> s = block_sums(np.array([True, True, False, True]), np.array([-3.0, 1.0, -0.5, -2.0]),
    ...                np.array([-2.0, -1.0, -1.0, -2.0]), -1)
    >>> s.tolist()
    [4.0, 2.0, 1.0, 3.0, 1.0, 6.0, 5.0]
    """
    est = np.asarray(estimate, dtype=float)
    sig = np.asarray(significant, dtype=bool) & np.isfinite(est)
    truth = np.broadcast_to(np.asarray(true_difference, dtype=float), est.shape)
    sgn = np.sign(est)
    e, t = est[sig], truth[sig]
    wrong = np.where(t == 0, 0.5, (np.sign(e) != np.sign(t)).astype(float))
    out = np.zeros(N_BLOCK_SUMS)
    out[_A_REPS] = len(est)
    out[_A_RIGHT] = np.count_nonzero(sig & (sgn == direction))
    out[_A_WRONG] = np.count_nonzero(sig & (sgn == -direction))
    out[_A_SIG] = len(e)
    out[_A_TYPE_S] = wrong.sum()
    out[_A_ABS_EST] = np.abs(e).sum()
    out[_A_ABS_TRUE] = np.abs(t).sum()
    return out


def summarise_sums(sums) -> dict:
    """Assurance summaries from added :func:`block_sums` (the keys of :func:`assurance_from_replicates`).

    Examples
    --------
    >>> r = summarise_sums([4.0, 2.0, 1.0, 3.0, 1.0, 6.0, 5.0])
    >>> r["assurance"], r["p_wrong_sign"], round(r["type_s"], 4), r["type_m"]
    (0.5, 0.25, 0.3333, 1.2)
    """
    s = np.asarray(sums, dtype=float)
    n = s[_A_REPS]
    a, w = s[_A_RIGHT] / n, s[_A_WRONG] / n
    k = int(s[_A_SIG])
    nan = float("nan")
    if k:
        ts = float(s[_A_TYPE_S] / k)
        tm = float(s[_A_ABS_EST] / s[_A_ABS_TRUE]) if s[_A_ABS_TRUE] > 0 else math.inf
    else:
        ts = tm = nan
    return {
        "reps": int(n),
        "assurance": float(a),
        "assurance_se": math.sqrt(a * (1 - a) / n),
        "p_wrong_sign": float(w),
        "p_wrong_sign_se": math.sqrt(w * (1 - w) / n),
        "n_significant": k,
        "type_s": ts,
        "type_m": tm,
    }


def design_prior(cfg: dict) -> DesignPrior:
    """The design prior of a config: its ``prior`` section, else :func:`vtrial.priors.default_prior`.

    Examples
    --------
    >>> design_prior({}).difference.mean
    -2.46
    """
    from vtrial.priors import parse_prior

    return parse_prior(cfg.get("prior"))


# --------------------------------------------------------------------------- the assurance table

#: Columns of :func:`run_assurance` before the grid columns.
ASSURANCE_COLUMNS = [
    "scenario_id", "method", "n_per_arm", "reps", "alpha", "direction", "prior_point", "assurance",
    "assurance_se", "analytic_assurance", "p_wrong_sign", "p_wrong_sign_se", "type_s", "type_m",
    "power", "power_se", "analytic_power", "max_assurance", "engine",
]  # fmt: skip


def prior_point(prior) -> float:
    """The point of the prior compared with: its mean, or its median where the mean is undefined.

    Examples
    --------
    >>> from vtrial.priors import StudentT
    >>> prior_point(StudentT(-2.0, 1.0, 1.0)), prior_point(Normal(-2.46, 0.7))
    (-2.0, -2.46)
    """
    diff = _as_design_prior(prior).difference
    m = float(diff.mean)
    return m if math.isfinite(m) else float(diff.median)


def run_assurance(
    cfg: dict,
    *,
    reps: int | None = None,
    methods=None,
    prior=None,
    workers: int = 1,
    chunk_size: int | None = None,
    progress: bool = False,
) -> pd.DataFrame:
    """Monte Carlo assurance, Type S/M and power at the prior's point, per scenario and method.

    Every replicate trial draws its true difference from the design prior
    (:func:`vtrial.engine.prior_truths`). The streams are keyed by the
    scenario id *without* ``trial.n_per_arm``, so scenarios that differ only
    in n simulate the same prior draws and men (common random numbers: a
    smooth curve in n). ``power`` is the ordinary engine's power at
    :func:`prior_point` with the same streams and replicates.

    Parameters
    ----------
    cfg : dict
        Validated config (its ``grid`` is expanded; direct mode).
    reps : int, optional
        Replicates per scenario (default ``simulation.reps``).
    methods : sequence of str, optional
        Default ``analysis.methods``.
    prior : vtrial.priors.DesignPrior, optional
        Default :func:`design_prior` of each scenario.
    workers, chunk_size, progress
        As :func:`vtrial.power.run_power` (results do not depend on them).

    Returns
    -------
    pandas.DataFrame
        :data:`ASSURANCE_COLUMNS` then one column per grid key.
        ``assurance`` and ``p_wrong_sign`` are the shares of replicates
        significant with the favoured (``direction``) and the other sign,
        with binomial SEs; ``type_s`` and ``type_m`` as
        :func:`assurance_from_replicates`; ``analytic_assurance`` from
        :func:`analytic_assurance_detail` (NaN without a formula).

    Examples
    --------
    >>> from vtrial.config import load_config
    >>> t = run_assurance(load_config(), reps=2000, methods=["welch_t"])
    >>> bool(abs(t.loc[0, "assurance"] - t.loc[0, "analytic_assurance"]) < 3 * t.loc[0, "assurance_se"])
    True
    """
    from vtrial.design import require_default

    require_default(cfg, "vtrial assurance")  # the design prior is on the one difference of two arms
    methods = power._methods(cfg, methods)
    reps = power._check_reps(cfg["simulation"]["reps"] if reps is None else reps)
    grid_keys = list((cfg.get("grid") or {}).keys())
    scenarios = config_mod.expand_grid(cfg)
    priors = [prior] * len(scenarios)
    if prior is None:
        # scenarios usually share one prior section: parse each distinct one once
        parsed: list[tuple] = []
        for i, sc in enumerate(scenarios):
            section = sc.config.get("prior")
            hit = next((dp for s, dp in parsed if s == section), None)
            if hit is None:
                hit = design_prior(sc.config)
                parsed.append((section, hit))
            priors[i] = hit
    for sc, dp in zip(scenarios, priors, strict=True):  # every scenario checked before any work
        engine.check_prior(sc.config, dp)
        dp.difference.direction()
    rows = []
    memo: dict = {}  # arm-size pairs shared by the scenarios' analytic assurances
    pool = power._pool(workers) if workers > 1 else None
    try:
        for sc, dp in zip(scenarios, priors, strict=True):
            scfg = sc.config
            g = dp.difference.direction()
            alpha = float(scfg["analysis"]["alpha"])
            point = prior_point(dp)
            at_point = config_mod.set_key(scfg, "effects.difference_pct", point)
            stream_id = config_mod.scenario_id(scfg, exclude=("trial.n_per_arm",))
            kw = dict(workers=workers, chunk_size=chunk_size, progress=progress, pool=pool,
                      label=f"assurance {sc.id}")  # fmt: skip
            sums = power.simulate_sums(scfg, stream_id, reps, methods, prior=dp, **kw)
            psums = power.simulate_sums(at_point, stream_id, reps, methods, p_only=True, **kw)
            for m in methods:
                r = summarise_sums(sums[m][power._NSUMS :])
                p = psums[m][power._REJ] / psums[m][power._REPS]
                row = {
                    "scenario_id": sc.id,
                    "method": m,
                    "n_per_arm": int(scfg["trial"]["n_per_arm"]),
                    "reps": reps,
                    "alpha": alpha,
                    "direction": g,
                    "prior_point": point,
                    "assurance": r["assurance"],
                    "assurance_se": r["assurance_se"],
                    "analytic_assurance": _assurance_detail(scfg, m, dp, g, memo)["assurance"],
                    "p_wrong_sign": r["p_wrong_sign"],
                    "p_wrong_sign_se": r["p_wrong_sign_se"],
                    "type_s": r["type_s"],
                    "type_m": r["type_m"],
                    "power": p,
                    "power_se": math.sqrt(p * (1 - p) / reps),
                    "analytic_power": power.analytic_power(at_point, m),
                    "max_assurance": max_assurance(dp, alpha, g),
                    "engine": engine.method_engine(scfg, m, methods),
                }
                for key, value in sc.grid_values:
                    row[key] = value
                rows.append(row)
    finally:
        if pool is not None:
            pool.shutdown()
    return pd.DataFrame(rows, columns=ASSURANCE_COLUMNS + grid_keys)
