"""Result type, registry, input checks, t-tests, ANCOVA, single-value strategies.

References: R t.test and lm (+ sandwich HC3 via lmtest) in
fixtures/analysis/r_reference.json (script r_reference.R beside it), scipy
ttest_ind and statsmodels OLS computed here.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats
from test_analysis_helpers import DATASETS, assert_matches, load, r_reference

from vtrial.analysis import (
    METHODS,
    AnalysisResult,
    list_methods,
    read_trial_csv,
    results_to_frame,
    run_methods,
)
from vtrial.analysis.ancova import ancova
from vtrial.analysis.data import to_wide
from vtrial.analysis.missing import change, single_outcome
from vtrial.analysis.ttests import student_t, welch_t
from vtrial.errors import InputError

SINGLE = ("complete_case", "bocf", "locf")
CASES = [(d, s, sc) for d in DATASETS for s in SINGLE for sc in ("pct", "absolute")]


@pytest.mark.parametrize(("dataset", "strategy", "scale"), CASES)
def test_ttests_match_r(dataset, strategy, scale):
    data = load(dataset)
    ref = r_reference()
    for fn in (student_t, welch_t):
        result = fn(data, missing=strategy, scale=scale)
        assert_matches(result, ref[f"{dataset}/{strategy}/{scale}/{fn.__name__}"], 1e-9)


@pytest.mark.parametrize(("dataset", "strategy", "scale"), CASES)
def test_ancova_matches_r_lm(dataset, strategy, scale):
    data = load(dataset)
    ref = r_reference()
    key = f"{dataset}/{strategy}/{scale}"
    assert_matches(ancova(data, missing=strategy, scale=scale), ref[f"{key}/ancova"], 1e-9)
    assert_matches(ancova(data, missing=strategy, scale=scale, robust="HC3"), ref[f"{key}/ancova_hc3"], 1e-9)
    assert_matches(
        ancova(data, missing=strategy, scale=scale, covariates="age_years,testosterone_ng_dl"),
        ref[f"{key}/ancova_age_testosterone"],
        1e-9,
    )


@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize("strategy", SINGLE)
def test_ttests_match_scipy(dataset, strategy):
    wide = to_wide(load(dataset))
    y = single_outcome(wide, strategy, "pct")
    a = y[(wide["arm"] == "anastrozole").to_numpy() & ~np.isnan(y)]
    p = y[(wide["arm"] == "placebo").to_numpy() & ~np.isnan(y)]
    for fn, equal_var in ((student_t, True), (welch_t, False)):
        res = fn(load(dataset), missing=strategy, alpha=0.1)
        ref = stats.ttest_ind(a, p, equal_var=equal_var)
        ci = ref.confidence_interval(0.9)
        assert res.p_value == pytest.approx(ref.pvalue, abs=1e-12)
        assert res.df == pytest.approx(ref.df, abs=1e-10)
        assert (res.ci_low, res.ci_high) == pytest.approx((ci.low, ci.high), abs=1e-10)
        assert res.n_anastrozole == len(a) and res.n_placebo == len(p)


def test_ancova_matches_statsmodels_formula_fit():
    data = load("trial_large")
    wide = to_wide(data, ("age_years",))
    wide["y"] = change(wide, 12, "pct")
    fit = sm.OLS.from_formula(
        "y ~ C(arm, Treatment('placebo')) + bmd0 + age_years", wide.dropna(subset=["y"])
    ).fit()
    term = "C(arm, Treatment('placebo'))[T.anastrozole]"
    res = ancova(data, covariates=["age_years"], alpha=0.01)
    ci = fit.conf_int(0.01).loc[term]
    assert res.estimate == pytest.approx(fit.params[term], abs=1e-10)
    assert res.se == pytest.approx(fit.bse[term], abs=1e-10)
    assert res.p_value == pytest.approx(fit.pvalues[term], abs=1e-12)
    assert (res.ci_low, res.ci_high) == pytest.approx((ci[0], ci[1]), abs=1e-10)
    assert res.df == fit.df_resid


def test_locf_and_bocf_values_by_hand():
    # Man 1: complete; man 2: month 6 only; man 3: baseline only.
    wide = pd.DataFrame(
        {"bmd0": [1.0, 1.2, 1.1], "bmd6": [1.01, 1.17, np.nan], "bmd12": [1.03, np.nan, np.nan]}
    )
    assert np.allclose(single_outcome(wide, "locf", "pct"), [3.0, -2.5, 0.0])
    assert np.allclose(single_outcome(wide, "bocf", "pct"), [3.0, 0.0, 0.0])
    assert np.allclose(single_outcome(wide, "locf", "absolute"), [0.03, -0.03, 0.0])
    cc = single_outcome(wide, "complete_case", "pct")
    assert cc[0] == pytest.approx(3.0) and np.isnan(cc[1:]).all()


def test_result_frame_columns_and_types():
    r = AnalysisResult("ancova", "locf", -1.0, 0.5, -2.0, 0.0, 0.05, 40.0, 20, 21)
    frame = results_to_frame([r, r])
    assert list(frame.columns) == [
        "method",
        "missing",
        "estimate",
        "se",
        "ci_low",
        "ci_high",
        "p_value",
        "df",
        "n_placebo",
        "n_anastrozole",
        "note",
    ]
    assert frame["n_placebo"].tolist() == [20, 20]
    with pytest.raises(AttributeError):
        r.estimate = 0.0


def test_registry_lists_every_method_with_description():
    names = [name for name, _ in list_methods()]
    assert names == list(METHODS)
    assert {"student_t", "welch_t", "ancova", "mmrm", "mann_whitney", "permutation"} <= set(names)
    assert {"bootstrap"} <= set(names)
    assert all(desc and "\n" not in desc for _, desc in list_methods())


def test_run_methods_matches_direct_calls_and_options():
    data = load("trial_small")
    frame = run_methods(
        data,
        ["welch_t", "ancova"],
        missing="locf",
        alpha=0.1,
        scale="pct",
        rng=1,
        options={"ancova": {"covariates": ["age_years"]}},
    )
    direct = ancova(data, missing="locf", alpha=0.1, covariates=["age_years"])
    assert frame.loc[1, "estimate"] == pytest.approx(direct.estimate, abs=1e-12)
    assert frame.loc[0, "estimate"] == pytest.approx(welch_t(data, missing="locf").estimate, abs=1e-12)
    with pytest.raises(InputError, match="'n_permutations'.*not allowed.*'ancova'"):
        run_methods(data, ["ancova"], options={"ancova": {"n_permutations": 5}})
    with pytest.raises(InputError, match="'nonsense' is not accepted"):
        run_methods(data, ["ancova"], options={"nonsense": 1})
    with pytest.raises(InputError, match="method 'anova' is unknown.*allowed: student_t"):
        run_methods(data, ["anova"])


@pytest.mark.parametrize(
    ("method", "strategy"),
    [
        ("mmrm", "locf"),
        ("mmrm", "multiple_imputation"),
        ("mann_whitney", "multiple_imputation"),
        ("permutation", "delta_mnar"),
        ("bootstrap", "multiple_imputation"),
    ],
)
def test_invalid_method_strategy_combinations_raise(method, strategy):
    data = load("trial_small")
    pattern = f"method '{method}' cannot be combined with missing strategy '{strategy}'.*allowed"
    with pytest.raises(InputError, match=pattern):
        run_methods(data, [method], missing=strategy)
    with pytest.raises(InputError, match=pattern):
        METHODS[method][0](data, missing=strategy)


def test_unknown_strategy_scale_alpha_raise():
    data = load("trial_small")
    with pytest.raises(InputError, match="missing strategy 'lvcf' is unknown.*complete_case"):
        welch_t(data, missing="lvcf")
    with pytest.raises(InputError, match="scale 'log'.*pct, absolute"):
        welch_t(data, scale="log")
    with pytest.raises(InputError, match="alpha 1.5"):
        welch_t(data, alpha=1.5)


def _write(tmp_path, frame):
    path = tmp_path / "trial.csv"
    frame.to_csv(path, index=False)
    return path


def test_read_trial_csv_accepts_fixture_and_extra_columns(tmp_path):
    frame = load("trial_small")
    frame["site"] = "boston"
    data = read_trial_csv(_write(tmp_path, frame))
    assert len(data) == len(frame)
    assert ancova(data).estimate == pytest.approx(ancova(load("trial_small")).estimate)


@pytest.mark.parametrize(
    ("mutate", "pattern"),
    [
        (lambda f: f.drop(columns="bmd_g_cm2"), "missing column.*'bmd_g_cm2'"),
        (lambda f: f.replace({"arm": {"placebo": "Placebo"}}), "column 'arm'.*'Placebo'.*allowed"),
        (
            lambda f: f.assign(bmd_g_cm2=f.bmd_g_cm2.where(f.visit_month != 12)),
            "no BMD at all at visit_month 12",
        ),
        (
            lambda f: f.assign(bmd_g_cm2=f.bmd_g_cm2.where(f.visit_month != 0)),
            "no BMD at all at visit_month 0",
        ),
        (
            lambda f: f.assign(
                bmd_g_cm2=f.bmd_g_cm2.where(
                    ~((f.arm == "anastrozole") & (f.visit_month == 12) & (f.subject_id > 121))
                )
            ),
            "arm 'anastrozole' has 1 analysable men.*at least 2",
        ),
        (
            lambda f: f.assign(bmd_g_cm2=f.bmd_g_cm2.astype(object).where(f.index != 0, "abc")),
            "column 'bmd_g_cm2'.*'abc' is not a number",
        ),
        (lambda f: pd.concat([f, f.iloc[:1]]), "more than one row"),
    ],
)
def test_read_trial_csv_rejects_bad_input(tmp_path, mutate, pattern):
    with pytest.raises(InputError, match=pattern):
        read_trial_csv(_write(tmp_path, mutate(load("trial_small"))))


def test_read_trial_csv_missing_file(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        read_trial_csv(tmp_path / "nope.csv")


def test_unfittable_method_returns_nan_with_note():
    data = load("trial_small")
    # Every man's age equal: the ANCOVA design with age is singular.
    data = data.assign(age_years=70.0)
    res = ancova(data, covariates=["age_years"])
    assert math.isnan(res.estimate) and "singular" in res.note
    frame = run_methods(data, ["ancova", "welch_t"], options={"ancova": {"covariates": "age_years"}})
    assert frame.loc[0, "note"] and math.isnan(frame.loc[0, "estimate"])
    assert frame.loc[1, "note"] == "" and np.isfinite(frame.loc[1, "estimate"])
