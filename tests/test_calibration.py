import numpy as np
import pytest

from vtrial.calibration import calibrate, simulated_statistics
from vtrial.config import set_key
from vtrial.reference import published_figures


def test_every_published_figure_lies_inside_its_simulated_range(cfg):
    table = calibrate(cfg, reps=2000)
    assert len(table) == len(published_figures()) == 25
    outside = table.loc[~table["inside"], ["figure", "arm", "month", "statistic", "published"]]
    assert outside.empty, outside.to_string()


def test_calibration_detects_a_wrong_effect(cfg):
    # A null effect should not reproduce the published bone loss on anastrozole.
    table = calibrate(set_key(cfg, "effects.difference_pct", 0.0), reps=2000)
    row = table[(table.figure == "bmd_pct_change") & (table.arm == "anastrozole")].iloc[0]
    assert not row["inside"]


def test_pooled_t_p_value_matches_scipy(cfg):
    from scipy import stats

    from vtrial.trial import simulate_arrays

    rng = np.random.default_rng(5)
    sims = simulated_statistics(cfg, 3, rng=rng)
    t = simulate_arrays(cfg, 3, rng=np.random.default_rng(5))
    for r in range(3):
        ch = t.bmd_g_cm2[r, :, 2] - t.bmd_g_cm2[r, :, 0]
        ok = t.completed[r]
        p = stats.ttest_ind(ch[ok & t.anastrozole[r]], ch[ok & ~t.anastrozole[r]]).pvalue
        assert sims["bmd_change_g_cm2|difference|12|p_value"][r] == pytest.approx(p, rel=1e-10)
