"""Reference analyses of a trial: one function per method, one result type.

Every method has the signature ``fn(data, *, missing="complete_case",
alpha=0.05, scale="pct", rng=None, **options) -> AnalysisResult`` where
``data`` is the long trial format (the trial-data contract of docs/architecture.md). The estimate is always
anastrozole minus placebo in mean 12-month change of PA spine BMD
(percentage points, or g/cm2 with ``scale="absolute"``). A trial with another
schedule, other arms or another outcome carries a
:class:`vtrial.analysis.data.Layout` (endpoint month, scans, outcome), and
:func:`vtrial.analysis.comparisons.analyze_trial` runs every comparison of
two or more arms (docs/analyze.md).

Which missing-data strategies each method accepts (anything else raises
:class:`vtrial.errors.InputError`):

================  ======================================================
method            allowed ``missing``
================  ======================================================
student_t         complete_case, bocf, locf, multiple_imputation, delta_mnar
welch_t           complete_case, bocf, locf, multiple_imputation, delta_mnar
ancova            complete_case, bocf, locf, multiple_imputation, delta_mnar
mmrm              complete_case (the likelihood uses all observed visits; MAR)
mann_whitney      complete_case, bocf, locf
permutation       complete_case, bocf, locf
bootstrap         complete_case, bocf, locf
bootstrap_pct...  complete_case, bocf, locf  (``bootstrap_percentile``)
================  ======================================================

Rubin's rules need an estimate with a standard error and a reference t
distribution, which the rank, permutation and bootstrap methods do not give;
the MMRM already handles monotone MAR dropout by likelihood, and imputing or
carrying values forward into it would double-count or distort that.
"""

from __future__ import annotations

import inspect
import sys
import zlib
from collections.abc import Callable, Mapping, Sequence
from os import PathLike

import numpy as np
import pandas as pd

from vtrial.analysis.data import DEFAULT_LAYOUT, Layout, analysis_notes, check_trial
from vtrial.analysis.missing import STRATEGIES
from vtrial.analysis.result import AnalysisResult, nan_result, results_to_frame
from vtrial.analysis.trial_input import prepare_trial
from vtrial.errors import InputError
from vtrial.method_registry import ALLOWED_MISSING, METHODS, list_methods

__all__ = [
    "ALLOWED_MISSING",
    "METHODS",
    "AnalysisResult",
    "checked_methods",
    "list_methods",
    "method_seed",
    "read_trial_csv",
    "results_to_frame",
    "run_methods",
]

_COMMON = ("missing", "alpha", "scale", "rng")


