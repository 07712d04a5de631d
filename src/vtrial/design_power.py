"""Monte Carlo power of multi-arm, any-schedule and two-endpoint designs.

:func:`run_design_power` is what :func:`vtrial.power.run_power` runs when the
config sets a design (``trial.arms``, ``trial.schedule``, a second endpoint;
see :func:`vtrial.design.is_default`). Each block of
:data:`vtrial.engine.BLOCK` replicate trials is simulated by
:func:`vtrial.design_sim.simulate_design` from its own random stream, keyed by
(root seed, scenario id, block index), analysed by the vectorised statistics
of :mod:`vtrial.design_stats`, decided after multiplicity adjustment
(:mod:`vtrial.design_decisions`) and reduced to sums added in block order: the
table is byte-identical for any ``chunk_size`` and number of ``workers``.
When every method allows it (complete-case t-tests and ANCOVA, normal
outcome, dropout unrelated to the data; ``simulation.exact_shortcut:
never`` turns it off) a block draws only the per-arm sufficient statistics
of those trials instead (:mod:`vtrial.design_exact`; the table's ``engine``
is then ``design_exact``).

Decisions (``analysis.multiplicity``, ``analysis.endpoint_rule``):

* within an endpoint, the comparisons' p-values are adjusted with the
  multiplicity method (``none``, ``bonferroni``, ``holm``, ``hochberg``,
  ``fixed_sequence`` in ``analysis.multiplicity_order``, or single-step
  ``dunnett`` with the exact multivariate-t tail for the planned
  allocation); a comparison that could not be analysed counts as a
  hypothesis with p = 1;
* ``primary``: the first endpoint (spine) alone decides; a second endpoint's
  rows are adjusted within that endpoint and only reported;
* ``all`` (co-primary): a comparison succeeds when it is significant on every
  endpoint, each adjusted within its endpoint (an intersection-union test
  needs no adjustment across endpoints);
* ``any``: the p-values of every endpoint and comparison are adjusted
  together (``fixed_sequence``: endpoint by endpoint, each in the comparison
  order; ``dunnett``: Dunnett within each endpoint, then Bonferroni across
  the endpoints), and a comparison succeeds when it is significant on at
  least one endpoint.

Rows of the table, per scenario, method and multiplicity method: one per
endpoint and comparison (``comparison`` = ``<arm>-<reference>``, power = share
of replicates where that comparison is significant after adjustment, with
the estimation diagnostics of :func:`vtrial.power.summarise` against the true
difference); with two endpoints one per comparison for the combined decision
(``endpoint`` = ``all`` or ``any``); and the family-wise rows ``comparison`` =
``any`` (share of replicates with at least one success: the family-wise error
rate under the global null) and ``all`` (every comparison succeeds), whose
estimation columns are NaN. The derivations are in ``docs/design_power.md``.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from vtrial import config as config_mod
from vtrial import engine, multiplicity
from vtrial import power as power_mod
from vtrial.analysis.result import Replicates
from vtrial.design_decisions import decide
from vtrial.design_exact import DesignStats, exact_results, simulate_stats, use_exact
from vtrial.design_stats import (
    STATISTICS,
    ancova_design,
    mmrm_design,
    student_design,
    welch_design,
)
from vtrial.errors import InputError
from vtrial.streams import seed_sequence

__all__ = ["DESIGN_COLUMNS", "SUPPORTED_METHODS", "check_methods", "comparison_results", "run_design_power",
           "search_power", "search_rows", "split_methods"]  # fmt: skip

#: Methods a design can be analysed with.
SUPPORTED_METHODS = STATISTICS
#: Columns that identify a row beyond the power table's.
DESIGN_KEYS = ["endpoint", "comparison", "multiplicity"]
#: Columns of a design power table before the grid columns.
DESIGN_COLUMNS = power_mod.POWER_COLUMNS[:2] + DESIGN_KEYS + power_mod.POWER_COLUMNS[2:]
#: Family-wise row labels.
FAMILY = ("any", "all")


# --------------------------------------------------------------------------- checks


#: Methods single-step Dunnett cannot adjust (it needs one pooled variance).
NOT_DUNNETT = ("welch_t",)


def split_methods(configured, multiplicity: str = "none") -> tuple[list[str], list[str]]:
    """The configured methods a design can use, and those it cannot (for a CLI note).

    ``multiplicity``: the design's ``analysis.multiplicity``; ``dunnett``
    also leaves out :data:`NOT_DUNNETT`.

    Examples
    --------
    >>> split_methods(["ancova", "mann_whitney", "mmrm"])
    (['ancova', 'mmrm'], ['mann_whitney'])
    >>> split_methods(["ancova", "welch_t"], "dunnett")
    (['ancova'], ['welch_t'])
    """
    bad = NOT_DUNNETT if multiplicity == "dunnett" else ()
    kept = [m for m in configured if m in SUPPORTED_METHODS and m not in bad]
    return kept, [m for m in configured if m not in kept]


def check_methods(cfg: dict, methods, design) -> list[str]:
    """The methods of a design run, or :class:`InputError` (one line) for what a design cannot do."""
    chosen = list(methods) if methods else list(cfg["analysis"]["methods"])
    allowed = ", ".join(SUPPORTED_METHODS)
    for m in chosen:
        if m not in SUPPORTED_METHODS:
            raise InputError(
                f"method '{m}': not available for multi-arm or scheduled designs (allowed: {allowed})"
            )
    if len(set(chosen)) != len(chosen):
        raise InputError(f"methods {chosen} repeat a method")
    a = cfg["analysis"]
    if a["missing"] != "complete_case":
        raise InputError(
            f"config key 'analysis.missing': value '{a['missing']}' is not available for multi-arm or "
            "scheduled designs (allowed: complete_case)"
        )
    if a.get("covariates"):
        raise InputError(
            f"config key 'analysis.covariates': value {list(a['covariates'])} is not available for "
            "multi-arm or scheduled designs (allowed: [])"
        )
    if a.get("robust_se"):
        raise InputError(
            "config key 'analysis.robust_se': value true is not available for multi-arm or scheduled designs"
        )
    return chosen


def _check_multiplicity(mult: str, methods, design) -> None:
    if mult not in multiplicity.MULTIPLICITY_METHODS:
        allowed = ", ".join(multiplicity.MULTIPLICITY_METHODS)
        raise InputError(f"config key 'analysis.multiplicity': value '{mult}' is not one of {allowed}")
    if mult == "dunnett" and any(m in NOT_DUNNETT for m in methods):
        raise InputError(
            "config key 'analysis.multiplicity': value 'dunnett' needs a pooled-variance method "
            "(student_t, ancova or mmrm), not welch_t"
        )
    if mult == "dunnett" and any(r != design.control for _, r in design.comparisons):
        raise InputError(
            "config key 'analysis.multiplicity': value 'dunnett' needs analysis.comparisons: vs_control"
        )


# --------------------------------------------------------------------------- statistics


def comparison_results(arrays, endpoint: str, method: str, scale: str, alpha: float) -> list[Replicates]:
    """One :class:`Replicates` per comparison of the design, for one endpoint and method.

    Parameters
    ----------
    arrays : vtrial.design_sim.DesignArrays
        A block of simulated trials.
    endpoint : str
        ``spine`` or ``hip``.
    method : str
        One of :data:`SUPPORTED_METHODS`.
    scale : str
        ``pct`` or ``absolute``.
    alpha : float
        Two-sided level of the (unadjusted) confidence intervals.
    """
    if isinstance(arrays, DesignStats):  # the exact shortcut's block (design_exact)
        return exact_results(arrays, endpoint, method, alpha)
    d = arrays.design
    change = arrays.change(endpoint, scale)
    b0 = arrays.bmd[endpoint][:, :, 0]
    e = list(arrays.scan_months).index(d.endpoint_month)
    arm = arrays.arm
    k = len(d.arms)
    # Men without a baseline scan are not analysed by any method.
    y = np.where(np.isfinite(b0)[:, :, None], change, np.nan)
    pairs = list(d.comparisons)
    if method == "mmrm":
        return mmrm_design(y, b0, arm, k, pairs, alpha, endpoint=e)
    if method == "ancova":
        return ancova_design(y[:, :, e], b0, arm, k, pairs, alpha)
    if method == "student_t":
        return student_design(y[:, :, e], arm, k, pairs, alpha)
    if method == "welch_t":
        return welch_design(y[:, :, e], arm, k, pairs, alpha)
    raise InputError(
        f"method '{method}': not available for designs (allowed: {', '.join(SUPPORTED_METHODS)})"
    )


def _count_sums(decisions: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Sums of a decision-only row: replicates, successes and replicates fully analysed."""
    out = np.zeros(power_mod.engine_nsums())
    out[power_mod._REPS] = decisions.shape[0]
    out[power_mod._REJ] = np.count_nonzero(decisions)
    out[power_mod._VALID] = np.count_nonzero(valid)
    return out


