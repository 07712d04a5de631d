"""The array engine against the reference analyses and the trial generator.

* Per-replicate statistics equal :mod:`vtrial.analysis` on the same simulated
  trials (converted to the long format) to 1e-10.
* The per-man sampler has the distribution of :func:`vtrial.trial.simulate_arrays`
  (moments, dropout rates, KS on test statistics).
* The exact shortcut gives the distribution of the per-man engine (KS on
  20,000 t-values, power within three Monte Carlo SEs).
* Random streams: blocks are reproducible, results do not depend on chunking.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from vtrial import engine, trial
from vtrial.analysis import METHODS
from vtrial.config import load_config
from vtrial.errors import InputError

FIELDS = ("estimate", "se", "p_value", "df", "ci_low", "ci_high", "n_placebo", "n_anastrozole")

CONFIGS = {
    "default_mcar": [],
    "mnar": ["dropout.mechanism=MNAR", "dropout.strength=1.5"],
    "mar_simple": ["dropout.mechanism=MAR", "trial.randomization=simple"],
    "ratio_blocks": ["trial.allocation_ratio=2", "trial.block_sizes=[3, 6]", "trial.n_per_arm=10"],
    "cut_blocks": ["trial.block_sizes=[4, 6]", "trial.n_per_arm=21"],
    "locf": ["analysis.missing=locf"],
    "bocf_absolute": ["analysis.missing=bocf", "analysis.scale=absolute"],
    "locf_absolute_mnar": ["analysis.missing=locf", "analysis.scale=absolute", "dropout.mechanism=MNAR"],
    "small_heavy_dropout": ["trial.n_per_arm=5", "dropout.anastrozole=0.6", "dropout.placebo=0.6"],
}


def _compare(block, cfg, methods, reps):
    """Largest absolute difference between engine and reference over fields and replicates."""
    opt = engine.analysis_options(cfg)
    ta = engine.block_to_arrays(block)
    worst = {}
    for m in methods:
        if m in engine.EXACT_METHODS:
            rep = engine.t_methods(engine.arm_stats(block, opt["missing"], opt["scale"]), m, opt["alpha"])
        else:
            rep = engine.mann_whitney_vec(block, opt["missing"], opt["scale"], opt["alpha"])
        diffs = []
        for r in range(reps):
            try:
                res = METHODS[m][0](trial.to_long(ta, r), missing=opt["missing"], scale=opt["scale"])
            except InputError:  # no analysable man at all: the engine reports NaN
                assert np.isnan(rep.estimate[r])
                continue
            for f in FIELDS:
                mine, ref = float(getattr(rep, f)[r]), float(getattr(res, f))
                if np.isnan(ref) or np.isnan(mine):
                    assert np.isnan(ref) and np.isnan(mine), (m, f, r, mine, ref)
                    continue
                diffs.append(abs(mine - ref) / max(1.0, abs(ref)))
        worst[m] = max(diffs)
    return worst


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_t_methods_equal_reference(name):
    cfg = load_config(overrides=CONFIGS[name])
    block = engine.per_man_block(cfg, 25, np.random.SeedSequence([7, len(name)]), need_y6=True)
    worst = _compare(block, cfg, ["student_t", "welch_t", "ancova"], 25)
    assert max(worst.values()) < 1e-10, worst


def test_full_engine_stratified_equals_reference():
    cfg = load_config(overrides=["trial.randomization=stratified_blocks", "dropout.mechanism=MNAR"])
    assert engine.method_engine(cfg, "ancova") == "full"
    block = engine.full_block(cfg, 15, np.random.SeedSequence(3), covariates=False)
    worst = _compare(block, cfg, ["student_t", "welch_t", "ancova"], 15)
    assert max(worst.values()) < 1e-10, worst


def test_exact_stats_formulas_equal_statsmodels_on_sums():
    """t_methods on ArmStats reproduces statsmodels OLS/ttest on raw data."""
    import statsmodels.api as sm
    from statsmodels.stats.weightstats import ttest_ind

    rng = np.random.default_rng(11)
    n0, n1 = 17, 23
    b = [rng.normal(0.0, 0.14, n0), rng.normal(0.0, 0.14, n1)]
    y = [rng.normal(0.7, 3, n0) - 2 * b[0], rng.normal(-1.7, 3, n1) - 2 * b[1]]
    fields = {k: np.zeros((2, 1)) for k in ("n", "ybar", "bbar", "syy", "sbb", "sby")}
    for a in (0, 1):
        fields["n"][a] = len(y[a])
        fields["ybar"][a] = y[a].mean()
        fields["bbar"][a] = b[a].mean()
        fields["syy"][a] = ((y[a] - y[a].mean()) ** 2).sum()
        fields["sbb"][a] = ((b[a] - b[a].mean()) ** 2).sum()
        fields["sby"][a] = ((b[a] - b[a].mean()) * (y[a] - y[a].mean())).sum()
    st = engine.ArmStats(**fields, size=fields["n"].copy())
    x = np.column_stack([np.ones(n0 + n1), np.r_[np.zeros(n0), np.ones(n1)], np.r_[b[0], b[1]] + 1.15])
    fit = sm.OLS(np.r_[y[0], y[1]], x).fit()
    anc = engine.t_methods(st, "ancova", 0.05)
    assert anc.estimate[0] == pytest.approx(fit.params[1], abs=1e-12)
    assert anc.se[0] == pytest.approx(fit.bse[1], abs=1e-12)
    assert anc.p_value[0] == pytest.approx(fit.pvalues[1], abs=1e-12)
    assert anc.ci_low[0] == pytest.approx(fit.conf_int()[1, 0], abs=1e-12)
    for method, usevar in (("student_t", "pooled"), ("welch_t", "unequal")):
        t, p, df = ttest_ind(y[1], y[0], usevar=usevar)
        rep = engine.t_methods(st, method, 0.05)
        assert rep.estimate[0] / rep.se[0] == pytest.approx(t, abs=1e-12)
        assert rep.p_value[0] == pytest.approx(p, abs=1e-12)
        assert rep.df[0] == pytest.approx(df, abs=1e-10)


@pytest.mark.parametrize(
    "overrides",
    [
        [],  # exact branch (under 50 per arm, no ties)
        ["analysis.missing=bocf"],  # tied zeros: normal branch, zeroin roots
        ["analysis.missing=locf", "dropout.mechanism=MNAR"],
        ["trial.n_per_arm=60", "dropout.anastrozole=0", "dropout.placebo=0"],  # 50+ per arm
        ["trial.n_per_arm=4", "dropout.anastrozole=0.5", "dropout.placebo=0.5"],  # failures
        ["analysis.scale=absolute", "analysis.missing=bocf"],
    ],
)
def test_mann_whitney_equals_reference(overrides):
    cfg = load_config(overrides=overrides)
    block = engine.per_man_block(cfg, 30, np.random.SeedSequence([5, len(overrides)]), need_y6=True)
    worst = _compare(block, cfg, ["mann_whitney"], 30)
    assert worst["mann_whitney"] < 1e-10, worst


def test_mann_whitney_normal_branch_p_matches_scipy():
    """Rank-sum p-value with ties equals scipy's asymptotic test with tie and continuity correction."""
    cfg = load_config(overrides=["analysis.missing=bocf"])  # many tied zeros
    block = engine.per_man_block(cfg, 30, np.random.SeedSequence(5), need_y6=True)
    rep = engine.mann_whitney_vec(block, "bocf", "pct", 0.05)
    for r in range(30):
        ys = []
        for a in (0, 1):
            y, w = engine.outcome_from_bmd(block, a, "bocf", "pct")
            ys.append(y[:, r][w[:, r]])
        ref = stats.mannwhitneyu(ys[1], ys[0], method="asymptotic", use_continuity=True)
        assert rep.p_value[r] == pytest.approx(ref.pvalue, rel=1e-10, abs=1e-14)