def read_trial_csv(
    path: str | PathLike,
    *,
    quiet: bool = False,
    layout: Layout | None = None,
    columns: Mapping[str, str] | None = None,
    arms: Mapping[str, str] | None = None,
    wide: Mapping[str, int] | None = None,
    wide_outcome: str = "bmd_g_cm2",
) -> pd.DataFrame:
    """Read and check a long-format trial CSV (simulated or real).

    Parameters
    ----------
    path : str or path-like
        CSV with one row per man and visit: ``subject_id, arm, visit_month,
        age_years, bmi_kg_m2, testosterone_ng_dl, estradiol_pg_ml,
        bmd_g_cm2`` (BMD in g/cm2; empty when not measured). Blank lines are
        skipped.
    quiet : bool
        Unless true, write one ``vtrial: note: ...`` line on stderr per reason
        some men are not (fully) analysed, naming them
        (:func:`vtrial.analysis.data.analysis_notes`).
    layout : Layout, optional
        Schedule and arms (:func:`vtrial.analysis.trial_input.layout_from_config`);
        default: the 2009 trial.
    columns, arms : mapping, optional
        The file's column names and arm labels mapped to the contract's
        (:func:`vtrial.analysis.trial_input.prepare_trial`).
    wide : mapping, optional
        A wide file (one row per subject): column -> month of the outcome
        value it holds (:func:`vtrial.analysis.trial_input.wide_to_long`),
        applied after ``columns``.
    wide_outcome : str
        What the wide values are: ``"bmd_g_cm2"`` or ``"outcome"`` (generic).

    Returns
    -------
    pandas.DataFrame
        Checked long-format data.

    Raises
    ------
    InputError
        Unreadable file, or data refused by
        :func:`vtrial.analysis.data.validate_long` (named by column, subject,
        file line and value), or an arm with fewer than two men with BMD at
        both months 0 and 12. The message is one line.

    Examples
    --------
    >>> import tempfile, os
    >>> from vtrial.analysis._example import example_trial
    >>> path = os.path.join(tempfile.mkdtemp(), "trial.csv")
    >>> example_trial().to_csv(path, index=False)
    >>> read_trial_csv(path, quiet=True).shape
    (128, 8)
    """
    try:
        # Blank lines kept as empty rows, so that row k is file line k + 2.
        frame = pd.read_csv(path, skip_blank_lines=False)
    except FileNotFoundError as err:
        raise InputError(f"trial file {str(path)!r} does not exist") from err
    except (OSError, UnicodeDecodeError, ValueError, pd.errors.ParserError) as err:
        # pandas messages can span lines (C parser); the CLI prints one line.
        reason = " ".join(str(err).split()) or type(err).__name__
        raise InputError(
            f"trial file {str(path)!r} is not a readable CSV ({reason}); allowed: a comma-separated "
            "table with a header row"
        ) from err
    frame.index = pd.RangeIndex(2, len(frame) + 2, name="line")
    frame = frame[frame.notna().any(axis=1)]
    if layout is not None or columns or arms or wide:
        frame = prepare_trial(frame, layout or DEFAULT_LAYOUT, columns, arms, wide, wide_outcome)
    checked = check_trial(frame).reset_index(drop=True)
    if not quiet:
        for line in analysis_notes(checked):
            print(f"vtrial: note: {line}", file=sys.stderr)
    return checked


def method_seed(
    rng: int | np.random.SeedSequence | np.random.Generator | None, name: str
) -> np.random.SeedSequence:
    """The random stream of one analysis method, derived from a root and the method's name.

    Parameters
    ----------
    rng : int, SeedSequence, Generator or None
        Root of randomness. A Generator contributes one draw (four 63-bit
        integers) as the root entropy, so pass a fresh one to reproduce a run.
    name : str
        Method name (the registry key).

    Returns
    -------
    numpy.random.SeedSequence
        Child of the root keyed by the CRC-32 of ``name``: a method's numbers do
        not depend on which other methods run or in which order.

    Examples
    --------
    >>> a = np.random.default_rng(method_seed(7, "welch_t")).random()
    >>> b = np.random.default_rng(method_seed(np.random.SeedSequence(7), "welch_t")).random()
    >>> a == b, a == np.random.default_rng(method_seed(7, "ancova")).random()
    (True, False)
    """
    root = _root_seed(rng)
    return np.random.SeedSequence(root.entropy, spawn_key=(*root.spawn_key, zlib.crc32(name.encode())))


def _root_seed(rng: object) -> np.random.SeedSequence:
    if isinstance(rng, np.random.SeedSequence):
        return rng
    if isinstance(rng, np.random.Generator):
        return np.random.SeedSequence([int(x) for x in rng.integers(0, 2**63, size=4)])
    return np.random.SeedSequence(rng)


def _method_options(
    name: str, fn: Callable[..., AnalysisResult], options: Mapping[str, object]
) -> dict[str, object]:
    accepted = set(inspect.signature(fn).parameters) - {"data", *_COMMON}
    chosen = {k: v for k, v in options.items() if k not in METHODS and k in accepted}
    nested = options.get(name, {})
    if not isinstance(nested, Mapping):
        raise InputError(
            f"options for method {name!r} must be a mapping of option names to values, not {nested!r}"
        )
    for key, value in nested.items():
        if key not in accepted:
            raise InputError(
                f"option {key!r} is not allowed for method {name!r} "
                f"(allowed: {', '.join(sorted(accepted)) or 'none'})"
            )
        chosen[key] = value
    return chosen


