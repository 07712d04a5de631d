import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from vtrial.config import load_config, scenario_id, set_key
from vtrial.streams import rng_for
from vtrial.trial import (
    BLOCK_COLUMNS,
    COLUMNS,
    dropout_intercept,
    implied_effects,
    randomize,
    randomize_blocks,
    simulate_arrays,
    simulate_trial,
    to_long,
    write_trial_csv,
)

FIXTURES = Path(__file__).parent / "fixtures" / "trial"


def with_(cfg, **kv):
    for k, v in kv.items():
        cfg = set_key(cfg, k.replace("__", "."), v)
    return cfg


# ------------------------------------------------------------------ randomization


def running_imbalance(arm):
    return np.abs(np.cumsum(np.where(arm, 1, -1), axis=-1))


def test_fixed_blocks_of_four_are_balanced(cfg):
    arm = randomize(cfg["trial"], 2000, rng=1)
    blocks = arm.reshape(2000, -1, 4)
    assert (blocks.sum(axis=2) == 2).all()
    # every position of a block is equally likely to be anastrozole
    assert abs(blocks.mean(axis=(0, 1)) - 0.5).max() < 3 * np.sqrt(0.25 / (2000 * 22))


def test_random_block_sizes_bound_the_imbalance(cfg):
    trial = dict(cfg["trial"], block_sizes=[2, 4, 6])
    arm = randomize(trial, 500, rng=2)
    assert running_imbalance(arm).max() <= 3
    assert running_imbalance(arm).max() == 3  # size-6 blocks do reach it
    assert not (running_imbalance(arm)[:, 1::2] == 0).all()  # not all blocks of 2


def test_allocation_ratio_two_in_blocks_of_three(cfg):
    trial = dict(cfg["trial"], allocation_ratio=2.0, block_sizes=[3], n_per_arm=20)
    arm = randomize(trial, 200, rng=3)
    assert arm.shape == (200, 60)
    assert (arm.reshape(200, 20, 3).sum(axis=2) == 2).all()


def test_simple_randomization_is_a_coin_flip(cfg):
    trial = dict(cfg["trial"], randomization="simple")
    arm = randomize(trial, 2000, rng=4)
    share = arm.mean()
    assert abs(share - 0.5) < 3 * np.sqrt(0.25 / arm.size)
    counts = arm.sum(axis=1)
    assert counts.std() == pytest.approx(np.sqrt(88 * 0.25), rel=0.1)


def test_stratified_blocks_balance_each_stratum(cfg):
    trial = dict(cfg["trial"], randomization="stratified_blocks", strata_cutoffs=[1.0, 1.2])
    rng = np.random.default_rng(5)
    values = rng.normal(1.15, 0.14, size=(300, 88))
    arm = randomize(trial, 300, values, rng=6)
    strata = np.searchsorted([1.0, 1.2], values, side="right")
    for s in range(3):
        for r in range(300):
            a = arm[r][strata[r] == s]
            assert running_imbalance(a).max(initial=0) <= 2
    # without stratification some strata are far less balanced
    plain = randomize(dict(trial, randomization="permuted_blocks"), 300, rng=6)
    worst = max(
        abs(2 * plain[r][strata[r] == s].sum() - (strata[r] == s).sum()) for r in range(300) for s in range(3)
    )
    assert worst > 2


def test_stratified_on_bmd_in_full_simulation(cfg):
    c = with_(cfg, trial__randomization="stratified_blocks", trial__strata_cutoffs=[1.15])
    t = simulate_arrays(c, 200, rng=9)
    high = t.bmd_g_cm2[..., 0] >= 1.15
    for r in range(200):
        for s in (True, False):
            a = t.anastrozole[r][high[r] == s]
            assert abs(2 * a.sum() - a.size) <= 2


# ------------------------------------------------------------------ BMD model

N_REPS = 4000


@pytest.fixture(scope="module")
def sims():
    from vtrial.config import load_config

    cfg = load_config()
    return cfg, simulate_arrays(cfg, N_REPS, rng=10, covariates=False)


