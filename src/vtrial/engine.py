"""Many replicate trials at once: array simulation and vectorised analyses.

The power engine simulates replicate trials in *blocks* of :data:`BLOCK`
replicates. Block ``k`` of a scenario always draws from the random streams
derived from ``(root seed, scenario id, k)`` (:func:`vtrial.streams.seed_sequence`),
whatever the chunk size or the number of worker processes, so output files are
byte-identical however the work is split. ``simulation.chunk_size`` only groups
blocks into the tasks handed to a worker.

Four simulators feed the same analyses:

``exact``
    Draws, per arm and replicate, the sufficient statistics of (measured
    baseline BMD, observed 12-month % change) among the men analysed: the arm
    means from their normal distribution and the within-arm sums of squares and
    cross-products from their Wishart distribution (Bartlett decomposition).
    Its cost does not depend on the sample size. Valid, and chosen
    automatically (``simulation.exact_shortcut: auto``), when *all* of:

    * ``effects.mode`` is ``direct`` (the outcome is exactly normal given arm);
    * dropout does not depend on the data (``MCAR``, or ``strength`` 0, or no
      dropout): the completers of an arm are then an i.i.d. sample of the same
      normal, their number binomial given the arm size;
    * randomization is ``simple`` or ``permuted_blocks``: arm sizes do not
      depend on the men (random arm sizes are drawn exactly as
      :func:`vtrial.trial.randomize` makes them); ``stratified_blocks`` balances
      arms on a baseline variable and is excluded;
    * ``analysis.missing`` is ``complete_case`` and ``analysis.scale`` is
      ``pct`` (carried-forward zeros or a change in g/cm2 are not normal);
    * the method is ``student_t``, ``welch_t`` or ``ancova`` without extra
      covariates or robust SEs.

``per_man_y``
    For complete-case ``student_t``, ``welch_t`` and ``ancova`` (no extra
    covariates or robust SEs) on the % scale in direct mode without
    ``stratified_blocks``, under *any* dropout mechanism: draws per man only
    the variable dropout depends on (the 12-month change under MNAR and MCAR,
    the 6-month change under MAR) and the dropout uniform, then the completers'
    remaining sums (baseline BMD; under MAR also the 12-month change) from
    their exact conditional normal / chi-square / Wishart law given the drawn
    values (:func:`per_man_y_stats`). One normal per man instead of two (three
    under MAR): about twice as fast (``benchmarks/RESULTS.md``). Chosen
    automatically (``simulation.exact_shortcut: auto``, the default) when
    every method of the block can use it (a method that needs
    individual values, e.g. Mann-Whitney or MMRM, puts the block on
    ``per_man``). Under MCAR and MNAR the 12-month changes and completers are
    exactly those ``per_man`` draws from the same streams, so Welch and
    Student results are the same whichever of the two simulates the block.

``per_man``
    Draws each man's (measured baseline BMD, 12-month change[, 6-month
    change]) from their exact joint normal distribution given arm (two or three
    normals per man, against five in :func:`vtrial.trial.simulate_arrays`;
    the 12-month change first, then the baseline given it),
    then dropout with every mechanism. Valid in direct mode without
    ``stratified_blocks``. Men are drawn man-major and per arm, so a trial with
    one more man per arm contains the smaller trial (common random numbers
    across candidate sample sizes).

``full``
    :func:`vtrial.trial.simulate_arrays` itself (estradiol-mediated effects,
    stratified randomization, extra ANCOVA covariates).

Vectorised analyses: ``student_t``, ``welch_t``, ``ancova`` (from per-arm
sums), ``mann_whitney`` (as R ``wilcox.test``: exact branch, or normal
approximation with Brent's root finder run in lockstep on all replicates) and
``mmrm`` (REML in closed form under monotone dropout, see :func:`mmrm_vec`),
each with ``complete_case``, ``bocf`` and ``locf`` (MMRM: all observed visits). Any other method or strategy
runs per replicate through the reference implementation in
:mod:`vtrial.analysis` (``engine = "reference"``).
"""

from __future__ import annotations

import json
import math
import threading
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import special

from vtrial import trial as trial_mod
from vtrial.errors import InputError
from vtrial.streams import seed_sequence

#: Replicates per random-number block (the unit of reproducibility).
BLOCK = 1000

#: Methods the engine computes from arrays.
VECTORISED = ("student_t", "welch_t", "ancova", "mann_whitney", "mmrm")
#: Methods the exact shortcut supports.
EXACT_METHODS = ("student_t", "welch_t", "ancova")
#: Missing-data strategies computed from arrays.
VECTORISED_MISSING = ("complete_case", "bocf", "locf")

# Child stream labels inside a block's SeedSequence.
_S_RANDOMIZE, _S_EXACT, _S_REFERENCE = 0, 1, 2


def _child(ss: np.random.SeedSequence, label: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(ss.entropy, spawn_key=(*ss.spawn_key, label)))


def block_sizes(reps: int) -> list[int]:
    """Replicates in each block for a run of ``reps`` replicates.

    Examples
    --------
    >>> block_sizes(2500)
    [1000, 1000, 500]
    """
    full, rest = divmod(int(reps), BLOCK)
    return [BLOCK] * full + ([rest] if rest else [])


# --------------------------------------------------------------------------- model moments


@dataclass(frozen=True)
class Moments:
    """Exact joint normal law of (measured baseline BMD, Y12, Y6) given arm (direct mode).

    Attributes
    ----------
    bmd_mean : float
        Mean measured baseline BMD (g/cm2), both arms.
    mean_pct : ndarray (2,)
        Mean 12-month % change, placebo and anastrozole.
    month6_fraction : float
        Mean 6-month change as a fraction of the 12-month mean.
    cov : ndarray (3, 3)
        Covariance of (B0 [g/cm2], Y12 [%], Y6 [%]) within an arm.
    """

    bmd_mean: float
    mean_pct: np.ndarray
    month6_fraction: float
    cov: np.ndarray

    @property
    def chol2(self) -> np.ndarray:
        """Cholesky factor of the (B0, Y12) covariance."""
        return np.linalg.cholesky(self.cov[:2, :2])

    @property
    def y6_given(self) -> tuple[np.ndarray, float]:
        """Regression of Y6 on (B0 - mean, Y12 - mean) and its residual SD."""
        s = self.cov
        coef = np.linalg.solve(s[:2, :2], s[:2, 2])
        resid = s[2, 2] - s[2, :2] @ coef
        return coef, float(np.sqrt(max(resid, 0.0)))


def moments(cfg: dict) -> Moments:
    """Joint normal moments of (B0, Y12, Y6) implied by a direct-mode config.

    Follows the model of :mod:`vtrial.trial`: with ``s_b`` the SD of true
    baseline BMD, ``m_b`` its mean, ``s_D^2 = sd^2 - 2 cv^2``, ``f`` the month-6
    fraction and ``rho`` the baseline correlation,
    ``Var(B0) = s_b^2 + (m_b cv / 100)^2``, ``Var(Y12) = sd^2``,
    ``Var(Y6) = f^2 s_D^2 + 2 cv^2``, ``Cov(Y6, Y12) = f s_D^2 + cv^2``,
    ``Cov(B0, Y12) = rho s_D s_b - m_b cv^2 / 100`` and
    ``Cov(B0, Y6) = f rho s_D s_b - m_b cv^2 / 100``.

    Examples
    --------
    >>> from vtrial.config import load_config
    >>> round(float(moments(load_config()).cov[1, 1]), 6)
    9.0
    """
    eff = trial_mod.implied_effects(cfg)
    e = cfg["effects"]
    c = cfg["cohort"]
    cv = cfg["measurement"]["bmd_cv_pct"]
    mb, sb = c["bmd_mean_g_cm2"], c["bmd_sd_g_cm2"]
    sd_d = float(eff.sd_true_pct[0])
    rho, f = e["baseline_corr"], e["month6_fraction"]
    e0 = mb * cv**2 / 100
    cov = np.array(
        [
            [sb**2 + (mb * cv / 100) ** 2, rho * sd_d * sb - e0, f * rho * sd_d * sb - e0],
            [rho * sd_d * sb - e0, sd_d**2 + 2 * cv**2, f * sd_d**2 + cv**2],
            [f * rho * sd_d * sb - e0, f * sd_d**2 + cv**2, f**2 * sd_d**2 + 2 * cv**2],
        ]
    )
    return Moments(float(mb), np.array(eff.mean_pct, dtype=float), float(f), cov)


# --------------------------------------------------------------------------- arm sizes


@lru_cache(maxsize=256)
def _arm_size_law(n: int, n_a: int, randomization: str, sizes: tuple[int, ...]) -> np.ndarray:
    share = n_a / n
    if randomization == "simple":
        from scipy import stats

        return stats.binom.pmf(np.arange(n + 1), n, share)
    # Permuted blocks: P[s] is the law of the anastrozole count after s slots
    # filled by whole blocks; a block cut short by the end of the trial gives a
    # hypergeometric count among its first slots (as trial.randomize does).
    from scipy import stats

    law = np.zeros(n + 1)
    state = np.zeros((n + 1, n + 1))
    state[0, 0] = 1.0
    pick = 1.0 / len(sizes)
    for s in range(n):
        row = state[s]
        if not row.any():
            continue
        for b in sizes:
            drug = int(round(b * share))
            if s + b <= n:
                state[s + b, drug:] += pick * row[: n + 1 - drug]
            else:
                k = n - s
                pmf = stats.hypergeom.pmf(np.arange(k + 1), b, drug, k)
                for j, pj in enumerate(pmf):
                    if pj > 0:
                        law[j:] += pick * pj * row[: n + 1 - j]
    law += state[n]
    return law / law.sum()


