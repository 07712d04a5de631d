"""Samplers of the power engine: blocks of replicate trials drawn as arrays.

A *block* is :data:`vtrial.engine.BLOCK` replicate trials drawn from one
:class:`numpy.random.SeedSequence`; each quantity has its own named child
stream (:class:`vtrial.streams.Stream`). Four samplers, from the fastest:

``exact`` (:func:`exact_draws`, :func:`exact_stats`)
    Draws, per replicate, what Student, Welch and ANCOVA read of the men
    analysed: the differences of the arm means of (measured baseline BMD,
    observed 12-month % change) from their normal distribution, the pooled
    within-arm sums of squares and cross-products from their Wishart
    distribution (Bartlett decomposition, singular with two completers) and,
    for Welch, each arm's share of the outcome sum of squares (a Beta). Its
    cost does not depend on the sample size. Valid when the outcome is exactly normal given arm
    (direct mode), dropout does not depend on the data (the completers are then
    an i.i.d. sample of the same normal, their number binomial given the arm
    size), arm sizes do not depend on the men (``simple`` or
    ``permuted_blocks``), the analysis is complete-case on the % scale and the
    method is a function of means and sums of squares
    (:func:`vtrial.engine.exact_valid`).

``per_man_y`` (:func:`per_man_y_stats`)
    For complete-case t-tests and ANCOVA on the % scale under *any* dropout
    mechanism: draws per man only the variable dropout depends on (the
    12-month change under MNAR and MCAR, the 6-month change under MAR) and the
    dropout uniform, then the completers' remaining sums from their exact
    conditional normal / chi-square / Wishart law given the drawn values. One
    normal per man instead of two (three under MAR). Under MCAR and MNAR the
    12-month changes and completers are exactly those of ``per_man`` from the
    same streams, so Welch and Student results are the same whichever of the
    two simulates the block.

``per_man`` (:func:`per_man_block`)
    Draws each man's (measured baseline BMD, 12-month change[, 6-month
    change]) from their exact joint normal distribution given arm
    (:func:`vtrial.model.moments`; two or three normals per man, against five
    in :func:`vtrial.trial.simulate_arrays`; the 12-month change first, then
    the baseline given it), then dropout with every mechanism. Valid in direct
    mode without ``stratified_blocks``. Men are drawn man-major and per arm, so
    a trial with one more man per arm contains the smaller trial (common random
    numbers across candidate sample sizes).

``full`` (:func:`full_block`)
    :func:`vtrial.trial.simulate_arrays` itself (estradiol-mediated effects,
    stratified randomization, extra ANCOVA covariates).

Arm sizes follow :func:`arm_size_law`, the exact law of the arm sizes
:func:`vtrial.trial.randomize` produces.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from vtrial import trial as trial_mod
from vtrial.model import cov_for_sd, moments
from vtrial.streams import Stream, child_rng

try:  # the Boost pmfs scipy.stats.binom and .hypergeom call, without importing scipy.stats
    from scipy.special._ufuncs import _binom_pmf, _hypergeom_pmf
except ImportError:  # pragma: no cover - a SciPy that moved them: the public, slower route

    def _binom_pmf(k, n, p):
        from scipy import stats

        return stats.binom.pmf(k, n, p)

    def _hypergeom_pmf(k, marked, drawn, total):
        from scipy import stats

        return stats.hypergeom.pmf(k, total, marked, drawn)

# --------------------------------------------------------------------------- arm sizes


def binom_pmf(k, n, p) -> np.ndarray:
    """Binomial probabilities ``P(K = k)``, ``K ~ Bin(n, p)``: the values of ``scipy.stats.binom.pmf``.

    The same Boost routine ``scipy.stats.binom`` calls, without importing
    :mod:`scipy.stats` (about 1.5 s at start-up, more than all the work of a
    small power run). ``k`` must lie in ``0..n``.

    Examples
    --------
    >>> [round(float(x), 12) for x in binom_pmf(np.arange(3), 2, 0.5)]
    [0.25, 0.5, 0.25]
    """
    return _binom_pmf(np.asarray(k, dtype=float), float(n), float(p))


def hypergeom_pmf(k, total: int, marked: int, drawn: int) -> np.ndarray:
    """Hypergeometric probabilities: ``k`` marked among ``drawn`` of ``total`` with ``marked`` marked.

    The values of ``scipy.stats.hypergeom.pmf(k, total, marked, drawn)`` (same
    Boost routine; 0 outside the support), without importing :mod:`scipy.stats`.

    Examples
    --------
    >>> hypergeom_pmf(np.arange(3), 4, 2, 2).tolist()  # 1/6, 4/6, 1/6
    [0.16666666666666666, 0.6666666666666666, 0.16666666666666666]
    """
    k = np.asarray(k, dtype=float)
    inside = (k >= max(0, drawn - (total - marked))) & (k <= min(marked, drawn))
    pmf = _hypergeom_pmf(
        np.where(inside, k, max(0, drawn - (total - marked))), float(marked), float(drawn), float(total)
    )
    return np.where(inside, pmf, 0.0)


@lru_cache(maxsize=256)
def _arm_size_law(n: int, n_a: int, randomization: str, sizes: tuple[int, ...]) -> np.ndarray:
    share = n_a / n
    if randomization == "simple":
        return binom_pmf(np.arange(n + 1), n, share)
    # Permuted blocks: rows[s] is the law of the anastrozole count after s slots
    # filled by whole blocks; a block cut short by the end of the trial gives a
    # hypergeometric count among its first slots (as trial.randomize does).
    # Each row is kept as (lowest count, probabilities of the counts from there):
    # whole blocks fix the count to a narrow band, so memory and time grow
    # with n, not n^2 (a dense (n + 1)^2 table took 12 GB at 20,000 per arm).
    law = np.zeros(n + 1)
    rows: dict[int, tuple[int, np.ndarray]] = {0: (0, np.array([1.0]))}
    pick = 1.0 / len(sizes)
    while rows:
        s = min(rows)  # rows are filled in order of slots, as a forward recursion needs
        lo, row = rows.pop(s)
        if s == n:
            law[lo : lo + len(row)] += row
            continue
        for b in sizes:
            drug = int(round(b * share))
            if s + b <= n:
                _add_band(rows, s + b, lo + drug, pick * row)
            else:
                k = n - s
                pmf = hypergeom_pmf(np.arange(k + 1), b, drug, k)
                for j, pj in enumerate(pmf):
                    if pj > 0:
                        law[lo + j : lo + j + len(row)] += pick * pj * row
    return law / law.sum()


def _add_band(rows: dict[int, tuple[int, np.ndarray]], s: int, lo: int, values: np.ndarray) -> None:
    """Add ``values`` (counts ``lo, lo + 1, ...``) to the band of row ``s``, widening it if needed."""
    if s not in rows:
        rows[s] = (lo, values.copy())
        return
    lo0, row = rows[s]
    new_lo, new_hi = min(lo0, lo), max(lo0 + len(row), lo + len(values))
    if (new_lo, new_hi) != (lo0, lo0 + len(row)):
        wider = np.zeros(new_hi - new_lo)
        wider[lo0 - new_lo : lo0 - new_lo + len(row)] = row
        lo0, row = new_lo, wider
        rows[s] = (lo0, row)
    row[lo - lo0 : lo - lo0 + len(values)] += values


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


def per_man_block(
    cfg: dict,
    reps: int,
    ss: np.random.SeedSequence,
    *,
    need_y6: bool,
    shift: np.ndarray | None = None,
    sd: np.ndarray | None = None,
) -> Block:
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
    shift : ndarray (reps,), optional
        Per-replicate shift of the anastrozole arm's mean 12-month change
        (percentage points; a true difference drawn from a design prior minus
        the configured one). Each man's 12-month change moves by it and his
        6-month change by ``month6_fraction`` times it *before* dropout is
        drawn, so MAR and MNAR dropout respond to the change the man actually
        has (dropout stays standardized by the configured arm means). The
        baseline and month-6 deviations are drawn from the unshifted values,
        so the within-arm law is unchanged.
    sd : ndarray (reps,), optional
        Per-replicate SD of the observed 12-month % change (replacing
        ``effects.sd_pct_change``, e.g. drawn from a design prior): every
        moment of :func:`vtrial.model.moments` that depends on it is taken per
        replicate (:func:`vtrial.model.cov_for_sd`), and MAR/MNAR dropout is
        standardized by the replicate's own SD.

    Returns
    -------
    Block
    """
    mo = moments(cfg)
    d = cfg["dropout"]
    mech = _mechanism(cfg)
    draw_y6 = need_y6 or mech == "MAR"
    size = draw_arm_sizes(cfg["trial"], reps, rng=child_rng(ss, Stream.RANDOMIZE))
    n_max = _arm_rows(cfg["trial"])
    if sd is None:
        s = mo.cov
        sd12 = math.sqrt(s[1, 1])
        slope_b = s[0, 1] / s[1, 1]
        sd_b = math.sqrt(max(s[0, 0] - s[0, 1] ** 2 / s[1, 1], 0.0))
        coef6, sd6_resid = mo.y6_given
        sd6 = math.sqrt(s[2, 2])
    else:  # the same quantities per replicate, arrays (reps,)
        s = cov_for_sd(cfg, sd)
        sd12 = np.sqrt(s[1, 1])
        slope_b = s[0, 1] / s[1, 1]
        sd_b = np.sqrt(np.maximum(s[0, 0] - s[0, 1] ** 2 / s[1, 1], 0.0))
        coef6, sd6_resid = _y6_given(s)
        sd6 = np.sqrt(s[2, 2])
    cum = np.cumsum(d["visit_probs"])
    out = {"db": [], "dy12": [], "dy6": [], "complete": [], "seen6": []}
    for arm in (0, 1):
        n_arm = int(n_max[arm])
        # Two contiguous man-major streams (change, baseline): a larger trial
        # extends a smaller one man by man.
        dy = _y12_dev(ss, arm, n_arm, reps, sd12)
        db = child_rng(ss, Stream.BASELINE, arm).standard_normal((n_arm, reps))
        db *= sd_b
        tmp = _scratch("t", db.shape)
        db += np.multiply(dy, slope_b, out=tmp)
        d6 = None
        if draw_y6:
            d6 = child_rng(ss, Stream.Y6, arm).standard_normal((n_arm, reps))
            d6 *= sd6_resid
            d6 += np.multiply(db, coef6[0], out=tmp)
            d6 += np.multiply(dy, coef6[1], out=tmp)
        if shift is not None and arm == 1:
            dy += shift
            if d6 is not None:
                d6 += mo.month6_fraction * shift
        drv = {"MCAR": None, "MNAR": dy, "MAR": d6}[mech]
        sd_drv = sd12 if mech == "MNAR" else sd6
        complete = _completers(cfg, arm, drv, sd_drv, child_rng(ss, Stream.DROPOUT, arm), (n_arm, reps))
        if mech == "MAR":
            seen6 = np.ones((n_arm, reps), dtype=bool)
        elif need_y6:
            when = child_rng(ss, Stream.VISIT, arm).random((n_arm, reps))
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