def test_observed_change_has_configured_mean_and_sd(sims):
    cfg, t = sims
    y = t.pct_change[..., 1]
    sd = cfg["effects"]["sd_pct_change"]
    for arm, mean in ((False, 0.76), (True, 0.76 - 2.46)):
        v = y[t.anastrozole == arm]
        assert abs(v.mean() - mean) < 3 * sd / np.sqrt(v.size)
        assert abs(v.std() - sd) < 3 * sd / np.sqrt(2 * v.size)


def test_dxa_error_and_baseline_correlation(sims):
    cfg, t = sims
    cv = cfg["measurement"]["bmd_cv_pct"]
    err = (t.pct_change[..., 1] - t.true_pct_change).ravel()
    assert err.std() == pytest.approx(np.sqrt(2) * cv, rel=0.01)
    # corr(true baseline, true change) is baseline_corr; true baseline = measured - error
    y0 = t.bmd_g_cm2[..., 0].ravel()
    resid = t.true_pct_change - np.where(t.anastrozole, -1.70, 0.76)
    r = np.corrcoef(y0, resid.ravel())[0, 1]
    expected = cfg["effects"]["baseline_corr"] * 0.14 / np.sqrt(0.14**2 + (1.15 * cv / 100) ** 2)
    assert abs(r - expected) < 3 / np.sqrt(y0.size)


def test_measured_bmd_reproduces_observed_change(sims):
    _, t = sims
    ok = t.completed
    pct = 100 * (t.bmd_g_cm2[..., 2] - t.bmd_g_cm2[..., 0]) / t.bmd_g_cm2[..., 0]
    assert np.allclose(pct[ok], t.pct_change[..., 1][ok], atol=1e-10)
    assert np.isnan(t.bmd_g_cm2[..., 2][~ok]).all()


def test_month6_carries_half_the_change(sims):
    cfg, t = sims
    a = t.anastrozole
    assert t.pct_change[..., 0][a].mean() == pytest.approx(0.5 * (0.76 - 2.46), abs=0.03)


# ------------------------------------------------------------------ dropout


@pytest.mark.parametrize("mechanism", ["MCAR", "MAR", "MNAR"])
def test_dropout_rates_match_config(cfg, mechanism):
    c = with_(cfg, dropout__mechanism=mechanism, dropout__strength=1.5)
    t = simulate_arrays(c, N_REPS, rng=11, covariates=False)
    for arm, p in ((True, 0.25), (False, 0.18)):
        drop = ~t.completed[t.anastrozole == arm]
        assert abs(drop.mean() - p) < 3 * np.sqrt(p * (1 - p) / drop.size)


@pytest.mark.parametrize("mechanism, shifted", [("MCAR", False), ("MAR", True), ("MNAR", True)])
def test_completers_change_shifts_upwards_when_dropout_tracks_bone_loss(cfg, mechanism, shifted):
    c = with_(cfg, dropout__mechanism=mechanism, dropout__strength=1.0)
    t = simulate_arrays(c, N_REPS, rng=12, covariates=False)
    y = t.pct_change[..., 1]
    a = t.anastrozole
    shift = y[a & t.completed].mean() - y[a].mean()
    se = 3.0 * np.sqrt(1 / (a & t.completed).sum())
    if shifted:
        assert shift > 5 * se
    else:
        assert abs(shift) < 3 * se


def test_mar_depends_on_month6_only_mnar_on_month12(cfg):
    # Logistic regression of dropout on both changes: the driver has a clearly
    # negative slope (loss raises dropout), the other change none.
    fits = {}
    for mech in ("MAR", "MNAR"):
        c = with_(cfg, dropout__mechanism=mech, dropout__strength=1.0)
        t = simulate_arrays(c, 1500, rng=13, covariates=False)
        a = t.anastrozole.ravel()
        X = np.column_stack([a, t.pct_change[..., 0].ravel(), t.pct_change[..., 1].ravel()])
        fit = sm.Logit((~t.completed).ravel().astype(float), sm.add_constant(X)).fit(disp=0)
        fits[mech] = (fit.params[2:], fit.bse[2:])
    (b6, b12), (se6, se12) = fits["MAR"]
    assert b6 < -10 * se6 and abs(b12) < 3 * se12
    (b6, b12), (se6, se12) = fits["MNAR"]
    assert b12 < -10 * se12 and abs(b6) < 3 * se6


