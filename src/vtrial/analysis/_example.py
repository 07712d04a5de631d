"""A small deterministic trial for docstring examples (not a simulator)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def example_trial(n_per_arm: int = 16, seed: int = 2009) -> pd.DataFrame:
    """Long-format trial with ``n_per_arm`` men per arm, all seen at month 12.

    Parameters
    ----------
    n_per_arm : int
        Men per arm.
    seed : int
        Seed of :func:`numpy.random.default_rng`.

    Returns
    -------
    pandas.DataFrame
        Contract columns; the true difference is -2.5 percentage points.

    Examples
    --------
    >>> example_trial().shape
    (128, 8)
    """
    rng = np.random.default_rng(seed)
    n = 2 * n_per_arm
    arm = np.repeat(["placebo", "anastrozole"], n_per_arm)
    bmd0 = rng.normal(1.15, 0.14, n)
    pct12 = rng.normal(0.76, 3.0, n) - 2.5 * (arm == "anastrozole")
    pct6 = pct12 / 2 + rng.normal(0.0, 1.0, n)
    rows = []
    for i in range(n):
        base = {
            "subject_id": i + 1,
            "arm": arm[i],
            "age_years": round(float(rng.normal(67, 5)), 1),
            "bmi_kg_m2": round(float(rng.normal(29, 4)), 1),
            "testosterone_ng_dl": round(float(rng.normal(270, 60))),
            "estradiol_pg_ml": round(float(rng.normal(22, 6)), 1),
        }
        for month, bmd in (
            (0, bmd0[i]),
            (3, np.nan),
            (6, bmd0[i] * (1 + pct6[i] / 100)),
            (12, bmd0[i] * (1 + pct12[i] / 100)),
        ):
            rows.append({**base, "visit_month": month, "bmd_g_cm2": round(float(bmd), 4)})
    columns = [
        "subject_id",
        "arm",
        "visit_month",
        "age_years",
        "bmi_kg_m2",
        "testosterone_ng_dl",
        "estradiol_pg_ml",
        "bmd_g_cm2",
    ]
    return pd.DataFrame(rows)[columns]