def arm_size_law(trial_cfg: dict) -> np.ndarray:
    """Law of the number of men randomized to anastrozole, ``P[k]`` for ``k = 0..n``.

    Exactly as :func:`vtrial.trial.randomize` assigns arms with ``simple`` or
    ``permuted_blocks`` randomization (not defined for ``stratified_blocks``).

    Examples
    --------
    >>> from vtrial.config import load_config
    >>> law = arm_size_law(load_config()["trial"])
    >>> int(law.argmax()), float(law.max())
    (44, 1.0)
    """
    n_p, n_a = trial_mod.arm_sizes(trial_cfg)
    return _arm_size_law(
        n_p + n_a, n_a, trial_cfg["randomization"], tuple(int(b) for b in trial_cfg["block_sizes"])
    )


def draw_arm_sizes(trial_cfg: dict, reps: int, *, rng) -> np.ndarray:
    """Men randomized to (placebo, anastrozole) per replicate, shape ``(2, reps)``.

    Parameters
    ----------
    trial_cfg : dict
        The ``trial`` config section (``simple`` or ``permuted_blocks``).
    reps : int
        Replicate trials.
    rng : numpy.random.Generator or seed

    Returns
    -------
    ndarray of int64, (2, reps)
        Same law as the arm sizes :func:`vtrial.trial.randomize` produces.
    """
    rng = np.random.default_rng(rng)
    n_p, n_a = trial_mod.arm_sizes(trial_cfg)
    n = n_p + n_a
    law = arm_size_law(trial_cfg)
    support = np.flatnonzero(law > 0)
    if len(support) == 1:
        drug = np.full(reps, support[0], dtype=np.int64)
    else:
        drug = np.searchsorted(np.cumsum(law), rng.random(reps), side="right")
        drug = np.minimum(drug, n).astype(np.int64)
    return np.stack([n - drug, drug])


# --------------------------------------------------------------------------- blocks of men


@dataclass
class Block:
    """One block of replicate trials, per arm (index 0 placebo, 1 anastrozole).

    Arrays are man-major: ``[a][i, r]`` is man ``i`` of arm ``a`` in trial ``r``.
    Each arm array has as many rows as the largest arm size in the block; rows
    beyond a trial's own arm size are inactive. Values are stored as deviations
    from constants (``bmd_mean``, ``mu12[a]``, ``mu6[a]``) so that sums of
    squares lose no precision.

    Attributes
    ----------
    size : ndarray of int, (2, reps)
        Men randomized to each arm.
    db : list of ndarray (n_max, reps)
        Measured baseline BMD minus ``bmd_mean`` (g/cm2).
    dy12, dy6 : list of ndarray (n_max, reps)
        Observed % change at months 12 and 6 (before dropout) minus ``mu12[a]``
        and ``mu6[a]``; ``dy6`` may be None.
    complete : list of ndarray of bool
        Attended month 12 (and active).
    seen6 : list of ndarray of bool, or None
        Attended month 6 (and active).
    engine : str
        ``per_man`` or ``full``.
    bmd_mean : float
    mu12, mu6 : ndarray (2,)
    arrays : TrialArrays or None
        The original arrays when simulated by :func:`vtrial.trial.simulate_arrays`.
    """

    size: np.ndarray
    db: list
    dy12: list
    dy6: list | None
    complete: list
    seen6: list | None
    engine: str
    bmd_mean: float
    mu12: np.ndarray
    mu6: np.ndarray
    arrays: trial_mod.TrialArrays | None = None

    @property
    def reps(self) -> int:
        return self.size.shape[1]

    def b0(self, arm: int) -> np.ndarray:
        """Measured baseline BMD (g/cm2) of one arm."""
        return self.db[arm] + self.bmd_mean

    def y12(self, arm: int) -> np.ndarray:
        """Observed 12-month % change (before dropout) of one arm."""
        return self.dy12[arm] + self.mu12[arm]

    def y6(self, arm: int) -> np.ndarray:
        """Observed 6-month % change (before dropout) of one arm."""
        return self.dy6[arm] + self.mu6[arm]

    def active(self, arm: int) -> np.ndarray | None:
        """Boolean ``(n_max, reps)`` of men present, or None when all are."""
        n_max = self.db[arm].shape[0]
        if np.all(self.size[arm] == n_max):
            return None
        return np.arange(n_max)[:, None] < self.size[arm][None, :]


def _arm_rows(trial_cfg: dict) -> tuple[int, int]:
    """Rows (largest possible arm size) of the placebo and anastrozole arrays of a block."""
    law = arm_size_law(trial_cfg)
    support = np.flatnonzero(law > 0)
    n_total = len(law) - 1
    return int(n_total - support.min()), int(support.max())


def _mechanism(cfg: dict) -> str:
    d = cfg["dropout"]
    return d["mechanism"] if d["strength"] > 0 else "MCAR"


_WORK = threading.local()
#: Bytes of scratch arrays kept between blocks (per thread).
_WORK_LIMIT = 64 * 2**20


def _scratch(name: str, shape: tuple, dtype=np.float64) -> np.ndarray:
    """A reusable uninitialised array for temporaries that do not outlive a block.

    Blocks are simulated one after another with the same shapes; reusing the
    buffers avoids a fresh ``mmap`` (and its page faults) for every large
    temporary, which costs about a quarter of the per-man engine's time.
    """
    store = _WORK.__dict__.setdefault("arrays", {})
    key = (name, tuple(shape), np.dtype(dtype).str)
    buf = store.get(key)
    if buf is None:
        need = int(np.prod(shape)) * np.dtype(dtype).itemsize
        if sum(b.nbytes for b in store.values()) + need > _WORK_LIMIT:
            store.clear()
        buf = store[key] = np.empty(shape, dtype)
    return buf


def _completers(
    cfg: dict, arm: int, dev: np.ndarray | None, sd: float, rng, shape, out: np.ndarray | None = None
) -> np.ndarray:
    """Boolean ``shape``: the man attends month 12 (dropout as :func:`vtrial.trial.draw_dropout`).

    ``dev`` is the driving % change minus its arm mean (Y12 under MNAR, Y6 under
    MAR; None under MCAR) and ``sd`` its model SD; one uniform per man from ``rng``.
    Dropout has probability ``expit(a - g dev / sd)``, the intercept ``a`` from
    :func:`vtrial.trial.dropout_intercept`. Written to ``out`` (a boolean array)
    when given.
    """
    d = cfg["dropout"]
    p = d["anastrozole"] if arm else d["placebo"]
    if p <= 0:
        if out is None:
            return np.ones(shape, dtype=bool)
        out[...] = True
        return out
    u = rng.random(out=_scratch("u", shape))
    if dev is None:
        return np.greater_equal(u, p, out=out)
    g = d["strength"]
    x = np.multiply(dev, g / sd, out=_scratch("x", shape))
    x -= trial_mod.dropout_intercept(p, g)
    # u >= expit(-x)  <=>  u (1 + exp(x)) >= 1 (numpy's SIMD exp is fast).
    np.exp(x, out=x)
    x += 1.0
    x *= u
    return np.greater_equal(x, 1.0, out=out)


def per_man_block(cfg: dict, reps: int, ss: np.random.SeedSequence, *, need_y6: bool) -> Block:
    """Simulate one block with the per-man sampler (direct mode, no stratification).

    Per arm and man: ``Y12`` from one standard normal (its own stream), then
    ``B0`` from its exact conditional normal given ``Y12`` with a second normal
    (:func:`moments`); ``Y6`` (when needed) from its exact conditional normal
    given ``(B0, Y12)`` with a third normal from its own stream; dropout as
    :func:`vtrial.trial.draw_dropout` (MCAR, MAR on ``Y6``, MNAR on ``Y12``,
    same intercepts and standardization). Arm sizes as :func:`draw_arm_sizes`.
    Each quantity has its own child stream of ``ss``, so adding a method that
    needs ``Y6`` does not change the other methods' replicates, and the
    ``Y12`` values and completers are those of :func:`per_man_y_stats` under
    MCAR and MNAR (so Welch and Student t agree bitwise between the two).

    Parameters
    ----------
    cfg : dict
        Validated config (direct mode, ``simple`` or ``permuted_blocks``).
    reps : int
        Replicates in the block.
    ss : numpy.random.SeedSequence
        The block's seed sequence; child streams are derived from it.
    need_y6 : bool
        Also draw the month-6 change and visit (MMRM, LOCF).

    Returns
    -------
    Block
    """
    mo = moments(cfg)
    d = cfg["dropout"]
    mech = _mechanism(cfg)
    draw_y6 = need_y6 or mech == "MAR"
    size = draw_arm_sizes(cfg["trial"], reps, rng=_child(ss, _S_RANDOMIZE))
    n_max = _arm_rows(cfg["trial"])
    s = mo.cov
    sd12 = math.sqrt(s[1, 1])
    slope_b = s[0, 1] / s[1, 1]
    sd_b = math.sqrt(max(s[0, 0] - s[0, 1] ** 2 / s[1, 1], 0.0))
    coef6, sd6_resid = mo.y6_given
    cum = np.cumsum(d["visit_probs"])
    out = {"db": [], "dy12": [], "dy6": [], "complete": [], "seen6": []}
    for arm in (0, 1):
        base = 10 + 4 * arm
        n_arm = int(n_max[arm])
        # Two contiguous man-major streams (change, baseline): a larger trial
        # extends a smaller one man by man.
        dy = _y12_dev(ss, arm, n_arm, reps, sd12)
        db = _child(ss, base).standard_normal((n_arm, reps))
        db *= sd_b
        tmp = _scratch("t", db.shape)
        db += np.multiply(dy, slope_b, out=tmp)
        d6 = None
        if draw_y6:
            d6 = _child(ss, base + 3).standard_normal((n_arm, reps))
            d6 *= sd6_resid
            d6 += np.multiply(db, coef6[0], out=tmp)
            d6 += np.multiply(dy, coef6[1], out=tmp)
        drv = {"MCAR": None, "MNAR": dy, "MAR": d6}[mech]
        sd_drv = sd12 if mech == "MNAR" else math.sqrt(s[2, 2])
        complete = _completers(cfg, arm, drv, sd_drv, _child(ss, base + 1), (n_arm, reps))
        if mech == "MAR":
            seen6 = np.ones((n_arm, reps), dtype=bool)
        elif need_y6:
            when = _child(ss, base + 2).random((n_arm, reps))
            seen6 = complete | (when >= cum[1])
        else:
            seen6 = None
        if not (size[arm] == n_arm).all():
            act = np.arange(n_arm)[:, None] < size[arm][None, :]
            complete &= act
            if seen6 is not None:
                seen6 &= act
        out["db"].append(db)
        out["dy12"].append(dy)
        out["dy6"].append(d6)
        out["seen6"].append(seen6)
        out["complete"].append(complete)
    return Block(
        size,
        out["db"],
        out["dy12"],
        out["dy6"] if draw_y6 else None,
        out["complete"],
        out["seen6"] if out["seen6"][0] is not None else None,
        "per_man",
        mo.bmd_mean,
        mo.mean_pct,
        mo.month6_fraction * mo.mean_pct,
    )


