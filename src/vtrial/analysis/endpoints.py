"""Two endpoints of one trial: PA spine and total hip BMD, decided by ``analysis.endpoint_rule``.

A trial file with a ``hip_bmd_g_cm2`` column (total hip BMD in g/cm2, on the
same rows as ``bmd_g_cm2``), analysed with a config that sets the hip endpoint
(``effects.hip``), is analysed on both endpoints by every method: each
endpoint exactly as a trial of that outcome alone
(:func:`vtrial.analysis.comparisons.analyze_trial`), the hip with its own
random stream (so the spine rows equal those of a spine-only analysis).

The p-values are then combined by ``analysis.endpoint_rule`` (the rules of
the power engine, :func:`vtrial.multiplicity.endpoint_rule`):

* ``primary``: the spine decides; its ``p_adjusted`` is adjusted over the
  comparisons as in a spine-only analysis. The hip rows are a secondary
  endpoint, adjusted over the comparisons within the hip (as the power
  engine does), and do not decide.
* ``all`` (co-primary): each endpoint at full alpha, adjusted over the
  comparisons within the endpoint only (an intersection-union test needs no
  adjustment across endpoints). A decision row per comparison (``endpoint``
  ``all``) holds the larger of the two adjusted p-values and succeeds only
  when both endpoints are significant.
* ``any``: the p-values of every comparison on both endpoints are adjusted
  together by ``analysis.multiplicity`` (``fixed_sequence``: the spine
  comparisons in ``analysis.multiplicity_order``, then the hip ones in the
  same order; ``dunnett``: Dunnett within each endpoint, then Bonferroni
  across the two endpoints; ``none``: not adjusted). An analysis that failed
  counts as one of the hypotheses, not rejected. A decision row per
  comparison (``endpoint`` ``any``) holds the smaller adjusted p-value and
  succeeds when either endpoint is significant.

The table has the columns of a spine-only analysis, then ``endpoint``
(``spine``, ``hip``, or the rule of a decision row), ``role`` (``primary``,
``secondary``, ``co-primary``, or ``decision``) and ``significant``
(``p_adjusted <= alpha``; the trial decision on a decision row).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

import numpy as np
import pandas as pd

from vtrial.analysis.data import HIP_COLUMN, check_trial, layout_of, with_layout
from vtrial.errors import InputError

__all__ = ["ENDPOINT_COLUMNS", "analyze_endpoints", "endpoint_frames"]

#: Columns a two-endpoint table adds after those of a spine-only analysis.
ENDPOINT_COLUMNS: tuple[str, ...] = ("endpoint", "role", "significant")


def endpoint_frames(data: pd.DataFrame, hip: bool) -> dict[str, pd.DataFrame]:
    """The trial of each endpoint: ``{"spine": data}``, and the hip trial when ``hip``.

    Parameters
    ----------
    data : pandas.DataFrame
        Checked long-format trial (:func:`vtrial.analysis.data.check_trial`)
        with its layout; for the hip, with a ``hip_bmd_g_cm2`` column.
    hip : bool
        Whether the config sets the hip endpoint (``effects.hip``).

    Returns
    -------
    dict of str to pandas.DataFrame
        ``spine`` is ``data``; ``hip`` has the hip values in ``bmd_g_cm2``
        (so that every analysis reads them), checked like the spine (scans
        only at scan months, at least two analysable men per arm); its
        messages name the user's hip column.

    Raises
    ------
    InputError
        No hip column, a generic outcome (not PA spine BMD), or hip data that
        the checks refuse.

    Examples
    --------
    >>> from vtrial.analysis._example import example_trial
    >>> trial = example_trial()
    >>> frames = endpoint_frames(trial.assign(hip_bmd_g_cm2=trial["bmd_g_cm2"] * 0.9), hip=True)
    >>> sorted(frames), frames["hip"]["bmd_g_cm2"].equals(trial["bmd_g_cm2"] * 0.9)
    (['hip', 'spine'], True)
    """
    if not hip:
        return {"spine": data}
    layout = layout_of(data)
    if layout.outcome != "bmd":
        raise InputError(
            f"config key 'effects.hip': a second endpoint needs PA spine BMD as the outcome, not the generic "
            f"outcome {layout.source('bmd_g_cm2')!r} (allowed: leave out effects.hip)"
        )
    if HIP_COLUMN not in data.columns:
        raise InputError(
            f"trial data: missing column {HIP_COLUMN!r} of the hip endpoint set by config key 'effects.hip' "
            f"(allowed: map a total hip BMD column with --columns SRC={HIP_COLUMN}, or leave out effects.hip)"
        )
    names = {**dict(layout.names), "bmd_g_cm2": layout.source(HIP_COLUMN)}
    frame = data.drop(columns="bmd_g_cm2").rename(columns={HIP_COLUMN: "bmd_g_cm2"})
    frame = with_layout(frame, replace(layout, names=tuple(sorted(names.items()))))
    return {"spine": data, "hip": check_trial(frame)}


_ANY_HOW = {
    "none": "not adjusted (analysis.multiplicity: none)",
    "dunnett": "adjusted by Dunnett within each endpoint, Bonferroni across endpoints",
}


def _any_adjusted(tables: Sequence[pd.DataFrame], chosen: Mapping[str, object]) -> list[np.ndarray]:
    """``p_adjusted`` of one method's rows of each endpoint under ``endpoint_rule: any``."""
    from vtrial import multiplicity as mult

    method = chosen["multiplicity"]
    m = len(tables)
    if method == "none":
        return [t["p_value"].to_numpy(float) for t in tables]
    if method == "dunnett":
        # Dunnett within each endpoint (already in the tables), Bonferroni across endpoints.
        return [np.minimum(1.0, m * t["p_adjusted"].to_numpy(float)) for t in tables]
    p = np.concatenate([t["p_value"].to_numpy(float) for t in tables])
    failed = np.isnan(p)
    order = None
    if method == "fixed_sequence":
        k = len(tables[0])
        order = [e * k + i for e in range(m) for i in chosen["order"]]
    adjusted = mult.adjust(np.where(failed, 1.0, p), method, order=order)
    adjusted[failed] = np.nan
    return np.split(adjusted, m)