def checked_methods(methods: Sequence[str] | None, missing: str) -> list[str]:
    """The methods to run: the given ones, or all that accept ``missing``; checked.

    Raises
    ------
    InputError
        Unknown strategy or method, or a method that cannot use ``missing``.

    Examples
    --------
    >>> checked_methods(None, "multiple_imputation")
    ['student_t', 'welch_t', 'ancova']
    """
    if missing not in STRATEGIES:
        raise InputError(f"missing strategy {missing!r} is unknown (allowed: {', '.join(STRATEGIES)})")
    if not methods:
        methods = [name for name in METHODS if missing in ALLOWED_MISSING.get(name, STRATEGIES)]
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise InputError(f"method {unknown[0]!r} is unknown (allowed: {', '.join(METHODS)})")
    for name in methods:
        allowed = ALLOWED_MISSING.get(name, STRATEGIES)
        if missing not in allowed:
            raise InputError(
                f"method {name!r} cannot be combined with missing strategy {missing!r} "
                f"(allowed for {name}: {', '.join(allowed)})"
            )
    return list(methods)


def run_methods(
    data: pd.DataFrame,
    methods: Sequence[str] | None,
    *,
    missing: str = "complete_case",
    alpha: float = 0.05,
    scale: str = "pct",
    rng: int | np.random.SeedSequence | np.random.Generator | None = None,
    options: Mapping[str, object] | None = None,
) -> pd.DataFrame:
    """Run several methods on one trial and stack their results.

    Parameters
    ----------
    data : pandas.DataFrame
        Long-format trial (e.g. from :func:`read_trial_csv`).
    methods : sequence of str or None
        Registry names, run in the given order. ``None`` or empty: every
        method that accepts ``missing``.
    missing : str
        Missing-data strategy for all methods.
    alpha : float
        Two-sided significance level.
    scale : str
        ``"pct"`` (percentage points) or ``"absolute"`` (g/cm2).
    rng : int, SeedSequence, Generator or None
        Root of randomness. Each method draws from its own stream derived from
        the root and the method's name (:func:`method_seed`), so its numbers do
        not depend on which other methods are requested or their order. A
        Generator gives the root by one draw (once per call).
    options : mapping or None
        Method options. A key naming a method maps to that method's options
        (``{"ancova": {"covariates": ["age_years"]}}``); any other key is
        passed to every selected method that accepts it
        (``{"n_imputations": 50}``).

    Returns
    -------
    pandas.DataFrame
        One row per method, columns as :func:`results_to_frame`. A method that
        cannot be fitted gives NaNs with the reason in ``note``.

    Raises
    ------
    InputError
        Unknown method, strategy or option; a method-strategy combination
        that is not allowed; or invalid data.

    Examples
    --------
    >>> from vtrial.analysis._example import example_trial
    >>> run_methods(example_trial(), ["welch_t", "ancova"])["method"].tolist()
    ['welch_t', 'ancova']
    """
    options = dict(options or {})
    methods = checked_methods(methods, missing)
    selected = {name: _method_options(name, METHODS[name][0], options) for name in methods}
    flat = [k for k in options if k not in METHODS]
    unused = [k for k in flat if not any(k in opts for opts in selected.values())]
    if unused:
        raise InputError(f"option {unused[0]!r} is not accepted by any of the methods {', '.join(methods)}")
    root = _root_seed(rng)
    results = []
    for name, opts in selected.items():
        fn = METHODS[name][0]
        try:
            result = fn(
                data,
                missing=missing,
                alpha=alpha,
                scale=scale,
                rng=method_seed(root, name),
                **opts,
            )
        except InputError:
            raise
        except Exception as err:  # noqa: BLE001 - one failing method must not stop the run
            result = nan_result(name, missing, f"{type(err).__name__}: {err}")
        results.append(result)
    return results_to_frame(results)
