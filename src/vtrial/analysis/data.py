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
  not one of the trial's scheduled visits (the :class:`Layout`: by default
  :data:`vtrial.trial.VISITS`; ``trial.schedule`` in the config sets another):
  a relabelled or extra visit would otherwise be ignored or misread;
* an outcome at a visit without a scan (outside ``Layout.scans``, by default
  :data:`vtrial.trial.BMD_VISITS`): it would be ignored;
* a value outside :data:`PLAUSIBLE` (non-finite numbers included) in a column
  that is present: these are entry or unit errors, and one of them (a
  baseline BMD of 1e300) is enough to reverse or void the treatment effect.
  A generic outcome (``Layout.outcome == "generic"``: the data's ``outcome``
  column, e.g. a depression score) is only required to be finite;
* a man without ``subject_id`` or ``arm``, an arm label other than the
  layout's arms, a man in two arms, two rows for one man and visit.

Only ``subject_id, arm, visit_month, bmd_g_cm2`` are required; a covariate
column (age, BMI, hormones) is needed only by an analysis that adjusts for it.

What is analysed without some men, with a note
----------------------------------------------
Real trials have men whose baseline scan failed, who dropped out, or whose
covariate was not measured. Refusing those files would make the tool useless
for real data, so :func:`analysis_notes` names them instead (one line per
reason, printed on stderr by :func:`vtrial.analysis.read_trial_csv`):

* men without a month-0 BMD are never analysed (change from baseline is
  undefined);
* men without an endpoint BMD are left out by ``complete_case``, and imputed
  or carried forward by the other strategies (the MMRM uses their earlier scans);
* men who missed a scan before the endpoint but were seen later (an
  intermittent gap) are named: the MMRM uses every scan they have;
* men without a month-0 value of a numeric covariate are left out of any
  analysis that adjusts for that covariate.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from vtrial.errors import InputError
from vtrial.trial import BMD_VISITS, VISITS

__all__ = [
    "ARMS",
    "BMD_VISITS",
    "DEFAULT_LAYOUT",
    "PLAUSIBLE",
    "REQUIRED_COLUMNS",
    "VISITS",
    "Layout",
    "analysis_notes",
    "check_trial",
    "layout_of",
    "with_layout",
    "to_wide",
    "validate_long",
]

REQUIRED_COLUMNS: tuple[str, ...] = ("subject_id", "arm", "visit_month", "bmd_g_cm2")
# Order matters: index 0 is the reference (placebo) arm of every contrast.
ARMS: tuple[str, str] = ("placebo", "anastrozole")
#: Baseline covariates of the trial-data contract; each is optional.
COVARIATES: tuple[str, ...] = ("age_years", "bmi_kg_m2", "testosterone_ng_dl", "estradiol_pg_ml")
_NUMERIC = ("visit_month", *COVARIATES)


@dataclass(frozen=True)
class Layout:
    """What a trial file holds: its visits, scans, endpoint, arms and outcome.

    Attributes
    ----------
    scans : tuple of int
        Months (since randomization) at which the outcome is measured,
        strictly increasing, starting at 0 (the baseline).
    visits : tuple of int
        Every allowed ``visit_month`` (the scans are always allowed).
    endpoint : int
        Month of the primary endpoint, one of ``scans`` after 0.
    arms : tuple of str
        Arm labels the ``arm`` column may hold; the first is the reference
        of ``treat`` (in a two-arm analysis: the control).
    outcome : {"bmd", "generic"}
        ``"bmd"``: ``bmd_g_cm2`` is PA spine BMD and must lie in
        :data:`PLAUSIBLE`; ``"generic"``: any finite outcome (mapped from the
        data's ``outcome`` column).
    names : tuple of (str, str)
        ``(contract column, column in the user's file)`` pairs, so that an
        error names the column the user knows.

    Examples
    --------
    >>> Layout(scans=(0, 6, 12, 18, 24), endpoint=24).visit_months
    (0, 3, 6, 12, 18, 24)
    """

    scans: tuple[int, ...] = BMD_VISITS
    visits: tuple[int, ...] = VISITS
    endpoint: int = 12
    arms: tuple[str, ...] = ARMS
    outcome: str = "bmd"
    names: tuple[tuple[str, str], ...] = field(default=(), compare=False)

    @property
    def visit_months(self) -> tuple[int, ...]:
        """Allowed ``visit_month`` values: visits and scans, sorted."""
        return tuple(sorted(set(self.visits) | set(self.scans)))

    @property
    def post_baseline(self) -> tuple[int, ...]:
        """Scans after month 0."""
        return tuple(m for m in self.scans if m > 0)

    def source(self, column: str) -> str:
        """The user's name of a contract column (itself when not mapped)."""
        return dict(self.names).get(column, column)


