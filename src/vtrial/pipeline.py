"""Helpers of the Snakemake workflow: scenarios, job batches, sensitivity designs, summary.

The workflow (``workflow/``) stays thin: every decision it needs — which
scenarios exist, which job computes which scenario, which configurations a
heatmap or a tornado plot evaluates, how a tipping-point grid is analysed, what
``results/summary.md`` says — is made here, where it can be tested without
Snakemake.

Configuration keys of the workflow live in two sections, ``pipeline`` and
``sensitivity`` (documented in ``config/README.md``).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vtrial.config import (
    Scenario,
    expand_grid,
    get_key,
    make_scenario,
    prior_file,
    read_yaml_file,
    resolve_prior_file,
    set_key,
    validate_config,
)
from vtrial.errors import InputError

#: Mappings whose keys are free (config keys): a config file that sets one
#: replaces it whole, as ``vtrial --config`` does, instead of Snakemake's deep merge.
FREE_KEY_MAPPINGS = ("grid", "sensitivity.tornado")

#: Sections a grid or a tornado range may not vary (``sequential`` and ``prior``
#: do not enter the scenario id, see :data:`vtrial.config.DATA_SECTIONS`).
NOT_VARIABLE = ("seed", "simulation", "pipeline", "sensitivity", "grid", "sequential", "prior")

#: Published between-group P of the 2009 trial (PA spine BMD change).
PUBLISHED_P = 0.0014


# --------------------------------------------------------------------------- config


def workflow_config(merged: Mapping, configfiles: Sequence[str | Path] = ()) -> dict:
    """The validated vtrial configuration of a Snakemake run.

    Snakemake deep-merges ``--configfile`` files into ``config/config.yaml``;
    vtrial replaces the free-keyed mappings (:data:`FREE_KEY_MAPPINGS`) whole,
    so a config that sets ``grid`` gets exactly that grid. This re-applies them
    from the files, in order, makes a relative ``prior.difference.file`` of a
    file absolute against that file's folder, then validates.

    Parameters
    ----------
    merged : mapping
        Snakemake's ``config``.
    configfiles : sequence of path
        Files given with ``--configfile`` (``workflow.overwrite_configfiles``).

    Returns
    -------
    dict
        The validated configuration.

    Raises
    ------
    InputError
        One readable message naming the key, value and what is allowed.
    """
    cfg = copy.deepcopy(dict(merged))
    for path in configfiles:
        data = read_yaml_file(path) or {}
        if not isinstance(data, dict):
            raise InputError(f"config file '{path}' must hold a mapping of keys")
        for dotted in FREE_KEY_MAPPINGS:
            head, *rest = dotted.split(".")
            node = data.get(head)
            for part in rest:
                node = node.get(part) if isinstance(node, dict) else None
            if node is None:
                continue
            target = cfg
            for part in dotted.split(".")[:-1]:
                target = target.setdefault(part, {})
            target[dotted.split(".")[-1]] = copy.deepcopy(node)
        # A draws file is named relative to the config file that names it.
        given = resolve_prior_file(copy.deepcopy(data), Path(path).parent)
        if given != data and prior_file(cfg) == prior_file(data):
            cfg["prior"]["difference"]["file"] = prior_file(given)
    return check_config(cfg)


def _variable_key(key: str, where: str) -> None:
    if key.split(".")[0] in NOT_VARIABLE:
        raise InputError(
            f"config key '{where}.{key}': '{key}' cannot be varied (vary study parameters "
            "in trial, cohort, hormones, effects, measurement, dropout or analysis)"
        )


def check_config(cfg: Any) -> dict:
    """Validate a configuration for the workflow (``validate_config`` plus workflow rules).

    Examples
    --------
    >>> from vtrial.config import load_config
    >>> cfg = check_config(load_config())
    >>> sorted(cfg["sensitivity"]["tornado"])[0]
    'dropout.anastrozole'
    """
    validate_config(cfg)
    for section in ("pipeline", "sensitivity"):
        if section not in cfg:
            raise InputError(f"config key '{section}' is missing (the workflow needs it)")
    for key in cfg.get("grid") or {}:
        _variable_key(key, "grid")
    base = base_config(cfg)
    for key, values in cfg["sensitivity"]["tornado"].items():
        _variable_key(key, "sensitivity.tornado")
        try:
            get_key(base, key)
        except InputError as exc:
            raise InputError(f"config key 'sensitivity.tornado.{key}': {exc}") from None
        for value in values:
            try:
                validate_config(set_key(base, key, value))
            except InputError as exc:
                raise InputError(f"tornado range for '{key}': {exc}") from None
    return cfg


def base_config(cfg: dict) -> dict:
    """The base case: ``cfg`` without its grid (a fresh copy)."""
    out = copy.deepcopy(cfg)
    out["grid"] = {}
    return out


def power_methods(cfg: dict) -> list[str]:
    """Methods of the power and sample-size stages (``pipeline.power_methods`` or ``analysis.methods``)."""
    return list(cfg["pipeline"]["power_methods"] or cfg["analysis"]["methods"])


def sensitivity_reps(cfg: dict) -> int:
    """Replicates per sensitivity scenario (``sensitivity.reps`` or ``simulation.reps``)."""
    return int(cfg["sensitivity"]["reps"] or cfg["simulation"]["reps"])


# --------------------------------------------------------------------------- scenarios


def power_scenarios(cfg: dict) -> list[Scenario]:
    """Scenarios of the power stage: ``grid`` crossed with ``pipeline.power_n_per_arm``.

    If the grid varies ``trial.n_per_arm`` itself, its values are used instead.
    Duplicate scenarios (same id) are kept once.
    """
    grid = dict(cfg.get("grid") or {})
    if "trial.n_per_arm" not in grid:
        grid = {"trial.n_per_arm": list(cfg["pipeline"]["power_n_per_arm"]), **grid}
    return _unique(expand_grid({**cfg, "grid": grid}))


def _unique(scenarios: list[Scenario]) -> list[Scenario]:
    seen: set[str] = set()
    out = []
    for s in scenarios:
        if s.id not in seen:
            seen.add(s.id)
            out.append(s)
    return out


def _curve_key(scenario: Scenario) -> str:
    """Short stable hash of a scenario's grid values other than ``trial.n_per_arm``."""
    import hashlib
    import json

    other = [[k, v] for k, v in scenario.grid_values if k != "trial.n_per_arm"]
    return hashlib.sha256(json.dumps(other, sort_keys=True, default=str).encode()).hexdigest()[:8]