def _y12_dev(ss: np.random.SeedSequence, arm: int, n_arm: int, reps: int, sd12: float) -> np.ndarray:
    """Man-major ``Y12 - mu12[arm]`` of one arm (shared by the two per-man samplers)."""
    dy = _child(ss, 30 + arm).standard_normal((n_arm, reps))
    dy *= sd12
    return dy


def block_from_arrays(ta: trial_mod.TrialArrays, cfg: dict, engine: str = "full") -> Block:
    """Rearrange :class:`vtrial.trial.TrialArrays` into a per-arm :class:`Block`.

    Within each replicate, men keep their enrolment order inside their arm.
    """
    eff = trial_mod.implied_effects(cfg)
    mu12 = np.array([eff.mean_pct[0], eff.mean_pct[0] + eff.difference_pct])
    mu6 = cfg["effects"]["month6_fraction"] * mu12
    bmd_mean = float(cfg["cohort"]["bmd_mean_g_cm2"])
    arm = ta.anastrozole
    reps, _ = arm.shape
    size = np.stack([(~arm).sum(1), arm.sum(1)]).astype(np.int64)
    b0 = ta.bmd_g_cm2[..., 0]
    pct = ta.pct_change
    last = ta.last_visit
    out = {k: [] for k in ("db", "dy12", "dy6", "complete", "seen6")}
    for a in (0, 1):
        mine = arm if a else ~arm
        # Stable sort puts this arm's men first in enrolment order.
        order = np.argsort(~mine, axis=1, kind="stable")
        n_max = int(size[a].max()) if reps else 0
        idx = order[:, :n_max]
        act = np.take_along_axis(mine, idx, 1).T

        def take(x, idx=idx):
            return np.take_along_axis(x, idx, 1).T.copy()

        out["db"].append(take(b0) - bmd_mean)
        out["dy12"].append(take(pct[..., 1]) - mu12[a])
        out["dy6"].append(take(pct[..., 0]) - mu6[a])
        out["complete"].append(take(last == 12) & act)
        out["seen6"].append(take(last >= 6) & act)
    return Block(
        size, out["db"], out["dy12"], out["dy6"], out["complete"], out["seen6"], engine,
        bmd_mean, mu12, mu6, ta,
    )  # fmt: skip


def block_to_arrays(block: Block) -> trial_mod.TrialArrays:
    """Per-arm block to :class:`vtrial.trial.TrialArrays`: placebo men first, then anastrozole.

    Every replicate has ``n = size[0] + size[1]`` men; only BMD, arm and last
    visit are filled (covariates NaN), enough for :func:`vtrial.trial.to_long`
    and the reference analyses. BMD at month ``v`` is ``B0 (1 + Y_v / 100)``
    as in :func:`vtrial.trial.simulate_arrays`.
    """
    if block.arrays is not None:
        return block.arrays
    reps = block.reps
    n = int(block.size[:, 0].sum())
    anas = np.zeros((reps, n), dtype=bool)
    bmd = np.full((reps, n, 3), np.nan)
    pct = np.full((reps, n, 2), np.nan)
    last = np.zeros((reps, n), dtype=np.int64)
    for a in (0, 1):
        b0a, y12a = block.b0(a), block.y12(a)
        y6a = block.y6(a) if block.dy6 is not None else np.full_like(b0a, np.nan)
        for r in range(reps):
            k = int(block.size[a, r])
            pos = 0 if a == 0 else int(block.size[0, r])
            sl = slice(pos, pos + k)
            anas[r, sl] = bool(a)
            b0 = b0a[:k, r]
            comp = block.complete[a][:k, r]
            seen = block.seen6[a][:k, r] if block.seen6 is not None else comp
            bmd[r, sl, 0] = b0
            bmd[r, sl, 1] = np.where(seen, b0 * (1 + y6a[:k, r] / 100), np.nan)
            bmd[r, sl, 2] = np.where(comp, b0 * (1 + y12a[:k, r] / 100), np.nan)
            pct[r, sl, 0], pct[r, sl, 1] = y6a[:k, r], y12a[:k, r]
            last[r, sl] = np.where(comp, 12, np.where(seen, 6, 0))
    nan2 = np.full((reps, n), np.nan)
    nan4 = np.full((reps, n, 4), np.nan)
    return trial_mod.TrialArrays(anas, nan2, nan2, nan4, nan4, bmd, pct, pct[..., 1], last)


def full_block(cfg: dict, reps: int, ss: np.random.SeedSequence, *, covariates: bool) -> Block:
    """Simulate one block with :func:`vtrial.trial.simulate_arrays` (any model)."""
    ta = trial_mod.simulate_arrays(cfg, reps, rng=_child(ss, 3), covariates=covariates)
    return block_from_arrays(ta, cfg, "full")


# --------------------------------------------------------------------------- sufficient statistics


@dataclass
class ArmStats:
    """Per-arm sufficient statistics of (baseline, outcome) among men analysed.

    All arrays have shape ``(2, reps)`` (arm, replicate).

    Attributes
    ----------
    n : ndarray of float
        Men analysed.
    ybar : ndarray
        Mean analysed outcome (% or g/cm2).
    bbar : ndarray
        Mean baseline BMD minus the population mean (g/cm2).
    syy, sbb, sby : ndarray
        Within-arm centred sums of squares and cross-products.
    size : ndarray of float
        Men randomized (reported as the men available when a fit fails, as
        the reference implementations do).
    """

    n: np.ndarray
    ybar: np.ndarray
    bbar: np.ndarray
    syy: np.ndarray
    sbb: np.ndarray
    sby: np.ndarray
    size: np.ndarray


def outcome(block: Block, arm: int, missing: str, scale: str) -> tuple[np.ndarray, float, np.ndarray]:
    """Analysed 12-month change of one arm under a strategy, as a deviation.

    Parameters
    ----------
    block : Block
    arm : int
        0 placebo, 1 anastrozole.
    missing : {"complete_case", "bocf", "locf"}
    scale : {"pct", "absolute"}

    Returns
    -------
    dev : ndarray (n_max, reps)
        Outcome minus ``shift``; arbitrary where not included.
    shift : float
        Constant near the arm mean (% or g/cm2).
    w : ndarray of bool (n_max, reps)
        Men included in the analysis.
    """
    comp = block.complete[arm]
    if missing == "complete_case" and scale == "pct":
        return block.dy12[arm], float(block.mu12[arm]), comp
    if scale == "absolute":
        b0 = block.b0(arm)
        y12 = b0 * block.y12(arm) / 100
        shift = block.bmd_mean * block.mu12[arm] / 100
    else:
        y12 = block.y12(arm)
        shift = float(block.mu12[arm])
    if missing == "complete_case":
        return y12 - shift, shift, comp
    act = block.active(arm)
    w = np.ones_like(comp) if act is None else act
    if missing == "bocf":
        return np.where(comp, y12, 0.0) - shift, shift, w
    if missing == "locf":
        y6 = block.y6(arm)
        if scale == "absolute":
            y6 = b0 * y6 / 100
        return np.where(comp, y12, np.where(block.seen6[arm], y6, 0.0)) - shift, shift, w
    raise ValueError(f"strategy {missing!r} is not vectorised")


def outcome_from_bmd(block: Block, arm: int, missing: str, scale: str) -> tuple[np.ndarray, np.ndarray]:
    """Analysed 12-month change computed from BMD values, in the reference's operations.

    BMD at month ``v`` is ``B0 (1 + Y_v / 100)`` (as in
    :func:`vtrial.trial.simulate_arrays`) and the change is ``100 (B_v - B0) /
    B0`` (or ``B_v - B0``), exactly as :func:`vtrial.analysis.missing.change`
    computes it, so values are bitwise those of the reference. This matters for
    statistics that are not smooth in the data (R's ``uniroot`` on the
    Wilcoxon step function amplifies 1e-14 differences to 1e-4).

    Returns
    -------
    y : ndarray (n_max, reps)
        Change (% or g/cm2); arbitrary where not included.
    w : ndarray of bool (n_max, reps)
        Men included.
    """
    b0 = block.b0(arm)
    comp = block.complete[arm]

    def change(pct):
        bt = b0 * (1 + pct / 100)
        return 100.0 * (bt - b0) / b0 if scale == "pct" else bt - b0

    y12 = change(block.y12(arm))
    if missing == "complete_case":
        return y12, comp
    act = block.active(arm)
    w = np.ones_like(comp) if act is None else act
    if missing == "bocf":
        return np.where(comp, y12, 0.0), w
    if missing == "locf":
        return np.where(comp, y12, np.where(block.seen6[arm], change(block.y6(arm)), 0.0)), w
    raise ValueError(f"strategy {missing!r} is not vectorised")


