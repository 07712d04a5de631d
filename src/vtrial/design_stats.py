"""Vectorised per-comparison statistics of multi-arm, any-schedule designs.

Every function works on a whole block of replicate trials at once (arrays of
shape ``(reps, n)`` or ``(reps, n, scans)``, NaN where a value was not
observed); loops run over arms, comparisons and scans, never over replicates.
A comparison is a pair ``(treated, reference)`` of arm indices and its
estimate is the treated arm's mean change minus the reference arm's, at the
endpoint scan. Each function returns one
:class:`vtrial.analysis.result.Replicates` per comparison (``n_placebo``
holds the reference arm's men analysed, ``n_anastrozole`` the treated arm's).

``student_t``
    Pooled-variance t on the change at the endpoint scan (completers), the
    one-way model of all arms at once: residual variance pooled over every
    arm, ``df = N - A`` (N completers, A arms). With two arms this is
    Student's two-sample t.
``welch_t``
    Welch's two-sample t of each pair (its own two arms only,
    Welch-Satterthwaite df).
``ancova``
    One joint OLS model across all arms, ``change ~ arm + bmd0`` (arm
    dummies, one common baseline slope), pooled residual variance on
    ``df = N - A - 1``; the contrast of arms i and j is
    ``(ybar_i - ybar_j) - beta (bbar_i - bbar_j)`` with variance
    ``s^2 (1/n_i + 1/n_j + (bbar_i - bbar_j)^2 / Sbb)``.
``mmrm``
    REML mixed model for repeated measures on the post-baseline scans up to
    the endpoint: visit-specific intercept, arm and baseline-BMD effects,
    unstructured covariance, in closed form under monotone dropout
    (:func:`mmrm_design`), Satterthwaite df.

``student_t``, ``welch_t`` and ``ancova`` depend on the data only through
per-arm sums; :func:`student_sums`, :func:`welch_sums` and
:func:`ancova_sums` compute them from those sums (the ``*_design`` functions
sum the men first), which the exact shortcut (:mod:`vtrial.design_exact`)
draws directly. The formulas and their derivation are in
``docs/design_power.md``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from vtrial.analysis.result import Replicates
from vtrial.analysis.ttests import t_results

__all__ = ["STATISTICS", "ancova_design", "ancova_sums", "monotone", "mmrm_design", "student_design",
           "student_sums", "welch_design", "welch_sums"]  # fmt: skip


def _arm_sums(y: np.ndarray, x: Sequence[np.ndarray], arm: np.ndarray, a: int, keep: np.ndarray):
    """Men kept in arm ``a``, their means of y and each x, and the within-arm SSCP of [x..., y].

    Returns ``n (reps,)``, ``means (p + 1, reps)`` and ``sscp (p + 1, p + 1, reps)``
    with the variables in the order ``x..., y``.
    """
    w = keep & (arm == a)
    n = np.count_nonzero(w, axis=1)
    nn = np.maximum(n, 1)
    cen, means = [], []
    for v in (*x, y):
        z = np.where(w, v, 0.0)
        mu = z.sum(axis=1) / nn
        means.append(mu)
        cen.append(np.where(w, v - mu[:, None], 0.0))
    p = len(cen)
    sscp = np.empty((p, p, len(n)))
    for i in range(p):
        for j in range(i, p):
            sscp[i, j] = sscp[j, i] = np.einsum("rn,rn->r", cen[i], cen[j])
    return n, np.array(means), sscp


def _pooled(y, x, arm, n_arms, keep):
    """Per-arm sizes ``(A, reps)``, means ``(A, p + 1, reps)`` and pooled SSCP ``(p + 1, p + 1, reps)``."""
    ns, means, total = [], [], 0.0
    for a in range(n_arms):
        n, mu, s = _arm_sums(y, x, arm, a, keep)
        ns.append(n)
        means.append(mu)
        total = total + s
    return np.array(ns, dtype=float), np.array(means), total


def _per_arm(y, x, arm, n_arms, keep):
    """Per-arm sizes ``(A, reps)`` (float), means ``(A, p + 1, reps)`` and SSCP ``(A, p + 1, p + 1, reps)``."""
    sums = [_arm_sums(y, x, arm, a, keep) for a in range(n_arms)]
    return (
        np.array([n for n, _, _ in sums], dtype=float),
        np.array([m for _, m, _ in sums]),
        np.array([s for _, _, s in sums]),
    )


def _pool(per_arm):
    """Sum over arms (first axis), added in arm order."""
    total = per_arm[0]
    for s in per_arm[1:]:
        total = total + s
    return total


def _pair_sizes(ns, i, j):
    return np.stack([ns[j], ns[i]])


def student_design(y, arm, n_arms: int, pairs, alpha: float) -> list[Replicates]:
    """Pooled-variance t of each pair, variance pooled over all arms (df = N - A).

    Parameters
    ----------
    y : numpy.ndarray, shape (reps, n)
        Change at the endpoint scan (NaN: not observed).
    arm : numpy.ndarray of int, shape (reps, n)
        Arm index of each man.
    n_arms : int
        Number of arms A.
    pairs : sequence of (int, int)
        Comparisons ``(treated, reference)``.
    alpha : float
        Two-sided level (confidence intervals).

    Returns
    -------
    list of Replicates
        One per pair.

    Examples
    --------
    >>> y = np.array([[1.0, 2.0, 3.0, 5.0, 6.0, 9.0]])
    >>> r = student_design(y, np.array([[0, 0, 1, 1, 2, 2]]), 3, [(1, 0), (2, 0)], 0.05)
    >>> [float(x.estimate[0]) for x in r], float(r[0].df[0])
    ([2.5, 6.0], 3.0)
    """
    ns, means, sscp = _per_arm(y, [], arm, n_arms, np.isfinite(y))
    return student_sums(ns, means[:, 0], sscp[:, 0, 0], pairs, alpha)


def student_sums(ns, ybar, syy, pairs, alpha: float) -> list[Replicates]:
    """:func:`student_design` from per-arm sums: men ``ns``, mean ``ybar`` and centred sum of squares ``syy``.

    Each argument has shape ``(A, reps)`` (arm, replicate); ``ns`` is float.
    """
    n_arms = len(ns)
    n_tot = ns.sum(axis=0)
    df = n_tot - n_arms
    out = []
    with np.errstate(invalid="ignore", divide="ignore"):
        s2 = _pool(syy) / df
        for i, j in pairs:
            est = ybar[i] - ybar[j]
            se = np.sqrt(s2 * (1.0 / ns[i] + 1.0 / ns[j]))
            ok = (ns[i] >= 1) & (ns[j] >= 1) & (df >= 1) & (se > 0)
            out.append(t_results(est, se, df, _pair_sizes(ns, i, j), _pair_sizes(ns, i, j), alpha, ok))
    return out


def welch_design(y, arm, n_arms: int, pairs, alpha: float) -> list[Replicates]:
    """Welch's two-sample t of each pair (only the pair's two arms, Welch-Satterthwaite df).

    Parameters and returns as :func:`student_design`.

    Examples
    --------
    >>> y = np.array([[1.0, 2.0, 3.0, 5.0, 6.0, 9.0]])
    >>> r = welch_design(y, np.array([[0, 0, 1, 1, 2, 2]]), 3, [(2, 0)], 0.05)
    >>> round(float(r[0].se[0]), 6)  # sqrt(0.5 / 2 + 4.5 / 2)
    1.581139
    """
    ns, means, sscp = _per_arm(y, [], arm, n_arms, np.isfinite(y))
    return welch_sums(ns, means[:, 0], sscp[:, 0, 0], pairs, alpha)


def welch_sums(ns, ybar, syy, pairs, alpha: float) -> list[Replicates]:
    """:func:`welch_design` from per-arm sums (arguments as :func:`student_sums`)."""
    out = []
    with np.errstate(invalid="ignore", divide="ignore"):
        for i, j in pairs:
            vi = syy[i] / (ns[i] - 1.0) / ns[i]
            vj = syy[j] / (ns[j] - 1.0) / ns[j]
            se2 = vi + vj
            df = se2**2 / (vi**2 / (ns[i] - 1.0) + vj**2 / (ns[j] - 1.0))
            ok = (ns[i] >= 2) & (ns[j] >= 2) & (se2 > 0)
            size = np.stack([ns[j], ns[i]])
            out.append(t_results(ybar[i] - ybar[j], np.sqrt(se2), df, size, size, alpha, ok))
    return out


def ancova_design(y, b0, arm, n_arms: int, pairs, alpha: float) -> list[Replicates]:
    """Joint ANCOVA ``change ~ arm + bmd0`` across all arms; contrasts per pair (df = N - A - 1).

    Parameters
    ----------
    y : numpy.ndarray, shape (reps, n)
        Change at the endpoint scan (NaN: not observed).
    b0 : numpy.ndarray, shape (reps, n)
        Baseline BMD (g/cm2).
    arm, n_arms, pairs, alpha
        As :func:`student_design`.

    Returns
    -------
    list of Replicates
        One per pair.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> arm = np.tile(np.repeat([0, 1, 2], 10), (2, 1))
    >>> b0 = rng.normal(1.15, 0.1, (2, 30)); y = rng.normal(0, 3, (2, 30))
    >>> r = ancova_design(y, b0, arm, 3, [(1, 0), (2, 0)], 0.05)
    >>> r[0].df.tolist()
    [26.0, 26.0]
    """
    ns, means, sscp = _per_arm(y, [b0], arm, n_arms, np.isfinite(y) & np.isfinite(b0))
    return ancova_sums(
        ns, means[:, 0], means[:, 1], sscp[:, 0, 0], sscp[:, 0, 1], sscp[:, 1, 1], pairs, alpha
    )


def ancova_sums(ns, bbar, ybar, sbb, sby, syy, pairs, alpha: float) -> list[Replicates]:
    """:func:`ancova_design` from per-arm sums: men, mean baseline and change, within-arm SSCP.

    Each argument has shape ``(A, reps)``; ``sbb``, ``sby``, ``syy`` are the
    arm's centred sums of squares and products of baseline and change.
    """
    df = ns.sum(axis=0) - len(ns) - 1.0
    s_bb, s_by, s_yy = _pool(sbb), _pool(sby), _pool(syy)
    out = []
    with np.errstate(invalid="ignore", divide="ignore"):
        beta = s_by / s_bb
        s2 = (s_yy - beta * s_by) / df
        for i, j in pairs:
            db = bbar[i] - bbar[j]
            est = (ybar[i] - ybar[j]) - beta * db
            se = np.sqrt(s2 * (1.0 / ns[i] + 1.0 / ns[j] + db * db / s_bb))
            ok = (ns[i] >= 1) & (ns[j] >= 1) & (df >= 1) & (s_bb > 0) & (se > 0)
            out.append(t_results(est, se, df, _pair_sizes(ns, i, j), _pair_sizes(ns, i, j), alpha, ok))
    return out


def monotone(y: np.ndarray) -> np.ndarray:
    """Keep each man's scans up to his first missing one (the rest set to NaN).

    The closed-form MMRM needs monotone missingness (a man seen at a scan was
    seen at every earlier one). Dropout gives it; an intermittently missed
    scan does not, and the scans after it are then left out.

    Examples
    --------
    >>> monotone(np.array([[[1.0, np.nan, 3.0], [1.0, 2.0, 3.0]]])).tolist()
    [[[1.0, nan, nan], [1.0, 2.0, 3.0]]]
    """
    seen = np.logical_and.accumulate(np.isfinite(y), axis=-1)
    return np.where(seen, y, np.nan)


def mmrm_design(
    y, b0, arm, n_arms: int, pairs, alpha: float, endpoint: int | None = None
) -> list[Replicates]:
    """REML MMRM with unstructured covariance over the scans up to the endpoint, per pair.

    Model, for man m at post-baseline scan v = 1..e (e the endpoint scan)::

        change_mv = a_v + t_{arm(m), v} + b_v bmd0_m + e_mv,   (e_m1..e_me) ~ N(0, Sigma)

    with Sigma unstructured (e (e + 1) / 2 parameters), fitted by REML on all
    observed scans (MAR), as R ``nlme::gls(change ~ 0 + visit + visit:arm +
    visit:bmd0, correlation = corSymm(form = ~ visit | id), weights =
    varIdent(form = ~ 1 | visit), method = "REML")``. The estimate of a pair
    is its arm contrast at scan e. Scans after the endpoint do not change it
    (their likelihood factor has its own parameters) and are not used.

    Under monotone dropout the REML criterion factorises (factored
    likelihood): with ``Z = [1, arm dummies, bmd0]`` (q = A + 1 columns),
    stage v is the regression of ``change_v`` on ``[Z, change_1..change_{v-1}]``
    over the men seen at scan v. The coefficients ``G_v`` of the earlier
    changes and the variance ``t2_v`` are covariance parameters (REML:
    ``t2_v = RSS_v / (n_v - q)``), the Z coefficients ``d_v`` fixed effects, so
    ``beta_v = d_v + sum_{j<v} G_vj beta_j``, i.e. ``beta_e = sum_u w_u d_u``
    with ``w`` the last row of ``(I - L)^-1`` (L strictly lower triangular,
    ``L[v, j] = G_vj``), and the contrast variance is ``sum_u w_u^2 t2_u a_u``,
    ``a_u = c' (Z_u' Z_u)^-1 c``. The observed REML information is block
    diagonal: ``S_v / t2_v`` for ``G_v`` (``S_v`` the residual SSCP of the
    earlier changes on Z among the men of stage v) and ``(n_v - q) / (2
    t2_v^2)`` for ``t2_v``; the Satterthwaite df ``2 v^2 / (grad' A grad)`` is
    invariant to this reparametrisation at the optimum. Without missing data
    it equals ``N - q``. With two scans this is
    :func:`vtrial.analysis.mmrm.mmrm_vec`.

    Parameters
    ----------
    y : numpy.ndarray, shape (reps, n, scans)
        Change from baseline at each post-baseline scan (NaN: not observed).
        A scan after a man's first missing one is not used (:func:`monotone`).
    b0 : numpy.ndarray, shape (reps, n)
        Baseline BMD (g/cm2); men without it are left out.
    arm, n_arms, pairs, alpha
        As :func:`student_design`.
    endpoint : int, optional
        Index (0-based) of the endpoint scan in the last axis; default the last.

    Returns
    -------
    list of Replicates
        One per pair; ``n_placebo`` / ``n_anastrozole`` are the reference and
        treated arms' men seen at the first scan.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> arm = np.tile(np.repeat([0, 1, 2], 12), (1, 1))
    >>> b0 = rng.normal(1.15, 0.1, (1, 36)); y = rng.normal(0, 3, (1, 36, 3)).cumsum(axis=2)
    >>> round(float(mmrm_design(y, b0, arm, 3, [(1, 0)], 0.05)[0].df[0]), 9)  # no missing data: N - q
    32.0
    """
    e = y.shape[2] - 1 if endpoint is None else int(endpoint)
    y = monotone(np.where(np.isfinite(b0)[:, :, None], y[:, :, : e + 1], np.nan))
    q = n_arms + 1
    reps = y.shape[0]
    k = e + 1
    # Stage regressions: G (reps, k, k) strictly lower, t2 (k, reps), per-stage
    # arm means of [b0, y_prev..., y_v], pooled SSCP, sizes.
    lmat = np.zeros((reps, k, k))
    t2 = np.empty((k, reps))
    nu = np.empty((k, reps))
    d = {pair: np.empty((k, reps)) for pair in pairs}
    a = {pair: np.empty((k, reps)) for pair in pairs}
    s_prev = [None] * k
    ok = np.ones(reps, dtype=bool)
    first_sizes = None
    with np.errstate(invalid="ignore", divide="ignore"):
        for v in range(k):
            keep = np.isfinite(y[:, :, v])
            x = [b0] + [y[:, :, j] for j in range(v)]
            ns, means, s = _pooled(y[:, :, v], x, arm, n_arms, keep)
            if first_sizes is None:
                first_sizes = ns
            n_v = ns.sum(axis=0)
            p = v + 1  # regressors b0, y_1..y_{v}
            sxx = np.moveaxis(s[:p, :p], -1, 0)
            sxy = np.moveaxis(s[:p, p], -1, 0)
            good = np.linalg.det(sxx) > 0
            ok &= good & (n_v - q >= 1) & np.all(ns >= 1, axis=0)
            sxx_safe = np.where(good[:, None, None], sxx, np.eye(p))
            coef = np.linalg.solve(sxx_safe, sxy[:, :, None])[:, :, 0]
            rss = s[p, p] - np.einsum("rp,rp->r", coef, sxy)
            t2[v] = rss / (n_v - q)
            nu[v] = n_v - q
            lmat[:, v, :v] = coef[:, 1:]
            ok &= t2[v] > 0
            if v:
                # Residual SSCP of the earlier changes on Z (Schur complement of the b0 block).
                s_prev[v] = (
                    sxx_safe[:, 1:, 1:]
                    - np.einsum("ri,rj->rij", sxx_safe[:, 1:, 0], sxx_safe[:, 0, 1:])
                    / sxx_safe[:, 0, 0][:, None, None]
                )
            for i, j in pairs:
                dm = means[i] - means[j]  # (p + 1, reps)
                d[i, j][v] = dm[p] - np.einsum("rp,pr->r", coef, dm[:p])
                a[i, j][v] = 1.0 / ns[i] + 1.0 / ns[j] + dm[0] ** 2 / s[0, 0]
        winv = np.linalg.inv(np.eye(k) - lmat)  # (reps, k, k): beta = W d
        w = winv[:, e, :]  # (reps, k)
        out = []
        for pair in pairs:
            est = np.einsum("ru,ur->r", w, d[pair])
            terms = w.T**2 * t2 * a[pair]  # (k, reps)
            var = terms.sum(axis=0)
            # Satterthwaite: t2 part and G part of grad' A grad.
            denom = ((w.T**2 * a[pair]) ** 2 * 2 * t2**2 / nu).sum(axis=0)
            h = np.einsum("ru,ur,rju->rj", w, t2 * a[pair], winv)  # sum_u w_u t2_u a_u W[j, u]
            for v in range(1, k):
                grad = 2 * w[:, v][:, None] * h[:, :v]
                sv = np.where(ok[:, None, None], s_prev[v], np.eye(v))
                sol = np.linalg.solve(sv, grad[:, :, None])[:, :, 0]
                denom = denom + t2[v] * np.einsum("rj,rj->r", grad, sol)
            df = 2 * var * var / denom
            i, j = pair
            size = np.stack([first_sizes[j], first_sizes[i]])
            out.append(t_results(est, np.sqrt(var), df, size, size, alpha, ok & (var > 0)))
    return out


#: Statistics by method name.
STATISTICS = ("student_t", "welch_t", "ancova", "mmrm")
