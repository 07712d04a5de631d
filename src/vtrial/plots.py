"""Seaborn figures of the workflow, written headless as PNG and SVG.

Every function takes tables in the package's formats (the contract's long trial
format, analysis-result and power tables, and the workflow's sensitivity tables)
and a path *stem*; it writes ``stem.png`` and ``stem.svg`` and returns both
paths. The calibration figure lives in :mod:`vtrial.calibration`.

The figures are meant to be read by a class: every label lies inside the
figure, curves that overlap differ by marker and line style as well as colour,
and two renders of the same table are byte-identical (no date in either file).
Arm names come from :data:`vtrial.trial.ARMS` and the published P from
:func:`vtrial.reference.published`, never from literals here.
"""

from __future__ import annotations

import textwrap
import warnings
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from vtrial.reference import published  # noqa: E402
from vtrial.trial import ARMS  # noqa: E402


def _import_seaborn():
    """Seaborn, imported without ``scipy.stats`` and ``scipy.cluster`` unless they are loaded.

    Seaborn imports ``scipy.stats`` only for ``gaussian_kde`` (kernel density
    plots) and ``scipy.cluster`` only for ``clustermap``, neither drawn here,
    and falls back to its bundled ``gaussian_kde`` (``clustermap`` refuses)
    when those imports fail. Together they cost about 2 s of CPU, most of a
    plotting job's imports; every figure here is the same either way.
    """
    import sys

    skip = [m for m in ("scipy.stats", "scipy.cluster") if m not in sys.modules]
    if "seaborn" in sys.modules or not skip:
        import seaborn

        return seaborn
    for name in skip:
        sys.modules[name] = None  # makes `import name` raise ImportError
    try:
        import seaborn
    finally:
        for name in skip:
            del sys.modules[name]
    return seaborn


sns = _import_seaborn()

#: One colour per arm, in the order of :data:`vtrial.trial.ARMS` (placebo, anastrozole).
ARM_COLORS = dict(zip(ARMS, ("#4C72B0", "#DD8452"), strict=True))
#: Published between-group P of the 2009 trial (PA spine BMD change).
PUBLISHED_P = float(published()["primary_trial"]["outcomes"]["pa_spine_bmd_g_cm2"]["p_between_groups"])
#: Published difference in mean 12-month % change (anastrozole minus placebo, points).
PUBLISHED_DIFFERENCE_PCT = float(published()["derived"]["mean_pct_change_12m"]["difference"])
#: Markers and line styles that keep overlapping method curves apart in grey print.
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
LINESTYLES = ("-", (0, (5, 1.5)), (0, (1, 1)), (0, (3, 1, 1, 1)), (0, (6, 2, 1, 2, 1, 2)))

# SVGs without random ids or dates, so reruns give identical files.
matplotlib.rcParams["svg.hashsalt"] = "vtrial"
matplotlib.rcParams["svg.fonttype"] = "none"


def _theme() -> None:
    sns.set_theme(style="whitegrid", context="notebook")


def save(fig, stem: str | Path, dpi: int = 120) -> list[Path]:
    """Write ``fig`` as ``stem.png`` and ``stem.svg``, close it, return the paths.

    ``bbox_inches="tight"`` keeps any label that the layout pushed to an edge;
    neither file carries a date or a software version, so two renders of the
    same figure are byte-identical.
    """
    stem = Path(stem)
    paths = [stem.with_name(stem.name + ".png"), stem.with_name(stem.name + ".svg")]
    for p in paths:
        meta = {"Date": None, "Creator": None} if p.suffix == ".svg" else {"Software": None}
        fig.savefig(p, dpi=dpi, metadata=meta, bbox_inches="tight", pad_inches=0.15)
    plt.close(fig)
    return paths


# --------------------------------------------------------------------------- example trial


