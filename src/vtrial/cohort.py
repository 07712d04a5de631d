"""Baseline covariates of screened men and the trial's eligibility rules.

Model (per man, before eligibility)
-----------------------------------
``(age, BMI, log T, log E2, BMD)`` is multivariate normal, where ``T`` is the
man's usual total testosterone (ng/dL), ``E2`` his usual estradiol (pg/mL) and
``BMD`` his true PA spine BMD (g/cm2). A single blood draw measures
``T * exp(e)``, ``e ~ N(0, testosterone_visit_log_sd^2)`` (day-to-day variation
and assay error), and likewise for estradiol.

Eligibility, as in the 2009 trial: age at least ``age_min_years`` and either one
screening testosterone inside ``testosterone_single_ng_dl`` or two consecutive
screening values inside ``testosterone_two_consecutive_ng_dl`` (the second draw
is only taken when the first falls in that window). The month-0 values are a
further, independent draw, so they regress upwards from the screening window.

BMD is correlated with BMI only and independent of age and testosterone, so
eligibility leaves its distribution unchanged: enrolled men's true baseline BMD
is exactly ``N(bmd_mean_g_cm2, bmd_sd_g_cm2^2)``. The power engine relies on
this to draw BMD without the rest of the cohort.

The pre-eligibility medians and log-SDs of the hormones in the default config
were fitted with :func:`fit_hormone_population` so that the enrolled men
reproduce the published baseline figures (testosterone 319 +/- 93 ng/dL,
estradiol 15 +/- 4 pg/mL).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vtrial.errors import InputError

#: Order of the jointly normal baseline variables.
COVARIATES = ("age_years", "bmi_kg_m2", "log_testosterone", "log_estradiol", "bmd_g_cm2")


@dataclass(frozen=True)
class Cohort:
    """Baseline values of enrolled men, arrays of shape ``(reps, n)``.

    Attributes
    ----------
    age_years, bmi_kg_m2 : ndarray
        Age (years) and body-mass index (kg/m2).
    log_testosterone, log_estradiol : ndarray
        Log of each man's usual testosterone (ng/dL) and estradiol (pg/mL).
    bmd_g_cm2 : ndarray
        True baseline PA spine BMD (g/cm2), before DXA error.
    """

    age_years: np.ndarray
    bmi_kg_m2: np.ndarray
    log_testosterone: np.ndarray
    log_estradiol: np.ndarray
    bmd_g_cm2: np.ndarray


def correlation_matrix(c: dict) -> np.ndarray:
    """Correlation matrix of :data:`COVARIATES` from the ``cohort`` config section."""
    r = np.eye(5)
    pairs = {
        (0, 2): c["corr_age_log_testosterone"],
        (1, 2): c["corr_bmi_log_testosterone"],
        (1, 3): c["corr_bmi_log_estradiol"],
        (2, 3): c["corr_log_testosterone_log_estradiol"],
        (1, 4): c["corr_bmi_bmd"],
    }
    for (i, j), value in pairs.items():
        r[i, j] = r[j, i] = value
    if np.linalg.eigvalsh(r).min() <= 1e-8:
        raise InputError(
            "config keys 'cohort.corr_*': the correlations "
            f"{ {k: v for k, v in c.items() if k.startswith('corr_')} } do not form a valid "
            "(positive definite) correlation matrix; make them smaller in magnitude"
        )
    return r


def _population_draw(c: dict, size: int, rng: np.random.Generator) -> np.ndarray:
    """Candidates before eligibility: array ``(size, 5)`` in :data:`COVARIATES` order."""
    mean = np.array(
        [
            c["age_mean_years"],
            c["bmi_mean_kg_m2"],
            np.log(c["testosterone_median_ng_dl"]),
            np.log(c["estradiol_median_pg_ml"]),
            c["bmd_mean_g_cm2"],
        ]
    )
    sd = np.array(
        [
            c["age_sd_years"],
            c["bmi_sd_kg_m2"],
            c["testosterone_log_sd"],
            c["estradiol_log_sd"],
            c["bmd_sd_g_cm2"],
        ]
    )
    chol = np.linalg.cholesky(correlation_matrix(c)) * sd[:, None]
    z = rng.standard_normal((size, 5))
    return mean + z @ chol.T


def eligible(c: dict, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Which candidates pass screening (boolean, one per row of ``x``).

    Draws the screening testosterone values; the second value is drawn for every
    candidate (vectorised) but only matters when the first is in the two-value window.
    """
    e = c["eligibility"]
    s = c["testosterone_visit_log_sd"]
    noise = rng.standard_normal((x.shape[0], 2)) * s
    t1 = np.exp(x[:, 2] + noise[:, 0])
    t2 = np.exp(x[:, 2] + noise[:, 1])
    lo1, hi1 = e["testosterone_single_ng_dl"]
    lo2, hi2 = e["testosterone_two_consecutive_ng_dl"]
    single = (t1 >= lo1) & (t1 <= hi1)
    double = (t1 >= lo2) & (t1 <= hi2) & (t2 >= lo2) & (t2 <= hi2) & ~single
    return (x[:, 0] >= e["age_min_years"]) & (single | double)


