"""Tests of vtrial.plots: every figure is written as PNG and SVG, reproducibly."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from vtrial import plots
from vtrial.config import load_config, scenario_id
from vtrial.streams import rng_for
from vtrial.trial import simulate_trial


@pytest.fixture(scope="module")
def trial():
    cfg = load_config(overrides=["trial.n_per_arm=12"])
    return simulate_trial(cfg, rng=rng_for(cfg["seed"], scenario_id(cfg), 0))


def _check(paths):
    assert [p.suffix for p in paths] == [".png", ".svg"]
    png, svg = paths
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    assert b"<svg" in svg.read_bytes()[:1000]


def _power_table():
    rows = []
    for method, shift in (("ancova", 0.0), ("welch_t", -0.02)):
        for d in (-2.46, -1.0):
            for n in (10, 20, 40):
                p = min(0.99, 0.3 + n / 60 * abs(d) / 2.46) + shift
                rows.append({"scenario_id": f"{n}{d}", "method": method, "n_per_arm": n, "reps": 1000,
                             "power": p, "power_ci_low": p - 0.03, "power_ci_high": p + 0.03,
                             "analytic_power": p + 0.005 if method == "ancova" else np.nan,
                             "trial.n_per_arm": n, "effects.difference_pct": d})  # fmt: skip
    return pd.DataFrame(rows)


def test_example_trial_figures(tmp_path, trial):
    _check(plots.plot_bmd_trajectories(trial, tmp_path / "bmd"))
    _check(plots.plot_hormones(trial, tmp_path / "hormones"))
    res = pd.DataFrame({"method": ["ancova", "welch_t"], "missing": ["complete_case"] * 2,
                        "estimate": [-2.0, -2.2], "ci_low": [-3.5, -3.9], "ci_high": [-0.5, -0.5],
                        "p_value": [0.01, 0.02]})  # fmt: skip
    _check(plots.plot_analysis(res, tmp_path / "analysis"))


def test_power_and_sample_size_figures(tmp_path):
    _check(plots.plot_power_curves(_power_table(), tmp_path / "power",
                                   grid_keys=["trial.n_per_arm", "effects.difference_pct"]))  # fmt: skip
    ss = pd.DataFrame({"method": ["ancova", "welch_t"] * 2, "target_power": [0.8, 0.8, 0.9, 0.9],
                       "n_per_arm": [32, 33, 42, np.nan]})  # fmt: skip
    _check(plots.plot_sample_size(ss, tmp_path / "ss"))


def test_sensitivity_figures(tmp_path):
    heat = pd.DataFrame([(d, s, 0.5) for d in (-2, -1) for s in (2, 3)], columns=["d", "s", "power"])
    _check(plots.plot_heatmap(heat, tmp_path / "heat", x="s", y="d"))
    tor = pd.DataFrame({"key": ["base", "a", "a", "b", "b"], "side": ["base", "low", "high", "low", "high"],
                        "value": [None, 1, 2, 0.1, 0.4], "n_per_arm": [42, 30, 60, 43, 42]})  # fmt: skip
    _check(plots.plot_tornado(tor, tmp_path / "tornado"))
    tip = pd.DataFrame([(a, p, 0.01 * (1 + a - p), a - p < 2) for a in (-2, 0, 2) for p in (-2, 0, 2)],
                       columns=["delta_anastrozole", "delta_placebo", "p_value", "holds"])  # fmt: skip
    _check(plots.plot_tipping(tip, tmp_path / "tip", value="p_value", holds="holds", title="t"))


def test_replication_figure(tmp_path):
    rng = np.random.default_rng(0)
    reps = pd.DataFrame({"p_value": rng.uniform(0, 0.1, 300), "estimate": rng.normal(-2.4, 0.7, 300)})
    _check(plots.plot_replication(reps, tmp_path / "rep", published_estimate=-2.46))


def test_svg_is_reproducible(tmp_path, trial):
    a = plots.plot_hormones(trial, tmp_path / "a")[1].read_bytes()
    b = plots.plot_hormones(trial, tmp_path / "b")[1].read_bytes()
    assert hashlib.sha256(a).digest() == hashlib.sha256(b).digest()