def plot_bmd_trajectories(trial: pd.DataFrame, stem: str | Path) -> list[Path]:
    """Each man's PA spine BMD % change from baseline by visit, by arm, with arm means.

    Parameters
    ----------
    trial : DataFrame
        Long-format trial (contract columns).
    stem : path
        Output path without suffix.
    """
    _theme()
    bmd = trial.dropna(subset=["bmd_g_cm2"])[["subject_id", "arm", "visit_month", "bmd_g_cm2"]]
    base = bmd[bmd["visit_month"] == 0].set_index("subject_id")["bmd_g_cm2"]
    bmd = bmd[bmd["subject_id"].isin(base.index)].copy()
    bmd["pct_change"] = 100 * (bmd["bmd_g_cm2"] / bmd["subject_id"].map(base) - 1)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), sharey=True)
    for ax, arm in zip(axes, ARMS, strict=True):
        sub = bmd[bmd["arm"] == arm]
        sns.lineplot(
            data=sub, x="visit_month", y="pct_change", units="subject_id", estimator=None,
            color=ARM_COLORS[arm], alpha=0.35, lw=0.8, ax=ax,
        )  # fmt: skip
        sns.lineplot(
            data=sub, x="visit_month", y="pct_change", color="black", lw=2.5,
            errorbar=("ci", 95), seed=0, marker="o", ax=ax, label="mean (95% CI)",
        )  # fmt: skip
        n12 = sub[sub["visit_month"] == 12]["subject_id"].nunique()
        n0 = sub["subject_id"].nunique()
        ax.axhline(0, color="0.5", lw=0.8)
        ax.set_title(f"{arm} ({n0} men, {n12} at month 12)", loc="left")
        ax.set_xticks([0, 6, 12])
        ax.set_xlabel("month")
        ax.set_ylabel("PA spine BMD change from baseline (%)")
    fig.suptitle("One simulated trial: individual BMD trajectories", x=0.01, ha="left")
    fig.tight_layout()
    return save(fig, stem)


def plot_hormones(trial: pd.DataFrame, stem: str | Path) -> list[Path]:
    """Testosterone and estradiol by visit and arm (men as thin lines, means bold)."""
    _theme()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
    for ax, (col, label) in zip(
        axes,
        (("testosterone_ng_dl", "total testosterone (ng/dL)"), ("estradiol_pg_ml", "estradiol (pg/mL)")),
        strict=True,
    ):
        sub = trial.dropna(subset=[col])
        sns.lineplot(
            data=sub, x="visit_month", y=col, hue="arm", units="subject_id", estimator=None,
            palette=ARM_COLORS, alpha=0.15, lw=0.6, legend=False, ax=ax,
        )  # fmt: skip
        sns.lineplot(
            data=sub, x="visit_month", y=col, hue="arm", palette=ARM_COLORS, lw=2.5, marker="o",
            errorbar=("ci", 95), seed=0, ax=ax,
        )  # fmt: skip
        ax.set_xticks([0, 3, 6, 12])
        ax.set_xlabel("month")
        ax.set_ylabel(label)
    fig.suptitle("One simulated trial: hormone trajectories", x=0.01, ha="left")
    fig.tight_layout()
    return save(fig, stem)


def plot_analysis(results: pd.DataFrame, stem: str | Path) -> list[Path]:
    """Forest plot of one trial's estimate and CI per method and missing-data strategy."""
    _theme()
    r = results.copy()
    r["label"] = r["method"] + " / " + r["missing"]
    r = r.dropna(subset=["estimate"])
    fig, ax = plt.subplots(figsize=(8, 0.4 * len(r) + 1.6))
    y = np.arange(len(r))
    ax.errorbar(
        r["estimate"], y,
        xerr=[r["estimate"] - r["ci_low"], r["ci_high"] - r["estimate"]],
        fmt="o", color="tab:blue", capsize=3,
    )  # fmt: skip
    for yi, p in zip(y, r["p_value"], strict=True):
        ax.annotate(
            f"P = {p:.2g}", (1.01, yi), xycoords=("axes fraction", "data"), ha="left", va="center", fontsize=8
        )  # right of the axes, clear of the intervals
    ax.set_yticks(y, r["label"])
    ax.invert_yaxis()
    ax.axvline(0, color="0.4", lw=1)
    ax.set_xlabel(f"{ARMS[1]} minus {ARMS[0]}, 12-month % change\n(percentage points, 95% CI)")
    ax.set_title("One simulated trial: every analysis", loc="left")
    fig.tight_layout()
    return save(fig, stem)


