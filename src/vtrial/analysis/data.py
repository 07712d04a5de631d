"""Checking the long trial format and reshaping it to one row per man.

The long format has one row per man and scheduled visit. Every analysis works
on the per-man ("wide") table built here, so the checks that make a file
unusable live in one place and raise :class:`vtrial.errors.InputError` with one
line naming the column, the man (``subject_id``) and row, the value and what is
allowed.

What is refused
---------------
A value the analyses cannot mean stops the run, because any number computed
from it would be wrong without a visible sign:

* ``visit_month`` that is empty, not a number, negative, not a whole month or
  not one of the trial's scheduled visits (:data:`vtrial.trial.VISITS`):
  a relabelled or extra visit would otherwise be ignored or misread;
* a BMD at a visit without a DXA scan (outside :data:`vtrial.trial.BMD_VISITS`):
  it would be ignored;
* a value outside :data:`PLAUSIBLE` (non-finite numbers included): these are
  entry or unit errors, and one of them (a baseline BMD of 1e300) is enough to
  reverse or void the treatment effect;
* a man without ``subject_id`` or ``arm``, an arm label other than
  :data:`ARMS`, a man in two arms, two rows for one man and visit.

What is analysed without some men, with a note
----------------------------------------------
Real trials have men whose baseline scan failed, who dropped out, or whose
covariate was not measured. Refusing those files would make the tool useless
for real data, so :func:`analysis_notes` names them instead (one line per
reason, printed on stderr by :func:`vtrial.analysis.read_trial_csv`):

* men without a month-0 BMD are never analysed (change from baseline is
  undefined);
* men without a month-12 BMD are left out by ``complete_case``, and imputed
  or carried forward by the other strategies (the MMRM uses their month-6 BMD);
* men without a month-0 value of a numeric covariate are left out of any
  analysis that adjusts for that covariate.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from vtrial.errors import InputError
from vtrial.trial import BMD_VISITS, VISITS

__all__ = [
    "ARMS",
    "BMD_VISITS",
    "PLAUSIBLE",
    "REQUIRED_COLUMNS",
    "VISITS",
    "analysis_notes",
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
_NUMERIC = ("visit_month", "age_years", "bmi_kg_m2", "testosterone_ng_dl", "estradiol_pg_ml")

#: Closed range (low, high), unit and reason for each measured column. The
#: ranges are wide on purpose: they catch entry and unit errors, not unusual men.
PLAUSIBLE: dict[str, tuple[float, float, str, str]] = {
    "bmd_g_cm2": (
        0.2,
        3.0,
        "g/cm2",
        "PA spine BMD by DXA in adults lies far inside this range (about 0.6-1.6), "
        "so a value outside it is an entry or unit error",
    ),
    "age_years": (
        18.0,
        120.0,
        "years",
        "the trial enrols adult men and no one is documented to have lived past 122",
    ),
    "bmi_kg_m2": (
        8.0,
        100.0,
        "kg/m2",
        "adult BMI below 8 is not survivable and above 100 is not seen in outpatients; it is an "
        "entry or unit error (e.g. weight in pounds)",
    ),
    "testosterone_ng_dl": (
        0.0,
        3000.0,
        "ng/dL",
        "total testosterone runs from 0 (below detection) to about 1500 even with supplements; "
        "nmol/L times 28.84 gives ng/dL",
    ),
    "estradiol_pg_ml": (
        0.0,
        500.0,
        "pg/mL",
        "estradiol in men is about 10-60 and rarely above 200 even with aromatizable androgens; "
        "pmol/L divided by 3.671 gives pg/mL",
    ),
}
#: At most this many subject ids are listed in one note line.
_NOTE_IDS = 20


def _subject(value: object) -> str:
    # A column with an empty cell is read as float: show id 17.0 as 17.
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _where(frame: pd.DataFrame, position: int) -> str:
    """'subject 17 (line 70)' for the row at ``position``.

    The row is the file line when the index is named ``line`` (as
    :func:`vtrial.analysis.read_trial_csv` sets it), else the 1-based row.
    """
    label = f"line {frame.index[position]}" if frame.index.name == "line" else f"row {position + 1}"
    subject = frame["subject_id"].iloc[position]
    if pd.isna(subject):
        return label
    return f"subject {_subject(subject)} ({label})"


def _refuse(frame: pd.DataFrame, column: str, bad: np.ndarray, why: str) -> None:
    """Raise for the first row where ``bad`` is true; ``why`` follows the value."""
    if bad.any():
        position = int(np.argmax(bad))
        value = frame[column].iloc[position]
        if isinstance(value, str):
            shown = f"value {value!r}"
        elif pd.isna(value):
            shown = "empty value"
        else:
            shown = f"value {value:g}" if isinstance(value, float) else f"value {value}"
        raise InputError(f"column {column!r}, {_where(frame, position)}: {shown} {why}")


def _as_numeric(frame: pd.DataFrame, column: str) -> pd.Series:
    series = frame[column]
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        return series.astype(float)
    values = pd.to_numeric(series, errors="coerce")
    bad = values.isna() & series.notna() & (series.astype(str).str.strip() != "")
    _refuse(frame, column, bad.to_numpy(), "is not a number (allowed: numbers, or empty when not measured)")
    return values.astype(float)


def _months(values: tuple[int, ...]) -> str:
    return ", ".join(str(m) for m in values)


def _check_visits(frame: pd.DataFrame) -> None:
    visit = frame["visit_month"].to_numpy()
    _refuse(
        frame,
        "visit_month",
        np.isnan(visit),
        f"is not allowed (allowed: the scheduled visits {_months(VISITS)}, months since randomization)",
    )
    _refuse(
        frame,
        "visit_month",
        ~np.isin(visit, VISITS),
        f"is not a scheduled visit (allowed: {_months(VISITS)}, whole months since randomization)",
    )
    bmd = frame["bmd_g_cm2"].to_numpy()
    _refuse(
        frame,
        "bmd_g_cm2",
        ~np.isin(visit, BMD_VISITS) & ~np.isnan(bmd),
        f"is at a visit without a DXA scan (allowed: BMD at months {_months(BMD_VISITS)} only; "
        "empty at the other visits)",
    )


def _check_ranges(frame: pd.DataFrame) -> None:
    for column, (low, high, unit, reason) in PLAUSIBLE.items():
        values = frame[column].to_numpy()
        # NaN is "not measured"; inf and -inf fail the range test.
        bad = ~np.isnan(values) & ~((values >= low) & (values <= high))
        _refuse(
            frame,
            column,
            bad,
            f"is not allowed (allowed: {low:g} to {high:g} {unit}, or empty when not measured: {reason})",
        )


def validate_long(data: pd.DataFrame) -> pd.DataFrame:
    """Check a long-format trial table and return a clean copy.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per man and scheduled visit with at least the columns
        ``subject_id, arm, visit_month, age_years, bmi_kg_m2,
        testosterone_ng_dl, estradiol_pg_ml, bmd_g_cm2`` (extra columns are
        kept). BMD in g/cm2, visit in months since randomization. Error
        messages name a row by ``subject_id`` and by its 1-based position, or
        by the index value when the index is named ``line`` (file lines).

    Returns
    -------
    pandas.DataFrame
        Copy with numeric columns as float and ``arm`` as str.

    Raises
    ------
    InputError
        A missing column; an empty ``subject_id``; an arm label other than
        ``placebo``/``anastrozole``; a non-numeric value; a visit outside
        :data:`vtrial.trial.VISITS`; a BMD at a visit outside
        :data:`vtrial.trial.BMD_VISITS`; a value outside :data:`PLAUSIBLE`;
        a man in two arms; a repeated (man, visit) row; or no BMD at all at
        month 0 or month 12.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"subject_id": [1, 1], "arm": "placebo",
    ...     "visit_month": [0, 12], "age_years": 70.0, "bmi_kg_m2": 27.0,
    ...     "testosterone_ng_dl": 250.0, "estradiol_pg_ml": 20.0,
    ...     "bmd_g_cm2": [1.10, 1.11]})
    >>> validate_long(df).shape
    (2, 8)
    >>> validate_long(df.assign(visit_month=[0, 24]))
    Traceback (most recent call last):
    ...
    vtrial.errors.InputError: column 'visit_month', subject 1 (row 2): value 24 is not a scheduled visit (allowed: 0, 3, 6, 12, whole months since randomization)
    """  # noqa: E501 - a doctest's expected output is one line
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
    _refuse(
        frame,
        "subject_id",
        frame["subject_id"].isna().to_numpy(),
        "is not allowed (every row needs the id of its man)",
    )
    arm = frame["arm"]
    if not arm.isin(ARMS).all():
        # Tolerate surrounding spaces (hand-edited CSVs); anything else is an error.
        arm = arm.astype("string").str.strip()
        bad_arm = (arm.isna() | ~arm.isin(ARMS)).to_numpy()
        _refuse(frame, "arm", bad_arm, f"is not allowed (allowed: {', '.join(ARMS)})")
        frame["arm"] = arm.astype(str)
    for column in (*_NUMERIC, "bmd_g_cm2"):
        if frame[column].dtype != float:
            frame[column] = _as_numeric(frame, column)
    _check_visits(frame)
    _check_ranges(frame)
    visit = frame["visit_month"].to_numpy()
    bmd = frame["bmd_g_cm2"].to_numpy()
    codes, ids = pd.factorize(frame["subject_id"], sort=False)
    visit_codes, _ = pd.factorize(visit)
    pair = codes.astype(np.int64) * (visit_codes.max() + 1) + visit_codes
    duplicated = pd.Series(pair).duplicated().to_numpy()
    _refuse(
        frame,
        "visit_month",
        duplicated,
        "is in more than one row for this man (allowed: one row per man and visit)",
    )
    is_active = (frame["arm"] == ARMS[1]).to_numpy()
    first_arm = pd.Series(is_active).groupby(codes).transform("first").to_numpy()
    _refuse(
        frame,
        "arm",
        is_active != first_arm,
        "differs from this man's arm on his first row (allowed: one arm per man)",
    )
    for month in (0, 12):
        if not np.any(~np.isnan(bmd[visit == month])):
            raise InputError(
                f"column 'bmd_g_cm2': no BMD at all at visit_month {month} "
                "(months 0 and 12 need measured BMD)"
            )
    return frame


def _ids(values: np.ndarray) -> str:
    shown = ", ".join(_subject(v) for v in values[:_NOTE_IDS])
    more = len(values) - _NOTE_IDS
    return shown + (f" and {more} more" if more > 0 else "")


def analysis_notes(data: pd.DataFrame) -> list[str]:
    """One line per reason some men are not (fully) analysed, naming them.

    Parameters
    ----------
    data : pandas.DataFrame
        Long-format trial that passed :func:`validate_long`.

    Returns
    -------
    list of str
        Possibly empty; see the module docstring for the reasons.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"subject_id": [1, 1, 2, 2], "arm": "placebo",
    ...     "visit_month": [0, 12, 0, 12], "age_years": 70.0, "bmi_kg_m2": 27.0,
    ...     "testosterone_ng_dl": 250.0, "estradiol_pg_ml": 20.0,
    ...     "bmd_g_cm2": [1.10, 1.11, None, 1.0]})
    >>> analysis_notes(df)
    ['1 man without a month-0 BMD is not analysed (change from baseline is undefined): subject 2']
    """
    covariates = [c for c in _NUMERIC if c != "visit_month"]
    wide = to_wide(data, tuple(covariates))
    notes = []
    no_base = wide["bmd0"].isna().to_numpy()
    ids = wide["subject_id"].to_numpy()

    def men(n: int) -> str:
        return f"{n} man" if n == 1 else f"{n} men"

    if no_base.any():
        n = int(no_base.sum())
        notes.append(
            f"{men(n)} without a month-0 BMD {'is' if n == 1 else 'are'} not analysed "
            f"(change from baseline is undefined): subject {_ids(ids[no_base])}"
        )
    dropout = ~no_base & wide["bmd12"].isna().to_numpy()
    if dropout.any():
        n = int(dropout.sum())
        notes.append(
            f"{men(n)} without a month-12 BMD: missing=complete_case leaves them out, mmrm uses "
            f"their month-6 BMD, the other strategies impute them: subject {_ids(ids[dropout])}"
        )
    for name in covariates:
        lacking = ~no_base & wide[name].isna().to_numpy()
        if lacking.any():
            n = int(lacking.sum())
            notes.append(
                f"{men(n)} without a month-0 {name}: analyses adjusting for {name} leave them out: "
                f"subject {_ids(ids[lacking])}"
            )
    return notes


def to_wide(data: pd.DataFrame, covariates: tuple[str, ...] = ()) -> pd.DataFrame:
    """One row per man: arm, BMD at each DXA visit and baseline covariates.

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
