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

Also: bounds recomputed at observed information (:func:`observed_design`),
conditional power and conditional-power futility bounds
(:func:`conditional_power`, :func:`conditional_power_futility`) and the
stage-wise ordering p-value, median-unbiased estimate and confidence interval
at stopping (:func:`stagewise_estimate`). Derivations, rpact conventions and
the measured agreement with rpact are in ``docs/sequential.md``.

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


def _solve_efficacy(state: sp.Density, t: float, target: float, sided: int) -> float:
    """``c`` at one look such that the H0 probability of rejecting there is ``target``."""
    if target <= 0.0:
        return np.inf

    def excess(c: float) -> float:
        up, low = sp.exit_probabilities(state, t, 0.0, -c if sided == 2 else -np.inf, c)
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
            c[k] = _solve_efficacy(h0, t[k], alpha_steps[k], 1)
        f[k] = _solve_futility(h1, t[k], drift, c[k], target)
        h1 = sp.advance(h1, t[k], drift, f[k], c[k])
        if efficacy is None:
            h0 = sp.advance(h0, t[k], 0.0, f[k], c[k])
    return c, f


def _efficacy_bounds(t, spent_alpha, sided) -> np.ndarray:
    """Alpha-spending efficacy bounds with no futility rule."""
    c = np.empty(t.size)
    state = sp.start()
    for k, target in enumerate(np.diff(spent_alpha, prepend=0.0)):
        c[k] = _solve_efficacy(state, t[k], target, sided)
        state = sp.advance(state, t[k], 0.0, -c[k] if sided == 2 else -np.inf, c[k])
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
            raise InputError(
                "sequential.futility.binding: binding futility needs an alpha-spending efficacy rule"
            )
        c = _classical_bounds(t, alpha, sided, CLASSICAL[efficacy])
    else:
        spent_alpha = spending(efficacy, alpha, s, gamma, sided)
        c = None if futility is not None and binding else _efficacy_bounds(t, spent_alpha, sided)
    design = Design(
        t, s, alpha, sided, efficacy, gamma, c, futility, futility_gamma, binding, None, beta, np.nan
    )
    if futility is None:
        return replace(design, drift=float(_drift_for_power(design)))
    spent_beta = spending(futility, beta, s, futility_gamma)

    def bounds(drift: float) -> tuple[np.ndarray, np.ndarray]:
        return _beta_spending_bounds(t, spent_beta, drift, c, None if c is not None else spent_alpha)

    def gap(drift: float) -> float:
        ce, fu = bounds(drift)
        return fu[-1] - ce[-1]

    drift = optimize.brentq(gap, 0.0, 4.0 * (ndtri(1 - alpha) + ndtri(1 - beta)), xtol=_XTOL)
    ce, fu = bounds(drift)
    fu[-1] = ce[-1]
    design = replace(design, z_efficacy=ce, z_futility=fu, drift=float(drift))
    spent = np.cumsum(type_one_error(design))
    if np.abs(spent - spending(efficacy, alpha, s, gamma)).max() > 1e-8:
        raise InputError(
            f"sequential.futility: binding {futility} futility leaves too few paths to spend alpha "
            f"{alpha} as {efficacy}; use a less aggressive futility rule"
        )
    return design


def type_one_error(design: Design) -> np.ndarray:
    """Stage-wise type I error: H0 probability of rejecting first at each look.

    Non-binding futility bounds are ignored, binding ones count; two-sided
    designs add both tails.

    Examples
    --------
    >>> d = group_sequential_design([0.5, 1.0], efficacy="pocock")
    >>> float(type_one_error(d).sum().round(10))
    0.025
    """
    up, low = sp.exit_table(
        design.information_fractions, 0.0, design.lower(for_type_one_error=True), design.z_efficacy
    )
    return up + low if design.sided == 2 else up


def fixed_drift(alpha: float, beta: float, sided: int = 1) -> float:
    """Drift of the single-look design with power ``1 - beta``: ``z_{1-alpha/sided} + z_{1-beta}``."""
    return float(ndtri(1.0 - alpha / sided) + ndtri(1.0 - beta))


