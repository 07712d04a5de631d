"""Analytic power of multi-arm designs: noncentral t per comparison, multivariate t for the family.

The formulas of :mod:`vtrial.analytic` for the statistics of
:mod:`vtrial.design_stats`, whose residual variance is pooled over all ``A``
arms. For the spine endpoint, in direct mode, with MCAR dropout,
complete-case analysis of the % change and ``permuted_blocks`` randomization
(arm sizes at their planned values ``n_k``; exact when every block is
complete, e.g. one block size that divides the total):

* ``student_t``, comparison of arms i and j: with ``c_k`` completers per arm
  (independent binomials ``Bin(n_k, 1 - dropout_k)``) and ``C`` in all, the
  t statistic is noncentral t on ``C - A`` df with
  ``ncp = delta / (sd sqrt(1/c_i + 1/c_j))``;
* ``welch_t``, comparison of arms i and j: the two-arm Welch formula of
  :mod:`vtrial.analytic` (quadrature over the two arms' sample variances,
  Welch-Satterthwaite df) at ``alpha`` (``none``) or ``alpha / m``
  (``bonferroni``), averaged over the two arms' completer counts (Welch reads
  only those two arms); no formula with ``dunnett``, which the design refuses;
* ``ancova``: given the baselines, noncentral t on ``C - A - 1`` df with
  ``ncp = delta sqrt(1 - R) / (sd_e sqrt(1/c_i + 1/c_j))``, where
  ``R = Z^2 / (Z^2 + X)``, ``Z`` the standardised difference of the two arms'
  mean baselines and ``X ~ chi2(C - A)`` the pooled within-arm baseline sum
  of squares over its variance: ``R ~ Beta(1/2, (C - A)/2)``, averaged by
  Gauss-Jacobi quadrature (:func:`vtrial.analytic._jacobi`);

each averaged over the completer counts; the two-sided test rejects when
``|t|`` exceeds the critical value of the row's multiplicity method:
``t_{df, 1 - alpha/2}`` (``none``), ``t_{df, 1 - alpha/(2m)}`` for ``m``
comparisons (``bonferroni``), Dunnett's ``c(df)`` for the planned allocation
(``dunnett``, as the simulation decides). A comparison with fewer than two
completers in one of its arms, or no residual df, counts as not significant.

Computation (:func:`_averaged_power`): completer counts of probability below
1e-9 per arm are dropped, then the least likely totals together at most
1e-10 of probability; the noncentral t power of all remaining totals is
interpolated at once by Chebyshev series in the noncentrality, and the
Gauss-Jacobi average by a second series per total in
``delta / (sd sqrt(1/c_i + 1/c_j))``, each accepted only where it agrees
with its function to 1e-13 midway between its nodes. Against the term-by-term
sum (``nctdtr`` at every completer triple and node) the power agrees to
1e-8 (tested; the 1e-9 per-arm truncation dominates).

Family-wise rows (``student_t``, comparisons ``vs_control``, no dropout):
the t statistics are ``T_k = (Z_k + ncp_k) / S`` with ``S^2 ~ chi2(df)/df``
and ``Z`` normal with correlations ``lambda_k lambda_l``,
``lambda_k = sqrt(n_k / (n_k + n_0))`` (shared control), so
``Z_k = lambda_k W + sqrt(1 - lambda_k^2) U_k`` with ``W, U_k`` independent
standard normals. Given ``(W, S)`` the events ``|T_k| > c`` are independent:
``all`` (every comparison significant) is ``E[prod_k p_k(W, S)]`` and ``any``
is ``1 - E[prod_k (1 - p_k(W, S))]``, a two-dimensional integral (the
multivariate noncentral t probability) computed with 96 Gauss-Hermite nodes
in ``W`` and 96 Gauss-Legendre nodes in ``log S^2`` (under the global null
Dunnett's ``any`` row is alpha to 1e-11). ``holm``'s ``any`` row is ``bonferroni``'s (Holm rejects at least one
hypothesis exactly when the smallest p-value is below ``alpha / m``).

Everything else (MMRM, other endpoints and rules, step-wise
adjustments of single comparisons, dropout in the family-wise rows) has no
formula here: NaN, with :func:`reason` saying why.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from scipy import special

from vtrial import model
from vtrial.analytic import _jacobi, _power_nct, _welch_conditional
from vtrial.design import design_of, effective_cohort
from vtrial.design_decisions import DunnettCritical, dunnett_critical
from vtrial.design_sim import true_differences

#: Methods with a formula.
METHODS = ("student_t", "welch_t", "ancova")
#: Multiplicity methods whose single-comparison rows have a formula.
SINGLE_STEP = ("none", "bonferroni", "dunnett")
#: Smallest probability of a completer count kept (the rest is dropped).
TOL = 1e-9
#: Largest probability of the completer totals left out of a pairwise formula.
DROP = 1e-10
#: Degrees tried by the Chebyshev interpolants of the noncentral t power.
DEGREES = (16, 24, 40, 64)


def reason(cfg: dict, method: str) -> str:
    """Why no formula gives ``method``'s pairwise power under a design ("" if one does).

    Examples
    --------
    >>> from vtrial.config import load_config
    >>> cfg = load_config(overrides=["trial.arms=[{name: p}, {name: a, difference_pct: -2}, {name: b}]",
    ...                              "trial.block_sizes=[6]"])
    >>> reason(cfg, "ancova"), reason(cfg, "mmrm")
    ('', 'mmrm has no formula (student_t, welch_t, ancova)')
    """
    out = []
    if method not in METHODS:
        out.append(f"{method} has no formula ({', '.join(METHODS)})")
    a, d = cfg["analysis"], cfg["dropout"]
    if cfg["effects"]["mode"] != "direct":
        out.append("estradiol-mediated effects are not normal")
    design = design_of(cfg)
    if d["mechanism"] != "MCAR" and d["strength"] > 0 and any(arm.dropout > 0 for arm in design.arms):
        out.append(f"{d['mechanism']} dropout depends on the data")
    if cfg["trial"]["randomization"] != "permuted_blocks":
        out.append(f"randomization {cfg['trial']['randomization']} varies the arm sizes")
    if a["missing"] != "complete_case" or a["scale"] != "pct" or a.get("covariates") or a.get("robust_se"):
        out.append("only complete-case analysis of the % change without extra covariates")
    if len(design.endpoints) > 1 and design.endpoint_rule != "primary":
        out.append(f"endpoint_rule {design.endpoint_rule} combines two endpoints")
    return "; ".join(out)


def _moments(cfg: dict) -> tuple[float, float]:
    """SD of the observed endpoint % change, and its residual SD given baseline BMD (spine)."""
    e = cfg["effects"]
    c = {**cfg, "cohort": effective_cohort(cfg)}
    sd_d = math.sqrt(e["sd_pct_change"] ** 2 - 2 * cfg["measurement"]["bmd_cv_pct"] ** 2)
    cov = model._cov_rows(c, sd_d)
    return math.sqrt(cov[1][1]), math.sqrt(cov[1][1] - cov[0][1] ** 2 / cov[0][0])


def _completers(n: int, dropout: float) -> tuple[np.ndarray, np.ndarray]:
    """Completer counts of one arm and their binomial probabilities (those above :data:`TOL`)."""
    k = np.arange(n + 1)
    p = special.binom(n, k) * (1 - dropout) ** k * dropout ** (n - k) if dropout > 0 else (k == n) * 1.0
    keep = p > TOL
    return k[keep].astype(float), p[keep]


def _rest_law(design, skip) -> tuple[np.ndarray, np.ndarray]:
    """Law of the completers of every arm not in ``skip`` (convolution of binomials)."""
    law = np.array([1.0])
    for k, arm in enumerate(design.arms):
        if k in skip:
            continue
        c, p = _completers(design.sizes[k], arm.dropout)
        full = np.zeros(design.sizes[k] + 1)
        full[c.astype(int)] = p
        law = np.convolve(law, full)
    counts = np.flatnonzero(law > TOL)
    return counts.astype(float), law[counts]


def _critical(design, mult: str, df: np.ndarray, alpha: float, dunnett) -> np.ndarray:
    if mult == "dunnett":
        return dunnett.critical(df)
    m = len(design.labels) if mult == "bonferroni" else 1
    return special.stdtrit(df, 1 - alpha / (2 * m))


def _dunnett(design, alpha: float, cache: dict | None) -> DunnettCritical:
    """Dunnett critical values of the planned allocation (:func:`dunnett_critical`)."""
    return dunnett_critical({} if cache is None else cache, design, alpha)


def comparison_power(cfg: dict, method: str, label: str, mult: str | None = None, dunnett=None) -> float:
    """Power of one comparison after a single-step adjustment (NaN where there is no formula).

    Parameters
    ----------
    cfg : dict
        Validated config setting a design.
    method : str
        ``student_t``, ``welch_t`` or ``ancova``.
    label : str
        ``<arm>-<reference>``.
    mult : str, optional
        ``none``, ``bonferroni`` or ``dunnett`` (default ``analysis.multiplicity``).
    dunnett : dict, optional
        Cache of Dunnett critical values kept by the caller across calls.

    Examples
    --------
    >>> from vtrial.config import load_config
    >>> cfg = load_config(overrides=["trial.arms=[{name: p}, {name: a, difference_pct: -2.46}, {name: b}]",
    ...                              "trial.block_sizes=[3]", "trial.n_per_arm=44"])
    >>> round(comparison_power(cfg, "student_t", "a-p", "none"), 4)  # noncentral t: 129 df, ncp 3.846
    0.9684
    """
    design = design_of(cfg)
    mult = design.multiplicity if mult is None else mult
    if reason(cfg, method) or mult not in SINGLE_STEP:
        return float("nan")
    alpha = float(cfg["analysis"]["alpha"])
    i, j = design.comparisons[design.labels.index(label)]
    delta = true_differences(cfg)["spine", label]
    sd, sd_e = _moments(cfg)
    ci, pi = _completers(design.sizes[i], design.arms[i].dropout)
    cj, pj = _completers(design.sizes[j], design.arms[j].dropout)
    if method == "welch_t":
        if mult == "dunnett":  # Dunnett's critical values assume a pooled variance
            return float("nan")
        # Welch reads only the pair's two arms: the two-arm quadrature over
        # their sample variances, at alpha / m under Bonferroni
        m = len(design.labels) if mult == "bonferroni" else 1
        ci, cj = np.meshgrid(ci, cj, indexing="ij")
        w = np.outer(pi, pj)
        ok = (ci >= 2) & (cj >= 2)
        return float(w[ok] @ _welch_conditional(ci[ok], cj[ok], delta, sd, alpha / m))
    cr, pr = _rest_law(design, (i, j))
    ci, cj, cr = np.meshgrid(ci, cj, cr, indexing="ij")
    w = (pi[:, None, None] * pj[None, :, None] * pr[None, None, :]).ravel()
    ci, cj, total = ci.ravel(), cj.ravel(), (ci + cj + cr).ravel()
    ok = (ci >= 2) & (cj >= 2)
    ci, cj, total, w = ci[ok], cj[ok], total[ok], w[ok]
    arms = len(design.arms)
    crit_cache = _dunnett(design, alpha, dunnett) if mult == "dunnett" else None
    ancova = method == "ancova"
    # Too few completers in all for the residual df (ANCOVA needs A + 2):
    # the analysis fails, not significant.
    ok = total - arms - ancova >= 1
    ci, cj, total, w = ci[ok], cj[ok], total[ok], w[ok]
    # The least likely totals, together at most DROP of probability, are left
    # out (each pair's power is at most 1, so the sum moves by at most DROP):
    # about a third of the totals the per-arm truncation leaves.
    totals, inv = np.unique(total, return_inverse=True)
    mass = np.bincount(inv, weights=w)
    order = np.argsort(mass)
    keep = np.ones(len(totals), dtype=bool)
    keep[order[np.cumsum(mass[order]) <= DROP]] = False
    ok = keep[inv]
    ci, cj, total, w = ci[ok], cj[ok], total[ok], w[ok]
    totals, inv = np.unique(total, return_inverse=True)
    df = totals - arms - ancova
    crit = _critical(design, mult, df, alpha, crit_cache)
    if ancova:
        r, wr = _jacobi(32, (totals - arms - 2) / 2)
        # Nodes carrying less than 1e-15 in every total are dropped (power
        # changes by less than their summed weight, a few 1e-15).
        keep = (wr > 1e-15).any(axis=0)
        s, wr = np.sqrt(1 - r[:, keep]), wr[:, keep]
    else:
        s, wr = np.ones((len(totals), 1)), np.ones((len(totals), 1))
    x = delta / ((sd_e if ancova else sd) * np.sqrt(1 / ci + 1 / cj))
    return float(w @ _averaged_power(df, crit, s, wr, x, inv))


def _cheb_matrix(n: int) -> tuple[np.ndarray, np.ndarray]:
    """First-kind Chebyshev points on [-1, 1] and the matrix taking values there to coefficients."""
    theta = np.pi * (np.arange(n) + 0.5) / n
    m = 2.0 / n * np.cos(np.outer(np.arange(n), theta))
    m[0] /= 2
    return np.cos(theta), m


def _clenshaw(coef: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Chebyshev series with coefficients ``coef[..., j]`` at ``u`` in [-1, 1] (broadcast over rows)."""
    b1 = b2 = np.zeros(np.broadcast_shapes(coef.shape[:-1], u.shape))
    for j in range(coef.shape[-1] - 1, 0, -1):
        b1, b2 = coef[..., j] + 2 * u * b1 - b2, b1
    return coef[..., 0] + u * b1 - b2


