"""The exact shortcut for designs (vtrial.design_exact) has the law of the per-man path.

References: the per-man simulator :func:`vtrial.design_sim.simulate_design`
(men's values, their randomization and dropout), the closed forms of the
model (docs/designs.md) and of the Wishart, binomial and hypergeometric laws.
Monte Carlo figures agree within 3 Monte Carlo SEs.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from vtrial import design_power
from vtrial.config import load_config, set_key, validate_config
from vtrial.design import design_of
from vtrial.design_exact import (
    DesignStats,
    arm_law,
    arm_size_law,
    draw_arm_sizes,
    draw_wishart,
    exact_valid,
    simulate_stats,
)
from vtrial.design_sim import DesignArrays, randomize_design, simulate_design
from vtrial.errors import InputError

ARMS = [
    {"name": "placebo", "dropout": 0.15},
    {"name": "low", "difference_pct": -1.5, "dropout": 0.25, "hip_difference_pct": -1.0},
    {"name": "high", "difference_pct": -2.46, "dropout": 0.3, "hip_difference_pct": -1.4},
]


def _cfg(hip=False, n=30, arms=ARMS, **keys):
    cfg = load_config()
    if not hip:
        arms = [{k: v for k, v in a.items() if k != "hip_difference_pct"} for a in arms]
    cfg = set_key(cfg, "trial.arms", arms)
    cfg = set_key(cfg, "trial.block_sizes", [6])
    cfg = set_key(cfg, "trial.n_per_arm", n)
    if hip:
        cfg = set_key(cfg, "effects.hip", {"corr_change_spine": 0.5})
    for key, value in keys.items():
        cfg = set_key(cfg, key.replace("__", "."), value)
    return validate_config(cfg)


def within(estimate, truth, se, k=3.0):
    assert abs(estimate - truth) < k * se, (estimate, truth, se)


# --------------------------------------------------------------------------- the law of one arm


def test_arm_law_closed_forms():
    """Moments that follow from the model's keys alone (docs/designs.md)."""
    cfg = _cfg(hip=True)
    mean, cov = arm_law(cfg)
    c, hip = cfg["cohort"], cfg["effects"]["hip"] | {}
    m_b, s_b, cv = c["bmd_mean_g_cm2"], c["bmd_sd_g_cm2"], cfg["measurement"]["bmd_cv_pct"]
    assert mean[:, 1].tolist() == pytest.approx([0.76, 0.76 - 1.5, 0.76 - 2.46])
    assert mean[:, 3].tolist() == pytest.approx([0.0, -1.0, -1.4])
    for a in range(3):
        assert cov[a, 0, 0] == pytest.approx(s_b**2 + (m_b * cv / 100) ** 2)
        assert cov[a, 1, 1] == pytest.approx(cfg["effects"]["sd_pct_change"] ** 2)
        assert cov[a, 3, 3] == pytest.approx(2.5**2)  # effects.hip.sd_pct_change default
        # Observed endpoint changes correlate as configured (independent DXA errors).
        assert cov[a, 1, 3] / math.sqrt(cov[a, 1, 1] * cov[a, 3, 3]) == pytest.approx(
            hip["corr_change_spine"]
        )
        # Baseline-change covariance: true part minus the shared month-0 DXA error.
        s_d = math.sqrt(3.0**2 - 2 * cv**2)
        rho = cfg["effects"]["baseline_corr"]
        assert cov[a, 0, 1] == pytest.approx(s_b * s_d * rho - m_b * cv**2 / 100)


@pytest.mark.slow
def test_arm_law_equals_simulated_men():
    """Per arm, the completers' (spine B0, spine Y, hip B0, hip Y) of simulate_design have arm_law's moments."""
    cfg = _cfg(hip=True, n=60)
    mean, cov = arm_law(cfg)
    t = simulate_design(cfg, 3000, rng=11, covariates=False)
    e = t.design.endpoint_scan
    x = np.stack([t.bmd["spine"][..., 0], t.change("spine", "pct")[..., e],
                  t.bmd["hip"][..., 0], t.change("hip", "pct")[..., e]], axis=-1)  # fmt: skip
    for a in range(3):
        v = x[(t.arm == a) & t.completed]
        n = len(v)
        for i in range(4):
            within(v[:, i].mean(), mean[a, i], math.sqrt(cov[a, i, i] / n))
            for j in range(i, 4):
                prod = (v[:, i] - mean[a, i]) * (v[:, j] - mean[a, j])
                within(prod.mean(), cov[a, i, j], prod.std() / math.sqrt(n))