def arm_stats(block: Block, missing: str, scale: str) -> ArmStats:
    """Sufficient statistics per arm from a per-man block.

    One pass over deviations from constants near the means (``Syy = sum(d^2) -
    n dbar^2``), which loses no meaningful precision because the deviations
    are centred near zero.
    """
    fields = {k: np.empty((2, block.reps)) for k in ("n", "ybar", "bbar", "syy", "sbb", "sby")}
    for a in (0, 1):
        dy, shift, w = outcome(block, a, missing, scale)
        n = np.count_nonzero(w, axis=0).astype(float)
        safe = np.maximum(n, 1.0)
        wy = np.where(w, dy, 0.0)
        wb = np.where(w, block.db[a], 0.0)
        my = wy.sum(0) / safe
        mb = wb.sum(0) / safe
        fields["n"][a] = n
        fields["ybar"][a] = my + shift
        fields["bbar"][a] = mb
        fields["syy"][a] = np.einsum("ij,ij->j", wy, wy) - n * my * my
        fields["sbb"][a] = np.einsum("ij,ij->j", wb, wb) - n * mb * mb
        fields["sby"][a] = np.einsum("ij,ij->j", wb, wy) - n * mb * my
    return ArmStats(**fields, size=block.size.astype(float))


def exact_arm_stats(cfg: dict, reps: int, ss: np.random.SeedSequence) -> ArmStats:
    """Draw the per-arm sufficient statistics directly (the exact shortcut).

    Given the arm size ``N_a`` (drawn as :func:`draw_arm_sizes`), the number of
    completers is ``Binomial(N_a, 1 - p_a)`` under MCAR dropout, and for
    ``n`` completers, i.i.d. ``N(mu_a, Sigma)`` in (B0, Y12), the mean vector is
    ``N(mu_a, Sigma / n)`` and the centred SSCP matrix is ``Wishart(n - 1,
    Sigma)``, independently. The Wishart is drawn by the Bartlett
    decomposition ``L T T' L'`` with ``T11^2 ~ chi2(n - 1)``, ``T22^2 ~ chi2(n - 2)``
    and ``T21 ~ N(0, 1)``. Arms with fewer than two completers get zero SSCP
    (the analyses then report NaN, as the reference does).

    Parameters
    ----------
    cfg : dict
        Validated config satisfying :func:`exact_valid`.
    reps : int
        Replicates.
    ss : numpy.random.SeedSequence
        The block's seed sequence.

    Returns
    -------
    ArmStats
        Baseline means as deviations from the population mean BMD.
    """
    mo = moments(cfg)
    size = draw_arm_sizes(cfg["trial"], reps, rng=_child(ss, _S_RANDOMIZE))
    rng = _child(ss, _S_EXACT)
    d = cfg["dropout"]
    chol = mo.chol2
    out = {k: np.empty((2, reps)) for k in ("n", "ybar", "bbar", "syy", "sbb", "sby")}
    for a in (0, 1):
        p = d["anastrozole"] if a else d["placebo"]
        n = size[a] if p <= 0 else rng.binomial(size[a], 1.0 - p)
        nf = n.astype(float)
        z = rng.standard_normal((2, reps)) / np.sqrt(np.maximum(nf, 1.0))
        k = np.maximum(nf - 1, 0.0)
        if np.all(k == k[0]) and k[0] >= 2:  # fixed arm size: scalar df is faster
            t11 = np.sqrt(rng.chisquare(k[0], reps))
            t22 = np.sqrt(rng.chisquare(k[0] - 1, reps))
            t21 = rng.standard_normal(reps)
        else:
            t11 = np.sqrt(rng.chisquare(np.maximum(k, 1.0)) * (k >= 1))
            t22 = np.sqrt(rng.chisquare(np.maximum(k - 1, 1.0)) * (k >= 2))
            t21 = rng.standard_normal(reps) * (k >= 2)
        lb = chol[0, 0] * t11
        ly = chol[1, 0] * t11 + chol[1, 1] * t21
        lz = chol[1, 1] * t22
        out["n"][a] = nf
        out["bbar"][a] = chol[0, 0] * z[0]
        out["ybar"][a] = mo.mean_pct[a] + chol[1, 0] * z[0] + chol[1, 1] * z[1]
        out["sbb"][a] = lb * lb
        out["sby"][a] = lb * ly
        out["syy"][a] = ly * ly + lz * lz
    return ArmStats(**out, size=size.astype(float))


def per_man_y_stats(cfg: dict, reps: int, ss: np.random.SeedSequence) -> ArmStats:
    """Per-arm complete-case sums with per-man outcomes and drawn baseline sums (``per_man_y``).

    Draws for each man only the variable that drives dropout -- ``Y12`` under
    MCAR and MNAR, ``Y6`` under MAR -- and the dropout uniform, exactly as
    :func:`per_man_block` does (same streams: under MCAR and MNAR the ``Y12``
    values and completers are identical to it). The remaining variables enter
    complete-case t-tests and ANCOVA only through per-arm sums over completers,
    which are drawn from their exact conditional law given the drawn values.

    Let ``v`` be the drawn variable of the ``k`` completers of an arm, ``vbar``
    their mean, ``Svv`` their centred sum of squares, and ``W`` the other
    variables (``B0`` under MNAR/MCAR; ``(B0, Y12)`` under MAR). Within an arm
    ``W = c v + E`` with ``E`` i.i.d. ``N(0, S)`` (the normal regression
    residual, ``c`` and ``S`` from :func:`moments`), independent of ``v`` and
    hence of dropout, which depends on ``v`` only. Rotating the ``k``
    completers by an orthonormal basis whose first two vectors are ``1 /
    sqrt(k)`` and ``(v - vbar) / sqrt(Svv)`` gives i.i.d. ``N(0, S)`` rows, so

    * ``Wbar = c vbar + w1 / sqrt(k)``,
    * centred SSCP of ``W`` ``= h h' + Wishart(k - 2, S)`` with
      ``h = c sqrt(Svv) + w2``, and
    * centred cross-products ``sum (W - Wbar)(v - vbar) = h sqrt(Svv)``,

    with ``w1, w2 ~ N(0, S)`` and the Wishart mutually independent. Under MNAR
    and MCAR ``S`` is the scalar ``s^2`` and the Wishart is ``s^2
    chi2(k - 2)``: two normals and one chi-square per arm and replicate instead
    of ``k`` baseline normals. Under MAR the Wishart is drawn by the Bartlett
    decomposition (a singular one when ``k < 4``). Arms with fewer than two
    completers give zero sums (the analyses report NaN, as the reference does).

    Valid where :func:`per_man_y_valid` holds (complete case, % scale,
    direct mode). Baseline means are deviations from the population mean BMD;
    the baseline sums come from the child streams ``40 + arm``. Across
    candidate sample sizes the per-man draws are common random numbers (a
    larger trial extends a smaller one man by man); the drawn sums use the same
    normals but, through the chi-square, are only partly common.

    Examples
    --------
    >>> from vtrial.config import load_config
    >>> cfg = load_config(overrides=["dropout.mechanism=MNAR"])
    >>> st = per_man_y_stats(cfg, 1000, np.random.SeedSequence(1))
    >>> bool(st.ybar[1].mean() - st.ybar[0].mean() > -2.46)  # MNAR: losers drop out
    True
    """
    mo = moments(cfg)
    mech = _mechanism(cfg)
    size = draw_arm_sizes(cfg["trial"], reps, rng=_child(ss, _S_RANDOMIZE))
    n_max = _arm_rows(cfg["trial"])
    s = mo.cov
    # order of the drawn variable v and of the others W in the covariance
    v_idx, w_idx = (2, [0, 1]) if mech == "MAR" else (1, [0])
    sd_v = math.sqrt(s[v_idx, v_idx])
    c = s[w_idx, v_idx] / s[v_idx, v_idx]
    cond = s[np.ix_(w_idx, w_idx)] - np.outer(s[w_idx, v_idx], s[w_idx, v_idx]) / s[v_idx, v_idx]
    out = {k: np.empty((2, reps)) for k in ("n", "ybar", "bbar", "syy", "sbb", "sby")}
    for arm in (0, 1):
        base = 10 + 4 * arm
        n_arm = n_max[arm]
        shape = (n_arm, reps)
        # scratch buffers: every per-man array is reduced to sums before the next arm
        dv = _scratch("dv", shape)
        stream = _child(ss, base + 3) if mech == "MAR" else _child(ss, 30 + arm)
        stream.standard_normal(out=dv)
        dv *= sd_v
        complete = _completers(
            cfg, arm, None if mech == "MCAR" else dv, sd_v, _child(ss, base + 1), shape,
            out=_scratch("complete", shape, bool),
        )  # fmt: skip
        if not (size[arm] == n_arm).all():
            complete &= np.arange(n_arm)[:, None] < size[arm][None, :]
        # The same values as arm_stats (Welch and Student results are bitwise
        # those of per_man_block): x * True == x, x * False == +-0.
        n = np.count_nonzero(complete, axis=0).astype(float)
        safe = np.maximum(n, 1.0)
        wv = np.multiply(dv, complete, out=dv)
        mv = wv.sum(0) / safe
        svv = np.einsum("ij,ij->j", wv, wv) - n * mv * mv
        root = np.sqrt(np.maximum(svv, 0.0))
        rng = _child(ss, 40 + arm)
        two = n >= 2
        df = np.where(two, n - 2.0, 0.0)
        out["n"][arm] = n
        if mech != "MAR":
            sd_b = math.sqrt(max(cond[0, 0], 0.0))
            z = rng.standard_normal((2, reps))
            chi = 2.0 * rng.standard_gamma(df / 2.0)
            h = c[0] * root + sd_b * z[1]
            out["ybar"][arm] = mv + mo.mean_pct[arm]
            out["syy"][arm] = svv
            out["bbar"][arm] = c[0] * mv + sd_b * z[0] / np.sqrt(safe)
            out["sbb"][arm] = np.where(two, h * h + cond[0, 0] * chi, 0.0)
            out["sby"][arm] = np.where(two, h * root, 0.0)
        else:
            lc = np.linalg.cholesky(cond)  # (B0, Y12) given Y6
            z = rng.standard_normal((5, reps))
            t11 = np.sqrt(2.0 * rng.standard_gamma(df / 2.0))
            t22 = np.sqrt(2.0 * rng.standard_gamma(np.maximum(df - 1.0, 0.0) / 2.0))
            t21 = z[4] * (df >= 1)
            w1 = lc @ z[0:2]
            w2 = lc @ z[2:4]
            hb = c[0] * root + w2[0]
            hy = c[1] * root + w2[1]
            # Bartlett: Wishart(df, cond) = (L T)(L T)' with T = [[t11, 0], [t21, t22]]
            lb = lc[0, 0] * t11
            ly = lc[1, 0] * t11 + lc[1, 1] * t21
            lz = lc[1, 1] * t22
            out["bbar"][arm] = c[0] * mv + w1[0] / np.sqrt(safe)
            out["ybar"][arm] = mo.mean_pct[arm] + c[1] * mv + w1[1] / np.sqrt(safe)
            out["sbb"][arm] = np.where(two, hb * hb + lb * lb, 0.0)
            out["sby"][arm] = np.where(two, hb * hy + lb * ly, 0.0)
            out["syy"][arm] = np.where(two, hy * hy + ly * ly + lz * lz, 0.0)
    return ArmStats(**out, size=size.astype(float))


