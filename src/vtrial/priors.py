"""Design priors for the true anastrozole-minus-placebo difference and the nuisance SD.

A design prior states what we believe about the *true* difference in mean
12-month % change of PA spine BMD (percentage points, anastrozole minus
placebo) before the new trial; assurance (:mod:`vtrial.assurance`) is the
power averaged over it. Each distribution is a frozen dataclass with
``sample(size, *, rng)``, ``ppf``, ``cdf``, ``pdf`` (not for draws), ``mean``,
``median``, ``prob_negative`` and ``prob_positive``:

========================  =============================================
``Normal``                ``N(mean, sd^2)``
``TruncatedNormal``       ``N(mean, sd^2)`` restricted to ``[lower, upper]``
``StudentT``              ``mean + scale * t_df``
``Mixture``               two normal components with weights summing to 1
``Draws``                 the empirical law of draws read from a CSV file
========================  =============================================

``selection_adjusted`` in a config builds a :class:`Normal` centred at the
winner's-curse-adjusted estimate (:mod:`vtrial.selection`). The optional
prior on ``effects.sd_pct_change`` is :class:`ScaledInvChi2`: ``sigma^2 =
df * value^2 / chi2_df``, the law of a sample variance's uncertainty about
``sigma^2`` (the posterior under the reference prior) from a point SD on
``df`` degrees of freedom.

The documented default (:func:`default_prior`, used when a config has no
``prior`` section) is normal with mean -2.46 and SD 0.7380, the standard
error implied by the published two-sided P = 0.0014 on 67 df; the
derivation is in ``docs/assurance.md``.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import special

from vtrial.errors import InputError


class _Prior:
    """Shared summaries of a one-dimensional prior (subclasses define ``cdf``/``ppf``)."""

    @property
    def median(self) -> float:
        return float(self.ppf(0.5))

    def prob_negative(self) -> float:
        """Prior probability that the true difference is below zero (anastrozole harms bone)."""
        return float(self.cdf(0.0) - self.prob_zero())

    def prob_positive(self) -> float:
        """Prior probability that the true difference is above zero."""
        return float(1.0 - self.cdf(0.0))

    def prob_zero(self) -> float:
        """Prior probability of exactly zero (nonzero only for :class:`Draws`)."""
        return 0.0

    def direction(self) -> int:
        """Sign of the prior median (-1 or +1): the direction the prior favours.

        Raises :class:`InputError` when the median is exactly zero (no favoured side).
        """
        m = self.median
        if m == 0:
            raise InputError("prior.difference: the prior median is 0, so it favours no direction")
        return -1 if m < 0 else 1


@dataclass(frozen=True)
class Normal(_Prior):
    """Normal prior ``N(mean, sd^2)`` on the true difference (percentage points).

    Examples
    --------
    >>> p = Normal(-2.46, 0.738)
    >>> round(p.prob_negative(), 5), p.direction()
    (0.99957, -1)
    """

    mean: float
    sd: float

    def sample(self, size, *, rng: np.random.Generator) -> np.ndarray:
        return rng.normal(self.mean, self.sd, size)

    def ppf(self, q):
        return self.mean + self.sd * special.ndtri(q)

    def cdf(self, x):
        return special.ndtr((np.asarray(x, dtype=float) - self.mean) / self.sd)

    def pdf(self, x):
        from scipy import stats  # lazily, as in the other priors: 0.5 s to import, for plots only

        return stats.norm.pdf(x, self.mean, self.sd)


@dataclass(frozen=True)
class TruncatedNormal(_Prior):
    """``N(mean, sd^2)`` restricted to ``[lower, upper]`` (either may be infinite).

    Examples
    --------
    >>> p = TruncatedNormal(-2.46, 0.738, -math.inf, 0.0)
    >>> p.prob_positive(), round(p.mean, 4)
    (0.0, -2.4611)
    """

    loc: float
    sd: float
    lower: float
    upper: float

    @property
    def _dist(self):
        from scipy import stats  # lazily: only this prior and the densities need scipy.stats

        a, b = (self.lower - self.loc) / self.sd, (self.upper - self.loc) / self.sd
        return stats.truncnorm(a, b, loc=self.loc, scale=self.sd)

    @property
    def mean(self) -> float:
        return float(self._dist.mean())

    def sample(self, size, *, rng: np.random.Generator) -> np.ndarray:
        return self._dist.ppf(rng.random(size))

    def ppf(self, q):
        return self._dist.ppf(q)

    def cdf(self, x):
        return self._dist.cdf(x)

    def pdf(self, x):
        return self._dist.pdf(x)


@dataclass(frozen=True)
class StudentT(_Prior):
    """``loc + scale * T`` with ``T`` Student t on ``df`` degrees of freedom.

    Examples
    --------
    >>> p = StudentT(-2.46, 0.738, 5.0)
    >>> round(p.prob_negative(), 4)
    0.9896
    """

    loc: float
    scale: float
    df: float

    @property
    def mean(self) -> float:
        return self.loc if self.df > 1 else float("nan")

    def sample(self, size, *, rng: np.random.Generator) -> np.ndarray:
        return self.loc + self.scale * rng.standard_t(self.df, size)

    def ppf(self, q):
        return self.loc + self.scale * special.stdtrit(self.df, q)

    def cdf(self, x):
        return special.stdtr(self.df, (np.asarray(x, dtype=float) - self.loc) / self.scale)

    def pdf(self, x):
        from scipy import stats  # lazily, as in the other priors

        return stats.t.pdf(x, self.df, self.loc, self.scale)


@dataclass(frozen=True)
class Mixture(_Prior):
    """Two-component normal mixture: weights ``(w, 1 - w)``, means and SDs.

    Examples
    --------
    >>> p = Mixture((0.8, 0.2), (-2.46, 0.0), (0.738, 0.5))
    >>> round(p.mean, 3), round(p.prob_negative(), 4)
    (-1.968, 0.8997)
    """

    weights: tuple[float, float]
    means: tuple[float, float]
    sds: tuple[float, float]

    @property
    def components(self) -> list[tuple[float, Normal]]:
        return [(w, Normal(m, s)) for w, m, s in zip(self.weights, self.means, self.sds, strict=True)]

    @property
    def mean(self) -> float:
        return float(sum(w * c.mean for w, c in self.components))

    def sample(self, size, *, rng: np.random.Generator) -> np.ndarray:
        first = rng.random(size) < self.weights[0]
        z = rng.standard_normal(size)
        return np.where(first, self.means[0] + self.sds[0] * z, self.means[1] + self.sds[1] * z)

    def cdf(self, x):
        return sum(w * c.cdf(x) for w, c in self.components)

    def pdf(self, x):
        return sum(w * c.pdf(x) for w, c in self.components)

    def ppf(self, q):
        # Vectorised bisection between the components' own quantiles, which bracket
        # the mixture's; 80 halvings reach double precision.
        q = np.asarray(q, dtype=float)
        qs = [c.ppf(q) for _, c in self.components]
        lo, hi = np.minimum(*qs), np.maximum(*qs)
        for _ in range(80):
            mid = (lo + hi) / 2
            below = self.cdf(mid) < q
            lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
        out = (lo + hi) / 2
        return float(out) if out.ndim == 0 else out


@dataclass(frozen=True)
class Draws(_Prior):
    """The empirical law of given draws (e.g. a posterior sample), percentage points.

    ``sample`` resamples them with replacement; ``ppf`` interpolates linearly
    between order statistics (``numpy.quantile``); ``cdf`` is the empirical CDF.
    An empirical law has no density, so there is no ``pdf``.

    Examples
    --------
    >>> p = Draws((-3.0, -2.0, -1.0, 0.0))
    >>> p.mean, p.prob_negative(), p.prob_zero(), p.direction()
    (-1.5, 0.75, 0.25, -1)
    """

    values: tuple[float, ...]

    @property
    def array(self) -> np.ndarray:
        return np.asarray(self.values, dtype=float)

    @property
    def mean(self) -> float:
        return float(self.array.mean())

    def sample(self, size, *, rng: np.random.Generator) -> np.ndarray:
        return rng.choice(self.array, size)

    def ppf(self, q):
        return np.quantile(self.array, q)

    def cdf(self, x):
        v = np.sort(self.array)
        return np.searchsorted(v, x, side="right") / len(v)

    def prob_zero(self) -> float:
        return float(np.mean(self.array == 0))


@dataclass(frozen=True)
class ScaledInvChi2:
    """Prior on the SD of the 12-month % change: ``sigma^2 = df * value^2 / chi2_df``.

    Examples
    --------
    >>> p = ScaledInvChi2(3.0, 67.0)
    >>> round(p.median, 4)
    3.015
    """

    value: float
    df: float

    def sample(self, size, *, rng: np.random.Generator, lower: float = 0.0) -> np.ndarray:
        """Draws of the SD (percentage points), conditional on SD > ``lower`` (inverse CDF)."""
        below = float(self.cdf(lower)) if lower > 0 else 0.0
        return self.ppf(below + (1 - below) * rng.random(size))

    def ppf(self, q):
        """Quantiles of the SD: ``P(sigma <= ppf(q)) = q``."""
        return self.value * np.sqrt(self.df / special.chdtri(self.df, q))

    def cdf(self, x):
        x = np.asarray(x, dtype=float)
        return special.chdtrc(self.df, self.df * self.value**2 / x**2)

    @property
    def median(self) -> float:
        return float(self.ppf(0.5))


Prior = Normal | TruncatedNormal | StudentT | Mixture | Draws


@dataclass(frozen=True)
class DesignPrior:
    """The design prior of a study: true difference and, optionally, the nuisance SD.

    ``sd_pct_change`` None keeps ``effects.sd_pct_change`` of the config fixed.
    """

    difference: Prior
    sd_pct_change: ScaledInvChi2 | None = None

    def sample(
        self, size, *, rng: np.random.Generator, sd_floor: float = 0.0
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Per-replicate true differences and SDs (None if the SD is fixed).

        ``sd_floor``: SDs are drawn conditionally above it; the trial model needs
        ``sqrt(2) * measurement.bmd_cv_pct``.

        Examples
        --------
        >>> d, s = default_prior().sample(3, rng=np.random.default_rng(1))
        >>> d.shape, s
        ((3,), None)
        """
        d = self.difference.sample(size, rng=rng)
        s = None if self.sd_pct_change is None else self.sd_pct_change.sample(size, rng=rng, lower=sd_floor)
        return d, s


