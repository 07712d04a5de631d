"""Simulate trials of any :class:`vtrial.design.Design`: many arms, any schedule, spine and hip.

Vectorised over replicate trials and men (arrays ``(reps, n)``); loops run
over arms, visits and scans only. The outcome model is that of
:mod:`vtrial.trial` generalised (derivations in ``docs/designs.md``):

* true endpoint % change of a man in arm ``a``:
  ``D = m_a + slope * dE2 + s_a * (rho * z_b + sqrt(1 - rho^2) * u)``, where
  ``m_a`` is the control mean ``effects.placebo_pct_change`` plus the arm's
  ``difference_pct`` (direct mode) or plus ``effects.direct_pct`` for arms other
  than the control (estradiol-mediated mode, where ``dE2`` is the man's true
  estradiol change at the last hormone visit not after the endpoint, and
  ``s_a`` is shrunk so that the observed SD stays ``effects.sd_pct_change``);
* true change at month ``t``: ``g(t) * D`` with ``g(t) = (t / T)^k``, ``T`` the
  endpoint month and ``k = log(f) / log(1/2)``, ``f = effects.month6_fraction``:
  ``f`` is the share of the endpoint change reached at half the endpoint time
  (the month-6 share of the 12-month trial; ``f = 0.5`` is linear growth);
* every scan adds an independent DXA error; observed % change ``Y_t = g(t) D
  + e_t - e_0``, measured BMD ``B0 * (1 + Y_t / 100)``;
* hip (``effects.hip``): the same with the hip keys; baselines correlated
  ``corr_baseline_spine``; the unexplained parts of the two changes
  correlated so that the observed endpoint changes have correlation
  ``corr_change_spine`` (direct mode, :func:`vtrial.design.latent_corr`);
* dropout: each arm's probability of not completing the endpoint visit.
  MCAR (or strength 0): constant. MAR: the log odds rise by
  ``dropout.strength`` per SD of bone loss at the last scan before the
  endpoint (observed change standardized by its arm's model mean and SD), and
  dropouts leave right after that scan. MNAR: driven by the endpoint change.
  The first missed visit follows ``dropout.visit_probs`` on the 2009 schedule;
  on any other schedule the dropout time is uniform over (0, endpoint] and the
  first missed visit is the first one at or after it (MCAR, MNAR). Men who
  complete the endpoint attend every later visit.

With the 2009 design this is the law of :func:`vtrial.trial.simulate_arrays`
(not the same random numbers: each quantity here has its own child stream).

Random streams: every quantity has its own child of the seed sequence
(``SeedSequence(entropy, spawn_key + (label,))``), labels from 100 up so that
they never meet the engine's labels (:mod:`vtrial.streams`):

==================  =====  ===========================================
stream              label  what it draws
==================  =====  ===========================================
``COHORT``          100    enrolled men (screening, covariates)
``HORMONES``        101    month-0 hormone draws
``SCAN_SPINE``      102    spine DXA errors, every scan
``SCAN_HIP``        103    hip DXA errors, every scan
``HIP_BASELINE``    104    hip baseline given spine baseline
``RANDOMIZE``       105    arm assignment (blocks, allocation lists)
``RESPONSE``        106    each man's hormone response
``HORMONE_VISITS``  107    post-baseline hormone draws
``CHANGE_SPINE``    108    spine change unexplained by baseline
``CHANGE_HIP``      109    hip change unexplained by baseline, spine
``DROPOUT``         110    dropout uniform
``DROPOUT_TIME``    111    dropout time (first missed visit)
==================  =====  ===========================================
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from vtrial import cohort as cohort_mod
from vtrial.design import (
    DEFAULT_DXA,
    DEFAULT_ENDPOINT,
    DEFAULT_VISITS,
    Design,
    allocation_shares,
    design_of,
    effective_cohort,
    endpoint_ratio_index,
    hip_config,
    latent_corr,
)
from vtrial.model import _estradiol_change_moments, _estradiol_response
from vtrial.trial import block_layout, dropout_intercept, expit, month0_value


class DesignStream(IntEnum):
    """Child-stream labels of :func:`simulate_design` (module table)."""

    COHORT = 100
    HORMONES = 101
    SCAN_SPINE = 102
    SCAN_HIP = 103
    HIP_BASELINE = 104
    RANDOMIZE = 105
    RESPONSE = 106
    HORMONE_VISITS = 107
    CHANGE_SPINE = 108
    CHANGE_HIP = 109
    DROPOUT = 110
    DROPOUT_TIME = 111


@dataclass(frozen=True)
class DesignArrays:
    """Replicate trials of a design. Index ``[r, i]`` is man ``i`` of trial ``r``.

    Attributes
    ----------
    design : Design
    arm : ndarray of int8, (reps, n)
        Index into ``design.arms``.
    scan_months : tuple of int
        Post-baseline scans (``design.dxa_months[1:]``).
    bmd : dict of str to ndarray (reps, n, 1 + n_scans)
        Endpoint (``"spine"``, ``"hip"``) to measured BMD (g/cm2) at month 0
        and each post-baseline scan; NaN when not observed (after dropout).
    covariates : dict of str to ndarray (reps, n)
        Baseline ``age_years``, ``bmi_kg_m2``, ``testosterone_ng_dl`` (measured
        at month 0), ``estradiol_pg_ml``; NaN when simulated without covariates.
    hormones : dict of str to ndarray (reps, n, n_visits)
        ``testosterone_ng_dl`` and ``estradiol_pg_ml`` measured at each hormone
        visit (``design.visits_months``); NaN after dropout or without covariates.
    last_visit : ndarray of int, (reps, n)
        Month of the last attended visit (the last visit of the schedule for completers).
    true_change : dict of str to ndarray (reps, n)
        True (latent) % change at the endpoint month, per endpoint.
    randomization_block, allocation_order : ndarray of float, (reps, n)
        1-based block within the man's stratum and place in its allocation
        list (NaN under simple randomization).
    """

    design: Design
    arm: np.ndarray
    scan_months: tuple[int, ...]
    bmd: dict[str, np.ndarray]
    covariates: dict[str, np.ndarray]
    hormones: dict[str, np.ndarray]
    last_visit: np.ndarray
    true_change: dict[str, np.ndarray]
    randomization_block: np.ndarray
    allocation_order: np.ndarray

    def change(self, endpoint: str, scale: str) -> np.ndarray:
        """Observed change from baseline at each post-baseline scan, ``(reps, n, n_scans)``.

        ``scale`` is ``"pct"`` (% of the measured baseline) or ``"absolute"``
        (g/cm2); NaN where the scan was missed.
        """
        b = self.bmd[endpoint]
        if scale == "pct":
            return 100.0 * (b[..., 1:] / b[..., :1] - 1.0)
        if scale == "absolute":
            return b[..., 1:] - b[..., :1]
        raise ValueError(f"scale must be 'pct' or 'absolute', not {scale!r}")

    @property
    def completed(self) -> np.ndarray:
        """Boolean ``(reps, n)``: the man attended the endpoint visit."""
        return self.last_visit >= self.design.endpoint_month


# --------------------------------------------------------------------------- effects


@dataclass(frozen=True)
class EndpointEffects:
    """Per-arm parameters of one endpoint's true % change at the endpoint month.

    Attributes
    ----------
    mean_pct : ndarray (K,)
        Mean observed (and true) % change per arm.
    fixed_pct : ndarray (K,)
        The part of the mean not through estradiol (``mean_pct`` in direct mode).
    sd_true_pct : ndarray (K,)
        SD of the true change not explained by estradiol.
    slope : float
        % change per pg/mL of estradiol change (0 in direct mode).
    """

    mean_pct: np.ndarray
    fixed_pct: np.ndarray
    sd_true_pct: np.ndarray
    slope: float


def _estradiol_moments(cfg: dict, ratio: float) -> tuple[float, float]:
    """Mean and SD of the true estradiol change at ``ratio`` (400,000 men, fixed seed: as the two-arm model)."""
    cohort_key = json.dumps(effective_cohort(cfg), sort_keys=True)
    s = cfg["hormones"]["estradiol_response_log_sd"]
    hormones_key = json.dumps(
        {"estradiol_ratio": [ratio] * 3, "estradiol_response_log_sd": s}, sort_keys=True
    )
    return _estradiol_change_moments(cohort_key, hormones_key)


def endpoint_effects(cfg: dict, design: Design, endpoint: str) -> EndpointEffects:
    """Per-arm means and residual SDs of ``endpoint``'s true % change (see the module docstring).

    Examples
    --------
    >>> from vtrial.config import load_config
    >>> cfg = load_config()
    >>> endpoint_effects(cfg, design_of(cfg), "spine").mean_pct.round(2).tolist()
    [0.76, -1.7]
    """
    eff = cfg["effects"]
    mediated = eff["mode"] == "estradiol_mediated"
    if endpoint == "spine":
        base, sd, cv = eff["placebo_pct_change"], eff["sd_pct_change"], cfg["measurement"]["bmd_cv_pct"]
        slope = eff["estradiol_slope_pct_per_pg_ml"] if mediated else 0.0
        diffs = [a.difference_pct for a in design.arms]
        direct = eff["direct_pct"] if mediated else 0.0
    else:
        hip = hip_config(cfg)
        base, sd, cv = hip["placebo_pct_change"], hip["sd_pct_change"], hip["bmd_cv_pct"]
        slope = hip["estradiol_slope_pct_per_pg_ml"] if mediated else 0.0
        diffs = [a.hip_difference_pct for a in design.arms]
        direct = 0.0
    var_true = sd**2 - 2 * cv**2
    k_arms = len(design.arms)
    fixed = np.array([base + (0.0 if mediated else diffs[k]) for k in range(k_arms)])
    mean, resid = fixed.copy(), np.full(k_arms, var_true)
    if mediated:
        idx = endpoint_ratio_index(design)
        for k, arm in enumerate(design.arms):
            fixed[k] += direct * (k != design.control)
            mean[k] = fixed[k]
            if arm.estradiol_ratio is not None:
                m, s = _estradiol_moments(cfg, arm.estradiol_ratio[idx])
                mean[k] += slope * m
                resid[k] -= (slope * s) ** 2
    return EndpointEffects(mean, fixed, np.sqrt(resid), float(slope))


def true_differences(cfg: dict) -> dict[tuple[str, str], float]:
    """True mean difference (percentage points) at the endpoint month per (endpoint, comparison label).

    Examples
    --------
    >>> from vtrial.config import load_config
    >>> true_differences(load_config())
    {('spine', 'anastrozole-placebo'): -2.46}
    """
    design = design_of(cfg)
    out = {}
    for endpoint in design.endpoints:
        m = endpoint_effects(cfg, design, endpoint).mean_pct
        for (i, j), label in zip(design.comparisons, design.labels, strict=True):
            out[(endpoint, label)] = round(float(m[i] - m[j]), 12)
    return out


def time_fraction(months, endpoint: int, month6_fraction: float) -> np.ndarray:
    """Share ``g(t) = (t / T)^k`` of the endpoint change reached at each month ``t``.

    ``k = log(f) / log(1/2)`` so that ``g(T / 2) = f``; ``f = 0`` keeps the
    change at 0 before the endpoint, ``f = 1`` reaches it at the first scan.

    Examples
    --------
    >>> time_fraction([6, 12], 12, 0.5).tolist()
    [0.5, 1.0]
    >>> time_fraction([6, 12, 18, 24], 24, 0.5).tolist()
    [0.25, 0.5, 0.75, 1.0]
    >>> time_fraction([12, 24], 24, 0.3)[0].round(6)
    np.float64(0.3)
    """
    t = np.asarray(months, dtype=float) / endpoint
    f = month6_fraction
    if f <= 0:
        return np.where(t >= 1, 1.0, 0.0)
    if f >= 1:
        return np.where(t > 0, 1.0, 0.0)
    return t ** (math.log(f) / math.log(0.5))


# --------------------------------------------------------------------------- randomization


def randomize_design(
    design: Design, trial_cfg: dict, reps: int, strata_values=None, *, rng
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Arm of each man in enrolment order, his block and his place in it (1-based; NaN if simple).

    ``simple``: each man independently, arm ``k`` with probability ``n_k / n``
    (``n_k`` from ``design.sizes``). ``permuted_blocks`` and
    ``stratified_blocks``: each block's allocation list is a random
    permutation holding ``size * share_k`` places of arm ``k`` (shares from
    the allocation weights); men take its places in enrolment order, so a
    block cut short by the end of enrolment is the start of such a list.

    Examples
    --------
    >>> from vtrial.config import load_config
    >>> cfg = load_config(overrides=["trial.arms=[{name: p}, {name: a, allocation: 2}, {name: b}]"])
    >>> arm, block, order = randomize_design(design_of(cfg), cfg["trial"], 2, rng=1)
    >>> np.bincount(arm[0]).tolist()
    [44, 88, 44]
    """
    rng = np.random.default_rng(rng)
    sizes = np.asarray(design.sizes)
    n = int(sizes.sum())
    if trial_cfg["randomization"] == "simple":
        cum = np.cumsum(sizes[:-1]) / n
        nan = np.full((reps, n), np.nan)
        return np.searchsorted(cum, rng.random((reps, n)), side="right").astype(np.int8), nan, nan.copy()
    b = block_layout(trial_cfg, reps, n, strata_values, rng)
    shares = np.array([float(s) for s in allocation_shares(design)])
    longest = int(np.max(trial_cfg["block_sizes"]))
    # A random allocation list per block: sort random keys, places beyond the
    # block's size last; canonical place q belongs to the arm whose cumulative
    # quota first exceeds q.
    keys = rng.random((*b.block_size.shape, longest))
    keys[np.arange(longest) >= b.block_size[..., None]] = 2.0
    perm = np.argsort(keys, axis=-1)
    bounds = np.rint(b.block_size[..., None] * np.cumsum(shares)).astype(np.int64)
    arm_list = (perm[..., None] >= bounds[..., None, :]).sum(-1)
    flat = arm_list.reshape(reps, -1, longest)
    group = b.strata * b.n_blocks + b.block
    arm = flat[np.arange(reps)[:, None], group, b.position]
    return arm.astype(np.int8), (b.block + 1).astype(float), b.position + 1.0


