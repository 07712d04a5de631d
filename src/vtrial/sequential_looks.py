"""When the looks of a simulated group-sequential trial are held, and whose scans are in by then.

The ``sequential`` section times the looks by exactly one of three keys:

``information_fractions: [t_1, ..., 1]``
    Look ``k`` when ``m_k = ceil(t_k N)`` men (of the ``N`` randomized, in
    enrolment order) have been followed to the endpoint month, whether or not
    they attended the endpoint scan.
``look_months: [C_1, ..., C_K]``
    Look ``k`` at calendar month ``C_k`` (months from the first man's
    randomization). Needs ``trial.accrual``.
``look_endpoints: [m_1, ..., m_K]``
    Look ``k`` when ``m_k`` men have their endpoint scan (dropouts do not
    count), so its calendar time varies from trial to trial. A trial whose
    dropouts leave fewer than ``m_k`` men with the endpoint holds look ``k``
    at the end of follow-up (the last man's endpoint month) if it is the final
    look; an interim look it never reaches is skipped in that trial (no test
    there, and the alpha its spending function would have given it is not
    spent: conservative).

The clock
    With ``trial.accrual`` the ``j``-th man enters at calendar month ``e_j``
    (:func:`vtrial.accrual.entry_times`) and has his scan at month ``s`` of the
    schedule at ``e_j + s``; the scan is in at look ``k`` when
    ``e_j + s <= C_k`` and he attends it (dropout and missed visits are those
    he would have in the full trial). Without accrual the endpoints are
    instant: man ``j`` "enters" at time ``j`` and all his scans are in as soon
    as he is enrolled (offsets 0), so look ``k`` of an information fraction
    sees the first ``m_k`` men with every scan they attend; ``look_months``
    then has no meaning and is refused.

Planned information fractions
    The bounds are planned at fractions ``t_k`` (the spending functions are
    then re-evaluated at the information each simulated trial reaches, see
    :mod:`vtrial.sequential_sim`): ``information_fractions`` as given;
    ``look_months``: the men followed to the endpoint month by ``C_k`` over
    those by ``C_K`` (each look must add men, the first must have some);
    ``look_endpoints``: ``m_k / m_K``. :func:`planned_section` returns the
    ``sequential`` section with these fractions, for
    :func:`vtrial.boundaries.boundaries_design`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vtrial import accrual as accrual_mod
from vtrial.errors import InputError
from vtrial.sequential_config import validate_sequential

#: Slack (in months or men) so that a scan due exactly at a look counts despite rounding.
EPS = 1e-9


@dataclass(frozen=True)
class Clock:
    """Entry of each man and the delay to each of his scans, on the clock of the looks.

    Attributes
    ----------
    entry : numpy.ndarray
        ``(N,)`` entry of the ``j``-th man in enrolment order: calendar month
        with accrual, ``j`` without (instant endpoints).
    offsets : numpy.ndarray
        ``(S,)`` delay from entry to each post-baseline scan: the scan month
        with accrual, 0 without.
    endpoint : int
        Index of the endpoint scan in ``offsets``.
    endpoint_month : int
        Month of the endpoint in the schedule.
    calendar : bool
        True when the clock is calendar months (``trial.accrual`` is set).
    """

    entry: np.ndarray
    offsets: np.ndarray
    endpoint: int
    endpoint_month: int
    calendar: bool

    @property
    def end(self) -> float:
        """Time of the last man's endpoint (end of follow-up)."""
        return float(self.entry[-1] + self.offsets[self.endpoint])

    def followed(self, c) -> np.ndarray:
        """Men followed to the endpoint month by time(s) ``c``."""
        return np.searchsorted(self.entry + self.offsets[self.endpoint], np.asarray(c) + EPS, side="right")

    def enrolled(self, c) -> np.ndarray:
        """Men randomized by time(s) ``c``."""
        return np.searchsorted(self.entry, np.asarray(c) + EPS, side="right")

    def months(self, c: np.ndarray) -> np.ndarray:
        """Calendar month of look times ``c`` (NaN without accrual)."""
        return np.asarray(c, dtype=float) if self.calendar else np.full(np.shape(c), np.nan)


