"""Helpers of the Snakemake workflow: scenarios, jobs, the keys each job reads, stages.

The workflow (``workflow/``) stays thin: every decision it needs — which
scenarios exist, which job computes which scenario, which config keys a job
receives (so that changing a key reruns only the jobs that read it), which
configurations a heatmap or a tornado plot evaluates — is made here, where it
can be tested without Snakemake. The statistics live in the package
(:mod:`vtrial.power`, :mod:`vtrial.analysis`, :mod:`vtrial.analysis.tipping`);
the text of ``results/summary.md`` and the report pages in :mod:`vtrial.report`.

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
from vtrial.keys import check_variable_key

#: Mappings whose keys are free (config keys): a config file that sets one
#: replaces it whole, as ``vtrial --config`` does, instead of Snakemake's deep merge.
FREE_KEY_MAPPINGS = ("grid", "sensitivity.tornado")


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
        check_variable_key(key, "grid")
    base = base_config(cfg)
    for key, values in cfg["sensitivity"]["tornado"].items():
        check_variable_key(key, "sensitivity.tornado")
        try:
            get_key(base, key)
        except InputError as exc:
            raise InputError(f"config key 'sensitivity.tornado.{key}': {exc}") from None
        for value in values:
            try:
                validate_config(set_key(base, key, value))
            except InputError as exc:
                raise InputError(f"tornado range for '{key}': {exc}") from None
    if omitted_stages(cfg):  # a design: refuse now what its power jobs could not do
        from vtrial.design import design_of
        from vtrial.design_power import check_methods

        check_methods(base, power_methods(cfg), design_of(base))
    comparison = sample_size_comparison(cfg)
    if comparison is not None:  # an unknown row would fail every sample-size job
        from vtrial.design import design_of
        from vtrial.design_power import search_rows

        try:
            search_rows(design_of(base), comparison)
        except InputError as exc:
            raise InputError(f"config key 'pipeline.sample_size_comparison': {exc}") from None
    return cfg


def base_config(cfg: dict) -> dict:
    """The base case: ``cfg`` without its grid (a fresh copy)."""
    out = copy.deepcopy(cfg)
    out["grid"] = {}
    return out


def power_methods(cfg: dict) -> list[str]:
    """Methods of the power and sample-size stages (``pipeline.power_methods`` or ``analysis.methods``).

    For a design other than the two-arm one, methods taken from
    ``analysis.methods`` that its power engine cannot run are left out
    (:func:`skipped_methods`; summary.md says so); methods named in
    ``pipeline.power_methods`` are kept, and :func:`check_config` refuses them
    if the design cannot run them.
    """
    if cfg["pipeline"]["power_methods"] or not omitted_stages(cfg):
        return list(cfg["pipeline"]["power_methods"] or cfg["analysis"]["methods"])
    skipped = skipped_methods(cfg)
    return [m for m in cfg["analysis"]["methods"] if m not in skipped]


def skipped_methods(cfg: dict) -> dict[str, str]:
    """Methods of ``analysis.methods`` a design's power stage leaves out, each with the reason.

    Empty for the two-arm design and when ``pipeline.power_methods`` names the methods.

    Examples
    --------
    >>> from vtrial.config import load_config, set_key
    >>> arms = [{"name": "placebo"}, {"name": "daily"}, {"name": "weekly"}]
    >>> cfg = set_key(set_key(load_config(), "trial.arms", arms), "trial.block_sizes", [6])
    >>> skipped_methods(set_key(cfg, "analysis.multiplicity", "dunnett"))
    {'mann_whitney': 'not available for designs', 'welch_t': 'Dunnett needs a pooled variance'}
    """
    if cfg["pipeline"]["power_methods"] or not omitted_stages(cfg):
        return {}
    from vtrial.design import design_of
    from vtrial.design_power import split_methods

    _, unsupported = split_methods(cfg["analysis"]["methods"])
    out = dict.fromkeys(unsupported, "not available for designs")
    if design_of(base_config(cfg)).multiplicity == "dunnett" and "welch_t" in cfg["analysis"]["methods"]:
        out["welch_t"] = "Dunnett needs a pooled variance"
    return out


def sample_size_comparison(cfg: dict) -> str | None:
    """The power row the sample-size stage drives to each target (``pipeline.sample_size_comparison``).

    None (the key absent or null) means ``each`` for a design: every pairwise
    comparison reaches the target (:func:`vtrial.design_power.search_rows`);
    the two-arm trial has one comparison, so every rule gives its one row.

    Examples
    --------
    >>> from vtrial.config import load_config
    >>> sample_size_comparison(load_config()) is None
    True
    """
    return (cfg.get("pipeline") or {}).get("sample_size_comparison")


def sensitivity_reps(cfg: dict) -> int:
    """Replicates per sensitivity scenario (``sensitivity.reps`` or ``simulation.reps``)."""
    return int(cfg["sensitivity"]["reps"] or cfg["simulation"]["reps"])


# --------------------------------------------------------------------------- scenarios


def power_scenarios(cfg: dict) -> list[Scenario]:
    """Scenarios of the power stage: ``grid`` crossed with ``pipeline.power_n_per_arm``.

    If the grid varies ``trial.n_per_arm`` itself, its values are used instead.
    A design other than the two-arm one also gets its planned ``trial.n_per_arm``
    (summary.md states the power there). Duplicate scenarios (the same
    configuration) are kept once.
    """
    grid = dict(cfg.get("grid") or {})
    if "trial.n_per_arm" not in grid:
        sizes = list(cfg["pipeline"]["power_n_per_arm"])
        if omitted_stages(cfg):
            sizes = sorted({*sizes, int(cfg["trial"]["n_per_arm"])})
        grid = {"trial.n_per_arm": sizes, **grid}
    return _unique(expand_grid({**cfg, "grid": grid}))


def _unique(scenarios: list[Scenario]) -> list[Scenario]:
    # By the whole configuration, not the id: the id covers the data-generating
    # sections only, and a grid over an analysis key keeps it.
    seen: set[str] = set()
    out = []
    for s in scenarios:
        if s.config_json not in seen:
            seen.add(s.config_json)
            out.append(s)
    return out


def _values_hash(values) -> str:
    """Short stable hash of grid values (8 hex digits)."""
    import hashlib
    import json

    return hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()[:8]


def _curve_key(scenario: Scenario) -> str:
    """Short stable hash of a scenario's grid values other than ``trial.n_per_arm``."""
    return _values_hash([[k, v] for k, v in scenario.grid_values if k != "trial.n_per_arm"])


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
    """The base case for one stage: no grid, and of the workflow sections only what ``keep`` names.

    A job's ``params`` hold exactly the configuration it reads, so that Snakemake
    reruns it when, and only when, one of those values changes. ``keep`` names
    whole workflow sections (``"sensitivity"``) or single keys of them
    (``"sensitivity.tornado_power"``); the study sections are always kept.

    Examples
    --------
    >>> from vtrial.config import load_config
    >>> sorted(set(load_config()) - set(stage_config(load_config(), "sensitivity")))
    ['pipeline']
    >>> stage_config(load_config(), "sensitivity.method")["sensitivity"]
    {'method': 'ancova'}
    """
    out = base_config(cfg)
    for section in WORKFLOW_SECTIONS:
        whole = out.pop(section, None)
        if section in keep:
            out[section] = whole
            continue
        picked = {k.split(".", 1)[1]: whole[k.split(".", 1)[1]] for k in keep if k.startswith(f"{section}.")}
        if picked:
            out[section] = picked
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


