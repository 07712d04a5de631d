"""The samplers of the power engine against the trial generator and each other.

* The per-man sampler has the distribution of :func:`vtrial.trial.simulate_arrays`
  (moments, dropout rates, month-6 visit pattern, KS on test statistics).
* The exact shortcut gives the distribution of the per-man engine (KS on
  20,000 t-values, power within three Monte Carlo SEs), also for tiny trials.
* The per_man_y sampler gives the distribution of the per-man engine.
* Arm sizes follow the law of :func:`vtrial.trial.randomize`.
"""

from __future__ import annotations

import numpy as np
import pytest
from engine_helpers import agree, replicates, t_values
from scipy import stats

from vtrial import engine, samplers, trial
from vtrial.analysis.ttests import t_methods
from vtrial.config import load_config


def test_arm_size_law_matches_randomize():
    """Law of arm sizes (DP) against trial.randomize's empirical frequencies (4 SE)."""
    tcfg = load_config(overrides=["trial.n_per_arm=21", "trial.block_sizes=[4, 6]"])["trial"]
    law = samplers.arm_size_law(tcfg)
    reps = 20000
    counts = trial.randomize(tcfg, reps, rng=9).sum(1)
    freq = np.bincount(counts, minlength=len(law)) / reps
    se = np.sqrt(law * (1 - law) / reps) + 1e-12
    assert np.all(np.abs(freq - law) <= 4 * se + 1e-4)
    drawn = samplers.draw_arm_sizes(tcfg, reps, rng=10)[1]
    freq2 = np.bincount(drawn, minlength=len(law)) / reps
    assert np.all(np.abs(freq2 - law) <= 4 * se + 1e-4)
    assert law.sum() == pytest.approx(1.0)


def test_simple_randomization_law_is_binomial():
    tcfg = load_config(overrides=["trial.randomization=simple", "trial.n_per_arm=10"])["trial"]
    assert samplers.arm_size_law(tcfg) == pytest.approx(stats.binom.pmf(np.arange(21), 20, 0.5))