def design_clock(cfg: dict) -> Clock:
    """The :class:`Clock` of a config (its design's men and scans, ``trial.accrual``).

    Examples
    --------
    >>> from vtrial.config import load_config
    >>> cfg = load_config(overrides=["trial.n_per_arm=2"])
    >>> design_clock(cfg).entry.tolist(), design_clock(cfg).offsets.tolist()
    ([0.0, 1.0, 2.0, 3.0], [0.0, 0.0])
    >>> cfg["trial"]["accrual"] = {"period_months": 4}
    >>> c = design_clock(cfg)
    >>> c.entry.tolist(), c.offsets.tolist(), c.end
    ([0.5, 1.5, 2.5, 3.5], [6.0, 12.0], 15.5)
    """
    from vtrial.design import design_of

    design = design_of(cfg)
    n = int(sum(design.sizes))
    acc = cfg["trial"].get("accrual")
    scans = np.asarray(design.scan_months, dtype=float)
    if acc is None:
        return Clock(
            np.arange(n, dtype=float),
            np.zeros(scans.size),
            design.endpoint_scan,
            design.endpoint_month,
            False,
        )
    return Clock(accrual_mod.entry_times(acc, n), scans, design.endpoint_scan, design.endpoint_month, True)


def planned_fractions(cfg: dict) -> np.ndarray:
    """Planned information fraction of each look (module notes); refuses inconsistent looks.

    Examples
    --------
    >>> from vtrial.config import load_config
    >>> cfg = load_config(overrides=["trial.n_per_arm=30"])
    >>> cfg["trial"]["accrual"] = {"period_months": 12}
    >>> cfg["sequential"] = {"look_months": [18, 24]}
    >>> planned_fractions(cfg).tolist()
    [0.5, 1.0]
    >>> cfg["sequential"] = {"look_months": [12, 24]}
    >>> planned_fractions(cfg)
    Traceback (most recent call last):
    ...
    vtrial.errors.InputError: sequential.look_months: 12 is before the first man reaches his month-12 endpoint (month 12.1)
    """
    sec = validate_sequential(cfg["sequential"])
    if sec["information_fractions"] is not None:
        return np.asarray(sec["information_fractions"], dtype=float)
    clock = design_clock(cfg)
    n = clock.entry.size
    if sec["look_endpoints"] is not None:
        m = np.asarray(sec["look_endpoints"], dtype=float)
        if m[-1] > n:
            raise InputError(
                f"sequential.look_endpoints: {int(m[-1])} is more than the {n} men of the trial (both arms)"
            )
        return m / m[-1]
    months = np.asarray(sec["look_months"], dtype=float)
    if not clock.calendar:
        raise InputError(
            "sequential.look_months: looks by calendar month need trial.accrual (when the men enter)"
        )
    counts = clock.followed(months)
    first = clock.entry[0] + clock.offsets[clock.endpoint]
    if counts[0] == 0:
        raise InputError(
            f"sequential.look_months: {months[0]:g} is before the first man reaches his "
            f"month-{clock.endpoint_month} endpoint (month {first:.1f})"
        )
    same = np.flatnonzero(np.diff(counts) == 0)
    if same.size:
        i = int(same[0])
        raise InputError(
            f"sequential.look_months: months {months[i]:g} and {months[i + 1]:g} have the same {counts[i]} men "
            f"followed to the month-{clock.endpoint_month} endpoint (each look must add men; the last "
            f"man's endpoint is at month {clock.end:.1f})"
        )
    return counts / counts[-1]