# --------------------------------------------------------------------------- replication


def plot_replication(reps: pd.DataFrame, stem: str | Path, *, published_p: float = PUBLISHED_P,
                     published_estimate: float | None = PUBLISHED_DIFFERENCE_PCT,
                     alpha: float = 0.05) -> list[Path]:  # fmt: skip
    """Distribution of the between-group P and estimate over replications of a design.

    Parameters
    ----------
    reps : DataFrame
        One row per replicate, columns ``p_value`` and ``estimate`` (percentage points).
    published_p, published_estimate : float
        Marked on the panels.
    """
    _theme()
    r = reps.dropna(subset=["p_value"]).copy()
    r["log10_p"] = np.log10(r["p_value"].clip(lower=1e-16))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    ax = axes[0]
    sns.histplot(data=r, x="log10_p", bins=50, ax=ax, color="tab:blue")
    ax.axvline(np.log10(published_p), color="tab:red", lw=2, label=f"published P = {published_p:g}")
    ax.axvline(np.log10(alpha), color="0.3", ls="--", lw=1.2, label=f"alpha = {alpha:g}")
    below = (r["p_value"] <= published_p).mean()
    sig = (r["p_value"] < alpha).mean()
    ax.set_xlabel("log10 P (between-group, 12-month BMD change)")
    ax.set_title(f"{100 * sig:.0f}% significant; {100 * below:.0f}% with P <= {published_p:g}", loc="left")
    ax.legend(fontsize=8)
    ax = axes[1]
    sns.histplot(data=r, x="estimate", bins=50, ax=ax, color="tab:orange")
    if published_estimate is not None:
        ax.axvline(published_estimate, color="tab:red", lw=2, label=f"published {published_estimate:+.2f}")
        ax.legend(fontsize=8)
    ax.set_xlabel("estimated difference, 12-month % change (points)")
    ax.set_title(f"{len(r)} replications of the design", loc="left")
    fig.tight_layout()
    return save(fig, stem)


# --------------------------------------------------------------------------- power


def _facet_label(row: pd.Series, keys: Sequence[str]) -> str:
    return ", ".join(f"{k.split('.')[-1]}={row[k]}" for k in keys) or "base case"


def _power_panel(
    ax, panel: str, *, target_power: Sequence[float], planned_n: int | None, control: str
) -> None:
    """Target lines, the planned n, title and axes of one power-curve panel."""
    for t in target_power:
        ax.axhline(t, color="0.5", ls=":", lw=1)
    if planned_n is not None:
        ax.axvline(planned_n, color="black", lw=1.2, ls="-.", label=f"planned n = {planned_n}")
    ax.set_title(panel, loc="left", fontsize=10)
    ax.set_xlabel(f"men per arm ({control})")
    ax.set_ylabel("power")
    ax.set_ylim(0, 1.01)


