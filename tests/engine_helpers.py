"""Shared helpers of the power-engine tests: vectorised results against the reference.

Not a test module: imported by test_engine.py, test_samplers.py and the
tests of the vectorised statistics (test_analysis_*).
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from vtrial import engine, samplers, trial
from vtrial.analysis import METHODS
from vtrial.analysis.nonparametric import mann_whitney_vec
from vtrial.analysis.ttests import t_methods
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


def compare(block, cfg, methods, reps):
    """Largest absolute difference between engine and reference over fields and replicates."""
    opt = engine.analysis_options(cfg)
    ta = samplers.block_to_arrays(block)
    worst = {}
    for m in methods:
        if m in engine.EXACT_METHODS:
            rep = t_methods(samplers.arm_stats(block, opt["missing"], opt["scale"]), m, opt["alpha"])
        else:
            rep = mann_whitney_vec(block, opt["missing"], opt["scale"], opt["alpha"])
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


def t_values(blocks, method, cfg):
    opt = engine.analysis_options(cfg)
    out = []
    for b in blocks:
        rep = t_methods(samplers.arm_stats(b, opt["missing"], opt["scale"]), method, opt["alpha"])
        out.append(rep.estimate / rep.se)
    return np.concatenate(out)


def replicates(stats_list, method):
    reps = [t_methods(s, method, 0.05) for s in stats_list]
    return {f: np.concatenate([getattr(r, f) for r in reps]) for f in ("estimate", "se", "p_value")}


def agree(a, b, label):
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
