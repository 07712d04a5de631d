"""Exact shortcut for designs: per-arm sufficient statistics drawn directly.

Complete-case ``student_t``, ``welch_t`` and ``ancova`` (joint model across
arms, no extra covariates) depend on a trial only through, per arm, the
number of completers, their mean baseline BMD and mean change at the
endpoint, and the within-arm sums of squares and products (SSCP) of
(baseline, change). When the model makes (baseline, change) normal within an
arm and dropout independent of the data, these have a closed-form law, and
:func:`simulate_stats` draws them instead of every man's values
(:func:`vtrial.design_sim.simulate_design`):

* men randomized per arm: fixed quotas of whole permuted blocks plus a
  multivariate hypergeometric share of a last block cut short
  (:func:`arm_size_law`, the law of :func:`vtrial.design_sim.randomize_design`),
  or multinomial under ``simple`` randomization;
* completers of arm ``a``: ``Binomial(N_a, 1 - dropout_a)`` (MCAR);
* with ``n`` completers and ``X = (B0, Y)`` per endpoint i.i.d.
  ``N(mu_a, Sigma_a)`` (:func:`arm_law`; with two endpoints the four variables
  spine B0, spine Y, hip B0, hip Y jointly, so the endpoint correlation is
  kept), the mean vector is ``N(mu_a, Sigma_a / n)`` and, independently, the
  centred SSCP is ``Wishart(n - 1, Sigma_a)`` (:func:`draw_wishart`).

The statistics then come from the same formulas as the per-man path
(:func:`vtrial.design_stats.student_sums`, :func:`~vtrial.design_stats.welch_sums`,
:func:`~vtrial.design_stats.ancova_sums`), so :func:`exact_results` returns the
:class:`~vtrial.analysis.result.Replicates` of each comparison with the law of
the per-man path. The derivation of ``mu_a`` and ``Sigma_a`` is in
``docs/design_power.md``.

Random streams: children of the block's seed sequence with labels 120
(arm sizes) and 121 (completers, means and SSCPs), apart from the per-man
simulator's labels (100 to 111).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import IntEnum
from functools import lru_cache
from itertools import product

import numpy as np

from vtrial import engine
from vtrial.analysis.result import Replicates
from vtrial.design import Design, allocation_shares, design_of, effective_cohort, hip_config, latent_corr
from vtrial.design_sim import _child, _seed_sequence, endpoint_effects
from vtrial.design_stats import ancova_sums, student_sums, welch_sums

__all__ = ["DesignStats", "arm_law", "arm_size_law", "draw_arm_sizes", "draw_wishart",
           "exact_results", "exact_valid", "simulate_stats", "use_exact"]  # fmt: skip


class ExactStream(IntEnum):
    """Child-stream labels of :func:`simulate_stats`."""

    SIZES = 120
    STATS = 121


@dataclass(frozen=True)
class DesignStats:
    """Per-arm sufficient statistics of replicate trials of a design, among completers.

    Variables, in order: baseline BMD (g/cm2) and % change at the endpoint
    month of each endpoint of ``design.endpoints`` (``spine``, then ``hip``).

    Attributes
    ----------
    design : Design
    size : ndarray of float, (K, reps)
        Men randomized per arm.
    n : ndarray of float, (K, reps)
        Completers (men analysed) per arm.
    mean : ndarray, (K, 2E, reps)
        Completers' mean of each variable.
    sscp : ndarray, (K, 2E, 2E, reps)
        Within-arm centred sums of squares and products of the variables.
    """

    design: Design
    size: np.ndarray
    n: np.ndarray
    mean: np.ndarray
    sscp: np.ndarray


# --------------------------------------------------------------------------- validity


def exact_valid(cfg: dict, method: str) -> tuple[bool, str]:
    """Whether the exact shortcut reproduces the per-man law of ``method`` under ``cfg``, and why not.

    The conditions of :func:`vtrial.engine.exact_valid` (``docs/design_power.md``
    says why each is needed), with every arm's dropout.

    Examples
    --------
    >>> from vtrial.config import load_config
    >>> cfg = load_config(overrides=["trial.arms=[{name: p}, {name: a}, {name: b}]", "trial.block_sizes=[6]"])
    >>> exact_valid(cfg, "ancova")
    (True, '')
    >>> exact_valid(cfg, "mmrm")
    (False, 'mmrm is not a function of means and sums of squares')
    """
    # The two-arm rule, with the design's arms' dropout in place of the two-arm keys.
    dropout = max(arm.dropout for arm in design_of(cfg).arms)
    return engine.exact_valid(
        {**cfg, "dropout": {**cfg["dropout"], "placebo": dropout, "anastrozole": 0.0}}, method
    )


def use_exact(cfg: dict, methods) -> bool:
    """True when every method of a run can use the exact shortcut (they then share its trials).

    Examples
    --------
    >>> from vtrial.config import load_config
    >>> cfg = load_config(overrides=["trial.arms=[{name: p}, {name: a}, {name: b}]", "trial.block_sizes=[6]"])
    >>> use_exact(cfg, ["ancova", "welch_t"]), use_exact(cfg, ["ancova", "mmrm"])
    (True, False)
    """
    return bool(methods) and all(exact_valid(cfg, m)[0] for m in methods)


# --------------------------------------------------------------------------- the law per arm


def arm_law(cfg: dict, design: Design | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``(K, 2E)`` and covariance ``(K, 2E, 2E)`` of (baseline, endpoint % change) per arm.

    Direct mode (``docs/design_power.md``): each variable is a linear function
    of independent standard normals (true baseline, unexplained change, DXA
    errors at month 0 and at the endpoint, per site; the hip baseline and
    change share the spine's through ``corr_baseline_spine`` and
    :func:`vtrial.design.latent_corr`), and the covariance is ``A A'`` for the
    loadings ``A``.

    Examples
    --------
    >>> from vtrial.config import load_config
    >>> mean, cov = arm_law(load_config())
    >>> mean.round(3).tolist(), cov[0].round(4).tolist()
    ([[1.15, 0.76], [1.15, -1.7]], [[0.0197, -0.0485], [-0.0485, 9.0]])
    """
    design = design_of(cfg) if design is None else design
    c, eff = effective_cohort(cfg), cfg["effects"]
    k_arms = len(design.arms)
    hip = hip_config(cfg) if "hip" in design.endpoints else None
    # Columns: z_b, u, e0, eT (spine); w, v, h0, hT (hip).
    n_z = 8 if hip is not None else 4
    mean = np.empty((k_arms, 2 * len(design.endpoints)))
    load = np.zeros((k_arms, mean.shape[1], n_z))
    m_b, s_b, cv, rho = (
        c["bmd_mean_g_cm2"],
        c["bmd_sd_g_cm2"],
        cfg["measurement"]["bmd_cv_pct"],
        eff["baseline_corr"],
    )
    spine = endpoint_effects(cfg, design, "spine")
    mean[:, 0], mean[:, 1] = m_b, spine.mean_pct
    load[:, 0, 0], load[:, 0, 2] = s_b, m_b * cv / 100.0
    s = spine.sd_true_pct
    load[:, 1, 0], load[:, 1, 1], load[:, 1, 2], load[:, 1, 3] = s * rho, s * math.sqrt(1 - rho**2), -cv, cv
    if hip is not None:
        r_b, rho_h, c_uv, cv_h = (
            hip["corr_baseline_spine"],
            hip["baseline_corr"],
            latent_corr(cfg, hip),
            hip["bmd_cv_pct"],
        )
        m_h, s_hb = hip["baseline_mean_g_cm2"], hip["baseline_sd_g_cm2"]
        he = endpoint_effects(cfg, design, "hip")
        z_h = np.zeros(n_z)  # loadings of the standardized true hip baseline
        z_h[0], z_h[4] = r_b, math.sqrt(1 - r_b**2)
        u_h = np.zeros(n_z)  # of the hip change's part unexplained by baseline
        u_h[1], u_h[5] = c_uv, math.sqrt(1 - c_uv**2)
        mean[:, 2], mean[:, 3] = m_h, he.mean_pct
        load[:, 2] = s_hb * z_h
        load[:, 2, 6] = m_h * cv_h / 100.0
        sh = he.sd_true_pct[:, None]
        load[:, 3] = sh * (rho_h * z_h + math.sqrt(1 - rho_h**2) * u_h)
        load[:, 3, 6], load[:, 3, 7] = -cv_h, cv_h
    return mean, load @ np.swapaxes(load, 1, 2)