# --------------------------------------------------------------------------- default


def published_estimate() -> tuple[float, float, int]:
    """The 2009 difference (pp), its two-sided P value and the t-test df (completers - 2)."""
    from vtrial import reference

    ref = reference.published()
    t = ref["primary_trial"]
    return (
        float(ref["derived"]["mean_pct_change_12m"]["difference"]),
        float(t["outcomes"]["pa_spine_bmd_g_cm2"]["p_between_groups"]),
        int(t["completed_total"]) - 2,
    )


def se_from_p(estimate: float, p_value: float, df: float) -> float:
    """Standard error implied by a two-sided t-test P value: ``|estimate| / t_{1 - P/2; df}``.

    Examples
    --------
    >>> round(se_from_p(-2.46, 0.0014, 67), 4)
    0.738
    """
    return abs(estimate) / float(special.stdtrit(df, 1 - p_value / 2))


def default_prior() -> DesignPrior:
    """Normal prior at the 2009 estimate with its implied SE; the SD is fixed.

    Examples
    --------
    >>> p = default_prior().difference
    >>> p.mean, round(p.sd, 6)
    (-2.46, 0.737969)
    """
    est, p, df = published_estimate()
    return DesignPrior(Normal(est, se_from_p(est, p, df)))


def selection_adjusted(estimate: float, se: float, alpha: float = 0.05, spread: str = "se") -> Normal:
    """Normal prior centred at the selection-adjusted MLE of a significant estimate.

    ``spread="se"`` keeps the published SE; ``"conditional"`` uses the SD from the
    conditional (truncated) likelihood's observed information (see
    :func:`vtrial.selection.conditional_se`).

    Examples
    --------
    >>> p = selection_adjusted(-2.46, 0.738)
    >>> round(p.mean, 3), p.sd
    (-2.282, 0.738)
    """
    from vtrial import selection

    mle = selection.conditional_mle(estimate, se, alpha)
    sd = se if spread == "se" else selection.conditional_se(estimate, se, alpha)
    return Normal(mle, sd)