# --------------------------------------------------------------------------- sampler laws


def test_moments_match_simulate_arrays():
    """Exact (B0, Y12, Y6) moments against a large simulate_arrays sample (4 SE)."""
    cfg = load_config(overrides=["dropout.anastrozole=0", "dropout.placebo=0"])
    ta = trial.simulate_arrays(cfg, 1500, rng=2, covariates=False)
    mo = engine.moments(cfg)
    for a in (0, 1):
        arm = ta.anastrozole == bool(a)
        x = np.column_stack(
            [ta.bmd_g_cm2[..., 0][arm], ta.pct_change[..., 1][arm], ta.pct_change[..., 0][arm]]
        )
        n = len(x)
        mean = np.array([mo.bmd_mean, mo.mean_pct[a], mo.month6_fraction * mo.mean_pct[a]])
        se_mean = np.sqrt(np.diag(mo.cov) / n)
        assert np.all(np.abs(x.mean(0) - mean) < 4 * se_mean)
        cov = np.cov(x.T)
        # SE of a sample covariance under normality: sqrt((s_ij^2 + s_ii s_jj) / n).
        s = mo.cov
        se_cov = np.sqrt((s**2 + np.outer(np.diag(s), np.diag(s))) / n)
        assert np.all(np.abs(cov - s) < 4 * se_cov), (cov, s)


