"""Simulated group-sequential trials: operating characteristics of the ``sequential`` design.

Each replicate is the two-arm trial of the power engine (the per-man sampler
:func:`vtrial.samplers.per_man_block`: baseline BMD, 6- and 12-month % changes
with DXA error, randomization and dropout), or with ``trial.schedule`` a trial
of :func:`vtrial.design_sim.simulate_design` (scans at any months; see
:mod:`vtrial.sequential_design`), analysed at every look of the config's
``sequential`` section on the data available then. All replicates of a block
are handled at once; only the looks are a Python loop.

Looks and the data at a look
    The ``N`` men of a trial enter in an order that keeps the arms in
    proportion (default schedule, permuted blocks: arm ``a``'s ``i``-th man
    has position ``(i + 1/2) / n_a``; simple randomization: a uniform random
    order; with ``trial.schedule`` the order of
    :func:`vtrial.design_sim.randomize_design`). When the looks are held
    (information fractions, calendar months or men with the endpoint scan)
    and which scans are in by then is :mod:`vtrial.sequential_looks`: with
    ``trial.accrual`` (:mod:`vtrial.accrual`) a man who entered at month
    ``e`` has his month-``s`` scan at a look at month ``C`` when
    ``e + s <= C`` and he attends it; without accrual the endpoints are
    instant (the first men in enrolment order have all their scans). Dropout
    and missed visits are those the man would have in the full trial.

Analyses
    ``welch_t``, ``student_t`` and ``ancova`` use the men with the endpoint
    scan (complete case); ``mmrm`` also uses the earlier scans of men not yet
    at the endpoint (:func:`vtrial.analysis.mmrm.mmrm_vec`, or
    :func:`vtrial.design_stats.mmrm_design` on a schedule: closed-form REML
    under monotone missingness, which holds: a man with a scan at a look had
    his earlier visits by then). The t statistic ``T = g est / SE`` (``g``
    the sign of the configured difference, -1 for bone loss when it is 0) is
    converted to the z scale by its p-value, ``Z = Phi^{-1}(F_t(T; df))``, as
    rpact does for means; ``Z > 0`` is evidence for the configured direction.
    ``Z >= c`` is the same test as ``T >= F_t^{-1}(Phi(c); df)``: t-quantile
    bounds at the look's df are this rule, not a different one (the
    significance-level approach; ``docs/sequential.md`` has its small-sample
    type I error).

Information and bounds
    The information at a look is ``I_k = s_k^2 / SE_k^2``, where ``s_k^2`` is
    the outcome variance among the men with the endpoint (pooled within arms
    for the t-tests; the residual variance on arm and baseline BMD for ANCOVA
    and MMRM): ``1 / SE^2`` in units of the outcome variance, so that the
    chance variation of a variance estimate does not move the fractions (for
    Student's t it is ``n0 n1 / (n0 + n1)`` exactly, for ANCOVA
    ``1 / (1/n0 + 1/n1 + dbbar^2 / Sbb)``). ``I_k / I_K`` is
    reported. Spending-function designs recompute the bounds at the observed
    information as :func:`vtrial.boundaries.observed_design` with the planned
    maximum information ``I_plan`` taken as the mean final information over
    the simulated trials; to do so for every replicate at once the bounds are
    a second-order Taylor expansion in ``log(I_k / I_plan)`` around its mean
    over the replicates (derivatives by finite differences of
    ``observed_design`` at ``1 + 2K + K(K - 1)/2`` points; error below 2e-3
    in z for 10 % deviations, log-deviations are clipped at +-0.3). Classical designs keep their bounds.
    An interim look a trial skips (``look_endpoints`` not reached) has no
    information; its bounds are those at the mean.

Decisions
    Efficacy at look ``k`` when ``Z_k >= c_k``; futility when ``Z_k <= f_k``
    (interim looks; binding or not, the trial stops, as rpact counts it); at
    the final look the trial rejects or accepts.

Estimates at stopping
    The naive estimate is the method's estimate at the stopping look. The
    stage-wise ordering median-unbiased estimate and confidence interval
    (:func:`vtrial.boundaries.stagewise_estimate`, rpact's
    ``getFinalConfidenceInterval``) are computed for the planned design from
    ``(look, Z)`` and put on the outcome scale by ``g mu SE``; they are
    tabulated per look on a grid of ``Z`` and interpolated by cubic splines.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from scipy.interpolate import CubicSpline
from scipy.special import ndtri, stdtr

from vtrial import accrual as accrual_mod
from vtrial import boundaries, engine, samplers
from vtrial import config as config_mod
from vtrial import sequential_looks as looks
from vtrial.analysis.mmrm import mmrm_vec
from vtrial.analysis.ttests import t_methods
from vtrial.errors import InputError
from vtrial.streams import Stream, child_rng, seed_sequence

#: Methods the sequential simulation supports.
METHODS = ("ancova", "welch_t", "student_t", "mmrm")
#: Largest log-deviation of the observed from the planned information used in the bound expansion.
_MAX_LOG_DEV = 0.3
#: Step of the finite differences in log information.
_STEP = 0.02
#: Z grid points per look for the stage-wise estimates.
_GRID = 33

#: Columns of the operating-characteristics table, in order.
OC_COLUMNS = [
    "scenario", "true_difference_pct", "method", "look", "information_fraction", "observed_fraction",
    "se_fraction", "z_efficacy", "z_futility", "prob_efficacy", "prob_efficacy_se", "prob_futility", "prob_futility_se",
    "cumulative_efficacy", "n_enrolled", "n_endpoint", "month", "mean_estimate", "bias",
    "mean_adjusted", "bias_adjusted", "median_bias_adjusted", "coverage_adjusted", "reps",
]  # fmt: skip


@dataclass(frozen=True)
class LookPlan:
    """When each look happens and who has which scan by then, as planned.

    For ``sequential.look_endpoints`` the plan is that of a trial in which no
    one drops out (the simulated looks come later); see
    :mod:`vtrial.sequential_looks`.

    Attributes
    ----------
    fractions : numpy.ndarray
        Planned information fractions ``t_k``.
    n_endpoint : numpy.ndarray of int
        Men (in enrolment order) followed to the endpoint month by look ``k``.
    n_scan6 : numpy.ndarray of int
        Men followed at least to the first post-baseline scan (month 6 of the default schedule).
    n_enrolled : numpy.ndarray of int
        Men randomized by look ``k``.
    months : numpy.ndarray
        Calendar month of each look (NaN without accrual).
    """

    fractions: np.ndarray
    n_endpoint: np.ndarray
    n_scan6: np.ndarray
    n_enrolled: np.ndarray
    months: np.ndarray


def check_config(cfg: dict, method: str | None = None) -> None:
    """Refuse, with one line, what the sequential simulation does not support."""
    if cfg.get("sequential") is None:
        raise InputError(
            "config key 'sequential' is not set (add a sequential section: see config/README.md)"
        )
    from vtrial.design import design_keys

    extra = [k for k in design_keys(cfg) if k != "trial.schedule"]
    if extra:
        raise InputError(
            f"{extra[0]}: not supported with a sequential simulation (two arms and the spine endpoint; "
            "trial.schedule and trial.accrual may be set)"
        )
    schedule = cfg["trial"].get("schedule") is not None
    if schedule:
        opt = engine.analysis_options(cfg)
        if cfg["effects"]["mode"] != "direct" or opt["covariates"]:
            raise InputError(
                "config: the sequential simulation with trial.schedule needs effects.mode direct and no "
                "analysis.covariates"
            )
    elif not engine.per_man_valid(cfg):
        raise InputError(
            "config: the sequential simulation needs effects.mode direct, randomization simple or "
            "permuted_blocks and no analysis.covariates"
        )
    if cfg["analysis"]["missing"] != "complete_case":
        raise InputError(
            f"analysis.missing: {cfg['analysis']['missing']!r} is not supported with a sequential "
            "simulation (allowed: complete_case; mmrm uses every observed scan)"
        )
    accrual_mod.check_accrual(cfg["trial"].get("accrual"))
    looks.planned_fractions(cfg)
    if method is not None and method not in METHODS:
        raise InputError(
            f"method: {method!r} is not supported in a sequential simulation (allowed: {', '.join(METHODS)})"
        )


def look_plan(cfg: dict) -> LookPlan:
    """The :class:`LookPlan` of a config (``sequential`` looks, ``trial.accrual``, ``trial.schedule``).

    Examples
    --------
    >>> from vtrial.config import load_config
    >>> cfg = load_config(overrides=["trial.n_per_arm=30"])
    >>> cfg["sequential"] = {"information_fractions": [0.5, 1]}
    >>> cfg["trial"]["accrual"] = {"rate_per_month": 5}
    >>> plan = look_plan(cfg)
    >>> plan.n_endpoint.tolist(), plan.n_scan6.tolist(), plan.n_enrolled.tolist(), plan.months.tolist()
    ([30, 60], [60, 60], [60, 60], [17.9, 23.9])
    """
    clock = looks.design_clock(cfg)
    fractions = looks.planned_fractions(cfg)
    # as if every man had his endpoint scan
    times = looks.look_times(cfg, clock, (clock.entry + clock.offsets[clock.endpoint])[:, None])[0][:, 0]
    first = np.searchsorted(clock.entry + clock.offsets[0], times + looks.EPS, side="right")
    return LookPlan(fractions, clock.followed(times), first, clock.enrolled(times), clock.months(times))


def direction(cfg: dict) -> int:
    """Sign of the configured difference (anastrozole minus placebo); -1 (bone loss) when it is 0."""
    return 1 if cfg["effects"]["difference_pct"] > 0 else -1


def _enrolment_ranks(cfg: dict, block: samplers.Block, ss: np.random.SeedSequence) -> list[np.ndarray]:
    """Enrolment rank (0 = first man) of every man of each arm, ``(rows, reps)``; inactive men get ``N``."""
    keys = []
    simple = cfg["trial"]["randomization"] == "simple"
    u = None
    if simple:
        rows = sum(d.shape[0] for d in block.db)
        u = child_rng(ss, Stream.ENTRY).random((rows, block.reps))
    start = 0
    for a in (0, 1):
        n_rows = block.db[a].shape[0]
        size = block.size[a][None, :]
        i = np.arange(n_rows)[:, None]
        key = u[start : start + n_rows] if simple else (i + 0.5) / np.maximum(size, 1)
        keys.append(np.where(i < size, key, np.inf))
        start += n_rows
    allkeys = np.concatenate(keys)
    order = np.argsort(allkeys, axis=0, kind="stable")
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(allkeys.shape[0])[:, None], axis=0)
    n0 = block.db[0].shape[0]
    return [rank[:n0], rank[n0:]]


def _look_block(
    block: samplers.Block, entry, time: np.ndarray, clock: looks.Clock, mmrm: bool
) -> samplers.Block:
    """The block as seen at a look at ``time`` ``(reps,)``: scans due by then (:mod:`vtrial.sequential_looks`).

    ``entry`` holds each man's entry on the clock per arm, ``(rows, reps)``.
    Rows (men of an arm, in randomization order) beyond the last one any
    replicate has enrolled by then are dropped, so early looks cost less.
    """
    first, last = clock.offsets
    due12 = [looks.available(entry[a], last, time) for a in (0, 1)]
    due6 = [looks.available(entry[a], first, time) for a in (0, 1)]
    rows = []
    for a in (0, 1):
        seen = (due6[a] if mmrm else due12[a]).any(axis=1)
        rows.append(int(np.flatnonzero(seen)[-1]) + 1 if seen.any() else 1)

    def cut(arrays):
        return None if arrays is None else [arrays[a][: rows[a]] for a in (0, 1)]

    complete = [block.complete[a][: rows[a]] & due12[a][: rows[a]] for a in (0, 1)]
    seen6 = [block.seen6[a][: rows[a]] & due6[a][: rows[a]] for a in (0, 1)] if mmrm else None
    return replace(
        block, db=cut(block.db), dy12=cut(block.dy12), dy6=cut(block.dy6), complete=complete, seen6=seen6
    )


def _variance_scale(stats: samplers.ArmStats, method: str) -> np.ndarray:
    """Outcome variance that scales the information ``s^2 / SE^2`` of a method.

    t-tests: the pooled within-arm variance of the 12-month change; ANCOVA and
    MMRM: the residual variance of the change on arm and baseline BMD (the
    ANCOVA's), so that for ANCOVA ``s^2 / SE^2 = 1 / (1/n0 + 1/n1 + dbbar^2 / Sbb)``
    carries no variance-estimate noise.
    """
    n = stats.n.sum(0)
    syy = stats.syy.sum(0)
    if method in ("welch_t", "student_t"):
        return syy / (n - 2.0)
    sbb, sby = stats.sbb.sum(0), stats.sby.sum(0)
    return (syy - sby * sby / sbb) / (n - 3.0)


#: Arrays of :func:`simulate_looks`, each ``(K, reps)``.
LOOK_ARRAYS = ("estimate", "se", "df", "z", "information", "n_endpoint", "n_enrolled", "month")


def z_statistic(t_stat: np.ndarray, df: np.ndarray) -> np.ndarray:
    """``Z = Phi^{-1}(F_t(T; df))``: the z value with the one-sided p-value of the t statistic ``T``.

    Comparing ``Z`` with a normal bound ``c`` is the same test as comparing
    ``T`` with the t bound ``F_t^{-1}(Phi(c); df)`` (the significance-level
    approach; see ``docs/sequential.md``).

    Examples
    --------
    >>> from scipy import stats
    >>> z = z_statistic(np.array([stats.t.ppf(0.975, 10)]), np.array([10.0]))
    >>> z.round(6).tolist()
    [1.959964]
    """
    with np.errstate(invalid="ignore"):
        return -ndtri(stdtr(df, -t_stat))


def store_look(out: dict, k: int, rep, info_scale: np.ndarray, g: int) -> None:
    """Store look ``k``'s estimate, SE, df, oriented z and information ``s^2 / SE^2``."""
    with np.errstate(invalid="ignore", divide="ignore"):
        out["z"][k] = z_statistic(g * rep.estimate / rep.se, rep.df)
        out["information"][k] = info_scale / rep.se**2
    out["estimate"][k] = rep.estimate
    out["se"][k] = rep.se
    out["df"][k] = rep.df


def skip_looks(out: dict, skipped: np.ndarray) -> None:
    """Interim looks a trial never reaches: no test there (z and information NaN), in place.

    Examples
    --------
    >>> out = {"z": np.ones((2, 2)), "information": np.ones((2, 2))}
    >>> skip_looks(out, np.array([[True, False], [False, False]]))
    >>> out["z"].tolist()
    [[nan, 1.0], [1.0, 1.0]]
    """
    out["z"][skipped] = np.nan
    out["information"][skipped] = np.nan


def _per_man_looks(cfg: dict, block: samplers.Block, ss, method: str, g: int) -> dict[str, np.ndarray]:
    """:func:`simulate_looks` for one block of the default schedule (per-man sampler)."""
    clock = looks.design_clock(cfg)
    scale, alpha = cfg["analysis"]["scale"], cfg["analysis"]["alpha"]
    mmrm = method == "mmrm"
    ranks = _enrolment_ranks(cfg, block, ss)
    # entry of each man on the clock; rows not in the trial (rank N or more) never enter
    n = clock.entry.size
    entry = [np.where(r < n, clock.entry[np.minimum(r, n - 1)], np.inf) for r in ranks]
    ends = np.concatenate(
        [np.where(block.complete[a], entry[a] + clock.offsets[clock.endpoint], np.inf) for a in (0, 1)]
    )
    times, skipped = looks.look_times(cfg, clock, ends)
    out = {key: np.empty(times.shape) for key in LOOK_ARRAYS}
    for k in range(times.shape[0]):
        view = _look_block(block, entry, times[k], clock, mmrm)
        stats = samplers.arm_stats(view, "complete_case", scale)
        rep = mmrm_vec(view, scale, alpha) if mmrm else t_methods(stats, method, alpha)
        store_look(out, k, rep, _variance_scale(stats, method), g)
        out["n_endpoint"][k] = stats.n.sum(0)
    out["n_enrolled"] = clock.enrolled(times).astype(float)
    out["month"] = clock.months(times)
    skip_looks(out, skipped)
    return out


def simulate_looks(
    cfg: dict, scenario: str, reps: int, method: str, orientation: int | None = None
) -> dict[str, np.ndarray]:
    """Estimates, z statistics and information at every look for ``reps`` replicates.

    Parameters
    ----------
    cfg : dict
        Validated config with a ``sequential`` section.
    scenario : str
        Scenario id keying the random streams (blocks of :data:`vtrial.engine.BLOCK`
        as the power engine, so results do not depend on chunking).
    reps : int
    method : str
        One of :data:`METHODS`.
    orientation : int, optional
        +1 or -1: the sign that makes ``Z > 0`` evidence for the hypothesis
        (default :func:`direction` of ``cfg``).

    Returns
    -------
    dict
        Arrays ``(K, reps)`` (:data:`LOOK_ARRAYS`): ``estimate`` (anastrozole
        minus placebo, % points or g/cm2), ``se``, ``df``, ``z`` (oriented,
        see the module notes), ``information`` (``s^2 / SE^2``),
        ``n_endpoint`` (men with the endpoint scan in the analysis),
        ``n_enrolled`` (men randomized by the look) and ``month`` (calendar
        month of the look, NaN without accrual). ``z`` and ``information``
        are NaN at an interim look the trial skips.
    """
    check_config(cfg, method)
    g = direction(cfg) if orientation is None else orientation
    schedule = cfg["trial"].get("schedule") is not None
    parts: dict[str, list] = {k: [] for k in LOOK_ARRAYS}
    for index, size in enumerate(engine.block_sizes(reps)):
        ss = seed_sequence(cfg["seed"], scenario, index)
        if schedule:
            from vtrial.sequential_design import design_looks

            out = design_looks(cfg, size, ss, method, g)
        else:
            block = samplers.per_man_block(cfg, size, ss, need_y6=method == "mmrm")
            out = _per_man_looks(cfg, block, ss, method, g)
        for key in parts:
            parts[key].append(out[key])
    return {key: np.concatenate(v, axis=1) for key, v in parts.items()}


# --------------------------------------------------------------------------- bounds at observed information


@dataclass(frozen=True)
class BoundExpansion:
    """Second-order Taylor expansion of the observed-information bounds in ``x = log(I / I_plan)``.

    ``bound(x) = value + J (x - x0) + (x - x0)' H (x - x0) / 2`` for the
    efficacy bounds (rows ``0..K-1``) and futility bounds (rows ``K..2K-1``).
    """

    x0: np.ndarray
    value: np.ndarray
    jacobian: np.ndarray
    hessian: np.ndarray

    def evaluate(self, x: np.ndarray) -> np.ndarray:
        """Bounds ``(rows, reps)`` at log-information ``x`` of shape ``(K, reps)``."""
        dx = np.clip(x - self.x0[:, None], -_MAX_LOG_DEV, _MAX_LOG_DEV)
        quad = 0.5 * np.einsum("rij,in,jn->rn", self.hessian, dx, dx)
        return self.value[:, None] + self.jacobian @ dx + quad


def _bound_vector(design: boundaries.Design, u: np.ndarray) -> np.ndarray:
    obs = boundaries.observed_design(u, 1.0, design)
    fut = obs.z_futility if obs.z_futility is not None else np.full(u.size, -np.inf)
    return np.concatenate([obs.z_efficacy, fut])


def bound_expansion(design: boundaries.Design, x0: np.ndarray | None = None) -> BoundExpansion | None:
    """:class:`BoundExpansion` of a spending design around ``x0`` (None for classical designs).

    ``x0`` is the log of the information over the planned maximum at each
    look (default: the planned fractions).

    Examples
    --------
    >>> d = boundaries.group_sequential_design([0.5, 1.0])
    >>> e = bound_expansion(d)
    >>> e.evaluate(np.log([[0.5], [1.0]]))[:2, 0].round(4).tolist()
    [2.9626, 1.9686]
    """
    if design.efficacy not in boundaries.SPENDING:
        return None
    x0 = np.log(design.information_fractions) if x0 is None else np.asarray(x0, dtype=float)
    k = x0.size

    def f(x):
        # No futility rule: the futility rows are -inf; keep them finite here, restored below.
        return np.nan_to_num(_bound_vector(design, np.exp(x)), neginf=0.0)

    finite = np.isfinite(_bound_vector(design, np.exp(x0)))
    base = f(x0)
    eye = np.eye(k) * _STEP
    plus = [f(x0 + e) for e in eye]
    minus = [f(x0 - e) for e in eye]
    jac = np.stack([(p - m) / (2 * _STEP) for p, m in zip(plus, minus, strict=True)], axis=1)
    hess = np.zeros((base.size, k, k))
    for i in range(k):
        hess[:, i, i] = (plus[i] - 2 * base + minus[i]) / _STEP**2
        for j in range(i + 1, k):
            # forward mixed difference: one new evaluation per pair
            mixed = (f(x0 + eye[i] + eye[j]) - plus[i] - plus[j] + base) / _STEP**2
            hess[:, i, j] = hess[:, j, i] = mixed
    jac[~finite] = 0.0
    hess[~finite] = 0.0
    return BoundExpansion(x0, np.where(finite, base, -np.inf), jac, hess)


def bounds_at_information(
    design: boundaries.Design, information: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Efficacy and futility bounds ``(K, reps)`` at the observed information of each replicate.

    ``information`` ``(K, reps)`` is scaled by its mean final value (the
    planned maximum information). Missing values (a failed fit) take the
    mean. Conditional-power futility bounds (no spending function) stay as
    planned; the efficacy bounds are recomputed.
    """
    k = design.z_efficacy.size
    lower = design.lower()
    if design.z_futility is None:
        lower = np.full(k, -np.inf)
    reps = information.shape[1]
    if design.efficacy not in boundaries.SPENDING:
        return np.repeat(design.z_efficacy[:, None], reps, 1), np.repeat(lower[:, None], reps, 1)
    if design.futility is not None and design.futility not in boundaries.SPENDING:
        efficacy_only = replace(design, futility=None, futility_gamma=None, z_futility=None)
        eff, _ = bounds_at_information(efficacy_only, information)
        return eff, np.repeat(lower[:, None], reps, 1)
    plan = np.nanmean(information[-1])
    with np.errstate(invalid="ignore", divide="ignore"):
        x = np.log(information / plan)
    ok = np.isfinite(x)
    # Expand around the mean observed log-information (MMRM interims with partial data sit
    # well above the planned fractions), kept increasing and the final at 0.
    centre = np.array([np.mean(row[f]) if f.any() else np.nan for row, f in zip(x, ok, strict=True)])
    centre = np.where(np.isfinite(centre), centre, np.log(design.information_fractions))
    centre[-1] = 0.0
    centre = np.minimum(centre, np.log(design.information_fractions[-1]))
    if np.any(np.diff(centre) <= 0):
        centre = np.log(design.information_fractions)
    expansion = bound_expansion(design, centre)
    x = np.where(ok, x, centre[:, None])
    b = expansion.evaluate(x)
    return b[:k], b[k:]


# --------------------------------------------------------------------------- decisions and estimates


def decide(z: np.ndarray, efficacy: np.ndarray, futility: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Stopping look (0-based) and efficacy decision of each replicate.

    Examples
    --------
    >>> z = np.array([[3.0, 0.1, 1.0], [2.5, 2.5, 2.1]])
    >>> look, reject = decide(z, np.array([[2.9] * 3, [2.0] * 3]), np.array([[0.2] * 3, [2.0] * 3]))
    >>> look.tolist(), reject.tolist()
    ([0, 0, 1], [True, False, True])
    """
    k, reps = z.shape
    look = np.full(reps, k - 1)
    reject = np.zeros(reps, dtype=bool)
    running = np.ones(reps, dtype=bool)
    for j in range(k):
        eff = running & (z[j] >= efficacy[j])
        stop = eff | (running & (z[j] <= futility[j])) if j < k - 1 else running
        look[stop & running] = j
        reject |= eff
        running &= ~stop
    return look, reject


def stagewise_table(design: boundaries.Design, look: int, z: np.ndarray) -> np.ndarray:
    """Stage-wise median-unbiased estimate and limits ``(3, n)`` of ``mu`` for stops at ``look`` (1-based).

    :func:`vtrial.boundaries.stagewise_estimate` on a Chebyshev grid of
    :data:`_GRID` points over the range of ``z``, interpolated by cubic splines.

    Examples
    --------
    >>> d = boundaries.group_sequential_design([0.5, 1.0])
    >>> est = stagewise_table(d, 2, np.array([1.0, 2.5]))
    >>> exact = boundaries.stagewise_estimate(d, 2, 2.5)
    >>> bool(abs(est[0, 1] - exact.median_unbiased) < 1e-6)
    True
    """
    z = np.asarray(z, dtype=float)
    out = np.full((3, z.size), np.nan)
    ok = np.isfinite(z)
    if not ok.any():
        return out
    lo, hi = float(z[ok].min()), float(z[ok].max())

    def exact(v):
        e = boundaries.stagewise_estimate(design, look, v)
        return [e.median_unbiased, e.lower, e.upper]

    if hi - lo < 1e-9:
        out[:, ok] = np.array(exact(lo))[:, None]
        return out
    nodes = 0.5 * (lo + hi) - 0.5 * (hi - lo) * np.cos(np.pi * np.arange(_GRID) / (_GRID - 1))
    values = np.array([exact(v) for v in nodes])
    out[:, ok] = CubicSpline(nodes, values, axis=0)(z[ok]).T
    return out


def simulate_decisions(
    cfg: dict, scenario: str, reps: int, method: str, adjusted: bool = True, orientation: int | None = None
) -> dict:
    """Simulate the looks (:func:`simulate_looks`), then bounds, decisions and estimates per replicate.

    Returns
    -------
    dict
        The arrays of :func:`simulate_looks` plus ``z_efficacy``,
        ``z_futility`` ``(K, reps)``, ``look`` (stopping look, 0-based),
        ``reject``, and with ``adjusted``: ``adjusted``, ``adjusted_lower``,
        ``adjusted_upper`` (outcome scale, stage-wise ordering).
    """
    design = boundaries.boundaries_design(looks.planned_section(cfg))
    if design.sided != 1:
        raise InputError("sequential.sided: the simulation supports one-sided designs (sided: 1)")
    g = direction(cfg) if orientation is None else orientation
    res = simulate_looks(cfg, scenario, reps, method, g)
    eff, fut = bounds_at_information(design, res["information"])
    look, reject = decide(res["z"], eff, fut)
    res.update(z_efficacy=eff, z_futility=fut, look=look, reject=reject)
    if adjusted:
        idx = np.arange(reps)
        z_stop, se_stop = res["z"][look, idx], res["se"][look, idx]
        mu = np.full((3, reps), np.nan)
        for k in range(design.z_efficacy.size):
            at = look == k
            if at.any():
                mu[:, at] = stagewise_table(design, k + 1, z_stop[at])
        scaled = g * mu * se_stop
        res["adjusted"] = scaled[0]
        res["adjusted_lower"] = np.fmin(scaled[1], scaled[2])
        res["adjusted_upper"] = np.fmax(scaled[1], scaled[2])
    return res


def _finite_mean(x: np.ndarray) -> float:
    """Mean of the finite values (NaN when there are none, e.g. no futility rule)."""
    x = x[np.isfinite(x)]
    return float(x.mean()) if x.size else float("nan")


def _truth(cfg: dict) -> float:
    from vtrial.power import truth

    return truth(cfg)


def summarise(cfg: dict, res: dict, method: str, scenario_label: str) -> pd.DataFrame:
    """Operating-characteristics rows (one per look, then ``overall``) from :func:`simulate_decisions`."""
    fractions = looks.planned_fractions(cfg)
    k, reps = res["z"].shape
    truth = _truth(cfg)
    rows = []
    cum = 0.0
    observed = res["information"] / res["information"][-1]
    with np.errstate(invalid="ignore", divide="ignore"):
        raw = (res["se"][-1] / res["se"]) ** 2
    for j in range(k):
        at = res["look"] == j
        pe = float(np.mean(at & res["reject"]))
        pf = float(np.mean(at & ~res["reject"])) if j < k - 1 else float("nan")
        cum += pe
        rows.append(
            {
                "look": str(j + 1),
                "information_fraction": float(fractions[j]),
                "observed_fraction": float(np.nanmean(observed[j])),
                "se_fraction": float(np.nanmean(raw[j])),
                "z_efficacy": float(np.nanmean(res["z_efficacy"][j])),
                "z_futility": _finite_mean(res["z_futility"][j]) if j < k - 1 else float("nan"),
                "prob_efficacy": pe,
                "prob_efficacy_se": math.sqrt(pe * (1 - pe) / reps),
                "prob_futility": pf,
                "prob_futility_se": math.sqrt(pf * (1 - pf) / reps) if j < k - 1 else float("nan"),
                "cumulative_efficacy": cum,
                "n_enrolled": float(np.mean(res["n_enrolled"][j])),
                "n_endpoint": float(np.mean(res["n_endpoint"][j])),
                "month": float(np.mean(res["month"][j])),
            }
        )
    idx = np.arange(reps)
    look = res["look"]
    est = res["estimate"][look, idx]
    power = float(np.mean(res["reject"]))
    futile = float(np.mean(~res["reject"] & (look < k - 1)))
    overall = {
        "look": "overall",
        "information_fraction": float("nan"),
        "observed_fraction": float("nan"),
        "se_fraction": float("nan"),
        "z_efficacy": float("nan"),
        "z_futility": float("nan"),
        "prob_efficacy": power,
        "prob_efficacy_se": math.sqrt(power * (1 - power) / reps),
        "prob_futility": futile,
        "prob_futility_se": math.sqrt(futile * (1 - futile) / reps),
        "cumulative_efficacy": power,
        "n_enrolled": float(np.mean(res["n_enrolled"][look, idx])),
        "n_endpoint": float(np.mean(res["n_endpoint"][look, idx])),
        "month": float(np.mean(res["month"][look, idx])),
        "mean_estimate": float(np.nanmean(est)),
        "bias": float(np.nanmean(est) - truth),
    }
    if "adjusted" in res:
        adj = res["adjusted"]
        ok = np.isfinite(adj)
        covered = (res["adjusted_lower"] <= truth) & (truth <= res["adjusted_upper"])
        overall.update(
            mean_adjusted=float(np.mean(adj[ok])),
            bias_adjusted=float(np.mean(adj[ok]) - truth),
            median_bias_adjusted=float(np.median(adj[ok]) - truth),
            coverage_adjusted=float(np.mean(covered[ok])),
        )
    rows.append(overall)
    frame = pd.DataFrame(rows)
    frame.insert(0, "method", method)
    frame.insert(0, "true_difference_pct", float(cfg["effects"]["difference_pct"]))
    frame.insert(0, "scenario", scenario_label)
    frame["reps"] = reps
    return frame.reindex(columns=OC_COLUMNS)


def scenarios(cfg: dict) -> list[tuple[str, dict]]:
    """The configured difference (``h1``) and no difference (``h0``), as configs.

    Under the null the z statistics keep the orientation of the configured
    difference (:func:`direction`).
    """
    out = []
    if cfg["effects"]["difference_pct"] != 0:
        out.append(("h1", cfg))
    out.append(("h0", config_mod.set_key(cfg, "effects.difference_pct", 0.0)))
    return out


def operating_characteristics(cfg: dict, methods=None, reps: int | None = None) -> pd.DataFrame:
    """Operating characteristics of the config's sequential design by simulation.

    For the configured difference (scenario ``h1``) and no difference
    (``h0``), and each method: rows per look and an ``overall`` row (see
    :data:`OC_COLUMNS` and ``docs/sequential.md``).

    Parameters
    ----------
    cfg : dict
        Validated config with a ``sequential`` section.
    methods : sequence of str, optional
        Default: the config's ``analysis.methods`` among :data:`METHODS`.
    reps : int, optional
        Replicates per scenario and method (default ``simulation.reps``).

    Returns
    -------
    pandas.DataFrame
    """
    check_config(cfg)
    if methods is None:
        methods = [m for m in cfg["analysis"]["methods"] if m in METHODS] or ["ancova"]
    for m in methods:
        check_config(cfg, m)
    reps = int(cfg["simulation"]["reps"] if reps is None else reps)
    if reps < 1:
        raise InputError(f"reps: {reps} must be a positive integer")
    frames = []
    g = direction(cfg)
    for label, sc in scenarios(cfg):
        sid = config_mod.scenario_id(sc)
        for m in methods:
            res = simulate_decisions(sc, sid, reps, m, orientation=g)
            frames.append(summarise(sc, res, m, label))
    return pd.concat(frames, ignore_index=True)


def sequential_power(
    cfg: dict, scenario: str, methods, reps: int, **_ignored
) -> dict[str, tuple[float, float]]:
    """Monte Carlo power of the sequential design and its SE per method (a :func:`vtrial.power.solve` statistic)."""
    out = {}
    for m in methods:
        p = float(np.mean(simulate_decisions(cfg, scenario, reps, m, adjusted=False)["reject"]))
        out[m] = (p, math.sqrt(p * (1 - p) / reps))
    return out


def sample_size(cfg: dict, target: float, methods=None, reps: int | None = None) -> pd.DataFrame:
    """Men per arm for power ``target`` with the sequential design and without it, and their ratio.

    Both searches are :func:`vtrial.power.solve` over ``trial.n_per_arm``
    (statistics ``sequential_power`` and ``power``, common random numbers).

    Returns
    -------
    pandas.DataFrame
        One row per method: ``method``, ``n_per_arm_fixed``, ``power_fixed``,
        ``n_per_arm_sequential``, ``power_sequential``, ``inflation``
        (sequential over fixed total men).
    """
    from vtrial.power import solve

    check_config(cfg)
    methods = list(methods or [m for m in cfg["analysis"]["methods"] if m in METHODS] or ["ancova"])
    seq = solve(cfg, "trial.n_per_arm", target, methods=methods, reps=reps, statistic="sequential_power")
    fixed = solve(cfg, "trial.n_per_arm", target, methods=methods, reps=reps, statistic="power")
    out = pd.DataFrame(
        {
            "method": methods,
            "n_per_arm_fixed": fixed["value"].to_numpy(),
            "power_fixed": fixed["statistic"].to_numpy(),
            "n_per_arm_sequential": seq["value"].to_numpy(),
            "power_sequential": seq["statistic"].to_numpy(),
        }
    )
    out["inflation"] = out["n_per_arm_sequential"] / out["n_per_arm_fixed"]
    return out