def batches(scenarios: Sequence[Scenario], jobs: int) -> dict[str, list[Scenario]]:
    """Power scenarios grouped into about ``jobs`` jobs, keyed by a stable job name.

    A *curve* is the set of scenarios that differ only in ``trial.n_per_arm``.
    With fewer curves than ``jobs``, each curve is split into
    ``ceil(jobs / curves)`` jobs, largest n first to the least loaded job, so
    the jobs cost about the same; with more curves than jobs, whole curves are
    assigned to ``jobs`` jobs by their hash. Job names derive from the curve's
    grid values, so changing one value of a grid key (other than n) reruns only
    the jobs of the curves holding it; changing the n values reruns them all.

    Returns
    -------
    dict
        Job name (``"<curve hash>-<k>"`` or ``"h<k>"``) -> scenarios; no job is empty.

    Examples
    --------
    >>> from vtrial.config import load_config
    >>> cfg = check_config(load_config())
    >>> jobs = batches(power_scenarios(cfg), 4)
    >>> len(jobs), sum(len(g) for g in jobs.values()) == len(power_scenarios(cfg))
    (4, True)
    """
    jobs = max(1, int(jobs))
    curves: dict[str, list[Scenario]] = {}
    for s in scenarios:
        curves.setdefault(_curve_key(s), []).append(s)
    out: dict[str, list[Scenario]] = {}
    if len(curves) >= jobs:
        for key, members in curves.items():
            out.setdefault(f"h{int(key, 16) % jobs}", []).extend(members)
        return dict(sorted(out.items()))
    splits = -(-jobs // len(curves))
    for key, members in curves.items():
        size = {s.id: int(s.config["trial"]["n_per_arm"]) for s in members}
        ordered = sorted(members, key=lambda s: (-size[s.id], s.id))
        load = [0] * min(splits, len(ordered))
        for s in ordered:  # largest first, to the least loaded job (cost ~ n)
            k = load.index(min(load))
            load[k] += size[s.id]
            out.setdefault(f"{key}-{k}", []).append(s)
    return dict(sorted(out.items()))


#: Workflow-only sections, left out of the configs a job receives so that
#: changing one of them reruns only the jobs that read it.
WORKFLOW_SECTIONS = ("pipeline", "sensitivity")


def stage_config(cfg: dict, *keep: str) -> dict:
    """The base case for one stage: no grid, and of the workflow sections only ``keep``.

    Examples
    --------
    >>> from vtrial.config import load_config
    >>> sorted(set(load_config()) - set(stage_config(load_config(), "sensitivity")))
    ['pipeline']
    """
    out = base_config(cfg)
    for section in WORKFLOW_SECTIONS:
        if section not in keep:
            out.pop(section, None)
    return out


def scenario_payload(scenarios: Sequence[Scenario]) -> list[dict]:
    """Plain (picklable, comparable) form of scenarios for a rule's ``params``.

    The configs leave out the workflow sections (:func:`stage_config`).
    """
    return [
        {"id": s.id, "grid": [list(kv) for kv in s.grid_values], "config": stage_config(s.config)}
        for s in scenarios
    ]


def sample_size_scenarios(cfg: dict) -> list[Scenario]:
    """Scenarios of the sample-size stage: the grid without ``trial.n_per_arm``."""
    grid = {k: v for k, v in (cfg.get("grid") or {}).items() if k != "trial.n_per_arm"}
    return _unique(expand_grid({**cfg, "grid": grid}))


def effect_sd_scenarios(cfg: dict) -> list[Scenario]:
    """Heatmap scenarios: ``sensitivity.difference_pct`` x ``sensitivity.sd_pct_change`` at the base n."""
    s = cfg["sensitivity"]
    base = base_config(cfg)
    measurement_floor = math.sqrt(2) * base["measurement"]["bmd_cv_pct"]
    out = []
    for d in s["difference_pct"]:
        for sd in s["sd_pct_change"]:
            if sd <= measurement_floor:
                continue  # impossible: two DXA scans alone give a larger SD
            c = set_key(set_key(base, "effects.difference_pct", d), "effects.sd_pct_change", sd)
            out.append(make_scenario(c, (("effects.difference_pct", d), ("effects.sd_pct_change", sd))))
    return out


def dropout_scenarios(cfg: dict) -> list[Scenario]:
    """Heatmap scenarios: dropout rate (both arms) x mechanism at the base n."""
    s = cfg["sensitivity"]
    base = base_config(cfg)
    out = []
    for rate in s["dropout_rate"]:
        for mech in s["dropout_mechanisms"]:
            c = set_key(base, "dropout.anastrozole", rate)
            c = set_key(set_key(c, "dropout.placebo", rate), "dropout.mechanism", mech)
            out.append(make_scenario(c, (("dropout_rate", rate), ("dropout.mechanism", mech))))
    return out


def tornado_scenarios(cfg: dict) -> list[tuple[str, str, Any, dict]]:
    """One-at-a-time designs of the tornado plot: ``(key, side, value, config)``.

    The base case comes first with key ``"base"``; then for every key of
    ``sensitivity.tornado`` its low and high value, everything else at the base.
    """
    base = base_config(cfg)
    out: list[tuple[str, str, Any, dict]] = [("base", "base", None, base)]
    for key, (low, high) in cfg["sensitivity"]["tornado"].items():
        out.append((key, "low", low, set_key(base, key, low)))
        out.append((key, "high", high, set_key(base, key, high)))
    return out


def run_power_scenarios(
    payload: Sequence[Mapping], *, reps: int, methods: Sequence[str], workers: int = 1
) -> pd.DataFrame:
    """Power table of several scenarios, each run with :func:`vtrial.power.run_power`.

    Adds a column per grid key of each scenario (so tables of different jobs
    stack), and keeps the contract's column order first.
    """
    from vtrial import power

    frames = []
    for item in payload:
        c = copy.deepcopy(item["config"])
        c["analysis"]["methods"] = list(methods)
        c["grid"] = {}
        df = power.run_power(c, reps=reps, workers=workers, methods=list(methods))
        for key, value in item["grid"]:
            df[key] = value if not isinstance(value, list) else str(value)
        df["scenario_id"] = item["id"]
        frames.append(df)
    if not frames:
        return pd.DataFrame(columns=POWER_COLUMNS)
    return pd.concat(frames, ignore_index=True)


#: Power-table columns of the contract (DESIGN.md), before the grid columns.
POWER_COLUMNS = [
    "scenario_id", "method", "n_per_arm", "reps", "alpha", "true_difference_pct", "power",
    "power_se", "power_ci_low", "power_ci_high", "mean_estimate", "bias", "emp_se", "mean_se",
    "rmse", "coverage", "mean_n_analyzed", "analytic_power",
]  # fmt: skip

#: Analysis-result columns of the contract.
ANALYSIS_COLUMNS = [
    "method", "missing", "estimate", "se", "ci_low", "ci_high", "p_value", "df",
    "n_placebo", "n_anastrozole",
]  # fmt: skip


def gather_tables(paths: Sequence[str | Path], sort_by: Sequence[str] = ()) -> pd.DataFrame:
    """Stack the CSV tables of several jobs (empty files skipped), contract columns first."""
    frames = [pd.read_csv(p) for p in paths if Path(p).stat().st_size > 0]
    frames = [f for f in frames if len(f.columns)]
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=POWER_COLUMNS)
    first = [c for c in POWER_COLUMNS if c in table.columns]
    table = table[first + [c for c in table.columns if c not in first]]
    keys = [k for k in sort_by if k in table.columns]
    if keys and len(table):
        table = table.sort_values(keys, kind="stable").reset_index(drop=True)
    return table


