"""Tests of vtrial.assurance_plots: the figure keeps every label inside and marks the targets."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from tests.test_plots import _check, text_inside  # noqa: F401  (the fixture checks every label)
from vtrial import assurance_plots


def _table():
    rows = []
    for method, shift in (("ancova", 0.0), ("mmrm", 0.01)):
        for n in (20, 30, 40, 50, 60, 80):
            a = min(0.97, 0.35 + n / 100) + shift  # crosses 0.8 between 40 and 50
            p = min(0.995, a + 0.08)
            rows.append({"scenario_id": f"{n}", "method": method, "n_per_arm": n, "reps": 10000,
                         "assurance": a, "assurance_se": 0.004, "power": p, "power_se": 0.003,
                         "max_assurance": 0.99957, "prior_point": -2.46})  # fmt: skip
    return pd.DataFrame(rows)


def test_assurance_figure_marks_the_target_sizes(tmp_path, text_inside):  # noqa: F811
    paths = assurance_plots.plot_assurance(_table(), tmp_path / "a", planned_n=44)
    _check(paths)
    fig = text_inside[-1]
    ax = fig.axes[0]
    labels = [ln.get_label() for ln in ax.get_lines()]
    assert "assurance 80%: n ≈ 45" in labels  # 40 + (0.8 - 0.75) * 10 / 0.1
    assert "assurance 90%: n ≈ 55" in labels
    assert "planned n = 44" in labels
    assert "power at -2.46 pp" in labels
    mark = [ln for ln in ax.get_lines() if ln.get_label() == "assurance 80%: n ≈ 45"][0]
    assert list(mark.get_xdata()) == pytest.approx([45.0, 45.0])


def test_unreached_target_is_said_and_not_drawn(tmp_path, text_inside):  # noqa: F811
    t = _table()
    t = t[t["n_per_arm"] <= 50]
    assurance_plots.plot_assurance(t, tmp_path / "b")
    labels = [ln.get_label() for ln in text_inside[-1].axes[0].get_lines()]
    assert "assurance 90%: not reached" in labels


def test_crossing_n_interpolates():
    assert assurance_plots.crossing_n([10, 20], [0.7, 0.9], 0.8) == pytest.approx(15.0)
    assert assurance_plots.crossing_n([10, 20], [0.85, 0.9], 0.8) == 10.0
    assert math.isnan(assurance_plots.crossing_n([10, 20], [0.1, 0.2], 0.8))


def test_figure_is_byte_identical_across_renders(tmp_path):
    a = assurance_plots.plot_assurance(_table(), tmp_path / "a")
    b = assurance_plots.plot_assurance(_table(), tmp_path / "b")
    assert [p.read_bytes() for p in a] == [p.read_bytes() for p in b]