def plot_power_curves(power: pd.DataFrame, stem: str | Path, *, grid_keys: Sequence[str] = (),
                      target_power: Sequence[float] = (0.8, 0.9),
                      planned_n: int | None = None) -> list[Path]:  # fmt: skip
    """Power by n per arm and method: Monte Carlo estimate with 95% band, analytic curve dashed.

    Parameters
    ----------
    power : DataFrame
        Contract power table (one row per scenario and method).
    grid_keys : sequence of str
        Grid columns other than ``trial.n_per_arm``; one panel per combination.
    target_power : sequence of float
        Horizontal reference lines.
    planned_n : int, optional
        The planned men per arm (``trial.n_per_arm`` of the config; 44 in 2009),
        marked by a vertical line on every panel.

    Notes
    -----
    Methods differ by marker and line style as well as colour, so curves that
    lie on top of each other stay distinguishable. The legend has an
    ``analytic`` entry only if some analytic power is finite (it is NaN, and
    not drawn, e.g. under MNAR dropout).
    """
    _theme()
    p = power.copy()
    keys = [k for k in grid_keys if k in p.columns and k != "trial.n_per_arm" and p[k].nunique() > 1]
    p["panel"] = p.apply(lambda r: _facet_label(r, keys), axis=1) if keys else "base case"
    panels = list(dict.fromkeys(p["panel"]))
    methods = list(dict.fromkeys(p["method"]))
    colors = dict(zip(methods, sns.color_palette("tab10", len(methods)), strict=True))
    style = {m: (MARKERS[i % len(MARKERS)], LINESTYLES[i % len(LINESTYLES)]) for i, m in enumerate(methods)}
    ncol = min(3, len(panels))
    nrow = int(np.ceil(len(panels) / ncol))
    fig, axes = plt.subplots(
        nrow, ncol, figsize=(max(8.0, 5.2 * ncol), 4.2 * nrow + 0.8), squeeze=False, sharey=True
    )
    any_analytic = False
    for ax, panel in zip(axes.flat, panels, strict=False):
        sub = p[p["panel"] == panel]
        for m in methods:
            d = sub[sub["method"] == m].sort_values("n_per_arm")
            if d.empty:
                continue
            ax.fill_between(
                d["n_per_arm"], d["power_ci_low"], d["power_ci_high"], color=colors[m], alpha=0.2, lw=0
            )
            marker, ls = style[m]
            ax.plot(d["n_per_arm"], d["power"], color=colors[m], marker=marker, ms=4.5, ls=ls, lw=1.5,
                    label=m, markerfacecolor="white", markeredgewidth=1.2)  # fmt: skip
            a = pd.to_numeric(d["analytic_power"], errors="coerce")
            if a.notna().any():
                any_analytic = True
                ax.plot(d["n_per_arm"], a, color=colors[m], ls="--", lw=1.0, alpha=0.9)
        _power_panel(ax, panel, target_power=target_power, planned_n=planned_n, control=ARMS[0])
    for ax in list(axes.flat)[len(panels) :]:
        ax.set_visible(False)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    if any_analytic:
        handles.append(plt.Line2D([], [], color="0.3", ls="--"))
        labels.append("analytic")
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 4), frameon=False, fontsize=9)
    reps = int(p["reps"].max()) if "reps" in p else 0
    dashed = "; dashed: analytic" if any_analytic else ""
    fig.suptitle(f"Power by n per arm ({reps:,} reps per point; band: 95% CI{dashed})",
                 x=0.01, ha="left", fontsize=11)  # fmt: skip
    legend_inches = 0.35 + 0.25 * np.ceil(len(labels) / 4)  # room for the legend below the panels
    fig.tight_layout(rect=(0, legend_inches / fig.get_figheight(), 1, 1))
    return save(fig, stem)


#: Title of the two-arm sample-size figure.
SAMPLE_SIZE_TITLE = "Sample size for the target power"


def plot_sample_size(table: pd.DataFrame, stem: str | Path, *, grid_keys: Sequence[str] = (),
                     control: str = ARMS[0], title: str = "") -> list[Path]:  # fmt: skip
    """n per arm needed for each target power, by method (and grid scenario).

    Parameters
    ----------
    table : DataFrame
        ``results/sample_size/sample_size.csv``: ``method, target_power, n_per_arm``
        and the grid columns (a design's also ``comparison``, the searched row).
    stem : path
        Output path without suffix.
    grid_keys : sequence of str
        Grid columns; one panel per combination that varies.
    control : str
        The arm whose men ``n_per_arm`` counts (x axis label).
    title : str
        A design's title, wrapped to the figure's width (the design and its
        comparison rule, :func:`vtrial.pipeline.sample_size_title`); default
        :data:`SAMPLE_SIZE_TITLE`.
    """
    _theme()
    t = table.copy()
    keys = [k for k in grid_keys if k in t.columns and t[k].nunique() > 1]
    t["scenario"] = t.apply(lambda r: _facet_label(r, keys), axis=1) if keys else "base case"
    t["target"] = (100 * t["target_power"]).round().astype(int).astype(str) + "% power"
    g = sns.catplot(
        data=t, x="n_per_arm", y="method", hue="target", col="scenario", kind="bar",
        col_wrap=min(3, t["scenario"].nunique()), height=3.6, aspect=1.3, sharex=False,
    )  # fmt: skip
    for ax in g.axes.flat:
        for cont in ax.containers:
            ax.bar_label(cont, fmt="%.0f", fontsize=8, padding=2)
    g.set_axis_labels(f"men per arm ({control})", "")
    g.set_titles("{col_name}")
    sns.move_legend(g, "lower center", bbox_to_anchor=(0.5, 0.0), ncol=t["target"].nunique(), title=None)
    if not title:
        g.figure.suptitle(SAMPLE_SIZE_TITLE, x=0.01, ha="left")
    else:  # a design's title: wrapped to the figure's width
        width = int(11 * g.figure.get_figwidth())
        lines = [textwrap.fill(line, width) for line in title.split("\n")]
        g.figure.suptitle("\n".join(lines), x=0.01, ha="left", fontsize=10)
    g.figure.tight_layout(rect=(0, 0.08, 1, 1))
    return save(g.figure, stem)


