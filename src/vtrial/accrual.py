"""Calendar entry times of the men from the config section ``trial.accrual``.

Enrolment is deterministic in calendar time (months from the first man's
randomization). With ``rate_per_month: r`` and ``ramp_up_months: R`` the
number of men randomized by month ``s`` is

    Lambda(s) = r s^2 / (2 R)           for s <= R  (linear ramp-up of the rate),
    Lambda(s) = r R / 2 + r (s - R)     for s >  R,

and with ``period_months: P`` it is ``Lambda(s) = N s / P`` (uniform over the
period, ``N`` the men of the trial). Man ``j = 0 .. N - 1`` (in enrolment
order) enters when ``Lambda(s) = j + 1/2``. Without an accrual section every
man is taken to have completed follow-up before the single analysis (the
behaviour of the other commands); :func:`entry_times` then returns zeros.

With the default visit schedule (scans at months 0, 6 and 12, the endpoint at
month 12) a man who entered at month ``e`` has his 6-month scan (if he attends)
by calendar month ``e + 6`` and his 12-month scan by ``e + 12``.
"""

from __future__ import annotations

import math

import numpy as np

from vtrial.errors import InputError

#: Months from entry to the interim scan and to the endpoint scan (default schedule).
SCAN_MONTHS = (6.0, 12.0)


def check_accrual(accrual) -> dict | None:
    """Validate ``trial.accrual``: exactly one of ``rate_per_month`` and ``period_months``.

    Returns the section with ``ramp_up_months`` filled in (0), or None when
    there is no accrual section.

    Examples
    --------
    >>> check_accrual({"rate_per_month": 4})
    {'rate_per_month': 4.0, 'ramp_up_months': 0.0, 'period_months': None}
    >>> check_accrual({"rate_per_month": 4, "period_months": 12})
    Traceback (most recent call last):
    ...
    vtrial.errors.InputError: trial.accrual: both rate_per_month (4) and period_months (12) are set; give exactly one
    """
    if accrual is None:
        return None
    rate, period = accrual.get("rate_per_month"), accrual.get("period_months")
    ramp = accrual.get("ramp_up_months") or 0.0
    if (rate is None) == (period is None):
        if rate is None:
            raise InputError(
                "trial.accrual: neither rate_per_month nor period_months is set; give exactly one"
            )
        raise InputError(
            f"trial.accrual: both rate_per_month ({rate}) and period_months ({period}) are set; give exactly one"
        )
    for key, value in (("rate_per_month", rate), ("period_months", period)):
        if value is not None and not (math.isfinite(value) and value > 0):
            raise InputError(f"trial.accrual.{key}: {value!r} must be a number > 0")
    if not (math.isfinite(ramp) and ramp >= 0):
        raise InputError(f"trial.accrual.ramp_up_months: {ramp!r} must be a number >= 0")
    if period is not None and ramp > 0:
        raise InputError(
            f"trial.accrual.ramp_up_months: {ramp} applies to rate_per_month; with period_months entry is uniform"
        )
    return {
        "rate_per_month": None if rate is None else float(rate),
        "ramp_up_months": float(ramp),
        "period_months": None if period is None else float(period),
    }


def entry_times(accrual, n: int) -> np.ndarray:
    """Calendar month at which each of ``n`` men (in enrolment order) is randomized.

    Parameters
    ----------
    accrual : dict or None
        The ``trial.accrual`` section (see :func:`check_accrual`).
    n : int
        Men in the trial (both arms).

    Returns
    -------
    numpy.ndarray
        ``(n,)`` non-decreasing entry months; zeros without accrual.

    Examples
    --------
    Four men a month with a two-month linear ramp-up: four men enter in the
    first two months, then four a month.

    >>> entry_times({"rate_per_month": 4, "ramp_up_months": 2}, 6).round(3).tolist()
    [0.707, 1.225, 1.581, 1.871, 2.125, 2.375]
    >>> entry_times({"period_months": 12}, 4).tolist()
    [1.5, 4.5, 7.5, 10.5]
    """
    cfg = check_accrual(accrual)
    count = np.arange(n) + 0.5
    if cfg is None:
        return np.zeros(n)
    if cfg["period_months"] is not None:
        return count * cfg["period_months"] / n
    rate, ramp = cfg["rate_per_month"], cfg["ramp_up_months"]
    in_ramp = count <= rate * ramp / 2.0
    with np.errstate(invalid="ignore"):
        ramp_time = np.sqrt(2.0 * ramp * count / rate)
    return np.where(in_ramp, ramp_time, ramp + (count - rate * ramp / 2.0) / rate)