def _key(method, mult, endpoint, comparison) -> str:
    return f"{method}|{mult}|{endpoint}|{comparison}"


def block_sums(
    arrays, cfg: dict, methods, multiplicities, truths: dict, dunnett=None
) -> dict[str, np.ndarray]:
    """Reduce one analysed block to the sums of every table row (see the module docstring).

    ``dunnett``: the run's cache of :class:`DunnettCritical` (see :func:`decide`).
    """
    dunnett = {} if dunnett is None else dunnett
    d = arrays.design
    a = cfg["analysis"]
    alpha = float(a["alpha"])
    out = {}
    for m in methods:
        res = {ep: comparison_results(arrays, ep, m, a["scale"], alpha) for ep in d.endpoints}
        valid = {ep: np.column_stack([np.isfinite(r.estimate) for r in res[ep]]) for ep in d.endpoints}
        for mult in multiplicities:
            dec = decide(res, d, mult, alpha, dunnett)
            for ep in d.endpoints:
                for c, label in enumerate(d.labels):
                    r = res[ep][c]
                    # The power sums count p < alpha: give them the decision as p = 0 or 1.
                    p = np.where(dec["significant"][ep][:, c], 0.0, 1.0)
                    adj = Replicates(
                        r.estimate, r.se, p, r.df, r.n_placebo, r.n_anastrozole, r.alpha, r.lo, r.hi
                    )
                    out[_key(m, mult, ep, label)] = power_mod.block_sums(adj, truths[ep, label], alpha)
            all_valid = np.all(np.stack([v.all(axis=1) for v in valid.values()]), axis=0)
            if dec["combined"] is not None:
                rule, comb = dec["combined"]
                for c, label in enumerate(d.labels):
                    ok = np.all(np.stack([valid[ep][:, c] for ep in d.endpoints]), axis=0)
                    out[_key(m, mult, rule, label)] = _count_sums(comb[:, c], ok)
            fam_ep, fam = dec["family"]
            fam_valid = valid[fam_ep].all(axis=1) if fam_ep in valid else all_valid
            out[_key(m, mult, fam_ep, "any")] = _count_sums(fam.any(axis=1), fam_valid)
            out[_key(m, mult, fam_ep, "all")] = _count_sums(fam.all(axis=1), fam_valid)
    return out


