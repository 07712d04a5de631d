"""Tests of vtrial.multiplicity against R (mvtnorm, multcomp, p.adjust) and closed forms.

Reference values come from tests/fixtures/multiplicity/make_fixtures.R
(r_reference.json), so the tests need no R.
"""

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from vtrial import multiplicity as mult
from vtrial.errors import InputError

REF = json.loads((Path(__file__).parent / "fixtures" / "multiplicity" / "r_reference.json").read_text())


def _df(value):
    return np.inf if value == "Inf" else float(value)


def _pmat(rows):
    return np.array([[np.nan if v is None else v for v in row] for row in rows], dtype=float)


# --- p-value adjustments -------------------------------------------------------


@pytest.mark.parametrize("method", ["bonferroni", "holm", "hochberg"])
def test_adjust_matches_r_p_adjust(method):
    p = _pmat(REF["p_adjust"]["p"])
    expected = _pmat(REF["p_adjust"][method])
    got = mult.adjust(p, method)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12, equal_nan=True)


def test_adjust_one_dimensional_and_none():
    p = np.array([0.04, 0.01, 0.03])
    np.testing.assert_allclose(mult.adjust(p, "holm"), [0.06, 0.03, 0.06], atol=1e-15)
    np.testing.assert_array_equal(mult.adjust(p, "none"), p)


def test_fixed_sequence_stops_at_first_failure():
    p = np.array([[0.01, 0.20, 0.001], [0.03, 0.02, 0.04], [0.30, 0.001, 0.002]])
    adj = mult.adjust(p, "fixed_sequence", order=[0, 2, 1])
    # Running maximum along the order 0 -> 2 -> 1.
    np.testing.assert_array_equal(adj, [[0.01, 0.20, 0.01], [0.03, 0.04, 0.04], [0.30, 0.30, 0.30]])
    rejected = adj <= 0.05
    # Row 3: the first hypothesis fails, so nothing is rejected despite tiny p-values later.
    np.testing.assert_array_equal(rejected, [[True, False, True], [True, True, True], [False, False, False]])


def test_fixed_sequence_missing_p_blocks_later_hypotheses():
    adj = mult.adjust([[0.01, np.nan, 0.001]], "fixed_sequence", order=[0, 1, 2])
    assert adj[0, 0] == 0.01 and np.isnan(adj[0, 1]) and np.isnan(adj[0, 2])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"method": "sidak"}, "sidak"),
        ({"method": "fixed_sequence"}, "order"),
        ({"method": "fixed_sequence", "order": [0, 0, 1]}, "permutation"),
        ({"method": "fixed_sequence", "order": [0, 1]}, "permutation"),
        ({"method": "holm", "order": [0, 1, 2]}, "only fixed_sequence"),
    ],
)
def test_adjust_bad_input(kwargs, match):
    with pytest.raises(InputError, match=match):
        mult.adjust([[0.1, 0.2, 0.3]], **kwargs)


# --- Dunnett critical values ---------------------------------------------------


@pytest.mark.parametrize(
    "case", REF["dunnett_critical"], ids=lambda c: f"{c['allocation']}-{c['df']}-{c['two_sided']}"
)
def test_dunnett_critical_value_matches_qmvt(case):
    c = mult.dunnett_critical_value(case["alpha"], case["allocation"], _df(case["df"]), case["two_sided"])
    # qmvt (k = 2) is quasi-Monte Carlo; the k = 3 reference is deterministic quadrature in R.
    tol = 1e-4 if case["method"].startswith("qmvt") else 1e-8
    assert c == pytest.approx(case["quantile"], abs=tol)


def test_dunnett_single_comparison_is_the_t_quantile():
    for df in (3, 20, 60):
        assert mult.dunnett_critical_value(0.05, [1, 1], df) == pytest.approx(
            stats.t.isf(0.025, df), abs=1e-10
        )
        assert mult.dunnett_critical_value(0.05, [1, 2], df, two_sided=False) == pytest.approx(
            stats.t.isf(0.05, df), abs=1e-10
        )