# --------------------------------------------------------------------------- arm sizes


def _quotas(block: int, shares) -> tuple[int, ...]:
    """Places of each arm in a block (as :func:`vtrial.design_sim.randomize_design` rounds them)."""
    bounds = np.rint(block * np.cumsum([float(s) for s in shares])).astype(np.int64)
    return tuple(int(x) for x in np.diff(bounds, prepend=0))


def _hypergeometric(quota: tuple[int, ...], drawn: int):
    """Counts per arm among the first ``drawn`` places of a random list holding ``quota``, with probabilities."""
    total = math.comb(sum(quota), drawn)
    for h in product(*(range(q + 1) for q in quota)):
        if sum(h) == drawn:
            yield h, math.prod(math.comb(q, x) for q, x in zip(quota, h, strict=True)) / total


@lru_cache(maxsize=128)
def _block_law(n: int, block_sizes: tuple[int, ...], shares: tuple) -> tuple[np.ndarray, np.ndarray]:
    pick = 1.0 / len(block_sizes)
    zero = (0,) * len(shares)
    filled: list[dict] = [{} for _ in range(n + 1)]  # places filled by whole blocks -> counts -> P
    filled[0][zero] = 1.0
    final: dict = {}
    for s in range(n):
        for counts, p in filled[s].items():
            for b in block_sizes:
                q = _quotas(b, shares)
                if s + b <= n:
                    key = tuple(x + y for x, y in zip(counts, q, strict=True))
                    filled[s + b][key] = filled[s + b].get(key, 0.0) + p * pick
                else:  # the last block, cut short after n - s places
                    for h, ph in _hypergeometric(q, n - s):
                        key = tuple(x + y for x, y in zip(counts, h, strict=True))
                        final[key] = final.get(key, 0.0) + p * pick * ph
    for counts, p in filled[n].items():
        final[counts] = final.get(counts, 0.0) + p
    support = sorted(final)
    prob = np.array([final[k] for k in support])
    return np.array(support, dtype=np.int64), prob / prob.sum()


