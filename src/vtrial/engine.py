"""The power engine: runs blocks of replicate trials and picks a sampler per method.

The power engine simulates replicate trials in *blocks* of :data:`BLOCK`
replicates. Block ``k`` of a scenario always draws from the random streams
derived from ``(root seed, scenario id, k)`` (:func:`vtrial.streams.seed_sequence`,
children named in :class:`vtrial.streams.Stream`), whatever the chunk size or
the number of worker processes, so output files are byte-identical however
the work is split. ``simulation.chunk_size`` only groups blocks into the tasks
handed to a worker.

One home per concept:

* :mod:`vtrial.model`: the outcome model's moments;
* :mod:`vtrial.samplers`: the four samplers (``exact``, ``per_man_y``,
  ``per_man``, ``full``) and the arm-size law;
* the vectorised analyses, each beside its reference implementation:
  :func:`vtrial.analysis.ttests.t_methods` (``student_t``, ``welch_t``,
  ``ancova`` from per-arm sums), :func:`vtrial.analysis.nonparametric.mann_whitney_vec`
  (as R ``wilcox.test``) and :func:`vtrial.analysis.mmrm.mmrm_vec` (REML in
  closed form under monotone dropout), returning
  :class:`vtrial.analysis.result.Replicates`;
* this module: which sampler and analysis computes each method
  (:func:`method_engine`) and the block runner (:func:`run_block`).

Engine choice per method (:func:`method_engine`):

``exact``
    ``student_t``, ``welch_t`` or ``ancova`` (no extra covariates or robust
    SEs) when *all* of: ``effects.mode`` is ``direct``; dropout does not depend
    on the data (``MCAR``, or ``strength`` 0, or no dropout); randomization is
    ``simple`` or ``permuted_blocks`` (``stratified_blocks`` balances arms on
    a baseline variable); ``analysis.missing`` is ``complete_case`` and
    ``analysis.scale`` is ``pct`` (carried-forward zeros or a change in g/cm2
    are not normal); ``simulation.exact_shortcut: auto`` (:func:`exact_valid`).
``per_man_y``
    The same methods, complete case on the % scale in direct mode without
    ``stratified_blocks`` under *any* dropout mechanism, when every method of
    the block can use it (a method that needs individual values, e.g.
    Mann-Whitney or MMRM, puts the block on ``per_man``); about twice as fast
    as ``per_man`` (``benchmarks/RESULTS.md``).
``per_man``
    Any vectorised method (``student_t``, ``welch_t``, ``ancova``,
    ``mann_whitney``, ``mmrm``) with ``complete_case``, ``bocf`` or ``locf``
    (MMRM: all observed visits) in direct mode without ``stratified_blocks``.
``full``
    The same analyses on :func:`vtrial.trial.simulate_arrays` (estradiol-mediated
    effects, stratified randomization, extra ANCOVA covariates).
``reference``
    Any other method or strategy: data from the per-man (or full) sampler
    analysed one replicate at a time by :mod:`vtrial.analysis`.
"""

from __future__ import annotations

import itertools
import math
import threading
from collections.abc import Iterator

import numpy as np

from vtrial import samplers
from vtrial import trial as trial_mod
from vtrial.analysis.mmrm import mmrm_vec
from vtrial.analysis.nonparametric import mann_whitney_vec
from vtrial.analysis.result import Replicates
from vtrial.analysis.ttests import t_methods
from vtrial.errors import InputError
from vtrial.streams import Stream, child_rng, seed_sequence

#: Replicates per random-number block (the unit of reproducibility).
BLOCK = 1000

#: Blocks whose exact-shortcut statistics are drawn in one go (:func:`exact_block_stats`).
EXACT_GROUP_BLOCKS = 10

#: Methods the engine computes from arrays.
VECTORISED = ("student_t", "welch_t", "ancova", "mann_whitney", "mmrm")
#: Methods the exact shortcut supports.
EXACT_METHODS = ("student_t", "welch_t", "ancova")
#: Missing-data strategies computed from arrays.
VECTORISED_MISSING = ("complete_case", "bocf", "locf")


def block_sizes(reps: int) -> list[int]:
    """Replicates in each block for a run of ``reps`` replicates.

    Examples
    --------
    >>> block_sizes(2500)
    [1000, 1000, 500]
    """
    full, rest = divmod(int(reps), BLOCK)
    return [BLOCK] * full + ([rest] if rest else [])