# --------------------------------------------------------------------------- arm sizes


def test_arm_size_law_equals_randomize_design():
    """Blocks of 3 or 6 (1:1:1), 3 x 31 men: the last block is often cut short."""
    cfg = _cfg(n=31, trial__block_sizes=[3, 6])
    design = design_of(cfg)
    support, prob = arm_size_law(design, cfg["trial"])
    assert prob.sum() == pytest.approx(1.0) and (support.sum(axis=1) == 93).all()
    reps = 40_000
    arm, _, _ = randomize_design(design, cfg["trial"], reps, rng=5)
    counts = np.stack([(arm == k).sum(axis=1) for k in range(3)], axis=1)
    for row, p in zip(support, prob, strict=True):
        freq = np.mean((counts == row).all(axis=1))
        within(freq, p, math.sqrt(p * (1 - p) / reps) + 1e-12)
    # Every realised count vector is in the support.
    assert len(np.unique(counts, axis=0)) <= len(support)
    drawn = draw_arm_sizes(design, cfg["trial"], reps, rng=6).T
    for row, p in zip(support, prob, strict=True):
        within(np.mean((drawn == row).all(axis=1)), p, math.sqrt(p * (1 - p) / reps) + 1e-12)


def test_arm_sizes_simple_randomization_are_multinomial():
    cfg = _cfg(n=30, trial__randomization="simple")
    size = draw_arm_sizes(design_of(cfg), cfg["trial"], 20_000, rng=3)
    assert (size.sum(axis=0) == 90).all()
    for k in range(3):  # Binomial(90, 1/3)
        within(size[k].mean(), 30.0, math.sqrt(20.0 / 20_000))
        within(size[k].var(), 20.0, 20.0 * math.sqrt(2 / 20_000) * 1.1)


# --------------------------------------------------------------------------- sufficient statistics


def test_sufficient_statistics_moments():
    """Completers binomial; means N(mu, Sigma / n); SSCP Wishart(n - 1, Sigma): first and second moments."""
    cfg = _cfg(hip=True, n=30)
    mean, cov = arm_law(cfg)
    reps = 20_000
    st = simulate_stats(cfg, reps, rng=2)
    assert (st.size == 30).all()  # 90 men in blocks of 6: whole blocks only
    for a, p in enumerate((0.15, 0.25, 0.3)):
        n = st.n[a]
        within(n.mean(), 30 * (1 - p), math.sqrt(30 * p * (1 - p) / reps))
        within(n.var(), 30 * p * (1 - p), 30 * p * (1 - p) * math.sqrt(2 / reps) * 1.2)
        for i in range(4):
            z = (st.mean[a, i] - mean[a, i]) * np.sqrt(n / cov[a, i, i])
            within(z.mean(), 0.0, 1 / math.sqrt(reps))
            within(z.var(), 1.0, math.sqrt(2 / reps))
            for j in range(i, 4):
                # E W_ij = (n - 1) S_ij, Var W_ij = (n - 1) (S_ij^2 + S_ii S_jj) given n.
                w = st.sscp[a, i, j] / (n - 1)
                s2 = (cov[a, i, j] ** 2 + cov[a, i, i] * cov[a, j, j]) / (n - 1)
                within(w.mean(), cov[a, i, j], math.sqrt(s2.mean() / reps))
                within(((w - cov[a, i, j]) ** 2 / s2).mean(), 1.0, math.sqrt(2.0 / reps) * 1.5)
        assert np.allclose(st.sscp[a], np.swapaxes(st.sscp[a], 0, 1))