# --------------------------------------------------------------------------- parsing

_KINDS = ("normal", "truncated_normal", "t", "mixture", "draws", "selection_adjusted")


def _number(node: dict, key: str, where: str, *, positive=False, default=None, allow_inf=False) -> float:
    if key not in node:
        if default is not None:
            return float(default)
        raise InputError(f"config key '{where}.{key}' is missing (it is required)")
    v = node[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise InputError(f"config key '{where}.{key}': value {v!r} is not a number")
    v = float(v)
    if math.isnan(v) or (math.isinf(v) and not allow_inf):
        raise InputError(f"config key '{where}.{key}': value {v!r} is not allowed (need a finite number)")
    if positive and not v > 0:
        raise InputError(f"config key '{where}.{key}': value {v!r} is not allowed (need > 0)")
    return v


def _only(node: dict, allowed: tuple[str, ...], where: str) -> None:
    extra = sorted(set(node) - set(allowed))
    if extra:
        raise InputError(
            f"config key '{where}.{extra[0]}' is not known (allowed in {where}: {', '.join(allowed)})"
        )


def read_draws(path: str | Path, where: str = "prior.difference.file") -> Draws:
    """Read a one-column CSV of draws (an optional header line); :class:`InputError` if bad."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"config key '{where}': file '{path}' does not exist (expected a CSV of draws)")
    with path.open(newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.reader(fh) if any(c.strip() for c in r)]
    values = []
    for i, row in enumerate(rows, start=1):
        if len(row) != 1:
            raise InputError(f"config key '{where}': line {i} of '{path}' has {len(row)} columns (need 1)")
        try:
            v = float(row[0])
        except ValueError:
            if i == 1:
                continue  # header
            raise InputError(
                f"config key '{where}': line {i} of '{path}' is {row[0]!r}, not a number"
            ) from None
        if not math.isfinite(v):
            raise InputError(
                f"config key '{where}': line {i} of '{path}' is {row[0]!r} (need a finite number)"
            )
        values.append(v)
    if not values:
        raise InputError(f"config key '{where}': file '{path}' holds no draws (need one number per line)")
    return Draws(tuple(values))


def _difference(node, base_dir, where: str = "prior.difference") -> Prior:
    if not isinstance(node, dict):
        raise InputError(f"config key '{where}': value {node!r} is not a mapping with a 'distribution'")
    kind = node.get("distribution")
    if kind not in _KINDS:
        raise InputError(
            f"config key '{where}.distribution': value {kind!r} is not allowed (allowed: {', '.join(_KINDS)})"
        )
    if kind == "normal":
        _only(node, ("distribution", "mean", "sd"), where)
        return Normal(_number(node, "mean", where), _number(node, "sd", where, positive=True))
    if kind == "truncated_normal":
        _only(node, ("distribution", "mean", "sd", "lower", "upper"), where)
        lo = _number(node, "lower", where, default=-math.inf, allow_inf=True)
        hi = _number(node, "upper", where, default=math.inf, allow_inf=True)
        if not lo < hi:
            raise InputError(f"config key '{where}.upper': value {hi} must exceed lower = {lo}")
        p = TruncatedNormal(_number(node, "mean", where), _number(node, "sd", where, positive=True), lo, hi)
        if not p._dist.cdf(hi) - p._dist.cdf(lo) > 0 or not np.isfinite(p.mean):
            raise InputError(f"config key '{where}': [{lo}, {hi}] holds no mass of the normal (widen it)")
        return p
    if kind == "t":
        _only(node, ("distribution", "mean", "scale", "df"), where)
        return StudentT(
            _number(node, "mean", where),
            _number(node, "scale", where, positive=True),
            _number(node, "df", where, positive=True),
        )
    if kind == "mixture":
        _only(node, ("distribution", "components"), where)
        comps = node.get("components")
        if not isinstance(comps, list) or len(comps) != 2:
            raise InputError(
                f"config key '{where}.components': value {comps!r} is not a list of two components"
            )
        ws, ms, ss = [], [], []
        for i, c in enumerate(comps):
            w = f"{where}.components[{i}]"
            if not isinstance(c, dict):
                raise InputError(f"config key '{w}': value {c!r} is not a mapping of weight, mean, sd")
            _only(c, ("weight", "mean", "sd"), w)
            wt = _number(c, "weight", w)
            if not 0 <= wt <= 1:
                raise InputError(f"config key '{w}.weight': value {wt} is out of range (allowed: 0 to 1)")
            ws.append(wt)
            ms.append(_number(c, "mean", w))
            ss.append(_number(c, "sd", w, positive=True))
        if abs(sum(ws) - 1) > 1e-9:
            raise InputError(f"config key '{where}.components': weights {ws} must sum to 1")
        return Mixture(tuple(ws), tuple(ms), tuple(ss))
    if kind == "draws":
        _only(node, ("distribution", "file"), where)
        f = node.get("file")
        if not isinstance(f, str) or not f:
            raise InputError(f"config key '{where}.file': value {f!r} is not a file name")
        path = Path(f)
        if base_dir is not None and not path.is_absolute():
            path = Path(base_dir) / path
        return read_draws(path, f"{where}.file")
    _only(node, ("distribution", "estimate", "se", "alpha", "spread"), where)
    est0, p0, df0 = published_estimate()
    est = _number(node, "estimate", where, default=est0)
    se = _number(node, "se", where, positive=True, default=se_from_p(est0, p0, df0))
    alpha = _number(node, "alpha", where, default=0.05)
    if not 0 < alpha < 1:
        raise InputError(
            f"config key '{where}.alpha': value {alpha} is out of range (allowed: 0 < alpha < 1)"
        )
    spread = node.get("spread", "se")
    if spread not in ("se", "conditional"):
        raise InputError(
            f"config key '{where}.spread': value {spread!r} is not allowed (allowed: se, conditional)"
        )
    from vtrial import selection

    if abs(est) / se <= selection.critical(alpha):
        raise InputError(
            f"config key '{where}.estimate': value {est} is not significant at alpha {alpha} "
            f"(|estimate|/se = {abs(est) / se:.3f}); no selection to adjust for"
        )
    return selection_adjusted(est, se, alpha, spread)


def parse_prior(section, *, base_dir=None) -> DesignPrior:
    """Validate a config ``prior`` section and build the :class:`DesignPrior`.

    Parameters
    ----------
    section : dict or None
        ``{difference: {distribution: ..., ...}, sd_pct_change: {distribution:
        scaled_inv_chi2, value: ..., df: ...}}``; None or an empty mapping gives
        :func:`default_prior`; a missing ``difference`` keeps the default one.
    base_dir : str or Path, optional
        Folder against which a relative draws file name is resolved (the
        config file's folder).

    Returns
    -------
    DesignPrior

    Raises
    ------
    InputError
        One line naming the key (e.g. ``prior.difference.sd``), the value and what is allowed.

    Examples
    --------
    >>> p = parse_prior({"difference": {"distribution": "t", "mean": -2.46, "scale": 0.74, "df": 5},
    ...                  "sd_pct_change": {"distribution": "scaled_inv_chi2", "value": 3.0, "df": 67}})
    >>> p.difference, p.sd_pct_change
    (StudentT(loc=-2.46, scale=0.74, df=5.0), ScaledInvChi2(value=3.0, df=67.0))
    >>> parse_prior({"difference": {"distribution": "normal", "mean": -2.46, "sd": 0}})
    Traceback (most recent call last):
    ...
    vtrial.errors.InputError: config key 'prior.difference.sd': value 0.0 is not allowed (need > 0)
    """
    if section is None:
        return default_prior()
    if not isinstance(section, dict):
        raise InputError(
            f"config key 'prior': value {section!r} is not a mapping (keys: difference, sd_pct_change)"
        )
    _only(section, ("difference", "sd_pct_change"), "prior")
    diff = default_prior().difference
    if "difference" in section:
        diff = _difference(section["difference"], base_dir)
    sd_prior = None
    node = section.get("sd_pct_change")
    if node is not None:
        where = "prior.sd_pct_change"
        if not isinstance(node, dict):
            raise InputError(f"config key '{where}': value {node!r} is not a mapping with a 'distribution'")
        if node.get("distribution") != "scaled_inv_chi2":
            raise InputError(
                f"config key '{where}.distribution': value {node.get('distribution')!r} is not allowed "
                "(allowed: scaled_inv_chi2)"
            )
        _only(node, ("distribution", "value", "df"), where)
        sd_prior = ScaledInvChi2(
            _number(node, "value", where, positive=True), _number(node, "df", where, positive=True)
        )
    return DesignPrior(diff, sd_prior)
