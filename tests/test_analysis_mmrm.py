"""MMRM against R nlme::gls (corSymm + varIdent, REML) and dense-matrix formulas.

Reference values: fixtures/analysis/r_reference.json from r_reference.R.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from test_analysis_helpers import DATASETS, load, r_reference

from vtrial import engine, samplers, trial
from vtrial.analysis import METHODS
from vtrial.analysis.ancova import ancova
from vtrial.analysis.data import to_wide
from vtrial.analysis.missing import change
from vtrial.analysis.mmrm import fit_mmrm, mmrm, mmrm_vec
from vtrial.config import load_config


def _arrays(dataset, scale, covariates=()):
    wide = to_wide(load(dataset), covariates)
    y6, y12 = change(wide, 6, scale), change(wide, 12, scale)
    keep = wide["bmd0"].notna().to_numpy() & (~np.isnan(y6) | ~np.isnan(y12))
    z = np.column_stack(
        [np.ones(keep.sum()), wide["treat"][keep], wide["bmd0"][keep]] + [wide[c][keep] for c in covariates]
    )
    return z, y6[keep], y12[keep]


@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize("scale", ["pct", "absolute"])
@pytest.mark.parametrize("covariates", [(), ("age_years",)])
def test_mmrm_matches_nlme_gls(dataset, scale, covariates):
    name = "mmrm" if not covariates else "mmrm_age"
    ref = r_reference()[f"{dataset}/complete_case/{scale}/{name}"]
    res = mmrm(load(dataset), scale=scale, covariates=covariates)
    unit = 1.0 if scale == "pct" else 0.01  # g/cm2 changes are ~100x smaller
    assert res.estimate == pytest.approx(ref["estimate"], abs=1e-6 * unit)
    assert res.se == pytest.approx(ref["se"], abs=1e-6 * unit)
    fit = fit_mmrm(*_arrays(dataset, scale, covariates))
    q = 3 + len(covariates)
    # R orders coefficients visit6, visit12, visit6:arm, visit12:arm, visit6:bmd0, ...
    ours = np.concatenate([[fit.beta[j], fit.beta[q + j]] for j in range(q)])
    np.testing.assert_allclose(ours, ref["coef"], rtol=0, atol=1e-6 * unit)
    sigma = [fit.sigma[0, 0], fit.sigma[0, 1], fit.sigma[1, 1]]
    np.testing.assert_allclose(sigma, [ref["sigma11"], ref["sigma12"], ref["sigma22"]], rtol=1e-5, atol=0)
    assert fit.reml_loglik == pytest.approx(ref["reml_loglik"], abs=1e-8)
    assert fit.n_obs == ref["n_obs"]


@pytest.mark.parametrize("covariates", [(), ("age_years",)])
def test_complete_data_mmrm_equals_ancova_with_exact_df(covariates):
    # No missing data and the same regressors at each visit: GLS = per-visit OLS,
    # REML Sigma = residual SSCP / (n - q), Satterthwaite df = n - q exactly.
    data = load("trial_complete")
    a = ancova(data, covariates=covariates)
    m = mmrm(data, covariates=covariates)
    assert m.estimate == pytest.approx(a.estimate, abs=1e-9)
    assert m.se == pytest.approx(a.se, abs=1e-8)
    assert m.df == pytest.approx(a.df, abs=1e-5)
    assert (m.ci_low, m.ci_high, m.p_value) == pytest.approx((a.ci_low, a.ci_high, a.p_value), abs=1e-7)


def _dense_satterthwaite(z, y6, y12, sigma):
    """Satterthwaite df from full N x N matrices and the analytic observed information."""
    rows, ys, subj = [], [], []
    q = z.shape[1]
    for i in range(len(z)):
        for v, y in ((0, y6[i]), (1, y12[i])):
            if not math.isnan(y):
                x = np.zeros(2 * q)
                x[v * q : (v + 1) * q] = z[i]
                rows.append(x)
                ys.append(y)
                subj.append((i, v))
    x, y = np.array(rows), np.array(ys)
    n = len(y)

    def v_of(s):
        out = np.zeros((n, n))
        for a, (i, va) in enumerate(subj):
            for b, (j, vb) in enumerate(subj):
                if i == j:
                    out[a, b] = s[va, vb]
        return out

    vinv = np.linalg.inv(v_of(sigma))
    phi_inv = np.linalg.inv(x.T @ vinv @ x)
    p = vinv - vinv @ x @ phi_inv @ x.T @ vinv
    derivs = [
        v_of(np.array([[1.0, 0], [0, 0]])),
        v_of(np.array([[0, 1.0], [1.0, 0]])),
        v_of(np.array([[0, 0], [0, 1.0]])),
    ]
    info = np.empty((3, 3))
    for a in range(3):
        for b in range(3):
            info[a, b] = (
                -0.5 * np.trace(p @ derivs[a] @ p @ derivs[b]) + y @ p @ derivs[a] @ p @ derivs[b] @ p @ y
            )
    c = np.zeros(2 * q)
    c[q + 1] = 1
    var = c @ phi_inv @ c
    grad = np.array([c @ phi_inv @ x.T @ vinv @ d @ vinv @ x @ phi_inv @ c for d in derivs])
    return 2 * var**2 / (grad @ np.linalg.inv(info) @ grad)


@pytest.mark.parametrize("dataset", ["trial_small", "trial_large"])
def test_satterthwaite_df_matches_dense_formula(dataset):
    z, y6, y12 = _arrays(dataset, "pct")
    fit = fit_mmrm(z, y6, y12)
    dense = _dense_satterthwaite(z, y6, y12, fit.sigma)
    assert fit.contrast_df == pytest.approx(dense, rel=1e-6)
    # With dropout the df lie between the completers' and the all-men residual df.
    assert 0 < fit.contrast_df < len(z)


def test_mmrm_unfittable_returns_note():
    data = load("trial_small")
    # Remove every month-6 BMD: the month-6 block cannot be estimated.
    data = data.assign(bmd_g_cm2=data["bmd_g_cm2"].where(data["visit_month"] != 6))
    res = mmrm(data)
    assert math.isnan(res.estimate) and "month-6" in res.note


# --------------------------------------------------------------------------- many replicates (power engine)


@pytest.mark.parametrize(
    "overrides",
    [
        [],
        ["dropout.mechanism=MNAR"],
        ["dropout.mechanism=MAR"],
        NO_DROPOUT_MMRM := ["dropout.anastrozole=0", "dropout.placebo=0"],
        ["analysis.scale=absolute"],
    ],
)
def test_mmrm_equals_reference(overrides):
    """Closed-form REML MMRM vs the reference optimiser: estimate and SE to 1e-10,
    df (the reference uses a numerical Hessian) and p-value to 1e-7."""
    cfg = load_config(overrides=overrides)
    block = samplers.per_man_block(cfg, 15, np.random.SeedSequence([9, len(overrides)]), need_y6=True)
    opt = engine.analysis_options(cfg)
    rep = mmrm_vec(block, opt["scale"], 0.05)
    ta = samplers.block_to_arrays(block)
    for r in range(15):
        res = METHODS["mmrm"][0](trial.to_long(ta, r), scale=opt["scale"])
        assert rep.estimate[r] == pytest.approx(res.estimate, rel=1e-10, abs=1e-12)
        assert rep.se[r] == pytest.approx(res.se, rel=1e-10)
        assert rep.df[r] == pytest.approx(res.df, rel=1e-7)
        assert rep.p_value[r] == pytest.approx(res.p_value, rel=1e-7, abs=1e-12)
        assert rep.ci_low[r] == pytest.approx(res.ci_low, rel=1e-7)
        assert (rep.n_placebo[r], rep.n_anastrozole[r]) == (res.n_placebo, res.n_anastrozole)
    if overrides == NO_DROPOUT_MMRM:
        assert np.allclose(rep.df, rep.n_placebo + rep.n_anastrozole - 3)