#: The 2009 trial: visits 0, 3, 6, 12; scans 0, 6, 12; endpoint 12; placebo, anastrozole.
DEFAULT_LAYOUT = Layout()
_ATTR = "vtrial_layout"


def layout_of(frame: pd.DataFrame) -> Layout:
    """The :class:`Layout` attached to a long or wide table (default: the 2009 trial).

    Examples
    --------
    >>> import pandas as pd
    >>> layout_of(pd.DataFrame()).endpoint
    12
    """
    return frame.attrs.get(_ATTR, DEFAULT_LAYOUT)


def with_layout(frame: pd.DataFrame, layout: Layout) -> pd.DataFrame:
    """``frame`` (not copied) with ``layout`` attached; pandas keeps it through copies."""
    frame.attrs[_ATTR] = layout
    return frame


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
        name = layout_of(frame).source(column)
        raise InputError(f"column {name!r}, {_where(frame, position)}: {shown} {why}")


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


def _check_visits(frame: pd.DataFrame, layout: Layout) -> None:
    visit = frame["visit_month"].to_numpy()
    allowed = layout.visit_months
    _refuse(
        frame,
        "visit_month",
        np.isnan(visit),
        f"is not allowed (allowed: the scheduled visits {_months(allowed)}, months since randomization)",
    )
    # Another schedule is a config setting: say so, so that no visit is dropped unseen.
    default = (layout.scans, layout.visits) == (DEFAULT_LAYOUT.scans, DEFAULT_LAYOUT.visits)
    how = "; another schedule: set trial.schedule" if default else ""
    _refuse(
        frame,
        "visit_month",
        ~np.isin(visit, allowed),
        f"is not a scheduled visit (allowed: {_months(allowed)}, whole months since randomization{how})",
    )
    bmd = frame["bmd_g_cm2"].to_numpy()
    what = "BMD" if layout.outcome == "bmd" else "outcome"
    _refuse(
        frame,
        "bmd_g_cm2",
        ~np.isin(visit, layout.scans) & ~np.isnan(bmd),
        f"is at a visit without a {'DXA ' if what == 'BMD' else ''}scan (allowed: {what} at months "
        f"{_months(layout.scans)} only; empty at the other visits)",
    )


def _check_ranges(frame: pd.DataFrame, layout: Layout) -> None:
    for column, (low, high, unit, reason) in PLAUSIBLE.items():
        if column not in frame.columns:
            continue
        values = frame[column].to_numpy()
        if column == "bmd_g_cm2" and layout.outcome == "generic":
            _refuse(frame, column, ~np.isnan(values) & ~np.isfinite(values), "is not a finite number")
            continue
        # NaN is "not measured"; inf and -inf fail the range test.
        bad = ~np.isnan(values) & ~((values >= low) & (values <= high))
        _refuse(
            frame,
            column,
            bad,
            f"is not allowed (allowed: {low:g} to {high:g} {unit}, or empty when not measured: {reason})",
        )


