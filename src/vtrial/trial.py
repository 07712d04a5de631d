"""One virtual trial (or many at once): randomization, visits, hormones, BMD, dropout.

Everything works on arrays with a leading replicate axis, ``(reps, n)``, so the
same code makes the single trial of ``vtrial simulate`` and the chunks of
replicate trials of the power engine.

BMD outcome model (direct mode)
-------------------------------
For a man with true baseline BMD ``b`` (g/cm2, from :mod:`vtrial.cohort`) in arm
``a``, with ``z_b = (b - bmd_mean) / bmd_sd``:

* true 12-month % change ``D = mu_a + s_D * (rho * z_b + sqrt(1 - rho^2) * u)``,
  ``u ~ N(0, 1)``, where ``mu_a`` is the arm mean, ``rho`` is
  ``effects.baseline_corr`` and ``s_D = sqrt(sd_pct_change^2 - 2 * cv^2)``;
* true month-6 % change ``f * D`` (``f = effects.month6_fraction``);
* each DXA scan adds an independent error ``e_v ~ N(0, cv^2)`` (``cv =
  measurement.bmd_cv_pct``, in % of the population mean BMD): the measured
  baseline is ``B0 = b + bmd_mean * e_0 / 100`` and the observed % change from
  baseline is ``Y_v = (true change)_v + e_v - e_0``; the measured BMD at month
  ``v`` is ``B0 * (1 + Y_v / 100)``.

So the observed 12-month % change has mean exactly ``mu_a`` and SD exactly
``effects.sd_pct_change``, and (measured baseline, Y_6, Y_12) are jointly
normal, which is what lets the power engine draw sufficient statistics directly.
The DXA error enters linearly on the % scale (the first-order form of a
multiplicative error); the second-order terms it leaves out are below 1e-4 g/cm2.

Estradiol-mediated mode replaces ``mu_a`` by ``placebo_pct_change + slope * dE2
+ direct_pct * [anastrozole]``, where ``dE2`` is the man's own true change in
estradiol (pg/mL) at month 12, and shrinks the residual SD per arm so that the
observed SD is still ``sd_pct_change`` (see :func:`implied_effects`).

Dropout
-------
Each arm has a probability of not completing month 12. Under ``MCAR`` it is
constant. Under ``MAR`` and ``MNAR`` the log odds of dropout rise by
``dropout.strength`` per SD of bone *loss*: the observed month-6 % change (MAR)
or the unobserved 12-month % change (MNAR), each standardized by its arm's model
mean and SD. The intercept is solved (Gauss-Hermite quadrature) so that the
marginal dropout probability is exactly the configured one. Men losing more bone
drop out more, so completers' changes are shifted upwards. The first missed
visit is month 3, 6 or 12 with probabilities ``dropout.visit_probs``, except
under MAR, where dropout driven by month 6 happens after it (first missed visit
month 12), which keeps the mechanism truly "at random".
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from vtrial import cohort as cohort_mod
from vtrial.errors import InputError
from vtrial.model import Effects, _estradiol_change, _estradiol_response, dropout_scales, implied_effects

__all__ = ["Effects", "implied_effects"]  # re-exported: the model's effects, drawn here

ARMS = ("placebo", "anastrozole")
VISITS = (0, 3, 6, 12)
BMD_VISITS = (0, 6, 12)
#: Columns of the randomization list, after the measurements: block number
#: within the man's stratum and his place in that block's allocation order
#: (both 1-based; empty under simple randomization).
BLOCK_COLUMNS = ["randomization_block", "allocation_order"]
COLUMNS = [
    "subject_id", "arm", "visit_month", "age_years", "bmi_kg_m2",
    "testosterone_ng_dl", "estradiol_pg_ml", "bmd_g_cm2", *BLOCK_COLUMNS,
]  # fmt: skip


@dataclass(frozen=True)
class TrialArrays:
    """Replicate trials as arrays. Index ``[r, i]`` is man ``i`` of trial ``r``.

    Attributes
    ----------
    anastrozole : ndarray of bool, (reps, n)
        True for the anastrozole arm.
    age_years, bmi_kg_m2 : ndarray, (reps, n)
        Baseline age (years) and BMI (kg/m2); NaN when only BMD was simulated.
    testosterone_ng_dl, estradiol_pg_ml : ndarray, (reps, n, 4)
        Measured hormones at months 0, 3, 6, 12 (ng/dL, pg/mL); NaN after dropout
        or when only BMD was simulated.
    bmd_g_cm2 : ndarray, (reps, n, 3)
        Measured PA spine BMD at months 0, 6, 12 (g/cm2); NaN after dropout.
    pct_change : ndarray, (reps, n, 2)
        Observed % change from baseline at months 6 and 12, before dropout
        (the values a man would have had).
    true_pct_change : ndarray, (reps, n)
        True (latent) 12-month % change.
    last_visit : ndarray of int, (reps, n)
        Last attended visit month (12 for completers).
    randomization_block, allocation_order : ndarray of float, (reps, n), or None
        As :func:`randomize_blocks` (NaN under simple randomization); None
        unless asked for (``simulate_arrays(..., blocks=True)``).
    """

    anastrozole: np.ndarray
    age_years: np.ndarray
    bmi_kg_m2: np.ndarray
    testosterone_ng_dl: np.ndarray
    estradiol_pg_ml: np.ndarray
    bmd_g_cm2: np.ndarray
    pct_change: np.ndarray
    true_pct_change: np.ndarray
    last_visit: np.ndarray
    randomization_block: np.ndarray | None = None
    allocation_order: np.ndarray | None = None

    @property
    def completed(self) -> np.ndarray:
        """Boolean ``(reps, n)``: the man attended month 12."""
        return self.last_visit == 12


def arm_sizes(trial_cfg: dict) -> tuple[int, int]:
    """Men randomized to (placebo, anastrozole): ``n_per_arm`` and ``round(n_per_arm * ratio)``."""
    n_p = int(trial_cfg["n_per_arm"])
    n_a = int(round(n_p * trial_cfg["allocation_ratio"]))
    if n_a < 2:
        raise InputError(
            f"config key 'trial.allocation_ratio': value {trial_cfg['allocation_ratio']} leaves "
            f"{n_a} men in the anastrozole arm (need at least 2)"
        )
    return n_p, n_a


# --------------------------------------------------------------------------- randomization


def randomize(trial_cfg: dict, reps: int, strata_values: np.ndarray | None = None, *, rng) -> np.ndarray:
    """Treatment assignment for men in enrolment order (the arms of :func:`randomize_blocks`)."""
    return _randomize(trial_cfg, reps, strata_values, rng, blocks=False)[0]


def randomize_blocks(
    trial_cfg: dict, reps: int, strata_values: np.ndarray | None = None, *, rng
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Treatment assignment and the randomization list: each man's block and place in it.

    The same random draws as :func:`randomize` (same arms for the same
    ``rng``): the block list is read off the blocks the assignment filled.

    Parameters
    ----------
    trial_cfg : dict
        The ``trial`` config section.
    reps : int
        Replicate trials.
    strata_values : ndarray (reps, n) or None
        Baseline values of ``trial.strata_variable`` (only used by ``stratified_blocks``).
    rng : numpy.random.Generator or seed

    Returns
    -------
    anastrozole : ndarray of bool, (reps, n)
        True for anastrozole. ``simple`` flips a coin with P(anastrozole) =
        n_a / n for every man, so arm sizes vary. ``permuted_blocks`` fills
        blocks whose size is drawn from ``block_sizes``, each with
        ``round(size * n_a / n)`` anastrozole places in random order; the final
        block may be cut short. ``stratified_blocks`` keeps a separate block
        sequence in each stratum of ``strata_variable`` (cut at ``strata_cutoffs``).
    randomization_block : ndarray of float, (reps, n)
        1-based number of the man's block within his stratum (NaN under ``simple``).
    allocation_order : ndarray of float, (reps, n)
        1-based place of the man in his block's allocation list: the k-th man
        of a stratum to enrol into a block takes its k-th place (NaN under ``simple``).

    Examples
    --------
    >>> trial = {"n_per_arm": 5, "allocation_ratio": 1, "randomization": "permuted_blocks",
    ...          "block_sizes": [4]}
    >>> arm, block, order = randomize_blocks(trial, 1, rng=1)
    >>> block[0].tolist(), order[0].tolist()
    ([1.0, 1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 2.0, 3.0, 3.0], [1.0, 2.0, 3.0, 4.0, 1.0, 2.0, 3.0, 4.0, 1.0, 2.0])
    >>> bool((arm == randomize(trial, 1, rng=1)).all())
    True
    """
    return _randomize(trial_cfg, reps, strata_values, rng, blocks=True)