# --------------------------------------------------------------------------- results per replicate


@dataclass
class Replicates:
    """One method's results for every replicate of a block (arrays of shape ``(reps,)``).

    Attributes mirror :class:`vtrial.analysis.result.AnalysisResult`: estimate
    and se (percentage points or g/cm2), p_value, df, n_placebo,
    n_anastrozole. A replicate whose fit failed has NaN estimate. For t-based
    methods the CI is ``estimate -/+ t_{df, 1 - alpha/2} se``, computed on
    demand (:attr:`ci_low`, :attr:`ci_high`); coverage is then decided by the
    equivalent test of the true value (:meth:`covers`), which avoids a t
    quantile per replicate when only the power table is needed.
    """

    estimate: np.ndarray
    se: np.ndarray
    p_value: np.ndarray
    df: np.ndarray
    n_placebo: np.ndarray
    n_anastrozole: np.ndarray
    alpha: float
    lo: np.ndarray | None = None
    hi: np.ndarray | None = None

    def _ci(self) -> None:
        if self.lo is None:
            with np.errstate(invalid="ignore"):
                crit = _t_quantile(self.df, 1.0 - self.alpha / 2.0)
            self.lo = self.estimate - crit * self.se
            self.hi = self.estimate + crit * self.se

    @property
    def ci_low(self) -> np.ndarray:
        """Lower confidence limit per replicate."""
        self._ci()
        return self.lo

    @property
    def ci_high(self) -> np.ndarray:
        """Upper confidence limit per replicate."""
        self._ci()
        return self.hi

    def covers(self, value: float) -> np.ndarray:
        """Boolean per replicate: the CI contains ``value`` (False where the fit failed)."""
        if self.lo is not None:
            return (self.lo <= value) & (value <= self.hi)
        finite = self.df[np.isfinite(self.df)]
        if finite.size and np.all(finite == np.round(finite)):
            # few distinct integer df: one t quantile each
            self._ci()
            return (self.lo <= value) & (value <= self.hi)
        with np.errstate(invalid="ignore"):
            t = np.abs(self.estimate - value) / self.se
            return 2.0 * special.stdtr(self.df, -t) >= self.alpha


def _t_quantile(df: np.ndarray, q: float) -> np.ndarray:
    """``stdtrit(df, q)``, computed once per distinct df when df are few (integers)."""
    if df.size > 64:
        finite = df[np.isfinite(df)]
        if finite.size and np.all(finite == np.round(finite)):
            vals, inv = np.unique(df, return_inverse=True)
            if len(vals) * 8 < df.size:
                return special.stdtrit(vals, q)[inv.reshape(df.shape)]
    return special.stdtrit(df, q)