def inflation_factor(design: Design) -> float:
    """Maximum over fixed-design information for the same power (rpact ``inflationFactor``).

    Examples
    --------
    >>> round(inflation_factor(group_sequential_design([1 / 3, 2 / 3, 1], efficacy="pocock")), 4)
    1.1664
    """
    return float((design.drift / fixed_drift(design.alpha, design.beta, design.sided)) ** 2)


def expected_fraction(design: Design, drift: float) -> float:
    """Expected information at stopping over the maximum information, at a drift.

    ``E[I] / I_max = 1 - sum_{k<K} P(stop at k) (1 - t_k)``, counting efficacy
    and futility stops.
    """
    up, low = exit_probabilities(design, drift)
    t = design.information_fractions
    return float(1.0 - np.sum((up + low)[:-1] * (1.0 - t[:-1])))


@dataclass(frozen=True)
class SampleSize:
    """Sample size of a two-arm comparison of means (total over both arms).

    Attributes
    ----------
    n_fixed : float
        Total of the single-look design with the same alpha and power.
    n_max : float
        Maximum total of the group-sequential design (``n_fixed`` times the inflation factor).
    expected_n_h0, expected_n_h01, expected_n_h1 : float
        Expected total at stopping under no difference, half the difference and the difference.
    per_look : numpy.ndarray
        Cumulative total at each look.
    """

    n_fixed: float
    n_max: float
    expected_n_h0: float
    expected_n_h01: float
    expected_n_h1: float
    per_look: np.ndarray


def _drift_per_sqrt_n(difference: float, sd: float, allocation_ratio: float) -> float:
    """``theta sqrt(I) / sqrt(N)``: the mean of Z per square root of the total N.

    With ``n1 = r N / (1 + r)`` and ``n2 = N / (1 + r)`` the standard error of
    the difference is ``sd (1 + r) / sqrt(r N)``.
    """
    return difference * np.sqrt(allocation_ratio) / ((1.0 + allocation_ratio) * sd)


def _fixed_n_t(difference, sd, alpha, beta, sided, allocation_ratio) -> float:
    """Total N of the fixed design from the noncentral t (equal SDs, df = N - 2)."""
    per_sqrt_n = _drift_per_sqrt_n(abs(difference), sd, allocation_ratio)

    def excess(n: float) -> float:
        df = n - 2.0
        return stats.nct.cdf(stats.t.ppf(1.0 - alpha / sided, df), df, per_sqrt_n * np.sqrt(n)) - beta

    n_normal = (fixed_drift(alpha, beta, sided) / per_sqrt_n) ** 2
    return optimize.brentq(excess, 2.001, 4.0 * n_normal + 20.0, xtol=1e-10)


def sample_size_means(
    design: Design,
    difference: float,
    sd: float,
    allocation_ratio: float = 1.0,
    normal_approximation: bool = False,
) -> SampleSize:
    """Maximum and expected total sample size for two means (rpact ``getSampleSizeMeans``).

    Parameters
    ----------
    design : Design
    difference : float
        Difference in means under the alternative (outcome units).
    sd : float
        Common standard deviation (outcome units).
    allocation_ratio : float
        ``n1 / n2``.
    normal_approximation : bool
        False (rpact's default): the fixed-design N solves the noncentral-t
        power equation with ``N - 2`` df, and the group-sequential N is that
        times the inflation factor. True: ``N_fixed = (1 + r)**2 / r
        (z_{1-alpha/s} + z_{1-beta})**2 sd**2 / difference**2``.

    Returns
    -------
    SampleSize

    Examples
    --------
    >>> d = group_sequential_design([0.5, 1.0])
    >>> round(sample_size_means(d, 2.46, 3.0, normal_approximation=True).n_max, 3)
    46.866
    """
    per_sqrt_n = _drift_per_sqrt_n(abs(difference), sd, allocation_ratio)
    if normal_approximation:
        n_fixed = (fixed_drift(design.alpha, design.beta, design.sided) / per_sqrt_n) ** 2
    else:
        n_fixed = _fixed_n_t(difference, sd, design.alpha, design.beta, design.sided, allocation_ratio)
    n_max = n_fixed * inflation_factor(design)
    return SampleSize(
        n_fixed=float(n_fixed),
        n_max=float(n_max),
        expected_n_h0=float(n_max * expected_fraction(design, 0.0)),
        expected_n_h01=float(n_max * expected_fraction(design, design.drift / 2.0)),
        expected_n_h1=float(n_max * expected_fraction(design, design.drift)),
        per_look=n_max * design.information_fractions,
    )


