"""Every comparison of a trial with two or more arms, with multiplicity-adjusted p-values.

The comparisons are those of ``analysis.comparisons``: each arm against the
control (``vs_control``) or every pair of arms (``all_pairs``), labelled
``"<arm>-<reference>"`` (the later arm in the layout's order minus the
earlier; the control comes first), e.g. ``anastrozole-placebo``.

How each method compares arms
-----------------------------
* **Two arms**: exactly the two-arm analyses of :func:`vtrial.analysis.run_methods`
  (the control in the role of placebo); the adjusted p-value equals the raw one.
* **Three or more arms, joint models** (``missing`` = ``complete_case``,
  ``bocf`` or ``locf``): ``student_t`` uses the variance pooled over all arms
  (df = N - number of arms, the one-way ANOVA contrasts, as R
  ``lm(change ~ arm)``); ``ancova`` fits ``change ~ arm + baseline (+
  covariates)`` once over all arms; ``mmrm`` fits one model with
  visit-specific effects of every arm and Satterthwaite df per contrast.
* **Everything else** (Welch, rank, resampling methods, multiple imputation):
  each comparison is analysed on the men of its two arms only (noted in the
  ``note`` column), with its own random stream.

Adjusted p-values (column ``p_adjusted``) follow ``analysis.multiplicity``
within each method over its comparisons (:func:`vtrial.multiplicity.adjust`).
``dunnett`` (vs_control only) uses the single-step many-to-one distribution
with common df: exact for the pooled ``student_t``; for ``ancova`` the
correlations ``lambda_i lambda_j`` from the arm sizes ignore the small effect
of the baseline adjustment on them. Other methods have no common-df t
statistics, so their ``p_adjusted`` is NaN with a note.

The ``n_placebo`` and ``n_anastrozole`` columns count the men analysed in the
reference and in the compared arm of each row.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from vtrial.analysis.data import ARMS, Layout, layout_of, to_wide, with_layout
from vtrial.analysis.missing import FitError, parse_covariates, single_outcome, t_inference
from vtrial.analysis.mmrm import fit_mmrm_visits, mmrm_arrays
from vtrial.analysis.result import AnalysisResult, nan_result, results_to_frame
from vtrial.errors import InputError

__all__ = ["JOINT", "analyze_trial", "comparison_pairs"]

#: Methods fitted once over all arms (single-value strategies only).
JOINT: tuple[str, ...] = ("student_t", "ancova", "mmrm")
_SINGLE = ("complete_case", "bocf", "locf")


def comparison_pairs(arms: Sequence[str], kind: str = "vs_control") -> list[tuple[str, str]]:
    """(compared arm, reference arm) of each comparison, control first in ``arms``.

    Examples
    --------
    >>> comparison_pairs(["placebo", "low", "high"], "all_pairs")
    [('low', 'placebo'), ('high', 'placebo'), ('high', 'low')]
    """
    if kind == "vs_control":
        return [(arm, arms[0]) for arm in arms[1:]]
    return [(arms[j], arms[i]) for i in range(len(arms)) for j in range(i + 1, len(arms))]


def _pair_data(data: pd.DataFrame, arm: str, reference: str) -> pd.DataFrame:
    """The men of two arms, relabelled placebo (reference) and anastrozole (compared)."""
    layout = layout_of(data)
    sub = data[data["arm"].isin((reference, arm))].copy()
    sub["arm"] = np.where(sub["arm"] == reference, ARMS[0], ARMS[1])
    pair = Layout(layout.scans, layout.visits, layout.endpoint, ARMS, layout.outcome, layout.names)
    return with_layout(sub, pair)


def _rename_note(note: str, arm: str, reference: str) -> str:
    if not note or (arm, reference) == (ARMS[1], ARMS[0]):
        return note
    return re.sub(r"\banastrozole\b", arm, re.sub(r"\bplacebo\b", reference, note))


def _joint_results(
    name: str,
    data: pd.DataFrame,
    pairs: list[tuple[str, str]],
    *,
    missing: str,
    alpha: float,
    scale: str,
    options: Mapping[str, object],
) -> tuple[list[AnalysisResult], float, dict[str, int]]:
    """Results of one joint model, its common df (NaN for mmrm) and men analysed per arm."""
    layout = layout_of(data)
    arms = layout.arms
    covs = parse_covariates(options.get("covariates", ())) if name != "student_t" else ()
    wide = to_wide(data, covs)
    if name == "mmrm":
        z, y, arm = mmrm_arrays(wide, scale, covs, arms)
        counts = {a: int((arm == a).sum()) for a in arms}
        q = z.shape[1]
        base = layout.post_baseline.index(layout.endpoint) * q
        contrasts = np.zeros((len(pairs), y.shape[1] * q))
        for row, (a, r) in enumerate(pairs):
            for label, sign in ((a, 1.0), (r, -1.0)):
                if label != arms[0]:
                    contrasts[row, base + arms.index(label)] += sign
        try:
            if min(counts.values()) < 2:
                raise FitError(f"fewer than 2 men in an arm ({_counts_text(counts)})")
            fit = fit_mmrm_visits(z, y, contrasts, layout.post_baseline)
        except FitError as err:
            return (
                [nan_result(name, missing, str(err), counts[r], counts[a]) for a, r in pairs],
                np.nan,
                counts,
            )
        est = contrasts @ fit.beta
        se = np.sqrt(np.einsum("ij,jk,ik->i", contrasts, fit.cov_beta, contrasts))
        dfs = np.array(fit.contrast_dfs)
        return _rows(name, missing, pairs, est, se, dfs, counts, alpha), np.nan, counts
    y = single_outcome(wide, missing, scale)
    use = wide["bmd0"].notna().to_numpy() & ~np.isnan(y)
    for c in covs:
        use = use & wide[c].notna().to_numpy()
    arm = wide["arm"].to_numpy()[use]
    y = y[use]
    counts = {a: int((arm == a).sum()) for a in arms}
    dummies = [(arm == a).astype(float) for a in arms[1:]]
    try:
        if min(counts.values()) < 2:
            raise FitError(f"fewer than 2 analysable men in an arm ({_counts_text(counts)})")
        if name == "student_t":
            x = np.column_stack([np.ones(len(y)), *dummies])
        else:
            x = np.column_stack(
                [np.ones(len(y)), *dummies, wide["bmd0"].to_numpy()[use]]
                + [wide[c].to_numpy()[use] for c in covs]
            )
        p = x.shape[1]
        if len(y) <= p or np.linalg.matrix_rank(x) < p:
            raise FitError(f"{name} design is singular or has {len(y)} men for {p} coefficients")
        xtx_inv = np.linalg.inv(x.T @ x)
        beta = xtx_inv @ (x.T @ y)
        resid = y - x @ beta
        df = float(len(y) - p)
        if name == "ancova" and options.get("robust") is not None:
            if str(options["robust"]).upper() != "HC3":
                raise InputError(
                    f"ancova option robust={options['robust']!r} is not allowed (allowed: None, 'HC3')"
                )
            lev = np.einsum("ij,jk,ik->i", x, xtx_inv, x)
            meat = (x * (resid / (1.0 - lev))[:, None] ** 2).T @ x
            cov = xtx_inv @ meat @ xtx_inv
        else:
            cov = xtx_inv * (resid @ resid / df)
        contrasts = np.zeros((len(pairs), p))
        for row, (a, r) in enumerate(pairs):
            for label, sign in ((a, 1.0), (r, -1.0)):
                if label != arms[0]:
                    contrasts[row, arms.index(label)] += sign
        est = contrasts @ beta
        se = np.sqrt(np.einsum("ij,jk,ik->i", contrasts, cov, contrasts))
        if not np.all(se > 0):
            raise FitError(f"{name} residual variance is zero")
    except FitError as err:
        return [nan_result(name, missing, str(err), counts[r], counts[a]) for a, r in pairs], np.nan, counts
    return _rows(name, missing, pairs, est, se, np.full(len(pairs), df), counts, alpha), df, counts


def _counts_text(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{a} {n}" for a, n in counts.items())


def _rows(name, missing, pairs, est, se, dfs, counts, alpha) -> list[AnalysisResult]:
    out = []
    for (a, r), e, s, d in zip(pairs, est, se, dfs, strict=True):
        lo, hi, p = t_inference(float(e), float(s), float(d), alpha)
        out.append(
            AnalysisResult(name, missing, float(e), float(s), lo, hi, p, float(d), counts[r], counts[a])
        )
    return out


def _adjusted(
    results: list[AnalysisResult],
    multiplicity: str,
    order: tuple[int, ...] | None,
    dunnett: tuple[float, Sequence[int]] | None,
) -> tuple[np.ndarray, str]:
    """Adjusted p-values of one method's comparisons, and a note when there are none."""
    from vtrial import multiplicity as mult

    p = np.array([r.p_value for r in results], dtype=float)
    if len(results) == 1:
        return p, ""
    if multiplicity == "dunnett":
        if dunnett is None or not np.isfinite(dunnett[0]):
            return np.full(len(p), np.nan), (
                "no dunnett adjustment: it needs t statistics with one pooled df (student_t, ancova; "
                "complete_case, bocf or locf)"
            )
        df, sizes = dunnett
        t = np.array([r.estimate / r.se for r in results])
        return mult.dunnett_adjusted_p(t, allocation=list(sizes), df=df), ""
    return mult.adjust(p, multiplicity, order=order if multiplicity == "fixed_sequence" else None), ""