def test_moments_match_simulate_arrays_with_covariates():
    """The cohort path (covariates=True) gives the same B0 / Y12 law (its BMD is exact normal)."""
    cfg = load_config(overrides=["dropout.anastrozole=0", "dropout.placebo=0"])
    ta = trial.simulate_arrays(cfg, 300, rng=4, covariates=True)
    mo = engine.moments(cfg)
    x = np.column_stack(
        [
            ta.bmd_g_cm2[..., 0].ravel(),
            (ta.pct_change[..., 1] - np.where(ta.anastrozole, mo.mean_pct[1], mo.mean_pct[0])).ravel(),
        ]
    )
    n = len(x)
    s = mo.cov[:2, :2]
    assert abs(x[:, 0].mean() - mo.bmd_mean) < 4 * np.sqrt(s[0, 0] / n)
    se_cov = np.sqrt((s**2 + np.outer(np.diag(s), np.diag(s))) / n)
    assert np.all(np.abs(np.cov(x.T) - s) < 4 * se_cov)


def test_arm_size_law_matches_randomize():
    """Law of arm sizes (DP) against trial.randomize's empirical frequencies (4 SE)."""
    tcfg = load_config(overrides=["trial.n_per_arm=21", "trial.block_sizes=[4, 6]"])["trial"]
    law = engine.arm_size_law(tcfg)
    reps = 20000
    counts = trial.randomize(tcfg, reps, rng=9).sum(1)
    freq = np.bincount(counts, minlength=len(law)) / reps
    se = np.sqrt(law * (1 - law) / reps) + 1e-12
    assert np.all(np.abs(freq - law) <= 4 * se + 1e-4)
    drawn = engine.draw_arm_sizes(tcfg, reps, rng=10)[1]
    freq2 = np.bincount(drawn, minlength=len(law)) / reps
    assert np.all(np.abs(freq2 - law) <= 4 * se + 1e-4)
    assert law.sum() == pytest.approx(1.0)


def test_simple_randomization_law_is_binomial():
    tcfg = load_config(overrides=["trial.randomization=simple", "trial.n_per_arm=10"])["trial"]
    assert engine.arm_size_law(tcfg) == pytest.approx(stats.binom.pmf(np.arange(21), 20, 0.5))


def _t_values(blocks, method, cfg):
    opt = engine.analysis_options(cfg)
    out = []
    for b in blocks:
        rep = engine.t_methods(engine.arm_stats(b, opt["missing"], opt["scale"]), method, opt["alpha"])
        out.append(rep.estimate / rep.se)
    return np.concatenate(out)