def _randomize(trial_cfg: dict, reps: int, strata_values, rng, *, blocks: bool):
    """``(anastrozole, block, order)``; block and order None unless ``blocks`` (no extra draws)."""
    rng = np.random.default_rng(rng)
    n_p, n_a = arm_sizes(trial_cfg)
    n = n_p + n_a
    share = n_a / n
    method = trial_cfg["randomization"]
    if method == "simple":
        none = np.full((reps, n), np.nan) if blocks else None
        return rng.random((reps, n)) < share, none, none
    b = block_layout(trial_cfg, reps, n, strata_values, rng)
    strata, n_blocks, block, man_block_size = b.strata, b.n_blocks, b.block, b.man_block_size
    drug_places = np.round(man_block_size * share)
    # A random order inside each (stratum, block) group: anastrozole takes the
    # group's first `drug_places` places.
    group = strata * (n_blocks + 1) + block
    order = np.argsort(group + rng.random((reps, n)), axis=1, kind="stable")
    sorted_group = np.take_along_axis(group, order, axis=1)
    idx = np.broadcast_to(np.arange(n), (reps, n))
    new = np.ones((reps, n), dtype=bool)
    new[:, 1:] = sorted_group[:, 1:] != sorted_group[:, :-1]
    start = np.maximum.accumulate(np.where(new, idx, 0), axis=1)
    rank = idx - start
    quota = np.take_along_axis(drug_places, order, axis=1)
    # A block cut short by the end of enrolment (or of a stratum) is the start of
    # a random permutation of its places: its anastrozole count among the k men
    # enrolled is hypergeometric (size places, drug_places anastrozole, k drawn).
    last = np.ones((reps, n), dtype=bool)
    last[:, :-1] = new[:, 1:]
    end = np.minimum.accumulate(np.where(last, idx, n)[:, ::-1], axis=1)[:, ::-1]
    k = end - start + 1
    size_sorted = np.take_along_axis(man_block_size, order, axis=1)
    partial = k < size_sorted
    if partial.any():
        drawn = rng.hypergeometric(
            quota.astype(np.int64), (size_sorted - quota).astype(np.int64), np.maximum(k, 1)
        )
        quota = np.where(partial, np.take_along_axis(drawn, start, axis=1), quota)
    out = np.empty((reps, n), dtype=bool)
    np.put_along_axis(out, order, rank < quota, axis=1)
    if not blocks:
        return out, None, None
    return out, (block + 1).astype(float), b.position + 1.0