# --------------------------------------------------------------------------- running blocks


def _simulate(cfg: dict, scenario: str, index: int, reps: int, methods=()):
    """Block ``index`` of a scenario: its own seed sequence (root seed, scenario id, block index).

    The per-arm statistics of :mod:`vtrial.design_exact` when every method can use them.
    """
    from vtrial.design_sim import simulate_design

    if use_exact(cfg, methods):
        return simulate_stats(cfg, reps, rng=seed_sequence(cfg["seed"], scenario, index))
    t = cfg["trial"]
    # The analyses use BMD only: skip drawing age, BMI and hormones where the model allows it.
    needs_cohort = cfg["effects"]["mode"] != "direct" or (
        t["randomization"] == "stratified_blocks" and t["strata_variable"] != "bmd_g_cm2"
    )
    ss = seed_sequence(cfg["seed"], scenario, index)
    return simulate_design(cfg, reps, rng=ss, covariates=needs_cohort)


def run_blocks(
    cfg: dict, scenario: str, blocks, methods, multiplicities, truths, dunnett=None
) -> list[dict[str, np.ndarray]]:
    """Sums of consecutive blocks ``(index, reps)``; block ``index`` always draws the same stream."""
    return [
        block_sums(
            _simulate(cfg, scenario, index, size, methods), cfg, methods, multiplicities, truths, dunnett
        )
        for index, size in blocks
    ]