@pytest.mark.parametrize(
    "overrides", [["dropout.mechanism=MNAR", "dropout.strength=2"], ["dropout.mechanism=MAR"]]
)
def test_per_man_sampler_matches_simulate_arrays(overrides):
    """MNAR/MAR: completion rates, completer means and t-statistics vs simulate_arrays."""
    cfg = load_config(overrides=overrides)
    reps = 6000
    pm = [
        engine.per_man_block(cfg, 1000, np.random.SeedSequence([1, k]), need_y6=False)
        for k in range(reps // 1000)
    ]
    fu = [
        engine.full_block(cfg, 1000, np.random.SeedSequence([2, k]), covariates=False)
        for k in range(reps // 1000)
    ]
    for a in (0, 1):
        c1 = np.concatenate([b.complete[a].ravel() for b in pm])
        c2 = np.concatenate([b.complete[a].ravel() for b in fu])
        se = np.sqrt(c1.mean() * (1 - c1.mean()) * (1 / len(c1) + 1 / len(c2)))
        assert abs(c1.mean() - c2.mean()) < 4 * se
        y1 = np.concatenate([b.y12(a)[b.complete[a]] for b in pm])
        y2 = np.concatenate([b.y12(a)[b.complete[a]] for b in fu])
        assert abs(y1.mean() - y2.mean()) < 4 * np.sqrt(y1.var() / len(y1) + y2.var() / len(y2))
    for m in ("welch_t", "ancova"):
        t1, t2 = _t_values(pm, m, cfg), _t_values(fu, m, cfg)
        assert stats.ks_2samp(t1, t2).pvalue > 0.001, m


def test_exact_shortcut_matches_per_man_engine():
    """KS on 20,000 t-values and power within 3 MC SEs, for each t method."""
    cfg = load_config(overrides=["trial.randomization=simple", "trial.n_per_arm=30"])
    assert engine.exact_valid(cfg, "ancova")[0]
    reps = 20000
    pm = [
        engine.per_man_block(cfg, 1000, np.random.SeedSequence([3, k]), need_y6=False)
        for k in range(reps // 1000)
    ]
    ex = [engine.exact_arm_stats(cfg, 1000, np.random.SeedSequence([4, k])) for k in range(reps // 1000)]
    for m in ("student_t", "welch_t", "ancova"):
        t_pm = _t_values(pm, m, cfg)
        reps_ex = [engine.t_methods(s, m, 0.05) for s in ex]
        t_ex = np.concatenate([r.estimate / r.se for r in reps_ex])
        assert stats.ks_2samp(t_pm, t_ex).pvalue > 0.001, m
        p_ex = np.concatenate([r.p_value for r in reps_ex])
        opt = engine.analysis_options(cfg)
        p_pm = np.concatenate(
            [engine.t_methods(engine.arm_stats(b, opt["missing"], opt["scale"]), m, 0.05).p_value for b in pm]
        )
        pw1, pw2 = np.mean(p_ex < 0.05), np.mean(p_pm < 0.05)
        se = np.sqrt(pw1 * (1 - pw1) / reps + pw2 * (1 - pw2) / reps)
        assert abs(pw1 - pw2) < 3 * se, (m, pw1, pw2)


def test_exact_counts_are_binomial_completers():
    """Analysed men per arm in the exact shortcut: Binomial(44, 1 - p) (mean within 4 SE)."""
    cfg = load_config()
    st = engine.exact_arm_stats(cfg, 1000, np.random.SeedSequence(8))
    for a, p in ((0, 0.18), (1, 0.25)):
        mean = 44 * (1 - p)
        assert abs(st.n[a].mean() - mean) < 4 * np.sqrt(44 * p * (1 - p) / 1000)


# --------------------------------------------------------------------------- engine choice and streams


def test_engine_choice():
    cfg = load_config()
    assert engine.method_engine(cfg, "ancova") == "exact"
    assert engine.method_engine(cfg, "mann_whitney") == "per_man"
    assert engine.method_engine(cfg, "mmrm") == "per_man"
    never = load_config(overrides=["simulation.exact_shortcut=never"])
    assert engine.method_engine(never, "welch_t") == "per_man"
    mnar = load_config(overrides=["dropout.mechanism=MNAR"])
    assert engine.method_engine(mnar, "welch_t") == "per_man_y"
    assert engine.method_engine(mnar, "welch_t", ["welch_t", "ancova"]) == "per_man_y"
    assert engine.method_engine(mnar, "welch_t", ["welch_t", "mann_whitney"]) == "per_man"
    assert engine.method_engine(mnar, "mann_whitney", ["welch_t", "mann_whitney"]) == "per_man"
    mnar_never = load_config(overrides=["dropout.mechanism=MNAR", "simulation.exact_shortcut=never"])
    assert engine.method_engine(mnar_never, "welch_t") == "per_man"
    mar = load_config(overrides=["dropout.mechanism=MAR"])
    assert engine.method_engine(mar, "ancova") == "per_man_y"
    for extra in (["analysis.missing=locf"], ["analysis.scale=absolute"], ["analysis.robust_se=true"]):
        assert engine.method_engine(load_config(overrides=["dropout.mechanism=MNAR", *extra]), "ancova") != (
            "per_man_y"
        )
    med = load_config(overrides=["effects.mode=estradiol_mediated"])
    assert engine.method_engine(med, "welch_t") == "full"
    mi = load_config(overrides=["analysis.missing=multiple_imputation"])
    assert engine.method_engine(mi, "welch_t") == "reference"
    assert engine.method_engine(cfg, "permutation") == "reference"


def test_blocks_are_reproducible_and_distinct():
    cfg = load_config(overrides=["simulation.exact_shortcut=never"])
    a = engine.run_block(cfg, "0123456789", 3, 1000, ["ancova"])["ancova"].estimate
    b = engine.run_block(cfg, "0123456789", 3, 1000, ["ancova"])["ancova"].estimate
    c = engine.run_block(cfg, "0123456789", 4, 1000, ["ancova"])["ancova"].estimate
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_adding_a_method_keeps_other_results():
    cfg = load_config(overrides=["simulation.exact_shortcut=never", "dropout.mechanism=MNAR"])
    a = engine.run_block(cfg, "0123456789", 0, 500, ["welch_t"])["welch_t"].estimate
    b = engine.run_block(cfg, "0123456789", 0, 500, ["mann_whitney", "welch_t"])["welch_t"].estimate
    assert np.array_equal(a, b)


def test_larger_trial_extends_smaller_one():
    """Common random numbers across n: the first men of each arm are the same."""
    small = load_config(overrides=["trial.n_per_arm=20"])
    big = load_config(overrides=["trial.n_per_arm=30"])
    ss = np.random.SeedSequence(12)
    b1 = engine.per_man_block(small, 50, ss, need_y6=False)
    b2 = engine.per_man_block(big, 50, ss, need_y6=False)
    for a in (0, 1):
        assert np.array_equal(b1.db[a], b2.db[a][:20])
        assert np.array_equal(b1.complete[a], b2.complete[a][:20])


def test_reference_path_runs_permutation():
    cfg = load_config(overrides=["analysis.permutations=99", "trial.n_per_arm=8"])
    res = engine.run_block(cfg, "0123456789", 0, 3, ["permutation"])["permutation"]
    assert np.all(np.isfinite(res.p_value))


def test_block_sizes():
    assert engine.block_sizes(1) == [1]
    assert engine.block_sizes(engine.BLOCK * 2) == [engine.BLOCK] * 2


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
    block = engine.per_man_block(cfg, 15, np.random.SeedSequence([9, len(overrides)]), need_y6=True)
    opt = engine.analysis_options(cfg)
    rep = engine.mmrm_vec(block, opt["scale"], 0.05)
    ta = engine.block_to_arrays(block)
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


# --------------------------------------------------------------------------- per_man_y: drawn baseline sums


def _replicates(stats_list, method):
    reps = [engine.t_methods(s, method, 0.05) for s in stats_list]
    return {f: np.concatenate([getattr(r, f) for r in reps]) for f in ("estimate", "se", "p_value")}


def _agree(a, b, label):
    """KS on t-values, power, mean estimate and mean SE within 3 Monte Carlo SEs."""
    ok_a, ok_b = np.isfinite(a["estimate"]), np.isfinite(b["estimate"])
    na, nb = ok_a.sum(), ok_b.sum()
    # failed fits (too few completers) at the same rate
    fa, fb = 1 - na / len(ok_a), 1 - nb / len(ok_b)
    assert abs(fa - fb) <= 3 * np.sqrt((fa + fb) / 2 * (1 / len(ok_a) + 1 / len(ok_b))) + 1e-12, label
    ta = a["estimate"][ok_a] / a["se"][ok_a]
    tb = b["estimate"][ok_b] / b["se"][ok_b]
    assert stats.ks_2samp(ta, tb).pvalue > 0.001, label
    pa, pb = np.mean(a["p_value"] < 0.05), np.mean(b["p_value"] < 0.05)
    assert abs(pa - pb) < 3 * np.sqrt(pa * (1 - pa) / len(ok_a) + pb * (1 - pb) / len(ok_b)), (label, pa, pb)
    for f in ("estimate", "se"):
        xa, xb = a[f][ok_a], b[f][ok_b]
        se = np.sqrt(xa.var() / na + xb.var() / nb)
        assert abs(xa.mean() - xb.mean()) < 3 * se, (label, f, xa.mean(), xb.mean(), se)


PER_MAN_Y_CASES = {
    # strong baseline correlation: the baseline sums depend much on the completers' outcomes
    "mnar": [
        "dropout.mechanism=MNAR", "dropout.strength=2", "trial.n_per_arm=20", "effects.baseline_corr=-0.8",
    ],
    "mnar_simple_ratio": [
        "dropout.mechanism=MNAR", "trial.randomization=simple", "trial.allocation_ratio=1.5",
        "trial.n_per_arm=16",
    ],
    "mar": [
        "dropout.mechanism=MAR", "dropout.strength=2", "trial.n_per_arm=20", "effects.baseline_corr=-0.8",
    ],
    # few completers: chi2 / Wishart on 0, 1, 2 df and failed fits
    "mar_heavy_small": [
        "dropout.mechanism=MAR", "trial.randomization=simple", "trial.n_per_arm=5",
        "dropout.anastrozole=0.5", "dropout.placebo=0.5",
    ],
    "mnar_heavy_small": [
        "dropout.mechanism=MNAR", "trial.n_per_arm=4", "dropout.anastrozole=0.5", "dropout.placebo=0.5",
    ],
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(PER_MAN_Y_CASES))
def test_per_man_y_matches_per_man_engine(name):
    """Drawn baseline sums vs every man's values: same law of the Welch, Student and ANCOVA results
    (KS on 20,000 t-values; power, mean estimate and mean SE within 3 MC SEs)."""
    cfg = load_config(overrides=PER_MAN_Y_CASES[name])
    assert engine.method_engine(cfg, "ancova", ["ancova", "welch_t"]) == "per_man_y"
    opt = engine.analysis_options(cfg)
    blocks = 20
    new = [engine.per_man_y_stats(cfg, 1000, np.random.SeedSequence([20, k])) for k in range(blocks)]
    old = [
        engine.arm_stats(
            engine.per_man_block(cfg, 1000, np.random.SeedSequence([21, k]), need_y6=False),
            opt["missing"],
            opt["scale"],
        )
        for k in range(blocks)
    ]
    for m in ("welch_t", "student_t", "ancova"):
        _agree(_replicates(new, m), _replicates(old, m), (name, m))
    # men analysed per arm: same mean
    for a in (0, 1):
        n1 = np.concatenate([s.n[a] for s in new])
        n2 = np.concatenate([s.n[a] for s in old])
        assert abs(n1.mean() - n2.mean()) < 3 * np.sqrt(n1.var() / len(n1) + n2.var() / len(n2))


def test_per_man_y_under_mcar_matches_exact_shortcut_and_analytic_power():
    from vtrial import power

    cfg = load_config(overrides=["trial.randomization=simple", "trial.n_per_arm=22"])
    assert engine.exact_valid(cfg, "ancova")[0]
    blocks = 20
    new = [engine.per_man_y_stats(cfg, 1000, np.random.SeedSequence([22, k])) for k in range(blocks)]
    ex = [engine.exact_arm_stats(cfg, 1000, np.random.SeedSequence([23, k])) for k in range(blocks)]
    for m in ("welch_t", "student_t", "ancova"):
        a = _replicates(new, m)
        _agree(a, _replicates(ex, m), m)
        pw = np.mean(a["p_value"] < 0.05)
        ref = power.analytic_power(cfg, m)
        assert abs(pw - ref) < 3 * np.sqrt(ref * (1 - ref) / len(a["p_value"])), (m, pw, ref)


def test_per_man_y_shares_outcomes_with_per_man_block():
    """Under MNAR the Y12 values and completers are those of the per-man block: Welch and Student
    results are bitwise equal, so adding Mann-Whitney (which needs per-man values) changes no t-test."""
    cfg = load_config(overrides=["dropout.mechanism=MNAR", "trial.randomization=simple"])
    ss = np.random.SeedSequence(31)
    st = engine.per_man_y_stats(cfg, 300, ss)
    ref = engine.arm_stats(engine.per_man_block(cfg, 300, ss, need_y6=False), "complete_case", "pct")
    for f in ("n", "ybar", "syy", "size"):
        assert np.array_equal(getattr(st, f), getattr(ref, f)), f
    a = engine.run_block(cfg, "0123456789", 0, 500, ["welch_t"])["welch_t"]
    b = engine.run_block(cfg, "0123456789", 0, 500, ["mann_whitney", "welch_t"])["welch_t"]
    assert np.array_equal(a.p_value, b.p_value, equal_nan=True)


def test_per_man_y_output_identical_for_any_chunking_and_workers():
    from vtrial import power

    cfg = load_config(
        overrides=[
            "analysis.methods=[ancova, welch_t]",
            "dropout.mechanism=MNAR",
            "grid.dropout.mechanism=[MNAR, MAR]",
        ]
    )
    a = power.run_power(cfg, reps=3500, chunk_size=1000)
    assert set(a["engine"]) == {"per_man_y"}
    for kw in (
        {"chunk_size": 3000},
        {"chunk_size": 100000, "workers": 2},
        {"chunk_size": 1000, "workers": 2},
    ):
        b = power.run_power(cfg, reps=3500, **kw)
        assert a.to_csv(index=False) == b.to_csv(index=False), kw


def test_mann_whitney_p_only_keeps_the_p_values():
    # The sample-size search asks only for p-values; they must be the very
    # p-values of the full computation, in both of R's branches.
    from vtrial.config import load_config
    from vtrial.engine import run_block

    for n in (20, 60):
        cfg = load_config(overrides=[f"trial.n_per_arm={n}", "analysis.methods=[mann_whitney]"])
        full = run_block(cfg, "0123456789", 0, 300, ["mann_whitney"])["mann_whitney"]
        quick = run_block(cfg, "0123456789", 0, 300, ["mann_whitney"], p_only=True)["mann_whitney"]
        assert np.array_equal(full.p_value, quick.p_value, equal_nan=True)
        assert np.isnan(quick.ci_low).all() and np.isfinite(full.ci_low).any()
