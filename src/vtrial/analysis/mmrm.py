"""Mixed model for repeated measures (MMRM) with unstructured covariance.

Model, for man i at post-baseline visit v in {6, 12} months (or the
post-baseline scans of another schedule, any number of them)::

    change_iv = a_v + t_v * anastrozole_i + b_v * bmd0_i (+ c_v' covariates_i) + e_iv

with (e_i6, e_i12) ~ N(0, Sigma), Sigma unstructured, fitted by REML on every
observed post-baseline visit of men with a baseline BMD (MAR), whatever the
pattern of missed visits (intermittent gaps included). The estimate is
t_12, the treatment contrast at month 12 (at the endpoint). This is the model of R's
``nlme::gls(change ~ 0 + visit + visit:arm + visit:bmd0, correlation =
corSymm(form = ~ visit_index | id), weights = varIdent(form = ~ 1 | visit),
method = "REML")``; estimates and SEs agree with it to 1e-6 (tests).

Degrees of freedom: **Satterthwaite**, as in R packages ``mmrm`` and
``lmerTest``: ``df = 2 v^2 / (g' A g)`` where ``v = c' (X' V^-1 X)^-1 c`` is the
contrast variance, ``g`` its gradient with respect to the covariance
parameters (the K(K+1)/2 distinct elements of Sigma) and ``A`` the inverse of the observed
REML information (negative Hessian of the REML log-likelihood, obtained by
central differences of its analytic gradient) in the same parameters. The SE is
the model-based one (no Kenward-Roger inflation). With no missing data the
model is a multivariate regression and the df equal ``n - 3`` (minus the
number of covariates) exactly, which the tests check.

Only ``missing="complete_case"`` is allowed, meaning "no imputation": the
likelihood already uses all observed visits.

:func:`mmrm_vec` fits the same model (without extra covariates) to a whole
block of replicate trials of the power engine at once, in closed form under
monotone dropout.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from vtrial.analysis.data import ARMS, layout_of, to_wide
from vtrial.analysis.missing import (
    FitError,
    change,
    check_arguments,
    parse_covariates,
    t_inference,
)
from vtrial.analysis.result import AnalysisResult, Replicates, nan_result
from vtrial.analysis.ttests import t_results

__all__ = ["ALLOWED_MISSING", "MMRMFit", "fit_mmrm", "fit_mmrm_visits", "mmrm", "mmrm_arrays", "mmrm_vec"]

ALLOWED_MISSING: tuple[str, ...] = ("complete_case",)


@dataclass(frozen=True)
class MMRMFit:
    """REML fit of the MMRM with an unstructured covariance over K post-baseline visits.

    Attributes
    ----------
    beta : numpy.ndarray
        Fixed effects, one block of ``q`` per visit in visit order:
        ``[a_1, t_1, b_1, c_1..., a_2, t_2, ...]`` (``q`` = columns of ``z``).
    cov_beta : numpy.ndarray
        Model-based covariance of ``beta``, ``(X' V^-1 X)^-1``.
    sigma : numpy.ndarray
        REML estimate of the K x K within-man covariance.
    contrast_df : float
        Satterthwaite df of the first contrast (for :func:`fit_mmrm`: the
        month-12 treatment effect).
    reml_loglik : float
        Maximised REML log-likelihood, on the same footing as R ``logLik()``
        of the nlme fit.
    n_obs : int
        Observed post-baseline visits used.
    contrast_dfs : tuple of float
        Satterthwaite df of every requested contrast.
    """

    beta: np.ndarray
    cov_beta: np.ndarray
    sigma: np.ndarray
    contrast_df: float
    reml_loglik: float
    n_obs: int
    contrast_dfs: tuple[float, ...] = ()


class _Problem:
    """Sufficient pieces of the REML likelihood, grouped by visit pattern.

    Man i contributes his observed visits ``O_i`` with design rows ``z_i`` in
    the fixed-effect block of each visit, so every per-man quantity reduces to
    per-pattern sums of ``z z'``, ``z y'`` and ``y y'``.
    """

    def __init__(self, z: np.ndarray, y: np.ndarray) -> None:
        self.q = z.shape[1]
        self.k = y.shape[1]
        observed = ~np.isnan(y)
        self.patterns = []
        keys, inverse = np.unique(observed, axis=0, return_inverse=True)
        for j, key in enumerate(keys):
            if not key.any():
                continue
            rows = inverse.ravel() == j
            idx = np.flatnonzero(key)
            zp = z[rows]
            self.patterns.append((idx, zp, y[rows][:, idx], zp.T @ zp))
        self.n_obs = int(observed[observed.any(axis=1)].sum())
        self.p = self.k * self.q

    def solve(self, sigma: np.ndarray) -> dict:
        """GLS fit for a given Sigma: beta, M = X'V^-1X, its inverse, residuals."""
        q, k = self.q, self.k
        m = np.zeros((k * q, k * q))
        rhs = np.zeros(k * q)
        ws = []
        for idx, zp, yp, s in self.patterns:
            w = np.linalg.inv(sigma[np.ix_(idx, idx)])
            ws.append(w)
            wy = yp @ w
            for a, u in enumerate(idx):
                rhs[u * q : (u + 1) * q] += zp.T @ wy[:, a]
                for b, v in enumerate(idx):
                    m[u * q : (u + 1) * q, v * q : (v + 1) * q] += w[a, b] * s
        chol = np.linalg.cholesky(m)
        minv = np.linalg.inv(m)
        beta = minv @ rhs
        blocks = beta.reshape(k, q)
        resid = [yp - zp @ blocks[idx].T for idx, zp, yp, _ in self.patterns]
        return {"w": ws, "m_logdet": 2 * np.log(np.diag(chol)).sum(), "minv": minv, "beta": beta, "r": resid}

    def loglik(self, sigma: np.ndarray, fit: dict | None = None) -> float:
        if np.linalg.eigvalsh(sigma).min() <= 0:
            return -np.inf
        fit = fit or self.solve(sigma)
        total = fit["m_logdet"]
        for (idx, zp, _, _), w, r in zip(self.patterns, fit["w"], fit["r"], strict=True):
            total += len(zp) * np.linalg.slogdet(sigma[np.ix_(idx, idx)])[1]
            total += np.einsum("ij,jk,ik->", r, w, r)
        return -0.5 * ((self.n_obs - self.p) * np.log(2 * np.pi) + total)

    def matrix_gradient(self, sigma: np.ndarray, fit: dict | None = None) -> np.ndarray:
        """G with d(loglik) = tr(G dSigma): -1/2 sum_i E_i'(P_ii - P y y' P)_ii E_i."""
        fit = fit or self.solve(sigma)
        q, minv = self.q, fit["minv"]
        g = np.zeros((self.k, self.k))
        for (idx, zp, _, s), w, r in zip(self.patterns, fit["w"], fit["r"], strict=True):
            # sum_i X_i M^-1 X_i' over the pattern, visit by visit.
            kk = np.array(
                [[np.sum(minv[u * q : (u + 1) * q, v * q : (v + 1) * q] * s) for v in idx] for u in idx]
            )
            g[np.ix_(idx, idx)] += -0.5 * (len(zp) * w - w @ (kk + r.T @ r) @ w)
        return g

    def contrast_gradient(self, sigma: np.ndarray, d: np.ndarray) -> np.ndarray:
        """Gradient of c'M^-1c in the unique elements of Sigma given d = M^-1 c."""
        q = self.q
        h = np.zeros((self.k, self.k))
        blocks = d.reshape(self.k, q)
        for idx, zp, _, _ in self.patterns:
            xb = (zp @ blocks[idx].T) @ np.linalg.inv(sigma[np.ix_(idx, idx)])
            h[np.ix_(idx, idx)] += xb.T @ xb
        return _phi_of_matrix_gradient(h)


def _phi_index(k: int) -> tuple[np.ndarray, np.ndarray]:
    # Unique elements of a symmetric K x K matrix, row by row: (s11, s12, ..., s22, ...).
    return np.triu_indices(k)


def _sigma_of_phi(phi: np.ndarray, k: int) -> np.ndarray:
    rows, cols = _phi_index(k)
    sigma = np.zeros((k, k))
    sigma[rows, cols] = phi
    sigma[cols, rows] = phi
    return sigma


def _phi_of_matrix_gradient(g: np.ndarray) -> np.ndarray:
    # d/dphi of tr(G dSigma): diagonal once, off-diagonal twice (symmetric G).
    rows, cols = _phi_index(len(g))
    return np.where(rows == cols, 1.0, 2.0) * g[rows, cols]


def _sigma_of_theta(theta: np.ndarray, k: int) -> np.ndarray:
    low = np.zeros((k, k))
    low[np.tril_indices(k)] = theta
    diag = np.arange(k)
    low[diag, diag] = np.exp(low[diag, diag])
    return low @ low.T


def _phi_gradient(problem: _Problem, phi: np.ndarray) -> np.ndarray:
    return _phi_of_matrix_gradient(problem.matrix_gradient(_sigma_of_phi(phi, problem.k)))


def _phi_hessian(problem: _Problem, phi: np.ndarray) -> np.ndarray:
    # Central differences of the analytic gradient; error O(h^2) ~ 1e-10 relative.
    k = problem.k
    n = len(phi)
    hess = np.empty((n, n))
    diag = np.diag(_sigma_of_phi(phi, k))
    h = 1e-5 * np.sqrt(diag.min() * diag.max())
    for j in range(n):
        step = np.zeros(n)
        step[j] = h
        hess[:, j] = (_phi_gradient(problem, phi + step) - _phi_gradient(problem, phi - step)) / (2 * h)
    return (hess + hess.T) / 2


def _start(problem: _Problem) -> np.ndarray:
    # Per-visit OLS residual variances and the pairwise residual correlations of
    # men seen at both visits, shrunk to a positive definite matrix.
    k, q = problem.k, problem.q
    resid = []
    for v in range(k):
        zs, ys, owners = [], [], []
        for j, (idx, zp, yp, _) in enumerate(problem.patterns):
            if v in idx:
                zs.append(zp)
                ys.append(yp[:, list(idx).index(v)])
                owners.append(np.full(len(zp), j))
        zv, yv = np.vstack(zs), np.concatenate(ys)
        b = np.linalg.lstsq(zv, yv, rcond=None)[0]
        resid.append((yv - zv @ b, np.concatenate(owners), len(yv)))
    var = np.array([max(np.sum(r**2) / max(n - q, 1), 1e-8) for r, _, n in resid])
    full = np.full((k, k), np.nan)
    for u in range(k):
        for v in range(u + 1, k):
            a, b = [], []
            for j, (idx, _, _, _) in enumerate(problem.patterns):
                if u in idx and v in idx:
                    a.append(resid[u][0][resid[u][1] == j])
                    b.append(resid[v][0][resid[v][1] == j])
            if a and sum(len(x) for x in a) > 2:
                full[u, v] = full[v, u] = np.corrcoef(np.concatenate(a), np.concatenate(b))[0, 1]
    corr = np.where(np.isnan(full), 0.0, np.clip(full, -0.9, 0.9))
    np.fill_diagonal(corr, 1.0)
    while np.linalg.eigvalsh(corr).min() < 1e-3:
        corr = 0.5 * corr + 0.5 * np.eye(k)
    sd = np.sqrt(var)
    low = np.linalg.cholesky(corr * np.outer(sd, sd))
    diag = np.arange(k)
    low[diag, diag] = np.log(low[diag, diag])
    return low[np.tril_indices(k)]


def fit_mmrm_visits(
    z: np.ndarray, y: np.ndarray, contrasts: np.ndarray, months: Sequence[int] | None = None
) -> MMRMFit:
    """REML fit of the MMRM over K post-baseline visits, any missing pattern.

    Parameters
    ----------
    z : numpy.ndarray, shape (n_men, q)
        Per-man design row (e.g. ``[1, arm dummies..., baseline, covariates...]``);
        the same row enters each visit's block of fixed effects.
    y : numpy.ndarray, shape (n_men, K)
        Change from baseline at each post-baseline visit (NaN when not
        observed; gaps may be intermittent).
    contrasts : numpy.ndarray, shape (m, K * q)
        Linear combinations of ``beta`` whose Satterthwaite df are wanted.
    months : sequence of int, optional
        Visit months, only to name a visit in an error message.

    Returns
    -------
    MMRMFit
        ``contrast_dfs`` in the order of ``contrasts``.

    Raises
    ------
    FitError
        Too few observations to identify the model, or no convergence.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> z = np.column_stack([np.ones(40), np.repeat([0.0, 1.0], 20)])
    >>> y = rng.normal(0, 1, (40, 3)).cumsum(axis=1)
    >>> c = np.zeros((1, 6)); c[0, 5] = 1.0
    >>> round(fit_mmrm_visits(z, y, c).contrast_df, 6)  # complete data: n - q
    38.0
    """
    n, k = y.shape
    months = list(months) if months is not None else list(range(1, k + 1))
    # Work on a unit scale so tolerances mean the same for % and g/cm2 changes.
    unit = float(np.nanstd(y))
    if not unit > 0:
        raise FitError("no variation in the post-baseline changes")
    problem = _Problem(z, y / unit)
    q = problem.q
    seen = ~np.isnan(y)
    for v in range(k):
        design = z[seen[:, v]]
        if len(design) <= q or np.linalg.matrix_rank(design) < q:
            raise FitError(f"month-{months[v]} fixed effects are not identifiable from the observed men")
    for u in range(k):
        for v in range(u + 1, k):
            pair = int((seen[:, u] & seen[:, v]).sum())
            if pair < 3:
                raise FitError(
                    f"{pair} men with both month-{months[u]} and month-{months[v]} values; "
                    "at least 3 are needed for the unstructured covariance"
                )

    def objective(theta):
        sigma = _sigma_of_theta(theta, k)
        try:
            fit = problem.solve(sigma)
        except np.linalg.LinAlgError:
            return np.inf, np.zeros_like(theta)
        value = -problem.loglik(sigma, fit)
        g = problem.matrix_gradient(sigma, fit)
        low = np.zeros((k, k))
        low[np.tril_indices(k)] = theta
        diag = np.arange(k)
        low[diag, diag] = np.exp(low[diag, diag])
        # d tr(G L L') = 2 tr(L' G dL); the log-diagonal adds the factor L_jj.
        dlow = 2 * g @ low
        dlow[diag, diag] *= low[diag, diag]
        return value, -dlow[np.tril_indices(k)]

    from scipy import optimize  # lazily: the power engine's mmrm_vec needs no optimizer

    res = optimize.minimize(objective, _start(problem), jac=True, method="BFGS", options={"gtol": 1e-4})
    if not np.all(np.isfinite(res.x)):
        raise FitError("REML optimisation of the MMRM covariance failed")
    sigma = _sigma_of_theta(res.x, k)
    phi = sigma[_phi_index(k)]
    # Newton polish in the unique elements of Sigma: BFGS stalls near 1e-7 on flat
    # optima, and the same Hessian is the observed information needed for Satterthwaite.
    hess = None
    for _ in range(20):
        grad = _phi_gradient(problem, phi)
        hess = _phi_hessian(problem, phi)
        step = np.linalg.solve(hess, grad)
        shrink = 1.0
        while shrink > 1e-4 and np.linalg.eigvalsh(_sigma_of_phi(phi - shrink * step, k)).min() <= 0:
            shrink /= 2
        phi = phi - shrink * step
        if np.max(np.abs(step)) < 1e-10:
            # The Hessian of this iterate is 1e-10 away from the optimum: reuse it.
            break
    grad = _phi_gradient(problem, phi)
    if not np.all(np.isfinite(phi)) or np.max(np.abs(grad)) > 1e-6:
        raise FitError("REML optimisation of the MMRM covariance did not converge")
    sigma = _sigma_of_phi(phi, k)
    fit = problem.solve(sigma)
    try:
        cov_phi = np.linalg.inv(-hess)
    except np.linalg.LinAlgError as err:
        raise FitError("REML information matrix of the MMRM covariance is singular") from err
    dfs = []
    for c in np.atleast_2d(contrasts):
        d = fit["minv"] @ c
        v = float(c @ d)
        grad_v = problem.contrast_gradient(sigma, d)
        denom = float(grad_v @ cov_phi @ grad_v)
        dfs.append(2 * v * v / denom if denom > 0 else np.nan)
    # Back to the data's unit; the REML likelihood of N - p error contrasts
    # picks up the Jacobian -(N - p) log(unit).
    loglik = problem.loglik(sigma, fit) - (problem.n_obs - problem.p) * np.log(unit)
    return MMRMFit(
        beta=fit["beta"] * unit,
        cov_beta=fit["minv"] * unit**2,
        sigma=sigma * unit**2,
        contrast_df=float(dfs[0]),
        reml_loglik=float(loglik),
        n_obs=problem.n_obs,
        contrast_dfs=tuple(float(x) for x in dfs),
    )


def fit_mmrm(z: np.ndarray, y6: np.ndarray, y12: np.ndarray) -> MMRMFit:
    """REML fit of the two-visit MMRM from per-man arrays.

    Parameters
    ----------
    z : numpy.ndarray, shape (n_men, q)
        Per-man design row ``[1, anastrozole, bmd0, covariates...]``; the same
        row enters each visit's block of fixed effects.
    y6, y12 : numpy.ndarray, shape (n_men,)
        Change from baseline at months 6 and 12 (NaN when not observed).

    Returns
    -------
    MMRMFit
        ``contrast_df`` is that of the month-12 treatment effect ``t_12``.

    Raises
    ------
    FitError
        Too few observations to identify the model, or no convergence.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> z = np.column_stack([np.ones(30), np.repeat([0.0, 1.0], 15), rng.normal(1.15, .1, 30)])
    >>> y12 = rng.normal(0, 3, 30); y6 = y12 / 2 + rng.normal(0, 1, 30)
    >>> fit = fit_mmrm(z, y6, y12)
    >>> round(fit.contrast_df, 6)
    27.0
    """
    q = z.shape[1]
    c = np.zeros(2 * q)
    c[q + 1] = 1.0
    return fit_mmrm_visits(z, np.column_stack([y6, y12]), c[None, :], (6, 12))


def mmrm_arrays(
    wide: pd.DataFrame, scale: str, covariates: Sequence[str], arms: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Design rows, changes at every post-baseline scan and analysed arm of each man.

    Parameters
    ----------
    wide : pandas.DataFrame
        Per-man table (:func:`vtrial.analysis.data.to_wide`, its layout attached).
    scale : str
        ``"pct"`` or ``"absolute"``.
    covariates : sequence of str
        Extra baseline columns of ``wide``.
    arms : sequence of str
        Arm labels, reference first: ``z`` holds one indicator per later arm.

    Returns
    -------
    z : numpy.ndarray, shape (n, 1 + (len(arms) - 1) + 1 + len(covariates))
        ``[1, arm indicators..., bmd0, covariates...]`` of the men analysed:
        a baseline, the covariates and at least one post-baseline value.
    y : numpy.ndarray, shape (n, K)
        Change at each post-baseline scan of the layout (NaN: not observed).
    arm : numpy.ndarray of str, shape (n,)

    Examples
    --------
    >>> from vtrial.analysis._example import example_trial
    >>> from vtrial.analysis.data import to_wide
    >>> z, y, arm = mmrm_arrays(to_wide(example_trial()), "pct", (), ARMS)
    >>> z.shape[1], y.shape[1]
    (3, 2)
    """
    layout = layout_of(wide)
    y = np.column_stack([change(wide, m, scale) for m in layout.post_baseline])
    keep = wide["bmd0"].notna().to_numpy() & ~np.all(np.isnan(y), axis=1)
    for name in covariates:
        keep = keep & wide[name].notna().to_numpy()
    arm = wide["arm"].to_numpy()[keep]
    z = np.column_stack(
        [np.ones(keep.sum())]
        + [(arm == label).astype(float) for label in arms[1:]]
        + [wide["bmd0"].to_numpy()[keep]]
        + [wide[c].to_numpy()[keep] for c in covariates]
    )
    return z, y[keep], arm


def mmrm(
    data: pd.DataFrame,
    *,
    missing: str = "complete_case",
    alpha: float = 0.05,
    scale: str = "pct",
    rng: int | np.random.Generator | None = None,
    covariates: str | Sequence[str] | None = (),
) -> AnalysisResult:
    """MMRM on every post-baseline scan, unstructured covariance, REML, Satterthwaite df.

    Parameters
    ----------
    data : pandas.DataFrame
        Long-format trial (the trial-data contract in docs/architecture.md);
        its layout (:func:`vtrial.analysis.data.layout_of`) gives the scans
        (months 6 and 12 by default) and the endpoint (month 12).
    missing : str
        Only ``"complete_case"`` (no imputation; all observed scans of men
        with a baseline BMD and at least one post-baseline BMD are used,
        whatever their gaps).
    alpha : float
        Two-sided significance level.
    scale : str
        ``"pct"`` (% change, percentage points) or ``"absolute"`` (g/cm2).
    rng : ignored
        Accepted for a uniform interface; the method is deterministic.
    covariates : str or sequence of str
        Extra baseline covariates, each with a visit-specific slope.

    Returns
    -------
    AnalysisResult
        Endpoint treatment contrast (anastrozole minus placebo), model-based
        SE, t CI and p-value with Satterthwaite df.

    Examples
    --------
    >>> from vtrial.analysis._example import example_trial
    >>> r = mmrm(example_trial())
    >>> round(r.df, 6)
    29.0
    """
    check_arguments("mmrm", missing, alpha, scale, ALLOWED_MISSING)
    covs = parse_covariates(covariates)
    wide = to_wide(data, covs)
    layout = layout_of(wide)
    z, y, arm = mmrm_arrays(wide, scale, covs, ARMS)
    n_p, n_a = int((arm == ARMS[0]).sum()), int((arm == ARMS[1]).sum())
    q = z.shape[1]
    column = layout.post_baseline.index(layout.endpoint) * q + 1
    contrast = np.zeros((1, y.shape[1] * q))
    contrast[0, column] = 1.0
    try:
        if min(n_p, n_a) < 2:
            raise FitError(f"fewer than 2 men in an arm (placebo {n_p}, anastrozole {n_a})")
        fit = fit_mmrm_visits(z, y, contrast, layout.post_baseline)
    except FitError as err:
        return nan_result("mmrm", missing, str(err), n_p, n_a)
    estimate = float(fit.beta[column])
    se = float(np.sqrt(fit.cov_beta[column, column]))
    lo, hi, p = t_inference(estimate, se, fit.contrast_df, alpha)
    return AnalysisResult("mmrm", missing, estimate, se, lo, hi, p, fit.contrast_df, n_p, n_a)


# --------------------------------------------------------------------------- many replicates


def mmrm_vec(block, scale: str, alpha: float) -> Replicates:
    """REML MMRM (months 6 and 12, unstructured 2x2 covariance) for every replicate.

    Same model, estimate, SE and Satterthwaite df as
    :func:`vtrial.analysis.mmrm.mmrm` (visit-specific intercept, arm and
    baseline-BMD effects; all observed visits; MAR). With monotone dropout
    (a man seen at month 12 was seen at month 6, as the generator makes it)
    the REML criterion factorises (Little and Rubin, factored likelihood):
    reparametrize ``Sigma`` by ``s11``, ``g = s12 / s11`` and
    ``t2 = s22 - s12^2 / s11``, and the fixed effects of month 12 by
    ``d = b12 - g b6``; integrating the fixed effects out (Jacobian 1), the
    restricted likelihood is the product of

    * the REML of the OLS of Y6 on ``[1, arm, bmd0]`` over the men seen at
      month 6: ``s11 = RSS6 / (n6 - 3)``;
    * for completers, the likelihood of ``Y12 - g Y6`` given ``[1, arm,
      bmd0]`` with ``d`` integrated out: ``g`` is the Y6 coefficient of the
      OLS of Y12 on ``[1, arm, bmd0, Y6]`` and ``t2 = RSS / (nc - 3)``.

    So the REML estimate is in closed form; the GLS month-12 arm effect is
    ``d_arm + g b6_arm`` with variance ``t2 a + g^2 s11 b`` (``a``, ``b`` the
    arm entries of ``(X'X)^-1`` for completers and for men seen at month 6).
    The observed REML information is diagonal in ``(s11, g, t2)``:
    ``(n6 - 3) / (2 s11^2)``, ``S / t2`` (``S``: residual sum of squares of Y6
    on ``[1, arm, bmd0]`` among completers) and ``(nc - 3) / (2 t2^2)``; the
    Satterthwaite df ``2 v^2 / (g' A g)`` is invariant to the
    reparametrization at the optimum. Without dropout it equals ``n - 3``.
    The Fisher-scoring iterations of the general case are unnecessary here.
    """
    y6s, y12s, b0s, seen, comp = [], [], [], [], []
    for a in (0, 1):
        b0 = block.b0(a)

        def change(pct, b0=b0):
            bt = b0 * (1 + pct / 100)
            return 100.0 * (bt - b0) / b0 if scale == "pct" else bt - b0

        y6s.append(change(block.y6(a)))
        y12s.append(change(block.y12(a)))
        b0s.append(block.db[a])
        comp.append(block.complete[a])
        seen.append(block.seen6[a] | block.complete[a])
    n_seen = np.stack([s.sum(0) for s in seen]).astype(float)
    n_comp = np.stack([c.sum(0) for c in comp]).astype(float)
    # Stage 1: Y6 on [1, arm, bmd0] over men seen at month 6.
    m1, w1 = _pooled_sscp([b0s, y6s], seen)
    # Stage 2: Y12 on [1, arm, bmd0, Y6] over completers.
    m2, w2 = _pooled_sscp([b0s, y6s, y12s], comp)
    with np.errstate(invalid="ignore", divide="ignore"):
        n6 = n_seen.sum(0)
        nc = n_comp.sum(0)
        db1 = m1[0, 1] - m1[0, 0]
        beta_b = w1[0, 1] / w1[0, 0]
        b6_arm = (m1[1, 1] - m1[1, 0]) - beta_b * db1
        rss6 = w1[1, 1] - w1[0, 1] * beta_b
        s11 = rss6 / (n6 - 3.0)
        bfac = 1.0 / n_seen[0] + 1.0 / n_seen[1] + db1 * db1 / w1[0, 0]
        det = w2[0, 0] * w2[1, 1] - w2[0, 1] ** 2
        cb = (w2[1, 1] * w2[0, 2] - w2[0, 1] * w2[1, 2]) / det
        g = (w2[0, 0] * w2[1, 2] - w2[0, 1] * w2[0, 2]) / det
        rss = w2[2, 2] - cb * w2[0, 2] - g * w2[1, 2]
        t2 = rss / (nc - 3.0)
        dbc = m2[0, 1] - m2[0, 0]
        d6c = m2[1, 1] - m2[1, 0]
        d_arm = (m2[2, 1] - m2[2, 0]) - cb * dbc - g * d6c
        afac = 1.0 / n_comp[0] + 1.0 / n_comp[1] + dbc * dbc / w2[0, 0]
        s_res = w2[1, 1] - w2[0, 1] ** 2 / w2[0, 0]
        est = d_arm + g * b6_arm
        v = t2 * afac + g * g * s11 * bfac
        denom = (
            (g**4) * bfac**2 * 2 * s11**2 / (n6 - 3.0)
            + (2 * g * s11 * bfac) ** 2 * t2 / s_res
            + afac**2 * 2 * t2**2 / (nc - 3.0)
        )
        df = 2 * v * v / denom
        ok = (
            (n_seen.min(0) >= 2)
            & (nc >= 4)
            & (n6 >= 4)
            & (n_comp.min(0) >= 1)
            & (s11 > 0)
            & (t2 > 0)
            & (s_res > 0)
        )
        se = np.sqrt(v)  # NaN where a replicate cannot be fitted (not ok), without a warning
    return t_results(est, se, df, n_seen, n_seen, alpha, ok)


def _pooled_sscp(values: list, masks: list) -> tuple[np.ndarray, np.ndarray]:
    """Per-arm means ``(k, 2, reps)`` and pooled within-arm SSCP ``(k, k, reps)``."""
    k = len(values)
    reps = masks[0].shape[1]
    means = np.zeros((k, 2, reps))
    sscp = np.zeros((k, k, reps))
    for a in (0, 1):
        w = masks[a]
        n = np.maximum(np.count_nonzero(w, axis=0), 1)
        cen = []
        for j in range(k):
            x = np.where(w, values[j][a], 0.0)
            mu = x.sum(0) / n
            means[j, a] = mu
            cen.append(np.where(w, values[j][a] - mu, 0.0))
        for i in range(k):
            for j in range(i, k):
                s = np.einsum("ij,ij->j", cen[i], cen[j])
                sscp[i, j] += s
                if i != j:
                    sscp[j, i] += s
    return means, sscp