def test_dunnett_independent_comparisons_give_sidak():
    # lambda = 0: independent normals, so P(max |Z| <= c) = (2 Phi(c) - 1)^k.
    c = mult.dunnett_critical_value(0.05, lambdas=[0.0, 0.0, 0.0])
    assert c == pytest.approx(stats.norm.isf((1 - 0.95 ** (1 / 3)) / 2), abs=1e-10)


@pytest.mark.slow
@pytest.mark.parametrize(("alloc", "df"), [([1, 1, 1], 20), ([2, 1, 1], 60), ([3, 2, 1, 1], 20)])
def test_dunnett_critical_value_matches_scipy_multivariate_t(alloc, df):
    # Independent check with scipy's Genz quasi-Monte Carlo (its error is ~1e-6 at 300,000 points).
    c = mult.dunnett_critical_value(0.05, alloc, df)
    lam = mult.dunnett_lambdas(alloc)
    corr = np.outer(lam, lam)
    np.fill_diagonal(corr, 1.0)
    k = lam.size
    prob = stats.multivariate_t(np.zeros(k), corr, df=df).cdf(
        np.full(k, c), lower_limit=np.full(k, -c), maxpts=300_000, random_state=1
    )
    assert prob == pytest.approx(0.95, abs=1e-5)


# --- Dunnett adjusted p-values -------------------------------------------------


@pytest.mark.parametrize("case", REF["glht"], ids=lambda c: "x".join(map(str, c["sizes"])))
def test_dunnett_adjusted_p_matches_multcomp(case):
    y = np.array(case["y"])
    arm = np.array(case["arm"])
    groups = [y[arm == name] for name in ("control", "t1", "t2")]
    sizes = np.array([g.size for g in groups])
    df = sizes.sum() - 3
    pooled = sum(((g - g.mean()) ** 2).sum() for g in groups) / df
    t = np.array(
        [(g.mean() - groups[0].mean()) / np.sqrt(pooled * (1 / g.size + 1 / sizes[0])) for g in groups[1:]]
    )
    assert df == case["df"]
    np.testing.assert_allclose(t, case["tstat"], rtol=0, atol=1e-9)
    got = mult.dunnett_adjusted_p(t, sizes, df)
    # multcomp's pmvt is exact for two comparisons (error bound 1e-15 in the fixture).
    np.testing.assert_allclose(got, case["pvalues"], rtol=0, atol=1e-8)
    assert mult.dunnett_critical_value(0.05, sizes, df) == pytest.approx(case["calpha"], abs=1e-4)


@pytest.mark.parametrize("two_sided", [True, False])
def test_dunnett_adjusted_p_at_critical_value_is_alpha(two_sided):
    for df in (7, 40, np.inf):
        for alpha in (0.01, 0.05, 0.2):
            c = mult.dunnett_critical_value(alpha, [2, 1, 1, 1], df, two_sided)
            p = mult.dunnett_adjusted_p([[c, 0.5 * c, -c]], [2, 1, 1, 1], df, two_sided)
            assert p[0, 0] == pytest.approx(alpha, abs=1e-9)
            # Adjusted p lies between the raw p and Bonferroni.
            raw = stats.t.sf(np.abs(p * 0 + [c, 0.5 * c, c]), df) * (2 if two_sided else 1)
            assert np.all(p[0, :2] >= raw[0, :2] - 1e-12) and np.all(p[0, :2] <= 3 * raw[0, :2] + 1e-12)
            if two_sided:
                assert p[0, 2] == pytest.approx(alpha, abs=1e-9)
            else:
                assert p[0, 2] > 0.99