def scenario_key(scenario: Scenario) -> str:
    """Stable name of a scenario's jobs and files: its id, plus a hash of any non-data grid values.

    The id (:func:`vtrial.config.scenario_id`) covers the data-generating
    sections only, so two scenarios that differ in an ``analysis`` key (e.g. a
    grid over ``analysis.alpha``) get the hash of those values appended.
    """
    from vtrial.config import DATA_SECTIONS

    other = [[k, v] for k, v in scenario.grid_values if k.split(".")[0] not in DATA_SECTIONS]
    return f"{scenario.id}-{_values_hash(other)}" if other else scenario.id


def sample_size_jobs(cfg: dict) -> dict[str, dict]:
    """One sample-size job per scenario, keyed by its :func:`scenario_key`.

    Each job searches the n per arm of every method of :func:`power_methods`
    for every target power of ``sensitivity.target_power`` (each method on its
    own simulation, :func:`sample_size_table`). Its name derives from the
    scenario's grid values, so changing one grid value reruns only that
    scenario's job; one job for all methods pays one process start-up instead
    of one per method.

    Returns
    -------
    dict
        Job name -> ``{"scenario": payload item, "methods": list of str}``
        (payload as :func:`scenario_payload`).

    Examples
    --------
    >>> from vtrial.config import load_config
    >>> cfg = check_config(load_config(overrides=["analysis.methods=[ancova, welch_t]"]))
    >>> [job["methods"] for job in sample_size_jobs(cfg).values()]
    [['ancova', 'welch_t']]
    """
    scenarios = sample_size_scenarios(cfg)
    methods = power_methods(cfg)
    return {
        scenario_key(s): {"scenario": item, "methods": list(methods)}
        for s, item in zip(scenarios, scenario_payload(scenarios), strict=True)
    }


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
        return pd.DataFrame(columns=power.POWER_COLUMNS)
    return pd.concat(frames, ignore_index=True)