def _search_sample_size(
    cfg: dict, target: float, methods: Sequence[str], reps: int, n_max: int, workers: int = 1
):
    """:func:`vtrial.power.sample_size`, or NaN rows when the true difference is 0.

    Under no effect power never reaches a target above alpha, and the search
    would run to ``n_max``; the table then says so at once.
    """
    from vtrial import power
    from vtrial.trial import implied_effects

    if implied_effects(cfg).difference_pct == 0:
        return pd.DataFrame({
            "scenario_id": "", "method": list(methods), "target_power": float(target),
            "n_per_arm": float("nan"), "power": float("nan"), "power_se": float("nan"),
            "reps": int(reps), "note": "no true difference: no n reaches the target",
        })  # fmt: skip
    return power.sample_size(
        cfg, float(target), methods=list(methods), reps=int(reps), n_max=int(n_max), workers=int(workers)
    )


def sample_size_table(
    payload: Sequence[Mapping],
    *,
    targets: Sequence[float],
    methods: Sequence[str],
    reps: int,
    n_max: int = 1000,
    workers: int = 1,
) -> pd.DataFrame:
    """n per arm for each target power, method and scenario (:func:`vtrial.power.sample_size`).

    ``n_per_arm`` is NaN where the target is not reached by ``n_max`` men per arm.
    """
    frames = []
    for item in payload:
        c = copy.deepcopy(item["config"])
        c["simulation"]["reps"] = int(reps)
        c["analysis"]["methods"] = list(methods)
        c["grid"] = {}
        for target in targets:
            df = _search_sample_size(c, target, methods, reps, n_max, workers)
            for key, value in item["grid"]:
                df[key] = value
            frames.append(df)
    return pd.concat(frames, ignore_index=True)


