"""Winner's curse: inference on an effect that was published because it was significant.

A published estimate ``x`` with standard error ``s`` that was selected for
two-sided significance at level ``alpha`` is, in the normal model, one draw
of ``Z = x / s ~ N(theta, 1)`` conditioned on ``|Z| > c``, with
``theta = mu / s`` and ``c = z_{1 - alpha/2}``. Its conditional density

    ``phi(z - theta) / P(theta)``,  ``P(theta) = Phi(-c - theta) + 1 - Phi(c - theta)``,

is a natural exponential family in ``theta`` with sufficient statistic ``Z``,
so the conditional log-likelihood is concave and the conditional maximum
likelihood estimate (Ghosh, Zou & Wright 2008; Zhong & Prentice 2008) is
the unique root of ``E_theta[Z | |Z| > c] = z``, where

    ``E_theta[Z | |Z| > c] = theta + (phi(c - theta) - phi(c + theta)) / P(theta)``.

The selection-adjusted confidence interval inverts the conditional CDF
``F_theta(z) = P_theta(Z <= z | |Z| > c)``, which decreases in ``theta``
(monotone likelihood ratio): the limits solve ``F_theta(z) = 1 - (1-level)/2``
(lower) and ``(1-level)/2`` (upper), so the interval has exact conditional
coverage ``level`` for every ``theta``. The observed conditional information
is ``Var_theta(Z | |Z| > c)`` (exponential family), giving the approximate
conditional SD ``s / sqrt(Var_thetahat(Z | |Z| > c))``.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import optimize, special


def critical(alpha: float) -> float:
    """Two-sided normal critical value ``z_{1 - alpha/2}``."""
    return float(special.ndtri(1 - alpha / 2))


def _log_p_selected(theta: float, c: float) -> float:
    # log(Phi(-c - theta) + Phi(theta - c)) without cancellation in either tail.
    a, b = special.log_ndtr(-c - theta), special.log_ndtr(theta - c)
    return float(np.logaddexp(a, b))


def conditional_moments(theta: float, c: float) -> tuple[float, float]:
    """Mean and variance of ``Z ~ N(theta, 1)`` given ``|Z| > c``.

    Examples
    --------
    >>> [round(v, 6) for v in conditional_moments(0.0, 1.959964)]
    [0.0, 5.582009]
    """
    logp = _log_p_selected(theta, c)
    # phi(c -/+ theta) / P(theta), computed on the log scale for large |theta|.
    r1 = math.exp(-0.5 * (c - theta) ** 2 - 0.5 * math.log(2 * math.pi) - logp)
    r2 = math.exp(-0.5 * (c + theta) ** 2 - 0.5 * math.log(2 * math.pi) - logp)
    m = r1 - r2  # E[Z - theta | selected]
    m2 = 1 + (c - theta) * r1 + (c + theta) * r2  # E[(Z - theta)^2 | selected]
    return theta + m, m2 - m * m


def conditional_loglik(mu, estimate: float, se: float, alpha: float = 0.05) -> float:
    """Log-likelihood of the true effect ``mu`` given a significant ``estimate`` (up to a constant)."""
    c = critical(alpha)
    th = mu / se
    z = estimate / se
    return -0.5 * (z - th) ** 2 - _log_p_selected(th, c)


def _check(estimate: float, se: float, alpha: float) -> tuple[float, float]:
    if not se > 0:
        raise ValueError(f"se must be > 0, got {se}")
    c = critical(alpha)
    z = estimate / se
    if not abs(z) > c:
        raise ValueError(f"|estimate / se| = {abs(z):.4f} is not beyond {c:.4f}: it was not selected")
    return z, c


def conditional_mle(estimate: float, se: float, alpha: float = 0.05) -> float:
    """Selection-adjusted (conditional) maximum-likelihood estimate of the true effect.

    Same units as ``estimate``; shrunk towards zero, the more so the closer
    ``|estimate| / se`` is to the critical value.

    Examples
    --------
    >>> round(conditional_mle(-2.46, 0.738), 4)
    -2.282
    """
    z, c = _check(estimate, se, alpha)
    sign = 1.0 if z > 0 else -1.0
    z = abs(z)
    # The conditional mean is increasing in theta, equals 0 at 0 and exceeds theta
    # for theta > 0, so the root lies in (0, z).
    th = optimize.brentq(lambda t: conditional_moments(t, c)[0] - z, 0.0, z, xtol=1e-14, rtol=1e-15)
    return sign * th * se


def conditional_se(estimate: float, se: float, alpha: float = 0.05) -> float:
    """Approximate SD of the conditional MLE: ``se / sqrt(Var_thetahat(Z | |Z| > c))``.

    Examples
    --------
    >>> round(conditional_se(-2.46, 0.738), 4)
    0.9025
    """
    _, c = _check(estimate, se, alpha)
    var = conditional_moments(conditional_mle(estimate, se, alpha) / se, c)[1]
    return se / math.sqrt(var)


def conditional_cdf(z: float, theta: float, c: float) -> float:
    """``P_theta(Z <= z | |Z| > c)`` for ``Z ~ N(theta, 1)`` and ``|z| > c``."""
    logp = _log_p_selected(theta, c)
    if z < 0:  # mass below z, all in the lower region
        return math.exp(special.log_ndtr(z - theta) - logp)
    # 1 - mass above z, all in the upper region
    return -math.expm1(special.log_ndtr(theta - z) - logp)


def conditional_interval(
    estimate: float, se: float, alpha: float = 0.05, level: float = 0.95
) -> tuple[float, float]:
    """Selection-adjusted confidence interval by inverting the conditional CDF.

    Returns ``(lower, upper)`` in the units of ``estimate``; coverage is exactly
    ``level`` conditionally on selection, for every true effect.

    Examples
    --------
    >>> [round(v, 3) for v in conditional_interval(-2.46, 0.738)]
    [-3.901, -0.304]
    """
    z, c = _check(estimate, se, alpha)
    tail = (1 - level) / 2

    def solve(target: float) -> float:
        f = lambda t: conditional_cdf(z, t, c) - target  # noqa: E731 - decreasing in t
        lo, hi = z - 1.0, z + 1.0
        while f(lo) < 0:
            lo -= 2 * (hi - lo)
        while f(hi) > 0:
            hi += 2 * (hi - lo)
        return optimize.brentq(f, lo, hi, xtol=1e-13, rtol=1e-15)

    return solve(1 - tail) * se, solve(tail) * se