def draw_cohort(cohort_cfg: dict, reps: int, n: int, *, rng) -> Cohort:
    """Enrolled men for ``reps`` trials of ``n`` men each.

    Screens candidates in vectorised batches until ``reps * n`` are eligible, in
    the order screened.

    Parameters
    ----------
    cohort_cfg : dict
        The ``cohort`` section of a validated config.
    reps, n : int
        Replicate trials and men per trial.
    rng : numpy.random.Generator or seed
        Source of randomness.

    Returns
    -------
    Cohort
        Arrays of shape ``(reps, n)``.

    Examples
    --------
    >>> from vtrial.config import load_config
    >>> men = draw_cohort(load_config()["cohort"], 2, 88, rng=1)
    >>> men.age_years.shape, bool((men.age_years >= 60).all())
    ((2, 88), True)
    """
    rng = np.random.default_rng(rng)
    need = reps * n
    kept: list[np.ndarray] = []
    have = 0
    rate = 0.3  # first guess at the eligible fraction; refined from each batch
    for _ in range(200):
        batch = int((need - have) / rate * 1.1) + 64
        x = _population_draw(cohort_cfg, batch, rng)
        ok = eligible(cohort_cfg, x, rng)
        kept.append(x[ok])
        have += int(ok.sum())
        rate = max(ok.mean(), 1e-4)
        if have >= need:
            break
    else:
        raise InputError(
            "config section 'cohort': almost no screened man is eligible (eligible fraction "
            f"{rate:.2g}); check cohort.eligibility against the age and testosterone distribution"
        )
    x = np.concatenate(kept)[:need].reshape(reps, n, 5)
    return Cohort(*(x[..., k] for k in range(5)))


def hormone_visit_draw(log_usual: np.ndarray, visit_log_sd: float, rng) -> np.ndarray:
    """One measured hormone value per man: ``exp(log_usual + N(0, visit_log_sd^2))``."""
    return np.exp(log_usual + rng.standard_normal(log_usual.shape) * visit_log_sd)


def fit_hormone_population(
    cohort_cfg: dict,
    targets: dict | None = None,
    n: int = 200_000,
    seed: int = 1,
) -> dict:
    """Fit pre-eligibility hormone medians and log-SDs to enrolled-men targets.

    Solves, with common random numbers, for ``testosterone_median_ng_dl`` and
    ``testosterone_log_sd`` so that the month-0 testosterone of enrolled men has
    the target mean and SD, then likewise for estradiol (whose selection is
    indirect, through its correlation with testosterone).

    Parameters
    ----------
    cohort_cfg : dict
        The ``cohort`` section; its other values are held fixed.
    targets : dict, optional
        ``{"testosterone": (mean, sd), "estradiol": (mean, sd)}`` in ng/dL and
        pg/mL; default the published 319 +/- 93 and 15 +/- 4.
    n : int
        Candidate men simulated per evaluation.
    seed : int
        Seed of the common random numbers.

    Returns
    -------
    dict
        The four fitted values, to paste into the config.
    """
    from scipy import optimize  # imported here: it costs 0.2 s at start-up

    targets = targets or {"testosterone": (319.0, 93.0), "estradiol": (15.0, 4.0)}
    base = dict(cohort_cfg)

    def enrolled_moments(params: np.ndarray, hormone: str) -> np.ndarray:
        c = dict(base)
        c[f"{hormone}_median_ng_dl" if hormone == "testosterone" else f"{hormone}_median_pg_ml"] = float(
            np.exp(params[0])
        )
        c[f"{hormone}_log_sd"] = float(abs(params[1]))
        rng = np.random.default_rng(seed)
        x = _population_draw(c, n, rng)
        ok = eligible(c, x, rng)
        col = 2 if hormone == "testosterone" else 3
        visit = hormone_visit_draw(x[ok, col], c[f"{hormone}_visit_log_sd"], rng)
        return np.array([visit.mean(), visit.std(ddof=1)])

    out = {}
    for hormone, unit in (("testosterone", "ng_dl"), ("estradiol", "pg_ml")):
        target = np.array(targets[hormone])
        start = np.array([np.log(base[f"{hormone}_median_{unit}"]), base[f"{hormone}_log_sd"]])
        sol = optimize.fsolve(lambda p, h=hormone, t=target: enrolled_moments(p, h) - t, start)
        out[f"{hormone}_median_{unit}"] = round(float(np.exp(sol[0])), 2)
        out[f"{hormone}_log_sd"] = round(float(abs(sol[1])), 4)
        base.update(out)
    return out