def power_means(
    design: Design,
    n_max: float,
    difference: float,
    sd: float,
    allocation_ratio: float = 1.0,
    normal_approximation: bool = False,
) -> pd.DataFrame:
    """Per-look rejection and futility-stop probabilities for two means (rpact ``getPowerMeans``).

    The drift is ``difference sqrt(r N) / ((1 + r) sd)``. With
    ``normal_approximation=False`` (rpact's default) it is replaced by the
    drift whose normal power at a single look equals the noncentral-t power
    with ``N - 2`` df: ``z_{1-alpha/s} - Phi^{-1}(F_t(t_{1-alpha/s}; N - 2,
    drift))``.

    Returns
    -------
    pandas.DataFrame
        One row per look: ``look``, ``n`` (cumulative total), ``reject``,
        ``futility_stop``, ``cumulative_power``; ``attrs`` holds ``power``,
        ``expected_n`` and ``drift``.

    Examples
    --------
    >>> d = group_sequential_design([0.5, 1.0])
    >>> round(power_means(d, 40, 2.46, 3.0, normal_approximation=True).attrs["power"], 4)
    0.735
    """
    drift = _drift_per_sqrt_n(difference, sd, allocation_ratio) * np.sqrt(n_max)
    if not normal_approximation:
        df = n_max - 2.0
        crit_t = stats.t.ppf(1.0 - design.alpha / design.sided, df)
        drift = ndtri(1.0 - design.alpha / design.sided) - ndtri(stats.nct.cdf(crit_t, df, drift))
    up, low = exit_probabilities(design, drift)
    frame = pd.DataFrame(
        {
            "look": np.arange(1, up.size + 1),
            "n": n_max * design.information_fractions,
            "reject": up,
            "futility_stop": low,
            "cumulative_power": np.cumsum(up),
        }
    )
    frame.attrs.update(
        power=float(up.sum()), expected_n=float(n_max * expected_fraction(design, drift)), drift=float(drift)
    )
    return frame


def observed_design(
    observed_information, planned_max_information: float, design: Design, final: bool = True
) -> Design:
    """Bounds recomputed at the information actually observed (spending at observed fractions).

    The spending functions of ``design`` are evaluated at
    ``min(I_k / I_planned, 1)``; at the final analysis (``final=True``) the
    whole alpha (and beta) is spent, whether information under- or overran.
    The correlation of the z statistics uses the observed ``I_k / I_last``.
    Futility bounds are re-solved at the planned effect: the drift becomes
    ``design.drift * sqrt(I_last / I_planned)``; at the final look ``f_K = c_K``.

    Parameters
    ----------
    observed_information : array_like
        Information (or sample size, for a fixed SD) at the looks done so far.
    planned_max_information : float
        Maximum information of the plan, in the same units.
    design : Design
        The planned design (alpha-spending efficacy rule).
    final : bool
        Whether the last observed look is the final analysis.

    Returns
    -------
    Design

    Examples
    --------
    A look at 42 % instead of 50 % of the planned 100, then the final at 95:

    >>> plan = group_sequential_design([0.5, 1.0])
    >>> observed_design([42, 95], 100, plan).z_efficacy.round(4)
    array([3.2672, 1.9628])
    """
    if design.efficacy not in SPENDING:
        raise InputError(
            f"sequential.efficacy.type: {design.efficacy!r} has no spending function; observed-information "
            f"boundaries need one of {', '.join(SPENDING)}"
        )
    info = np.asarray(observed_information, dtype=float)
    t = _check_fractions(info / info[-1])
    s = np.minimum(info / planned_max_information, 1.0)
    if final:
        s[-1] = 1.0
    spent_alpha = spending(design.efficacy, design.alpha, s, design.efficacy_gamma, design.sided)
    drift = float(design.drift * np.sqrt(info[-1] / planned_max_information))
    base = replace(design, information_fractions=t, spending_fractions=s, drift=drift)
    if design.futility is None:
        return replace(base, z_efficacy=_efficacy_bounds(t, spent_alpha, design.sided))
    spent_beta = spending(design.futility, design.beta, s, design.futility_gamma)
    if final:
        spent_beta[-1] = design.beta
    efficacy = None if design.binding else _efficacy_bounds(t, spent_alpha, 1)
    c, f = _beta_spending_bounds(t, spent_beta, drift, efficacy, spent_alpha if design.binding else None)
    if final:
        f[-1] = c[-1]
    return replace(base, z_efficacy=c, z_futility=f)


