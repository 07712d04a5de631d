"""Power summaries, analytic power, sample size and minimal detectable effect.

Sample size and minimal detectable effect are both :func:`solve`: the smallest
value of a monotone config key at which a statistic (power) reaches a target,
searched with common random numbers.

Monte Carlo power comes from :mod:`vtrial.engine`: replicate trials in fixed
blocks of :data:`vtrial.engine.BLOCK`, each block with its own random stream
keyed by (root seed, scenario id, block index), reduced block by block to a few
sums that are added in block order. The output is therefore byte-identical for
any ``chunk_size`` and any number of ``workers``.

Power is the share of *all* replicates whose two-sided p-value is below
``alpha`` (a replicate whose analysis cannot be fitted counts as not
significant, as it would in a real trial). The other diagnostics are over the
replicates with a finite estimate:

``bias``, ``rmse``
    mean of (estimate - truth), root mean squared error, where truth is the
    configured difference (``true_difference_pct``, percentage points; with
    ``analysis.scale: absolute`` it is converted to g/cm2 at the mean BMD);
``emp_se``, ``mean_se``
    SD of the estimates across replicates and mean of the model SEs;
``coverage``
    share of confidence intervals containing the truth;
``power_ci_low``, ``power_ci_high``
    Wilson score 95% interval for the power;
``mean_n_analyzed``
    mean number of men analysed (both arms), over replicates whose fit succeeded.

Analytic power (:func:`analytic_power`) is exact wherever the shortcut of the
engine is valid (normal outcome, dropout independent of the data, complete-case
analysis): Student t by the noncentral t, Welch t by two-dimensional quadrature
over the two sample variances, ANCOVA by the noncentral t on N - 3 df averaged
over the chance baseline imbalance, each averaged over the law of the arm sizes
(randomization) and of the number of completers (binomial under MCAR). The
formulas live in :mod:`vtrial.analytic`; :func:`analytic_power` is re-exported
here, and :func:`analytic_sample_size` searches it with :func:`solve`.
"""

from __future__ import annotations

import functools
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special

from vtrial import config as config_mod
from vtrial import engine
from vtrial import trial as trial_mod
from vtrial.analysis.result import Replicates
from vtrial.analytic import analytic_power, analytic_reason
from vtrial.errors import InputError

#: Power-table columns fixed by the output contract, in order.
POWER_COLUMNS = [
    "scenario_id", "method", "n_per_arm", "reps", "alpha", "true_difference_pct", "power",
    "power_se", "power_ci_low", "power_ci_high", "mean_estimate", "bias", "emp_se", "mean_se",
    "rmse", "coverage", "mean_n_analyzed", "analytic_power",
]  # fmt: skip
#: Extra columns after the grid columns.
EXTRA_COLUMNS = ["engine", "missing", "valid_reps"]

# Sums kept per block and method.
_REPS, _REJ, _VALID, _SD, _SD2, _SSE, _NSE, _COVER, _NAN = range(9)
_NSUMS = 9


# --------------------------------------------------------------------------- block sums


def truth(cfg: dict) -> float:
    """The estimand: anastrozole minus placebo mean 12-month change.

    Percentage points (``analysis.scale: pct``) or g/cm2 at the mean baseline
    BMD (``absolute``).
    """
    diff = trial_mod.implied_effects(cfg).difference_pct
    if cfg["analysis"]["scale"] == "absolute":
        return diff * cfg["cohort"]["bmd_mean_g_cm2"] / 100.0
    return float(diff)


def block_sums(rep: Replicates, true_value: float, alpha: float) -> np.ndarray:
    """Reduce one block of one method to the sums the power table needs."""
    est = rep.estimate
    valid = np.isfinite(est)
    all_valid = bool(valid.all())
    d = (est if all_valid else est[valid]) - true_value
    se = rep.se if all_valid else rep.se[valid]
    se_ok = np.isfinite(se)
    rej = np.count_nonzero(rep.significant(alpha))
    with np.errstate(invalid="ignore"):
        cover = np.count_nonzero(rep.covers(true_value))
    n_an = rep.n_placebo + rep.n_anastrozole
    out = np.zeros(_NSUMS)
    out[_REPS] = len(est)
    out[_REJ] = rej
    out[_VALID] = np.count_nonzero(valid)
    out[_SD] = d.sum()
    out[_SD2] = (d * d).sum()
    out[_SSE] = se.sum() if se_ok.all() else se[se_ok].sum()
    out[_NSE] = np.count_nonzero(se_ok)
    out[_COVER] = cover
    out[_NAN] = n_an.sum() if all_valid else n_an[valid].sum()
    return out


def group_sums(rep: Replicates, parts, true_value: float, alpha: float) -> list[np.ndarray]:
    """:func:`block_sums` of consecutive blocks held end to end in ``rep`` (``parts``: (offset, size)).

    When the blocks are whole, contiguous and every replicate was fitted (the
    exact engine's usual case), the sums of all blocks come from one
    reduction along the rows of a (blocks, BLOCK) view: a row is summed as the
    block alone would be, so the values are the same.
    """
    b = engine.BLOCK
    nb = len(parts)
    whole = all(off == k * b and size == b for k, (off, size) in enumerate(parts)) and nb * b == len(
        rep.estimate
    )
    if not (whole and np.isfinite(rep.estimate).all() and np.isfinite(rep.se).all()):
        return [block_sums(rep.slice(off, size), true_value, alpha) for off, size in parts]
    d = rep.estimate.reshape(nb, b) - true_value
    out = np.zeros((nb, _NSUMS))
    out[:, _REPS] = b
    out[:, _REJ] = np.count_nonzero(rep.significant(alpha).reshape(nb, b), axis=1)
    out[:, _VALID] = b
    out[:, _SD] = d.sum(axis=1)
    out[:, _SD2] = (d * d).sum(axis=1)
    out[:, _SSE] = rep.se.reshape(nb, b).sum(axis=1)
    out[:, _NSE] = b
    with np.errstate(invalid="ignore"):
        out[:, _COVER] = np.count_nonzero(rep.covers(true_value).reshape(nb, b), axis=1)
    out[:, _NAN] = (rep.n_placebo + rep.n_anastrozole).reshape(nb, b).sum(axis=1)
    return list(out)