# --------------------------------------------------------------------------- dropout


def _is_2009_schedule(design: Design) -> bool:
    return (design.visits_months, design.dxa_months, design.endpoint_month) == (
        DEFAULT_VISITS, DEFAULT_DXA, DEFAULT_ENDPOINT,
    )  # fmt: skip


def _last_visit(cfg: dict, design: Design, arm, y_spine, spine: EndpointEffects, ss) -> np.ndarray:
    """Month of each man's last attended visit (see the module docstring)."""
    d = cfg["dropout"]
    visits = np.asarray(design.visit_months)
    scans = design.scan_months
    p = np.array([a.dropout for a in design.arms])
    u = _child(ss, DesignStream.DROPOUT).random(arm.shape)
    g = d["strength"]
    mech = "MCAR" if g == 0 else d["mechanism"]
    if mech == "MCAR":
        drop = u < p[arm]
    else:
        cv = cfg["measurement"]["bmd_cv_pct"]
        var_true = cfg["effects"]["sd_pct_change"] ** 2 - 2 * cv**2
        s = design.endpoint_scan if mech == "MNAR" else design.endpoint_scan - 1
        frac = float(time_fraction([scans[s]], design.endpoint_month, cfg["effects"]["month6_fraction"])[0])
        sd = math.sqrt(frac**2 * var_true + 2 * cv**2)
        driver = -(y_spine[..., s] - frac * spine.mean_pct[arm]) / sd
        a = np.array([dropout_intercept(float(x), float(g)) for x in p])
        drop = u < expit(a[arm] + g * driver)
    follow = visits[(visits > 0) & (visits <= design.endpoint_month)]
    if mech == "MAR":
        first = np.full(arm.shape, follow[np.searchsorted(follow, scans[design.endpoint_scan - 1], "right")])
    else:
        when = _child(ss, DesignStream.DROPOUT_TIME).random(arm.shape)
        if _is_2009_schedule(design):
            cum = np.cumsum(d["visit_probs"])[:2]
            first = follow[np.minimum((when[..., None] >= cum).sum(-1), 2)]
        else:
            # Uniform dropout time on (0, T]: the first visit at or after it is missed.
            first = follow[np.searchsorted(follow, (1.0 - when) * design.endpoint_month, "left")]
    last = visits[np.searchsorted(visits, first, "left") - 1]
    return np.where(drop, last, visits[-1])