# --------------------------------------------------------------------------- sensitivity


def plot_heatmap(table: pd.DataFrame, stem: str | Path, *, x: str, y: str, value: str = "power",
                 title: str = "", fmt: str = ".2f", xlabel: str | None = None,
                 ylabel: str | None = None, cmap: str = "viridis") -> list[Path]:  # fmt: skip
    """Heatmap of ``value`` over two columns of ``table`` (annotated cells)."""
    _theme()
    grid = table.pivot_table(index=y, columns=x, values=value, aggfunc="mean", sort=True)
    if not pd.api.types.is_numeric_dtype(table[x]):  # categories keep their order in the table
        grid = grid[list(dict.fromkeys(table[x]))]
    fig, ax = plt.subplots(figsize=(1.0 * grid.shape[1] + 2.5, 0.55 * grid.shape[0] + 1.8))
    sns.heatmap(grid, annot=True, fmt=fmt, cmap=cmap, vmin=0, vmax=1, ax=ax, cbar_kws={"label": value})
    ax.invert_yaxis()
    ax.set_xlabel(xlabel or x)
    ax.set_ylabel(ylabel or y)
    ax.set_title(title, loc="left")
    fig.tight_layout()
    return save(fig, stem)


def tornado_ranges(table: pd.DataFrame) -> pd.DataFrame:
    """Per assumption: n per arm at its low and high value, relative to the base case.

    Parameters
    ----------
    table : DataFrame
        ``key, side, value, n_per_arm`` with one ``base`` row and a ``low`` and
        ``high`` row per key.

    Returns
    -------
    DataFrame
        ``key, low, high, n_low, n_high, d_low, d_high, swing, one_sided``:
        ``d_*`` is ``n_* - base`` (men per arm), ``swing`` the largest absolute
        change, ``one_sided`` True when both ends move n the same way (the
        assumption's effect is not monotone over its range, or the base case is
        not between the two ends), sorted by ``swing``, largest last.

    Examples
    --------
    >>> t = pd.DataFrame({"key": ["base", "a", "a"], "side": ["base", "low", "high"],
    ...                   "value": [None, 1, 2], "n_per_arm": [40, 45, 50]})
    >>> r = tornado_ranges(t)
    >>> r[["d_low", "d_high", "one_sided"]].values.tolist()
    [[5.0, 10.0, True]]
    """
    base = float(table.loc[table["key"] == "base", "n_per_arm"].iloc[0])
    if not np.isfinite(base):  # base case beyond the search: anchor at the largest n found
        base = float(np.nanmax(table["n_per_arm"].astype(float)))
    rows = []
    for key, d in table[table["key"] != "base"].groupby("key", sort=False):
        lo = d[d["side"] == "low"].iloc[0]
        hi = d[d["side"] == "high"].iloc[0]
        rows.append((key, lo["value"], hi["value"], float(lo["n_per_arm"]), float(hi["n_per_arm"])))
    r = pd.DataFrame(rows, columns=["key", "low", "high", "n_low", "n_high"])
    r["d_low"] = r["n_low"] - base
    r["d_high"] = r["n_high"] - base
    r["swing"] = r[["d_low", "d_high"]].abs().max(axis=1)
    r["one_sided"] = (np.sign(r["d_low"]) * np.sign(r["d_high"])) > 0
    r.attrs["base"] = base
    return r.sort_values("swing", ascending=True, kind="stable").reset_index(drop=True)