@pytest.mark.parametrize(
    "overrides", [["dropout.mechanism=MNAR", "dropout.strength=2"], ["dropout.mechanism=MAR"]]
)
def test_per_man_sampler_matches_simulate_arrays(overrides):
    """MNAR/MAR: completion rates, completer means and t-statistics vs simulate_arrays."""
    cfg = load_config(overrides=overrides)
    reps = 6000
    pm = [
        samplers.per_man_block(cfg, 1000, np.random.SeedSequence([1, k]), need_y6=False)
        for k in range(reps // 1000)
    ]
    fu = [
        samplers.full_block(cfg, 1000, np.random.SeedSequence([2, k]), covariates=False)
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
        t1, t2 = t_values(pm, m, cfg), t_values(fu, m, cfg)
        assert stats.ks_2samp(t1, t2).pvalue > 0.001, m


def _exact(cfg, reps, seed) -> samplers.PooledStats:
    """Exact-shortcut statistics of one block, with the per-arm shares Welch needs."""
    ss = np.random.SeedSequence(seed)
    return samplers.exact_stats(
        cfg, samplers.exact_draws(cfg, reps, ss), welch=True, rng=np.random.default_rng(ss)
    )


EXACT_CASES = {
    "simple_mcar": ["trial.randomization=simple", "trial.n_per_arm=30"],
    # a cut block of 4: unequal arms, the same df in every replicate (scalar chi-squares)
    "blocks_no_dropout": ["trial.n_per_arm=25", "dropout.placebo=0", "dropout.anastrozole=0"],
    # 2 to 8 completers in all: Wisharts on 0 and 1 df, failed fits
    "tiny_heavy_dropout": [
        "trial.randomization=simple", "trial.n_per_arm=4", "dropout.placebo=0.5", "dropout.anastrozole=0.5",
    ],
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(EXACT_CASES))
def test_exact_shortcut_matches_per_man_engine(name):
    """KS on 20,000 t-values and power within 3 MC SEs, for each t method (pooled draws vs every man)."""
    cfg = load_config(overrides=EXACT_CASES[name])
    assert engine.exact_valid(cfg, "ancova")[0]
    reps = 20000
    pm = [
        samplers.per_man_block(cfg, 1000, np.random.SeedSequence([3, k]), need_y6=False)
        for k in range(reps // 1000)
    ]
    ex = [_exact(cfg, 1000, [4, k]) for k in range(reps // 1000)]
    opt = engine.analysis_options(cfg)
    for m in ("student_t", "welch_t", "ancova"):
        t_pm = t_values(pm, m, cfg)
        reps_ex = [t_methods(s, m, 0.05) for s in ex]
        t_ex = np.concatenate([r.estimate / r.se for r in reps_ex])
        assert stats.ks_2samp(t_pm[np.isfinite(t_pm)], t_ex[np.isfinite(t_ex)]).pvalue > 0.001, m
        assert abs(np.isfinite(t_pm).mean() - np.isfinite(t_ex).mean()) < 0.02, m  # failed fits alike
        p_ex = np.concatenate([r.p_value for r in reps_ex])
        p_pm = np.concatenate(
            [t_methods(samplers.arm_stats(b, opt["missing"], opt["scale"]), m, 0.05).p_value for b in pm]
        )
        pw1, pw2 = np.mean(p_ex < 0.05), np.mean(p_pm < 0.05)
        se = np.sqrt(pw1 * (1 - pw1) / reps + pw2 * (1 - pw2) / reps)
        assert abs(pw1 - pw2) < 3 * se, (m, pw1, pw2)


def test_exact_counts_are_binomial_completers():
    """Analysed men per arm in the exact shortcut: Binomial(44, 1 - p) (mean within 4 SE)."""
    cfg = load_config()
    d = samplers.exact_draws(cfg, 1000, np.random.SeedSequence(8))
    for a, p in ((0, 0.18), (1, 0.25)):
        mean = 44 * (1 - p)
        assert abs(d.n[a].mean() - mean) < 4 * np.sqrt(44 * p * (1 - p) / 1000)


def test_exact_shares_split_the_pooled_sum_of_squares():
    """Welch's per-arm sums of squares add up to the pooled one; each is sigma^2 chi2(n_a - 1) in mean."""
    cfg = load_config(overrides=["trial.randomization=simple"])
    st = _exact(cfg, 20000, 9)
    assert np.allclose(st.syy[0] + st.syy[1], st.syy_w, rtol=1e-12)
    from vtrial.model import moments

    s2 = moments(cfg).cov[1, 1]
    for a in (0, 1):
        x = st.syy[a] / s2 / np.maximum(st.n[a] - 1, 1)
        ok = st.n[a] >= 2
        assert abs(x[ok].mean() - 1) < 4 * x[ok].std() / np.sqrt(ok.sum())


def test_larger_trial_extends_smaller_one():
    """Common random numbers across n: the first men of each arm are the same."""
    small = load_config(overrides=["trial.n_per_arm=20"])
    big = load_config(overrides=["trial.n_per_arm=30"])
    ss = np.random.SeedSequence(12)
    b1 = samplers.per_man_block(small, 50, ss, need_y6=False)
    b2 = samplers.per_man_block(big, 50, ss, need_y6=False)
    for a in (0, 1):
        assert np.array_equal(b1.db[a], b2.db[a][:20])
        assert np.array_equal(b1.complete[a], b2.complete[a][:20])


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
    new = [samplers.per_man_y_stats(cfg, 1000, np.random.SeedSequence([20, k])) for k in range(blocks)]
    old = [
        samplers.arm_stats(
            samplers.per_man_block(cfg, 1000, np.random.SeedSequence([21, k]), need_y6=False),
            opt["missing"],
            opt["scale"],
        )
        for k in range(blocks)
    ]
    for m in ("welch_t", "student_t", "ancova"):
        agree(replicates(new, m), replicates(old, m), (name, m))
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
    new = [samplers.per_man_y_stats(cfg, 1000, np.random.SeedSequence([22, k])) for k in range(blocks)]
    ex = [_exact(cfg, 1000, [23, k]) for k in range(blocks)]
    for m in ("welch_t", "student_t", "ancova"):
        a = replicates(new, m)
        agree(a, replicates(ex, m), m)
        pw = np.mean(a["p_value"] < 0.05)
        ref = power.analytic_power(cfg, m)
        assert abs(pw - ref) < 3 * np.sqrt(ref * (1 - ref) / len(a["p_value"])), (m, pw, ref)


def test_per_man_y_shares_outcomes_with_per_man_block():
    """Under MNAR the Y12 values and completers are those of the per-man block: Welch and Student
    results are bitwise equal, so adding Mann-Whitney (which needs per-man values) changes no t-test."""
    cfg = load_config(overrides=["dropout.mechanism=MNAR", "trial.randomization=simple"])
    ss = np.random.SeedSequence(31)
    st = samplers.per_man_y_stats(cfg, 300, ss)
    ref = samplers.arm_stats(samplers.per_man_block(cfg, 300, ss, need_y6=False), "complete_case", "pct")
    for f in ("n", "ybar", "syy", "size"):
        assert np.array_equal(getattr(st, f), getattr(ref, f)), f
    a = engine.run_block(cfg, "0123456789", 0, 500, ["welch_t"])["welch_t"]
    b = engine.run_block(cfg, "0123456789", 0, 500, ["mann_whitney", "welch_t"])["welch_t"]
    assert np.array_equal(a.p_value, b.p_value, equal_nan=True)


# --------------------------------------------------------------------------- month-6 visits and tiny trials


@pytest.mark.slow
@pytest.mark.parametrize("mechanism", ["MCAR", "MAR", "MNAR"])
def test_month6_visit_pattern_matches_simulate_arrays(mechanism):
    """Who has a month-6 scan, a month-12 scan or neither, and the month-6 change of men seen at
    month 6 but not month 12, per arm: per-man sampler vs simulate_arrays.

    Visit pattern: chi-square test of homogeneity of the 3 x 2 table (pattern x sampler) with
    p > 0.001 (six tables at fixed seeds; under a correct sampler the chance that any of them
    fails is below 0.6%, while a wrong visit law for the month-6 scan, e.g. ``visit_probs``
    applied under MAR or the dropout driver mis-standardized, moves the shares by far more than
    the 0.003 this test resolves with 176,000 men per arm). Month-6 change of the month-6-only
    men: means within 3 Monte Carlo SEs.
    """
    cfg = load_config(overrides=[f"dropout.mechanism={mechanism}", "dropout.strength=1.5"])
    blocks = 4
    pm = [
        samplers.per_man_block(cfg, 1000, np.random.SeedSequence([40, k]), need_y6=True)
        for k in range(blocks)
    ]
    fu = [
        samplers.full_block(cfg, 1000, np.random.SeedSequence([41, k]), covariates=False)
        for k in range(blocks)
    ]

    def pattern(bl, a):
        comp = np.concatenate([b.complete[a].ravel() for b in bl])
        seen = np.concatenate([b.seen6[a].ravel() for b in bl])
        only6 = seen & ~comp
        counts = [comp.sum(), only6.sum(), (~seen).sum()]
        y6 = np.concatenate([b.y6(a).ravel() for b in bl])[only6]
        return np.array(counts), y6

    for a in (0, 1):
        c1, y1 = pattern(pm, a)
        c2, y2 = pattern(fu, a)
        assert c1.sum() == c2.sum() == 44 * 1000 * blocks
        if mechanism == "MAR":  # MAR dropout comes after the month-6 scan
            assert c1[2] == c2[2] == 0
            table = np.array([c1[:2], c2[:2]])
        else:
            table = np.array([c1, c2])
        chi = stats.chi2_contingency(table)
        assert chi.pvalue > 0.001, (mechanism, a, table)
        se = np.sqrt(y1.var() / len(y1) + y2.var() / len(y2))
        assert abs(y1.mean() - y2.mean()) < 3 * se, (mechanism, a, y1.mean(), y2.mean(), se)


@pytest.mark.slow
@pytest.mark.parametrize("n", [2, 3, 4])
def test_exact_shortcut_matches_per_man_engine_in_tiny_trials(n):
    """Two to four men per arm with 30% dropout: completers are often fewer than the model's
    parameters, so the Wishart draw is singular (one completer gives a rank-one SSCP). Valid-fit
    fraction, power, mean estimate and CI coverage of the truth agree within 3 Monte Carlo SEs."""
    from vtrial import power

    overrides = [f"trial.n_per_arm={n}", "dropout.anastrozole=0.3", "dropout.placebo=0.3"]
    auto = load_config(overrides=overrides)
    never = load_config(overrides=[*overrides, "simulation.exact_shortcut=never"])
    methods = ["student_t", "welch_t", "ancova"]
    assert {engine.method_engine(auto, m, methods) for m in methods} == {"exact"}
    assert {engine.method_engine(never, m, methods) for m in methods} == {"per_man"}
    truth = power.truth(auto)
    blocks = 20
    runs = [
        [engine.run_block(c, sid, k, 1000, methods) for k in range(blocks)]
        for c, sid in ((auto, "0123456789"), (never, "0123456788"))
    ]
    for m in methods:
        summary = []
        for run in runs:
            est = np.concatenate([r[m].estimate for r in run])
            p = np.concatenate([r[m].p_value for r in run])
            cover = np.concatenate([r[m].covers(truth) for r in run])
            ok = np.isfinite(est)
            summary.append((ok, p, est[ok], cover[ok]))
        (ok1, p1, e1, c1), (ok2, p2, e2, c2) = summary

        for label, x1, x2 in (
            ("valid fraction", ok1.astype(float), ok2.astype(float)),
            ("power", (p1 < 0.05).astype(float), (p2 < 0.05).astype(float)),
            ("mean estimate", e1, e2),
            ("coverage", c1.astype(float), c2.astype(float)),
        ):
            se = np.sqrt(x1.var() / len(x1) + x2.var() / len(x2))
            assert abs(x1.mean() - x2.mean()) < 3 * se, (n, m, label, x1.mean(), x2.mean(), se)


def _dense_block_law(n: int, n_a: int, sizes: tuple[int, ...]) -> np.ndarray:
    """The permuted-block law by the forward recursion on a full (n + 1) x (n + 1) table."""
    from scipy import stats as st

    share = n_a / n
    law, state = np.zeros(n + 1), np.zeros((n + 1, n + 1))
    state[0, 0] = 1.0
    for s in range(n):
        for b in sizes:
            drug = int(round(b * share))
            for c in np.flatnonzero(state[s]):
                w = state[s, c] / len(sizes)
                if s + b <= n:
                    state[s + b, c + drug] += w
                else:  # the last block cut short: drug count among its first n - s slots
                    k = n - s
                    law[c : c + k + 1] += w * st.hypergeom.pmf(np.arange(k + 1), b, drug, k)
    return (law + state[n]) / (law + state[n]).sum()


@pytest.mark.parametrize(
    "n, n_a, sizes",
    [(7, 4, (4,)), (45, 22, (4, 6)), (30, 10, (3, 6)), (61, 31, (6, 8, 10)), (25, 19, (4,)), (13, 8, (5,))],
)
def test_block_law_equals_the_dense_recursion(n, n_a, sizes):
    law = samplers._arm_size_law(n, n_a, "permuted_blocks", sizes)
    np.testing.assert_allclose(law, _dense_block_law(n, n_a, sizes), rtol=1e-12, atol=1e-15)


def test_block_law_of_a_very_large_trial():
    # 300,001 men: a dense table of the recursion would need 720 GB.
    law = samplers._arm_size_law(300_001, 150_000, "permuted_blocks", (4, 6))
    assert law.shape == (300_002,)
    support = np.flatnonzero(law)
    assert 150_000 in support and support.min() >= 149_997 and support.max() <= 150_004
    assert abs(law.sum() - 1.0) < 1e-12
