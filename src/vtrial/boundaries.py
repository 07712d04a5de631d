"""Group-sequential boundaries: alpha and beta spending, power, sample size.

A design has ``K`` looks at information fractions ``t_1 < ... < t_K = 1``.
At look ``k`` the trial stops for efficacy when ``Z_k >= c_k`` and, when a
futility rule is set, for futility when ``Z_k <= f_k`` (one-sided, ``Z > 0``
favours the new treatment; rpact's ``criticalValues`` / ``futilityBounds``).
The two-sided symmetric option rejects when ``|Z_k| >= c_k``. All
probabilities come from the recursive integration of Armitage, McPherson &
Rowe (1969) in :mod:`vtrial.sequential_probability`.

Efficacy bounds
    *Alpha spending* (Lan & DeMets 1983): cumulative type I error
    ``alpha(t_k)`` is spent by look ``k``; ``c_k`` solves
    ``P_0(continue to k, Z_k >= c_k) = alpha(t_k) - alpha(t_{k-1})``
    (for two-sided designs the two tails together). Families, with ``a`` the
    total alpha and ``s`` the number of sides (as rpact):

    - ``as_obrien_fleming``: ``2 s (1 - Phi(z_{1 - a / (2 s)} / sqrt(t)))``
    - ``as_pocock``: ``a log(1 + (e - 1) t)``
    - ``as_hsd`` (Hwang, Shih & DeCani 1990):
      ``a (1 - exp(-gamma t)) / (1 - exp(-gamma))``, ``a t`` when ``gamma = 0``
    - ``as_kim_demets`` (Kim & DeMets 1987): ``a t**gamma`` (``gamma = rho``)

    *Classical designs* (Wang-Tsiatis family, Jennison & Turnbull 2000, ch. 2):
    ``c_k = C t_k**(Delta - 1/2)`` with ``Delta = 0`` (``obrien_fleming``) or
    ``1/2`` (``pocock``) and ``C`` solved so that the total type I error is ``a``.

Futility bounds
    *Beta spending*: the same families applied to ``beta`` (one-sided form of
    ``as_obrien_fleming``: ``2 (1 - Phi(z_{1 - beta/2} / sqrt(t)))``). For a
    drift ``delta`` (mean of ``Z_K``), ``f_k`` solves
    ``P_delta(continue to k, Z_k <= f_k) = beta(t_k) - beta(t_{k-1})``, and
    ``delta`` is solved so that ``f_K = c_K``; then the power at ``delta`` is
    exactly ``1 - beta``. *Non-binding* futility: the efficacy bounds are those
    of the design without futility (type I error is controlled whether or not
    the trial stops for futility). *Binding*: ``c_k`` is computed on the paths
    that also passed ``f_1 .. f_{k-1}``, so the efficacy bounds depend on
    ``delta`` and are solved jointly.

Sample size
    For a drift ``delta`` the maximum information is
    ``I_max = (delta / theta)**2``; the inflation factor is
    ``delta**2 / (z_{1 - a/s} + z_{1 - beta})**2``, the ratio of maximum to
    fixed-design information. For two arms of means with allocation ratio
    ``r = n1 / n2`` and common SD ``sigma``, ``theta = Delta sqrt(r N) /
    ((1 + r) sigma) / sqrt(N)``, and the maximum total ``N`` is the fixed
    ``N`` times the inflation factor, where the fixed ``N`` comes from the
    normal approximation or, by default as in rpact, from the noncentral t
    (``normal_approximation=False``).

References
----------
Armitage P, McPherson CK, Rowe BC (1969). J R Stat Soc A 132:235-244.
Lan KKG, DeMets DL (1983). Discrete sequential boundaries for clinical trials.
Biometrika 70:659-663.
Hwang IK, Shih WJ, DeCani JS (1990). Group sequential designs using a family of
type I error probability spending functions. Stat Med 9:1439-1445.
Kim K, DeMets DL (1987). Design and analysis of group sequential tests based on
the type I error spending rate function. Biometrika 74:149-154.
Jennison C, Turnbull BW (2000). Group Sequential Methods with Applications to
Clinical Trials. Chapman & Hall/CRC, chapters 2, 7 and 19.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from scipy import optimize, stats
from scipy.special import ndtr, ndtri

from vtrial import sequential_probability as sp
from vtrial.errors import InputError

SPENDING = ("as_obrien_fleming", "as_pocock", "as_hsd", "as_kim_demets")
CLASSICAL = {"obrien_fleming": 0.0, "pocock": 0.5}
NEEDS_GAMMA = ("as_hsd", "as_kim_demets")
#: Largest |z| searched for a bound; 1 - Phi(37) is below the smallest normal double.
_Z_MAX = 37.0
_XTOL = 1e-13


def spending(family: str, total: float, t, gamma: float | None = None, sided: int = 1) -> np.ndarray:
    """Cumulative error spent by information fraction ``t``.

    Parameters
    ----------
    family : str
        One of :data:`SPENDING`.
    total : float
        Total error (alpha, or beta for futility) spent at ``t = 1``.
    t : array_like
        Information fractions in ``[0, 1]``.
    gamma : float, optional
        ``gamma`` of ``as_hsd``, ``rho`` of ``as_kim_demets``.
    sided : int
        1 or 2; only changes ``as_obrien_fleming`` (rpact's two-sided form).

    Returns
    -------
    numpy.ndarray
        Cumulative spending, equal to ``total`` at ``t = 1``.

    Examples
    --------
    >>> spending("as_obrien_fleming", 0.025, [0.5, 1.0]).round(6)
    array([0.001525, 0.025   ])
    >>> spending("as_hsd", 0.025, [0.5], gamma=0.0).round(6)
    array([0.0125])
    """
    t = np.asarray(t, dtype=float)
    if family == "as_obrien_fleming":
        with np.errstate(divide="ignore"):
            return 2.0 * sided * ndtr(-ndtri(1.0 - total / (2.0 * sided)) / np.sqrt(t))
    if family == "as_pocock":
        return total * np.log1p((np.e - 1.0) * t)
    if family == "as_kim_demets":
        return total * t**gamma
    if family == "as_hsd":
        if gamma == 0:
            return total * t
        return total * np.expm1(-gamma * t) / np.expm1(-gamma)
    raise InputError(f"spending family {family!r} is not one of {', '.join(SPENDING)}")


@dataclass(frozen=True)
class Design:
    """Boundaries of a group-sequential design (z scale, one row per look).

    Attributes
    ----------
    information_fractions : numpy.ndarray
        ``t_k = I_k / I_K``, which sets the correlation of the z statistics.
    spending_fractions : numpy.ndarray
        Fractions at which the spending functions were evaluated (equal to
        ``information_fractions`` except when boundaries are recomputed at
        observed information, see :func:`observed_design`).
    alpha : float
        Total type I error (one-sided, or two-sided when ``sided == 2``).
    sided : int
        1 or 2.
    efficacy, efficacy_gamma
        Efficacy rule (a :data:`SPENDING` family or a :data:`CLASSICAL` design).
    z_efficacy : numpy.ndarray
        Efficacy bounds ``c_k``.
    futility, futility_gamma, binding
        Beta-spending family (``None`` when there is no futility rule), its
        parameter and whether it is binding.
    z_futility : numpy.ndarray or None
        Futility bounds ``f_k``; ``f_K = c_K``.
    beta : float
        Type II error targeted at ``drift`` (1 - power).
    drift : float
        Mean of ``Z_K`` at which the power is ``1 - beta`` with all bounds.
    """

    information_fractions: np.ndarray
    spending_fractions: np.ndarray
    alpha: float
    sided: int
    efficacy: str
    efficacy_gamma: float | None
    z_efficacy: np.ndarray
    futility: str | None
    futility_gamma: float | None
    binding: bool
    z_futility: np.ndarray | None
    beta: float
    drift: float

    def lower(self, for_type_one_error: bool = False) -> np.ndarray:
        """Lower bounds of the continuation region at each look.

        ``for_type_one_error=True`` drops non-binding futility bounds, as they
        do not count when the type I error is computed.
        """
        if self.sided == 2:
            return -self.z_efficacy
        if self.z_futility is None or (for_type_one_error and not self.binding):
            return np.full(self.z_efficacy.size, -np.inf)
        return self.z_futility


def _solve_efficacy(state: sp.Density, t: float, target: float, sided: int, lower: float) -> float:
    """``c`` at one look such that the H0 probability of rejecting there is ``target``."""
    if target <= 0.0:
        return np.inf

    def excess(c: float) -> float:
        up, low = sp.exit_probabilities(state, t, 0.0, -c if sided == 2 else lower, c)
        return up + (low if sided == 2 else 0.0) - target

    low_end = 0.0 if sided == 2 else -_Z_MAX
    if excess(_Z_MAX) >= 0.0:
        return np.inf
    # More alpha to spend than H0 paths left (binding futility at a drift far too large,
    # met while searching the drift): the bound saturates; group_sequential_design checks
    # that the final design spends its alpha.
    if excess(low_end) <= 0.0:
        return low_end
    return optimize.brentq(excess, low_end, _Z_MAX, xtol=_XTOL)


def _solve_futility(state: sp.Density, t: float, drift: float, upper: float, target: float) -> float:
    """``f`` at one look such that the probability of stopping for futility there is ``target``."""
    centre = drift * np.sqrt(t)
    lo, hi = centre - _Z_MAX, centre + _Z_MAX

    def excess(f: float) -> float:
        return sp.exit_probabilities(state, t, drift, f, upper)[1] - target

    if target <= 0.0:
        return -np.inf
    # More beta to spend than paths left (drift far too large): the bound saturates,
    # which keeps f_K - c_K monotone for the outer search on the drift.
    if excess(hi) <= 0.0:
        return hi
    return optimize.brentq(excess, lo, hi, xtol=_XTOL)


def _beta_spending_bounds(t, spent_beta, drift, efficacy=None, spent_alpha=None):
    """Efficacy and futility bounds at a given drift (one pass over the looks).

    With ``efficacy`` given (non-binding futility) only the futility bounds are
    solved; otherwise (binding) each efficacy bound is solved under H0 on the
    paths that passed the earlier futility bounds, from ``spent_alpha``.
    """
    c = np.empty(t.size) if efficacy is None else efficacy.copy()
    f = np.empty(t.size)
    h0, h1 = sp.start(), sp.start()
    alpha_steps = None if spent_alpha is None else np.diff(spent_alpha, prepend=0.0)
    for k, target in enumerate(np.diff(spent_beta, prepend=0.0)):
        if efficacy is None:
            c[k] = _solve_efficacy(h0, t[k], alpha_steps[k], 1, -np.inf)
        f[k] = _solve_futility(h1, t[k], drift, c[k], target)
        h1 = sp.advance(h1, t[k], drift, f[k], c[k])
        if efficacy is None:
            h0 = sp.advance(h0, t[k], 0.0, f[k], c[k])
    return c, f


def _efficacy_bounds(t, spent_alpha, sided, r) -> np.ndarray:
    """Alpha-spending efficacy bounds with no futility rule."""
    c = np.empty(t.size)
    state = sp.start()
    for k, target in enumerate(np.diff(spent_alpha, prepend=0.0)):
        c[k] = _solve_efficacy(state, t[k], target, sided, -np.inf)
        state = sp.advance(state, t[k], 0.0, -c[k] if sided == 2 else -np.inf, c[k], r)
    return c


def _classical_bounds(t, alpha, sided, delta_wt) -> np.ndarray:
    """Wang-Tsiatis bounds ``C t**(Delta - 1/2)`` with total type I error ``alpha``."""
    shape = t ** (delta_wt - 0.5)

    def excess(scale: float) -> float:
        c = scale * shape
        up, low = sp.exit_table(t, 0.0, -c if sided == 2 else -np.inf, c)
        return up.sum() + low.sum() - alpha

    return optimize.brentq(excess, 0.5, 10.0, xtol=_XTOL) * shape


def exit_probabilities(design: Design, drift: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-look probabilities of stopping for efficacy and for futility at a drift.

    Futility bounds (binding or not) count as stopping, as in rpact's power
    and expected sample size. For two-sided designs the efficacy probability
    is that of crossing the upper bound and the "futility" one that of
    crossing the lower bound.

    Parameters
    ----------
    design : Design
    drift : float
        Mean of ``Z_K`` (``theta sqrt(I_max)``).

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)

    Examples
    --------
    >>> d = group_sequential_design([0.5, 1.0])
    >>> up, low = exit_probabilities(d, 0.0)
    >>> round(float(up.sum()), 10)
    0.025
    """
    return sp.exit_table(design.information_fractions, drift, design.lower(), design.z_efficacy)


def _drift_for_power(design: Design) -> float:
    """Drift at which the probability of crossing an upper bound is ``1 - beta``."""

    def excess(drift: float) -> float:
        return exit_probabilities(design, drift)[0].sum() - (1.0 - design.beta)

    return optimize.brentq(excess, 0.0, 20.0, xtol=_XTOL)


def _check_fractions(t) -> np.ndarray:
    t = np.asarray(t, dtype=float)
    if t.ndim != 1 or t.size == 0 or np.any(np.diff(t) <= 0) or t[0] <= 0 or t[-1] > 1:
        raise InputError(
            f"sequential.information_fractions: {t.tolist()} must be strictly increasing in (0, 1]"
        )
    return t


def group_sequential_design(
    information_fractions,
    alpha: float = 0.025,
    efficacy: str = "as_obrien_fleming",
    gamma: float | None = None,
    sided: int = 1,
    futility: str | None = None,
    futility_gamma: float | None = None,
    beta: float = 0.2,
    binding: bool = False,
    spending_fractions=None,
) -> Design:
    """Efficacy (and futility) bounds of a group-sequential design.

    Parameters
    ----------
    information_fractions : array_like
        ``t_1 < ... < t_K``; the last is taken as full information (the
        fractions are divided by it).
    alpha : float
        Total type I error; one-sided unless ``sided == 2``.
    efficacy : str
        A :data:`SPENDING` family or a :data:`CLASSICAL` design.
    gamma : float, optional
        Parameter of ``as_hsd`` / ``as_kim_demets``.
    sided : int
        1 (one-sided) or 2 (two-sided symmetric, no futility rule).
    futility : str, optional
        Beta-spending family (a :data:`SPENDING` name) for futility bounds.
    futility_gamma : float, optional
        Its parameter.
    beta : float
        Type II error at the design drift (power target ``1 - beta``); also
        used without futility to report the drift for power ``1 - beta``.
    binding : bool
        Whether the futility bounds are binding.
    spending_fractions : array_like, optional
        Fractions at which to evaluate the spending functions (default
        ``information_fractions``); the last must be 1.

    Returns
    -------
    Design

    Examples
    --------
    rpact's ``getDesignGroupSequential(kMax = 3, alpha = 0.025, typeOfDesign = "OF")``:

    >>> d = group_sequential_design([1 / 3, 2 / 3, 1], efficacy="obrien_fleming")
    >>> d.z_efficacy.round(4)
    array([3.4711, 2.4544, 2.004 ])
    """
    t = _check_fractions(information_fractions)
    t = t / t[-1]
    s = t if spending_fractions is None else np.asarray(spending_fractions, dtype=float)
    if sided == 2 and futility is not None:
        raise InputError("sequential.futility: futility bounds are available for one-sided designs only")
    if efficacy in CLASSICAL:
        if futility is not None and binding:
            raise InputError("sequential.futility.binding: binding futility needs an alpha-spending efficacy rule")
        c = _classical_bounds(t, alpha, sided, CLASSICAL[efficacy])
    else:
        spent_alpha = spending(efficacy, alpha, s, gamma, sided)
        c = None if futility is not None and binding else _efficacy_bounds(t, spent_alpha, sided, sp.GRID_R)
    design = Design(t, s, alpha, sided, efficacy, gamma, c, futility, futility_gamma, binding, None, beta, np.nan)
    if futility is None:
        return replace(design, drift=_drift_for_power(design))
    spent_beta = spending(futility, beta, s, futility_gamma)

    def bounds(drift: float) -> tuple[np.ndarray, np.ndarray]:
        return _beta_spending_bounds(t, spent_beta, drift, c, None if c is not None else spent_alpha)

    def gap(drift: float) -> float:
        ce, fu = bounds(drift)
        return fu[-1] - ce[-1]

    drift = optimize.brentq(gap, 0.0, 4.0 * (ndtri(1 - alpha) + ndtri(1 - beta)), xtol=_XTOL)
    ce, fu = bounds(drift)
    fu[-1] = ce[-1]
    return replace(design, z_efficacy=ce, z_futility=fu, drift=drift)