def tornado_table(cfg: dict) -> pd.DataFrame:
    """n per arm for ``sensitivity.tornado_power`` at the base case and each one-at-a-time change.

    Returns
    -------
    pandas.DataFrame
        ``key, side, value, n_per_arm, power, power_se`` (``key == "base"`` for the base case).
    """
    s = cfg["sensitivity"]
    rows = []
    for key, side, value, c in tornado_scenarios(cfg):
        c = stage_config(c)
        c["analysis"]["methods"] = [s["method"]]
        reps = sensitivity_reps(cfg)
        df = _search_sample_size(c, s["tornado_power"], [s["method"]], reps, s["max_n_per_arm"])
        r = df.iloc[0]
        rows.append({
            "key": key, "side": side, "value": value, "n_per_arm": r["n_per_arm"],
            "power": r.get("power", float("nan")), "power_se": r.get("power_se", float("nan")),
        })  # fmt: skip
    return pd.DataFrame(rows)


def example_analysis(data: pd.DataFrame, cfg: dict, methods: Sequence[str] = ()) -> pd.DataFrame:
    """One trial analysed by every method (``analysis.missing``), and by the main method
    (``sensitivity.method`` if present, else the first of ``analysis.methods``) under every
    missing-data strategy it allows. Randomness as ``vtrial analyze`` (chunk 1 of the scenario).
    """
    from vtrial.analysis import METHODS, run_methods
    from vtrial.analysis.missing import STRATEGIES
    from vtrial.config import method_options, scenario_id
    from vtrial.streams import seed_sequence

    a = cfg["analysis"]
    methods = list(methods) or list(METHODS)
    seed = seed_sequence(cfg["seed"], scenario_id(cfg), 1)
    common = dict(alpha=a["alpha"], scale=a["scale"], rng=seed)
    opts = method_options(cfg, methods)
    frames = [run_methods(data, methods, missing=a["missing"], options=opts, **common)]
    main = cfg.get("sensitivity", {}).get("method") or a["methods"][0]
    for strategy in STRATEGIES:
        if strategy == a["missing"]:
            continue
        try:
            opts = method_options(cfg, [main])
            frames.append(run_methods(data, [main], missing=strategy, options=opts, **common))
        except InputError:
            continue  # this method does not take this strategy
    return pd.concat(frames, ignore_index=True)


def replication_table(cfg: dict, reps: int) -> pd.DataFrame:
    """Between-group P and estimate in ``reps`` replications of the base design.

    P is the paper's analysis (pooled two-sample t-test on the 12-month BMD change
    in g/cm2 among completers, as in :mod:`vtrial.calibration`); the estimate is
    the difference in mean 12-month % change among completers (percentage points).
    Randomness: chunk 3 of the base scenario.
    """
    from vtrial.calibration import simulated_statistics
    from vtrial.config import scenario_id
    from vtrial.streams import rng_for

    base = base_config(cfg)
    stats = simulated_statistics(base, int(reps), rng=rng_for(base["seed"], scenario_id(base), 3))
    return pd.DataFrame({
        "replicate": np.arange(len(stats)),
        "estimate": stats["bmd_pct_change|anastrozole|12|mean"] - stats["bmd_pct_change|placebo|12|mean"],
        "p_value": stats["bmd_change_g_cm2|difference|12|p_value"],
        "n_placebo": stats["completers|placebo|12|count"].astype(int),
        "n_anastrozole": stats["completers|anastrozole|12|count"].astype(int),
    })  # fmt: skip


def tipping_example(data: pd.DataFrame, cfg: dict) -> pd.DataFrame:
    """Two-arm tipping-point grid of one trial (long format), as :func:`tipping_grid`.

    Randomness: chunk 1 of the base scenario, as for the example trial's analysis.
    """
    from vtrial.analysis.data import to_wide
    from vtrial.config import scenario_id
    from vtrial.streams import rng_for

    a = cfg["analysis"]
    covariates = tuple(a["covariates"])
    wide = to_wide(data, covariates)
    return tipping_grid(
        wide, cfg["sensitivity"]["tipping_delta_pct"], method=cfg["sensitivity"]["method"],
        alpha=a["alpha"], n_imputations=a["imputations"], covariates=covariates,
        rng=rng_for(cfg["seed"], scenario_id(cfg), 1),
    )  # fmt: skip


# --------------------------------------------------------------------------- tipping point


def wide_from_arrays(arrays, replicate: int) -> pd.DataFrame:
    """Per-man table (``arm, bmd0, bmd6, bmd12``) of one replicate of :class:`TrialArrays`."""
    bmd = arrays.bmd_g_cm2[replicate]
    return pd.DataFrame({
        "arm": np.where(arrays.anastrozole[replicate], "anastrozole", "placebo"),
        "bmd0": bmd[:, 0], "bmd6": bmd[:, 1], "bmd12": bmd[:, 2],
    })  # fmt: skip