def gather_tables(
    paths: Sequence[str | Path], sort_by: Sequence[str] = (), first: Sequence[str] = ()
) -> pd.DataFrame:
    """Stack the CSV tables of several jobs (empty files skipped).

    Columns named in ``first`` (e.g. :data:`vtrial.power.POWER_COLUMNS`) come
    first, in that order; rows are sorted by the ``sort_by`` columns present.
    """
    frames = [pd.read_csv(p) for p in paths if Path(p).stat().st_size > 0]
    frames = [f for f in frames if len(f.columns)]
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(first))
    lead = [c for c in first if c in table.columns]
    table = table[lead + [c for c in table.columns if c not in lead]]
    keys = [k for k in sort_by if k in table.columns]
    if keys and len(table):
        table = table.sort_values(keys, kind="stable").reset_index(drop=True)
    return table


def _no_true_difference(cfg: dict) -> bool:
    """Whether every true difference of the design is 0 (no comparison can reach a target power).

    A design with one comparison (or endpoint) of difference 0 among others is
    searched: the rule ``any`` can still be reached, and ``each``/``all`` are
    not reached by ``sensitivity.max_n_per_arm`` (n per arm NaN).
    """
    from vtrial.design import is_default

    if is_default(cfg):
        from vtrial.trial import implied_effects

        return implied_effects(cfg).difference_pct == 0
    from vtrial.design_sim import true_differences

    return all(v == 0 for v in true_differences(cfg).values())


def _search_sample_size(
    cfg: dict,
    target: float,
    methods: Sequence[str],
    reps: int,
    n_max: int,
    workers: int = 1,
    comparison: str | None = None,
):
    """:func:`vtrial.power.sample_size`, or NaN rows when there is no true difference.

    Under no effect power never reaches a target above alpha, and the search
    would run to ``n_max``; the table then says so at once. ``comparison``:
    the row a design's search drives (:func:`sample_size_comparison`).
    """
    from vtrial import power
    from vtrial.design import is_default

    if _no_true_difference(cfg):
        out = pd.DataFrame({
            "scenario_id": "", "method": list(methods), "target_power": float(target),
            "n_per_arm": float("nan"), "power": float("nan"), "power_se": float("nan"),
            "reps": int(reps), "note": "no true difference: no n reaches the target",
        })  # fmt: skip
        if not is_default(cfg):
            from vtrial.design_power import EACH

            out.insert(2, "comparison", comparison or EACH)
        return out
    return power.sample_size(
        cfg, float(target), methods=list(methods), reps=int(reps), n_max=int(n_max), workers=int(workers),
        comparison=comparison,
    )  # fmt: skip