@dataclass(frozen=True)
class BlockLayout:
    """Which block of his stratum each man enrols into (see :func:`block_layout`).

    Attributes
    ----------
    strata : ndarray of int, (reps, n)
        The man's stratum (0 without stratification).
    n_blocks : int
        Blocks drawn per stratum (enough for every man).
    block_size : ndarray of int, (reps, n_strata, n_blocks)
        Size of every block of every stratum.
    block : ndarray of int, (reps, n)
        0-based number of the man's block within his stratum.
    man_block_size : ndarray of int, (reps, n)
        Size of the man's block.
    position : ndarray of int, (reps, n)
        0-based place of the man in his block's allocation list (order of enrolment).
    """

    strata: np.ndarray
    n_blocks: int
    block_size: np.ndarray
    block: np.ndarray
    man_block_size: np.ndarray
    position: np.ndarray


def block_layout(trial_cfg: dict, reps: int, n: int, strata_values, rng) -> BlockLayout:
    """Blocks of ``permuted_blocks`` / ``stratified_blocks`` for men in enrolment order.

    Draws each block's size from ``trial.block_sizes`` (one ``rng.integers``
    call) and places each man in the next free place of his stratum's block
    sequence.
    """
    if trial_cfg["randomization"] == "stratified_blocks":
        if strata_values is None:
            raise ValueError("stratified_blocks needs strata_values")
        strata = np.searchsorted(np.asarray(trial_cfg["strata_cutoffs"]), strata_values, side="right")
        n_strata = len(trial_cfg["strata_cutoffs"]) + 1
    else:
        strata = np.zeros((reps, n), dtype=np.intp)
        n_strata = 1
    sizes = np.asarray(trial_cfg["block_sizes"])
    # Each man's place in his stratum's enrolment sequence, then his block there.
    onehot = strata[..., None] == np.arange(n_strata)
    place = (np.cumsum(onehot, axis=1) - 1)[onehot].reshape(reps, n)
    n_blocks = n // sizes.min() + 1
    block_size = sizes[rng.integers(0, len(sizes), size=(reps, n_strata, n_blocks))]
    block_end = np.cumsum(block_size, axis=-1)
    # One searchsorted over all (replicate, stratum) sequences at once: offset
    # each sequence so the concatenated block ends stay sorted.
    seq = np.arange(reps)[:, None] * n_strata + strata
    big = int(block_end.max()) + 1
    flat_ends = (block_end + big * np.arange(reps * n_strata).reshape(reps, n_strata, 1)).ravel()
    block = np.searchsorted(flat_ends, place + big * seq, side="right") - seq * n_blocks
    man_block_size = np.take_along_axis(block_size.reshape(reps, -1), strata * n_blocks + block, 1)
    # A block's first place in its stratum's sequence is its end minus its size.
    first = np.take_along_axis(block_end.reshape(reps, -1), strata * n_blocks + block, 1) - man_block_size
    return BlockLayout(strata, n_blocks, block_size, block, man_block_size, place - first)


