import numpy as np
import pytest

from vtrial.cohort import correlation_matrix, draw_cohort, eligible, hormone_visit_draw
from vtrial.errors import InputError


def test_eligibility_windows(cfg):
    c = dict(cfg["cohort"], testosterone_visit_log_sd=0.0)  # screening value = usual level
    t = np.array([140.0, 151.0, 299.0, 320.0, 349.0, 351.0, 250.0])
    age = np.array([65, 65, 65, 65, 65, 65, 59.9])
    x = np.zeros((len(t), 5))
    x[:, 0] = age
    x[:, 2] = np.log(t)
    ok = eligible(c, x, np.random.default_rng(0))
    assert ok.tolist() == [False, True, True, True, True, False, False]


def test_second_measure_needed_in_upper_window(cfg):
    # With day-to-day variation, men whose first value falls in 300-350 need a
    # second one there too: fewer of them pass than with a single value.
    c = cfg["cohort"]
    n = 200_000
    x = np.zeros((n, 5))
    x[:, 0] = 70
    x[:, 2] = np.log(325.0)
    ok = eligible(c, x, np.random.default_rng(1))
    s = c["testosterone_visit_log_sd"]
    from scipy import stats

    def window(lo, hi):
        return stats.norm.cdf((np.log(hi) - np.log(325)) / s) - stats.norm.cdf((np.log(lo) - np.log(325)) / s)

    p_expected = window(150, 300) + window(300, 350) * window(300, 350)
    se = np.sqrt(p_expected * (1 - p_expected) / n)
    assert abs(ok.mean() - p_expected) < 3 * se


def test_enrolled_men_reproduce_published_baseline(cfg):
    c = cfg["cohort"]
    men = draw_cohort(c, 1, 100_000, rng=7)
    rng = np.random.default_rng(8)
    t0 = hormone_visit_draw(men.log_testosterone, c["testosterone_visit_log_sd"], rng)
    e0 = hormone_visit_draw(men.log_estradiol, c["estradiol_visit_log_sd"], rng)
    assert (men.age_years >= 60).all()
    # published 319 +/- 93 ng/dL and 15 +/- 4 pg/mL (fitted to within 1%)
    assert t0.mean() == pytest.approx(319, rel=0.01)
    assert t0.std() == pytest.approx(93, rel=0.02)
    assert e0.mean() == pytest.approx(15, rel=0.01)
    assert e0.std() == pytest.approx(4, rel=0.02)


def test_bmd_is_untouched_by_eligibility(cfg):
    c = cfg["cohort"]
    n = 100_000
    bmd = draw_cohort(c, 1, n, rng=3).bmd_g_cm2.ravel()
    assert abs(bmd.mean() - c["bmd_mean_g_cm2"]) < 3 * c["bmd_sd_g_cm2"] / np.sqrt(n)
    assert abs(bmd.std() - c["bmd_sd_g_cm2"]) < 3 * c["bmd_sd_g_cm2"] / np.sqrt(2 * n)


def test_invalid_correlations_are_rejected(cfg):
    c = dict(cfg["cohort"], corr_bmi_log_testosterone=0.95, corr_bmi_log_estradiol=-0.95)
    with pytest.raises(InputError, match="corr"):
        correlation_matrix(c)


def test_same_seed_same_cohort(cfg):
    a = draw_cohort(cfg["cohort"], 2, 50, rng=11)
    b = draw_cohort(cfg["cohort"], 2, 50, rng=11)
    assert np.array_equal(a.log_testosterone, b.log_testosterone)