def _fit_rows(fun, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Chebyshev interpolants of ``fun(rows, x)`` on ``[lo, hi]`` per row, all rows at once.

    As :func:`vtrial.analytic._power_nct_curve`: a row's degree (24, 40 or 64)
    is the smallest whose interpolant agrees with ``fun`` to 1e-13 at the
    extrema of the next Chebyshev polynomial (midway between its nodes).
    Returns the coefficients (zero-padded to the largest degree used) and
    which rows converged (the others must be computed directly).
    """
    rows = np.arange(len(lo))
    coef = np.zeros((len(lo), 65))
    ok = np.zeros(len(lo), dtype=bool)
    used = 1
    for degree in DEGREES:
        if not len(rows):
            break
        t, m = _cheb_matrix(degree + 1)
        mid, half = (hi[rows] + lo[rows])[:, None] / 2, (hi[rows] - lo[rows])[:, None] / 2
        c = fun(rows, mid + half * t) @ m.T
        u = np.cos(np.pi * np.arange(degree + 2) / (degree + 1))
        good = (
            np.max(np.abs(_clenshaw(c[:, None, :], u[None, :]) - fun(rows, mid + half * u)), axis=1) <= 1e-13
        )
        coef[rows[good], : degree + 1] = c[good]
        ok[rows[good]] = True
        used = max(used, degree + 1) if good.any() else used
        rows = rows[~good]
    return coef[:, :used], ok


def _averaged_power(df, crit, s, wr, x, inv) -> np.ndarray:
    """Power of each pair of completer counts, ``sum_k wr[g, k] P(|T| > crit[g])``, T noncentral t.

    ``T`` has ``df[g]`` df and noncentrality ``x s[g, k]``, ``g = inv`` the
    pair's total (one row of ``s``, ``wr`` per total: Gauss-Jacobi nodes for
    ANCOVA, a single node 1 for Student). Two Chebyshev levels per total,
    all totals at once: ``f_g(y) = P(|T| > c)`` in the noncentrality ``y``,
    then ``H_g(x) = sum_k wr[g, k] f_g(x s[g, k])`` in ``x`` (from ``f_g``'s
    interpolant), so the series is evaluated once per pair instead of once per
    pair and quadrature node, and ``nctdtr`` runs only at the nodes and check
    points of ``f_g``. Each level is accepted where it agrees with its
    function to 1e-13 at the checks (:func:`_fit_rows`); totals where either
    does not are computed directly.
    """
    groups = len(df)
    xlo, xhi = np.full(groups, np.inf), np.full(groups, -np.inf)
    np.minimum.at(xlo, inv, x)
    np.maximum.at(xhi, inv, x)
    seen = np.isfinite(xlo)
    xlo[~seen], xhi[~seen] = 0.0, 1.0
    xhi = np.maximum(xhi, xlo + 1e-3)
    ends = np.stack([xlo * s.min(axis=1), xlo * s.max(axis=1), xhi * s.min(axis=1), xhi * s.max(axis=1)])
    ylo, yhi = ends.min(axis=0), ends.max(axis=0)
    yhi = np.maximum(yhi, ylo + 1e-3)
    fc, fok = _fit_rows(lambda g, y: _power_nct(df[g, None], y, crit[g, None]), ylo, yhi)

    def h(g, xs):  # H_g at xs (rows g) from f_g's interpolant
        y = xs[:, :, None] * s[g, None, :]
        u = (2 * y - (yhi[g] + ylo[g])[:, None, None]) / (yhi[g] - ylo[g])[:, None, None]
        return np.einsum("gpk,gk->gp", _clenshaw(fc[g, None, None, :], u), wr[g])

    hc, hok = _fit_rows(h, xlo, xhi)
    u = (2 * x - (xhi + xlo)[inv]) / (xhi - xlo)[inv]
    out = _clenshaw(hc[inv], u)
    for g in np.flatnonzero(seen & ~(fok & hok)):
        rows = inv == g
        out[rows] = _power_nct(df[g], x[rows, None] * s[g], crit[g]) @ wr[g]
    return out


@lru_cache(maxsize=4)
def _nodes(k: int):
    x, w = np.polynomial.hermite_e.hermegauss(k)
    u, v = np.polynomial.legendre.leggauss(k)
    return x, w / math.sqrt(2 * math.pi), u, v


def _s_rule(df: float, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights for ``S = sqrt(X / df)``, ``X ~ chi2(df)``: Gauss-Legendre in ``log X``.

    The density of ``log X`` is smooth and decays at least exponentially, so
    Gauss-Legendre nodes between its 1e-15 and 1 - 1e-15 quantiles converge
    fast (on the probability scale the integrand has endpoint singularities).
    """
    lo = math.log(2 * special.gammaincinv(df / 2, 1e-15))
    hi = math.log(2 * special.gammainccinv(df / 2, 1e-15))
    y = lo + (hi - lo) * (u + 1) / 2
    x = np.exp(y)
    dens = np.exp(df / 2 * np.log(x / 2) - x / 2 - special.gammaln(df / 2))
    return np.sqrt(x / df), v * (hi - lo) / 2 * dens