# --------------------------------------------------------------------------- dropout


def expit(x):
    """Logistic function (numpy only: scipy.special costs 0.2 s to import)."""
    return 1.0 / (1.0 + np.exp(-x))


@lru_cache(maxsize=256)
def dropout_intercept(p: float, strength: float) -> float:
    """Logit intercept ``a`` with ``E[expit(a + strength * Z)] = p`` for ``Z ~ N(0, 1)``.

    Examples
    --------
    >>> round(dropout_intercept(0.25, 0.0), 6) == round(float(np.log(0.25 / 0.75)), 6)
    True
    """
    if p <= 0:
        return -np.inf
    x, w = np.polynomial.hermite_e.hermegauss(80)
    w = w / w.sum()

    def gap(a: float) -> float:
        return float(w @ expit(a + strength * x)) - p

    from scipy import optimize  # imported here: it costs 0.2 s at start-up

    return optimize.brentq(gap, -60, 60, xtol=1e-14)


def draw_dropout(
    cfg: dict,
    anastrozole: np.ndarray,
    driver_z: np.ndarray | None,
    *,
    rng,
) -> np.ndarray:
    """Last attended visit month per man (12 for completers).

    Parameters
    ----------
    cfg : dict
        Validated config (uses the ``dropout`` section).
    anastrozole : ndarray of bool, (reps, n)
    driver_z : ndarray, (reps, n) or None
        Standardized bone loss driving MAR or MNAR dropout (ignored under MCAR).
    rng : numpy.random.Generator or seed
    """
    rng = np.random.default_rng(rng)
    d = cfg["dropout"]
    p = np.where(anastrozole, d["anastrozole"], d["placebo"])
    u = rng.random(anastrozole.shape)
    when = rng.random(anastrozole.shape)
    if d["mechanism"] == "MCAR" or d["strength"] == 0:
        drop = u < p
    else:
        g = d["strength"]
        a = np.where(
            anastrozole,
            dropout_intercept(d["anastrozole"], g),
            dropout_intercept(d["placebo"], g),
        )
        drop = u < expit(a + g * driver_z)
    if d["mechanism"] == "MAR":
        first_missed = np.full(anastrozole.shape, 12)
    else:
        cum = np.cumsum(d["visit_probs"])
        first_missed = np.array([3, 6, 12])[np.minimum((when[..., None] >= cum[:2]).sum(-1), 2)]
    last = np.where(first_missed == 3, 0, np.where(first_missed == 6, 3, 6))
    return np.where(drop, last, 12)