def planned_section(cfg: dict) -> dict:
    """The ``sequential`` section with ``information_fractions`` the planned fractions (look keys dropped).

    Examples
    --------
    >>> from vtrial.config import load_config
    >>> cfg = load_config(overrides=["trial.n_per_arm=30"])
    >>> cfg["sequential"] = {"look_endpoints": [20, 40], "alpha": 0.025}
    >>> planned_section(cfg)
    {'alpha': 0.025, 'information_fractions': [0.5, 1.0]}
    """
    section = {k: v for k, v in cfg["sequential"].items() if k not in ("look_months", "look_endpoints")}
    section["information_fractions"] = [float(x) for x in planned_fractions(cfg)]
    return section


def look_times(cfg: dict, clock: Clock, endpoint_time: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Time of each look in each trial, and which interim looks a trial skips.

    Parameters
    ----------
    cfg : dict
        Config with a ``sequential`` section.
    clock : Clock
    endpoint_time : numpy.ndarray
        ``(men, reps)``: when each man has his endpoint scan on the clock
        (``inf`` if he never has it, or is not in the trial); used by
        ``look_endpoints`` only.

    Returns
    -------
    times : numpy.ndarray
        ``(K, reps)`` time of each look.
    skipped : numpy.ndarray of bool
        ``(K, reps)``: interim looks not reached (``look_endpoints``).

    Examples
    --------
    >>> from vtrial.config import load_config
    >>> cfg = load_config(overrides=["trial.n_per_arm=2"])
    >>> cfg["sequential"] = {"look_endpoints": [2, 3]}
    >>> clock = design_clock(cfg)
    >>> ends = np.array([[0.0, np.inf], [np.inf, np.inf], [2.0, 2.0], [3.0, np.inf]])
    >>> times, skipped = look_times(cfg, clock, ends)
    >>> times.tolist(), skipped.tolist()
    ([[2.0, 3.0], [3.0, 3.0]], [[False, True], [False, False]])
    """
    sec = validate_sequential(cfg["sequential"])
    reps = endpoint_time.shape[1]
    n = clock.entry.size
    k = len(planned_fractions(cfg))  # also refuses inconsistent looks
    skipped = np.zeros((k, reps), dtype=bool)
    if sec["information_fractions"] is not None:
        t = np.asarray(sec["information_fractions"], dtype=float)
        m = np.minimum(np.ceil(t * n - 1e-9).astype(int), n)
        m[-1] = n
        times = clock.entry[np.maximum(m, 1) - 1] + clock.offsets[clock.endpoint]
        return np.repeat(times[:, None], reps, 1), skipped
    if sec["look_months"] is not None:
        return np.repeat(np.asarray(sec["look_months"], dtype=float)[:, None], reps, 1), skipped
    m = np.asarray(sec["look_endpoints"])
    ordered = np.sort(endpoint_time, axis=0)
    times = ordered[m - 1]
    missing = ~np.isfinite(times)
    skipped[:-1] = missing[:-1]
    return np.where(missing, clock.end, times), skipped


def available(entry: np.ndarray, offset: float, times) -> np.ndarray:
    """Whether a scan ``offset`` after ``entry`` is due by ``times`` (broadcast; ``inf`` entry: never).

    Examples
    --------
    >>> available(np.array([0.5, 1.5, np.inf]), 12.0, 13.5).tolist()
    [True, True, False]
    """
    with np.errstate(invalid="ignore"):
        return entry + offset <= np.asarray(times) + EPS


def describe(cfg: dict) -> str:
    """The looks in words, for summaries.

    Examples
    --------
    >>> describe({"sequential": {"information_fractions": [0.5, 1]}, "trial": {}})
    '50% and 100% of the men followed to the endpoint'
    >>> describe({"sequential": {"look_months": [24, 30.5, 36]}, "trial": {}})
    'months 24, 30.5 and 36'
    """
    sec = validate_sequential(cfg["sequential"])

    def join(items):
        return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]

    if sec["information_fractions"] is not None:
        t = [f"{100 * f:.0f}%" for f in sec["information_fractions"]]
        return f"{join(t)} of the men followed to the endpoint"
    if sec["look_months"] is not None:
        return "months " + join([f"{m:g}" for m in sec["look_months"]])
    return join([str(m) for m in sec["look_endpoints"]]) + " men with the endpoint scan"