def _decision_rows(spine: pd.DataFrame, adjusted: np.ndarray, rule: str, why: str) -> pd.DataFrame:
    rows = spine[["method", "missing", "comparison"]].copy()
    for column in ("estimate", "se", "ci_low", "ci_high", "p_value", "df"):
        rows[column] = np.nan
    rows["n_placebo"] = rows["n_anastrozole"] = pd.NA
    rows["note"] = why
    rows["p_adjusted"] = adjusted
    rows["endpoint"] = rule
    rows["role"] = "decision"
    return rows


def analyze_endpoints(
    frames: Mapping[str, pd.DataFrame],
    methods: Sequence[str] | None,
    *,
    missing: str = "complete_case",
    alpha: float = 0.05,
    scale: str = "pct",
    rng: int | np.random.SeedSequence | np.random.Generator | None = None,
    options: Mapping[str, object] | None = None,
    analysis: Mapping[str, object] | None = None,
) -> pd.DataFrame:
    """Every method on every endpoint and comparison, decided by the endpoint rule.

    Parameters
    ----------
    frames : mapping of str to pandas.DataFrame
        From :func:`endpoint_frames`: ``spine``, and ``hip`` when analysed.
    methods, missing, alpha, scale, rng, options, analysis
        As :func:`vtrial.analysis.comparisons.analyze_trial`; ``analysis``
        also gives ``endpoint_rule`` (primary, all, any).

    Returns
    -------
    pandas.DataFrame
        With the spine alone: exactly
        :func:`vtrial.analysis.comparisons.analyze_trial`. With the hip: per
        method, the spine rows, the hip rows, then (rules ``all`` and
        ``any``) one decision row per comparison; the columns of
        ``analyze_trial`` then :data:`ENDPOINT_COLUMNS` (see the module
        docstring). ``n_placebo`` and ``n_anastrozole`` are empty on
        decision rows.

    Raises
    ------
    InputError
        As :func:`vtrial.analysis.comparisons.analyze_trial`, or an endpoint
        rule other than ``primary`` without the hip.

    Examples
    --------
    >>> from vtrial.analysis._example import example_trial
    >>> trial = example_trial()
    >>> frames = endpoint_frames(trial.assign(hip_bmd_g_cm2=trial["bmd_g_cm2"] * 0.9), hip=True)
    >>> t = analyze_endpoints(frames, ["welch_t"], analysis={"endpoint_rule": "all"})
    >>> t[["endpoint", "role"]].values.tolist()
    [['spine', 'co-primary'], ['hip', 'co-primary'], ['all', 'decision']]
    >>> bool(t["p_adjusted"].iloc[2] == t["p_value"].iloc[:2].max())
    True
    """
    from vtrial.analysis import _root_seed, method_seed
    from vtrial.analysis.comparisons import analyze_trial
    from vtrial.multiplicity import validate_analysis

    analysis = dict(analysis or {})
    common = {"missing": missing, "alpha": alpha, "scale": scale, "options": options, "analysis": analysis}
    rule = analysis.get("endpoint_rule") or "primary"
    if set(frames) == {"spine"}:
        if rule != "primary":
            raise InputError(
                f"config key 'analysis.endpoint_rule': value {rule!r} needs a second endpoint "
                "(allowed without the hip: primary)"
            )
        return analyze_trial(frames["spine"], methods, rng=rng, **common)
    root = _root_seed(rng)
    # The spine keeps the root stream, so its rows equal a spine-only analysis.
    tables = {
        endpoint: analyze_trial(
            frame,
            methods,
            rng=root if endpoint == "spine" else method_seed(root, f"endpoint:{endpoint}"),
            **common,
        )
        for endpoint, frame in frames.items()
    }
    labels = list(dict.fromkeys(tables["spine"]["comparison"]))
    chosen = validate_analysis(
        {
            k: v
            for k, v in analysis.items()
            if k in ("multiplicity", "comparisons", "multiplicity_order") and v
        },
        comparisons=labels,
    )
    method_name = chosen["multiplicity"]
    pieces = []
    for name in dict.fromkeys(tables["spine"]["method"]):
        rows = [t[t["method"] == name].copy() for t in tables.values()]
        for endpoint, part in zip(tables, rows, strict=True):
            part["endpoint"] = endpoint
        if rule == "any":
            for part, adjusted in zip(rows, _any_adjusted(rows, chosen), strict=True):
                part["p_adjusted"] = adjusted
                part["role"] = "primary"
        elif rule == "all":
            for part in rows:
                part["role"] = "co-primary"
        else:
            rows[0]["role"] = "primary"
            for part in rows[1:]:
                part["role"] = "secondary"
                part["note"] = [
                    "; ".join(x for x in (n, "secondary endpoint: does not decide") if x)
                    for n in part["note"]
                ]
        for part in rows:
            part["significant"] = part["p_adjusted"].to_numpy(float) <= alpha
        pieces.extend(rows)
        if rule in ("all", "any"):
            stacked = np.vstack([part["p_adjusted"].to_numpy(float) for part in rows])
            if rule == "all":
                combined = stacked.max(axis=0)  # NaN when an endpoint has none
                why = f"co-primary: success only if significant on {' and '.join(tables)}, each at alpha {alpha:g}"
            else:
                combined = np.fmin.reduce(stacked, axis=0)  # NaN only when both are
                how = _ANY_HOW.get(method_name, f"adjusted together ({method_name})")
                why = (
                    f"either endpoint: success if significant on {' or '.join(tables)}; p-values of "
                    f"{len(stacked)} endpoints x {len(labels)} comparison{'s' if len(labels) > 1 else ''} {how}"
                )
            decision = _decision_rows(rows[0], combined, rule, why)
            decision["significant"] = combined <= alpha
            pieces.append(decision)
    table = pd.concat(pieces, ignore_index=True)[[*tables["spine"].columns, *ENDPOINT_COLUMNS]]
    for column in ("n_placebo", "n_anastrozole"):
        table[column] = table[column].astype("Int64")
    table["significant"] = table["significant"].astype(bool)
    return table