@pytest.mark.parametrize("df", [0, 1, 2, 3])
def test_singular_wishart_moments(df):
    """With fewer than d degrees of freedom the Wishart is singular but keeps E W = df S, Var W_ii = 2 df S_ii^2."""
    s = np.array([[1.0, 0.5, 0.2, 0.0], [0.5, 2.0, 0.3, 0.4], [0.2, 0.3, 1.5, -0.6], [0.0, 0.4, -0.6, 1.0]])
    reps = 40_000
    w = draw_wishart(np.linalg.cholesky(s), np.full(reps, float(df)), rng=df)
    if df == 0:
        assert not w.any()
        return
    assert np.linalg.matrix_rank(w[..., 0]) == df
    for i in range(4):
        for j in range(i, 4):
            var = df * (s[i, j] ** 2 + s[i, i] * s[j, j])
            within(w[i, j].mean(), df * s[i, j], math.sqrt(var / reps))


# --------------------------------------------------------------------------- same law as per-man


def _stats_of(t: DesignArrays) -> DesignStats:
    """The per-arm sufficient statistics of simulated men, computed directly (numpy mean and cov)."""
    e = t.design.endpoint_scan
    x = np.stack([t.bmd["spine"][..., 0], t.change("spine", "pct")[..., e],
                  t.bmd["hip"][..., 0], t.change("hip", "pct")[..., e]], axis=-1)  # fmt: skip
    reps, k = x.shape[0], len(t.design.arms)
    n, mean, sscp = np.zeros((k, reps)), np.zeros((k, 4, reps)), np.zeros((k, 4, 4, reps))
    for r in range(reps):
        for a in range(k):
            v = x[r][(t.arm[r] == a) & t.completed[r]]
            n[a, r] = len(v)
            mean[a, :, r] = v.mean(axis=0)
            sscp[a, :, :, r] = np.cov(v.T) * (len(v) - 1)
    return DesignStats(t.design, n, n, mean, sscp)


@pytest.mark.parametrize("method", ["ancova", "student_t", "welch_t"])
def test_exact_results_are_the_per_man_statistics_of_the_same_sums(method):
    """Given the sums of the same men, the exact path's statistics equal the per-man path's (both endpoints)."""
    cfg = _cfg(hip=True, n=12)
    t = simulate_design(cfg, 4, rng=8, covariates=False)
    st = _stats_of(t)
    for ep in ("spine", "hip"):
        for r_man, r_exact in zip(design_power.comparison_results(t, ep, method, "pct", 0.05),
                                  design_power.comparison_results(st, ep, method, "pct", 0.05), strict=True):  # fmt: skip
            for field in ("estimate", "se", "p_value", "df", "n_placebo", "n_anastrozole"):
                assert np.allclose(getattr(r_man, field), getattr(r_exact, field), rtol=1e-9, atol=0), field


def _replicates(cfg, methods, blocks=20):
    """Per endpoint, method and comparison: estimates, SEs and unadjusted p-values of ``blocks`` x 1,000 trials."""
    out = {}
    for index in range(blocks):
        block = design_power._simulate(cfg, "1a2b", index, 1000, methods)
        for ep in block.design.endpoints:
            for m in methods:
                for label, r in zip(block.design.labels, design_power.comparison_results(
                        block, ep, m, "pct", 0.05), strict=True):  # fmt: skip
                    acc = out.setdefault((ep, m, label), [[], [], []])
                    for lst, v in zip(acc, (r.estimate, r.se, r.p_value), strict=True):
                        lst.append(v)
    return {k: [np.concatenate(v) for v in vals] for k, vals in out.items()}, type(block)


def _same_law(cfg, methods, mult):
    exact, kind_e = _replicates(cfg, methods)
    never = validate_config(set_key(cfg, "simulation.exact_shortcut", "never"))
    per_man, kind_p = _replicates(never, methods)
    assert kind_e is DesignStats and kind_p is DesignArrays
    for key in exact:
        for x, y in zip(exact[key], per_man[key], strict=True):
            assert np.isfinite(x).all() and np.isfinite(y).all()
            if x is exact[key][2]:  # unadjusted power
                x, y = x < 0.05, y < 0.05
            within(x.mean() - y.mean(), 0.0, math.sqrt(x.var() / len(x) + y.var() / len(y)))
    # The table: power after multiplicity, combined and family-wise rows.
    a = design_power.run_design_power(cfg, reps=20_000, methods=methods, multiplicities=[mult])
    b = design_power.run_design_power(never, reps=20_000, methods=methods, multiplicities=[mult])
    assert len(a) == len(b) and (a["comparison"].to_numpy() == b["comparison"].to_numpy()).all()
    for (_, ra), (_, rb) in zip(a.iterrows(), b.iterrows(), strict=True):
        within(ra["power"] - rb["power"], 0.0, math.hypot(ra["power_se"], rb["power_se"]) + 1e-9)
        if np.isfinite(ra["mean_estimate"]):
            within(ra["mean_estimate"] - rb["mean_estimate"], 0.0,
                   math.hypot(ra["emp_se"], rb["emp_se"]) / math.sqrt(20_000))  # fmt: skip
    return a