def arm_size_law(design: Design, trial_cfg: dict) -> tuple[np.ndarray, np.ndarray]:
    """Law of the men randomized per arm under ``permuted_blocks``: support ``(M, K)`` and probabilities ``(M,)``.

    Blocks have a size drawn from ``trial.block_sizes`` and hold each arm's
    quota; the block cut short by the end of enrolment contributes the counts
    among its first places (multivariate hypergeometric), as
    :func:`vtrial.design_sim.randomize_design`.

    Examples
    --------
    >>> from vtrial.config import load_config
    >>> cfg = load_config(overrides=["trial.arms=[{name: p}, {name: a}, {name: b}]", "trial.block_sizes=[6]",
    ...                              "trial.n_per_arm=5"])
    >>> support, prob = arm_size_law(design_of(cfg), cfg["trial"])
    >>> support.tolist()  # two whole blocks of 6, then 3 places of the third
    [[4, 5, 6], [4, 6, 5], [5, 4, 6], [5, 5, 5], [5, 6, 4], [6, 4, 5], [6, 5, 4]]
    >>> prob.round(4).tolist()  # 8 / 20 for one place each, 2 / 20 otherwise
    [0.1, 0.1, 0.1, 0.4, 0.1, 0.1, 0.1]
    """
    n = int(sum(design.sizes))
    shares = tuple(allocation_shares(design))
    return _block_law(n, tuple(int(b) for b in trial_cfg["block_sizes"]), shares)


def draw_arm_sizes(design: Design, trial_cfg: dict, reps: int, *, rng) -> np.ndarray:
    """Men randomized per arm, ``(K, reps)`` int, with the law of :func:`vtrial.design_sim.randomize_design`.

    ``simple``: multinomial with probabilities ``n_k / n``; ``permuted_blocks``:
    :func:`arm_size_law`.

    Examples
    --------
    >>> from vtrial.config import load_config
    >>> cfg = load_config(overrides=["trial.arms=[{name: p}, {name: a, allocation: 2}, {name: b}]"])
    >>> draw_arm_sizes(design_of(cfg), cfg["trial"], 2, rng=1).tolist()
    [[44, 44], [88, 88], [44, 44]]
    """
    rng = np.random.default_rng(rng)
    sizes = np.asarray(design.sizes)
    if trial_cfg["randomization"] == "simple":
        return rng.multinomial(int(sizes.sum()), sizes / sizes.sum(), size=reps).T
    support, prob = arm_size_law(design, trial_cfg)
    if len(prob) == 1:
        return np.repeat(support.T, reps, axis=1)
    pick = np.minimum(np.searchsorted(np.cumsum(prob), rng.random(reps), side="right"), len(prob) - 1)
    return support[pick].T


# --------------------------------------------------------------------------- Wishart


def draw_wishart(chol: np.ndarray, df: np.ndarray, *, rng) -> np.ndarray:
    """Centred SSCP of ``df + 1`` i.i.d. ``N(mu, L L')`` vectors: ``Wishart(df, L L')``, shape ``(d, d, reps)``.

    Bartlett decomposition ``W = (L T)(L T)'`` with ``T`` lower triangular,
    ``T_ii^2 ~ chi2(df - i)`` and ``T_ij ~ N(0, 1)`` below the diagonal
    (``i, j`` from 0). When ``df < d`` the Wishart is singular: only the first
    ``df`` columns of ``T`` are kept (``W = X'X`` for ``df`` rows ``X`` of
    ``N(0, L L')``, whose QR decomposition gives exactly those columns), and
    ``df = 0`` gives zero. ``df`` varies by replicate.

    Examples
    --------
    >>> w = draw_wishart(np.eye(2), np.full(4000, 9.0), rng=1)
    >>> (np.diagonal(w).mean(axis=0) / 9).round(1).tolist()  # E W = df L L'
    [1.0, 1.0]
    """
    rng = np.random.default_rng(rng)
    d, reps = chol.shape[0], len(df)
    t = np.zeros((reps, d, d))
    for i in range(d):
        k = df - i
        t[:, i, i] = np.sqrt(rng.chisquare(np.maximum(k, 1.0)) * (k >= 1))
        for j in range(i):
            t[:, i, j] = rng.standard_normal(reps) * (df > j)
    a = chol @ t  # (reps, d, d)
    return np.moveaxis(a @ np.swapaxes(a, 1, 2), 0, -1)