def plot_tornado(table: pd.DataFrame, stem: str | Path, *, target_power: float = 0.9) -> list[Path]:
    """Tornado plot: change in n per arm for the target power as each assumption moves low to high.

    Bars start at the base case (0) and show ``n - base`` for the low and high
    value of each assumption, labelled with the value and the n it needs. When
    both ends of an assumption move n the same way the row is marked and a
    :class:`UserWarning` says so: the range does not bracket the base case.

    Parameters
    ----------
    table : DataFrame
        ``key, side, value, n_per_arm`` with one ``base`` row and a ``low`` and
        ``high`` row per key.
    """
    _theme()
    if not np.isfinite(table["n_per_arm"].astype(float)).any():
        fig, ax = plt.subplots(figsize=(8.5, 2.5))
        ax.axis("off")
        ax.text(0.02, 0.5, f"No design in the tornado reaches {100 * target_power:.0f}% power\n"
                "(no true difference, or beyond sensitivity.max_n_per_arm).", va="center")  # fmt: skip
        return save(fig, stem)
    r = tornado_ranges(table)
    base = r.attrs["base"]
    one_sided = r.loc[r["one_sided"], "key"].tolist()
    if one_sided:
        warnings.warn(
            f"tornado: both ends of {', '.join(one_sided)} move n per arm the same way from the base case "
            f"({base:.0f}); the range does not bracket the base case",
            UserWarning,
            stacklevel=2,
        )
    fig, ax = plt.subplots(figsize=(9, 0.6 * len(r) + 2.2))
    yy = np.arange(len(r))
    both = r["one_sided"].to_numpy()
    for side, color, off in (("low", ARM_COLORS[ARMS[0]], -0.17), ("high", ARM_COLORS[ARMS[1]], 0.17)):
        d = r[f"d_{side}"].to_numpy()
        # Rows whose two ends lie on one side: draw the bars side by side, not on top of each other.
        ax.barh(yy + np.where(both, off, 0.0), d, height=np.where(both, 0.34, 0.6), color=color,
                label=f"{side} value")  # fmt: skip
    for yi, row in zip(yy, r.itertuples(), strict=True):
        for side, off in (("low", -0.17), ("high", 0.17)):
            d = getattr(row, f"d_{side}")
            n = getattr(row, f"n_{side}")
            if not np.isfinite(d):
                continue
            text = f"{getattr(row, side)} → {n:.0f} ({d:+.0f})"
            y = yi + (off if row.one_sided else 0.0)
            if not row.one_sided:  # one label each side of the base line
                right = d > 0 or (d == 0 and side == "high")
            else:
                right = d >= 0
            ax.annotate(text, (d, y), xytext=(4 if right else -4, 0), textcoords="offset points",
                        ha="left" if right else "right", va="center", fontsize=8)  # fmt: skip
    ax.axvline(0, color="black", lw=1.2)
    labels = [f"{k} ⚠ both ends on one side" if s else k for k, s in zip(r["key"], both, strict=True)]
    ax.set_yticks(yy, labels)
    ax.set_xlabel(
        f"change in men per arm for {100 * target_power:.0f}% power (base case: {base:.0f} per arm)"
    )
    ax.set_title("Which assumption moves the sample size most", loc="left")
    ax.legend(fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 1.06), ncol=2, frameon=False)
    finite = np.array([*r[["d_low", "d_high"]].to_numpy().ravel(), 0.0], dtype=float)
    lo_x, hi_x = np.nanmin(finite), np.nanmax(finite)
    pad = 0.45 * max(hi_x - lo_x, 10)
    ax.set_xlim(lo_x - pad, hi_x + pad)
    fig.tight_layout()
    return save(fig, stem)