def _fit_many(method: str, y: np.ndarray, wide: pd.DataFrame, covariates: Sequence[str] = ()):
    """Estimate, SE and df of ``method`` for every outcome vector in ``y`` (..., n), at once.

    The t-tests and ANCOVA as in :mod:`vtrial.analysis` (a test compares them).
    Returns three arrays of shape ``y.shape[:-1]``.
    """
    a = wide["arm"].to_numpy() == "anastrozole"
    n_a, n_p = float(a.sum()), float((~a).sum())
    if method in ("student_t", "welch_t"):
        ya, yp = y[..., a], y[..., ~a]
        ma, mp = ya.mean(axis=-1), yp.mean(axis=-1)
        va, vp = ya.var(axis=-1, ddof=1), yp.var(axis=-1, ddof=1)
        if method == "student_t":
            pooled = ((n_a - 1) * va + (n_p - 1) * vp) / (n_a + n_p - 2)
            se = np.sqrt(pooled * (1 / n_a + 1 / n_p))
            df = np.full_like(se, n_a + n_p - 2)
        else:
            qa, qp = va / n_a, vp / n_p
            se = np.sqrt(qa + qp)
            df = (qa + qp) ** 2 / (qa**2 / (n_a - 1) + qp**2 / (n_p - 1))
        return ma - mp, se, df
    if method == "ancova":
        cols = [np.ones(len(a)), a.astype(float), wide["bmd0"].to_numpy(float)]
        cols += [wide[c].to_numpy(float) for c in covariates]
        x = np.column_stack(cols)
        shape = y.shape[:-1]
        yy = y.reshape(-1, y.shape[-1]).T  # n x K
        xtx_inv = np.linalg.inv(x.T @ x)
        beta = xtx_inv @ (x.T @ yy)
        resid = yy - x @ beta
        dof = x.shape[0] - x.shape[1]
        sigma2 = (resid**2).sum(axis=0) / dof
        se = np.sqrt(sigma2 * xtx_inv[1, 1])
        return beta[1].reshape(shape), se.reshape(shape), np.full(shape, float(dof))
    raise InputError(
        f"tipping point: method {method!r} is not supported (allowed: student_t, welch_t, ancova)"
    )


def rubin_pool_many(q: np.ndarray, u: np.ndarray, dfcom: np.ndarray):
    """:func:`vtrial.analysis.missing.rubin_pool` along the last axis (M imputations), vectorised.

    Returns ``(qbar, t, df)`` arrays: pooled estimate, total variance, Barnard-Rubin df.
    """
    m = q.shape[-1]
    qbar = q.mean(axis=-1)
    ubar = u.mean(axis=-1)
    b = q.var(axis=-1, ddof=1)
    t = ubar + (1.0 + 1.0 / m) * b
    lam = np.maximum((1.0 + 1.0 / m) * b / t, 1e-4)
    df_old = (m - 1) / lam**2
    dfcom = np.asarray(dfcom, dtype=float)
    finite = np.where(np.isinf(dfcom), 1.0, dfcom)
    df_obs = (finite + 1.0) / (finite + 3.0) * finite * (1.0 - lam)
    df = np.where(np.isinf(dfcom), df_old, df_old * df_obs / (df_old + df_obs))
    return qbar, t, df


def tipping_grid(
    wide: pd.DataFrame,
    deltas: Sequence[float],
    *,
    method: str = "ancova",
    alpha: float = 0.05,
    n_imputations: int = 20,
    covariates: Sequence[str] = (),
    direction: float | None = None,
    rng=None,
) -> pd.DataFrame:
    """Delta-adjusted multiple imputation over a grid of shifts in both arms.

    The missing 12-month % changes are imputed once under MAR (normal
    regression by arm, :func:`vtrial.analysis.missing.impute_changes`), then for
    every pair ``(delta_anastrozole, delta_placebo)`` the imputed values of each
    arm are shifted by its delta (percentage points), each completed data set is
    analysed and the results pooled by Rubin's rules. Shifting one arm only
    reproduces the ``delta_mnar`` strategy of the analysis module exactly (same
    draws), which is what a tipping-point analysis needs in two dimensions.

    The conclusion *holds* where the result is significant at ``alpha`` in the
    direction ``direction`` (the sign of the unshifted estimate if ``None``).

    Returns
    -------
    pandas.DataFrame
        One row per pair: ``delta_anastrozole, delta_placebo, estimate, se,
        ci_low, ci_high, p_value, df, holds``.
    """
    from scipy import stats

    from vtrial.analysis.missing import impute_changes

    completed, included = impute_changes(
        wide, scale="pct", covariates=covariates, n_imputations=n_imputations, rng=rng
    )
    sub = wide.loc[included].reset_index(drop=True)
    b0 = sub["bmd0"].to_numpy(float)
    y12 = 100.0 * (sub["bmd12"].to_numpy(float) - b0) / b0
    imputed = np.isnan(y12)
    is_a = sub["arm"].to_numpy() == "anastrozole"
    if direction is None:
        est0, *_ = _fit_many(method, completed, sub, covariates)
        direction = float(np.sign(est0.mean()))
    pairs = np.array([(da, dp) for da in deltas for dp in deltas], dtype=float)  # C x 2
    shift = np.where(imputed, np.where(is_a, pairs[:, :1], pairs[:, 1:]), 0.0)  # C x n
    est, se, df = _fit_many(method, completed[None, :, :] + shift[:, None, :], sub, covariates)
    if imputed.any():
        q, t, d = rubin_pool_many(est, se**2, df.mean(axis=-1))
        s = np.sqrt(t)
    else:
        q, s, d = est[:, 0], se[:, 0], df[:, 0]
    crit = stats.t.ppf(1.0 - alpha / 2.0, d)
    p = 2.0 * stats.t.sf(np.abs(q / s), d)
    holds = (p < alpha) & (np.sign(q) == direction)
    rows = zip(pairs[:, 0], pairs[:, 1], q, s, q - crit * s, q + crit * s, p, d, holds, strict=True)
    return pd.DataFrame(
        rows,
        columns=["delta_anastrozole", "delta_placebo", "estimate", "se", "ci_low", "ci_high",
                 "p_value", "df", "holds"],
    )  # fmt: skip