def analyze_trial(
    data: pd.DataFrame,
    methods: Sequence[str] | None,
    *,
    missing: str = "complete_case",
    alpha: float = 0.05,
    scale: str = "pct",
    rng: int | np.random.SeedSequence | np.random.Generator | None = None,
    options: Mapping[str, object] | None = None,
    analysis: Mapping[str, object] | None = None,
) -> pd.DataFrame:
    """Run methods on a trial with any number of arms; one row per method and comparison.

    Parameters
    ----------
    data : pandas.DataFrame
        Long-format trial with its layout attached (arms control first), e.g.
        from :func:`vtrial.analysis.trial_input.prepare_trial` and
        :func:`vtrial.analysis.data.check_trial`.
    methods, missing, alpha, scale, rng, options
        As :func:`vtrial.analysis.run_methods`.
    analysis : mapping, optional
        The ``analysis`` config section: ``comparisons`` (vs_control,
        all_pairs), ``multiplicity`` and ``multiplicity_order``
        (:func:`vtrial.multiplicity.validate_analysis`).

    Returns
    -------
    pandas.DataFrame
        The columns of :func:`vtrial.analysis.run_methods`, then
        ``comparison`` (``"<arm>-<reference>"``) and ``p_adjusted``.

    Raises
    ------
    InputError
        As :func:`vtrial.analysis.run_methods`, or invalid multiplicity keys.

    Examples
    --------
    >>> from vtrial.analysis._example import example_trial
    >>> t = analyze_trial(example_trial(), ["welch_t"])
    >>> t[["method", "comparison"]].values.tolist()
    [['welch_t', 'anastrozole-placebo']]
    >>> bool(t["p_adjusted"].iloc[0] == t["p_value"].iloc[0])
    True
    """
    from vtrial.analysis import _root_seed, method_seed, run_methods
    from vtrial.multiplicity import validate_analysis

    layout = layout_of(data)
    arms = layout.arms
    analysis = dict(analysis or {})
    pairs = comparison_pairs(arms, analysis.get("comparisons") or "vs_control")
    labels = [f"{a}-{r}" for a, r in pairs]
    chosen = validate_analysis(
        {
            k: v
            for k, v in analysis.items()
            if k in ("multiplicity", "comparisons", "multiplicity_order") and v
        },
        comparisons=labels,
    )
    options = dict(options or {})
    common = {"missing": missing, "alpha": alpha, "scale": scale, "options": options}
    if len(arms) == 2:
        (arm, reference), label = pairs[0], labels[0]
        table = run_methods(_pair_data(data, arm, reference), methods, rng=rng, **common)
        table["note"] = [_rename_note(n, arm, reference) for n in table["note"]]
        table["comparison"] = label
        table["p_adjusted"] = table["p_value"]
        return table
    from vtrial.analysis import _method_options, checked_methods
    from vtrial.method_registry import METHODS

    root = _root_seed(rng)
    frames = []
    for name in checked_methods(methods, missing):
        opts = _method_options(name, METHODS[name][0], options)
        dunnett = None
        if name in JOINT and missing in _SINGLE:
            results, df, counts = _joint_results(
                name, data, pairs, missing=missing, alpha=alpha, scale=scale, options=opts
            )
            if name != "mmrm":
                dunnett = (df, [counts[a] for a in arms])
        else:
            results = []
            for (arm, reference), label in zip(pairs, labels, strict=True):
                row = run_methods(
                    _pair_data(data, arm, reference),
                    [name],
                    rng=method_seed(root, f"{name}:{label}"),
                    missing=missing,
                    alpha=alpha,
                    scale=scale,
                    options={name: opts},
                ).iloc[0]
                note = _rename_note(row["note"], arm, reference)
                note = "; ".join(x for x in (f"pairwise: men of {arm} and {reference} only", note) if x)
                results.append(AnalysisResult(**{**row.to_dict(), "note": note}))
        adjusted, why = _adjusted(results, chosen["multiplicity"], chosen["order"], dunnett)
        frame = results_to_frame(results)
        if why:
            frame["note"] = ["; ".join(x for x in (n, why) if x) for n in frame["note"]]
        frame["comparison"] = labels
        frame["p_adjusted"] = adjusted
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)