def _run_blocks(cfg: dict, scenario: str, blocks, methods, true_value, alpha, p_only=False, prior=None):
    if prior is None and all(engine.method_engine(cfg, m, methods) == "exact" for m in methods):
        out = []
        for members, start, res in engine.exact_groups(cfg, scenario, blocks, methods, p_only):
            parts = [((i % engine.EXACT_GROUP_BLOCKS) * engine.BLOCK - start, r) for i, r in members]
            sums = {m: group_sums(res[m], parts, true_value, alpha) for m in methods}
            out.extend({m: sums[m][k] for m in methods} for k in range(len(members)))
        return out
    if prior is None:
        return [
            {m: block_sums(res[m], true_value, alpha) for m in methods}
            for res in engine.run_blocks(cfg, scenario, blocks, methods, p_only)
        ]
    from vtrial import assurance

    g = prior.difference.direction()
    out = []
    for index, size in blocks:
        res, truths = engine.run_block(cfg, scenario, index, size, methods, p_only, prior=prior)
        if cfg["analysis"]["scale"] == "absolute":  # the estimand's units, as truth()
            truths = truths * cfg["cohort"]["bmd_mean_g_cm2"] / 100.0
        out.append(
            {
                m: np.concatenate(
                    [
                        block_sums(res[m], true_value, alpha),
                        assurance.block_sums(res[m].significant(alpha), res[m].estimate, truths, g),
                    ]
                )
                for m in methods
            }
        )
    return out


class _Progress:
    def __init__(self, total: int, label: str, enabled: bool):
        self.total, self.label, self.enabled = total, label, enabled
        self.done = 0
        self.start = time.perf_counter()
        self.shown = False

    def step(self, k: int) -> None:
        self.done += k
        if not self.enabled:
            return
        elapsed = time.perf_counter() - self.start
        if elapsed > 2.0 or self.shown:
            self.shown = True
            rate = self.done / elapsed if elapsed > 0 else 0
            eta = (self.total - self.done) / rate if rate > 0 else float("nan")
            print(
                f"\r{self.label}: {self.done}/{self.total} blocks, {elapsed:.0f} s, eta {eta:.0f} s ",
                end="",
                file=sys.stderr,
                flush=True,
            )

    def close(self) -> None:
        if self.shown:
            print(file=sys.stderr, flush=True)


def simulate_sums(
    cfg: dict,
    scenario: str,
    reps: int,
    methods,
    *,
    workers: int = 1,
    chunk_size: int | None = None,
    first_block: int = 0,
    progress: bool = False,
    label: str = "",
    pool=None,
    p_only: bool = False,
    prior=None,
) -> dict[str, np.ndarray]:
    """Run ``reps`` replicates of one scenario and return per-method sums.

    Parameters
    ----------
    cfg : dict
        Validated config of one scenario.
    scenario : str
        Scenario id keying the random streams.
    reps : int
        Replicates, split into blocks as :func:`vtrial.engine.block_sizes`.
    methods : sequence of str
    workers : int
        Processes (1: run here).
    chunk_size : int, optional
        Replicates per task (rounded up to whole blocks); default
        ``simulation.chunk_size``.
    first_block : int
        Index of the first block (to extend an earlier run).
    progress : bool
        Progress line on stderr for runs longer than two seconds.
    p_only : bool
        Only rejection counts are needed (sample-size and MDE searches); the
        other sums may then be NaN (see :func:`vtrial.engine.run_block`).
    prior : vtrial.priors.DesignPrior, optional
        Draw each replicate's true difference from this prior; the sums then
        go on with :func:`vtrial.assurance.block_sums` (its
        :data:`vtrial.assurance.N_BLOCK_SUMS` sums after the power sums).

    Returns
    -------
    dict
        Method -> array of sums, added in block order.
    """
    sizes = engine.block_sizes(reps)
    if first_block:
        if reps % engine.BLOCK:
            raise ValueError("extending a run needs whole blocks")
    blocks = [(first_block + i, s) for i, s in enumerate(sizes)]
    if workers > 1 and len(blocks) <= _LOCAL_EXACT_BLOCKS and prior is None:
        # The exact engine runs 100,000 replicates in about 15 ms, less than
        # handing tasks to worker processes costs: run them here (same sums).
        if all(engine.method_engine(cfg, m, methods) == "exact" for m in methods):
            workers = 1
    chunk = chunk_size or cfg["simulation"]["chunk_size"]
    per_task = max(1, math.ceil(chunk / engine.BLOCK))
    tasks = [blocks[i : i + per_task] for i in range(0, len(blocks), per_task)]
    # Smaller tasks keep all workers busy; the result does not depend on it.
    if workers > 1 and len(tasks) < 4 * workers:
        per_task = max(1, len(blocks) // (4 * workers))
        tasks = [blocks[i : i + per_task] for i in range(0, len(blocks), per_task)]
    alpha = float(cfg["analysis"]["alpha"])
    tv = truth(cfg)
    bar = _Progress(len(blocks), label or f"scenario {scenario}", progress)
    results = []
    if workers <= 1 or len(tasks) == 1:
        for t in tasks:
            results.extend(_run_blocks(cfg, scenario, t, methods, tv, alpha, p_only, prior))
            bar.step(len(t))
    else:
        own = pool is None
        ex = pool or _pool(workers)
        try:
            futs = [
                ex.submit(_run_blocks, cfg, scenario, t, methods, tv, alpha, p_only, prior) for t in tasks
            ]
            for f, t in zip(futs, tasks, strict=True):
                results.extend(f.result())
                bar.step(len(t))
        finally:
            if own:
                ex.shutdown()
    bar.close()
    width = engine_nsums() if prior is None else engine_nsums() + _assurance_nsums()
    total = {m: np.zeros(width) for m in methods}
    for block in results:  # block order: deterministic sums
        for m in methods:
            total[m] = total[m] + block[m]
    return total


#: Blocks of exact-engine-only work that :func:`simulate_sums` runs in process whatever ``workers``.
_LOCAL_EXACT_BLOCKS = 100


def engine_nsums() -> int:
    return _NSUMS


def _assurance_nsums() -> int:
    from vtrial import assurance

    return assurance.N_BLOCK_SUMS


def _pool(workers: int):
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("fork"))