@pytest.mark.slow
def test_three_arm_with_dropout_same_law_as_per_man():
    table = _same_law(_cfg(n=30), ["ancova", "student_t", "welch_t"], "holm")
    assert set(table["comparison"]) == {"low-placebo", "high-placebo", "any", "all"}


@pytest.mark.slow
def test_two_endpoints_co_primary_same_law_as_per_man():
    table = _same_law(_cfg(hip=True, n=40, analysis__endpoint_rule="all"), ["ancova"], "dunnett")
    co = table[(table["endpoint"] == "all") & (table["comparison"] == "high-placebo")]
    # The co-primary row is the joint decision: well below either endpoint's power.
    assert 0.2 < float(co["power"].iloc[0]) < 0.9


# --------------------------------------------------------------------------- when the shortcut applies


@pytest.mark.parametrize(
    ("keys", "method", "reason"),
    [
        (
            {"dropout__mechanism": "MAR", "dropout__strength": 1.0},
            "ancova",
            "MAR dropout depends on the data",
        ),
        ({"dropout__mechanism": "MNAR", "dropout__strength": 1.0}, "ancova", "MNAR dropout depends"),
        ({}, "mmrm", "mmrm is not a function"),
        ({"analysis__scale": "absolute"}, "ancova", "absolute change"),
        ({"analysis__covariates": ["age_years"]}, "ancova", "extra covariates"),
        ({"trial__randomization": "stratified_blocks"}, "welch_t", "stratified"),
        ({"simulation__exact_shortcut": "never"}, "student_t", "'never'"),
    ],
)
def test_exact_refused(keys, method, reason):
    ok, why = exact_valid(_cfg(**keys), method)
    assert not ok and reason in why


def test_exact_allowed_with_mar_of_strength_zero():
    assert exact_valid(_cfg(dropout__mechanism="MAR", dropout__strength=0.0), "ancova") == (True, "")


@pytest.mark.parametrize(
    ("keys", "methods"),
    [
        ({"dropout__mechanism": "MAR", "dropout__strength": 1.0}, ["ancova"]),
        ({}, ["ancova", "mmrm"]),
        ({"simulation__exact_shortcut": "never"}, ["ancova"]),
    ],
)
def test_falls_back_to_per_man(keys, methods):
    assert isinstance(design_power._simulate(_cfg(**keys), "0abc", 0, 5, methods), DesignArrays)


def test_exact_path_taken():
    assert isinstance(design_power._simulate(_cfg(), "0abc", 0, 5, ["ancova", "welch_t"]), DesignStats)


def test_design_with_covariates_refused():
    with pytest.raises(InputError, match="analysis.covariates"):
        design_power.run_design_power(_cfg(analysis__covariates=["age_years"]), reps=10, methods=["ancova"])


def test_exact_table_byte_identical_for_any_chunk_size():
    cfg = _cfg(hip=True, analysis__endpoint_rule="any")
    tables = [
        design_power.run_design_power(cfg, reps=2500, methods=["ancova", "welch_t"], chunk_size=c).to_csv()
        for c in (1000, 2500, 10_000)
    ]
    assert tables[0] == tables[1] == tables[2]
    assert "nan" not in tables[0].split("\n")[1]


def test_singular_covariance_factor():
    """A singular per-arm covariance (a variable fixed by another) still gets a square factor F F' = cov."""
    from vtrial.design_exact import _factor

    a = np.array([[1.0, 0.0], [2.0, 0.0], [0.5, 1.0]])
    cov = a @ a.T  # rank 2 of 3
    f = _factor(cov)
    assert f.shape == (3, 3) and np.allclose(f @ f.T, cov)