def _t_results(est, se, df, stats: ArmStats, alpha, ok) -> Replicates:
    if np.all(ok):
        n = stats.n
    else:
        n = np.where(ok, stats.n, stats.size)
        est = np.where(ok, est, np.nan)
        se = np.where(ok, se, np.nan)
        df = np.where(ok, df, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        t = est / se
        p = 2.0 * special.stdtr(df, -np.abs(t))
    return Replicates(est, se, p, df, n[0], n[1], alpha)


def t_methods(stats: ArmStats, method: str, alpha: float) -> Replicates:
    """Student, Welch or ANCOVA results for every replicate from per-arm sums.

    Parameters
    ----------
    stats : ArmStats
        Per-arm sufficient statistics.
    method : {"student_t", "welch_t", "ancova"}
    alpha : float
        Two-sided significance level.

    Returns
    -------
    Replicates
        Same formulas as :mod:`vtrial.analysis.ttests` and the OLS ANCOVA
        ``y ~ 1 + arm + bmd0``: the adjusted effect is
        ``(ybar1 - ybar0) - beta (bbar1 - bbar0)`` with ``beta = Sby / Sbb``
        pooled within arms, residual variance ``(Syy - Sby^2 / Sbb) / (N - 3)``
        and variance factor ``1/n0 + 1/n1 + (bbar1 - bbar0)^2 / Sbb``.
    """
    n0, n1 = stats.n
    diff = stats.ybar[1] - stats.ybar[0]
    ok = (n0 >= 2) & (n1 >= 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        if method == "student_t":
            df = n0 + n1 - 2.0
            pooled = (stats.syy[0] + stats.syy[1]) / df
            se = np.sqrt(pooled * (1.0 / n1 + 1.0 / n0))
            return _t_results(diff, se, df, stats, alpha, ok & (se > 0))
        if method == "welch_t":
            va = stats.syy[1] / (n1 - 1.0) / n1
            vp = stats.syy[0] / (n0 - 1.0) / n0
            se2 = va + vp
            df = se2**2 / (va**2 / (n1 - 1.0) + vp**2 / (n0 - 1.0))
            return _t_results(diff, np.sqrt(se2), df, stats, alpha, ok & (se2 > 0))
        if method == "ancova":
            sbb = stats.sbb[0] + stats.sbb[1]
            sby = stats.sby[0] + stats.sby[1]
            syy = stats.syy[0] + stats.syy[1]
            beta = sby / sbb
            db = stats.bbar[1] - stats.bbar[0]
            est = diff - beta * db
            df = n0 + n1 - 3.0
            sigma2 = (syy - sby * beta) / df
            se = np.sqrt(sigma2 * (1.0 / n0 + 1.0 / n1 + db * db / sbb))
            ok = (n0 >= 2) & (n1 >= 2) & (df >= 1) & (sbb > 0) & (se > 0)
            return _t_results(est, se, df, stats, alpha, ok)
    raise ValueError(f"not a t method: {method}")


# --------------------------------------------------------------------------- Mann-Whitney


def mann_whitney_vec(
    block: Block, missing: str, scale: str, alpha: float, p_only: bool = False
) -> Replicates:
    """Wilcoxon rank-sum test with Hodges-Lehmann shift and CI for every replicate.

    Reproduces R ``wilcox.test(x, y, conf.int = TRUE)`` (x anastrozole, y
    placebo; :func:`vtrial.analysis.nonparametric.hodges_lehmann`) branch for
    branch, with the replicates as arrays:

    * exact branch (both arms under 50 men, no ties): p-value from the exact
      null distribution of W, estimate the median of the ``nx ny`` pairwise
      differences and CI their order statistics at ``qwilcox(alpha / 2)``;
    * normal branch (ties, or 50 or more men in an arm): tie-corrected normal
      approximation with continuity correction for the p-value; estimate and
      CI ends are roots of the standardized statistic as a function of the
      shift, found by Brent's zeroin (R's ``R_zeroin2``, ``tol = 1e-4``) run in
      lockstep on all replicates, so they agree with R to rounding.

    With ``p_only`` only the p-values are computed (estimate and CI are NaN):
    a sample-size or MDE search needs nothing else, and the Hodges-Lehmann
    root finding, which costs of order ``nx ny`` per step, dominates at large n.

    W at a shift ``d`` is computed from all pairs, ``#(x_i - d > y_j) + #(x_i -
    d == y_j) / 2``, in the same floating-point operations as the ranks of
    ``(x - d, y)``; the tie term adds ``3 (t_x + t_y)`` for every tied pair
    across the arms. Pairwise arrays are ``(reps, nx, ny)``, processed in
    groups of replicates to bound memory.
    """
    xs, ys = [], []
    for a, out in ((1, xs), (0, ys)):
        y, w = outcome_from_bmd(block, a, missing, scale)
        out.append(np.where(w, y, np.nan).T.copy())
    x, y = xs[0], ys[0]  # (reps, n_max) with NaN padding
    reps = block.reps
    pairs = max(1, x.shape[1] * y.shape[1])
    group = reps if p_only else max(1, min(reps, 3_000_000 // pairs))
    cols = ("estimate", "p_value", "ci_low", "ci_high", "nx", "ny")
    res = {k: np.empty(reps) for k in cols}
    for g0 in range(0, reps, group):
        part = _mw_group(x[g0 : g0 + group], y[g0 : g0 + group], alpha, p_only)
        for k in cols:
            res[k][g0 : g0 + group] = part[k]
    nan = np.full(reps, np.nan)
    return Replicates(
        res["estimate"], nan, res["p_value"], nan.copy(), res["ny"], res["nx"], alpha,
        res["ci_low"], res["ci_high"],
    )  # fmt: skip


def _tie_counts(v: np.ndarray) -> np.ndarray:
    """Per element, how many values of its row equal it (NaN rows entries: 0)."""
    from scipy.stats import rankdata

    filled = np.where(np.isnan(v), np.inf, v)
    t = rankdata(filled, method="max", axis=1) - rankdata(filled, method="min", axis=1) + 1.0
    return np.where(np.isnan(v), 0.0, t)


@lru_cache(maxsize=512)
def _wilcox_law(m: int, n: int, alpha: float) -> tuple[np.ndarray, int]:
    """Cumulative exact null law of W (``P(W <= q)``) and R's ``qwilcox(alpha / 2)``."""
    from vtrial.analysis.nonparametric import wilcox_counts

    counts = wilcox_counts(m, n)
    total = math.comb(m + n, n)
    if counts.dtype == object:
        prob = np.array([float(c) / total for c in counts])
    else:
        prob = counts / float(total)
    eps = np.finfo(float).eps
    x = alpha / 2
    acc, q = 0.0, 0
    if x <= 0.5:
        x = x - 10 * eps
        while True:
            acc += prob[q]
            if acc >= x:
                break
            q += 1
    else:  # pragma: no cover - alpha < 1 always gives x <= 0.5
        raise ValueError(alpha)
    return prob, q


def _mw_group(x: np.ndarray, y: np.ndarray, alpha: float, p_only: bool = False) -> dict:
    from scipy.stats import norm

    reps = x.shape[0]
    nx = np.count_nonzero(~np.isnan(x), axis=1).astype(float)
    ny = np.count_nonzero(~np.isnan(y), axis=1).astype(float)
    out = {k: np.full(reps, np.nan) for k in ("estimate", "p_value", "ci_low", "ci_high")}
    out["nx"], out["ny"] = nx, ny
    big_n = nx + ny
    mn = nx * ny
    if not p_only:  # pairwise terms for the root finding of the estimate and CI
        tx, ty = _tie_counts(x), _tie_counts(y)
        weight = 3.0 * (tx[:, :, None] + ty[:, None, :])
        base_ties = (tx * tx - 1.0).clip(min=0).sum(1) + (ty * ty - 1.0).clip(min=0).sum(1)

    def w_stat(d: np.ndarray, idx: np.ndarray):
        """(dz, sigma) at shift d for replicates idx, as the ranks of (x - d, y) give."""
        xd = x[idx] - d[:, None]
        lhs = xd[:, :, None]
        rhs = y[idx][:, None, :]
        gt = np.count_nonzero(lhs > rhs, axis=(1, 2))
        eq = lhs == rhs
        n_eq = np.count_nonzero(eq, axis=(1, 2))
        ties = base_ties[idx].copy()
        if n_eq.any():
            ties += np.where(eq, weight[idx], 0.0).sum((1, 2))
        dz = gt + 0.5 * n_eq - mn[idx] / 2.0
        nn = big_n[idx]
        sigma = np.sqrt(mn[idx] / 12.0 * ((nn + 1.0) - ties / (nn * (nn - 1.0))))
        return dz, sigma

    ok = (nx >= 2) & (ny >= 2)
    all_idx = np.flatnonzero(ok)
    if not len(all_idx):
        return out
    dz0, sigma0, ties0 = _rank_sum_at_zero(x[all_idx], y[all_idx])
    ties_any = np.zeros(reps, dtype=bool)
    ties_any[all_idx] = ties0 > 0  # any tie within or across the arms
    exact = ok & (nx < 50) & (ny < 50) & ~ties_any
    # --- exact branch
    stat = np.full(reps, np.nan)
    stat[all_idx] = dz0 + mn[all_idx] / 2.0
    diffs = None
    if exact.any():
        ex = np.flatnonzero(exact)
        if not p_only:
            diffs = np.sort((x[ex][:, :, None] - y[ex][:, None, :]).reshape(len(ex), -1), axis=1)
        for (m_, n_), rows in _group_pairs(nx[ex], ny[ex]):
            prob, qu = _wilcox_law(m_, n_, float(alpha))
            cum = np.cumsum(prob)
            r = ex[rows]
            w = stat[r]
            mnv = m_ * n_
            q_lo = np.floor(w + 1e-7).astype(np.int64)
            cdf = np.where(q_lo < 0, 0.0, np.where(q_lo >= mnv, 1.0, cum[np.clip(q_lo, 0, mnv)]))
            q_hi = np.floor(w - 1 + 1e-7).astype(np.int64)
            sf = np.where(q_hi < 0, 1.0, np.where(q_hi >= mnv, 0.0, 1.0 - cum[np.clip(q_hi, 0, mnv)]))
            # P(W > q) summed from the upper tail for accuracy, as R does
            tail = np.concatenate([np.cumsum(prob[::-1])[::-1], [0.0]])
            sf = np.where((q_hi >= 0) & (q_hi < mnv), tail[np.clip(q_hi + 1, 0, mnv)], sf)
            p = np.where(w > mnv / 2.0, sf, cdf)
            out["p_value"][r] = np.minimum(2.0 * p, 1.0)
            if p_only:
                continue
            dd = diffs[rows]
            k = max(qu, 1)
            out["ci_low"][r] = dd[:, k - 1]
            out["ci_high"][r] = dd[:, mnv - k]
            out["estimate"][r] = np.median(dd[:, :mnv], axis=1)
    # --- normal branch
    normal = ok & ~exact
    if normal.any():
        nr = np.flatnonzero(normal)
        pos = np.searchsorted(all_idx, nr)
        z = dz0[pos]
        sigma = sigma0[pos]
        fine = sigma > 0
        with np.errstate(invalid="ignore", divide="ignore"):
            zc = (z - np.sign(z) * 0.5) / sigma
            p = 2.0 * np.minimum(special.ndtr(zc), special.ndtr(-zc))
        out["p_value"][nr] = np.where(fine, p, np.nan)
        nr = nr[fine]
        if len(nr) and not p_only:
            mumin = np.nanmin(x[nr], 1) - np.nanmax(y[nr], 1)
            mumax = np.nanmax(x[nr], 1) - np.nanmin(y[nr], 1)

            def f_of(correct: bool, zq: float):
                def f(d, idx):
                    dz, s = w_stat(d, idx)
                    corr = np.sign(dz) * 0.5 if correct else 0.0
                    return (dz - corr) / s - zq

                return f

            for key, zq, correct in (
                ("ci_low", norm.isf(alpha / 2), True),
                ("ci_high", norm.ppf(alpha / 2), True),
                ("estimate", 0.0, False),
            ):
                f = f_of(correct, zq)
                fa = f(mumin, nr)
                fb = f(mumax, nr)
                root = _zeroin_lockstep(f, nr, mumin.copy(), mumax.copy(), fa.copy(), fb.copy(), 1e-4)
                if correct:
                    root = np.where(fa <= 0, mumin, np.where(fb >= 0, mumax, root))
                out[key][nr] = root
    return out


def _rank_sum_at_zero(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(W - nx ny / 2, sigma, tie term)`` at shift 0 from ranks of the pooled sample.

    Equal, to the last bit, to the pairwise count ``#(x > y) + #(x == y) / 2``
    (half-integers are exact in floating point) at ``O(N log N)`` instead of
    ``O(nx ny)`` per replicate. The tie term is ``sum(t^3 - t)`` over groups of
    equal values in the pooled sample. NaN pads rows of unequal arm sizes.
    """
    from scipy.stats import rankdata

    pooled = np.concatenate([x, y], axis=1)
    pad = np.isnan(pooled)
    filled = np.where(pad, np.inf, pooled)
    rank = rankdata(filled, method="average", axis=1)
    t = _tie_counts(pooled)  # 0 on padding
    ties = np.where(pad, 0.0, t * t - 1.0).sum(axis=1)
    nx = np.count_nonzero(~np.isnan(x), axis=1).astype(float)
    ny = np.count_nonzero(~np.isnan(y), axis=1).astype(float)
    w = np.where(pad[:, : x.shape[1]], 0.0, rank[:, : x.shape[1]]).sum(axis=1) - nx * (nx + 1.0) / 2.0
    mn, nn = nx * ny, nx + ny
    sigma = np.sqrt(mn / 12.0 * ((nn + 1.0) - ties / (nn * (nn - 1.0))))
    return w - mn / 2.0, sigma, ties


def _group_pairs(nx: np.ndarray, ny: np.ndarray):
    keys = nx.astype(np.int64) * 1_000_003 + ny.astype(np.int64)
    for key in np.unique(keys):
        rows = np.flatnonzero(keys == key)
        yield (int(nx[rows[0]]), int(ny[rows[0]])), rows


def _zeroin_lockstep(f, idx, a, b, fa, fb, tol, maxit: int = 1000):
    """R's ``R_zeroin2`` (Brent) on many independent problems at once.

    ``f(points, idx_subset)`` evaluates the functions of the problems
    ``idx_subset`` at ``points``. Every problem follows exactly the steps the
    scalar algorithm would take.
    """
    eps = np.finfo(float).eps
    n = len(idx)
    c, fc = a.copy(), fa.copy()
    result = np.full(n, np.nan)
    done = np.zeros(n, dtype=bool)
    z = fa == 0.0
    result[z], done[z] = a[z], True
    z = ~done & (fb == 0.0)
    result[z], done[z] = b[z], True
    for _ in range(maxit + 1):
        act = np.flatnonzero(~done)
        if not len(act):
            break
        A, B, C = a[act], b[act], c[act]
        FA, FB, FC = fa[act], fb[act], fc[act]
        prev = B - A
        swap = np.abs(FC) < np.abs(FB)
        A, B, C = np.where(swap, B, A), np.where(swap, C, B), np.where(swap, B, C)
        FA, FB, FC = np.where(swap, FB, FA), np.where(swap, FC, FB), np.where(swap, FB, FC)
        tol_act = 2 * eps * np.abs(B) + tol / 2
        new = (C - B) / 2
        fin = (np.abs(new) <= tol_act) | (FB == 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            interp = (np.abs(prev) >= tol_act) & (np.abs(FA) > np.abs(FB))
            cb = C - B
            sec = A == C
            t1s = FB / FA
            ps = cb * t1s
            qs = 1.0 - t1s
            q_ = FA / FC
            t1 = FB / FC
            t2 = FB / FA
            pi = t2 * (cb * q_ * (q_ - t1) - (B - A) * (t1 - 1.0))
            qi = (q_ - 1.0) * (t1 - 1.0) * (t2 - 1.0)
            P = np.where(sec, ps, pi)
            Q = np.where(sec, qs, qi)
            Q = np.where(P > 0, -Q, Q)
            P = np.where(P > 0, P, -P)
            take = interp & (P < (0.75 * cb * Q - np.abs(tol_act * Q) / 2)) & (P < np.abs(prev * Q / 2))
            new = np.where(take, P / Q, new)
        new = np.where(np.abs(new) < tol_act, np.where(new > 0, tol_act, -tol_act), new)
        # finished problems keep B as the root
        fin_idx = act[fin]
        result[fin_idx] = B[fin]
        done[fin_idx] = True
        go = ~fin
        act, A, B, C, FA, FB, FC, new = (v[go] for v in (act, A, B, C, FA, FB, FC, new))
        if not len(act):
            break
        A, FA = B, FB
        B = B + new
        FB = f(B, idx[act])
        same = ((FB > 0) & (FC > 0)) | ((FB < 0) & (FC < 0))
        C = np.where(same, A, C)
        FC = np.where(same, FA, FC)
        a[act], b[act], c[act] = A, B, C
        fa[act], fb[act], fc[act] = FA, FB, FC
    left = ~done
    result[left] = b[left]
    return result


# --------------------------------------------------------------------------- MMRM


def mmrm_vec(block: Block, scale: str, alpha: float) -> Replicates:
    """REML MMRM (months 6 and 12, unstructured 2x2 covariance) for every replicate.

    Same model, estimate, SE and Satterthwaite df as
    :func:`vtrial.analysis.mmrm.mmrm` (visit-specific intercept, arm and
    baseline-BMD effects; all observed visits; MAR). With monotone dropout
    (a man seen at month 12 was seen at month 6, as the generator makes it)
    the REML criterion factorises (Little and Rubin, factored likelihood):
    reparametrize ``Sigma`` by ``s11``, ``g = s12 / s11`` and
    ``t2 = s22 - s12^2 / s11``, and the fixed effects of month 12 by
    ``d = b12 - g b6``; integrating the fixed effects out (Jacobian 1), the
    restricted likelihood is the product of

    * the REML of the OLS of Y6 on ``[1, arm, bmd0]`` over the men seen at
      month 6: ``s11 = RSS6 / (n6 - 3)``;
    * for completers, the likelihood of ``Y12 - g Y6`` given ``[1, arm,
      bmd0]`` with ``d`` integrated out: ``g`` is the Y6 coefficient of the
      OLS of Y12 on ``[1, arm, bmd0, Y6]`` and ``t2 = RSS / (nc - 3)``.

    So the REML estimate is in closed form; the GLS month-12 arm effect is
    ``d_arm + g b6_arm`` with variance ``t2 a + g^2 s11 b`` (``a``, ``b`` the
    arm entries of ``(X'X)^-1`` for completers and for men seen at month 6).
    The observed REML information is diagonal in ``(s11, g, t2)``:
    ``(n6 - 3) / (2 s11^2)``, ``S / t2`` (``S``: residual sum of squares of Y6
    on ``[1, arm, bmd0]`` among completers) and ``(nc - 3) / (2 t2^2)``; the
    Satterthwaite df ``2 v^2 / (g' A g)`` is invariant to the
    reparametrization at the optimum. Without dropout it equals ``n - 3``.
    The Fisher-scoring iterations of the general case are unnecessary here.
    """
    reps = block.reps
    y6s, y12s, b0s, seen, comp = [], [], [], [], []
    for a in (0, 1):
        b0 = block.b0(a)

        def change(pct, b0=b0):
            bt = b0 * (1 + pct / 100)
            return 100.0 * (bt - b0) / b0 if scale == "pct" else bt - b0

        y6s.append(change(block.y6(a)))
        y12s.append(change(block.y12(a)))
        b0s.append(block.db[a])
        comp.append(block.complete[a])
        seen.append(block.seen6[a] | block.complete[a])
    n_seen = np.stack([s.sum(0) for s in seen]).astype(float)
    n_comp = np.stack([c.sum(0) for c in comp]).astype(float)
    # Stage 1: Y6 on [1, arm, bmd0] over men seen at month 6.
    m1, w1 = _pooled_sscp([b0s, y6s], seen)
    # Stage 2: Y12 on [1, arm, bmd0, Y6] over completers.
    m2, w2 = _pooled_sscp([b0s, y6s, y12s], comp)
    with np.errstate(invalid="ignore", divide="ignore"):
        n6 = n_seen.sum(0)
        nc = n_comp.sum(0)
        db1 = m1[0, 1] - m1[0, 0]
        beta_b = w1[0, 1] / w1[0, 0]
        b6_arm = (m1[1, 1] - m1[1, 0]) - beta_b * db1
        rss6 = w1[1, 1] - w1[0, 1] * beta_b
        s11 = rss6 / (n6 - 3.0)
        bfac = 1.0 / n_seen[0] + 1.0 / n_seen[1] + db1 * db1 / w1[0, 0]
        det = w2[0, 0] * w2[1, 1] - w2[0, 1] ** 2
        cb = (w2[1, 1] * w2[0, 2] - w2[0, 1] * w2[1, 2]) / det
        g = (w2[0, 0] * w2[1, 2] - w2[0, 1] * w2[0, 2]) / det
        rss = w2[2, 2] - cb * w2[0, 2] - g * w2[1, 2]
        t2 = rss / (nc - 3.0)
        dbc = m2[0, 1] - m2[0, 0]
        d6c = m2[1, 1] - m2[1, 0]
        d_arm = (m2[2, 1] - m2[2, 0]) - cb * dbc - g * d6c
        afac = 1.0 / n_comp[0] + 1.0 / n_comp[1] + dbc * dbc / w2[0, 0]
        s_res = w2[1, 1] - w2[0, 1] ** 2 / w2[0, 0]
        est = d_arm + g * b6_arm
        v = t2 * afac + g * g * s11 * bfac
        denom = (
            (g**4) * bfac**2 * 2 * s11**2 / (n6 - 3.0)
            + (2 * g * s11 * bfac) ** 2 * t2 / s_res
            + afac**2 * 2 * t2**2 / (nc - 3.0)
        )
        df = 2 * v * v / denom
        ok = (
            (n_seen.min(0) >= 2)
            & (nc >= 4)
            & (n6 >= 4)
            & (n_comp.min(0) >= 1)
            & (s11 > 0)
            & (t2 > 0)
            & (s_res > 0)
        )
    stats_like = ArmStats(n_seen, *(np.zeros((2, reps)),) * 5, size=n_seen)
    return _t_results(est, np.sqrt(v), df, stats_like, alpha, ok)


def _pooled_sscp(values: list, masks: list) -> tuple[np.ndarray, np.ndarray]:
    """Per-arm means ``(k, 2, reps)`` and pooled within-arm SSCP ``(k, k, reps)``."""
    k = len(values)
    reps = masks[0].shape[1]
    means = np.zeros((k, 2, reps))
    sscp = np.zeros((k, k, reps))
    for a in (0, 1):
        w = masks[a]
        n = np.maximum(np.count_nonzero(w, axis=0), 1)
        cen = []
        for j in range(k):
            x = np.where(w, values[j][a], 0.0)
            mu = x.sum(0) / n
            means[j, a] = mu
            cen.append(np.where(w, values[j][a] - mu, 0.0))
        for i in range(k):
            for j in range(i, k):
                s = np.einsum("ij,ij->j", cen[i], cen[j])
                sscp[i, j] += s
                if i != j:
                    sscp[j, i] += s
    return means, sscp


# --------------------------------------------------------------------------- engine choice


def analysis_options(cfg: dict) -> dict:
    """The analysis settings the engine reads (alpha, missing, scale, covariates...)."""
    a = cfg["analysis"]
    return {
        "alpha": float(a["alpha"]),
        "missing": a["missing"],
        "scale": a["scale"],
        "covariates": tuple(a.get("covariates") or ()),
        "robust_se": bool(a.get("robust_se", False)),
    }


def exact_valid(cfg: dict, method: str) -> tuple[bool, str]:
    """Whether the exact shortcut is valid for ``method`` under ``cfg``, and why not.

    Examples
    --------
    >>> from vtrial.config import load_config
    >>> exact_valid(load_config(), "ancova")
    (True, '')
    >>> exact_valid(load_config(overrides=["dropout.mechanism=MNAR"]), "ancova")[0]
    False
    """
    opt = analysis_options(cfg)
    d = cfg["dropout"]
    reasons = []
    if cfg["simulation"].get("exact_shortcut", "auto") != "auto":
        reasons.append("simulation.exact_shortcut is 'never'")
    if method not in EXACT_METHODS:
        reasons.append(f"{method} is not a function of means and sums of squares")
    if cfg["effects"]["mode"] != "direct":
        reasons.append("estradiol-mediated effects are not normal")
    if d["mechanism"] != "MCAR" and d["strength"] > 0 and (d["anastrozole"] > 0 or d["placebo"] > 0):
        reasons.append(f"{d['mechanism']} dropout depends on the data")
    if cfg["trial"]["randomization"] == "stratified_blocks":
        reasons.append("stratified randomization balances arms on a baseline variable")
    if opt["missing"] != "complete_case":
        reasons.append(f"missing strategy {opt['missing']} is not normal")
    if opt["scale"] != "pct":
        reasons.append("absolute change (g/cm2) is not normal")
    if method == "ancova" and (opt["covariates"] or opt["robust_se"]):
        reasons.append("ANCOVA with extra covariates or robust SEs")
    return (not reasons, "; ".join(reasons))


def per_man_valid(cfg: dict) -> bool:
    """Whether the fast per-man sampler reproduces the model (else ``full``)."""
    opt = analysis_options(cfg)
    return (
        cfg["effects"]["mode"] == "direct"
        and cfg["trial"]["randomization"] != "stratified_blocks"
        and not opt["covariates"]
    )


def per_man_y_valid(cfg: dict, method: str) -> bool:
    """Whether ``method`` can use :func:`per_man_y_stats` (per-man outcome, drawn baseline sums).

    Direct mode without stratification (as the per-man sampler), complete-case
    analysis on the % scale, ``student_t``, ``welch_t`` or ``ancova`` without
    covariates or robust SEs, and ``simulation.exact_shortcut: auto``. Any
    dropout mechanism.

    Examples
    --------
    >>> from vtrial.config import load_config
    >>> per_man_y_valid(load_config(overrides=["dropout.mechanism=MNAR"]), "ancova")
    True
    >>> per_man_y_valid(load_config(overrides=["analysis.missing=locf"]), "ancova")
    False
    """
    opt = analysis_options(cfg)
    return (
        cfg["simulation"].get("exact_shortcut", "auto") == "auto"
        and per_man_valid(cfg)
        and method in EXACT_METHODS
        and opt["missing"] == "complete_case"
        and opt["scale"] == "pct"
        and not opt["robust_se"]
    )


def method_engine(cfg: dict, method: str, methods=None) -> str:
    """Which engine computes ``method``: ``exact``, ``per_man_y``, ``per_man``, ``full`` or ``reference``.

    ``reference`` means data from the per-man (or full) simulator analysed one
    replicate at a time by the reference implementation. ``per_man_y``
    (:func:`per_man_y_stats`) is used when every method simulated with it in
    the block (``methods``, default ``[method]``) can use it; a method that
    needs individual baseline values (Mann-Whitney, MMRM, a reference method)
    puts the whole block on ``per_man``.

    Examples
    --------
    >>> from vtrial.config import load_config
    >>> cfg = load_config(overrides=["dropout.mechanism=MNAR"])
    >>> method_engine(cfg, "ancova"), method_engine(cfg, "ancova", ["ancova", "mmrm"])
    ('per_man_y', 'per_man')
    """
    opt = analysis_options(cfg)
    if exact_valid(cfg, method)[0]:
        return "exact"
    vectorised = method in VECTORISED and opt["missing"] in VECTORISED_MISSING
    if method == "mmrm" and opt["missing"] != "complete_case":
        vectorised = False
    if method == "ancova" and (opt["covariates"] or opt["robust_se"]):
        vectorised = False
    if not vectorised:
        return "reference"
    if not per_man_valid(cfg):
        return "full"
    group = [method] if methods is None else list(methods)
    if per_man_y_valid(cfg, method) and all(per_man_y_valid(cfg, m) or exact_valid(cfg, m)[0] for m in group):
        return "per_man_y"
    return "per_man"


# --------------------------------------------------------------------------- running blocks


def reference_replicates(block: Block, cfg: dict, method: str, ss: np.random.SeedSequence) -> Replicates:
    """Analyse each replicate of a block with the reference implementation (slow path)."""
    from vtrial.analysis import METHODS
    from vtrial.config import method_options

    fn = METHODS[method][0]
    opts = method_options(cfg, [method])[method]
    opt = analysis_options(cfg)
    ta = block.arrays if block.arrays is not None else block_to_arrays(block)
    rng = _child(ss, _S_REFERENCE)
    rows = np.full((block.reps, 8), np.nan)
    alpha = opt["alpha"]
    for r in range(block.reps):
        try:
            res = fn(
                trial_mod.to_long(ta, r),
                missing=opt["missing"],
                alpha=opt["alpha"],
                scale=opt["scale"],
                rng=rng,
                **opts,
            )
        except InputError:  # e.g. nobody reached month 12: not analysable
            continue
        except Exception:  # noqa: BLE001 - as run_methods: a failed fit is NaN, not a crash
            continue
        rows[r] = [res.estimate, res.se, res.ci_low, res.ci_high, res.p_value, res.df,
                   res.n_placebo, res.n_anastrozole]  # fmt: skip
    est, se, lo, hi, p, df, n0, n1 = rows.T
    return Replicates(est, se, p, df, n0, n1, alpha, lo, hi)


def needs_y6(cfg: dict, methods) -> bool:
    """Whether any method needs the month-6 change."""
    missing = cfg["analysis"]["missing"]
    engines = [method_engine(cfg, m) for m in methods]
    return (
        missing != "complete_case"
        or any(m == "mmrm" for m in methods)
        or any(e == "reference" for e in engines)
    )


def run_block(
    cfg: dict, scenario: str, index: int, reps: int, methods, p_only: bool = False
) -> dict[str, Replicates]:
    """Simulate and analyse block ``index`` (``reps`` replicates) of a scenario.

    Parameters
    ----------
    cfg : dict
        Validated config of one scenario.
    scenario : str
        Scenario id keying the random streams.
    index : int
        Block index.
    reps : int
        Replicates in this block (:data:`BLOCK` except perhaps the last).
    methods : sequence of str
        Analysis methods.
    p_only : bool
        Only the p-values are needed (a sample-size or MDE search): methods
        whose estimate and CI cost more than their test may skip them.

    Returns
    -------
    dict
        Method name -> :class:`Replicates`.
    """
    ss = seed_sequence(cfg["seed"], scenario, index)
    opt = analysis_options(cfg)
    engines = {m: method_engine(cfg, m, methods) for m in methods}
    out: dict[str, Replicates] = {}
    for kind, draw in (("exact", exact_arm_stats), ("per_man_y", per_man_y_stats)):
        if any(e == kind for e in engines.values()):
            st = draw(cfg, reps, ss)
            for m, e in engines.items():
                if e == kind:
                    out[m] = t_methods(st, m, opt["alpha"])
    rest = [m for m in methods if engines[m] not in ("exact", "per_man_y")]
    if not rest:
        return out
    if per_man_valid(cfg):
        block = per_man_block(cfg, reps, ss, need_y6=needs_y6(cfg, rest))
    else:
        block = full_block(cfg, reps, ss, covariates=full_needs_covariates(cfg))
    stats = None
    for m in rest:
        if engines[m] == "reference":
            out[m] = reference_replicates(block, cfg, m, ss)
        elif m in EXACT_METHODS:
            if stats is None:
                stats = arm_stats(block, opt["missing"], opt["scale"])
            out[m] = t_methods(stats, m, opt["alpha"])
        elif m == "mann_whitney":
            out[m] = mann_whitney_vec(block, opt["missing"], opt["scale"], opt["alpha"], p_only)
        elif m == "mmrm":
            out[m] = mmrm_vec(block, opt["scale"], opt["alpha"])
    return out


def full_needs_covariates(cfg: dict) -> bool:
    """Whether the ``full`` simulator must draw age, BMI and hormones."""
    t = cfg["trial"]
    return (
        bool(cfg["analysis"].get("covariates"))
        or cfg["effects"]["mode"] != "direct"
        or (t["randomization"] == "stratified_blocks" and t["strata_variable"] != "bmd_g_cm2")
    )


def moments_shift(cfg: dict) -> float:
    """Population mean baseline BMD (g/cm2), subtracted before summing for precision."""
    return float(cfg["cohort"]["bmd_mean_g_cm2"])


def config_json(cfg: dict) -> str:
    """Canonical JSON of a config (what worker processes receive)."""
    return json.dumps(cfg, sort_keys=True)