def validate_long(data: pd.DataFrame, layout: Layout | None = None) -> pd.DataFrame:
    """Check a long-format trial table and return a clean copy.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per man and scheduled visit with at least the columns
        ``subject_id, arm, visit_month, bmd_g_cm2``; the covariates
        ``age_years, bmi_kg_m2, testosterone_ng_dl, estradiol_pg_ml`` are
        optional (extra columns are kept). BMD in g/cm2, visit in months since
        randomization. Error messages name a row by ``subject_id`` and by its
        1-based position, or by the index value when the index is named
        ``line`` (file lines).
    layout : Layout, optional
        Visits, scans, endpoint, arms and outcome; default: the one attached
        to ``data`` (:func:`layout_of`), else the 2009 trial.

    Returns
    -------
    pandas.DataFrame
        Copy with numeric columns as float, ``arm`` as str and the layout
        attached.

    Raises
    ------
    InputError
        A missing column; an empty ``subject_id``; an arm label other than
        the layout's arms; a non-numeric value; a visit outside the layout's
        visits; an outcome at a visit without a scan; a value outside
        :data:`PLAUSIBLE`; a man in two arms; a repeated (man, visit) row; or
        no outcome at all at month 0 or at the endpoint.

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
    vtrial.errors.InputError: column 'visit_month', subject 1 (row 2): value 24 is not a scheduled visit (allowed: 0, 3, 6, 12, whole months since randomization; another schedule: set trial.schedule)
    >>> validate_long(df.assign(visit_month=[0, 24]), Layout(scans=(0, 12, 24), endpoint=24)).shape
    (2, 8)
    """  # noqa: E501 - a doctest's expected output is one line
    if not isinstance(data, pd.DataFrame):
        raise InputError(f"trial data must be a pandas DataFrame, not {type(data).__name__}")
    layout = layout or layout_of(data)
    missing = [c for c in REQUIRED_COLUMNS if c not in data.columns]
    if missing:
        raise InputError(
            f"trial data: missing column(s) {', '.join(repr(layout.source(c)) for c in missing)} "
            f"(required: {', '.join(REQUIRED_COLUMNS)}; map other names with --columns SRC=DST)"
        )
    if len(data) == 0:
        raise InputError("trial data: no rows (need one row per man and visit)")
    frame = with_layout(data.copy(), layout)
    _refuse(
        frame,
        "subject_id",
        frame["subject_id"].isna().to_numpy(),
        "is not allowed (every row needs the id of its man)",
    )
    arms = layout.arms
    arm = frame["arm"]
    if not arm.isin(arms).all():
        # Tolerate surrounding spaces (hand-edited CSVs); anything else is an error.
        arm = arm.astype("string").str.strip()
        bad_arm = (arm.isna() | ~arm.isin(arms)).to_numpy()
        _refuse(
            frame,
            "arm",
            bad_arm,
            f"is not allowed (allowed: {', '.join(arms)}; other labels: map them with --arms LABEL=ARM "
            "or name the arms in trial.arms)",
        )
        frame["arm"] = arm.astype(str)
    for column in (*_NUMERIC, "bmd_g_cm2"):
        if column in frame.columns and frame[column].dtype != float:
            frame[column] = _as_numeric(frame, column)
    _check_visits(frame, layout)
    _check_ranges(frame, layout)
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
    arm_code = pd.Categorical(frame["arm"], categories=arms).codes
    first_arm = pd.Series(arm_code).groupby(codes).transform("first").to_numpy()
    _refuse(
        frame,
        "arm",
        arm_code != first_arm,
        "differs from this man's arm on his first row (allowed: one arm per man)",
    )
    what = "BMD" if layout.outcome == "bmd" else "outcome"
    for month in (0, layout.endpoint):
        if not np.any(~np.isnan(bmd[visit == month])):
            raise InputError(
                f"column {layout.source('bmd_g_cm2')!r}: no {what} at all at visit_month {month} "
                f"(months 0 and {layout.endpoint} need measured {what})"
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
    layout = layout_of(data)
    covariates = [c for c in COVARIATES if c in data.columns]
    wide = to_wide(data, tuple(covariates))
    what = "BMD" if layout.outcome == "bmd" else "outcome"
    end = layout.endpoint
    notes = []
    no_base = wide["bmd0"].isna().to_numpy()
    ids = wide["subject_id"].to_numpy()

    one, many = ("man", "men") if layout.outcome == "bmd" else ("subject", "subjects")

    def men(n: int) -> str:
        return f"{n} {one}" if n == 1 else f"{n} {many}"

    if no_base.any():
        n = int(no_base.sum())
        notes.append(
            f"{men(n)} without a month-0 {what} {'is' if n == 1 else 'are'} not analysed "
            f"(change from baseline is undefined): subject {_ids(ids[no_base])}"
        )
    dropout = ~no_base & wide[f"bmd{end}"].isna().to_numpy()
    if dropout.any():
        n = int(dropout.sum())
        earlier = [m for m in layout.post_baseline if m < end]
        uses = f"month-{earlier[-1]} {what}" if earlier == [6] else "earlier scans"
        notes.append(
            f"{men(n)} without a month-{end} {what}: missing=complete_case leaves them out, mmrm uses "
            f"their {uses}, the other strategies impute them: subject {_ids(ids[dropout])}"
        )
    post = np.column_stack([wide[f"bmd{m}"].to_numpy() for m in layout.post_baseline])
    seen = ~np.isnan(post)
    # A missed scan followed by a seen one (not monotone dropout). With one scan
    # before the endpoint every method treats such a man as the 2009 analyses do.
    seen_later = np.logical_or.accumulate(seen[:, ::-1], axis=1)[:, ::-1][:, 1:]
    gap = ~no_base & np.any(~seen[:, :-1] & seen_later, axis=1) & (seen.shape[1] > 2)
    if gap.any():
        n = int(gap.sum())
        notes.append(
            f"{men(n)} missed a scan but {'was' if n == 1 else 'were'} seen later (intermittent gap): "
            f"mmrm uses every scan they have, locf carries the last scan before month {end} forward, "
            f"multiple imputation uses the scan just before month {end} only: subject {_ids(ids[gap])}"
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
    """One row per man: arm, outcome at each scan and baseline covariates.

    Parameters
    ----------
    data : pandas.DataFrame
        Long-format trial (see :func:`validate_long`; its layout is kept).
    covariates : tuple of str
        Numeric columns whose month-0 value is wanted, e.g. ``("age_years",)``.

    Returns
    -------
    pandas.DataFrame
        Columns ``subject_id, arm, treat`` (1 for the layout's second arm,
        anastrozole by default, else 0), ``bmd<m>`` for every scan month
        ``m`` of the layout (``bmd0, bmd6, bmd12`` by default; g/cm2, NaN
        when not measured) and one column per covariate (baseline value),
        ordered by first appearance of each man; the layout is attached
        (:func:`layout_of`).

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
    layout = layout_of(frame)
    for name in covariates:
        if name not in frame.columns:
            raise InputError(
                f"covariate {name!r} is not a column of the trial data "
                f"(allowed: numeric columns such as {', '.join(COVARIATES)}; map other names "
                "with --columns SRC=DST)"
            )
        if name in ("subject_id", "arm", "visit_month", "bmd_g_cm2"):
            raise InputError(
                f"covariate {name!r} is not allowed (baseline BMD is always adjusted for; allowed: "
                f"other numeric columns such as {', '.join(COVARIATES)})"
            )
        frame[name] = _as_numeric(frame, name)
    codes, ids = pd.factorize(frame["subject_id"], sort=False)
    n = len(ids)
    arm_of = np.empty(n, dtype=object)
    arm_of[codes] = frame["arm"].to_numpy()
    visit = frame["visit_month"].to_numpy()
    bmd = frame["bmd_g_cm2"].to_numpy()
    out = {"subject_id": ids, "arm": arm_of.astype(str)}
    out["treat"] = (out["arm"] == layout.arms[1]).astype(float)
    for month in layout.scans:
        column = np.full(n, np.nan)
        rows = visit == month
        column[codes[rows]] = bmd[rows]
        out[f"bmd{month}"] = column
    baseline = visit == 0
    for name in covariates:
        column = np.full(n, np.nan)
        column[codes[baseline]] = frame[name].to_numpy()[baseline]
        out[name] = column
    return with_layout(pd.DataFrame(out), layout)


def check_trial(data: pd.DataFrame, minimum_per_arm: int = 2) -> pd.DataFrame:
    """Validate a trial and require analysable men in every arm.

    A man is analysable when both his month-0 and endpoint outcome are
    measured, the minimum any strategy needs to estimate an arm's mean change.

    Parameters
    ----------
    data : pandas.DataFrame
        Long-format trial (with its layout attached, or the 2009 trial's).
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
    layout = layout_of(frame)
    wide = to_wide(frame)
    end = layout.endpoint
    complete = wide["bmd0"].notna() & wide[f"bmd{end}"].notna()
    what = "BMD" if layout.outcome == "bmd" else "outcome"
    for label in layout.arms:
        n = int((complete & (wide["arm"] == label)).sum())
        if n < minimum_per_arm:
            raise InputError(
                f"column {layout.source('arm')!r}: arm {label!r} has {n} analysable men with {what} at "
                f"months 0 and {end} (allowed: at least {minimum_per_arm} per arm)"
            )
    return frame