# --------------------------------------------------------------------------- the trial


def draw_baseline_scan(cfg: dict, baseline_true: np.ndarray, *, rng) -> np.ndarray:
    """DXA error of the month-0 scan, ``e_0`` (% of the mean BMD), one per man.

    Drawn before randomization: the measured baseline ``B0 = b + bmd_mean * e_0 /
    100`` is known when men are allocated (stratification may use it).
    """
    rng = np.random.default_rng(rng)
    return rng.standard_normal(baseline_true.shape) * cfg["measurement"]["bmd_cv_pct"]


def draw_bmd(
    cfg: dict,
    baseline_true: np.ndarray,
    baseline_error: np.ndarray,
    anastrozole: np.ndarray,
    *,
    rng,
    estradiol_change: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Measured baseline BMD, observed % changes at months 6 and 12, and true change.

    Parameters
    ----------
    cfg : dict
        Validated config.
    baseline_true : ndarray, (reps, n)
        True baseline BMD (g/cm2).
    baseline_error : ndarray, (reps, n)
        DXA error of the month-0 scan (%, from :func:`draw_baseline_scan`).
    anastrozole : ndarray of bool, (reps, n)
    rng : numpy.random.Generator or seed
    estradiol_change : ndarray, (reps, n), optional
        True month-12 estradiol change (pg/mL); needed in estradiol-mediated mode.

    Returns
    -------
    bmd0 : ndarray (reps, n)
        Measured baseline BMD (g/cm2).
    pct : ndarray (reps, n, 2)
        Observed % change at months 6 and 12.
    true12 : ndarray (reps, n)
        True 12-month % change.
    """
    rng = np.random.default_rng(rng)
    eff = implied_effects(cfg)
    c = cfg["cohort"]
    rho = cfg["effects"]["baseline_corr"]
    f6 = cfg["effects"]["month6_fraction"]
    cv = cfg["measurement"]["bmd_cv_pct"]
    arm = anastrozole.astype(np.intp)
    z_b = (baseline_true - c["bmd_mean_g_cm2"]) / c["bmd_sd_g_cm2"]
    u = rng.standard_normal(baseline_true.shape)
    e6, e12 = rng.standard_normal((2, *baseline_true.shape)) * cv
    e0 = baseline_error
    mean = eff.mean_pct[arm]
    if eff.estradiol_slope:
        mean = mean + eff.estradiol_slope * estradiol_change
    true12 = mean + eff.sd_true_pct[arm] * (rho * z_b + np.sqrt(1 - rho**2) * u)
    bmd0 = baseline_true + c["bmd_mean_g_cm2"] * e0 / 100
    pct = np.stack([f6 * true12 + e6 - e0, true12 + e12 - e0], axis=-1)
    return bmd0, pct, true12


def dropout_driver(cfg: dict, anastrozole: np.ndarray, pct: np.ndarray) -> np.ndarray | None:
    """Standardized bone loss that drives MAR (month 6) or MNAR (month 12) dropout."""
    mech = cfg["dropout"]["mechanism"]
    if mech == "MCAR":
        return None
    mean12, sd12, mean6, sd6 = dropout_scales(cfg)
    arm = anastrozole.astype(np.intp)
    if mech == "MNAR":
        return -(pct[..., 1] - mean12[arm]) / sd12
    return -(pct[..., 0] - mean6[arm]) / sd6


def month0_value(variable: str, men, testosterone: np.ndarray, estradiol: np.ndarray, bmd: np.ndarray):
    """The month-0 value of ``trial.strata_variable`` (``men`` may be None when only BMD was drawn)."""
    return {
        "age_years": None if men is None else men.age_years,
        "bmi_kg_m2": None if men is None else men.bmi_kg_m2,
        "testosterone_ng_dl": testosterone,
        "estradiol_pg_ml": estradiol,
        "bmd_g_cm2": bmd,
    }[variable]


def simulate_arrays(
    cfg: dict, reps: int, *, rng, covariates: bool = True, blocks: bool = False
) -> TrialArrays:
    """Simulate ``reps`` trials of the configured design as arrays.

    Parameters
    ----------
    cfg : dict
        Validated config.
    reps : int
        Replicate trials.
    rng : numpy.random.Generator or seed
    covariates : bool
        If False, skip the cohort's age, BMI and hormones and draw the true
        baseline BMD directly from ``N(bmd_mean, bmd_sd^2)`` (its exact
        distribution among enrolled men; see :mod:`vtrial.cohort`). Only valid in
        direct mode without stratification on another variable.
    blocks : bool
        Also return the randomization list (:func:`randomize_blocks`); the
        trial is the same either way (no extra random draws).

    Returns
    -------
    TrialArrays

    Examples
    --------
    >>> from vtrial.config import load_config
    >>> t = simulate_arrays(load_config(), 3, rng=1)
    >>> t.bmd_g_cm2.shape, int(t.anastrozole.sum(axis=1)[0])
    ((3, 88, 3), 44)
    """
    rng = np.random.default_rng(rng)
    n_p, n_a = arm_sizes(cfg["trial"])
    n = n_p + n_a
    mediated = cfg["effects"]["mode"] == "estradiol_mediated"
    strat_var = cfg["trial"]["strata_variable"]
    stratified = cfg["trial"]["randomization"] == "stratified_blocks"
    if not covariates and (mediated or (stratified and strat_var != "bmd_g_cm2")):
        raise ValueError("covariates=False needs direct mode and no stratification on hormones/age/BMI")
    h = cfg["hormones"]
    c = cfg["cohort"]
    if covariates:
        men = cohort_mod.draw_cohort(c, reps, n, rng=rng)
        base_true = men.bmd_g_cm2
    else:
        men = None
        base_true = c["bmd_mean_g_cm2"] + c["bmd_sd_g_cm2"] * rng.standard_normal((reps, n))

    # Month-0 hormones and BMD scan come before randomization (strata may use them).
    nan4 = np.full((reps, n, 4), np.nan)
    testo, estra = nan4.copy(), nan4.copy()
    if men is not None:
        testo[..., 0] = cohort_mod.hormone_visit_draw(
            men.log_testosterone, c["testosterone_visit_log_sd"], rng
        )
        estra[..., 0] = cohort_mod.hormone_visit_draw(men.log_estradiol, c["estradiol_visit_log_sd"], rng)
    baseline_error = draw_baseline_scan(cfg, base_true, rng=rng)
    strata_values = None
    if stratified:  # strata use values measured at month 0
        bmd0 = base_true + c["bmd_mean_g_cm2"] * baseline_error / 100
        strata_values = month0_value(strat_var, men, testo[..., 0], estra[..., 0], bmd0)
    anastrozole, block, place = _randomize(cfg["trial"], reps, strata_values, rng, blocks=blocks)

    e2_change = None
    if men is not None:
        s_t = h["testosterone_response_log_sd"]
        resp_t = np.exp(rng.standard_normal((reps, n)) * s_t - s_t * s_t / 2)
        resp_e = _estradiol_response((reps, n), h, rng)
        for k, month_ratio in enumerate(
            zip(h["testosterone_ratio"], h["estradiol_ratio"], strict=True), start=1
        ):
            rt = np.where(anastrozole, month_ratio[0] * resp_t, 1.0)
            re = np.where(anastrozole, month_ratio[1] * resp_e, 1.0)
            testo[..., k] = cohort_mod.hormone_visit_draw(
                men.log_testosterone + np.log(rt), c["testosterone_visit_log_sd"], rng
            )
            estra[..., k] = cohort_mod.hormone_visit_draw(
                men.log_estradiol + np.log(re), c["estradiol_visit_log_sd"], rng
            )
        if mediated:
            e2_change = np.where(anastrozole, _estradiol_change(men.log_estradiol, h, rng, resp_e), 0.0)

    bmd0, pct, true12 = draw_bmd(
        cfg, base_true, baseline_error, anastrozole, rng=rng, estradiol_change=e2_change
    )
    last = draw_dropout(cfg, anastrozole, dropout_driver(cfg, anastrozole, pct), rng=rng)

    bmd = np.stack([bmd0, bmd0 * (1 + pct[..., 0] / 100), bmd0 * (1 + pct[..., 1] / 100)], axis=-1)
    bmd[..., 1][last < 6] = np.nan
    bmd[..., 2][last < 12] = np.nan
    for k, month in enumerate(VISITS):
        gone = last < month
        testo[..., k][gone] = np.nan
        estra[..., k][gone] = np.nan
    nan2 = np.full((reps, n), np.nan)
    return TrialArrays(
        anastrozole=anastrozole,
        age_years=nan2 if men is None else men.age_years,
        bmi_kg_m2=nan2 if men is None else men.bmi_kg_m2,
        testosterone_ng_dl=testo,
        estradiol_pg_ml=estra,
        bmd_g_cm2=bmd,
        pct_change=pct,
        true_pct_change=true12,
        last_visit=last,
        randomization_block=block,
        allocation_order=place,
    )


def to_long(arrays: TrialArrays, replicate: int = 0) -> pd.DataFrame:
    """One replicate as the contract's long format (one row per man and visit).

    Age and BMI are baseline characteristics and appear on every row; hormones
    and BMD are empty where not measured (BMD is not scheduled at month 3, and
    nothing is measured after dropout). The randomization list
    (:data:`BLOCK_COLUMNS`, whole numbers, on every row of the man) is added
    after the measurements when the arrays carry it.
    """
    r = replicate
    n = arrays.anastrozole.shape[1]
    v = len(VISITS)
    bmd4 = np.full((n, v), np.nan)
    bmd4[:, [0, 2, 3]] = arrays.bmd_g_cm2[r]
    columns = {
        "subject_id": np.repeat(np.arange(1, n + 1), v),
        "arm": np.repeat(np.where(arrays.anastrozole[r], ARMS[1], ARMS[0]), v),
        "visit_month": np.tile(VISITS, n),
        "age_years": np.repeat(arrays.age_years[r], v),
        "bmi_kg_m2": np.repeat(arrays.bmi_kg_m2[r], v),
        "testosterone_ng_dl": arrays.testosterone_ng_dl[r].ravel(),
        "estradiol_pg_ml": arrays.estradiol_pg_ml[r].ravel(),
        "bmd_g_cm2": bmd4.ravel(),
    }  # fmt: skip
    if arrays.randomization_block is not None:
        for name, values in zip(
            BLOCK_COLUMNS, (arrays.randomization_block, arrays.allocation_order), strict=True
        ):
            columns[name] = pd.array(np.repeat(values[r], v), dtype="Float64").astype("Int64")
    return pd.DataFrame(columns)


def simulate_trial(cfg: dict, *, rng) -> pd.DataFrame:
    """One simulated trial in the contract's long format (:data:`COLUMNS`, with the randomization list).

    Examples
    --------
    >>> from vtrial.config import load_config
    >>> df = simulate_trial(load_config(), rng=1)
    >>> df.shape
    (352, 10)
    >>> df[df["visit_month"] == 0][["randomization_block", "allocation_order"]].max().tolist()
    [22, 4]
    """
    return to_long(simulate_arrays(cfg, 1, rng=rng, blocks=True), 0)


#: Decimals written to CSV per column: what a clinical database would hold.
CSV_DECIMALS = {
    "age_years": 1, "bmi_kg_m2": 1, "testosterone_ng_dl": 1, "estradiol_pg_ml": 2, "bmd_g_cm2": 4,
    "hip_bmd_g_cm2": 4,
}  # fmt: skip


def write_trial_csv(df: pd.DataFrame, path) -> None:
    """Write a long-format trial to CSV, rounded as in :data:`CSV_DECIMALS`."""
    out = df.copy()
    for col, dec in CSV_DECIMALS.items():
        if col in out:  # hip_bmd_g_cm2 only with a hip endpoint
            out[col] = out[col].round(dec)
    out.to_csv(path, index=False, lineterminator="\n")