def tipping_design(cfg: dict, *, reps: int, rng) -> pd.DataFrame:
    """Tipping-point grid for the planned design: share of trials still significant.

    Simulates ``reps`` trials of the base case, runs :func:`tipping_grid` on each
    and reports, per pair of shifts, the proportion of trials whose conclusion
    holds (significant at ``analysis.alpha`` in the direction of the assumed
    difference) as ``power``, with its Monte Carlo SE, and the mean estimate.
    """
    from vtrial.trial import simulate_arrays

    base = base_config(cfg)
    deltas = cfg["sensitivity"]["tipping_delta_pct"]
    arrays = simulate_arrays(base, reps, rng=rng, covariates=bool(base["analysis"]["covariates"]))
    gen = np.random.default_rng(rng)
    direction = float(np.sign(base["effects"]["difference_pct"])) or -1.0
    tables = []
    for r in range(reps):
        wide = wide_from_arrays(arrays, r)
        for c in base["analysis"]["covariates"]:
            wide[c] = (
                getattr(arrays, c)[r] if c in ("age_years", "bmi_kg_m2") else getattr(arrays, c)[r, :, 0]
            )
        try:
            t = tipping_grid(
                wide, deltas, method=cfg["sensitivity"]["method"], alpha=base["analysis"]["alpha"],
                n_imputations=base["analysis"]["imputations"], covariates=base["analysis"]["covariates"],
                direction=direction, rng=gen,
            )  # fmt: skip
        except Exception:  # an arm too small to impute: this trial cannot be analysed
            continue
        tables.append(t[["delta_anastrozole", "delta_placebo", "estimate", "holds"]])
    if not tables:
        raise InputError("tipping point: no simulated trial of the planned design could be imputed")
    allt = pd.concat(tables, ignore_index=True)
    out = allt.groupby(["delta_anastrozole", "delta_placebo"], as_index=False).agg(
        power=("holds", "mean"), mean_estimate=("estimate", "mean")
    )
    out["reps"] = len(tables)
    out["power_se"] = np.sqrt(out["power"] * (1 - out["power"]) / out["reps"])
    return out


def tipping_points(grid: pd.DataFrame, column: str, threshold: float = 0.5) -> pd.DataFrame:
    """Per arm and direction, the first shift (from 0 outward) where the conclusion is lost.

    The other arm's shift stays at 0. The conclusion holds while
    ``grid[column] > threshold`` (``holds`` of one trial, or ``power`` of a
    design). Returns ``arm, direction, tipping_delta`` (NaN if it never tips
    within the grid).

    Examples
    --------
    >>> g = pd.DataFrame({"delta_anastrozole": [0, 2, 4, 0, 0], "delta_placebo": [0, 0, 0, 2, 4],
    ...                   "holds": [1, 1, 0, 1, 1]})
    >>> tipping_points(g, "holds").query("direction == 'positive'")["tipping_delta"].tolist()
    [4.0, nan]
    """
    rows = []
    for arm, other in (("anastrozole", "placebo"), ("placebo", "anastrozole")):
        line = grid[grid[f"delta_{other}"] == 0].sort_values(f"delta_{arm}")
        for direction, part in (("positive", line[line[f"delta_{arm}"] >= 0]),
                                ("negative", line[line[f"delta_{arm}"] <= 0].iloc[::-1])):  # fmt: skip
            lost = part.loc[~(part[column].astype(float) > threshold).to_numpy(), f"delta_{arm}"]
            rows.append((arm, direction, float(lost.iloc[0]) if len(lost) else float("nan")))
    return pd.DataFrame(rows, columns=["arm", "direction", "tipping_delta"])


# --------------------------------------------------------------------------- summary


def _is_published_design(cfg: dict) -> bool:
    """Whether the base case generates data as the packaged default (the 2009 trial) does."""
    from vtrial.config import DATA_SECTIONS, default_config

    base, ref = base_config(cfg), default_config()
    return all(base[k] == ref[k] for k in DATA_SECTIONS)