def test_mar_dropout_happens_after_month6(cfg):
    c = with_(cfg, dropout__mechanism="MAR")
    t = simulate_arrays(c, 200, rng=14, covariates=False)
    assert set(np.unique(t.last_visit)) == {6, 12}


def test_dropout_intercept_solves_marginal_rate():
    from scipy import special, stats

    a = dropout_intercept(0.25, 1.3)
    z = stats.norm.ppf((np.arange(200_000) + 0.5) / 200_000)
    assert special.expit(a + 1.3 * z).mean() == pytest.approx(0.25, abs=1e-6)


# ------------------------------------------------------------------ hormones and mediation


def test_hormone_trajectories(cfg):
    t = simulate_arrays(cfg, 400, rng=15)
    a = t.anastrozole
    testo = np.nanmean(t.testosterone_ng_dl[a], axis=0)
    assert testo[1] / testo[0] == pytest.approx(1.64, rel=0.02)
    assert testo[3] / testo[0] == pytest.approx(1.49, rel=0.02)
    e2 = np.nanmean(t.estradiol_pg_ml[a], axis=0)
    assert e2[1] / e2[0] == pytest.approx(0.80, rel=0.02)
    placebo = np.nanmean(t.testosterone_ng_dl[~a], axis=0)
    assert placebo[3] / placebo[0] == pytest.approx(1.0, abs=0.02)
    ok = t.completed & ~a
    r = np.corrcoef(np.log(t.testosterone_ng_dl[ok][:, 0]), np.log(t.testosterone_ng_dl[ok][:, 3]))[0, 1]
    assert r > 0.5  # the same man's level persists across visits


def test_estradiol_mediated_mode_implies_documented_difference(cfg):
    c = with_(cfg, effects__mode="estradiol_mediated", effects__direct_pct=-0.5)
    eff = implied_effects(c)
    t = simulate_arrays(c, 3000, rng=16)
    a = t.anastrozole
    # independent estimate of E[dE2]: the month-0 estradiol mean corrected for
    # the visit-to-visit factor exp(s^2 / 2), times the month-12 ratio minus 1
    s = c["cohort"]["estradiol_visit_log_sd"]
    e2_usual = np.nanmean(t.estradiol_pg_ml[..., 0]) / np.exp(s * s / 2)
    expected = 0.8 * e2_usual * (0.80 - 1) - 0.5
    assert eff.difference_pct == pytest.approx(expected, abs=0.02)
    y = t.pct_change[..., 1]
    diff = y[a].mean() - y[~a].mean()
    assert abs(diff - eff.difference_pct) < 3 * 3.0 * np.sqrt(2 / a.sum())
    for arm in (True, False):
        v = y[a == arm]
        assert abs(v.std() - 3.0) < 3 * 3.0 / np.sqrt(2 * v.size)


# ------------------------------------------------------------------ long format


def test_long_format_contract(cfg):
    df = simulate_trial(cfg, rng=17)
    assert list(df.columns) == COLUMNS
    assert len(df) == 88 * 4
    assert set(df["arm"]) == {"anastrozole", "placebo"}
    assert df.loc[df.visit_month == 3, "bmd_g_cm2"].isna().all()
    assert df.loc[df.visit_month == 0, "bmd_g_cm2"].notna().all()
    wide = df.pivot(index="subject_id", columns="visit_month", values="testosterone_ng_dl")
    gone = wide[12].isna()
    assert gone.sum() > 0
    b = df.pivot(index="subject_id", columns="visit_month", values="bmd_g_cm2")
    assert (b[12].isna() == gone).all()


def test_same_seed_same_trial(cfg):
    pd.testing.assert_frame_equal(simulate_trial(cfg, rng=18), simulate_trial(cfg, rng=18))
    assert not simulate_trial(cfg, rng=18).equals(simulate_trial(cfg, rng=19))


# ------------------------------------------------------------------ randomization list


def _blocks_of(arm, block, order, keep):
    """Per (block number) among the men in ``keep`` (enrolment order): places and anastrozole count."""
    out = {}
    for b in np.unique(block[keep]):
        sel = keep & (block == b)
        out[int(b)] = (order[sel].astype(int).tolist(), int(arm[sel].sum()))
    return out