def boundaries_frame(design: Design) -> pd.DataFrame:
    """One row per look: bounds, error spent and exit probabilities under H1.

    Columns: ``look``, ``information_fraction``, ``z_efficacy`` (one-sided z
    scale; two-sided designs reject when ``|Z| >= z_efficacy``),
    ``cumulative_alpha`` (type I error spent by the look), ``z_futility``
    (futility designs; at the last look it equals ``z_efficacy``),
    ``spending_fraction`` (when it differs from the information fraction),
    ``nominal_p`` (one-sided ``1 - Phi(z_efficacy)``), ``stage_alpha``,
    ``reject_h1`` and ``futility_h1`` (probabilities of stopping at the look
    for efficacy / futility at the design drift; for two-sided designs
    ``futility_h1`` is the probability of crossing the lower bound),
    ``cumulative_power`` and ``cumulative_beta`` (futility designs). ``attrs``
    holds ``drift`` and ``inflation_factor``.

    Examples
    --------
    >>> frame = boundaries_frame(group_sequential_design([0.5, 1.0]))
    >>> frame[["look", "z_efficacy", "cumulative_alpha"]].round(4).to_string(index=False)
    ' look  z_efficacy  cumulative_alpha\\n    1      2.9626            0.0015\\n    2      1.9686            0.0250'
    """
    stage_alpha = type_one_error(design)
    up, low = exit_probabilities(design, design.drift)
    columns = {
        "look": np.arange(1, design.z_efficacy.size + 1),
        "information_fraction": design.information_fractions,
        "z_efficacy": design.z_efficacy,
        "cumulative_alpha": np.cumsum(stage_alpha),
    }
    if design.z_futility is not None:
        columns["z_futility"] = design.z_futility
    if not np.allclose(design.spending_fractions, design.information_fractions, rtol=0, atol=1e-12):
        columns["spending_fraction"] = design.spending_fractions
    columns |= {
        "nominal_p": ndtr(-design.z_efficacy),
        "stage_alpha": stage_alpha,
        "reject_h1": up,
        "futility_h1": low,
        "cumulative_power": np.cumsum(up),
    }
    if design.z_futility is not None:
        columns["cumulative_beta"] = np.cumsum(low)
    frame = pd.DataFrame(columns)
    frame.attrs.update(drift=float(design.drift), inflation_factor=inflation_factor(design))
    return frame


def boundaries_design(section: dict) -> Design:
    """The :class:`Design` of the config section ``sequential`` (see :mod:`vtrial.sequential_config`).

    Validates the section, then builds the design with
    :func:`group_sequential_design`, followed by
    :func:`conditional_power_futility` for ``futility.type: conditional_power``.

    Examples
    --------
    >>> boundaries_design({"information_fractions": [0.5, 1]}).z_efficacy.round(4)
    array([2.9626, 1.9686])
    """
    from vtrial.sequential_config import validate_sequential

    cfg = validate_sequential(section)
    if cfg["information_fractions"] is None:
        key = "look_months" if cfg["look_months"] is not None else "look_endpoints"
        raise InputError(
            f"sequential.{key}: the planned information fractions depend on the trial "
            "(vtrial.sequential_looks.planned_section(cfg) gives the section with them)"
        )
    futility = cfg["futility"] or {"type": None, "gamma": None, "binding": False, "beta": cfg["beta"]}
    by_spending = futility["type"] in SPENDING
    design = group_sequential_design(
        cfg["information_fractions"],
        alpha=cfg["alpha"],
        efficacy=cfg["efficacy"]["type"],
        gamma=cfg["efficacy"]["gamma"],
        sided=cfg["sided"],
        futility=futility["type"] if by_spending else None,
        futility_gamma=futility["gamma"],
        beta=futility["beta"],
        binding=futility["binding"],
    )
    if futility["type"] == "conditional_power":
        design = conditional_power_futility(design, futility["threshold"])
    return design