def simulate_sums(cfg, scenario, reps, methods, multiplicities, truths, dunnett=None, *, workers=1, chunk_size=None,
                  first_block=0, progress=False, label="", pool=None) -> dict[str, np.ndarray]:  # fmt: skip
    """Sums of ``reps`` replicates of one scenario (blocks grouped into tasks of ``chunk_size``)."""
    sizes = engine.block_sizes(reps)
    blocks = [(first_block + i, s) for i, s in enumerate(sizes)]
    per_task = max(1, math.ceil((chunk_size or cfg["simulation"]["chunk_size"]) / engine.BLOCK))
    if workers > 1:
        per_task = min(per_task, max(1, len(blocks) // (4 * workers)))
    tasks = [blocks[i : i + per_task] for i in range(0, len(blocks), per_task)]
    bar = power_mod._Progress(len(blocks), label or f"scenario {scenario}", progress)
    args = (cfg, scenario)
    results = []
    if workers <= 1 or len(tasks) == 1:
        for t in tasks:
            results.extend(run_blocks(*args, t, methods, multiplicities, truths, dunnett))
            bar.step(len(t))
    else:
        own = pool is None
        ex = pool or power_mod._pool(workers)
        try:
            futs = [ex.submit(run_blocks, *args, t, methods, multiplicities, truths, dunnett) for t in tasks]
            for f, t in zip(futs, tasks, strict=True):
                results.extend(f.result())
                bar.step(len(t))
        finally:
            if own:
                ex.shutdown()
    bar.close()
    total = {}
    for block in results:  # block order: deterministic sums
        for key, s in block.items():
            total[key] = total[key] + s if key in total else s.copy()
    return total


def _reps_for_target_se(cfg, scenario, reps_args, target_se, **kw):
    """As :func:`vtrial.power.reps_for_target_se` over every row's power."""
    b = engine.BLOCK
    cap = math.ceil(0.25 / target_se**2 / b) * b
    reps = min(cap, max(b, math.ceil(cap / 10 / b) * b))
    sums = simulate_sums(cfg, scenario, reps, *reps_args, **kw)
    while True:
        need = max(
            s[power_mod._REJ] / s[power_mod._REPS] * (1 - s[power_mod._REJ] / s[power_mod._REPS])
            for s in sums.values()
        )
        need /= target_se**2
        if need <= reps or reps >= cap:
            return sums
        new = min(cap, math.ceil(need / b) * b)
        extra = simulate_sums(cfg, scenario, new - reps, *reps_args, first_block=reps // b, **kw)
        sums = {key: sums[key] + extra[key] for key in sums}
        reps = new


def _truths(cfg: dict, design) -> dict:
    """True difference per (endpoint, label) in the estimand's unit (pct points or g/cm2)."""
    from vtrial.design_sim import true_differences

    pct = true_differences(cfg)
    if cfg["analysis"]["scale"] != "absolute":
        return {key: float(v) for key, v in pct.items()}
    means = {ep: _mean_bmd(cfg, ep) for ep in design.endpoints}
    return {(ep, label): float(v) * means[ep] / 100.0 for (ep, label), v in pct.items()}


def _mean_bmd(cfg: dict, endpoint: str) -> float:
    if endpoint == "spine":
        return float(cfg["cohort"]["bmd_mean_g_cm2"])
    from vtrial import design as design_mod

    hip = design_mod.hip_config(cfg)
    return float(hip["baseline_mean_g_cm2"])


def run_design_power(
    cfg: dict,
    *,
    reps: int | None = None,
    target_se: float | None = None,
    workers: int = 1,
    progress: bool = False,
    methods=None,
    chunk_size: int | None = None,
    checkpoint_dir=None,
    multiplicities=None,
) -> pd.DataFrame:
    """Monte Carlo power of a design for every scenario, method, multiplicity method and comparison.

    Parameters
    ----------
    cfg : dict
        Validated config setting a design (:func:`vtrial.design.is_default` False).
    reps, target_se, workers, progress, methods, chunk_size, checkpoint_dir
        As :func:`vtrial.power.run_power`.
    multiplicities : sequence of str, optional
        Multiplicity methods to report, each on the same simulated trials
        (default: ``analysis.multiplicity`` alone).

    Returns
    -------
    pandas.DataFrame
        :data:`DESIGN_COLUMNS` (the power-table columns with ``endpoint``,
        ``comparison`` and ``multiplicity`` after ``method``), one column
        per grid key, then ``engine`` (``design``), ``missing`` and
        ``valid_reps``; rows as in the module docstring. ``analytic_power``:
        :func:`vtrial.design_analytic.row_power` (NaN where there is no formula).
    """
    from vtrial import design as design_mod
    from vtrial import design_analytic

    reps, target_se, workers = power_mod.run_options(cfg, reps, target_se, workers)
    scenarios = config_mod.expand_grid(cfg)
    grid_keys = list((cfg.get("grid") or {}).keys())
    rows = []
    nan = float("nan")
    pool = power_mod._pool(workers) if workers > 1 else None
    dunnett: dict = {}  # Dunnett critical values, shared by the scenarios and the formulas of this run
    try:
        for n, sc in enumerate(scenarios):
            scfg = sc.config
            design_mod.validate_design(scfg)
            design = design_mod.design_of(scfg)
            chosen = check_methods(scfg, methods, design)
            mults = list(multiplicities) if multiplicities else [design.multiplicity]
            for mult in mults:
                _check_multiplicity(mult, chosen, design)
            truths = _truths(scfg, design)
            label = f"scenario {n + 1}/{len(scenarios)} ({sc.id})"
            kw = dict(workers=workers, chunk_size=chunk_size, progress=progress, label=label, pool=pool)
            reps_args = (chosen, mults, truths, dunnett)

            def simulate(scfg=scfg, sc=sc, kw=kw, reps_args=reps_args):
                if target_se is not None:
                    return _reps_for_target_se(scfg, sc.id, reps_args, target_se, **kw)
                return simulate_sums(scfg, sc.id, reps, *reps_args, **kw)

            keys = _row_keys(design, chosen, mults)
            key = {"config": scfg, "methods": keys, "reps": reps, "target_se": target_se, "design": True}
            sums = power_mod._checkpointed(checkpoint_dir, sc.id, key, simulate)
            for k in keys:
                m, mult, ep, comp = k.split("|")
                pair = comp not in FAMILY and ep in design.endpoints
                tv = truths[ep, comp] if pair else nan
                s = power_mod.summarise(sums[k], tv if pair else 0.0)
                if not pair:
                    for col in ("mean_estimate", "bias", "emp_se", "mean_se", "rmse", "coverage",
                                "mean_n_analyzed"):  # fmt: skip
                        s[col] = nan
                row = {
                    "scenario_id": sc.id,
                    "method": m,
                    "endpoint": ep,
                    "comparison": comp,
                    "multiplicity": mult,
                    "n_per_arm": int(scfg["trial"]["n_per_arm"]),
                    "alpha": float(scfg["analysis"]["alpha"]),
                    "true_difference_pct": _true_pct(scfg, truths, ep, comp) if pair else nan,
                    "analytic_power": design_analytic.row_power(scfg, m, ep, comp, mult, dunnett),
                    "engine": "design",
                    "missing": scfg["analysis"]["missing"],
                    **s,
                }
                for gk, gv in sc.grid_values:
                    row[gk] = gv
                if use_exact(scfg, chosen):  # the blocks drew per-arm statistics (design_exact)
                    row["engine"] = "design_exact"
                rows.append(row)
    finally:
        if pool is not None:
            pool.shutdown()
    return pd.DataFrame(rows, columns=DESIGN_COLUMNS + grid_keys + power_mod.EXTRA_COLUMNS)


# --------------------------------------------------------------------------- searches


#: The default row a search drives to its target: every pairwise comparison.
EACH = "each"


def search_rows(design, comparison: str | None) -> tuple[str, tuple[str, ...]]:
    """The deciding endpoint and the comparison labels whose smallest power a search targets.

    ``comparison``: a label ``<arm>-<reference>``, ``any`` or ``all`` (the
    family-wise rows), or ``each`` / None (every pairwise comparison: the
    search targets the smallest of their powers). The deciding endpoint is the
    first (spine) under ``analysis.endpoint_rule: primary``, else the combined
    decision (``all`` or ``any``). Unknown labels are refused (one line).

    Examples
    --------
    >>> from vtrial.config import load_config
    >>> from vtrial.design import design_of
    >>> d = design_of(load_config(overrides=["trial.arms=[{name: p}, {name: a}, {name: b}]", "trial.block_sizes=[3]"]))
    >>> search_rows(d, None), search_rows(d, "b-p"), search_rows(d, "all")
    (('spine', ('a-p', 'b-p')), ('spine', ('b-p',)), ('spine', ('all',)))
    """
    comparison = EACH if comparison is None else comparison
    allowed = (EACH, *FAMILY, *design.labels)
    if comparison not in allowed:
        raise InputError(
            f"comparison: value {comparison!r} is not a row of the design (allowed: {', '.join(allowed)})"
        )
    rule = design.endpoint_rule if len(design.endpoints) > 1 else "primary"
    endpoint = design.endpoints[0] if rule == "primary" else rule
    return endpoint, design.labels if comparison == EACH else (comparison,)


def search_methods(cfg: dict, methods) -> list[str]:
    """The methods of a design search, checked as :func:`run_design_power` checks them."""
    from vtrial import design as design_mod

    design = design_mod.design_of(cfg)
    chosen = check_methods(cfg, methods, design)
    _check_multiplicity(design.multiplicity, chosen, design)
    return chosen


def search_power(
    cfg: dict, scenario: str, methods, reps: int, *, comparison=None, dunnett=None, **kw
) -> dict[str, tuple[float, float]]:
    """Monte Carlo power of the searched row per method, and its SE (see :func:`search_rows`).

    ``kw``: ``workers, progress, label, pool`` as :func:`simulate_sums`;
    ``dunnett``: a cache of Dunnett critical values kept across the candidates.
    """
    from vtrial import design as design_mod

    design = design_mod.design_of(cfg)
    endpoint, labels = search_rows(design, comparison)
    mult = design.multiplicity
    sums = simulate_sums(cfg, scenario, reps, methods, [mult], _truths(cfg, design), dunnett, **kw)
    out = {}
    for m in methods:
        p = min(sums[_key(m, mult, endpoint, c)][power_mod._REJ] / reps for c in labels)
        out[m] = (p, math.sqrt(p * (1 - p) / reps))
    return out


def search_statistic(cfg: dict, statistic: str, comparison: str | None):
    """The :class:`vtrial.power.Statistic` a search of a design drives: power of the row ``comparison``.

    Monte Carlo by :func:`search_power`, formula by
    :func:`vtrial.design_analytic.search_power`; both share one cache of
    Dunnett critical values across the candidates of the search.
    """
    import functools

    from vtrial import design as design_mod
    from vtrial import design_analytic

    if statistic != "power":
        raise InputError(
            f"statistic {statistic!r}: a multi-arm, scheduled or two-endpoint design can search power only "
            "(allowed: power)"
        )
    search_rows(design_mod.design_of(cfg), comparison)
    dunnett: dict = {}
    return power_mod.Statistic(
        "power",
        functools.partial(search_power, comparison=comparison, dunnett=dunnett),
        functools.partial(design_analytic.search_power, comparison=comparison, dunnett=dunnett),
        seed_method="student_t",
        reason=functools.partial(design_analytic.search_reason, comparison=comparison, dunnett=dunnett),
    )


def check_sizes(cfg: dict) -> None:
    """:class:`InputError` when a candidate ``trial.n_per_arm`` leaves an arm with fewer than two men."""
    from vtrial import design as design_mod

    design_mod.design_of(cfg)


def set_search_key(cfg: dict, key: str, value) -> dict:
    """``cfg`` with a searched key set; with ``trial.arms`` the difference is every treated arm's.

    A search over ``effects.difference_pct`` of a design that lists its arms
    sets ``difference_pct`` of every arm but the control to ``value`` (the
    minimal detectable difference common to the treated arms); the hip
    differences are unchanged.
    """
    arms = cfg["trial"].get("arms")
    if key != "effects.difference_pct" or not arms:
        return config_mod.set_key(cfg, key, value)
    import copy

    out = copy.deepcopy(cfg)
    control = out["trial"].get("control") or arms[0]["name"]
    for arm in out["trial"]["arms"]:
        if arm["name"] != control:
            arm["difference_pct"] = value
    return out


def search_sign(cfg: dict, key: str) -> float:
    """Sign of a searched difference: that of the first treated arm's ``difference_pct`` (-1 if zero)."""
    arms = cfg["trial"].get("arms")
    if key != "effects.difference_pct" or not arms:
        value = config_mod.get_key(cfg, key)
    else:
        control = cfg["trial"].get("control") or arms[0]["name"]
        value = next(a.get("difference_pct", 0.0) for a in arms if a["name"] != control)
    return -1.0 if value <= 0 else 1.0


def _true_pct(cfg, truths, endpoint, label) -> float:
    value = truths[endpoint, label]
    if cfg["analysis"]["scale"] == "absolute":
        return value * 100.0 / _mean_bmd(cfg, endpoint)
    return value


def _row_keys(design, methods, mults) -> list[str]:
    """Row keys in table order: per method and multiplicity, endpoints x comparisons, combined, family."""
    keys = []
    rule = design.endpoint_rule if len(design.endpoints) > 1 else "primary"
    for m in methods:
        for mult in mults:
            for ep in design.endpoints:
                keys += [_key(m, mult, ep, label) for label in design.labels]
            if rule != "primary":
                keys += [_key(m, mult, rule, label) for label in design.labels]
            fam = design.endpoints[0] if rule == "primary" else rule
            keys += [_key(m, mult, fam, c) for c in FAMILY]
    return keys