def test_dunnett_adjusted_p_vectorised_over_df():
    rng = np.random.default_rng(5)
    t = rng.normal(size=(300, 2)) * 2
    df = rng.choice([25, 26, 27, 30], size=300).astype(float)
    df[3] = np.nan
    t[7, 1] = np.nan
    got = mult.dunnett_adjusted_p(t, [1, 1, 1], df)
    for value in (25, 30):
        rows = df == value
        np.testing.assert_array_equal(got[rows], mult.dunnett_adjusted_p(t[rows], [1, 1, 1], value))
    assert np.all(np.isnan(got[3])) and np.isnan(got[7, 1]) and not np.isnan(got[7, 0])
    # Against the direct one-value quadrature of the critical-value path.
    c = mult.dunnett_critical_value(0.05, [1, 1, 1], 26)
    assert mult.dunnett_adjusted_p([c, 1.0], [1, 1, 1], 26)[0] == pytest.approx(0.05, abs=1e-9)


def test_dunnett_bad_input():
    with pytest.raises(InputError, match="allocation"):
        mult.dunnett_critical_value(0.05, [10, 0, 10], 20)
    with pytest.raises(InputError, match="exactly one"):
        mult.dunnett_critical_value(0.05, [1, 1, 1], 20, lambdas=[0.5, 0.5])
    with pytest.raises(InputError, match="df"):
        mult.dunnett_adjusted_p([[1.0, 2.0]], [1, 1, 1], -3)
    with pytest.raises(InputError, match="comparisons"):
        mult.dunnett_adjusted_p([[1.0, 2.0, 3.0]], [1, 1, 1], 20)


# --- family-wise error by simulation ------------------------------------------


@pytest.mark.slow
def test_familywise_error_under_global_null():
    """3 arms (control + 2 treatments), n = 10 each, no effect: 20,000 replicate trials."""
    reps, n, alpha = 20_000, 10, 0.05
    rng = np.random.default_rng(np.random.SeedSequence(20261129))
    y = rng.normal(size=(reps, 3, n))
    means = y.mean(axis=2)
    df = 3 * (n - 1)
    pooled = ((y - means[:, :, None]) ** 2).sum(axis=(1, 2)) / df
    t = (means[:, 1:] - means[:, :1]) / np.sqrt(pooled[:, None] * 2 / n)
    p = 2 * stats.t.sf(np.abs(t), df)
    fwer = {
        m: mult.familywise(mult.adjust(p, m) <= alpha) for m in ("none", "bonferroni", "holm", "hochberg")
    }
    fwer["dunnett"] = mult.familywise(mult.dunnett_adjusted_p(t, [n, n, n], df) <= alpha)
    for method in ("dunnett", "holm", "bonferroni", "hochberg"):
        assert fwer[method]["any"] <= alpha + 3 * fwer[method]["any_se"], method
    # Dunnett is exact: its error rate is alpha, not merely below it.
    assert abs(fwer["dunnett"]["any"] - alpha) < 3 * fwer["dunnett"]["any_se"]
    # Unadjusted testing inflates it: exact value 1 - P(max |T| <= t_{0.975, 27}) = 0.0897.
    assert fwer["none"]["any"] > alpha + 3 * fwer["none"]["any_se"]
    exact_none = mult.dunnett_adjusted_p([stats.t.isf(alpha / 2, df), 0.0], [n, n, n], df)[0]
    assert abs(fwer["none"]["any"] - exact_none) < 3 * fwer["none"]["any_se"]


def test_familywise_summary():
    sig = np.array([[True, False], [True, True], [False, False], [False, True]])
    out = mult.familywise(sig)
    assert (out["reps"], out["any"], out["all"]) == (4, 0.75, 0.25)
    assert out["any_se"] == pytest.approx(np.sqrt(0.75 * 0.25 / 4))
    np.testing.assert_array_equal(out["each"], [0.5, 0.5])
    with pytest.raises(InputError, match="boolean"):
        mult.familywise(sig.astype(float))


# --- endpoints -----------------------------------------------------------------


