"""Figures drawn only by the teaching app (the others come from :mod:`vtrial.plots`)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from vtrial.plots import ARM_COLORS, MARKERS


def block_figure(blocks: pd.DataFrame):
    """The randomization list as a grid: one row per block, one cell per place, coloured by arm."""
    nb = int(blocks["block"].max())
    size = int(blocks["order"].max())
    fig, ax = plt.subplots(figsize=(3.4 + 0.75 * size, 1.2 + 0.22 * nb))
    for r in blocks.itertuples():
        ax.add_patch(plt.Rectangle((r.order - 1, r.block - 1), 0.94, 0.9, color=ARM_COLORS[r.arm]))
        ax.text(r.order - 0.53, r.block - 0.55, str(r.subject_id), ha="center", va="center",
                color="white", fontsize=7)  # fmt: skip
    ax.set_xlim(0, size)
    ax.set_ylim(nb, 0)
    ax.set_xticks(np.arange(size) + 0.47, [str(i + 1) for i in range(size)])
    step = max(1, int(np.ceil(nb / 12)))
    ax.set_yticks(np.arange(0, nb, step) + 0.45, [str(i + 1) for i in range(0, nb, step)])
    ax.set_xlabel("order of allocation within the block")
    ax.set_ylabel("block")
    ax.grid(False)
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in ARM_COLORS.values()]
    ax.legend(handles, list(ARM_COLORS), loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False,
              fontsize=8)  # fmt: skip
    ax.set_title("Permuted blocks (number: man's enrolment order)", loc="left", fontsize=10)
    fig.tight_layout()
    return fig


def dropout_figure(table: pd.DataFrame):
    """Bias and coverage of each missing-data strategy (rows) under each mechanism (markers)."""
    strategies = list(dict.fromkeys(table["strategy"]))
    mechs = list(dict.fromkeys(table["mechanism"]))
    fig, axes = plt.subplots(1, 2, figsize=(11, 0.5 * len(strategies) + 2.2), sharey=True)
    y = np.arange(len(strategies))
    for k, m in enumerate(mechs):
        d = table[table["mechanism"] == m].set_index("strategy").loc[strategies]
        off = (k - (len(mechs) - 1) / 2) * 0.2
        for ax, col in zip(axes, ("bias", "coverage"), strict=True):
            ax.plot(d[col], y + off, MARKERS[k], ms=7, ls="none", label=m)
    axes[0].axvline(0, color="0.3", lw=1)
    axes[1].axvline(0.95, color="0.3", lw=1)
    axes[0].set_yticks(y, strategies)
    axes[0].invert_yaxis()
    axes[0].set_xlabel("bias of the estimated\ndifference (points)")
    axes[1].set_xlabel("coverage of the 95% CI\n(line: 0.95)")
    axes[0].set_title("Bias (0 = none)", loc="left", fontsize=10)
    axes[1].set_title("Coverage", loc="left", fontsize=10)
    axes[1].legend(title="mechanism", fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    fig.tight_layout()
    return fig