@pytest.mark.parametrize("sizes", [[4], [2, 4, 6], [6]])
def test_block_list_respects_block_sizes_and_balances_complete_blocks(cfg, sizes):
    trial = dict(cfg["trial"], block_sizes=sizes, n_per_arm=45)
    arm, block, order = randomize_blocks(trial, 300, rng=21)
    assert (arm == randomize(trial, 300, rng=21)).all()  # the same draws: the same trial
    seen = set()
    for r in range(300):
        blocks = _blocks_of(arm[r], block[r], order[r], np.ones(90, bool))
        numbers = sorted(blocks)
        assert numbers == list(range(1, len(numbers) + 1))  # 1-based, consecutive, in enrolment order
        assert np.all(np.diff(block[r]) >= 0)
        for b, (places, drug) in blocks.items():
            assert places == list(range(1, len(places) + 1))  # allocation order 1..k as men enrol
            if b < numbers[-1]:  # every block but the last is complete: a configured size, balanced
                assert len(places) in sizes and drug == len(places) // 2
                seen.add(len(places))
            else:
                assert len(places) <= max(sizes)
    assert seen == set(sizes)


def test_block_list_is_per_stratum(cfg):
    trial = dict(
        cfg["trial"], randomization="stratified_blocks", strata_cutoffs=[1.0, 1.2], block_sizes=[2, 4]
    )
    values = np.random.default_rng(5).normal(1.15, 0.14, size=(200, 88))
    arm, block, order = randomize_blocks(trial, 200, values, rng=6)
    assert (arm == randomize(trial, 200, values, rng=6)).all()
    strata = np.searchsorted([1.0, 1.2], values, side="right")
    for r in range(200):
        for s in range(3):
            keep = strata[r] == s
            if not keep.any():
                continue
            blocks = _blocks_of(arm[r], block[r], order[r], keep)
            assert sorted(blocks) == list(range(1, len(blocks) + 1))  # numbered within the stratum
            for b, (places, drug) in blocks.items():
                assert places == list(range(1, len(places) + 1))
                if b < len(blocks):
                    assert len(places) in (2, 4) and drug == len(places) // 2


def test_simple_randomization_has_no_block_list(cfg):
    _, block, order = randomize_blocks(dict(cfg["trial"], randomization="simple"), 5, rng=1)
    assert np.isnan(block).all() and np.isnan(order).all()
    df = simulate_trial(with_(cfg, trial__randomization="simple"), rng=2)
    assert df[BLOCK_COLUMNS].isna().all().all()


def test_trial_csv_gains_the_block_list_after_the_existing_columns(cfg):
    df = simulate_trial(with_(cfg, trial__block_sizes=[2, 4, 6]), rng=23)
    assert list(df.columns) == COLUMNS and COLUMNS[-2:] == BLOCK_COLUMNS == [
        "randomization_block",
        "allocation_order",
    ]
    assert str(df["randomization_block"].dtype) == "Int64" and df[BLOCK_COLUMNS].notna().all().all()
    per_man = df.groupby("subject_id")[BLOCK_COLUMNS].nunique()
    assert (per_man == 1).all().all()  # one block and place per man, on each of his rows
    # The engine's arrays (no block list asked for) are the same trial, in the old eight columns.
    plain = to_long(simulate_arrays(with_(cfg, trial__block_sizes=[2, 4, 6]), 1, rng=23), 0)
    assert list(plain.columns) == COLUMNS[:8]
    pd.testing.assert_frame_equal(df[COLUMNS[:8]], plain)


def test_existing_trial_columns_are_byte_identical_to_before():
    cfg = load_config(overrides=["trial.n_per_arm=12", "trial.block_sizes=[2,4,6]",
                                 "trial.randomization=stratified_blocks"], seed=5)  # fmt: skip
    buf = io.StringIO()
    write_trial_csv(simulate_trial(cfg, rng=rng_for(5, scenario_id(cfg), 0)), buf)
    lines = buf.getvalue().splitlines()
    before = (FIXTURES / "before_block_columns.csv").read_text().splitlines()
    assert [",".join(line.split(",")[:8]) for line in lines] == before
    assert lines[0].endswith(",randomization_block,allocation_order")