def sample_size_table(
    payload: Sequence[Mapping],
    *,
    targets: Sequence[float],
    methods: Sequence[str],
    reps: int,
    n_max: int = 1000,
    workers: int = 1,
    comparison: str | None = None,
) -> pd.DataFrame:
    """n per arm for each target power, method and scenario (:func:`vtrial.power.sample_size`).

    Each method is searched on its own (its own simulation, whatever other
    methods are requested), so one job for all methods gives the same
    numbers as one job per method. ``n_per_arm`` is NaN where the target is not
    reached by ``n_max`` men per arm. A multi-arm, scheduled or two-endpoint
    design searches the men of its control arm until the power row
    ``comparison`` reaches the target (default ``each``: every comparison;
    :func:`vtrial.power.solve`), and the table has a ``comparison`` column.
    """
    frames = []
    for item in payload:
        c = copy.deepcopy(item["config"])
        c["simulation"]["reps"] = int(reps)
        c["grid"] = {}
        for m in methods:
            c["analysis"]["methods"] = [m]
            for target in targets:
                df = _search_sample_size(c, target, [m], reps, n_max, workers, comparison)
                for key, value in item["grid"]:
                    df[key] = value
                frames.append(df)
    return pd.concat(frames, ignore_index=True)


def tornado_table(cfg: dict) -> pd.DataFrame:
    """n per arm for ``sensitivity.tornado_power`` at the base case and each one-at-a-time change.

    Parameters
    ----------
    cfg : dict
        The base case with the keys ``sensitivity.tornado``, ``tornado_power``,
        ``method``, ``reps`` and ``max_n_per_arm`` (e.g. from :func:`stage_config`).

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


def main_method(cfg: dict) -> str:
    """The method of the sensitivity analyses: ``sensitivity.method``, else the first of ``analysis.methods``."""
    return (cfg.get("sensitivity") or {}).get("method") or cfg["analysis"]["methods"][0]


def example_analysis(data: pd.DataFrame, cfg: dict, methods: Sequence[str] = ()) -> pd.DataFrame:
    """One trial analysed as ``vtrial analyze`` does, by every method and by every strategy.

    Rows: every method of ``methods`` (default: all) under ``analysis.missing``,
    then the main method (:func:`main_method`) under every other missing-data
    strategy it allows. Randomness: :func:`vtrial.analysis.run_methods` with the
    root of ``vtrial analyze`` (:func:`analysis_rng`), so each method draws from
    its own stream and its row equals ``vtrial analyze`` on the same data and
    config, whatever other methods are listed.
    """
    from vtrial.analysis import METHODS, run_methods
    from vtrial.analysis.missing import STRATEGIES
    from vtrial.config import method_options

    a = cfg["analysis"]
    methods = list(methods) or list(METHODS)
    common = dict(alpha=a["alpha"], scale=a["scale"])
    opts = method_options(cfg, methods)
    frames = [run_methods(data, methods, missing=a["missing"], options=opts, rng=analysis_rng(cfg), **common)]
    main = main_method(cfg)
    for strategy in STRATEGIES:
        if strategy == a["missing"]:
            continue
        try:
            opts = method_options(cfg, [main])
            frames.append(
                run_methods(data, [main], missing=strategy, options=opts, rng=analysis_rng(cfg), **common)
            )
        except InputError:
            continue  # this method does not take this strategy
    return pd.concat(frames, ignore_index=True)


def analysis_rng(cfg: dict) -> np.random.Generator:
    """Root of the example trial's analyses: a fresh generator, as ``vtrial analyze`` uses.

    Chunk 0 of the base scenario's stream; :func:`vtrial.analysis.run_methods`
    derives each method's own stream from it (:func:`vtrial.analysis.method_seed`).
    """
    from vtrial.config import scenario_id
    from vtrial.streams import rng_for

    return rng_for(cfg["seed"], scenario_id(cfg), 0)


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
    """Two-arm tipping-point grid of one trial (:func:`vtrial.analysis.tipping.tipping_grid`).

    Shifts ``sensitivity.tipping_delta_pct`` with the main method
    (:func:`main_method`). Randomness: that method's stream of the example
    analysis, so the unshifted cell repeats its multiple-imputation result.
    """
    from vtrial.analysis import method_seed
    from vtrial.analysis.data import to_wide
    from vtrial.analysis.tipping import tipping_grid

    a = cfg["analysis"]
    covariates = tuple(a["covariates"])
    main = main_method(cfg)
    return tipping_grid(
        to_wide(data, covariates), cfg["sensitivity"]["tipping_delta_pct"], method=main,
        alpha=a["alpha"], n_imputations=a["imputations"], covariates=covariates,
        rng=method_seed(analysis_rng(cfg), main),
    )  # fmt: skip


def tipping_design(cfg: dict) -> pd.DataFrame:
    """Tipping-point grid of the planned design (:func:`vtrial.analysis.tipping.tipping_design`).

    ``sensitivity.tipping_reps`` trials of the base case, shifts
    ``sensitivity.tipping_delta_pct``, ``sensitivity.method``. Randomness:
    chunk 2 of the base scenario.
    """
    from vtrial.analysis import tipping
    from vtrial.config import scenario_id
    from vtrial.streams import rng_for

    base = base_config(cfg)
    s = cfg["sensitivity"]
    return tipping.tipping_design(
        base, s["tipping_delta_pct"], method=main_method(cfg), reps=s["tipping_reps"],
        rng=rng_for(base["seed"], scenario_id(base), 2),
    )  # fmt: skip


# --------------------------------------------------------------------------- stages and targets

#: Stages that only the two-arm design of the other trial keys has, and why a
#: run of any other design (:func:`vtrial.design.is_default` false) leaves
#: them out rather than give numbers for the wrong trial. ``summary.md`` lists them.
TWO_ARM_STAGES = {
    "calibration": "it compares simulated trials with the published figures of the 2009 two-arm trial",
    "example_trial": "its analyses, figures and tipping point compare two arms on the 12-month change",
    "replication": "it repeats the 2009 trial's own analysis (anastrozole versus placebo at month 12)",
    "sensitivity": (
        "its heatmaps and tornado take one power per scenario from the two-arm engine, and a design's "
        "power table has one per comparison and endpoint"
    ),
    "tipping_point": "its delta-adjusted imputation analyses the two-arm 12-month spine change",
    "assurance": "its design prior is on the one difference of the two-arm engine",
    "sequential": "its interim looks simulate the two-arm trial",
}


def omitted_stages(cfg: dict) -> dict[str, str]:
    """Stages a run of ``cfg`` leaves out, each with the reason (empty for the two-arm design).

    Examples
    --------
    >>> from vtrial.config import load_config
    >>> omitted_stages(load_config())
    {}
    """
    from vtrial.design import is_default

    if is_default(cfg):
        return {}
    # the sequential stage exists only for a config with a `sequential` section
    return {k: v for k, v in TWO_ARM_STAGES.items() if k != "sequential" or cfg.get("sequential") is not None}


#: Figures (``results/<stem>.png`` and ``.svg``) of each stage, in the order of ``rule all``.
STAGE_FIGURES = (
    ("calibration", "calibration/calibration"),
    ("example_trial", "example_trial/bmd_trajectories"),
    ("example_trial", "example_trial/hormones"),
    ("example_trial", "example_trial/analysis"),
    ("replication", "replication/replication"),
    ("power", "power/power_curves"),
    ("sample_size", "sample_size/sample_size"),
    ("sensitivity", "sensitivity/power_effect_sd"),
    ("sensitivity", "sensitivity/power_dropout"),
    ("sensitivity", "sensitivity/tornado"),
    ("tipping_point", "tipping_point/example_trial"),
    ("tipping_point", "tipping_point/planned_design"),
)

#: Tables and pages of each stage, in the order of ``rule all``.
STAGE_FILES = (
    ("provenance", "provenance.json"),
    ("calibration", "calibration/calibration.csv"),
    ("example_trial", "example_trial/trial.csv"),
    ("example_trial", "example_trial/analysis.csv"),
    ("replication", "replication/replication.csv"),
    ("power", "power/power.csv"),
    ("power", "power/power.html"),
    ("sample_size", "sample_size/sample_size.csv"),
    ("sample_size", "sample_size/sample_size.html"),
    ("sensitivity", "sensitivity/power_effect_sd.csv"),
    ("sensitivity", "sensitivity/power_dropout.csv"),
    ("sensitivity", "sensitivity/tornado.csv"),
    ("tipping_point", "tipping_point/example_trial.csv"),
    ("tipping_point", "tipping_point/planned_design.csv"),
    ("summary", "summary.md"),
    ("summary", "summary.html"),
    ("summary", "report/key_numbers.json"),
)


def workflow_targets(cfg: dict) -> list[str]:
    """Every output of the workflow for ``cfg`` (``rule all``), under ``results/``.

    The two-arm design gets every stage (assurance where
    :func:`assurance_config` applies, the group-sequential stage where the
    config has a ``sequential`` section); any other design leaves out the
    stages of :func:`omitted_stages`.

    Examples
    --------
    >>> from vtrial.config import load_config
    >>> targets = workflow_targets(check_config(load_config()))
    >>> len(targets), targets[0], targets[-1]
    (44, 'results/provenance.json', 'results/assurance/assurance.svg')
    """
    skip = omitted_stages(cfg)
    out = [f"results/{path}" for stage, path in STAGE_FILES if stage not in skip]
    for stage, stem in STAGE_FIGURES:
        if stage not in skip:
            out += [f"results/{stem}.png", f"results/{stem}.svg"]
    if assurance_config(cfg) is not None:
        out += [
            "results/assurance/assurance.csv",
            "results/assurance/assurance.png",
            "results/assurance/assurance.svg",
        ]
    if cfg.get("sequential") is not None and "sequential" not in skip:
        out += ["results/sequential/bounds.csv", "results/sequential/operating_characteristics.csv"]
        out += [
            f"results/sequential/{stem}.{ext}"
            for stem in ("boundaries", "stopping")
            for ext in ("png", "svg")
        ]
    return out


def design_words(cfg: dict) -> dict[str, str]:
    """The phrases of the configured design (:func:`vtrial.design_text.design_words`), plus whether it is the default.

    ``default`` is ``"yes"`` for the two-arm design, whose outputs keep their
    original wording, and ``""`` otherwise (a string, so that the mapping stays
    plain text for rule params and report captions). ``sample_size_rule`` says
    what the sample-size stage drives to the target power
    (:func:`vtrial.report.sample_size_rule`; ``""`` for two arms).

    Examples
    --------
    >>> from vtrial.config import load_config
    >>> w = design_words(load_config())
    >>> w["endpoint"], w["comparison"], w["default"]
    ('12-month change in PA spine BMD', 'anastrozole versus placebo', 'yes')
    """
    from vtrial.design import design_of, is_default
    from vtrial.design_text import design_words as words

    out = {**words(design_of(cfg)), "default": "yes" if is_default(cfg) else ""}
    # what the sample-size search drives to the target, without the label (captions, figure title)
    rule = "" if is_default(cfg) else _rule_words(cfg)
    return {**out, "sample_size_rule": rule}


def _rule_words(cfg: dict) -> str:
    """:func:`vtrial.report.sample_size_rule` without the leading label and the backticks."""
    from vtrial.report import sample_size_rule

    return sample_size_rule(cfg, sample_size_comparison(cfg)).split(": ", 1)[1].replace("`", "")


def power_table_note(cfg: dict) -> str:
    """The sentence above the power table's HTML page."""
    reps = cfg["simulation"]["reps"]
    if not omitted_stages(cfg):
        return f"Monte Carlo power per scenario and method; {reps} replicates each."
    w = design_words(cfg)
    return (
        f"Monte Carlo power per scenario, method and comparison ({w['comparison']}; {w['endpoint']}), "
        f"with the familywise rows any and all; {reps} replicates each."
    )


