"""Analytic power: exact formulas wherever the engine's shortcut is valid.

Exact wherever :func:`vtrial.engine.exact_valid` holds (normal outcome, dropout
independent of the data, complete-case analysis of the % change, ``simple`` or
``permuted_blocks`` randomization):

* Student t: the noncentral t on ``n0 + n1 - 2`` df;
* Welch t: the conditional power given the two sample variances, integrated
  by Gauss-Legendre quadrature over their two scaled chi-square laws
  (:func:`_welch_conditional`);
* ANCOVA: the noncentral t on ``N - 3`` df given the baselines, averaged over
  the chance baseline imbalance ``R ~ Beta(1/2, (N - 2)/2)`` by Gauss-Jacobi
  quadrature (:func:`_ancova_conditional`, :func:`_jacobi`);

each averaged over the law of the arm sizes (randomization) and of the number
of completers (binomial under MCAR): :func:`completer_law`,
:func:`analysable_law`. Where no formula exists the power is NaN
(:func:`analytic_reason` says why).

Sample size and minimal detectable effect by these formulas are searches over
:func:`analytic_power` by :func:`vtrial.power.solve`
(:func:`vtrial.power.analytic_sample_size`); this module imports nothing from
:mod:`vtrial.power`.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from numpy.polynomial import chebyshev as cheb_mod
from numpy.polynomial import polyutils as pu
from scipy import special

from vtrial import engine, model, samplers
from vtrial import trial as trial_mod


def analytic_reason(cfg: dict, method: str) -> str:
    """Why :func:`analytic_power` has no formula for ``method`` under ``cfg`` ("" if it has one).

    :func:`vtrial.engine.exact_valid` with the shortcut forced to ``auto``
    (the formulas hold wherever the shortcut could be used, whether or not a
    run uses it).

    Examples
    --------
    >>> from vtrial.config import load_config
    >>> analytic_reason(load_config(), "student_t")
    ''
    >>> analytic_reason(load_config(), "mann_whitney") != ""
    True
    """
    ok, why = engine.exact_valid(
        {**cfg, "simulation": {**cfg["simulation"], "exact_shortcut": "auto"}}, method
    )
    return "" if ok else why


def completer_law(cfg: dict, tol: float = 1e-9) -> list[tuple[int, int, float]]:
    """Joint law of analysed men (placebo, anastrozole) under MCAR dropout.

    Sum over the randomized arm sizes (:func:`vtrial.samplers.arm_size_law`) of
    binomial completers, with terms below ``tol`` dropped (mass renormalised).
    Pairs ordered by placebo, then anastrozole completers.
    """
    n0, n1, p = _completer_arrays(cfg, tol)
    return [(int(a), int(b), float(w)) for a, b, w in zip(n0, n1, p, strict=True)]


def _completer_arrays(cfg: dict, tol: float = 1e-9) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`completer_law` as arrays ``(placebo completers, anastrozole completers, probability)``."""
    n_p, n_a = trial_mod.arm_sizes(cfg["trial"])
    n = n_p + n_a
    law_a = samplers.arm_size_law(cfg["trial"])
    d = cfg["dropout"]
    terms = []
    for k_a in np.flatnonzero(law_a > tol):  # at most n + 1 arm sizes; the pairs are vectorised
        k_p = n - k_a
        pa = samplers.binom_pmf(np.arange(k_a + 1), k_a, 1 - d["anastrozole"])
        pp = samplers.binom_pmf(np.arange(k_p + 1), k_p, 1 - d["placebo"])
        ip, ia = np.flatnonzero(pp > tol), np.flatnonzero(pa > tol)
        terms.append((k_a, ip, pp[ip], ia, pa[ia]))
    # accumulated on the box the terms cover, not on all (n + 1)^2 pairs: the
    # completers of n men spread over about sqrt(n) values, so the box grows
    # with n where a full table grows with n^2
    lo_p = min(int(ip[0]) for _, ip, _, _, _ in terms)
    lo_a = min(int(ia[0]) for _, _, _, ia, _ in terms)
    shape = (max(int(ip[-1]) for _, ip, _, _, _ in terms) - lo_p + 1,
             max(int(ia[-1]) for _, _, _, ia, _ in terms) - lo_a + 1)  # fmt: skip
    joint = np.zeros(shape)
    for k_a, ip, pp, ia, pa in terms:
        joint[np.ix_(ip - lo_p, ia - lo_a)] += law_a[k_a] * np.outer(pp, pa)
    # every term is a product of probabilities above tol: a pair is in the law iff its mass is positive
    x, y = np.nonzero(joint)
    p = joint[x, y]
    return x + lo_p, y + lo_a, p / p.sum()