def familywise_power(cfg: dict, method: str, which: str, mult: str | None = None, dunnett=None) -> float:
    """``any`` or ``all`` comparisons significant (NaN where there is no formula; module docstring).

    Examples
    --------
    >>> from vtrial.config import load_config
    >>> cfg = load_config(overrides=["trial.arms=[{name: p, dropout: 0}, {name: a, dropout: 0},"
    ...                              " {name: b, dropout: 0}]", "trial.block_sizes=[3]",
    ...                              "analysis.multiplicity=dunnett"])
    >>> round(familywise_power(cfg, "student_t", "any"), 9)  # the global null: alpha
    0.05
    """
    design = design_of(cfg)
    mult = design.multiplicity if mult is None else mult
    if mult == "holm" and which == "any":
        mult = "bonferroni"
    if (
        reason(cfg, method)
        or method != "student_t"
        or mult not in SINGLE_STEP
        or any(r != design.control for _, r in design.comparisons)
        or any(arm.dropout > 0 for arm in design.arms)
    ):
        return float("nan")
    alpha = float(cfg["analysis"]["alpha"])
    sd, _ = _moments(cfg)
    truths = true_differences(cfg)
    n = np.array(design.sizes, dtype=float)
    n0 = n[design.control]
    treated = np.array([t for t, _ in design.comparisons])
    lam = np.sqrt(n[treated] / (n[treated] + n0))
    ncp = np.array([truths["spine", lab] for lab in design.labels]) / (sd * np.sqrt(1 / n[treated] + 1 / n0))
    df = float(n.sum() - len(n))
    crit_cache = _dunnett(design, alpha, dunnett) if mult == "dunnett" else None
    c = float(_critical(design, mult, np.array([df]), alpha, crit_cache)[0])
    x, wx, u, v = _nodes(96)
    s, wu = _s_rule(df, u, v)
    # (W nodes, S nodes, comparisons): P(|lambda W + r U + ncp| > c s)
    mean = lam * x[:, None, None] + ncp
    r = np.sqrt(1 - lam * lam)
    cs = c * s[None, :, None]
    p = special.ndtr((-cs - mean) / r) + special.ndtr((mean - cs) / r)
    if which == "all":
        return float(np.einsum("i,j,ij->", wx, wu, p.prod(axis=-1)))
    return float(1 - np.einsum("i,j,ij->", wx, wu, (1 - p).prod(axis=-1)))


def row_power(cfg: dict, method: str, endpoint: str, comparison: str, mult: str, dunnett=None) -> float:
    """Analytic power of one row of a design power table (NaN where there is no formula)."""
    if endpoint != "spine":
        return float("nan")
    if comparison in ("any", "all"):
        return familywise_power(cfg, method, comparison, mult, dunnett)
    return comparison_power(cfg, method, comparison, mult, dunnett)


def search_power(cfg: dict, method: str, comparison: str | None = None, dunnett=None) -> float:
    """The formula of a search's row (:func:`vtrial.design_power.search_rows`): NaN where none exists."""
    from vtrial.design_power import search_rows

    design = design_of(cfg)
    endpoint, labels = search_rows(design, comparison)
    return min(row_power(cfg, method, endpoint, c, design.multiplicity, dunnett) for c in labels)


def search_reason(cfg: dict, method: str, comparison: str | None = None, dunnett=None) -> str:
    """Why a search's row has no formula under ``cfg`` ("" if it has one)."""
    why = reason(cfg, method)
    if not why and math.isnan(search_power(cfg, method, comparison, dunnett)):
        why = f"no formula for this row with multiplicity {design_of(cfg).multiplicity} (module docstring)"
    return why
