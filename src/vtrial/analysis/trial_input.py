"""Any trial file into the trial-data contract: column names, arm labels, schedule.

A real trial rarely uses the contract's names (``subject_id, arm,
visit_month, bmd_g_cm2``), the arm names of the config, or the 2009 visits.
This module maps all three explicitly, so that nothing is guessed and nothing
is dropped without a word:

* **Columns**: ``--columns SRC=DST[,SRC=DST...]`` or a small YAML file
  (:func:`parse_mapping`) renames the user's columns to contract columns
  (:data:`CONTRACT_COLUMNS`). Mapping a column to ``outcome`` declares a
  generic outcome (a score, not BMD): it is analysed as the change from month
  0 in its own unit, and only required to be finite (BMD keeps its plausible
  range).
* **Arms**: the labels in the data must be configured arm names
  (``trial.arms``; default ``placebo, anastrozole``), or be mapped to them with
  ``--arms LABEL=ARM[,...]``. The control is ``trial.control`` (default: the
  first configured arm, ``placebo`` without ``trial.arms``).
* **Wide files** (one row per subject): ``--wide COLUMN=MONTH[,...]`` names
  the column holding the outcome at each month (:func:`wide_to_long`); the
  other columns (id, arm, baseline covariates) are repeated on every visit.
* **Schedule**: ``trial.schedule.dxa_months`` are the outcome's measurement
  months (0 first), ``trial.schedule.visits_months`` further allowed visits,
  and ``trial.schedule.endpoint_month`` the analysed endpoint (default: the
  last scan); without ``trial.schedule``: visits 0, 3, 6, 12, scans 0, 6, 12,
  endpoint 12. A visit outside the schedule is an error naming it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from vtrial.analysis.data import ARMS, COVARIATES, DEFAULT_LAYOUT, Layout, with_layout
from vtrial.errors import InputError

__all__ = [
    "CONTRACT_COLUMNS",
    "layout_from_config",
    "parse_mapping",
    "parse_wide",
    "prepare_trial",
    "wide_to_long",
]

#: Columns a ``--columns`` mapping may target.
CONTRACT_COLUMNS: tuple[str, ...] = (
    "subject_id",
    "arm",
    "visit_month",
    "bmd_g_cm2",
    "outcome",
    *COVARIATES,
)


def _pairs(text: str, option: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        if item.count("=") != 1 or not all(side.strip() for side in item.split("=")):
            raise InputError(f"{option}: {item!r} is not SRC=DST (allowed: SRC=DST[,SRC=DST...])")
        src, dst = (side.strip() for side in item.split("="))
        if src in out:
            raise InputError(f"{option}: {src!r} is mapped twice (allowed: each name once)")
        out[src] = dst
    return out


def parse_mapping(text: str | None, option: str = "--columns") -> tuple[dict[str, str], dict[str, str]]:
    """Column and arm mappings from ``SRC=DST,...`` or from a YAML file.

    Parameters
    ----------
    text : str or None
        ``"treatment=arm,month=visit_month"``, or the path of a YAML file
        holding either a mapping of columns or the keys ``columns`` and
        ``arms`` (each a mapping ``source: target``).
    option : str
        Option name for messages.

    Returns
    -------
    columns, arms : dict of str to str
        ``arms`` is empty unless the file has an ``arms`` key.

    Raises
    ------
    InputError
        A malformed item, an unreadable file, or a mapping that is not
        ``source: target`` strings.

    Examples
    --------
    >>> parse_mapping("treatment=arm, month=visit_month")
    ({'treatment': 'arm', 'month': 'visit_month'}, {})
    """
    if not text:
        return {}, {}
    if not text.endswith((".yaml", ".yml")):
        return _pairs(text, option), {}
    import yaml

    path = Path(text)
    try:
        content = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise InputError(f"{option}: cannot read {text!r} ({err.strerror or err})") from None
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        reason = " ".join(str(err).split())
        raise InputError(f"{option}: {text!r} is not YAML ({reason})") from None
    if not isinstance(content, Mapping):
        raise InputError(
            f"{option}: {text!r} must hold a mapping (allowed: 'src: dst' lines, or columns:/arms:)"
        )
    sections = {"columns", "arms"}
    if set(content) & sections:
        extra = sorted(set(map(str, content)) - sections)
        if extra:
            raise InputError(
                f"{option}: key {extra[0]!r} in {text!r} is not allowed (allowed: columns, arms)"
            )
        parts = [content.get("columns") or {}, content.get("arms") or {}]
    else:
        parts = [content, {}]
    out = []
    for part, what in zip(parts, ("columns", "arms"), strict=True):
        if not isinstance(part, Mapping):
            raise InputError(f"{option}: {what} in {text!r} must be a mapping (allowed: 'src: dst' lines)")
        out.append({str(k).strip(): str(v).strip() for k, v in part.items()})
    return out[0], out[1]


def parse_wide(text: str) -> dict[str, int]:
    """``COLUMN=MONTH,...`` of a wide file: which column holds the outcome at which month.

    Examples
    --------
    >>> parse_wide("bdi.pre=0, bdi.2m=2")
    {'bdi.pre': 0, 'bdi.2m': 2}
    """
    out = {}
    for column, month in _pairs(text, "--wide").items():
        try:
            value = int(month)
        except ValueError:
            value = -1
        if value < 0 or str(value) != month:
            raise InputError(
                f"--wide: month {month!r} of column {column!r} is not allowed (allowed: whole months >= 0)"
            )
        out[column] = value
    if len(set(out.values())) != len(out):
        raise InputError("--wide: a month is given to two columns (allowed: one column per month)")
    return out


def wide_to_long(frame: pd.DataFrame, months: Mapping[str, int], target: str = "bmd_g_cm2") -> pd.DataFrame:
    """One row per subject into one row per subject and month.

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per subject; its index (e.g. the file line) is kept on each
        of the subject's rows, so that an error names the line.
    months : mapping of str to int
        Column -> month of the outcome value it holds.
    target : str
        Contract column of the values: ``"bmd_g_cm2"`` or ``"outcome"``.

    Returns
    -------
    pandas.DataFrame
        The other columns, ``visit_month`` and ``target``; rows ordered by
        subject, then month.

    Raises
    ------
    InputError
        A month column that is not in the file.

    Examples
    --------
    >>> w = pd.DataFrame({"id": [1, 2], "b0": [1.0, 1.1], "b12": [1.02, None]})
    >>> wide_to_long(w, {"b0": 0, "b12": 12})[["id", "visit_month", "bmd_g_cm2"]].values.tolist()
    [[1.0, 0.0, 1.0], [1.0, 12.0, 1.02], [2.0, 0.0, 1.1], [2.0, 12.0, nan]]
    """
    absent = [c for c in months if c not in frame.columns]
    if absent:
        raise InputError(
            f"--wide: {absent[0]!r} is not a column of the trial file (columns: {', '.join(map(str, frame.columns))})"
        )
    clash = next((c for c in ("visit_month", target) if c in frame.columns and c not in months), None)
    if clash is not None:
        raise InputError(
            f"--wide: the wide file already has a column {clash!r} (allowed: one row per subject)"
        )
    rest = frame.drop(columns=list(months))
    pieces = []
    for column, month in sorted(months.items(), key=lambda item: item[1]):
        piece = rest.copy()
        piece["visit_month"] = month
        piece[target] = frame[column].to_numpy()
        pieces.append(piece)
    long = pd.concat(pieces)
    # Stable sort on the original row keeps each subject's months together, in order.
    order = np.argsort(np.tile(np.arange(len(frame)), len(pieces)), kind="stable")
    return long.iloc[order]


def layout_from_config(cfg: Mapping) -> Layout:
    """The :class:`vtrial.analysis.data.Layout` of the ``trial`` config section.

    Parameters
    ----------
    cfg : mapping
        Validated config (``trial.schedule``, ``trial.arms``, ``trial.control``
        are optional).

    Returns
    -------
    Layout
        Arms with the control first, then the others in configured order.

    Raises
    ------
    InputError
        An endpoint that is not a scan after month 0, scans not starting at 0,
        or a control that is not a configured arm.

    Examples
    --------
    >>> from vtrial.config import load_config
    >>> layout_from_config(load_config()) == Layout()
    True
    >>> layout_from_config({"trial": {"schedule": {"visits_months": [0, 12, 24],
    ...     "dxa_months": [0, 12, 24]}}}).endpoint
    24
    """
    trial = cfg.get("trial", {})
    schedule = trial.get("schedule")
    if schedule:
        scans = tuple(int(m) for m in schedule["dxa_months"])
        visits = tuple(int(m) for m in schedule.get("visits_months") or scans)
        endpoint = schedule.get("endpoint_month")
        endpoint = scans[-1] if endpoint is None else int(endpoint)
        if scans[0] != 0 or list(scans) != sorted(set(scans)):
            raise InputError(
                f"config key 'trial.schedule.dxa_months': value {list(scans)} is not allowed "
                "(allowed: strictly increasing months starting at 0)"
            )
        if endpoint not in scans[1:]:
            raise InputError(
                f"config key 'trial.schedule.endpoint_month': value {endpoint} is not a scan after month 0 "
                f"(allowed: {', '.join(map(str, scans[1:]))})"
            )
    else:
        scans, visits, endpoint = DEFAULT_LAYOUT.scans, DEFAULT_LAYOUT.visits, DEFAULT_LAYOUT.endpoint
    configured = [a["name"] for a in trial.get("arms") or ()] or list(ARMS)
    control = trial.get("control") or configured[0]
    if control not in configured:
        raise InputError(
            f"config key 'trial.control': value {control!r} is not an arm (allowed: {', '.join(configured)})"
        )
    arms = (control, *(a for a in configured if a != control))
    return Layout(scans=scans, visits=visits, endpoint=endpoint, arms=arms)


def prepare_trial(
    frame: pd.DataFrame,
    layout: Layout,
    columns: Mapping[str, str] | None = None,
    arms: Mapping[str, str] | None = None,
    wide: Mapping[str, int] | None = None,
    wide_outcome: str = "bmd_g_cm2",
) -> pd.DataFrame:
    """Rename columns and arm labels into the contract and attach the layout.

    Parameters
    ----------
    frame : pandas.DataFrame
        The user's long table (one row per subject and visit).
    layout : Layout
        Schedule and arms (:func:`layout_from_config`).
    columns : mapping, optional
        The user's column name -> contract column (:data:`CONTRACT_COLUMNS`).
    arms : mapping, optional
        Label in the data -> configured arm name.
    wide, wide_outcome : optional
        A wide file: column -> month of each outcome column, and the contract
        column of those values (``bmd_g_cm2`` or ``outcome``); see
        :func:`wide_to_long`. The ``columns`` renaming comes first.

    Returns
    -------
    pandas.DataFrame
        Contract columns; a generic ``outcome`` is held in ``bmd_g_cm2`` with
        ``layout.outcome == "generic"``; the layout (with the user's column
        names, for messages) attached. Not yet checked: pass it to
        :func:`vtrial.analysis.data.check_trial`.

    Raises
    ------
    InputError
        A mapped column that is not in the file, a target that is not a
        contract column or is targeted twice, both ``outcome`` and
        ``bmd_g_cm2``, or an arm label that is neither configured nor mapped.

    Examples
    --------
    >>> import pandas as pd
    >>> raw = pd.DataFrame({"id": [1, 1], "group": "TAU", "month": [0, 8], "bdi": [20, 12]})
    >>> lay = Layout(scans=(0, 8), visits=(0, 8), endpoint=8, arms=("TAU", "BtheB"))
    >>> out = prepare_trial(raw, lay, {"id": "subject_id", "group": "arm", "month": "visit_month",
    ...                                 "bdi": "outcome"})
    >>> list(out.columns), out.attrs["vtrial_layout"].outcome
    (['subject_id', 'arm', 'visit_month', 'bmd_g_cm2'], 'generic')
    """
    columns = dict(columns or {})
    for src, dst in columns.items():
        if src not in frame.columns:
            raise InputError(
                f"--columns: {src!r} is not a column of the trial file (columns: {', '.join(map(str, frame.columns))})"
            )
        if dst not in CONTRACT_COLUMNS:
            raise InputError(
                f"--columns: target {dst!r} of {src!r} is not allowed (allowed: {', '.join(CONTRACT_COLUMNS)})"
            )
    targets = list(columns.values())
    twice = next((d for d in targets if targets.count(d) > 1), None)
    if twice is not None:
        raise InputError(f"--columns: target {twice!r} is given twice (allowed: each target once)")
    clash = next((d for s, d in columns.items() if d in frame.columns and d not in columns), None)
    if clash is not None:
        raise InputError(
            f"--columns: target {clash!r} is already a column of the file (allowed: map it away too, "
            f"e.g. {clash}=old_{clash}, or use the file's column)"
        )
    out = frame.rename(columns=columns)
    names = {dst: src for src, dst in columns.items()}
    if wide:
        if wide_outcome not in ("bmd_g_cm2", "outcome"):
            raise InputError(
                f"--wide-outcome: value {wide_outcome!r} is not allowed (allowed: bmd_g_cm2, outcome)"
            )
        out = wide_to_long(out, {columns.get(c, c): m for c, m in wide.items()}, wide_outcome)
    outcome = "bmd"
    if "outcome" in out.columns:
        if "bmd_g_cm2" in out.columns:
            raise InputError(
                "--columns: both 'outcome' and 'bmd_g_cm2' are present (allowed: one outcome; "
                "'outcome' for a generic score, 'bmd_g_cm2' for PA spine BMD)"
            )
        out = out.rename(columns={"outcome": "bmd_g_cm2"})
        names["bmd_g_cm2"] = names.pop("outcome", "outcome")
        outcome = "generic"
    if "arm" in out.columns:
        out["arm"] = _map_arms(out, layout, dict(arms or {}), names.get("arm", "arm"))
    elif arms:
        raise InputError("--arms: the file has no arm column (map one with --columns SRC=arm)")
    final = Layout(
        scans=layout.scans,
        visits=layout.visits,
        endpoint=layout.endpoint,
        arms=layout.arms,
        outcome=outcome,
        names=tuple(sorted(names.items())),
    )
    return with_layout(out, final)


def _map_arms(frame: pd.DataFrame, layout: Layout, arms: dict[str, str], column: str) -> pd.Series:
    raw = frame["arm"]
    # Labels as text (a 0/1 column reads as numbers, 1.0 when a cell is empty);
    # an empty cell stays empty.
    if pd.api.types.is_numeric_dtype(raw):
        text = raw.map(lambda v: v if pd.isna(v) else (str(int(v)) if float(v).is_integer() else str(v)))
    else:
        text = raw.map(lambda v: v.strip() if isinstance(v, str) else v)
    present = set(text.dropna())
    for label, arm in arms.items():
        if arm not in layout.arms:
            raise InputError(
                f"--arms: {label}={arm}: {arm!r} is not a configured arm (allowed: {', '.join(layout.arms)}; "
                "set trial.arms to name other arms)"
            )
        if label not in present:
            raise InputError(
                f"--arms: label {label!r} is not in column {column!r} (labels: {', '.join(sorted(present))})"
            )
    mapped = text.map(lambda v: arms.get(v, v) if isinstance(v, str) else v)
    # A label still unknown is refused by validate_long, naming its subject and line.
    return mapped
