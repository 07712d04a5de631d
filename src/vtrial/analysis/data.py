"""Checking the long trial format and reshaping it to one row per man.

The long format (DESIGN.md, "Trial data") has one row per man and scheduled
visit. Every analysis works on the per-man ("wide") table built here, so the
checks that make a file unusable live in one place and name the column, the
value and what is allowed, as :class:`vtrial.errors.InputError`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from vtrial.errors import InputError

__all__ = [
    "ARMS",
    "BMD_VISITS",
    "REQUIRED_COLUMNS",
    "check_trial",
    "to_wide",
    "validate_long",
]

REQUIRED_COLUMNS: tuple[str, ...] = (
    "subject_id",
    "arm",
    "visit_month",
    "age_years",
    "bmi_kg_m2",
    "testosterone_ng_dl",
    "estradiol_pg_ml",
    "bmd_g_cm2",
)
# Order matters: index 0 is the reference (placebo) arm of every contrast.
ARMS: tuple[str, str] = ("placebo", "anastrozole")
BMD_VISITS: tuple[int, ...] = (0, 6, 12)
_NUMERIC = ("visit_month", "age_years", "bmi_kg_m2", "testosterone_ng_dl", "estradiol_pg_ml")


def _as_numeric(frame: pd.DataFrame, column: str) -> pd.Series:
    series = frame[column]
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        return series.astype(float)
    values = pd.to_numeric(series, errors="coerce")
    bad = values.isna() & series.notna() & (series.astype(str).str.strip() != "")
    if bad.any():
        example = series[bad].iloc[0]
        raise InputError(
            f"column '{column}': value {example!r} is not a number "
            "(allowed: numbers, or empty when not measured)"
        )
    return values.astype(float)


def validate_long(data: pd.DataFrame) -> pd.DataFrame:
    """Check a long-format trial table and return a clean copy.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per man and scheduled visit with at least the columns
        ``subject_id, arm, visit_month, age_years, bmi_kg_m2,
        testosterone_ng_dl, estradiol_pg_ml, bmd_g_cm2`` (extra columns are
        kept). BMD in g/cm2, visit in months since randomization.

    Returns
    -------
    pandas.DataFrame
        Copy with numeric columns as float and ``arm`` as str.

    Raises
    ------
    InputError
        A missing column, an arm label other than ``placebo``/``anastrozole``,
        a non-numeric or non-positive BMD, a man in two arms, a repeated
        (man, visit) row, or no BMD at all at month 0 or month 12.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"subject_id": [1, 1], "arm": "placebo",
    ...     "visit_month": [0, 12], "age_years": 70.0, "bmi_kg_m2": 27.0,
    ...     "testosterone_ng_dl": 250.0, "estradiol_pg_ml": 20.0,
    ...     "bmd_g_cm2": [1.10, 1.11]})
    >>> validate_long(df).shape
    (2, 8)
    """
    if not isinstance(data, pd.DataFrame):
        raise InputError(f"trial data must be a pandas DataFrame, not {type(data).__name__}")
    missing = [c for c in REQUIRED_COLUMNS if c not in data.columns]
    if missing:
        raise InputError(
            f"trial data: missing column(s) {', '.join(repr(c) for c in missing)} "
            f"(required: {', '.join(REQUIRED_COLUMNS)})"
        )
    if len(data) == 0:
        raise InputError("trial data: no rows (need one row per man and visit)")
    frame = data.copy()
    if frame["subject_id"].isna().any():
        raise InputError("column 'subject_id': empty value (every row needs a man's id)")
    arm = frame["arm"]
    if not arm.isin(ARMS).all():
        # Tolerate surrounding spaces (hand-edited CSVs); anything else is an error.
        arm = arm.astype("string").str.strip()
        bad_arm = arm.isna() | ~arm.isin(ARMS)
        if bad_arm.any():
            value = frame.loc[bad_arm.to_numpy(), "arm"].iloc[0]
            raise InputError(f"column 'arm': value {value!r} is not allowed (allowed: {', '.join(ARMS)})")
        frame["arm"] = arm.astype(str)
    for column in (*_NUMERIC, "bmd_g_cm2"):
        if frame[column].dtype != float:
            frame[column] = _as_numeric(frame, column)
    visit = frame["visit_month"].to_numpy()
    bmd = frame["bmd_g_cm2"].to_numpy()
    if np.isnan(visit).any():
        raise InputError("column 'visit_month': empty value (allowed: months 0, 3, 6, 12)")
    nonpositive = bmd <= 0
    if nonpositive.any():
        raise InputError(
            f"column 'bmd_g_cm2': value {bmd[nonpositive][0]} is not allowed (allowed: positive "
            "g/cm2, or empty when not measured)"
        )
    codes, ids = pd.factorize(frame["subject_id"], sort=False)
    visit_codes, _ = pd.factorize(visit)
    pair = codes.astype(np.int64) * (visit_codes.max() + 1) + visit_codes
    if len(np.unique(pair)) != len(pair):
        row = frame.iloc[int(np.argmax(pd.Series(pair).duplicated().to_numpy()))]
        raise InputError(
            f"columns 'subject_id', 'visit_month': man {row['subject_id']!r} has more than one "
            f"row for month {row['visit_month']:g} (allowed: one row per man and visit)"
        )
    is_active = (frame["arm"] == ARMS[1]).to_numpy()
    n_active = np.bincount(codes, weights=is_active, minlength=len(ids))
    n_rows = np.bincount(codes, minlength=len(ids))
    mixed = (n_active > 0) & (n_active < n_rows)
    if mixed.any():
        man = ids[np.argmax(mixed)]
        raise InputError(f"column 'arm': man {man!r} appears in both arms (allowed: one arm per man)")
    for month in (0, 12):
        if not np.any(~np.isnan(bmd[visit == month])):
            raise InputError(
                f"column 'bmd_g_cm2': no BMD at all at visit_month {month} "
                "(months 0 and 12 need measured BMD)"
            )
    return frame


def to_wide(data: pd.DataFrame, covariates: tuple[str, ...] = ()) -> pd.DataFrame:
    """One row per man: arm, BMD at months 0, 6, 12 and baseline covariates.

    Parameters
    ----------
    data : pandas.DataFrame
        Long-format trial (see :func:`validate_long`).
    covariates : tuple of str
        Numeric columns whose month-0 value is wanted, e.g. ``("age_years",)``.

    Returns
    -------
    pandas.DataFrame
        Columns ``subject_id, arm, treat`` (1 for anastrozole, 0 for placebo),
        ``bmd0, bmd6, bmd12`` (g/cm2, NaN when not measured) and one column per
        covariate (baseline value), ordered by first appearance of each man.

    Raises
    ------
    InputError
        Invalid data, or a covariate that is not a numeric column.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"subject_id": [1, 1], "arm": "placebo",
    ...     "visit_month": [0, 12], "age_years": 70.0, "bmi_kg_m2": 27.0,
    ...     "testosterone_ng_dl": 250.0, "estradiol_pg_ml": 20.0,
    ...     "bmd_g_cm2": [1.10, 1.11]})
    >>> to_wide(df)[["bmd0", "bmd12"]].values.tolist()
    [[1.1, 1.11]]
    """
    frame = validate_long(data)
    for name in covariates:
        if name not in frame.columns:
            raise InputError(
                f"covariate {name!r} is not a column of the trial data "
                f"(allowed: numeric columns such as {', '.join(_NUMERIC[1:])})"
            )
        if name in ("subject_id", "arm", "visit_month", "bmd_g_cm2"):
            raise InputError(
                f"covariate {name!r} is not allowed (baseline BMD is always adjusted for; allowed: "
                f"other numeric columns such as {', '.join(_NUMERIC[1:])})"
            )
        frame[name] = _as_numeric(frame, name)
    codes, ids = pd.factorize(frame["subject_id"], sort=False)
    n = len(ids)
    arm_of = np.empty(n, dtype=object)
    arm_of[codes] = frame["arm"].to_numpy()
    visit = frame["visit_month"].to_numpy()
    bmd = frame["bmd_g_cm2"].to_numpy()
    out = {"subject_id": ids, "arm": arm_of.astype(str)}
    out["treat"] = (out["arm"] == ARMS[1]).astype(float)
    for month in BMD_VISITS:
        column = np.full(n, np.nan)
        rows = visit == month
        column[codes[rows]] = bmd[rows]
        out[f"bmd{month}"] = column
    baseline = visit == 0
    for name in covariates:
        column = np.full(n, np.nan)
        column[codes[baseline]] = frame[name].to_numpy()[baseline]
        out[name] = column
    return pd.DataFrame(out)


def check_trial(data: pd.DataFrame, minimum_per_arm: int = 2) -> pd.DataFrame:
    """Validate a trial and require analysable men in both arms.

    A man is analysable when both his month-0 and month-12 BMD are measured,
    the minimum any strategy needs to estimate an arm's mean change.

    Parameters
    ----------
    data : pandas.DataFrame
        Long-format trial.
    minimum_per_arm : int
        Fewest analysable men allowed per arm.

    Returns
    -------
    pandas.DataFrame
        The clean copy from :func:`validate_long`.

    Raises
    ------
    InputError
        As :func:`validate_long`, or an arm with too few analysable men.

    Examples
    --------
    >>> from vtrial.analysis._example import example_trial
    >>> check_trial(example_trial()).shape
    (128, 8)
    """
    frame = validate_long(data)
    wide = to_wide(frame)
    complete = wide["bmd0"].notna() & wide["bmd12"].notna()
    for label in ARMS:
        n = int((complete & (wide["arm"] == label)).sum())
        if n < minimum_per_arm:
            raise InputError(
                f"column 'arm': arm {label!r} has {n} analysable men with BMD at months 0 and 12 "
                f"(allowed: at least {minimum_per_arm} per arm)"
            )
    return frame