def test_endpoint_rules():
    p = np.array([[0.01, 0.30], [0.03, 0.02], [0.20, 0.02], [0.04, np.nan], [0.026, 0.03]])
    np.testing.assert_array_equal(mult.endpoint_rule(p, "primary", alpha=0.05), [1, 1, 0, 1, 1])
    np.testing.assert_array_equal(mult.endpoint_rule(p, "all", alpha=0.05), [0, 1, 0, 0, 1])
    # any with Holm across the two endpoints: min p must be <= 0.025.
    np.testing.assert_array_equal(mult.endpoint_rule(p, "any", alpha=0.05), [1, 1, 1, 0, 0])
    # Hochberg rejects both in the last row (largest p <= alpha).
    assert mult.endpoint_rule(p, "any", alpha=0.05, method="hochberg")[4]
    with pytest.raises(InputError, match="endpoint rule 'both'"):
        mult.endpoint_rule(p, "both", alpha=0.05)


@pytest.mark.parametrize("case", REF["orthant"], ids=lambda c: f"{c['a']},{c['b']},{c['rho']}")
def test_orthant_probability_matches_pmvnorm(case):
    got = mult.bivariate_normal_cdf(-case["a"], -case["b"], case["rho"])
    assert float(got) == pytest.approx(case["prob"], abs=1e-6)


def test_orthant_independent_is_product_and_scipy_agrees():
    a = np.array([-1.0, 0.0, 0.3, 1.96])
    b = np.array([0.5, -0.7, 0.0, 2.5])
    np.testing.assert_allclose(
        mult.bivariate_normal_cdf(a, b, 0.0), stats.norm.cdf(a) * stats.norm.cdf(b), rtol=0, atol=1e-15
    )
    mvn = stats.multivariate_normal([0, 0], [[1, 0.6], [0.6, 1]])
    for h, k in zip(a, b, strict=True):
        assert float(mult.bivariate_normal_cdf(h, k, 0.6)) == pytest.approx(mvn.cdf([h, k]), abs=1e-5)


def test_coprimary_power():
    c = stats.norm.isf(0.025)
    single = stats.norm.sf(c - 2.5) + stats.norm.cdf(-c - 2.5)
    assert mult.coprimary_power([2.5, 2.5], 0.0, 0.05) == pytest.approx(single**2, abs=1e-14)
    # Perfect-correlation limit from below and the one-sided form.
    assert mult.coprimary_power([2.5, 2.5], 0.999999, 0.05) == pytest.approx(single, abs=2e-3)
    one = mult.coprimary_power([2.0, 3.0], 0.5, 0.025, two_sided=False)
    direct = stats.multivariate_normal([0, 0], [[1, 0.5], [0.5, 1]]).cdf([2.0 - c, 3.0 - c])
    assert one == pytest.approx(direct, abs=1e-5)


# --- config validation ---------------------------------------------------------


@pytest.mark.parametrize(
    ("analysis", "key"),
    [
        ({"multiplicity": "sidak"}, "analysis.multiplicity"),
        ({"comparisons": "each_pair"}, "analysis.comparisons"),
        ({"multiplicity": "dunnett", "comparisons": "all_pairs"}, "analysis.multiplicity"),
        ({"multiplicity": "fixed_sequence"}, "analysis.multiplicity_order"),
        ({"multiplicity": "fixed_sequence", "multiplicity_order": [0, 2]}, "analysis.multiplicity_order"),
        ({"multiplicity": "holm", "multiplicity_order": [0, 1]}, "analysis.multiplicity_order"),
        ({"endpoint_rule": "majority"}, "analysis.endpoint_rule"),
    ],
)
def test_validate_analysis_errors(analysis, key):
    with pytest.raises(InputError) as err:
        mult.validate_analysis(analysis)
    message = str(err.value)
    assert f"'{key}'" in message and "\n" not in message


def test_validate_analysis_accepts_valid():
    assert mult.validate_analysis({}) == {
        "multiplicity": "none",
        "comparisons": "vs_control",
        "endpoint_rule": "primary",
        "order": None,
    }
    out = mult.validate_analysis({"multiplicity": "fixed_sequence", "multiplicity_order": [1, 0, 2]})
    assert out["order"] == (1, 0, 2)
    with pytest.raises(InputError, match="multiplicity_order"):
        mult.validate_analysis(
            {"multiplicity": "fixed_sequence", "multiplicity_order": ["a", "x"]}, comparisons=["a", "b"]
        )