def sample_size_note(cfg: dict) -> str:
    """The sentence above the sample-size table's HTML page (for a design: its comparison rule)."""
    reps = cfg["simulation"]["reps"]
    if not omitted_stages(cfg):
        return (
            f"Smallest n per arm whose Monte Carlo power ({reps} replicates per "
            "candidate n) reaches each target; empty where not reached by sensitivity.max_n_per_arm."
        )
    from vtrial.design_power import EACH

    w = design_words(cfg)
    return (
        f"Smallest n per arm ({w['control']}, the control arm) whose Monte Carlo power ({reps} replicates per "
        f"candidate n) reaches each target, for {w['comparison']} on the {w['endpoint']}; comparison rule "
        f"{sample_size_comparison(cfg) or EACH}: {w['sample_size_rule']}; "
        "empty where not reached by sensitivity.max_n_per_arm."
    )


def sample_size_title(cfg: dict) -> str:
    """Title of the sample-size figure of a design: the design and its comparison rule (two arms: ``""``)."""
    if not omitted_stages(cfg):
        return ""  # vtrial.plots.plot_sample_size's own title

    # imported here: the Snakefile calls this while it is parsed, before any job can start
    from vtrial.design_power import EACH
    from vtrial.report import sample_size_rule

    rule = sample_size_rule(cfg, sample_size_comparison(cfg) or EACH, list_labels=False).replace("`", "")
    return f"Sample size for the target power: {design_words(cfg)['title']}\ncomparison rule {rule}"


