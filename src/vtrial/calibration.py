"""Simulated versus published figures of the 2009 trial (``vtrial calibrate``).

Simulates many trials of the published design and, for every published figure
(:func:`vtrial.reference.published_figures`), the same statistic in each
simulated trial. A published value lying inside the central 95% of its simulated
values says the default cohort and trial model could have produced it.

Statistics follow the paper's populations: BMD figures are over completers (the
bone analysis had 69 completers), hormone figures over men measured at that visit
in the anastrozole arm, and the between-group P is a pooled two-sample t-test on
the 12-month change in g/cm2 among completers (the assumption under which the
reference file derives the implied SD).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy import special

from vtrial.config import scenario_id
from vtrial.reference import published_figures
from vtrial.streams import rng_for
from vtrial.trial import VISITS, simulate_arrays


def _masked_mean_sd(x: np.ndarray, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-replicate mean and SD (ddof 1) of ``x`` over ``keep``; arrays ``(reps,)``."""
    n = keep.sum(axis=1)
    xs = np.where(keep, x, 0.0)
    mean = xs.sum(axis=1) / n
    var = (np.where(keep, x - mean[:, None], 0.0) ** 2).sum(axis=1) / (n - 1)
    return mean, np.sqrt(var)


def simulated_statistics(cfg: dict, reps: int, *, rng) -> pd.DataFrame:
    """The calibration statistics of ``reps`` simulated trials, one column per figure.

    Returns
    -------
    DataFrame
        ``reps`` rows; columns named ``figure|arm|month|statistic``.
    """
    t = simulate_arrays(cfg, reps, rng=rng)
    out: dict[str, np.ndarray] = {}
    done = t.completed
    change = t.bmd_g_cm2[..., 2] - t.bmd_g_cm2[..., 0]
    pct = 100 * change / t.bmd_g_cm2[..., 0]
    for arm_name, in_arm in (("anastrozole", t.anastrozole), ("placebo", ~t.anastrozole)):
        keep = in_arm & done
        for k, month in ((0, 0), (2, 12)):
            m, s = _masked_mean_sd(t.bmd_g_cm2[..., k], keep)
            out[f"bmd_g_cm2|{arm_name}|{month}|mean"] = m
            out[f"bmd_g_cm2|{arm_name}|{month}|sd"] = s
        out[f"completers|{arm_name}|12|count"] = keep.sum(axis=1).astype(float)
        out[f"bmd_change_g_cm2|{arm_name}|12|mean"] = _masked_mean_sd(change, keep)[0]
        out[f"bmd_pct_change|{arm_name}|12|mean"] = _masked_mean_sd(pct, keep)[0]
    for hormone, values in (
        ("testosterone_ng_dl", t.testosterone_ng_dl),
        ("estradiol_pg_ml", t.estradiol_pg_ml),
    ):
        for k, month in enumerate(VISITS):
            x = values[..., k]
            keep = t.anastrozole & ~np.isnan(x)
            m, s = _masked_mean_sd(x, keep)
            out[f"{hormone}|anastrozole|{month}|mean"] = m
            out[f"{hormone}|anastrozole|{month}|sd"] = s
    a, p = t.anastrozole & done, ~t.anastrozole & done
    (ma, sa), (mp, sp) = _masked_mean_sd(change, a), _masked_mean_sd(change, p)
    na, np_ = a.sum(axis=1), p.sum(axis=1)
    pooled = ((na - 1) * sa**2 + (np_ - 1) * sp**2) / (na + np_ - 2)
    tstat = (ma - mp) / np.sqrt(pooled * (1 / na + 1 / np_))
    # scipy.stats.t.sf(|t|, df) is stdtr(df, -|t|); scipy.stats costs 0.5 s to import
    out["bmd_change_g_cm2|difference|12|p_value"] = 2 * special.stdtr(na + np_ - 2, -np.abs(tstat))
    return pd.DataFrame(out)


def calibrate(cfg: dict, reps: int = 1000, *, rng=None) -> pd.DataFrame:
    """Compare published figures with ``reps`` simulated trials.

    Parameters
    ----------
    cfg : dict
        Validated config (normally the default, the published design).
    reps : int
        Simulated trials.
    rng : Generator or seed, optional
        Default: the stream for (config seed, scenario id, chunk 0).

    Returns
    -------
    DataFrame
        One row per published figure: ``figure, arm, month, statistic, unit,
        published, sim_median, sim_p2_5, sim_p97_5, inside``.

    Examples
    --------
    >>> from vtrial.config import load_config
    >>> table = calibrate(load_config(), reps=200)
    >>> bool(table["inside"].all())
    True
    """
    if rng is None:
        rng = rng_for(cfg["seed"], scenario_id(cfg), 0)
    sims = simulated_statistics(cfg, reps, rng=rng)
    rows = []
    for fig in published_figures():
        col = f"{fig['figure']}|{fig['arm']}|{fig['month']}|{fig['statistic']}"
        lo, med, hi = np.quantile(sims[col], [0.025, 0.5, 0.975])
        rows.append({
            **fig,
            "sim_median": med,
            "sim_p2_5": lo,
            "sim_p97_5": hi,
            "inside": bool(lo <= fig["published"] <= hi),
        })  # fmt: skip
    return pd.DataFrame(rows)


def plot_calibration(table: pd.DataFrame, stem: str | Path) -> list[Path]:
    """Figure of published values against simulated 95% ranges; writes ``stem.png`` and ``stem.svg``.

    Each figure is drawn on its own standardized scale: 0 is the simulated
    median, -1 and +1 the 2.5th and 97.5th percentiles, so all fit one axis.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="notebook")
    t = table.copy()
    half = np.where(
        t["published"] >= t["sim_median"], t["sim_p97_5"] - t["sim_median"], t["sim_median"] - t["sim_p2_5"]
    )
    t["position"] = (t["published"] - t["sim_median"]) / np.where(half > 0, half, 1.0)
    t["label"] = [f"{r.figure} {r.arm} m{r.month} {r.statistic} ({r.published:g})" for r in t.itertuples()]
    t["status"] = np.where(t["inside"], "inside 95% range", "outside")
    fig, ax = plt.subplots(figsize=(11, 0.32 * len(t) + 1.5))
    ax.axvspan(-1, 1, color="0.88", zorder=0, label="simulated 95% range")
    ax.axvline(0, color="0.4", lw=1)
    sns.scatterplot(
        data=t, x="position", y="label", hue="status", style="status", s=70, ax=ax,
        palette={"inside 95% range": "tab:blue", "outside": "tab:red"},
        markers={"inside 95% range": "o", "outside": "X"},
    )  # fmt: skip
    ax.set_xlim(min(-1.6, t["position"].min() - 0.2), max(1.6, t["position"].max() + 0.2))
    ax.set_xlabel("published value relative to the simulated median\n(±1: 2.5th or 97.5th percentile)")
    ax.set_ylabel("")
    ax.set_title("Burnett-Bowie 2009: published figures against simulated trials", loc="left")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    from vtrial.plots import save  # one writer for every figure: tight bounding box, no dates

    return save(fig, stem)
