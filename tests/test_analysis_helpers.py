"""Shared helpers for tests/test_analysis_*.py: fixtures, R reference, null simulator."""

from __future__ import annotations

import json
import math
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd

FIXTURES = Path(__file__).parent / "fixtures" / "analysis"
DATASETS = ("trial_small", "trial_noties", "trial_large", "trial_complete")
FIELDS = ("estimate", "se", "ci_low", "ci_high", "p_value", "df")


def load(name: str) -> pd.DataFrame:
    return pd.read_csv(FIXTURES / f"{name}.csv")


@cache
def r_reference() -> dict:
    return json.loads((FIXTURES / "r_reference.json").read_text())


def assert_matches(result, ref: dict, tol: float, fields=FIELDS) -> None:
    """Every field present (non-null) in ``ref`` equals the result's to ``tol``."""
    for field in fields:
        want = ref.get(field)
        if want is None:
            continue
        got = getattr(result, field)
        scale = max(1.0, abs(want))
        assert math.isclose(got, want, rel_tol=0, abs_tol=tol * scale), (
            f"{result.method}/{result.missing} {field}: got {got!r}, reference {want!r}"
        )


def simulate_null(
    rng: np.random.Generator,
    n_per_arm: int = 40,
    dropout: float = 0.2,
    difference: float = 0.0,
    sd: float = 3.0,
) -> pd.DataFrame:
    """Long-format trial under the null (or a fixed difference), MCAR dropout.

    Baseline BMD ~ N(1.15, 0.14) g/cm2; 12-month % change ~ N(0.76 + difference
    x anastrozole, sd); month-6 change is half of it plus noise; dropout after
    month 0 (a third of dropouts) or after month 6 (the rest), at random.
    """
    n = 2 * n_per_arm
    treat = np.repeat([0.0, 1.0], n_per_arm)
    bmd0 = rng.normal(1.15, 0.14, n)
    pct12 = rng.normal(0.76 + difference * treat, sd, n)
    pct6 = 0.5 * pct12 + rng.normal(0.0, 1.0, n)
    bmd6 = bmd0 * (1 + pct6 / 100)
    bmd12 = bmd0 * (1 + pct12 / 100)
    u = rng.random(n)
    bmd12[u < dropout] = np.nan
    bmd6[u < dropout / 3] = np.nan
    months = np.array([0, 3, 6, 12])
    bmd = np.column_stack([bmd0, np.full(n, np.nan), bmd6, bmd12]).ravel()
    return pd.DataFrame(
        {
            "subject_id": np.repeat(np.arange(n), 4),
            "arm": np.repeat(np.where(treat == 1.0, "anastrozole", "placebo"), 4),
            "visit_month": np.tile(months, n),
            "age_years": np.repeat(rng.normal(67, 5, n), 4),
            "bmi_kg_m2": 29.0,
            "testosterone_ng_dl": 270.0,
            "estradiol_pg_ml": 22.0,
            "bmd_g_cm2": bmd,
        }
    )