_EXACT = threading.local()


def exact_block_stats(
    cfg: dict, scenario: str, index: int, reps: int, *, welch: bool = False, sd=None, shift=None
) -> samplers.PooledStats:
    """Exact-shortcut statistics of block ``index`` (``reps`` replicates) of a scenario.

    The variates (:func:`vtrial.samplers.exact_draws`) are drawn for a whole
    group of :data:`EXACT_GROUP_BLOCKS` blocks at once, on the seed sequence
    of chunk ``index // EXACT_GROUP_BLOCKS`` (streams ``EXACT_GROUP_SIZES``,
    ``EXACT_GROUP`` and, for Welch, ``EXACT_SHARE``), and block ``index`` is
    its slice ``index % EXACT_GROUP_BLOCKS``. Making generators and the
    Python around a draw costs about as much as drawing 1,000 replicates, so
    drawing ten blocks at once halves the cost of the exact engine. The group
    is always drawn in full, so block ``index`` has the same values whatever
    the number of replicates, chunk size or worker count; the last group drawn
    is kept (per thread) for the next blocks. ``welch``, ``sd`` and ``shift``
    as :func:`vtrial.samplers.exact_stats`.

    Examples
    --------
    >>> from vtrial.config import load_config
    >>> cfg = load_config()
    >>> a = exact_block_stats(cfg, "0123456789", 12, 1000)
    >>> b = exact_block_stats(cfg, "0123456789", 12, 300)
    >>> bool((a.syy_w[:300] == b.syy_w).all()), a.syy_w.shape
    (True, (1000,))
    """
    group, pos = divmod(int(index), EXACT_GROUP_BLOCKS)
    draws, ss = _exact_group(cfg, repr(cfg), scenario, group)
    if welch:
        draws.with_share(child_rng(ss, Stream.EXACT_SHARE))
    return samplers.exact_stats(cfg, draws.slice(pos * BLOCK, int(reps)), sd=sd, shift=shift, welch=welch)


def _exact_group(
    cfg: dict, fingerprint: str, scenario: str, group: int
) -> tuple[samplers.ExactDraws, np.random.SeedSequence]:
    """The variates of a whole group of exact blocks and its seed sequence; the last group is kept per thread.

    ``fingerprint`` is ``repr(cfg)``, a cheap exact fingerprint of the parsed
    config, passed in so that a caller running many blocks computes it once.
    """
    key = (fingerprint, scenario, group)
    if getattr(_EXACT, "key", None) != key:
        ss = seed_sequence(cfg["seed"], scenario, group)
        _EXACT.draws = samplers.exact_draws(
            cfg, EXACT_GROUP_BLOCKS * BLOCK, ss, sizes=Stream.EXACT_GROUP_SIZES, stats=Stream.EXACT_GROUP
        )
        _EXACT.ss = ss
        _EXACT.key = key
    return _EXACT.draws, _EXACT.ss


