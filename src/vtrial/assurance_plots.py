"""Figure of an assurance table: assurance and power at the prior's point by n per arm.

Written headless as PNG and SVG through :func:`vtrial.plots.save` (byte-identical
reruns, every label inside the figure).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from vtrial import plots
from vtrial.trial import ARMS

#: Assurance levels whose sample size is marked.
TARGETS = (0.8, 0.9)


def crossing_n(n, value, target: float) -> float:
    """n per arm where a curve first reaches ``target``, linear between grid points (NaN if never).

    Examples
    --------
    >>> crossing_n([20, 40, 60], [0.5, 0.75, 1.0], 0.875)
    50.0
    >>> crossing_n([20, 40], [0.5, 0.7], 0.8)
    nan
    """
    n = np.asarray(n, dtype=float)
    v = np.asarray(value, dtype=float)
    hit = np.flatnonzero(v >= target)
    if not len(hit):
        return float("nan")
    i = int(hit[0])
    if i == 0:
        return float(n[0])
    return float(n[i - 1] + (target - v[i - 1]) * (n[i] - n[i - 1]) / (v[i] - v[i - 1]))


def plot_assurance(table: pd.DataFrame, stem: str | Path, *, planned_n: int | None = None) -> list[Path]:
    """Assurance and power at the prior's point by n per arm, one panel per method.

    Parameters
    ----------
    table : DataFrame
        A :func:`vtrial.assurance.run_assurance` table over several
        ``n_per_arm`` (columns ``method, n_per_arm, reps, assurance,
        assurance_se, power, power_se, max_assurance``; ``prior_point``
        optional).
    stem : str or Path
        Output path without suffix (``stem.png`` and ``stem.svg``).
    planned_n : int, optional
        Planned men per arm, marked by a vertical line.

    Returns
    -------
    list of Path
        The PNG and SVG.

    Notes
    -----
    Bands are +-1.96 Monte Carlo SEs. The n at which the assurance reaches
    80% and 90% (:data:`TARGETS`, linear between the simulated sizes) is
    marked by vertical lines and given in the legend (rounded up); the dotted ceiling is
    the largest assurance any n reaches (the prior probability of the
    favoured sign).
    """
    import matplotlib.pyplot as plt

    plots._theme()
    methods = list(dict.fromkeys(table["method"]))
    ncol = min(3, len(methods))
    nrow = int(np.ceil(len(methods) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(max(7.0, 5.0 * ncol), 4.2 * nrow + 1.2), squeeze=False,
                             sharey=True)  # fmt: skip
    point = table["prior_point"].iloc[0] if "prior_point" in table else None
    power_label = "power at the prior's point" if point is None else f"power at {point:.3g} pp"
    colors = {"assurance": "#C44E52", "power": "#4C72B0"}
    target_styles = dict(zip(TARGETS, ((0, (4, 2)), (0, (1, 1.5))), strict=True))
    for ax, m in zip(axes.flat, methods, strict=False):
        d = table[table["method"] == m].sort_values("n_per_arm")
        n = d["n_per_arm"].to_numpy(float)
        for col, marker, label in (("power", "s", power_label), ("assurance", "o", "assurance")):
            v = d[col].to_numpy(float)
            se = d[f"{col}_se"].to_numpy(float)
            ax.fill_between(n, v - 1.96 * se, v + 1.96 * se, color=colors[col], alpha=0.2, lw=0)
            ax.plot(n, v, color=colors[col], marker=marker, ms=4.5, lw=1.5, label=label,
                    markerfacecolor="white", markeredgewidth=1.2)  # fmt: skip
        ax.axhline(float(d["max_assurance"].iloc[0]), color="0.4", ls=":", lw=1, label="assurance ceiling")
        for t in TARGETS:
            ax.axhline(t, color="0.75", ls="-", lw=0.8)
            x = crossing_n(n, d["assurance"], t)
            text = (
                f"assurance {t:.0%}: n ≈ {math.ceil(x - 1e-9)}"
                if np.isfinite(x)
                else f"assurance {t:.0%}: not reached"
            )
            ax.axvline(
                x if np.isfinite(x) else np.nan, color="#C44E52", ls=target_styles[t], lw=1.1, label=text
            )
        if planned_n is not None:
            ax.axvline(planned_n, color="black", lw=1.2, ls="-.", label=f"planned n = {planned_n}")
        ax.set_title(m, loc="left", fontsize=10)
        ax.set_xlabel(f"men per arm ({ARMS[0]})")
        ax.set_ylabel("probability")
        ax.set_ylim(0, 1.01)
        ax.legend(loc="lower right", fontsize=8, frameon=True)
    for ax in list(axes.flat)[len(methods) :]:
        ax.set_visible(False)
    reps = int(table["reps"].max())
    fig.suptitle(f"Assurance and power by n per arm ({reps:,} reps per point; band: 95% MC interval)",
                 x=0.01, ha="left", fontsize=11)  # fmt: skip
    fig.tight_layout()
    return plots.save(fig, stem)