# --------------------------------------------------------------------------- the trials


def _child(ss: np.random.SeedSequence, label: DesignStream) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(ss.entropy, spawn_key=(*ss.spawn_key, int(label))))


def _seed_sequence(rng) -> np.random.SeedSequence:
    if isinstance(rng, np.random.SeedSequence):
        return rng
    if isinstance(rng, np.random.Generator):
        return np.random.SeedSequence(rng.integers(0, 2**63, size=4).tolist())
    return np.random.SeedSequence(rng)


def _ratios(design: Design, key: str) -> tuple[np.ndarray, np.ndarray]:
    """``(K, n_visits - 1)`` ratios (1 where None) and whether each arm responds."""
    n_v = len(design.visits_months) - 1
    vals = [getattr(a, key) for a in design.arms]
    return (
        np.array([v if v is not None else (1.0,) * n_v for v in vals], dtype=float).reshape(len(vals), n_v),
        np.array([v is not None for v in vals]),
    )


def simulate_design(cfg: dict, reps: int, *, rng, covariates: bool = True) -> DesignArrays:
    """Simulate ``reps`` trials of the configured design as arrays.

    Parameters
    ----------
    cfg : dict
        Validated config (any design; the default one gives the 2009 trial).
    reps : int
        Replicate trials.
    rng : numpy.random.SeedSequence, Generator or seed
        A SeedSequence is used as is (each quantity draws from its own child,
        module table); a Generator gives one from four of its draws.
    covariates : bool
        If False, only BMD is drawn, as in :func:`vtrial.trial.simulate_arrays`.

    Returns
    -------
    DesignArrays

    Examples
    --------
    >>> from vtrial.config import load_config
    >>> cfg = load_config(overrides=["effects.hip={}"])
    >>> t = simulate_design(cfg, 3, rng=1)
    >>> t.bmd["hip"].shape, t.change("spine", "pct").shape, np.bincount(t.arm[0]).tolist()
    ((3, 88, 3), (3, 88, 2), [44, 44])
    """
    ss = _seed_sequence(rng)
    design = design_of(cfg)
    n = int(sum(design.sizes))
    eff, trial = cfg["effects"], cfg["trial"]
    mediated = eff["mode"] == "estradiol_mediated"
    strat_var = trial["strata_variable"]
    stratified = trial["randomization"] == "stratified_blocks"
    if not covariates and (mediated or (stratified and strat_var != "bmd_g_cm2")):
        raise ValueError("covariates=False needs direct mode and no stratification on hormones/age/BMI")
    c = effective_cohort(cfg)
    shape = (reps, n)
    nan = np.full(shape, np.nan)
    if covariates:
        men = cohort_mod.draw_cohort(c, reps, n, rng=_child(ss, DesignStream.COHORT))
        base_true = men.bmd_g_cm2
    else:
        men = None
        base_true = c["bmd_mean_g_cm2"] + c["bmd_sd_g_cm2"] * _child(ss, DesignStream.COHORT).standard_normal(
            shape
        )
    n_v = len(design.visits_months)
    testo, estra = np.full((reps, n, n_v), np.nan), np.full((reps, n, n_v), np.nan)
    if men is not None:
        g = _child(ss, DesignStream.HORMONES)
        testo[..., 0] = cohort_mod.hormone_visit_draw(men.log_testosterone, c["testosterone_visit_log_sd"], g)
        estra[..., 0] = cohort_mod.hormone_visit_draw(men.log_estradiol, c["estradiol_visit_log_sd"], g)

    n_s = len(design.scan_months)
    cv = cfg["measurement"]["bmd_cv_pct"]
    err = _child(ss, DesignStream.SCAN_SPINE).standard_normal((1 + n_s, *shape)) * cv
    bmd0 = base_true + c["bmd_mean_g_cm2"] * err[0] / 100
    strata_values = None
    if stratified:  # strata use values measured at month 0
        strata_values = month0_value(strat_var, men, testo[..., 0], estra[..., 0], bmd0)
    arm, block, order = randomize_design(
        design, trial, reps, strata_values, rng=_child(ss, DesignStream.RANDOMIZE)
    )
    arm_i = arm.astype(np.intp)

    e2_change = np.zeros(shape)
    if men is not None:
        h = cfg["hormones"]
        g = _child(ss, DesignStream.RESPONSE)
        s_t = h["testosterone_response_log_sd"]
        resp_t = np.exp(g.standard_normal(shape) * s_t - s_t * s_t / 2)
        resp_e = _estradiol_response(shape, h, g)
        (rt, has_t), (re, has_e) = _ratios(design, "testosterone_ratio"), _ratios(design, "estradiol_ratio")
        g = _child(ss, DesignStream.HORMONE_VISITS)
        for k in range(1, n_v):
            t_mult = np.where(has_t[arm_i], rt[arm_i, k - 1] * resp_t, 1.0)
            e_mult = np.where(has_e[arm_i], re[arm_i, k - 1] * resp_e, 1.0)
            testo[..., k] = cohort_mod.hormone_visit_draw(
                men.log_testosterone + np.log(t_mult), c["testosterone_visit_log_sd"], g
            )
            estra[..., k] = cohort_mod.hormone_visit_draw(
                men.log_estradiol + np.log(e_mult), c["estradiol_visit_log_sd"], g
            )
        if mediated:
            idx = endpoint_ratio_index(design)
            e2_change = np.where(
                has_e[arm_i], np.exp(men.log_estradiol) * (re[arm_i, idx] * resp_e - 1.0), 0.0
            )

    frac = time_fraction(design.scan_months, design.endpoint_month, eff["month6_fraction"])
    z_b = (base_true - c["bmd_mean_g_cm2"]) / c["bmd_sd_g_cm2"]
    rho = eff["baseline_corr"]
    spine = endpoint_effects(cfg, design, "spine")
    u = _child(ss, DesignStream.CHANGE_SPINE).standard_normal(shape)
    true_s = spine.fixed_pct[arm_i] + spine.slope * e2_change
    true_s = true_s + spine.sd_true_pct[arm_i] * (rho * z_b + math.sqrt(1 - rho**2) * u)
    y_s = frac * true_s[..., None] + np.moveaxis(err[1:], 0, -1) - err[0][..., None]
    outcomes = {"spine": (bmd0, y_s)}
    true = {"spine": true_s}
    hip = hip_config(cfg)
    if hip is not None:
        r_b, rho_h, c_uv = hip["corr_baseline_spine"], hip["baseline_corr"], latent_corr(cfg, hip)
        z_h = r_b * z_b + math.sqrt(1 - r_b**2) * _child(ss, DesignStream.HIP_BASELINE).standard_normal(shape)
        err_h = _child(ss, DesignStream.SCAN_HIP).standard_normal((1 + n_s, *shape)) * hip["bmd_cv_pct"]
        m_h = hip["baseline_mean_g_cm2"]
        hip0 = m_h + hip["baseline_sd_g_cm2"] * z_h + m_h * err_h[0] / 100
        u_h = c_uv * u + math.sqrt(1 - c_uv**2) * _child(ss, DesignStream.CHANGE_HIP).standard_normal(shape)
        he = endpoint_effects(cfg, design, "hip")
        true_h = he.fixed_pct[arm_i] + he.slope * e2_change
        true_h = true_h + he.sd_true_pct[arm_i] * (rho_h * z_h + math.sqrt(1 - rho_h**2) * u_h)
        y_h = frac * true_h[..., None] + np.moveaxis(err_h[1:], 0, -1) - err_h[0][..., None]
        outcomes["hip"] = (hip0, y_h)
        true["hip"] = true_h

    last = _last_visit(cfg, design, arm_i, y_s, spine, ss)
    scans = np.asarray(design.scan_months)
    bmd = {}
    for name, (b0, y) in outcomes.items():
        b = np.concatenate([b0[..., None], b0[..., None] * (1 + y / 100)], axis=-1)
        b[..., 1:][last[..., None] < scans] = np.nan
        bmd[name] = b
    gone = last[..., None] < np.asarray(design.visits_months)
    testo[gone] = np.nan
    estra[gone] = np.nan
    return DesignArrays(
        design=design,
        arm=arm,
        scan_months=design.scan_months,
        bmd=bmd,
        covariates={
            "age_years": nan if men is None else men.age_years,
            "bmi_kg_m2": nan if men is None else men.bmi_kg_m2,
            "testosterone_ng_dl": testo[..., 0],
            "estradiol_pg_ml": estra[..., 0],
        },
        hormones={"testosterone_ng_dl": testo, "estradiol_pg_ml": estra},
        last_visit=last,
        true_change=true,
        randomization_block=block,
        allocation_order=order,
    )


