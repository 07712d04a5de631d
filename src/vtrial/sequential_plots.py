"""Figures of the group-sequential design: boundaries with simulated z paths, stopping probabilities."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from vtrial.plots import _theme, save  # noqa: E402


def plot_boundaries(bounds: pd.DataFrame, paths: dict, stem: str | Path) -> list[Path]:
    """Efficacy (and futility) bounds on the z scale by information fraction, with simulated z paths.

    Parameters
    ----------
    bounds : DataFrame
        :func:`vtrial.boundaries.boundaries_table` (``information_fraction``,
        ``z_efficacy``, optional ``z_futility``).
    paths : dict
        From :func:`vtrial.sequential_sim.simulate_decisions` for a few
        replicates: ``z`` and ``information`` ``(K, n)``, ``look``, ``reject``.
        Each path is drawn up to its stopping look, at its observed
        information fractions.
    stem : str or Path
        Output path without extension (``.png`` and ``.svg`` are written).
    """
    _theme()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    t = bounds["information_fraction"].to_numpy()
    ax.plot(t, bounds["z_efficacy"], "o-", color="#b2182b", lw=2, label="efficacy bound", zorder=3)
    if "z_futility" in bounds:
        ax.plot(t, bounds["z_futility"], "s-", color="#2166ac", lw=2, label="futility bound", zorder=3)
    frac = paths["information"] / paths["information"][-1]
    for i in range(paths["z"].shape[1]):
        stop = int(paths["look"][i])
        colour = "#b2182b" if paths["reject"][i] else "#555555"
        ax.plot(frac[: stop + 1, i], paths["z"][: stop + 1, i], "-", color=colour, lw=0.8, alpha=0.55)
        ax.plot(frac[stop, i], paths["z"][stop, i], "o", color=colour, ms=3, alpha=0.8)
    ax.axhline(0, color="black", lw=0.6)
    ax.set_xlim(0, 1.05)
    ax.set_xlabel("information fraction")
    ax.set_ylabel("z statistic (positive: the planned direction)")
    ax.set_title(
        "Group-sequential bounds and 12 simulated trials (configured difference)", loc="left", fontsize=10
    )
    ax.legend(loc="upper left", frameon=False, fontsize=8)
    return save(fig, stem)


def plot_stopping(oc: pd.DataFrame, stem: str | Path) -> list[Path]:
    """Probability of stopping at each look for efficacy and for futility, by scenario and method.

    Parameters
    ----------
    oc : DataFrame
        :func:`vtrial.sequential_sim.operating_characteristics`.
    stem : str or Path
    """
    _theme()
    rows = oc[oc["look"].astype(str) != "overall"].copy()
    long = pd.concat(
        [
            rows.assign(decision="efficacy", probability=rows["prob_efficacy"]),
            rows.assign(decision="futility", probability=rows["prob_futility"].fillna(0.0)),
        ]
    )
    long["scenario"] = long["scenario"].map({"h1": "configured difference", "h0": "no difference"})
    long["panel"] = long["scenario"] + " / " + long["method"]
    panels = list(dict.fromkeys(long["panel"]))
    fig, axes = plt.subplots(
        1, len(panels), figsize=(3.0 * len(panels) + 0.6, 3.4), sharey=True, squeeze=False
    )
    for ax, panel in zip(axes[0], panels, strict=True):
        sns.barplot(
            data=long[long["panel"] == panel], x="look", y="probability", hue="decision",
            palette={"efficacy": "#b2182b", "futility": "#2166ac"}, ax=ax,
        )  # fmt: skip
        ax.set_title(panel, fontsize=9)
        if ax.get_legend() is not None:
            ax.legend(fontsize=8, frameon=False, loc="upper left")
        ax.set_xlabel("look")
        if ax is not axes[0][0] and ax.get_legend() is not None:
            ax.get_legend().remove()
    axes[0][0].set_ylabel("probability of stopping")
    ymax = float(np.nanmax(long["probability"])) if len(long) else 1.0
    axes[0][0].set_ylim(0, min(1.0, ymax * 1.15 + 0.02))
    fig.suptitle("Where the trial stops (simulated)", x=0.01, ha="left")
    return save(fig, stem)