def plot_tipping(table: pd.DataFrame, stem: str | Path, *, value: str, title: str,
                 holds: str | None = None, fmt: str = ".2f", cmap: str = "viridis_r",
                 vmin: float | None = 0, vmax: float | None = 1) -> list[Path]:  # fmt: skip
    """Tipping-point heatmap over the shifts of imputed values in each arm.

    Parameters
    ----------
    table : DataFrame
        ``delta_anastrozole, delta_placebo`` and ``value`` (e.g. ``p_value`` or ``power``).
    holds : str, optional
        Boolean column: cells where the conclusion holds are outlined.
    """
    _theme()
    grid = table.pivot_table(index="delta_anastrozole", columns="delta_placebo", values=value, sort=True)
    fig, ax = plt.subplots(figsize=(0.75 * grid.shape[1] + 3, 0.55 * grid.shape[0] + 2))
    sns.heatmap(grid, annot=True, fmt=fmt, cmap=cmap, vmin=vmin, vmax=vmax, ax=ax,
                annot_kws={"fontsize": 7}, cbar_kws={"label": value})  # fmt: skip
    if holds is not None:
        h = table.pivot_table(index="delta_anastrozole", columns="delta_placebo", values=holds, sort=True)
        for i in range(h.shape[0]):
            for j in range(h.shape[1]):
                if h.iloc[i, j] > 0.5:
                    ax.add_patch(plt.Rectangle((j, i), 1, 1, fill=False, ec="white", lw=1.5))
    zero_r = list(grid.index).index(0) if 0 in list(grid.index) else None
    zero_c = list(grid.columns).index(0) if 0 in list(grid.columns) else None
    if zero_r is not None and zero_c is not None:
        ax.add_patch(plt.Rectangle((zero_c, zero_r), 1, 1, fill=False, ec="red", lw=2))
    ax.invert_yaxis()
    ax.set_xlabel(f"shift of imputed values,\n{ARMS[0]} arm (percentage points)")
    ax.set_ylabel(f"shift of imputed values,\n{ARMS[1]} arm (percentage points)")
    ax.set_title(title, loc="left", fontsize=10)
    fig.tight_layout()
    return save(fig, stem)


#: Familywise rows of a design's power table: some comparison significant, every one significant.
FAMILYWISE = ("any", "all")


