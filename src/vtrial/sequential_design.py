"""Looks of a group-sequential trial on any visit schedule (``trial.schedule``, two arms).

The trials are :func:`vtrial.design_sim.simulate_design` replicates (scans at
any months, the endpoint month from the schedule; men indexed in enrolment
order). At a look at time ``C`` (:mod:`vtrial.sequential_looks`) a man's scan
at schedule month ``s`` is in when ``e + s <= C`` (``e`` his entry) and he
attends it. The statistics are those of :mod:`vtrial.design_stats` on the
data in at the look:

* ``student_t``, ``welch_t``, ``ancova``: the men with their endpoint scan
  (complete case);
* ``mmrm``: every post-baseline scan up to the endpoint that is in
  (:func:`vtrial.design_stats.mmrm_design`, closed-form REML under monotone
  missingness, which holds: scans come in in schedule order and dropouts miss
  every scan after their last visit).

The information scale is that of the default schedule
(:func:`vtrial.sequential_sim.simulate_looks`): the pooled within-arm variance
of the endpoint change for the t-tests, the residual variance on arm and
baseline BMD for ANCOVA and MMRM, among the men with the endpoint scan.
"""

from __future__ import annotations

import numpy as np

from vtrial import design_stats
from vtrial import sequential_looks as looks
from vtrial.design_sim import simulate_design


def information_scales(y: np.ndarray, b0: np.ndarray, arm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pooled within-arm variance of ``y`` and residual variance of ``y`` on arm and ``b0`` ``(reps,)``.

    ``y`` and ``b0`` are ``(reps, n)``, NaN where ``y`` is not observed;
    ``arm`` is 0 or 1.

    Examples
    --------
    >>> y = np.array([[1.0, 3.0, 2.0, 6.0, np.nan]])
    >>> b0 = np.array([[1.0, 1.2, 1.1, 1.3, 1.0]])
    >>> pooled, resid = information_scales(y, b0, np.array([[0, 0, 1, 1, 1]]))
    >>> pooled.tolist()  # (2 + 8) / (4 - 2)
    [5.0]
    """
    keep = np.isfinite(y)
    syy = sbb = sby = 0.0
    n = np.count_nonzero(keep, axis=1)
    for a in (0, 1):
        w = keep & (arm == a)
        na = np.maximum(np.count_nonzero(w, axis=1), 1)
        dy = np.where(w, y - (np.where(w, y, 0).sum(1) / na)[:, None], 0.0)
        db = np.where(w, b0 - (np.where(w, b0, 0).sum(1) / na)[:, None], 0.0)
        syy = syy + (dy * dy).sum(1)
        sbb = sbb + (db * db).sum(1)
        sby = sby + (db * dy).sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return syy / (n - 2.0), (syy - sby * sby / sbb) / (n - 3.0)


def design_looks(
    cfg: dict, reps: int, ss: np.random.SeedSequence, method: str, g: int
) -> dict[str, np.ndarray]:
    """:func:`vtrial.sequential_sim.simulate_looks` for one block of trials on ``trial.schedule``.

    Parameters
    ----------
    cfg : dict
        Validated config (two arms, ``trial.schedule``, a ``sequential`` section).
    reps : int
        Trials in the block.
    ss : numpy.random.SeedSequence
        The block's seed sequence (passed to :func:`simulate_design`).
    method : str
        One of :data:`vtrial.sequential_sim.METHODS`.
    g : int
        Orientation (+1 or -1) of the z statistic.

    Returns
    -------
    dict
        Arrays ``(K, reps)`` named as :data:`vtrial.sequential_sim.LOOK_ARRAYS`.

    Examples
    --------
    >>> from vtrial.config import load_config
    >>> cfg = load_config(overrides=["trial.n_per_arm=20", "trial.schedule={visits_months: [0, 12, 24], dxa_months: [0, 12, 24]}"])
    >>> cfg["sequential"] = {"look_months": [30, 40]}
    >>> cfg["trial"]["accrual"] = {"period_months": 10}
    >>> out = design_looks(cfg, 2, np.random.SeedSequence(1), "mmrm", -1)
    >>> out["month"].tolist(), out["n_enrolled"].tolist()
    ([[30.0, 30.0], [40.0, 40.0]], [[40.0, 40.0], [40.0, 40.0]])
    """
    from vtrial.sequential_sim import LOOK_ARRAYS, skip_looks, store_look

    trial = cfg["trial"]
    hormones = trial["randomization"] == "stratified_blocks" and trial["strata_variable"] != "bmd_g_cm2"
    arrays = simulate_design(cfg, reps, rng=ss, covariates=hormones)
    design = arrays.design
    clock = looks.design_clock(cfg)
    e = design.endpoint_scan
    alpha = cfg["analysis"]["alpha"]
    y_all = arrays.change("spine", cfg["analysis"]["scale"])[..., : e + 1]
    b0 = arrays.bmd["spine"][..., 0]
    arm = arrays.arm.astype(np.intp)
    pairs = list(design.comparisons)
    entry = clock.entry[None, :]
    ends = np.where(np.isfinite(y_all[..., e]), entry + clock.offsets[e], np.inf).T
    times, skipped = looks.look_times(cfg, clock, ends)
    out = {key: np.empty(times.shape) for key in LOOK_ARRAYS}
    mmrm = method == "mmrm"
    for k in range(times.shape[0]):
        t = times[k][:, None]
        # men enrolled by the look in any trial (the rest have no scan in: left out, so early looks cost less)
        n_in = max(int(clock.enrolled(times[k].max())), 1)
        due = np.stack([looks.available(entry[:, :n_in], clock.offsets[s], t) for s in range(e + 1)], axis=-1)
        y = np.where(due, y_all[:, :n_in], np.nan)
        y_end, b, a = y[..., e], b0[:, :n_in], arm[:, :n_in]
        if mmrm:
            rep = design_stats.mmrm_design(y, b, a, 2, pairs, alpha, endpoint=e)[0]
        elif method == "ancova":
            rep = design_stats.ancova_design(y_end, b, a, 2, pairs, alpha)[0]
        elif method == "welch_t":
            rep = design_stats.welch_design(y_end, a, 2, pairs, alpha)[0]
        else:
            rep = design_stats.student_design(y_end, a, 2, pairs, alpha)[0]
        pooled, resid = information_scales(y_end, np.where(np.isfinite(y_end), b, np.nan), a)
        store_look(out, k, rep, pooled if method in ("student_t", "welch_t") else resid, g)
        out["n_endpoint"][k] = np.count_nonzero(np.isfinite(y_end), axis=1)
    out["n_enrolled"] = clock.enrolled(times).astype(float)
    out["month"] = clock.months(times)
    skip_looks(out, skipped)
    return out