def boundaries_table(section: dict) -> pd.DataFrame:
    """Boundaries of the config section ``sequential``: :func:`boundaries_frame` of :func:`boundaries_design`.

    Examples
    --------
    >>> section = {"information_fractions": [0.5, 1], "alpha": 0.025,
    ...            "efficacy": {"type": "as_obrien_fleming"},
    ...            "futility": {"type": "as_hsd", "gamma": -2, "binding": False, "beta": 0.2}}
    >>> boundaries_table(section)[["z_efficacy", "z_futility"]].round(4).values.tolist()
    [[2.9626, 0.4078], [1.9686, 1.9686]]
    """
    return boundaries_frame(boundaries_design(section))


@dataclass(frozen=True)
class StagewiseEstimate:
    """Stage-wise ordering inference at the stopping look, on the z scale.

    The parameter is ``mu = theta sqrt(I_look)``, the mean of ``Z`` at the
    stopping look. For a difference in means with cumulative arm sizes
    ``n1, n2`` and SD ``sd`` the effect is ``mu * sd * sqrt(1/n1 + 1/n2)``.

    Attributes
    ----------
    look : int
        Stopping look (1-based).
    p_value : float
        Stage-wise ordering p-value, ``P_0(at least as extreme)``.
    median_unbiased : float
        ``mu`` at which the observed outcome is the median.
    lower, upper : float
        Confidence limits for ``mu`` (each tail ``alpha / sided``).
    """

    look: int
    p_value: float
    median_unbiased: float
    lower: float
    upper: float


def stagewise_p_value(design: Design, look: int, z: float, mu: float = 0.0) -> float:
    """Probability of an outcome at least as extreme in the stage-wise ordering.

    ``sum_{j<k} P_mu(continue to j, Z_j >= c_j) + P_mu(continue to k, Z_k >= z)``
    for a trial that stopped at look ``k`` with statistic ``z``, where ``mu``
    is the mean of ``Z_k`` (0 gives the stage-wise ordering p-value). See
    :func:`stagewise_estimate`.

    Examples
    --------
    >>> round(stagewise_p_value(group_sequential_design([1.0]), 1, 1.96), 6)
    0.024998
    """
    if design.sided != 1:
        raise InputError("sequential.sided: stage-wise ordering is available for one-sided designs")
    if not 1 <= look <= design.z_efficacy.size:
        raise InputError(f"look: {look} must be between 1 and {design.z_efficacy.size}")
    lower = design.lower(for_type_one_error=True)[:look].copy()
    lower[-1] = -np.inf
    upper = np.append(design.z_efficacy[: look - 1], z)
    return float(sp.exit_table(design.information_fractions[:look], mu, lower, upper)[0].sum())


def stagewise_estimate(design: Design, look: int, z: float, tail: float | None = None) -> StagewiseEstimate:
    """Median-unbiased estimate and confidence interval after stopping (stage-wise ordering).

    Outcomes are ordered by stopping look first (earlier efficacy stops are
    more extreme) and by ``Z`` within a look (Jennison & Turnbull 2000,
    section 8.4). For a trial that stopped at look ``k`` with statistic ``z``,

        p(mu) = sum_{j<k} P_mu(continue to j, Z_j >= c_j) + P_mu(continue to k, Z_k >= z),

    increasing in ``mu``. The median-unbiased estimate solves ``p(mu) = 1/2``
    and the limits solve ``p(mu) = tail`` and ``1 - tail``. Non-binding futility
    bounds are ignored and binding ones kept, as in rpact's
    ``getFinalConfidenceInterval``.

    Parameters
    ----------
    design : Design
        One-sided design.
    look : int
        Look at which the trial stopped (efficacy) or the final look.
    z : float
        Observed z statistic at that look.
    tail : float, optional
        Error in each tail of the interval; default ``design.alpha``.

    Returns
    -------
    StagewiseEstimate

    Examples
    --------
    Stopping at the first look gives the fixed-sample answers ``z`` and ``z -+ 1.96``:

    >>> est = stagewise_estimate(group_sequential_design([0.5, 1.0]), 1, 3.2)
    >>> round(est.median_unbiased, 4), round(est.lower, 4), round(est.upper, 4)
    (3.2, 1.24, 5.16)
    """
    tail = design.alpha if tail is None else tail

    def solve(level: float) -> float:
        return optimize.brentq(
            lambda mu: stagewise_p_value(design, look, z, mu) - level, z - 15.0, z + 15.0, xtol=1e-10
        )

    return StagewiseEstimate(
        look, stagewise_p_value(design, look, z), solve(0.5), solve(tail), solve(1.0 - tail)
    )