def plot_comparison_power_curves(power: pd.DataFrame, stem: str | Path, *, title: str, control: str,
                                 grid_keys: Sequence[str] = (), target_power: Sequence[float] = (0.8, 0.9),
                                 planned_n: int | None = None) -> list[Path]:  # fmt: skip
    """Power by n per arm of a multi-arm design: one line per comparison, and the familywise ``any``.

    Parameters
    ----------
    power : DataFrame
        Power table of a design (:func:`vtrial.power.run_power` of a config with
        ``trial.arms``): the contract columns plus ``comparison`` (``<arm>-<reference>``,
        or the familywise rows ``any`` and ``all``) and, with two endpoints, ``endpoint``.
    stem : path
        Output path without suffix.
    title : str
        The design in words (:func:`vtrial.design_text.design_title`), printed above the panels.
    control : str
        Name of the control arm: the x axis counts its men (``trial.n_per_arm``).
    grid_keys : sequence of str
        Grid columns other than ``trial.n_per_arm``; one panel per method and combination.
    target_power : sequence of float
        Horizontal reference lines.
    planned_n : int, optional
        The planned men per arm (``trial.n_per_arm``), a vertical line.

    Notes
    -----
    Comparisons differ by colour, marker and line style. With two endpoints
    the rows that decide success (spine under ``endpoint_rule: primary``, the
    combined rows ``all``/``any`` otherwise: the endpoint of the familywise
    rows) are drawn bold with their band, the other endpoints' rows thin and
    light. With several comparisons the familywise ``any`` row (at least one
    comparison succeeds, after the multiplicity adjustment) is the thick black
    line: it is the chance the trial finds some effect, and every comparison
    line lies under it. The band is the Monte Carlo 95% CI.
    """
    _theme()
    p = power.copy()
    keys = [k for k in grid_keys if k in p.columns and k != "trial.n_per_arm" and p[k].nunique() > 1]
    methods = list(dict.fromkeys(p["method"]))
    p["panel"] = p["method"].astype(str)
    if "multiplicity" in p.columns and p["multiplicity"].nunique() > 1:
        p["panel"] += ", " + p["multiplicity"].astype(str)
    if keys:
        p["panel"] += ": " + p.apply(lambda r: _facet_label(r, keys), axis=1)
    panels = list(dict.fromkeys(p["panel"]))
    comparisons = [c for c in dict.fromkeys(p["comparison"]) if c not in FAMILYWISE]
    if "endpoint" not in p.columns:
        p["endpoint"] = "spine"
    # The familywise rows carry the endpoint that decides (spine, or the rule over both);
    # the other endpoints' rows are drawn thin and light.
    family = p.loc[p["comparison"].isin(FAMILYWISE), "endpoint"]
    decisive = family.iloc[0] if len(family) else p["endpoint"].iloc[0]
    others = [e for e in dict.fromkeys(p["endpoint"]) if e != decisive]
    colors = dict(zip(comparisons, sns.color_palette("tab10", len(comparisons)), strict=True))
    style = {
        c: (MARKERS[i % len(MARKERS)], LINESTYLES[i % len(LINESTYLES)]) for i, c in enumerate(comparisons)
    }
    words = {
        "spine": "PA spine alone",
        "hip": "total hip alone",
        "all": "both endpoints",
        "any": "either endpoint",
    }
    ncol = min(3, len(panels))
    nrow = int(np.ceil(len(panels) / ncol))
    fig, axes = plt.subplots(
        nrow, ncol, figsize=(max(8.0, 5.2 * ncol), 4.2 * nrow + 1.2), squeeze=False, sharey=True
    )
    for ax, panel in zip(axes.flat, panels, strict=False):
        sub = p[p["panel"] == panel]
        for e in [decisive, *others]:
            faint = e != decisive
            for c in comparisons:
                d = sub[(sub["comparison"] == c) & (sub["endpoint"] == e)].sort_values("n_per_arm")
                if d.empty:
                    continue
                if not faint:
                    ax.fill_between(d["n_per_arm"], d["power_ci_low"], d["power_ci_high"], color=colors[c],
                                    alpha=0.2, lw=0)  # fmt: skip
                # the single endpoints' lines differ from each other by marker and dash
                marker, ls = (
                    style[c] if not faint else (MARKERS[2 + others.index(e)], LINESTYLES[2 + others.index(e)])
                )
                label = c if not others else f"{c}, {words.get(e, e)}"
                ax.plot(d["n_per_arm"], d["power"], color=colors[c], marker=marker, ms=3.5 if faint else 4.5,
                        ls=ls, lw=0.9 if faint else 1.6, alpha=0.45 if faint else 1.0, markerfacecolor="white",
                        markeredgewidth=1.0 if faint else 1.2, label=label)  # fmt: skip
        d = sub[sub["comparison"] == "any"].sort_values("n_per_arm")
        if len(comparisons) > 1 and not d.empty:  # with one comparison it is that comparison's line
            ax.fill_between(
                d["n_per_arm"], d["power_ci_low"], d["power_ci_high"], color="black", alpha=0.12, lw=0
            )
            ax.plot(d["n_per_arm"], d["power"], color="black", lw=2.6, marker="o", ms=4,
                    label="any (familywise: at least one comparison succeeds)")  # fmt: skip
        _power_panel(ax, panel, target_power=target_power, planned_n=planned_n, control=control)
    for ax in list(axes.flat)[len(panels) :]:
        ax.set_visible(False)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 3), frameon=False, fontsize=9)
    reps = int(p["reps"].max()) if "reps" in p else 0
    fig.suptitle(f"Power by n per arm: {title}\n({reps:,} reps per point; band: 95% CI; "
                 f"{len(methods)} method{'s' if len(methods) > 1 else ''})",
                 x=0.01, ha="left", fontsize=11)  # fmt: skip
    legend_inches = 0.35 + 0.25 * np.ceil(len(labels) / 3)
    fig.tight_layout(rect=(0, legend_inches / fig.get_figheight(), 1, 1))
    return save(fig, stem)
