"""Vectorised Student, Welch and ANCOVA (t_methods) against the reference analyses.

* Per-replicate statistics equal :mod:`vtrial.analysis` on the same simulated
  trials (converted to the long format) to 1e-10.
* On per-arm sums of raw data they equal statsmodels' OLS and t-tests to 1e-12.
"""

from __future__ import annotations

import numpy as np
import pytest
from engine_helpers import CONFIGS, compare

from vtrial import engine, samplers
from vtrial.analysis.ttests import t_methods
from vtrial.config import load_config


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_t_methods_equal_reference(name):
    cfg = load_config(overrides=CONFIGS[name])
    block = samplers.per_man_block(cfg, 25, np.random.SeedSequence([7, len(name)]), need_y6=True)
    worst = compare(block, cfg, ["student_t", "welch_t", "ancova"], 25)
    assert max(worst.values()) < 1e-10, worst


def test_full_engine_stratified_equals_reference():
    cfg = load_config(overrides=["trial.randomization=stratified_blocks", "dropout.mechanism=MNAR"])
    assert engine.method_engine(cfg, "ancova") == "full"
    block = samplers.full_block(cfg, 15, np.random.SeedSequence(3), covariates=False)
    worst = compare(block, cfg, ["student_t", "welch_t", "ancova"], 15)
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
    st = samplers.ArmStats(**fields, size=fields["n"].copy())
    x = np.column_stack([np.ones(n0 + n1), np.r_[np.zeros(n0), np.ones(n1)], np.r_[b[0], b[1]] + 1.15])
    fit = sm.OLS(np.r_[y[0], y[1]], x).fit()
    anc = t_methods(st, "ancova", 0.05)
    assert anc.estimate[0] == pytest.approx(fit.params[1], abs=1e-12)
    assert anc.se[0] == pytest.approx(fit.bse[1], abs=1e-12)
    assert anc.p_value[0] == pytest.approx(fit.pvalues[1], abs=1e-12)
    assert anc.ci_low[0] == pytest.approx(fit.conf_int()[1, 0], abs=1e-12)
    for method, usevar in (("student_t", "pooled"), ("welch_t", "unequal")):
        t, p, df = ttest_ind(y[1], y[0], usevar=usevar)
        rep = t_methods(st, method, 0.05)
        assert rep.estimate[0] / rep.se[0] == pytest.approx(t, abs=1e-12)
        assert rep.p_value[0] == pytest.approx(p, abs=1e-12)
        assert rep.df[0] == pytest.approx(df, abs=1e-10)
