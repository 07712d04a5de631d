"""Tests of vtrial.plots: every figure is written as PNG and SVG, reproducibly."""

from __future__ import annotations

import hashlib
import warnings

import numpy as np
import pandas as pd
import pytest
from matplotlib.text import Text

from vtrial import calibration, plots
from vtrial.config import load_config, scenario_id
from vtrial.streams import rng_for
from vtrial.trial import simulate_trial


@pytest.fixture(autouse=True)
def text_inside(monkeypatch):
    """Every figure, before it is written: each visible text lies inside the figure.

    A label cut by the figure's edge (a clipped axis label, a legend pushed
    off the canvas) is caught here rather than by eye.
    """
    original = plots.save
    seen = []

    def checked(fig, stem, *a, **kw):
        fig.canvas.draw()
        r = fig.canvas.get_renderer()
        boxes = [(f"{stem.name}: axis {axis.axis_name}", axis.get_tightbbox(r))  # drawn ticks and label
                 for ax in fig.axes if ax.get_visible() for axis in (ax.xaxis, ax.yaxis)]  # fmt: skip
        texts = [t for ax in fig.axes if ax.get_visible() for t in ax.get_children() if isinstance(t, Text)]
        texts += [t for leg in [*fig.legends, *(ax.get_legend() for ax in fig.axes)] if leg
                  for t in [*leg.get_texts(), leg.get_title()]]  # fmt: skip
        texts += fig.texts
        boxes += [(f"{stem.name}: {t.get_text()!r}", t.get_window_extent(r))
                  for t in texts if t.get_visible() and t.get_text().strip()]  # fmt: skip
        f = fig.bbox
        for what, e in boxes:
            if e is None or e.width == 0:
                continue
            assert f.x0 - 1 <= e.x0 and e.x1 <= f.x1 + 1 and f.y0 - 1 <= e.y0 and e.y1 <= f.y1 + 1, what
        seen.append(fig)
        return original(fig, stem, *a, **kw)

    monkeypatch.setattr(plots, "save", checked)
    return seen


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


def _legend_labels(fig):
    return [t.get_text() for leg in fig.legends for t in leg.get_texts()]


def test_power_curves_mark_planned_n_and_keep_methods_apart(tmp_path, text_inside):
    plots.plot_power_curves(_power_table(), tmp_path / "p", planned_n=44,
                            grid_keys=["effects.difference_pct"])  # fmt: skip
    fig = text_inside[-1]
    ax = fig.axes[0]
    planned = [ln for ln in ax.get_lines() if ln.get_label() == "planned n = 44"]
    assert len(planned) == 1 and list(planned[0].get_xdata()) == [44, 44]
    assert "planned n = 44" in _legend_labels(fig)
    curves = {ln.get_label(): ln for ln in ax.get_lines() if ln.get_label() in ("ancova", "welch_t")}
    a, w = curves["ancova"], curves["welch_t"]
    assert (a.get_marker(), a.get_linestyle()) != (w.get_marker(), w.get_linestyle())
    assert a.get_marker() != w.get_marker()


def test_power_curves_omit_analytic_entry_when_nothing_is_drawn(tmp_path, text_inside):
    t = _power_table().assign(analytic_power=np.nan)  # as under MNAR dropout
    plots.plot_power_curves(t, tmp_path / "p")
    assert "analytic" not in _legend_labels(text_inside[-1])
    plots.plot_power_curves(_power_table(), tmp_path / "q")
    assert "analytic" in _legend_labels(text_inside[-1])


def test_tornado_ranges_relative_to_base_and_warns_when_one_sided(tmp_path, text_inside):
    tor = pd.DataFrame({"key": ["base", "a", "a", "b", "b"], "side": ["base", "low", "high", "low", "high"],
                        "value": [None, 1, 2, 0.1, 0.4], "n_per_arm": [42, 30, 60, 45, 50]})  # fmt: skip
    r = plots.tornado_ranges(tor).set_index("key")
    assert r.loc["a", ["d_low", "d_high"]].tolist() == [-12.0, 18.0]
    assert r.loc["b", ["d_low", "d_high"]].tolist() == [3.0, 8.0]
    assert not r.loc["a", "one_sided"] and r.loc["b", "one_sided"]
    with pytest.warns(UserWarning, match="both ends of b"):
        plots.plot_tornado(tor, tmp_path / "t")
    ax = text_inside[-1].axes[0]
    bars = sorted((round(p.get_width(), 6) for p in ax.patches), key=float)
    assert bars == [-12.0, 3.0, 8.0, 18.0]  # widths are changes from the base case
    assert any("both ends on one side" in t.get_text() for t in ax.get_yticklabels())
    # The legend sits above the axes, clear of the bars and labels.
    leg = ax.get_legend().get_window_extent()
    assert leg.y0 >= ax.get_window_extent().y1 - 1
    bracketing = tor.assign(n_per_arm=[42, 30, 60, 40, 50])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plots.plot_tornado(bracketing, tmp_path / "u")


def test_published_values_come_from_the_reference_file():
    from vtrial.reference import published
    from vtrial.trial import ARMS

    ref = published()
    assert plots.PUBLISHED_P == ref["primary_trial"]["outcomes"]["pa_spine_bmd_g_cm2"]["p_between_groups"]
    assert plots.PUBLISHED_DIFFERENCE_PCT == ref["derived"]["mean_pct_change_12m"]["difference"]
    assert tuple(plots.ARM_COLORS) == ARMS


def test_png_and_svg_are_byte_identical_across_renders(tmp_path):
    paths = [plots.plot_power_curves(_power_table(), tmp_path / s, planned_n=44) for s in ("a", "b")]
    for x, y in zip(*paths, strict=True):
        assert x.read_bytes() == y.read_bytes(), x.suffix
    svg = paths[0][1].read_text()
    assert "<dc:date>" not in svg and "Matplotlib v" not in svg
    assert b"tIME" not in paths[0][0].read_bytes()


def test_calibration_figure_keeps_its_labels(tmp_path, text_inside):
    from vtrial.reference import published_figures

    table = pd.DataFrame(published_figures())
    table = table.assign(sim_median=table["published"], sim_p2_5=table["published"] - 1,
                         sim_p97_5=table["published"] + 1, inside=True)  # fmt: skip
    paths = calibration.plot_calibration(table, tmp_path / "calibration")
    assert [p.name for p in paths] == ["calibration.png", "calibration.svg"]
    assert text_inside, "the calibration figure goes through plots.save"