def conditional_power(design: Design, look: int, z: float, drift: float) -> float:
    """Probability of rejecting H0 at a later look given ``Z_look = z``.

    Later futility bounds count as stopping (binding or not). For a
    single remaining look this is the textbook
    ``1 - Phi((c_K - z sqrt(t_k) - drift (1 - t_k)) / sqrt(1 - t_k))``
    (Jennison & Turnbull 2000, section 10.2).

    Parameters
    ----------
    design : Design
    look : int
        Current look (1-based, before the final one).
    z : float
        Observed z statistic at the look.
    drift : float
        Assumed mean of ``Z_K`` (e.g. ``design.drift`` for the design alternative).

    Returns
    -------
    float

    Examples
    --------
    >>> d = group_sequential_design([0.5, 1.0])
    >>> round(conditional_power(d, 1, 1.0, 0.0), 6)  # 1 - Phi((c_2 - sqrt(0.5)) / sqrt(0.5))
    0.037211
    """
    if not 1 <= look < design.z_efficacy.size:
        raise InputError(f"look: {look} must be between 1 and {design.z_efficacy.size - 1}")
    state = sp.Density(float(design.information_fractions[look - 1]), np.array([float(z)]), np.ones(1))
    lower, upper = design.lower(), design.z_efficacy
    power = 0.0
    for k in range(look, upper.size):
        t = design.information_fractions[k]
        power += sp.exit_probabilities(state, t, drift, lower[k], upper[k])[0]
        state = sp.advance(state, t, drift, lower[k], upper[k])
    return float(power)


def conditional_power_futility(design: Design, threshold: float, drift: float | None = None) -> Design:
    """Non-binding futility bounds: stop when the conditional power falls below ``threshold``.

    At each interim look ``k``, ``f_k`` solves ``conditional_power(f_k) =
    threshold`` at ``drift`` (default: ``design.drift``, the alternative of the
    efficacy design), from the last interim look backwards so that each
    conditional power accounts for the futility bounds after it. The efficacy
    bounds are unchanged (non-binding); the returned design's ``drift`` is
    re-solved so that the power with the futility bounds is ``1 - beta``.

    Parameters
    ----------
    design : Design
        Efficacy-only one-sided design.
    threshold : float
        Conditional power below which the trial stops for futility, in (0, 1).
    drift : float, optional
        Mean of ``Z_K`` assumed for the conditional power.

    Returns
    -------
    Design
        With ``futility = "conditional_power"`` and ``z_futility`` (``f_K = c_K``).

    Examples
    --------
    >>> d = conditional_power_futility(group_sequential_design([0.5, 1.0]), 0.2)
    >>> round(conditional_power(d, 1, d.z_futility[0], group_sequential_design([0.5, 1.0]).drift), 6)
    0.2
    """
    if design.sided != 1 or design.z_futility is not None:
        raise InputError(
            "sequential.futility: conditional-power futility needs a one-sided efficacy-only design"
        )
    drift = design.drift if drift is None else drift
    f = np.full(design.z_efficacy.size, -np.inf)
    f[-1] = design.z_efficacy[-1]
    candidate = replace(design, futility="conditional_power", futility_gamma=threshold, binding=False)
    for k in range(design.z_efficacy.size - 1, 0, -1):
        current = replace(candidate, z_futility=f.copy())

        def excess(z: float, k: int = k, current: Design = current) -> float:
            return conditional_power(current, k, z, drift) - threshold

        f[k - 1] = optimize.brentq(excess, -_Z_MAX, design.z_efficacy[k - 1], xtol=_XTOL)
    futile = replace(candidate, z_futility=f)
    return replace(futile, drift=float(_drift_for_power(futile)))