def summary_inputs(cfg: dict) -> dict[str, str]:
    """Inputs of the summary rule by name: the tables of the stages that run (:func:`omitted_stages`)."""
    skip = omitted_stages(cfg)
    named = (
        ("power", "power", "power/power.csv"),
        ("sample_size", "sample_size", "sample_size/sample_size.csv"),
        ("sensitivity", "heatmap_effect_sd", "sensitivity/power_effect_sd.csv"),
        ("sensitivity", "heatmap_dropout", "sensitivity/power_dropout.csv"),
        ("sensitivity", "tornado", "sensitivity/tornado.csv"),
        ("tipping_point", "tipping_example", "tipping_point/example_trial.csv"),
        ("tipping_point", "tipping_design", "tipping_point/planned_design.csv"),
        ("calibration", "calibration", "calibration/calibration.csv"),
        ("replication", "replication", "replication/replication.csv"),
    )
    out = {} if assurance_config(cfg) is None else {"assurance": "results/assurance/assurance.csv"}
    if cfg.get("sequential") is not None and "sequential" not in skip:
        out["sequential"] = "results/sequential/operating_characteristics.csv"
    out["provenance"] = "results/provenance.json"
    out.update({name: f"results/{path}" for stage, name, path in named if stage not in skip})
    return out


# --------------------------------------------------------------------------- assurance


def assurance_config(cfg: dict) -> dict | None:
    """The base case with an n grid for the assurance stage, or None when it does not apply.

    Assurance needs a direct-mode two-arm design (each replicate shifts the arm
    means by its prior draw). The method is the sensitivity stages' one
    (``sensitivity.method``: a t-test or ANCOVA, so the exact engine draws the
    curve and the analytic assurance checks it); the n grid is
    ``pipeline.power_n_per_arm`` with the planned ``trial.n_per_arm`` added.

    Examples
    --------
    >>> from vtrial.config import load_config
    >>> a = assurance_config(check_config(load_config()))
    >>> a["grid"]["trial.n_per_arm"][:3], a["analysis"]["methods"]
    ([10, 15, 20], ['ancova'])
    """
    if cfg["effects"]["mode"] != "direct" or "assurance" in omitted_stages(cfg):
        return None
    out = stage_config(cfg)
    sizes = sorted({*cfg["pipeline"]["power_n_per_arm"], cfg["trial"]["n_per_arm"]})
    out["grid"] = {"trial.n_per_arm": sizes}
    out["analysis"]["methods"] = [cfg["sensitivity"]["method"]]
    return out