# --------------------------------------------------------------------------- simulation


def _factor(cov: np.ndarray) -> np.ndarray:
    """A square ``F`` with ``F F' = cov``: Cholesky, or from the eigen-decomposition when ``cov`` is singular.

    Any square factor gives the same law of ``mu + F z`` and ``F (T T') F'``;
    a singular ``cov`` (e.g. no DXA error and a variable fixed by another)
    makes the per-man data degenerate too.
    """
    try:
        return np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        w, v = np.linalg.eigh(cov)
        return v * np.sqrt(np.clip(w, 0.0, None))


def simulate_stats(cfg: dict, reps: int, *, rng) -> DesignStats:
    """Draw the per-arm sufficient statistics of ``reps`` trials of the configured design.

    Parameters
    ----------
    cfg : dict
        Validated config for which :func:`exact_valid` holds.
    reps : int
        Replicate trials.
    rng : numpy.random.SeedSequence, Generator or seed
        The block's seed sequence (as :func:`vtrial.design_sim.simulate_design`);
        arm sizes and statistics draw from its children :class:`ExactStream`.

    Returns
    -------
    DesignStats

    Examples
    --------
    >>> from vtrial.config import load_config
    >>> cfg = load_config(overrides=["trial.arms=[{name: p}, {name: a}, {name: b}]", "trial.block_sizes=[6]",
    ...                              "effects.hip={}"])
    >>> st = simulate_stats(cfg, 5, rng=1)
    >>> st.mean.shape, st.sscp.shape, bool(np.all(st.n <= st.size))
    ((3, 4, 5), (3, 4, 4, 5), True)
    """
    ss = _seed_sequence(rng)
    design = design_of(cfg)
    size = draw_arm_sizes(design, cfg["trial"], reps, rng=_child(ss, ExactStream.SIZES))
    g = _child(ss, ExactStream.STATS)
    mu, cov = arm_law(cfg, design)
    k_arms, dim = mu.shape
    n = np.empty((k_arms, reps))
    mean = np.empty((k_arms, dim, reps))
    sscp = np.empty((k_arms, dim, dim, reps))
    for a, arm in enumerate(design.arms):
        n[a] = size[a] if arm.dropout <= 0 else g.binomial(size[a], 1.0 - arm.dropout)
        chol = _factor(cov[a])
        z = g.standard_normal((dim, reps)) / np.sqrt(np.maximum(n[a], 1.0))
        mean[a] = mu[a][:, None] + chol @ z
        sscp[a] = draw_wishart(chol, np.maximum(n[a] - 1.0, 0.0), rng=g)
    return DesignStats(design, size.astype(float), n, mean, sscp)


def exact_results(stats: DesignStats, endpoint: str, method: str, alpha: float) -> list[Replicates]:
    """One :class:`Replicates` per comparison from drawn statistics (as the per-man path's).

    Examples
    --------
    >>> from vtrial.config import load_config
    >>> cfg = load_config(overrides=["trial.arms=[{name: p}, {name: a}, {name: b}]", "trial.block_sizes=[6]"])
    >>> r = exact_results(simulate_stats(cfg, 3, rng=1), "spine", "ancova", 0.05)
    >>> len(r), r[0].df.tolist()
    (2, [128.0, 128.0, 128.0])
    """
    d = stats.design
    b = 2 * d.endpoints.index(endpoint)
    y = b + 1
    pairs, ns, m, s = list(d.comparisons), stats.n, stats.mean, stats.sscp
    if method == "student_t":
        return student_sums(ns, m[:, y], s[:, y, y], pairs, alpha)
    if method == "welch_t":
        return welch_sums(ns, m[:, y], s[:, y, y], pairs, alpha)
    if method == "ancova":
        return ancova_sums(ns, m[:, b], m[:, y], s[:, b, b], s[:, b, y], s[:, y, y], pairs, alpha)
    raise ValueError(f"method {method!r} has no exact shortcut (allowed: {', '.join(engine.EXACT_METHODS)})")