# --------------------------------------------------------------------------- one trial as a table


def to_long(arrays: DesignArrays, replicate: int = 0):
    """One replicate in the long trial format: one row per man and visit.

    Columns as :data:`vtrial.trial.COLUMNS`, with the configured arm names in
    ``arm``, every visit of the schedule (hormone visits and scans) in
    ``visit_month``, and ``hip_bmd_g_cm2`` after ``bmd_g_cm2`` when the design
    has a hip endpoint. Hormones are empty where no hormone visit is
    scheduled, BMD where no scan is, and everything after dropout.
    """
    import pandas as pd

    from vtrial.trial import BLOCK_COLUMNS

    r, design = replicate, arrays.design
    months = np.asarray(design.visit_months)
    n, v = arrays.arm.shape[1], len(months)
    names = np.asarray(design.names)

    def spread(values: np.ndarray, at) -> np.ndarray:
        out = np.full((n, v), np.nan)
        out[:, np.searchsorted(months, at)] = values
        return out.ravel()

    columns = {
        "subject_id": np.repeat(np.arange(1, n + 1), v),
        "arm": np.repeat(names[arrays.arm[r]], v),
        "visit_month": np.tile(months, n),
        "age_years": np.repeat(arrays.covariates["age_years"][r], v),
        "bmi_kg_m2": np.repeat(arrays.covariates["bmi_kg_m2"][r], v),
        "testosterone_ng_dl": spread(arrays.hormones["testosterone_ng_dl"][r], design.visits_months),
        "estradiol_pg_ml": spread(arrays.hormones["estradiol_pg_ml"][r], design.visits_months),
        "bmd_g_cm2": spread(arrays.bmd["spine"][r], design.dxa_months),
    }
    if "hip" in arrays.bmd:
        columns["hip_bmd_g_cm2"] = spread(arrays.bmd["hip"][r], design.dxa_months)
    for name, values in zip(
        BLOCK_COLUMNS, (arrays.randomization_block, arrays.allocation_order), strict=True
    ):
        columns[name] = pd.array(np.repeat(values[r], v), dtype="Float64").astype("Int64")
    return pd.DataFrame(columns)


def simulate_design_trial(cfg: dict, *, rng):
    """One simulated trial of the configured design in the long format (:func:`to_long`).

    Examples
    --------
    >>> from vtrial.config import load_config
    >>> cfg = load_config(overrides=["trial.schedule={visits_months: [0, 12, 24], dxa_months: [0, 12, 24]}"])
    >>> df = simulate_design_trial(cfg, rng=1)
    >>> df.shape, sorted(df["visit_month"].unique().tolist())
    ((264, 10), [0, 12, 24])
    """
    return to_long(simulate_design(cfg, 1, rng=rng), 0)