def analysable_law(cfg: dict, method: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Completer pairs a method can analyse, as arrays ``(n0, n1, probability)``.

    :func:`completer_law` restricted to at least two men per arm (and four in
    all for ANCOVA, which estimates one more coefficient); probabilities are not
    renormalised, since a trial that cannot be analysed is not significant.

    Examples
    --------
    >>> from vtrial.config import load_config
    >>> n0, n1, p = analysable_law(load_config(overrides=["trial.n_per_arm=3"]), "ancova")
    >>> bool(n0.min() >= 2 and n1.min() >= 2 and p.sum() <= 1)
    True
    """
    n0, n1, p = _completer_arrays(cfg)
    n0, n1 = n0.astype(float), n1.astype(float)
    ok = (n0 >= 2) & (n1 >= 2)
    if method == "ancova":
        ok &= n0 + n1 >= 4
    return n0[ok], n1[ok], p[ok]


def _power_nct(df, ncp, crit):
    return special.nctdtr(df, ncp, -crit) + (1.0 - special.nctdtr(df, ncp, crit))


@lru_cache(maxsize=4)
def _legendre(k: int):
    x, w = np.polynomial.legendre.leggauss(k)
    return (x + 1) / 2, w / 2


def _extrema(degree: int, lo: float, hi: float) -> np.ndarray:
    """Where a Chebyshev interpolant of ``degree`` on [lo, hi] is checked: the extrema of ``T_(degree+1)``.

    The error of an interpolant is largest between its nodes; the midpoints
    between nodes (and the ends) are the ``degree + 2`` extrema
    ``cos(pi j / (degree + 1))``. The nodes themselves need no check: there
    the interpolant reproduces the function to rounding (about 1e-16).
    """
    x = np.cos(np.pi * np.arange(degree + 2) / (degree + 1))
    return lo + (hi - lo) * (x + 1.0) / 2.0


def _t_crit(df: np.ndarray, q: float) -> np.ndarray:
    """``stdtrit(df, q)`` for many df at once: Chebyshev interpolation in ``1 / df``.

    The t quantile is an analytic, slowly varying function of ``1 / df``; a
    low-degree interpolant on the range of ``1 / df`` replaces one root search
    per value (millions in the Welch quadrature). The degree (6 to 30) is the
    smallest whose interpolant agrees with ``stdtrit`` to 1e-12 midway
    between its nodes (:func:`_extrema`); if none does (very small df),
    ``stdtrit`` is used for every value.
    """
    df = np.asarray(df, dtype=float)
    if df.size < 2000:
        return special.stdtrit(df, q)
    x = 1.0 / df
    lo, hi = float(x.min()), float(x.max())
    if not (np.isfinite(lo) and np.isfinite(hi) and hi > lo > 0):
        return special.stdtrit(df, q)
    for degree in (6, 10, 14, 20, 30):
        cheb = np.polynomial.Chebyshev.interpolate(
            lambda t: special.stdtrit(1.0 / t, q), degree, domain=[lo, hi]
        )
        check = _extrema(degree, lo, hi)
        if np.max(np.abs(cheb(check) - special.stdtrit(1.0 / check, q))) <= 1e-12:
            return cheb(x)
    return special.stdtrit(df, q)


#: Arm-size pairs per pass of the Welch quadrature: its (pairs, nodes, nodes)
#: arrays take 32 MB each at 4096 pairs; large trials with simple
#: randomization have millions of pairs.
WELCH_PAIRS_PER_PASS = 4096


def _welch_conditional(n0, n1, delta: float, sigma: float, alpha: float, nodes: int = 32):
    """Exact Welch power given arm sizes (arrays): quadrature over the two sample variances.

    ``s_a^2 = sigma^2 chi2(n_a - 1) / (n_a - 1)`` independently of the mean
    difference ``D ~ N(delta, sigma^2 (1/n0 + 1/n1))``; given the variances the
    test rejects when ``|D| > t_{nu, 1 - alpha/2} SE`` with the
    Welch-Satterthwaite ``nu``. Gauss-Legendre nodes on the probability scale
    of each chi-square. All (n0, n1) pairs at once: the chi-square quantiles
    once per arm size, the t quantiles by :func:`_t_crit`.
    """
    n0 = np.asarray(n0, dtype=float)
    n1 = np.asarray(n1, dtype=float)
    step = WELCH_PAIRS_PER_PASS
    if len(n0) > step:
        return np.concatenate(
            [_welch_conditional(n0[i : i + step], n1[i : i + step], delta, sigma, alpha, nodes)
             for i in range(0, len(n0), step)]
        )  # fmt: skip
    u, w = _legendre(nodes)

    def scaled_var(n):  # (pairs, nodes): sigma^2 chi2_{n-1} quantile / (n - 1) / n
        sizes, inv = np.unique(n, return_inverse=True)
        k = sizes[:, None] - 1
        return (sigma**2 * special.chdtri(k, 1 - u[None, :]) / k / sizes[:, None])[inv]

    v0 = scaled_var(n0)[:, :, None]
    v1 = scaled_var(n1)[:, None, :]
    k0, k1 = (n0 - 1)[:, None, None], (n1 - 1)[:, None, None]
    se2 = v0 + v1
    df = se2**2 / (v0**2 / k0 + v1**2 / k1)
    crit = _t_crit(df, 1 - alpha / 2) * np.sqrt(se2)
    sd = (sigma * np.sqrt(1 / n0 + 1 / n1))[:, None, None]
    pw = special.ndtr((delta - crit) / sd) + special.ndtr((-delta - crit) / sd)
    return np.einsum("kij,i,j->k", pw, w, w)


def _jacobi(k: int, a) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Jacobi rules for ``R ~ Beta(1/2, a + 1)`` on (0, 1), one per value of ``a``.

    The nodes and weights of ``scipy.special.roots_jacobi(k, a, -1/2)`` mapped
    to ``r = (1 + x) / 2``, weights summing to one (to about 1e-15), by
    Golub-Welsch: the eigenvalues of the symmetric tridiagonal Jacobi matrix of
    the weight ``(1 - x)^a (1 + x)^(-1/2)`` (all values of ``a`` in one stacked
    ``eigvalsh``) and the Christoffel numbers. scipy's
    routine polishes each rule on its own and imports :mod:`scipy.linalg`: a
    quarter of a second for the 50-odd rules of one power value.

    Returns
    -------
    r, w : ndarray, shape ``(len(a), k)``

    Examples
    --------
    >>> r, w = _jacobi(3, [0.0])  # Beta(1/2, 1): E[R] = 1/3
    >>> round(float(r[0] @ w[0]), 12)
    0.333333333333
    """
    a = np.asarray(a, dtype=float)[:, None]
    b = -0.5
    i = np.arange(k, dtype=float)[None, :]
    s = 2 * i + a + b
    with np.errstate(invalid="ignore", divide="ignore"):
        diag = (b * b - a * a) / (s * (s + 2))
    diag[:, 0] = ((b - a) / (a + b + 2))[:, 0]  # also where a + b = 0
    j = i[:, 1:]
    s = 2 * j + a + b
    off = np.sqrt(4 * j * (j + a) * (j + b) * (j + a + b) / (s * s * (s + 1) * (s - 1)))
    m = np.zeros((len(a), k, k))
    idx = np.arange(k)
    m[:, idx, idx] = diag
    m[:, idx[1:], idx[:-1]] = off
    m[:, idx[:-1], idx[1:]] = off
    x = np.linalg.eigvalsh(m)
    # Christoffel numbers 1 / sum_j p_j(x)^2 over the orthonormal polynomials
    # (three-term recurrence): each weight to a few ulp, even the tiny ones.
    p_prev, p = np.zeros_like(x), np.ones_like(x)
    total = np.ones_like(x)
    for n in range(k - 1):
        beta = off[:, n - 1 : n] if n else 0.0
        p_prev, p = p, ((x - diag[:, n : n + 1]) * p - beta * p_prev) / off[:, n : n + 1]
        total += p * p
    w = 1.0 / total
    return (1 + x) / 2, w / w.sum(axis=1, keepdims=True)


def _ancova_conditional(n0, n1, delta: float, sd_e: float, alpha: float, nodes: int = 32):
    """Exact ANCOVA power given arm sizes (arrays, each arm >= 2, N >= 4).

    Given the baselines the arm t statistic is noncentral t on ``N - 3`` df
    with ``ncp = delta sqrt(1 - R) / (sd_e sqrt(1/n0 + 1/n1))``,
    ``R ~ Beta(1/2, (N - 2)/2)``; Gauss-Jacobi quadrature over ``R``. All
    (n0, n1) pairs in one call: nodes and t quantiles once per total ``N``.

    Examples
    --------
    >>> round(float(_ancova_conditional(np.array([44.0]), np.array([44.0]), 2.46, 2.98, 0.05)[0]), 4)
    0.9675
    """
    n0 = np.asarray(n0, dtype=float)
    n1 = np.asarray(n1, dtype=float)
    totals, inv = np.unique(n0 + n1, return_inverse=True)
    r, w = _jacobi(nodes, (totals - 4) / 2)
    r, w = r[inv], w[inv]
    df = totals - 3
    crit = special.stdtrit(df, 1 - alpha / 2)
    ncp = delta * np.sqrt(1 - r) / (sd_e * np.sqrt(1 / n0 + 1 / n1))[:, None]
    pw = np.empty_like(ncp)
    for g in range(len(totals)):  # one noncentral t power curve per df
        rows = inv == g
        pw[rows] = _power_nct_curve(df[g], ncp[rows], crit[g])
    return np.einsum("kj,kj->k", w, pw)


def _power_nct_curve(df: float, ncp: np.ndarray, crit: float) -> np.ndarray:
    """:func:`_power_nct` at many noncentralities for one ``df``: Chebyshev interpolation in ``ncp``.

    ``nctdtr`` costs about 3 us a value and the ANCOVA power needs 32 values
    per pair of completer counts (tens of thousands); the power is an entire,
    slowly varying function of ``ncp``, so an interpolant on the range of the
    values replaces most evaluations. As :func:`_t_crit`: the degree (8 to 48)
    is the smallest whose interpolant agrees with :func:`_power_nct` to 1e-13
    midway between its nodes (:func:`_extrema`); else every value is
    computed.
    """
    lo, hi = float(ncp.min()), float(ncp.max())
    if ncp.size < 256 or not hi > lo:
        return _power_nct(df, ncp, crit)
    domain = np.array([lo, hi])
    for degree in (8, 12, 16, 24, 32, 48):
        if 3 * degree >= ncp.size:
            break
        nodes, vander = _chebyshev_nodes(degree)
        # Chebyshev.interpolate(f, degree, domain=[lo, hi]) and its __call__,
        # step by step (same operations, same values) without the class's
        # per-call overhead, and with the nodes' Vandermonde matrix computed once
        coef = np.dot(vander.T, _power_nct(df, pu.mapdomain(nodes, _WINDOW, [lo, hi]), crit))
        coef[0] /= degree + 1
        coef[1:] /= 0.5 * (degree + 1)

        def cheb(x, coef=coef):
            return cheb_mod.chebval(pu.mapdomain(x, domain, _WINDOW), coef)

        check = _extrema(degree, lo, hi)
        if np.max(np.abs(cheb(check) - _power_nct(df, check, crit))) <= 1e-13:
            return cheb(ncp)
    return _power_nct(df, ncp, crit)


#: The window of numpy's Chebyshev series: interpolants are built on [-1, 1].
_WINDOW = np.array([-1.0, 1.0])


@lru_cache(maxsize=8)
def _chebyshev_nodes(degree: int) -> tuple[np.ndarray, np.ndarray]:
    """Chebyshev points of the first kind for ``degree`` and their Vandermonde matrix (as ``chebinterpolate``)."""
    nodes = cheb_mod.chebpts1(degree + 1)
    return nodes, cheb_mod.chebvander(nodes, degree)


def analytic_power(cfg: dict, method: str) -> float:
    """Exact power of ``method`` under ``cfg`` where a formula exists, else NaN.

    Defined for ``student_t``, ``welch_t`` and ``ancova`` (no extra covariates)
    in direct mode, with dropout independent of the data, complete-case
    analysis of the % change and ``simple`` or ``permuted_blocks``
    randomization, i.e. exactly where :func:`vtrial.engine.exact_valid` holds:

    * Student: noncentral t, ``df = n0 + n1 - 2``,
      ``ncp = delta / (sd sqrt(1/n0 + 1/n1))``;
    * Welch: ``P(|D| > t_{nu(s)} SE(s))`` integrated over the two independent
      scaled chi-square sample variances (32 x 32 Gauss-Legendre nodes on the
      probability scale), ``D ~ N(delta, sd^2 (1/n0 + 1/n1))``;
    * ANCOVA: given the baselines the t statistic is noncentral t on
      ``N - 3`` df with ``ncp = delta sqrt(1 - R) / (sd_e sqrt(1/n0 + 1/n1))``,
      where ``sd_e`` is the residual SD of the change given baseline and
      ``R ~ Beta(1/2, (N - 2)/2)`` expresses the chance baseline imbalance
      ``(bbar1 - bbar0)^2 / Sbb``; averaged by Gauss-Jacobi quadrature;

    each averaged over the law of the analysed arm sizes (randomization and
    binomial MCAR completers). Arms with fewer than two men count as not
    significant (the analysis fails).

    Parameters
    ----------
    cfg : dict
        Validated config of one scenario.
    method : str

    Returns
    -------
    float
        Probability of p < ``analysis.alpha``; NaN where no formula exists.

    Examples
    --------
    >>> from vtrial.config import load_config
    >>> cfg = load_config(overrides=["dropout.anastrozole=0", "dropout.placebo=0"])
    >>> round(analytic_power(cfg, "student_t"), 4)  # R: power.t.test(n=44, delta=2.46, sd=3)
    0.9673
    """
    if analytic_reason(cfg, method):
        return float("nan")
    mo = model.moments(cfg)
    delta = float(mo.mean_pct[1] - mo.mean_pct[0])
    alpha = float(cfg["analysis"]["alpha"])
    sigma = math.sqrt(mo.cov[1, 1])
    n0, n1, p = analysable_law(cfg, method)
    if not len(p):
        return 0.0
    h = np.sqrt(1 / n0 + 1 / n1)
    if method == "student_t":
        df = n0 + n1 - 2
        pw = _power_nct(df, delta / (sigma * h), special.stdtrit(df, 1 - alpha / 2))
        return float(p @ pw)
    if method == "welch_t":
        return float(p @ _welch_conditional(n0, n1, delta, sigma, alpha))
    if method == "ancova":
        sd_e = math.sqrt(mo.cov[1, 1] - mo.cov[0, 1] ** 2 / mo.cov[0, 0])
        return float(p @ _ancova_conditional(n0, n1, delta, sd_e, alpha))
    return float("nan")