def _y6_given(s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:attr:`vtrial.model.Moments.y6_given` for a covariance per replicate, ``s`` (3, 3, reps).

    The 2 x 2 normal equations of Y6 on (B0, Y12) solved in closed form.
    """
    det = s[0, 0] * s[1, 1] - s[0, 1] ** 2
    c0 = (s[1, 1] * s[0, 2] - s[0, 1] * s[1, 2]) / det
    c1 = (s[0, 0] * s[1, 2] - s[0, 1] * s[0, 2]) / det
    resid = s[2, 2] - (s[0, 2] * c0 + s[1, 2] * c1)
    return np.stack([c0, c1]), np.sqrt(np.maximum(resid, 0.0))


def _y12_dev(ss: np.random.SeedSequence, arm: int, n_arm: int, reps: int, sd12: float) -> np.ndarray:
    """Man-major ``Y12 - mu12[arm]`` of one arm (shared by the two per-man samplers)."""
    dy = child_rng(ss, Stream.Y12, arm).standard_normal((n_arm, reps))
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
    ta = trial_mod.simulate_arrays(cfg, reps, rng=child_rng(ss, Stream.FULL), covariates=covariates)
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

    @property
    def dy(self) -> np.ndarray:
        """Difference of the mean outcomes, anastrozole minus placebo."""
        return self.ybar[1] - self.ybar[0]

    @property
    def db(self) -> np.ndarray:
        """Difference of the mean baselines, anastrozole minus placebo."""
        return self.bbar[1] - self.bbar[0]

    @property
    def syy_w(self) -> np.ndarray:
        """Pooled within-arm sum of squares of the outcome."""
        return self.syy[0] + self.syy[1]

    @property
    def sbb_w(self) -> np.ndarray:
        """Pooled within-arm sum of squares of the baseline."""
        return self.sbb[0] + self.sbb[1]

    @property
    def sby_w(self) -> np.ndarray:
        """Pooled within-arm cross-products."""
        return self.sby[0] + self.sby[1]


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


@dataclass
class PooledStats:
    """What Student, Welch and ANCOVA read of a trial, as the exact shortcut draws it.

    Arrays of shape ``(reps,)`` unless stated; the same attribute names as the
    properties of :class:`ArmStats`, so :func:`vtrial.analysis.ttests.t_methods`
    takes either.

    Attributes
    ----------
    n, size : ndarray of float, (2, reps)
        Men analysed and men randomized per arm.
    dy, db : ndarray
        Differences (anastrozole minus placebo) of the mean outcome (%) and of
        the mean baseline BMD (g/cm2).
    syy_w, sbb_w, sby_w : ndarray
        Pooled within-arm sums of squares and cross-products.
    syy : ndarray (2, reps) or None
        Within-arm sums of squares of the outcome per arm (Welch); None when
        not drawn.
    """

    n: np.ndarray
    size: np.ndarray
    dy: np.ndarray
    db: np.ndarray
    syy_w: np.ndarray
    sbb_w: np.ndarray
    sby_w: np.ndarray
    syy: np.ndarray | None = None


@dataclass
class ExactDraws:
    """The standardized random variates behind the exact shortcut's statistics (:func:`exact_draws`).

    ``n`` and ``size`` ``(2, reps)`` as :class:`PooledStats`; ``z`` ``(2, reps)``
    standard normals of the mean differences; ``c1 ~ chi2(m)``, ``t21 ~ N(0,
    1)`` and ``c2 ~ chi2(m - 1)`` the Bartlett factors of the pooled
    within-arm SSCP on ``m = (n0 - 1)^+ + (n1 - 1)^+`` df, ``(reps,)``; ``share`` ``(2, reps)`` (or None
    until :meth:`with_share` draws it) each arm's share of the pooled outcome
    sum of squares.
    """

    n: np.ndarray
    size: np.ndarray
    z: np.ndarray
    c1: np.ndarray
    t21: np.ndarray
    c2: np.ndarray
    share: np.ndarray | None = None

    def with_share(self, rng: np.random.Generator) -> ExactDraws:
        """These draws with the per-arm shares drawn from ``rng`` (already present: unchanged).

        ``syy_a / syy_w = G_a / (G_0 + G_1)`` with ``G_a ~ Gamma((n_a - 1) / 2)``
        independent: a Beta split, independent of the pooled SSCP (see
        :func:`exact_draws`).
        """
        if self.share is None:
            g = rng.standard_gamma(np.maximum(self.n - 1.0, 0.0) / 2.0)
            total = g[0] + g[1]
            with np.errstate(invalid="ignore", divide="ignore"):
                self.share = np.where(total > 0, g / total, 0.0)
        return self

    def slice(self, start: int, reps: int) -> ExactDraws:
        """Replicates ``start`` to ``start + reps`` (views)."""
        sl = slice(start, start + reps)
        share = None if self.share is None else self.share[:, sl]
        return ExactDraws(self.n[:, sl], self.size[:, sl], self.z[:, sl], self.c1[sl], self.t21[sl],
                          self.c2[sl], share)  # fmt: skip


def exact_draws(
    cfg: dict, reps: int, ss: np.random.SeedSequence, *, sizes: Stream = Stream.RANDOMIZE,
    stats: Stream = Stream.EXACT,
) -> ExactDraws:  # fmt: skip
    """Draw the variates of the exact shortcut (turned into statistics by :func:`exact_stats`).

    Given the arm size ``N_a`` (drawn as :func:`draw_arm_sizes`), the number
    of completers is ``Binomial(N_a, 1 - p_a)`` under MCAR dropout. For ``n_a``
    completers i.i.d. ``N(mu_a, Sigma)`` in (Y12, B0), the arm means are
    ``N(mu_a, Sigma / n_a)`` and the centred SSCP matrices ``Wishart(n_a - 1,
    Sigma)``, all independent. Student, Welch and ANCOVA read them only
    through

    * the mean differences, ``N(mu_1 - mu_0, Sigma (1/n_0 + 1/n_1))``: two
      normals;
    * the pooled SSCP, ``Wishart(m, Sigma)`` with ``m = (n_0 - 1) + (n_1 - 1)``
      (the sum of independent Wisharts with a common Sigma), drawn by the
      Bartlett decomposition with the outcome first: ``c1 ~ chi2(m)``,
      ``t21 ~ N(0, 1)``, ``c2 ~ chi2(m - 1)``;
    * for Welch only, each arm's outcome sum of squares. With the outcome
      first, ``syy_a = sigma_yy chi2(n_a - 1)`` independently, so their share
      of ``syy_w`` is ``Beta((n_1 - 1)/2, (n_0 - 1)/2)`` independent of
      ``syy_w``; and given every outcome the pooled cross-products and
      baseline sum of squares depend on the outcomes only through ``syy_w``
      (regression of B0 on Y12 within arms). So the share is independent of
      the whole pooled SSCP and is drawn only when Welch is computed
      (:meth:`ExactDraws.with_share`, its own stream).

    That is five variates per replicate where the two arms' means and Wisharts
    drawn one by one take ten, with the same joint law of every Student,
    Welch and ANCOVA result. With ``m = 1`` (two completers in all) the
    Wishart is singular: ``c2 = 0`` but ``t21`` is still a standard normal.
    An arm with fewer than two completers makes every t method report NaN (as
    the reference does).

    Parameters
    ----------
    cfg : dict
        Validated config satisfying :func:`vtrial.engine.exact_valid`.
    reps : int
        Replicates.
    ss : numpy.random.SeedSequence
        The seed sequence of the block (or group of blocks).
    sizes, stats : Stream
        Child streams of ``ss`` for the arm sizes and for the statistics
        (the power engine draws a group of blocks at once with
        ``EXACT_GROUP_SIZES`` and ``EXACT_GROUP``, see
        :func:`vtrial.engine.exact_block_stats`).

    Examples
    --------
    >>> from vtrial.config import load_config
    >>> d = exact_draws(load_config(overrides=["dropout.placebo=0", "dropout.anastrozole=0"]), 5,
    ...                 np.random.SeedSequence(1))
    >>> d.n[:, 0].tolist(), d.c1.shape, float(d.c1.min()) > 0
    ([44.0, 44.0], (5,), True)
    """
    size = draw_arm_sizes(cfg["trial"], reps, rng=child_rng(ss, sizes))
    rng = child_rng(ss, stats)
    d = cfg["dropout"]
    n = size.astype(float)
    for a, p in ((0, d["placebo"]), (1, d["anastrozole"])):
        if p > 0:
            n[a] = rng.binomial(size[a], 1.0 - p)
    z = rng.standard_normal((2, reps))
    m = np.maximum(n[0] - 1.0, 0.0) + np.maximum(n[1] - 1.0, 0.0)
    if m[0] >= 1 and np.all(m == m[0]):  # the usual case (no dropout): scalar df is faster
        c1 = 2.0 * rng.standard_gamma(m[0] / 2.0, reps)
        c2 = 2.0 * rng.standard_gamma((m[0] - 1.0) / 2.0, reps)
        t21 = rng.standard_normal(reps)
    else:
        c1 = 2.0 * rng.standard_gamma(m / 2.0)
        c2 = 2.0 * rng.standard_gamma(np.maximum(m - 1.0, 0.0) / 2.0)
        t21 = rng.standard_normal(reps) * (m >= 1)
    return ExactDraws(n, size.astype(float), z, c1, t21, c2)


def exact_stats(
    cfg: dict,
    draws: ExactDraws,
    *,
    sd: np.ndarray | None = None,
    shift: np.ndarray | None = None,
    welch: bool = False,
    rng: np.random.Generator | None = None,
) -> PooledStats:
    """The exact shortcut's statistics from its variates (:func:`exact_draws`).

    With ``L`` the Cholesky factor of the (Y12, B0) covariance (outcome
    first), the mean differences are ``mu_1 - mu_0 + sqrt(1/n_0 + 1/n_1) L z``
    and the pooled SSCP is ``(L T)(L T)'`` with ``T = [[sqrt(c1), 0], [t21,
    sqrt(c2)]]``.

    Parameters
    ----------
    cfg : dict
        The config the draws were made under.
    draws : ExactDraws
    sd : ndarray, optional
        Per-replicate SD of the observed 12-month % change (a design prior's
        draw): ``L`` at each replicate's covariance (:func:`vtrial.model.cov_for_sd`)
        instead of the config's. The variates are standardized, so this is
        exactly the draw under that SD.
    shift : ndarray, optional
        Per-replicate amount (percentage points) added to the difference of
        the mean outcomes (another true difference; under the exact shortcut
        dropout does not depend on the data, so nothing else changes).
    welch : bool
        Also give each arm's outcome sum of squares (the shares are drawn
        from ``rng`` if ``draws`` has none yet).

    Examples
    --------
    >>> from vtrial.config import load_config
    >>> cfg = load_config()
    >>> d = exact_draws(cfg, 4, np.random.SeedSequence(2))
    >>> a = exact_stats(cfg, d)
    >>> b = exact_stats(cfg, d, sd=np.full(4, cfg["effects"]["sd_pct_change"]), shift=np.zeros(4))
    >>> bool(np.allclose(a.syy_w, b.syy_w) and np.allclose(a.dy, b.dy)), a.syy
    (True, None)
    """
    mo = moments(cfg)
    cov = mo.cov if sd is None else cov_for_sd(cfg, sd)
    # (B0, Y12) covariance entries -> outcome-first Cholesky factor
    lyy = np.sqrt(cov[1, 1])
    lby = cov[0, 1] / lyy
    lbb = np.sqrt(np.maximum(cov[0, 0] - lby * lby, 0.0))
    n0, n1 = draws.n
    # an empty arm gives an infinite scale (and NaN below): t_methods reports NaN there
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = np.sqrt(1.0 / n0 + 1.0 / n1)
        z0 = scale * draws.z[0]
        dy = (mo.mean_pct[1] - mo.mean_pct[0]) + lyy * z0
        if shift is not None:
            dy += shift
        db = lby * z0 + lbb * (scale * draws.z[1])
    root = np.sqrt(draws.c1)
    lower = lby * root + lbb * draws.t21  # (L T)[1, 0]
    syy_w = (lyy * lyy) * draws.c1
    sby_w = (lyy * root) * lower
    sbb_w = lower * lower + (lbb * lbb) * draws.c2
    syy = None
    if welch:
        syy = draws.with_share(rng).share * syy_w
    return PooledStats(draws.n, draws.size, dy, db, syy_w, sbb_w, sby_w, syy)


def per_man_y_stats(
    cfg: dict,
    reps: int,
    ss: np.random.SeedSequence,
    *,
    shift: np.ndarray | None = None,
    sd: np.ndarray | None = None,
) -> ArmStats:
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

    Valid where :func:`vtrial.engine.per_man_y_valid` holds (complete case, % scale,
    direct mode). Baseline means are deviations from the population mean BMD;
    the baseline sums come from the child streams ``40 + arm``. Across
    candidate sample sizes the per-man draws are common random numbers (a
    larger trial extends a smaller one man by man); the drawn sums use the same
    normals but, through the chi-square, are only partly common.

    ``shift`` (per replicate, percentage points) moves the anastrozole arm's
    12-month changes, and its 6-month changes by ``month6_fraction`` times it,
    before dropout is drawn, as :func:`per_man_block` does (the same Welch and
    Student results bitwise); the regression of the other variables on the
    drawn one uses the unshifted deviations. ``sd`` (per replicate) replaces
    ``effects.sd_pct_change`` as in :func:`per_man_block`.

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
    size = draw_arm_sizes(cfg["trial"], reps, rng=child_rng(ss, Stream.RANDOMIZE))
    n_max = _arm_rows(cfg["trial"])
    # order of the drawn variable v and of the others W in the covariance
    v_idx, w_idx = (2, [0, 1]) if mech == "MAR" else (1, [0])
    if sd is None:
        s = mo.cov
        sd_v = math.sqrt(s[v_idx, v_idx])
        c = s[w_idx, v_idx] / s[v_idx, v_idx]
        cond = s[np.ix_(w_idx, w_idx)] - np.outer(s[w_idx, v_idx], s[w_idx, v_idx]) / s[v_idx, v_idx]
    else:  # per replicate: c (k, reps), cond (k, k, reps)
        s = cov_for_sd(cfg, sd)
        sd_v = np.sqrt(s[v_idx, v_idx])
        c = s[w_idx, v_idx] / s[v_idx, v_idx]
        cond = s[np.ix_(w_idx, w_idx)] - c[:, None] * s[w_idx, v_idx][None, :]
    out = {k: np.empty((2, reps)) for k in ("n", "ybar", "bbar", "syy", "sbb", "sby")}
    for arm in (0, 1):
        n_arm = n_max[arm]
        shape = (n_arm, reps)
        # scratch buffers: every per-man array is reduced to sums before the next arm
        dv = _scratch("dv", shape)
        stream = child_rng(ss, Stream.Y6, arm) if mech == "MAR" else child_rng(ss, Stream.Y12, arm)
        stream.standard_normal(out=dv)
        dv *= sd_v
        vshift = None
        if shift is not None and arm == 1:
            vshift = mo.month6_fraction * shift if mech == "MAR" else shift
            dv += vshift
        complete = _completers(
            cfg, arm, None if mech == "MCAR" else dv, sd_v, child_rng(ss, Stream.DROPOUT, arm), shape,
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
        # mean deviation of the drawn variable from its arm mean, for the regression
        mdev = mv if vshift is None else mv - vshift
        rng = child_rng(ss, Stream.BASELINE_SUMS, arm)
        two = n >= 2
        df = np.where(two, n - 2.0, 0.0)
        out["n"][arm] = n
        if mech != "MAR":
            sd_b = math.sqrt(max(cond[0, 0], 0.0)) if sd is None else np.sqrt(np.maximum(cond[0, 0], 0.0))
            z = rng.standard_normal((2, reps))
            chi = 2.0 * rng.standard_gamma(df / 2.0)
            h = c[0] * root + sd_b * z[1]
            out["ybar"][arm] = mv + mo.mean_pct[arm]
            out["syy"][arm] = svv
            out["bbar"][arm] = c[0] * mdev + sd_b * z[0] / np.sqrt(safe)
            out["sbb"][arm] = np.where(two, h * h + cond[0, 0] * chi, 0.0)
            out["sby"][arm] = np.where(two, h * root, 0.0)
        else:
            if sd is None:
                lc = np.linalg.cholesky(cond)  # (B0, Y12) given Y6
            else:
                lc = np.moveaxis(np.linalg.cholesky(np.moveaxis(cond, -1, 0)), 0, -1)
            z = rng.standard_normal((5, reps))
            t11 = np.sqrt(2.0 * rng.standard_gamma(df / 2.0))
            t22 = np.sqrt(2.0 * rng.standard_gamma(np.maximum(df - 1.0, 0.0) / 2.0))
            t21 = z[4] * (df >= 1)
            if sd is None:
                w1 = lc @ z[0:2]
                w2 = lc @ z[2:4]
            else:
                w1 = np.einsum("ijr,jr->ir", lc, z[0:2])
                w2 = np.einsum("ijr,jr->ir", lc, z[2:4])
            hb = c[0] * root + w2[0]
            hy = c[1] * root + w2[1]
            # Bartlett: Wishart(df, cond) = (L T)(L T)' with T = [[t11, 0], [t21, t22]]
            lb = lc[0, 0] * t11
            ly = lc[1, 0] * t11 + lc[1, 1] * t21
            lz = lc[1, 1] * t22
            out["bbar"][arm] = c[0] * mdev + w1[0] / np.sqrt(safe)
            out["ybar"][arm] = mo.mean_pct[arm] + c[1] * mdev + w1[1] / np.sqrt(safe)
            if vshift is not None:
                out["ybar"][arm] += shift
            out["sbb"][arm] = np.where(two, hb * hb + lb * lb, 0.0)
            out["sby"][arm] = np.where(two, hb * hy + lb * ly, 0.0)
            out["syy"][arm] = np.where(two, hy * hy + ly * ly + lz * lz, 0.0)
    return ArmStats(**out, size=size.astype(float))