def wilson(successes: float, n: float, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion.

    Examples
    --------
    >>> [round(float(x), 4) for x in wilson(80, 100)]
    [0.7112, 0.8666]
    """
    if n <= 0:
        return float("nan"), float("nan")
    z = special.ndtri(0.5 + level / 2)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return centre - half, centre + half


def summarise(sums: np.ndarray, true_value: float) -> dict:
    """Power-table diagnostics from a method's sums (see the module docstring)."""
    reps = sums[_REPS]
    valid = sums[_VALID]
    p = sums[_REJ] / reps
    lo, hi = wilson(sums[_REJ], reps)
    nan = float("nan")
    bias = sums[_SD] / valid if valid else nan
    var = (sums[_SD2] - sums[_SD] ** 2 / valid) / (valid - 1) if valid > 1 else nan
    return {
        "reps": int(reps),
        "power": p,
        "power_se": math.sqrt(p * (1 - p) / reps),
        "power_ci_low": lo,
        "power_ci_high": hi,
        "mean_estimate": true_value + bias if valid else nan,
        "bias": bias,
        "emp_se": math.sqrt(max(var, 0.0)) if valid > 1 else nan,
        "mean_se": sums[_SSE] / sums[_NSE] if sums[_NSE] else nan,
        "rmse": math.sqrt(sums[_SD2] / valid) if valid else nan,
        "coverage": sums[_COVER] / valid if valid else nan,
        "mean_n_analyzed": sums[_NAN] / valid if valid else nan,
        "valid_reps": int(valid),
    }


# --------------------------------------------------------------------------- power table


def _methods(cfg: dict, methods) -> list[str]:
    from vtrial.method_registry import METHODS

    chosen = list(methods) if methods else list(cfg["analysis"]["methods"])
    for m in chosen:
        if m not in METHODS:
            raise InputError(f"method {m!r} is unknown (allowed: {', '.join(METHODS)})")
    if len(set(chosen)) != len(chosen):
        raise InputError(f"methods {chosen} repeat a method")
    return chosen


#: Most replicates per run (the schema's maximum of ``simulation.reps``).
REPS_MAX = 100_000_000


def _check_reps(reps) -> int:
    if isinstance(reps, bool) or not isinstance(reps, (int, np.integer)) or not 1 <= reps <= REPS_MAX:
        raise InputError(f"reps: value {reps} is not allowed (need an integer from 1 to {REPS_MAX})")
    return int(reps)


def _check_target_se(target_se) -> float:
    if isinstance(target_se, bool) or not isinstance(target_se, (int, float)):
        raise InputError(f"target_se: value {target_se!r} is not a number (allowed: 0 < S <= 0.5)")
    if not 0 < target_se <= 0.5:
        raise InputError(f"target_se: value {target_se!r} is out of range (allowed: 0 < S <= 0.5)")
    return float(target_se)


def reps_for_target_se(
    cfg: dict, scenario: str, methods, target_se: float, **kw
) -> tuple[int, dict[str, np.ndarray]]:
    """Replicates (whole blocks) so that every method's power SE is at most ``target_se``.

    Runs a pilot of ``max(1000, reps/10)`` replicates, then extends the run
    block by block (the blocks already run are kept) to
    ``max_m p_m (1 - p_m) / target_se^2`` replicates for the estimated powers,
    repeating until the SE reached with the final estimates is at most the
    target. Never more than ``0.25 / target_se^2`` (the worst case p = 1/2).

    Returns
    -------
    reps : int
    sums : dict
        The per-method sums of the final run.
    """
    b = engine.BLOCK
    cap = math.ceil(0.25 / target_se**2 / b) * b
    reps = min(cap, max(b, math.ceil(cap / 10 / b) * b))
    sums = simulate_sums(cfg, scenario, reps, methods, **kw)
    while True:
        need = 0
        for m in methods:
            p = sums[m][_REJ] / sums[m][_REPS]
            need = max(need, p * (1 - p) / target_se**2)
        if need <= reps or reps >= cap:
            return reps, sums
        new = min(cap, math.ceil(need / b) * b)
        extra = simulate_sums(cfg, scenario, new - reps, methods, first_block=reps // b, **kw)
        sums = {m: sums[m] + extra[m] for m in methods}
        reps = new


def run_options(cfg: dict, reps, target_se, workers) -> tuple[int, float | None, int]:
    """Checked replicates, target SE and workers of a power run (arguments over ``simulation`` keys).

    :class:`InputError` (one line) for a value out of range.
    """
    sim = cfg["simulation"]
    if target_se is None:
        target_se = sim.get("target_se")
    if target_se is not None:
        target_se = _check_target_se(target_se)
    reps = _check_reps(sim["reps"] if reps is None else reps)
    workers = int(workers or sim.get("workers", 1))
    if workers < 1:
        raise InputError(f"workers: value {workers} is not allowed (need >= 1)")
    return reps, target_se, workers


def run_power(
    cfg: dict,
    *,
    reps: int | None = None,
    target_se: float | None = None,
    workers: int = 1,
    progress: bool = False,
    methods=None,
    chunk_size: int | None = None,
    checkpoint_dir=None,
) -> pd.DataFrame:
    """Monte Carlo power and diagnostics for every scenario of the grid and method.

    Parameters
    ----------
    cfg : dict
        Validated config (its ``grid`` is expanded).
    reps : int, optional
        Replicate trials per scenario (default ``simulation.reps``). Ignored when
        a target SE is set.
    target_se : float, optional
        Choose the replicates per scenario so every power estimate has a Monte
        Carlo SE of at most this (probability scale, e.g. 0.005); default
        ``simulation.target_se``.
    workers : int
        Worker processes (results do not depend on it).
    progress : bool
        Progress line on stderr for long runs.
    methods : sequence of str, optional
        Default ``analysis.methods``.
    chunk_size : int, optional
        Replicates per task (default ``simulation.chunk_size``; results do not
        depend on it).
    checkpoint_dir : str or Path, optional
        Folder keeping each finished scenario's sums, so that a run that was
        interrupted resumes without redoing them (see :func:`_checkpointed`).

    Returns
    -------
    pandas.DataFrame
        One row per scenario and method: the contract columns
        (:data:`POWER_COLUMNS`), one column per grid key, then ``engine``
        (``exact``, ``per_man_y``, ``per_man``, ``full`` or ``reference``), ``missing`` and
        ``valid_reps`` (replicates whose analysis could be fitted).

    Examples
    --------
    >>> from vtrial.config import load_config
    >>> cfg = load_config(overrides=["analysis.methods=[ancova]"])
    >>> t = run_power(cfg, reps=2000)
    >>> t.loc[0, "engine"], bool(0.88 < t.loc[0, "power"] < 0.95)
    ('exact', True)
    """
    from vtrial import design

    reps, target_se, workers = run_options(cfg, reps, target_se, workers)
    if not design.is_default(cfg):  # multi-arm, scheduled or two-endpoint designs
        from vtrial.design_power import run_design_power

        return run_design_power(cfg, reps=reps, target_se=target_se, workers=workers, progress=progress,
                                methods=methods, chunk_size=chunk_size, checkpoint_dir=checkpoint_dir)  # fmt: skip
    methods = _methods(cfg, methods)
    scenarios = config_mod.expand_grid(cfg)
    grid_keys = list((cfg.get("grid") or {}).keys())
    rows = []
    pool = _pool(workers) if workers > 1 else None
    try:
        for k, sc in enumerate(scenarios):
            scfg = sc.config
            label = f"scenario {k + 1}/{len(scenarios)} ({sc.id})"
            kw = dict(workers=workers, chunk_size=chunk_size, progress=progress, label=label, pool=pool)

            def simulate(scfg=scfg, sc=sc, kw=kw):
                if target_se is not None:
                    return reps_for_target_se(scfg, sc.id, methods, target_se, **kw)[1]
                return simulate_sums(scfg, sc.id, reps, methods, **kw)

            key = {"config": scfg, "methods": list(methods), "reps": reps, "target_se": target_se}
            sums = _checkpointed(checkpoint_dir, sc.id, key, simulate)
            tv = truth(scfg)
            for m in methods:
                s = summarise(sums[m], tv)
                row = {
                    "scenario_id": sc.id,
                    "method": m,
                    "n_per_arm": int(scfg["trial"]["n_per_arm"]),
                    "alpha": float(scfg["analysis"]["alpha"]),
                    "true_difference_pct": float(trial_mod.implied_effects(scfg).difference_pct),
                    "analytic_power": analytic_power(scfg, m),
                    "engine": engine.method_engine(scfg, m, methods),
                    "missing": scfg["analysis"]["missing"],
                    **s,
                }
                for key, value in sc.grid_values:
                    row[key] = value
                rows.append(row)
    finally:
        if pool is not None:
            pool.shutdown()
    return pd.DataFrame(rows, columns=POWER_COLUMNS + grid_keys + EXTRA_COLUMNS)


def _checkpointed(folder, scenario: str, key: dict, simulate) -> dict[str, np.ndarray]:
    """Per-method sums of one scenario, read from ``folder`` if an earlier run saved them.

    The file name holds a hash of everything the sums depend on (the scenario's
    config, methods, replicates, target SE), so a changed setting never reuses
    stale sums. Files are written whole or not at all (rename) and carry a
    SHA-256 of their sums: a truncated or corrupt file (a run killed while
    writing, a full disk) is recomputed, as is everything when ``folder`` is
    taken by something that is not a folder. Failing to save a checkpoint only
    costs the resume; it is not an error.
    """
    if folder is None:
        return simulate()
    import hashlib
    import json
    import os
    from pathlib import Path

    folder = Path(folder)
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]
    path = folder / f"{scenario}-{digest}.npz"
    saved = _read_checkpoint(path, key["methods"])
    if saved is not None:
        return saved
    sums = simulate()
    if folder.exists() and not folder.is_dir():
        return sums
    tmp = path.with_suffix(".tmp.npz")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        np.savez(tmp, __sha256__=np.array(_sums_sha256(sums, key["methods"])), **sums)
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
    return sums


def _sums_sha256(sums: dict[str, np.ndarray], methods) -> str:
    import hashlib

    h = hashlib.sha256()
    for m in methods:
        h.update(m.encode())
        h.update(np.ascontiguousarray(sums[m], dtype=float).tobytes())
    return h.hexdigest()


def _read_checkpoint(path, methods) -> dict[str, np.ndarray] | None:
    """The sums saved at ``path`` if the file is whole and its checksum matches, else None."""
    import zipfile

    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as saved:
            sums = {m: np.asarray(saved[m], dtype=float) for m in methods}
            stored = str(saved["__sha256__"])
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None
    if stored != _sums_sha256(sums, methods) or any(s.shape != (_NSUMS,) for s in sums.values()):
        return None
    return sums


def write_table(table: pd.DataFrame, path) -> None:
    """Write a table as CSV with full float precision (``repr`` round trip)."""
    table.to_csv(path, index=False, lineterminator="\n")


# --------------------------------------------------------------------------- one solver


@dataclass(frozen=True)
class SearchKey:
    """A config key a search may vary: its kind and its limits.

    ``integer`` keys (men per arm) end with the answer n and n - 1 both
    evaluated; continuous keys are bisected to ``tol`` and keep the sign of the
    configured value (``signed``), the search running over its absolute value.
    """

    integer: bool
    lower: float
    upper: float
    signed: bool = False


#: Keys :func:`solve` can search, with their limits (``upper`` is the default
#: largest value tried; an answer beyond it is reported as not reached).
SEARCH_KEYS = {
    "trial.n_per_arm": SearchKey(integer=True, lower=2, upper=100_000),
    "effects.difference_pct": SearchKey(integer=False, lower=0.0, upper=50.0, signed=True),
}


def _power_mc(cfg: dict, scenario: str, methods, reps: int, **kw) -> dict[str, tuple[float, float]]:
    """Monte Carlo power and its SE per method (rejection counts only)."""
    sums = simulate_sums(cfg, scenario, reps, methods, p_only=True, **kw)
    out = {}
    for m in methods:
        p = sums[m][_REJ] / sums[m][_REPS]
        out[m] = (p, math.sqrt(p * (1 - p) / reps))
    return out


@dataclass(frozen=True)
class Statistic:
    """What a search drives to a target: a Monte Carlo estimate and, where one exists, a formula.

    ``monte_carlo(cfg, scenario, methods, reps, **kw)`` returns method ->
    (value, Monte Carlo SE), simulating with the streams of ``scenario``;
    ``analytic(cfg, method)`` returns the exact value or NaN. Both must be
    non-decreasing in the searched key (in its absolute value for signed keys).
    ``reason(cfg, method)`` says why ``analytic`` has no formula ("" if it has one).
    ``seed_method`` names a method whose formula is cheap and close to the
    others': its answer starts the other methods' formula searches over an
    integer key. ``uses_prior``: both functions take a keyword ``prior`` (a
    :class:`vtrial.priors.DesignPrior`).
    """

    name: str
    monte_carlo: Callable[..., dict[str, tuple[float, float]]]
    analytic: Callable[[dict, str], float] | None = None
    seed_method: str | None = None
    uses_prior: bool = False
    reason: Callable[[dict, str], str] = analytic_reason


#: Columns of a :func:`solve` table before the grid columns.
SOLVE_COLUMNS = [
    "scenario_id", "method", "target", "value", "statistic", "statistic_se", "value_below",
    "statistic_below", "statistic_below_se", "analytic_value", "analytic_statistic", "reps", "engine",
]  # fmt: skip


def _assurance_mc(
    cfg: dict, scenario: str, methods, reps: int, *, prior, **kw
) -> dict[str, tuple[float, float]]:
    """Monte Carlo assurance and its SE per method (true differences drawn from ``prior``)."""
    from vtrial import assurance

    sums = simulate_sums(cfg, scenario, reps, methods, prior=prior, **kw)
    out = {}
    for m in methods:
        r = assurance.summarise_sums(sums[m][_NSUMS:])
        out[m] = (r["assurance"], r["assurance_se"])
    return out


def _analytic_assurance(cfg: dict, method: str, *, prior) -> float:
    from vtrial import assurance

    return assurance.analytic_assurance(cfg, method, prior)


def _sequential_power_mc(
    cfg: dict, scenario: str, methods, reps: int, **kw
) -> dict[str, tuple[float, float]]:
    """Power of the config's group-sequential design (:func:`vtrial.sequential_sim.sequential_power`)."""
    from vtrial import sequential_sim

    return sequential_sim.sequential_power(cfg, scenario, methods, reps)


#: Statistics :func:`solve` knows; a new one is one entry here.
STATISTICS = {
    "power": Statistic("power", _power_mc, analytic_power, seed_method="student_t"),
    "assurance": Statistic(
        "assurance", _assurance_mc, _analytic_assurance, seed_method="student_t", uses_prior=True
    ),
    "sequential_power": Statistic("sequential_power", _sequential_power_mc),
}


def _search(
    f: Callable[[float], float], target: float, spec: SearchKey, start: float, upper: float, tol: float
):
    """Smallest value at which the non-decreasing ``f`` reaches ``target``; None if not by ``upper``.

    Integer keys: from ``start``, walk down (or up) in doubling steps until the
    target is bracketed, then bisect to adjacent integers. Continuous keys:
    double from ``start`` until the target is reached, try half of the first
    value that reaches it, then bisect to ``tol`` (midpoints rounded to 12
    decimals so that answers print cleanly).

    Examples
    --------
    >>> _search(lambda n: n / 100, 0.8, SEARCH_KEYS["trial.n_per_arm"], 10, 1000, 1)
    80
    >>> _search(lambda d: d, 0.8, SEARCH_KEYS["effects.difference_pct"], 1.0, 50.0, 1e-3)
    0.80078125
    """
    if spec.integer:
        start = max(int(spec.lower), int(start))
        if f(start) >= target:
            hi, lo, step = start, start - 1, 1
            while lo >= spec.lower and f(lo) >= target:
                hi = lo
                lo = max(int(spec.lower) - 1, hi - step)
                step *= 2
        else:
            lo, hi, step = start, start + 1, 1
            while f(hi) < target:
                lo = hi
                step *= 2
                hi = hi + step
                if hi > upper:
                    return None
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if f(mid) >= target:
                hi = mid
            else:
                lo = mid
        return hi
    lo, hi = 0.0, float(start)
    while f(hi) < target:
        lo, hi = hi, hi * 2
        if hi > upper:
            return None
    if lo == 0.0 and hi > 0:
        lo = hi / 2 if f(hi / 2) < target else 0.0
    while hi - lo > tol:
        mid = round((lo + hi) / 2, 12)
        if f(mid) >= target:
            hi = mid
        else:
            lo = mid
    return hi


def _check_target(target, statistic: str) -> float:
    if isinstance(target, bool) or not isinstance(target, (int, float)):
        raise InputError(f"target {statistic}: value {target!r} is not a number (allowed: 0 < P < 1)")
    if not 0 < target < 1:
        raise InputError(f"target {statistic}: value {target!r} is out of range (allowed: 0 < P < 1)")
    return float(target)


def _analytic_answer(exact, cfg, key, spec, stat, method, target, upper, tol) -> float:
    """The formula's answer (NaN where there is no formula or it is not reached).

    ``exact(v, method)`` is the formula at value ``v`` of the key (memoised by
    the caller, so the row's values at the answer are not computed twice).
    """
    if stat.analytic is None or stat.reason(cfg, method):
        return float("nan")
    # Integer searches start at the configured value, or at the seed method's
    # answer (Student's n is within a man or two of Welch's, whose quadrature
    # is costly); continuous ones at 1.
    start = cfg_value(cfg, key) if spec.integer else 1.0
    if spec.integer and stat.seed_method not in (None, method) and not stat.reason(cfg, stat.seed_method):
        seed = _analytic_answer(exact, cfg, key, spec, stat, stat.seed_method, target, upper, tol)
        start = seed if np.isfinite(seed) else start
    found = _search(lambda v: exact(v, method), target, spec, start, upper, tol)
    return float("nan") if found is None else float(found)


def _sign(cfg: dict, key: str, spec: SearchKey) -> float:
    if not spec.signed:
        return 1.0
    return -1.0 if config_mod.get_key(cfg, key) <= 0 else 1.0


def _prior_for(cfg: dict, prior, target: float, simulate: bool):
    """The design prior of a search (given, or the config's), after checking ``target`` is reachable."""
    from vtrial import assurance

    dp = assurance.design_prior(cfg) if prior is None else prior
    if simulate:
        engine.check_prior(cfg, dp)
    top = assurance.max_assurance(dp, cfg["analysis"]["alpha"])
    if target >= top:
        raise InputError(
            f"target assurance: value {target} is not reachable; the largest assurance any sample "
            f"size gives is {top:.6g} (the prior probability of the favoured sign)"
        )
    return dp


def cfg_value(cfg: dict, key: str) -> float:
    """The configured value of ``key`` as a search start (absolute value; 1 if zero)."""
    value = abs(config_mod.get_key(cfg, key))
    return value if value else 1


def solve(
    cfg: dict,
    key: str,
    target: float,
    *,
    methods=None,
    reps: int | None = None,
    workers: int = 1,
    progress: bool = False,
    statistic: str = "power",
    analytic_only: bool = False,
    upper: float | None = None,
    tol: float = 1e-3,
    prior=None,
    comparison: str | None = None,
) -> pd.DataFrame:
    """Smallest value of a monotone config key at which a statistic reaches a target.

    In the spirit of statsmodels' ``solve_power`` and SimDesign's ``SimSolve``:
    for every scenario of the grid and every method, search ``key`` (see
    :data:`SEARCH_KEYS`) for the smallest value whose ``statistic`` (see
    :data:`STATISTICS`) is at least ``target``. Monte Carlo evaluations use
    common random numbers: the streams are keyed by the scenario id *without*
    ``key`` (men are drawn man-major per arm and differences shift the same
    men), so the estimate is monotone in the key up to the method's own
    behaviour, and a candidate value is simulated once for all methods.

    The Monte Carlo search starts from the formula's answer where one exists,
    else from the configured value (its absolute value; 1 if zero).

    Parameters
    ----------
    cfg : dict
        Validated config; a grid is expanded (one search per scenario) but may
        not vary ``key``.
    key : str
        ``trial.n_per_arm`` (integer; the answer n and n - 1 are both
        evaluated) or ``effects.difference_pct`` (percentage points, searched
        over its absolute value with the configured sign; direct mode only).
    target : float
        In (0, 1).
    methods : sequence of str, optional
        Default ``analysis.methods``.
    reps : int, optional
        Replicates per candidate value (default ``simulation.reps``).
    workers, progress
        As :func:`run_power`.
    statistic : str
        A key of :data:`STATISTICS`.
    analytic_only : bool
        Use only the formula (no simulation; ``reps`` is reported as 0 and
        ``engine`` as ``analytic``).
    upper : float, optional
        Largest value tried (default: the key's limit in :data:`SEARCH_KEYS`).
    tol : float
        Precision of a continuous answer (units of the key); the formula's
        answer is found to ``tol / 10``.
    prior : vtrial.priors.DesignPrior, optional
        Design prior of a statistic that uses one (``assurance``); default
        :func:`vtrial.assurance.design_prior` of each scenario. A target at or
        above :func:`vtrial.assurance.max_assurance` is refused before any
        search.
    comparison : str, optional
        A multi-arm, scheduled or two-endpoint design (:func:`vtrial.design.is_default`
        False; statistic ``power``): the row of its power table the search drives
        to the target, see :func:`vtrial.design_power.search_rows` (default
        ``each``: the smallest power over its pairwise comparisons). A two-arm
        config accepts its one label, ``each``, ``any`` or ``all`` (all the same row).

    Returns
    -------
    pandas.DataFrame
        One row per scenario and method: ``scenario_id`` (without ``key``),
        ``method``, ``target``, ``value`` (absolute value; NaN if not reached by
        ``upper``), ``statistic, statistic_se`` at it, ``value_below,
        statistic_below, statistic_below_se`` (integer keys: n - 1; NaN for
        continuous keys), ``analytic_value`` (the formula's answer; NaN where
        there is none), ``analytic_statistic`` (the formula at ``value``),
        ``reps``, ``engine`` (at the answer) and one column per grid key;
        for a design, then ``comparison`` (the searched row).

    Examples
    --------
    >>> from vtrial.config import load_config
    >>> cfg = load_config(overrides=["dropout.anastrozole=0", "dropout.placebo=0"])
    >>> t = solve(cfg, "trial.n_per_arm", 0.9, methods=["student_t"], analytic_only=True)
    >>> int(t.loc[0, "value"]), bool(t.loc[0, "statistic"] >= 0.9 > t.loc[0, "statistic_below"])
    (33, True)
    """
    from vtrial import design

    if key not in SEARCH_KEYS:
        raise InputError(f"search key {key!r} is not allowed (allowed: {', '.join(SEARCH_KEYS)})")
    if statistic not in STATISTICS:
        raise InputError(f"statistic {statistic!r} is unknown (allowed: {', '.join(STATISTICS)})")
    spec, stat = SEARCH_KEYS[key], STATISTICS[statistic]
    default = design.is_default(cfg)
    if not default:  # multi-arm, scheduled or two-endpoint designs: their own power
        from vtrial import design_power

        stat = design_power.search_statistic(cfg, statistic, comparison)
    elif comparison is not None:
        from vtrial.design_power import search_rows

        search_rows(design.design_of(cfg), comparison)
    if analytic_only and stat.analytic is None:
        raise InputError(f"statistic {statistic!r} has no formula (analytic_only is not allowed)")
    target = _check_target(target, statistic)
    methods = _methods(cfg, methods) if default else design_power.search_methods(cfg, methods)
    set_key = config_mod.set_key if default else design_power.set_search_key
    reps = 0 if analytic_only else _check_reps(cfg["simulation"]["reps"] if reps is None else reps)
    upper = spec.upper if upper is None else upper
    if key == "effects.difference_pct" and cfg["effects"]["mode"] != "direct":
        raise InputError("config key 'effects.mode': a search over the difference needs 'direct'")
    if key in (cfg.get("grid") or {}):
        raise InputError(f"grid key '{key}': the search varies it; do not put it in the grid")
    grid_keys = list((cfg.get("grid") or {}).keys())
    nan = float("nan")
    rows = []
    pool = _pool(workers) if workers > 1 and not analytic_only else None
    try:
        scenarios = config_mod.expand_grid(cfg)
        # every scenario's target is checked before any search
        priors = [
            _prior_for(sc.config, prior, target, not analytic_only) if stat.uses_prior else None
            for sc in scenarios
        ]
        for sc, dp in zip(scenarios, priors, strict=True):
            base = sc.config
            sid = config_mod.scenario_id(base, exclude=(key,))
            sign = (
                _sign(base, key, spec) if default or not spec.signed else design_power.search_sign(base, key)
            )
            monte_carlo, analytic = stat.monte_carlo, stat.analytic
            if dp is not None:
                monte_carlo = functools.partial(monte_carlo, prior=dp)
                analytic = functools.partial(analytic, prior=dp)
            cache: dict[float, dict | None] = {}
            exact_cache: dict[tuple, float] = {}

            def at(v, base=base, sign=sign):
                return set_key(base, key, int(v) if spec.integer else sign * v)

            def exact(v, m, at=at, exact_cache=exact_cache, analytic=analytic) -> float:
                if (v, m) not in exact_cache:
                    c = at(v)
                    try:
                        _check_sizes(c, default)
                    except InputError:
                        exact_cache[v, m] = 0.0
                    else:
                        exact_cache[v, m] = analytic(c, m)
                return exact_cache[v, m]

            def evaluate(
                v, m, at=at, sid=sid, cache=cache, exact=exact, monte_carlo=monte_carlo
            ) -> tuple[float, float]:
                if analytic_only:
                    return exact(v, m), nan
                if v not in cache:
                    c = at(v)
                    try:
                        _check_sizes(c, default)
                    except InputError:
                        cache[v] = None
                    else:
                        label = f"{key} {v}"
                        kw = dict(workers=workers, progress=progress, label=label, pool=pool)
                        cache[v] = monte_carlo(c, sid, methods, reps, **kw)
                return (0.0, nan) if cache[v] is None else cache[v][m]

            for m in methods:
                an = _analytic_answer(exact, base, key, spec, stat, m, target, upper, tol / 10)
                if analytic_only:
                    found = None if math.isnan(an) else an
                else:
                    start = an if np.isfinite(an) else cfg_value(base, key)
                    found = _search(lambda v, m=m: evaluate(v, m)[0], target, spec, start, upper, tol)
                row = {"scenario_id": sid, "method": m, "target": target}
                below = (nan, nan, nan)
                exact_at = nan
                if found is None:
                    row.update(value=nan, statistic=nan, statistic_se=nan)
                    eng = engine.method_engine(base, m, methods) if default else "design"
                else:
                    if spec.integer:
                        found = int(found)
                        if found - 1 >= spec.lower:
                            below = (found - 1, *evaluate(found - 1, m))
                    value, se = evaluate(found, m)
                    row.update(value=found, statistic=value, statistic_se=se)
                    eng = engine.method_engine(at(found), m, methods) if default else "design"
                    if stat.analytic is not None:
                        exact_at = exact(found, m)
                row.update(
                    value_below=below[0],
                    statistic_below=below[1],
                    statistic_below_se=below[2],
                    analytic_value=an,
                    analytic_statistic=exact_at,
                    reps=reps,
                    engine="analytic" if analytic_only else eng,
                )
                for gk, gv in sc.grid_values:
                    row[gk] = gv
                if not default:
                    row["comparison"] = comparison or design_power.EACH
                rows.append(row)
    finally:
        if pool is not None:
            pool.shutdown()
    return pd.DataFrame(rows, columns=SOLVE_COLUMNS + grid_keys + ([] if default else ["comparison"]))


def _check_sizes(cfg: dict, default: bool) -> None:
    """:class:`InputError` when a candidate leaves an arm with fewer than two men."""
    if default:
        trial_mod.arm_sizes(cfg["trial"])
    else:
        from vtrial.design_power import check_sizes

        check_sizes(cfg)


# --------------------------------------------------------------------------- sample size and MDE


def analytic_sample_size(cfg: dict, method: str, target_power: float, n_max: int = 100_000) -> float:
    """Smallest ``trial.n_per_arm`` whose :func:`analytic_power` reaches the target (NaN if none).

    Examples
    --------
    >>> from vtrial.config import load_config
    >>> cfg = load_config(overrides=["dropout.anastrozole=0", "dropout.placebo=0"])
    >>> analytic_sample_size(cfg, "student_t", 0.8)  # R: power.t.test(delta=2.46, sd=3) gives 24.3
    25.0
    """
    t = solve(cfg, "trial.n_per_arm", target_power, methods=[method], analytic_only=True, upper=n_max)
    return float(t.loc[0, "value"])


def sample_size(
    cfg: dict,
    target_power: float,
    methods=None,
    *,
    reps: int | None = None,
    workers: int = 1,
    progress: bool = False,
    n_max: int = 100_000,
    statistic: str = "power",
    prior=None,
    comparison: str | None = None,
) -> pd.DataFrame:
    """Smallest n per arm whose Monte Carlo power (or assurance) reaches ``target_power``.

    :func:`solve` over ``trial.n_per_arm``: common random numbers across
    candidate sizes (the streams are keyed by the scenario id without
    ``trial.n_per_arm``, and men are drawn man-major per arm, so a larger
    trial extends the smaller one), starting from the analytic answer where one
    exists (else from ``trial.n_per_arm``), ending with the sizes n - 1 (power
    below target) and n (power at or above target) both evaluated.

    Parameters
    ----------
    cfg : dict
        Validated config; a grid is expanded (one search per scenario) but may
        not vary ``trial.n_per_arm``.
    target_power : float
        In (0, 1).
    methods : sequence of str, optional
        Default ``analysis.methods``.
    reps : int, optional
        Replicates per candidate size (default ``simulation.reps``).
    workers, progress
        As :func:`run_power`.
    n_max : int
        Largest n per arm tried.
    statistic : {"power", "assurance"}
        What must reach the target: the power, or the assurance under
        ``prior`` (:mod:`vtrial.assurance`; each replicate's true difference
        drawn from the prior, the same draws at every candidate n).
    prior : vtrial.priors.DesignPrior, optional
        For ``assurance``; default the config's (:func:`vtrial.assurance.design_prior`).
    comparison : str, optional
        Designs: the power row to reach the target (:func:`solve`).

    Returns
    -------
    pandas.DataFrame
        One row per scenario and method: ``scenario_id, method, target_power,
        n_per_arm`` (Monte Carlo answer; NaN if not reached by ``n_max``),
        ``power, power_se`` at n, ``power_below, power_below_se`` at n - 1,
        ``analytic_n_per_arm``, ``analytic_power`` (at the Monte Carlo n),
        ``reps, engine`` and one column per grid key. With ``assurance``,
        ``power`` reads ``assurance`` in every column name. A design has
        ``comparison`` (the searched row) after ``method``.
    """
    if "trial.n_per_arm" in (cfg.get("grid") or {}):
        raise InputError("grid key 'trial.n_per_arm': sample-size searches over n; do not put it in the grid")
    t = solve(cfg, "trial.n_per_arm", target_power, methods=methods, reps=reps, workers=workers,
              progress=progress, upper=n_max, statistic=statistic, prior=prior, comparison=comparison)  # fmt: skip
    st = statistic
    out = pd.DataFrame(
        {
            "scenario_id": t["scenario_id"],
            "method": t["method"],
            f"target_{st}": t["target"],
            "n_per_arm": t["value"],
            st: t["statistic"],
            f"{st}_se": t["statistic_se"],
            f"{st}_below": t["statistic_below"],
            f"{st}_below_se": t["statistic_below_se"],
            "analytic_n_per_arm": t["analytic_value"],
            f"analytic_{st}": t["analytic_statistic"],
            "reps": t["reps"],
            "engine": t["engine"],
        }
    )
    return _with_design_columns(out, t)


def mde(
    cfg: dict,
    n_per_arm: int,
    target_power: float,
    methods=None,
    *,
    reps: int | None = None,
    workers: int = 1,
    progress: bool = False,
    tol: float = 1e-3,
    comparison: str | None = None,
) -> pd.DataFrame:
    """Smallest |difference| (percentage points) whose power reaches ``target_power``.

    :func:`solve` over ``effects.difference_pct``, keeping its sign (negative:
    anastrozole loses bone). Streams are keyed by the scenario id without
    ``effects.difference_pct``, so every candidate difference analyses the same
    simulated men, shifted: the Monte Carlo power is then non-decreasing in
    |difference| for the t-tests and ANCOVA, and the bisection (to ``tol``)
    finds where it crosses the target.

    Parameters
    ----------
    cfg : dict
        Validated config in direct mode.
    n_per_arm : int
        Men randomized to placebo (anastrozole: times ``allocation_ratio``).
    target_power : float
        In (0, 1).
    methods : sequence of str, optional
    reps : int, optional
        Replicates per candidate difference (default ``simulation.reps``).
    workers, progress
        As :func:`run_power`.
    tol : float
        Precision of the answer (percentage points).
    comparison : str, optional
        Designs: the power row to reach the target (:func:`solve`). A design
        that lists ``trial.arms`` varies the difference of every treated arm
        together (:func:`vtrial.design_power.set_search_key`).

    Returns
    -------
    pandas.DataFrame
        One row per scenario and method: ``scenario_id, method, n_per_arm,
        target_power, mde_pct`` (absolute value), ``power, power_se`` at it,
        ``analytic_mde_pct``, ``reps, engine`` and one column per grid key
        (a design: ``comparison`` after ``method``).
    """
    _check_target(target_power, "power")
    if isinstance(n_per_arm, bool) or not isinstance(n_per_arm, (int, np.integer)) or n_per_arm < 2:
        raise InputError(f"n per arm: value {n_per_arm!r} is not allowed (need an integer >= 2)")
    if cfg["effects"]["mode"] != "direct":
        raise InputError("config key 'effects.mode': mde needs 'direct' (the difference is set directly)")
    if "effects.difference_pct" in (cfg.get("grid") or {}):
        raise InputError("grid key 'effects.difference_pct': mde searches over it; do not put it in the grid")
    cfg = config_mod.set_key(cfg, "trial.n_per_arm", int(n_per_arm))
    config_mod.validate_config(cfg)
    t = solve(cfg, "effects.difference_pct", target_power, methods=methods, reps=reps, workers=workers,
              progress=progress, tol=tol, comparison=comparison)  # fmt: skip
    out = pd.DataFrame(
        {
            "scenario_id": t["scenario_id"],
            "method": t["method"],
            "n_per_arm": int(n_per_arm),
            "target_power": t["target"],
            "mde_pct": t["value"],
            "power": t["statistic"],
            "power_se": t["statistic_se"],
            "analytic_mde_pct": t["analytic_value"],
            "reps": t["reps"],
            "engine": t["engine"],
        }
    )
    return _with_design_columns(out, t)


def _with_design_columns(out: pd.DataFrame, t: pd.DataFrame) -> pd.DataFrame:
    """``out`` with the grid columns of the :func:`solve` table ``t``; a design's ``comparison`` after ``method``."""
    tail = [c for c in t.columns[len(SOLVE_COLUMNS) :] if c != "comparison"]
    out = pd.concat([out, t[tail]], axis=1)
    if "comparison" in t.columns:
        out.insert(2, "comparison", t["comparison"])
    return out