def _group_ci(rep: Replicates, limits: bool) -> None:
    """Critical values (and confidence limits) of a whole group at once, for integer df.

    :meth:`Replicates.significant` and :meth:`Replicates.covers` use them when
    every finite df is an integer (Student, ANCOVA); they are elementwise, so
    computing them on the group gives each block's own values.
    """
    if rep.critical() is not None and limits:
        rep.ci_low  # noqa: B018 - computes and keeps lo and hi


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
    """Whether ``method`` can use :func:`vtrial.samplers.per_man_y_stats` (per-man outcome, drawn baseline sums).

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
    (:func:`vtrial.samplers.per_man_y_stats`) is used when every method simulated with it in
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


def reference_replicates(
    block: samplers.Block, cfg: dict, method: str, ss: np.random.SeedSequence
) -> Replicates:
    """Analyse each replicate of a block with the reference implementation (slow path)."""
    from vtrial.analysis import METHODS
    from vtrial.config import method_options

    fn = METHODS[method][0]
    opts = method_options(cfg, [method])[method]
    opt = analysis_options(cfg)
    ta = block.arrays if block.arrays is not None else samplers.block_to_arrays(block)
    rng = child_rng(ss, Stream.REFERENCE)
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


def check_prior(cfg: dict, prior) -> None:
    """:class:`InputError` (one line) unless the engine can simulate ``cfg`` under ``prior``.

    The ``full`` simulator (estradiol-mediated effects, stratified
    randomization, extra ANCOVA covariates) cannot give each replicate its own
    true difference.
    """
    if not per_man_valid(cfg):
        raise InputError(
            "prior: simulated assurance needs effects.mode 'direct' without stratified_blocks or "
            "analysis.covariates (the full simulator cannot take per-trial true differences)"
        )


def prior_truths(
    cfg: dict, prior, ss: np.random.SeedSequence, reps: int
) -> tuple[np.ndarray, np.ndarray | None]:
    """Per-replicate true differences and SDs (percentage points) of one block, from the design prior.

    Drawn from the block's ``PRIOR`` stream (:class:`vtrial.streams.Stream`),
    so a block gets the same truths at every sample size when its streams are
    keyed by the scenario id without ``trial.n_per_arm`` (common random
    numbers: the simulated assurance is then a smooth function of n). The SD
    of the observed 12-month % change (None when the prior keeps it fixed) is
    drawn after the differences from the same stream, above ``sqrt(2) *
    measurement.bmd_cv_pct`` (:meth:`vtrial.priors.DesignPrior.sample`), so
    adding an SD prior leaves the differences unchanged.

    Raises
    ------
    InputError
        Where the engine cannot give each replicate its own truth (see :func:`check_prior`).

    Examples
    --------
    >>> from vtrial.config import load_config
    >>> from vtrial.priors import default_prior
    >>> d, sd = prior_truths(load_config(), default_prior(), np.random.SeedSequence(3), 4)
    >>> d.shape, bool((d < 0).all()), sd
    ((4,), True, None)
    """
    check_prior(cfg, prior)
    floor = math.sqrt(2) * cfg["measurement"]["bmd_cv_pct"]
    d, sd = prior.sample(reps, rng=child_rng(ss, Stream.PRIOR), sd_floor=floor)
    return np.asarray(d, dtype=float), None if sd is None else np.asarray(sd, dtype=float)


def run_block(
    cfg: dict, scenario: str, index: int, reps: int, methods, p_only: bool = False, prior=None
) -> dict[str, Replicates] | tuple[dict[str, Replicates], np.ndarray]:
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
    prior : vtrial.priors.DesignPrior, optional
        Draw each replicate's true difference (and SD, if the prior has one)
        from this prior (:func:`prior_truths`) instead of using
        ``effects.difference_pct`` (and ``effects.sd_pct_change``).

    Returns
    -------
    dict
        Method name -> :class:`Replicates`; with ``prior``, the pair
        ``(that dict, true differences per replicate)``.
    """
    ss = seed_sequence(cfg["seed"], scenario, index)
    opt = analysis_options(cfg)
    engines = {m: method_engine(cfg, m, methods) for m in methods}
    truths = shift = sd = None
    if prior is not None:
        truths, sd = prior_truths(cfg, prior, ss, reps)
        shift = truths - float(cfg["effects"]["difference_pct"])
    out: dict[str, Replicates] = {}
    for kind in ("exact", "per_man_y"):
        if any(e == kind for e in engines.values()):
            if kind == "exact":
                welch = any(e == kind and m == "welch_t" for m, e in engines.items())
                st = exact_block_stats(cfg, scenario, index, reps, welch=welch, sd=sd, shift=shift)
            else:
                st = samplers.per_man_y_stats(cfg, reps, ss, shift=shift, sd=sd)
            for m, e in engines.items():
                if e == kind:
                    out[m] = t_methods(st, m, opt["alpha"])
    rest = [m for m in methods if engines[m] not in ("exact", "per_man_y")]
    if not rest:
        return out if prior is None else (out, truths)
    if per_man_valid(cfg):
        block = samplers.per_man_block(cfg, reps, ss, need_y6=needs_y6(cfg, rest), shift=shift, sd=sd)
    else:
        block = samplers.full_block(cfg, reps, ss, covariates=full_needs_covariates(cfg))
    stats = None
    for m in rest:
        if engines[m] == "reference":
            out[m] = reference_replicates(block, cfg, m, ss)
        elif m in EXACT_METHODS:
            if stats is None:
                stats = samplers.arm_stats(block, opt["missing"], opt["scale"])
            out[m] = t_methods(stats, m, opt["alpha"])
        elif m == "mann_whitney":
            out[m] = mann_whitney_vec(block, opt["missing"], opt["scale"], opt["alpha"], p_only)
        elif m == "mmrm":
            out[m] = mmrm_vec(block, opt["scale"], opt["alpha"])
    return out if prior is None else (out, truths)