def _missing(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def _fmt_n(x) -> str:
    return "not reached" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{int(x)}"


def summary_markdown(
    cfg: dict,
    *,
    sample_size: pd.DataFrame,
    tornado: pd.DataFrame,
    tipping_example: pd.DataFrame | None = None,
    tipping_design_table: pd.DataFrame | None = None,
    calibration: pd.DataFrame | None = None,
    replication: pd.DataFrame | None = None,
) -> str:
    """Key numbers in sentences a study team can paste into a protocol.

    Parameters
    ----------
    cfg : dict
        The validated configuration (base case = ``cfg`` without its grid).
    sample_size : DataFrame
        ``results/sample_size/sample_size.csv`` (columns ``method, target_power,
        n_per_arm`` and the grid keys).
    tornado : DataFrame
        ``results/sensitivity/tornado.csv``.
    tipping_example, tipping_design_table, calibration, replication : DataFrame, optional
        The corresponding results tables.
    """
    b = base_config(cfg)
    e, d, a = b["effects"], b["dropout"], b["analysis"]
    s = cfg["sensitivity"]
    method = s["method"]
    lines = ["# vtrial summary", ""]
    lines.append("## Assumptions")
    lines.append("")
    lines.append(
        f"We assume a mean 12-month change in PA spine BMD of {e['placebo_pct_change']:+.2f}% on "
        f"placebo and a difference of {e['difference_pct']:+.2f} percentage points with anastrozole "
        f"(anastrozole minus placebo), with a within-arm SD of the observed 12-month % change of "
        f"{e['sd_pct_change']:.2f} percentage points (DXA precision error "
        f"{b['measurement']['bmd_cv_pct']:.1f}% CV included) and a correlation of "
        f"{e['baseline_corr']:+.2f} between baseline BMD and the change. We expect "
        f"{100 * d['anastrozole']:.0f}% of men on anastrozole and {100 * d['placebo']:.0f}% on "
        f"placebo not to complete month 12 ({d['mechanism']} dropout). The analysis is "
        f"{method} on the 12-month % change ({a['missing'].replace('_', ' ')}), two-sided "
        f"alpha {a['alpha']:g}, allocation anastrozole:placebo {b['trial']['allocation_ratio']:g}:1."
    )
    lines.append("")
    lines.append("## Sample size")
    lines.append("")
    ss = _base_rows(sample_size, cfg)
    max_n = s.get("max_n_per_arm", "the search limit")
    for target in s["target_power"]:
        rows = ss[np.isclose(ss["target_power"], target)]
        if rows.empty:
            continue
        main = rows[rows["method"] == method]
        if not main.empty:
            r = main.iloc[0]
            if _missing(r["n_per_arm"]):
                lines.append(
                    f"- {100 * target:.0f}% power with {method} is not reached with up to {max_n} men "
                    "per arm (or there is no true difference to detect)."
                )
            else:
                lines.append(
                    f"- For {100 * target:.0f}% power with {method}, {_fmt_n(r['n_per_arm'])} men per "
                    f"arm need to be randomized (simulated power at that n: {_fmt_power(r)})."
                )
        others = rows[rows["method"] != method]
        if not others.empty:
            parts = ", ".join(
                f"{m} {_fmt_n(n)}" for m, n in zip(others["method"], others["n_per_arm"], strict=True)
            )
            lines.append(f"  Other analyses need, per arm: {parts}.")
    lines.append("")
    lines.append("## How fragile that number is")
    lines.append("")
    tor = tornado[tornado["key"] != "base"].copy()
    base_n = tornado.loc[tornado["key"] == "base", "n_per_arm"]
    if len(base_n) and not _missing(base_n.iloc[0]):
        same = ss[np.isclose(ss["target_power"], s["tornado_power"]) & (ss["method"] == method)]
        note = ""
        if (
            len(same)
            and not _missing(same["n_per_arm"].iloc[0])
            and same["n_per_arm"].iloc[0] != base_n.iloc[0]
        ):
            note = (
                f" (the sample-size table says {_fmt_n(same['n_per_arm'].iloc[0])}: the tornado's searches "
                "draw their own random numbers, and the two differ by Monte Carlo error)"
            )
        lines.append(
            f"At the base case, {_fmt_n(base_n.iloc[0])} men per arm give "
            f"{100 * s['tornado_power']:.0f}% power with {method}{note}. Moving one assumption at a time:"
        )
        lines.append("")
        tor["swing"] = (tor["n_per_arm"] - float(base_n.iloc[0])).abs()
        order = tor.groupby("key")["swing"].max().sort_values(ascending=False).index
        for key in order:
            lo = tor[(tor["key"] == key) & (tor["side"] == "low")].iloc[0]
            hi = tor[(tor["key"] == key) & (tor["side"] == "high")].iloc[0]
            lines.append(
                f"- `{key}` from {lo['value']} to {hi['value']}: {_fmt_n(lo['n_per_arm'])} to "
                f"{_fmt_n(hi['n_per_arm'])} men per arm."
            )
    elif len(base_n):
        lines.append(
            f"At the base case, {100 * s['tornado_power']:.0f}% power with {method} is not reached "
            f"with up to {max_n} men per arm, so there is no sample size to be fragile."
        )
    if tipping_design_table is not None and len(tipping_design_table):
        reps = int(tipping_design_table["reps"].iloc[0])
        zero = tipping_design_table[
            (tipping_design_table["delta_anastrozole"] == 0) & (tipping_design_table["delta_placebo"] == 0)
        ]
        p0 = float(zero["power"].iloc[0]) if len(zero) else float("nan")
        lines.append("")
        if p0 < 0.5:
            lines.append(
                f"Tipping point of the planned design ({reps} simulated trials): even with dropouts "
                f"missing at random, only {100 * p0:.0f}% of trials reach a significant result in "
                "the assumed direction, so there is no conclusion to tip."
            )
        else:
            tp = tipping_points(tipping_design_table, "power", 0.5)
            found = tp[tp["tipping_delta"].notna()]
            if len(found):
                lines.append(
                    "Tipping point of the planned design (delta-adjusted multiple imputation, "
                    f"{reps} simulated trials; {100 * p0:.0f}% significant under MAR): the "
                    "conclusion is lost in most trials when the imputed 12-month changes of dropouts "
                    "are shifted by "
                    + "; ".join(f"{r.tipping_delta:+g} points in the {r.arm} arm" for r in found.itertuples())
                    + " (the other arm unshifted)."
                )
            else:
                lines.append(
                    f"Tipping point of the planned design ({reps} simulated trials): no shift in the "
                    f"grid ({min(s['tipping_delta_pct']):g} to {max(s['tipping_delta_pct']):g} points) "
                    "takes the share of significant trials below one half."
                )
    if tipping_example is not None and len(tipping_example):
        zero = tipping_example[
            (tipping_example["delta_anastrozole"] == 0) & (tipping_example["delta_placebo"] == 0)
        ]
        lines.append("")
        if len(zero) and not bool(zero["holds"].iloc[0]):
            lines.append(
                f"The simulated example trial is not significant under MAR (P = {float(zero['p_value'].iloc[0]):.2g})."
            )
        else:
            tp = tipping_points(tipping_example, "holds", 0.5)
            found = tp[tp["tipping_delta"].notna()]
            if len(found):
                lines.append(
                    "In the simulated example trial, the result stops being significant when imputed "
                    "values are shifted by "
                    + "; ".join(f"{r.tipping_delta:+g} points in the {r.arm} arm" for r in found.itertuples())
                    + "."
                )
            else:
                lines.append("In the simulated example trial, no shift in the grid changes the conclusion.")
    published_design = _is_published_design(cfg)
    if replication is not None and len(replication):
        frac = float((replication["p_value"] <= PUBLISHED_P).mean())
        sig = float((replication["p_value"] < a["alpha"]).mean())
        lines.append("")
        lines.append("## The 2009 trial as one draw")
        lines.append("")
        lines.append(
            f"Over {len(replication)} simulated replications of the "
            + (
                "published design, "
                if published_design
                else "base design of this config (not the 2009 one), "
            )
            + f"{100 * sig:.1f}% reached P < {a['alpha']:g} and {100 * frac:.1f}% reached "
            f"P <= {PUBLISHED_P} (the published value); median P {replication['p_value'].median():.2g}."
        )
    if calibration is not None and len(calibration):
        lines.append("")
        lines.append(
            f"Calibration: {int(calibration['inside'].sum())} of {len(calibration)} published figures "
            "of the 2009 trial lie inside their simulated 95% range (results/calibration/)"
            + (
                "."
                if published_design
                else "; the base design of this config differs from the 2009 trial, so this compares "
                "the planned trial with the published one rather than checking the model."
            )
        )
    lines.append("")
    return "\n".join(lines)


def _fmt_power(row) -> str:
    p = row.get("power", float("nan"))
    se = row.get("power_se", float("nan"))
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "n/a"
    return f"{100 * p:.1f}% ± {100 * se:.1f}" if se == se else f"{100 * p:.1f}%"


def _base_rows(table: pd.DataFrame, cfg: dict) -> pd.DataFrame:
    """Rows of a per-scenario table at the base case (grid keys at their base value, if present)."""
    out = table
    b = base_config(cfg)
    for key in cfg.get("grid") or {}:
        if key in out.columns and key != "trial.n_per_arm":
            value = get_key(b, key)
            match = out[key] == value
            if match.any():
                out = out[match]
            else:
                first = out[key].iloc[0] if len(out) else None
                out = out[out[key] == first]
    return out


# --------------------------------------------------------------------------- job logs


class JobTimer:
    """Phases of one workflow job, written to its log as ``TIMING`` lines.

    ``startup`` is the time from the process start (Python, Snakemake's script
    preamble, numpy and pandas) to the first line of the script.
    """

    def __init__(self, stream) -> None:
        import time

        self._stream = stream
        self.phases: dict[str, float] = {}
        self.started = time.time()
        try:
            import psutil

            self.started = psutil.Process().create_time()
            self.phases["startup"] = max(0.0, time.time() - self.started)
        except Exception:  # pragma: no cover - psutil comes with snakemake
            pass
        self._t0 = time.perf_counter()

    def phase(self, name: str):
        """Context manager adding the elapsed wall time to phase ``name``."""
        import contextlib
        import time

        @contextlib.contextmanager
        def timed():
            t = time.perf_counter()
            try:
                yield
            finally:
                self.phases[name] = self.phases.get(name, 0.0) + time.perf_counter() - t

        return timed()

    def log(self, message: str) -> None:
        """Write one line to the job log."""
        print(message, file=self._stream, flush=True)


def job_log(path: str | Path):
    """Context manager sending stdout and stderr of a workflow job to its log file.

    Yields a :class:`JobTimer`; on exit writes ``TIMING {json}`` with the
    seconds spent per phase, which ``benchmarks/pipeline_bench.py`` collects.
    """
    import contextlib
    import json
    import sys
    import time
    import traceback

    @contextlib.contextmanager
    def ctx():
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", encoding="utf-8") as fh:
            timer = JobTimer(fh)
            t0 = time.perf_counter()
            with contextlib.redirect_stdout(fh), contextlib.redirect_stderr(fh):
                try:
                    yield timer
                except Exception:
                    traceback.print_exc(file=fh)
                    raise
                finally:
                    timer.phases["script"] = time.perf_counter() - t0
                    record = {k: round(v, 4) for k, v in timer.phases.items()}
                    record["started"], record["ended"] = round(timer.started, 3), round(time.time(), 3)
                    fh.write("TIMING " + json.dumps(record) + "\n")
            sys.stderr.flush()

    return ctx()