def run_blocks(
    cfg: dict, scenario: str, blocks, methods, p_only: bool = False
) -> Iterator[dict[str, Replicates]]:
    """:func:`run_block` for consecutive blocks, yielding each block's results in turn.

    The same values as one :func:`run_block` call per block, with the fixed
    costs paid once: the engine choice, and for the exact shortcut the
    config fingerprint and one vectorised analysis per group of
    :data:`EXACT_GROUP_BLOCKS` blocks (sliced per block afterwards; every
    operation is elementwise, so a slice equals the block analysed alone).

    Parameters
    ----------
    blocks : sequence of (int, int)
        (block index, replicates), consecutive indices.
    cfg, scenario, methods, p_only
        As :func:`run_block`.

    Examples
    --------
    >>> from vtrial.config import load_config
    >>> cfg = load_config()
    >>> a = list(run_blocks(cfg, "0123456789", [(9, 1000), (10, 500)], ["ancova"]))
    >>> b = run_block(cfg, "0123456789", 10, 500, ["ancova"])
    >>> bool((a[1]["ancova"].estimate == b["ancova"].estimate).all())
    True
    """
    exact = [m for m in methods if method_engine(cfg, m, methods) == "exact"]
    # Without the exact methods the others choose the same engines (exact_valid
    # methods never keep a block off per_man_y) and draw the same streams.
    others = [m for m in methods if m not in exact]
    if not exact:
        for index, reps in blocks:
            yield run_block(cfg, scenario, index, reps, methods, p_only)
        return
    for members, start, res in exact_groups(cfg, scenario, blocks, exact, p_only):
        for index, reps in members:
            offset = (index % EXACT_GROUP_BLOCKS) * BLOCK - start
            out = {m: res[m].slice(offset, reps) for m in exact}
            if others:
                out.update(run_block(cfg, scenario, index, reps, others, p_only))
            yield out


def exact_groups(
    cfg: dict, scenario: str, blocks, exact, p_only: bool = False
) -> Iterator[tuple[list[tuple[int, int]], int, dict[str, Replicates]]]:
    """The exact methods' results of consecutive blocks, one group of :data:`EXACT_GROUP_BLOCKS` at a time.

    Yields ``(members, start, results)``: the (block index, replicates) of the
    group's blocks among ``blocks``, the offset of the first of them in the
    group, and method -> :class:`Replicates` of those blocks end to end
    (block ``index`` at ``(index % EXACT_GROUP_BLOCKS) * BLOCK - start``), with
    their critical values (and, unless ``p_only``, confidence limits) computed.
    ``exact`` lists methods whose engine is ``exact``.
    """
    fingerprint = repr(cfg)
    alpha = analysis_options(cfg)["alpha"]
    welch = "welch_t" in exact
    for group, members in itertools.groupby(blocks, key=lambda b: b[0] // EXACT_GROUP_BLOCKS):
        members = list(members)
        start = (members[0][0] % EXACT_GROUP_BLOCKS) * BLOCK
        stop = max((i % EXACT_GROUP_BLOCKS) * BLOCK + r for i, r in members)
        draws, ss = _exact_group(cfg, fingerprint, scenario, group)
        if welch:
            draws.with_share(child_rng(ss, Stream.EXACT_SHARE))
        st = samplers.exact_stats(cfg, draws.slice(start, stop - start), welch=welch)
        res = {m: t_methods(st, m, alpha) for m in exact}
        for rep in res.values():
            _group_ci(rep, limits=not p_only)
        yield members, start, res


def full_needs_covariates(cfg: dict) -> bool:
    """Whether the ``full`` simulator must draw age, BMI and hormones."""
    t = cfg["trial"]
    return (
        bool(cfg["analysis"].get("covariates"))
        or cfg["effects"]["mode"] != "direct"
        or (t["randomization"] == "stratified_blocks" and t["strata_variable"] != "bmd_g_cm2")
    )
