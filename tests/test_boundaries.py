"""Group-sequential boundaries against rpact 3.3.4 and independent checks.

Reference values: tests/fixtures/sequential/rpact_reference.json, made by
make_rpact_fixtures.R beside it.
"""

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from vtrial import boundaries as gs
from vtrial import sequential_probability as sp
from vtrial.errors import InputError
from vtrial.sequential_config import validate_sequential

REF = json.loads((Path(__file__).parent / "fixtures/sequential/rpact_reference.json").read_text())
RPACT_TYPES = {
    "OF": "obrien_fleming",
    "P": "pocock",
    "asOF": "as_obrien_fleming",
    "asP": "as_pocock",
    "asHSD": "as_hsd",
    "asKD": "as_kim_demets",
    "bsOF": "as_obrien_fleming",
    "bsP": "as_pocock",
    "bsHSD": "as_hsd",
    "bsKD": "as_kim_demets",
}
DESIGNS = {e["name"]: e for e in REF["designs"]}


def design_from(entry):
    a = entry["args"]
    return gs.group_sequential_design(
        entry["informationRates"],
        alpha=a["alpha"],
        efficacy=RPACT_TYPES[a["typeOfDesign"]],
        gamma=a.get("gammaA"),
        sided=a.get("sided", 1),
        futility=RPACT_TYPES.get(a.get("typeBetaSpending")),
        futility_gamma=a.get("gammaB"),
        beta=a.get("beta", 0.2),
        binding=a.get("bindingFutility", False),
    )


@pytest.mark.parametrize("name", sorted(DESIGNS))
def test_boundaries_match_rpact(name):
    entry = DESIGNS[name]
    design = design_from(entry)
    frame = gs.boundaries_frame(design)
    rpact = np.array([np.inf if c is None else c for c in entry["criticalValues"]])
    # rpact shows bounds beyond its integration range as Inf.
    assert np.all(frame.z_efficacy[np.isinf(rpact)] > 7.5)
    # Where a look spends less than 1e-6, rpact's bound carries its integration error
    # (6e-5 in z for a 5e-7 spend, 1.6e-10 in alpha); there the nominal levels are compared.
    usable = np.isfinite(rpact) & (frame.stage_alpha >= 1e-6)
    np.testing.assert_allclose(frame.z_efficacy[usable], rpact[usable], rtol=0, atol=1e-6)
    np.testing.assert_allclose(frame.nominal_p, entry["stageLevels"], rtol=0, atol=1e-8)
    # rpact reports the final cumulative alpha as alpha - 1e-8 (its solver tolerance).
    np.testing.assert_allclose(frame.cumulative_alpha, entry["alphaSpent"], rtol=0, atol=1e-7)
    if "futilityBounds" in entry:
        np.testing.assert_allclose(frame.z_futility[:-1], np.atleast_1d(entry["futilityBounds"]), atol=1e-6)
        np.testing.assert_allclose(frame.cumulative_beta, entry["betaSpent"], atol=1e-7)
        # 1e-6: rpact's second bound in the 5-look design moves the H1 power by 1e-7.
        np.testing.assert_allclose(frame.cumulative_power, entry["power"], atol=1e-6)


@pytest.mark.parametrize("name", sorted(n for n, e in DESIGNS.items() if "characteristics" in e))
def test_design_characteristics_match_rpact(name):
    entry = DESIGNS[name]
    ch = entry["characteristics"]
    design = design_from(entry)
    assert gs.inflation_factor(design) == pytest.approx(ch["inflationFactor"], rel=1e-6)
    assert design.drift**2 == pytest.approx(ch["shift"], rel=1e-6)
    up, low = gs.exit_probabilities(design, design.drift)
    np.testing.assert_allclose(up, ch["rejectionProbabilities"], atol=1e-6)
    if design.z_futility is not None:
        np.testing.assert_allclose(low[:-1], np.atleast_1d(ch["futilityProbabilities"]), atol=1e-7)
    inflation = gs.inflation_factor(design)
    for drift, key in [
        (0.0, "averageSampleNumber0"),
        (design.drift / 2, "averageSampleNumber01"),
        (design.drift, "averageSampleNumber1"),
    ]:
        assert inflation * gs.expected_fraction(design, drift) == pytest.approx(ch[key], rel=1e-6)


@pytest.mark.parametrize(
    "case", REF["sample_size"], ids=lambda c: f"{c['design']}-na{c['normalApproximation']}"
)
def test_sample_size_means_matches_rpact(case):
    design = design_from(DESIGNS[case["design"]])
    ss = gs.sample_size_means(
        design, case["alternative"], case["stDev"], normal_approximation=case["normalApproximation"]
    )
    # rpact solves the noncentral-t fixed N to a tolerance of 1e-4: agreement is ~7e-7 relative.
    for ours, key in [
        (ss.n_fixed, "nFixed"),
        (ss.n_max, "maxNumberOfSubjects"),
        (ss.expected_n_h0, "expectedNumberOfSubjectsH0"),
        (ss.expected_n_h01, "expectedNumberOfSubjectsH01"),
        (ss.expected_n_h1, "expectedNumberOfSubjectsH1"),
    ]:
        assert ours == pytest.approx(case[key], rel=1e-5 if not case["normalApproximation"] else 1e-7)


@pytest.mark.parametrize("case", REF["power"], ids=lambda c: f"{c['design']}-na{c['normalApproximation']}")
def test_power_means_matches_rpact(case):
    design = design_from(DESIGNS[case["design"]])
    frame = gs.power_means(
        design,
        case["maxNumberOfSubjects"],
        case["alternative"],
        case["stDev"],
        normal_approximation=case["normalApproximation"],
    )
    np.testing.assert_allclose(frame.reject, case["rejectPerStage"], atol=1e-7)
    # rpact puts an implicit futility bound at -6 when there is none (stop probability ~1e-9).
    np.testing.assert_allclose(frame.futility_stop[:-1], case["futilityPerStage"], atol=1e-8)
    assert frame.attrs["power"] == pytest.approx(case["overallReject"], abs=1e-7)
    assert frame.attrs["expected_n"] == pytest.approx(case["expectedNumberOfSubjects"], rel=1e-7)


def test_observed_information_bounds_match_rpact_user_spending():
    obs = REF["observed"]
    plan = gs.group_sequential_design([0.5, 1.0], alpha=obs["alpha"])
    design = gs.observed_design(obs["observedInformation"], obs["plannedMaxInformation"], plan)
    np.testing.assert_allclose(design.z_efficacy, obs["criticalValues"], atol=1e-6)
    np.testing.assert_allclose(np.cumsum(gs.type_one_error(design)), obs["alphaSpent"], atol=1e-7)


def test_observed_information_at_plan_reproduces_the_design():
    plan = gs.group_sequential_design([0.3, 0.7, 1.0], futility="as_obrien_fleming", beta=0.2)
    again = gs.observed_design([30, 70, 100], 100, plan)
    np.testing.assert_allclose(again.z_efficacy, plan.z_efficacy, atol=1e-9)
    np.testing.assert_allclose(again.z_futility, plan.z_futility, atol=1e-7)


def test_one_look_design_is_the_fixed_design():
    for efficacy in ("as_obrien_fleming", "as_pocock", "obrien_fleming", "pocock"):
        design = gs.group_sequential_design([1.0], alpha=0.025, efficacy=efficacy)
        assert design.z_efficacy[0] == pytest.approx(stats.norm.ppf(0.975), abs=1e-9)
        assert gs.inflation_factor(design) == pytest.approx(1.0, abs=1e-8)
    two = gs.group_sequential_design([1.0], alpha=0.05, sided=2)
    assert two.z_efficacy[0] == pytest.approx(stats.norm.ppf(0.975), abs=1e-9)


def test_integration_converges_with_the_grid():
    """Exit probabilities with r = 32 are within 1e-8 of r = 128 (error ~ r**-4)."""
    args = ([0.3, 0.7, 1.0], 1.5, [-0.4, 1.2, -np.inf], [3.47, 2.45, 2.0])
    fine = np.concatenate(sp.exit_table(*args, r=128))
    assert np.abs(np.concatenate(sp.exit_table(*args, r=32)) - fine).max() < 1e-8
    assert np.abs(np.concatenate(sp.exit_table(*args, r=8)) - fine).max() > 1e-8


def test_two_look_probability_equals_bivariate_normal():
    """P(Z_1 < a, Z_2 < b) from the recursion equals the bivariate normal CDF (corr sqrt(t1))."""
    t1, a, b, drift = 0.4, 1.1, 1.7, 0.8
    _, low = sp.exit_table([t1, 1.0], drift, [a, b], [np.inf, np.inf])
    mean = drift * np.sqrt([t1, 1.0])
    cov = [[1.0, np.sqrt(t1)], [np.sqrt(t1), 1.0]]
    joint = stats.multivariate_normal(mean, cov).cdf([np.inf, b]) - stats.multivariate_normal(mean, cov).cdf(
        [a, b]
    )
    assert low[1] == pytest.approx(joint, abs=1e-7)


@pytest.mark.slow
def test_crossing_probabilities_agree_with_monte_carlo():
    design = gs.group_sequential_design(
        [0.3, 0.7, 1.0], futility="as_hsd", futility_gamma=-2, beta=0.2, binding=True
    )
    t = design.information_fractions
    rng = np.random.default_rng(20261129)
    n = 400_000
    # Z drawn directly from its multivariate normal law: corr(Z_i, Z_j) = sqrt(t_i / t_j), i <= j.
    corr = np.sqrt(np.minimum.outer(t, t) / np.maximum.outer(t, t))
    for drift in (0.0, design.drift):
        z = stats.multivariate_normal(drift * np.sqrt(t), corr).rvs(n, random_state=rng)
        up_mc, low_mc = np.zeros(t.size), np.zeros(t.size)
        running = np.ones(n, dtype=bool)
        for k in range(t.size):
            up = running & (z[:, k] >= design.z_efficacy[k])
            low = running & ~up & (z[:, k] <= design.z_futility[k])
            up_mc[k], low_mc[k] = up.mean(), low.mean()
            running &= ~(up | low)
        up_num, low_num = gs.exit_probabilities(design, drift)
        for mc, num in ((up_mc, up_num), (low_mc, low_num)):
            se = np.sqrt(num * (1 - num) / n)
            assert np.all(np.abs(mc - num) < 3 * se + 1e-12)


def test_spending_functions_at_full_information_spend_the_total():
    for family, gamma in [
        ("as_obrien_fleming", None),
        ("as_pocock", None),
        ("as_hsd", -4.0),
        ("as_hsd", 0.0),
        ("as_kim_demets", 2.0),
    ]:
        assert gs.spending(family, 0.025, [1.0], gamma)[0] == pytest.approx(0.025, rel=1e-12)
    # Lan-DeMets O'Brien-Fleming at t = 0.5: 2 (1 - Phi(z_0.9875 / sqrt(0.5))).
    expected = 2 * stats.norm.sf(stats.norm.isf(0.0125) / np.sqrt(0.5))
    assert gs.spending("as_obrien_fleming", 0.025, [0.5])[0] == pytest.approx(expected, rel=1e-12)


def test_boundaries_table_has_the_contract_columns():
    section = {
        "information_fractions": [0.3, 0.7, 1],
        "alpha": 0.025,
        "efficacy": {"type": "as_obrien_fleming", "gamma": None},
        "futility": {"type": "as_obrien_fleming", "gamma": None, "binding": False, "beta": 0.2},
    }
    frame = gs.boundaries_table(section)
    entry = DESIGNS["asOF_bsOF_nonbinding"]
    assert list(frame.columns[:5]) == [
        "look",
        "information_fraction",
        "z_efficacy",
        "cumulative_alpha",
        "z_futility",
    ]
    np.testing.assert_allclose(frame.z_efficacy, entry["criticalValues"], atol=1e-6)
    np.testing.assert_allclose(frame.z_futility[:2], entry["futilityBounds"], atol=1e-6)
    no_futility = gs.boundaries_table({"information_fractions": [0.5, 1]})
    assert "z_futility" not in no_futility.columns
    np.testing.assert_allclose(no_futility.z_efficacy, DESIGNS["asOF_2"]["criticalValues"], atol=1e-6)


@pytest.mark.parametrize(
    ("section", "key"),
    [
        ({"information_fractions": [0.7, 0.5, 1]}, "sequential.information_fractions"),
        ({"information_fractions": [0.5, 0.9]}, "sequential.information_fractions"),
        ({"information_fractions": [0, 1]}, "sequential.information_fractions"),
        ({"information_fractions": [0.5, 1.2]}, "sequential.information_fractions"),
        ({"information_fractions": []}, "sequential.information_fractions"),
        ({"alpha": 0.025}, "sequential.information_fractions"),
        ({"information_fractions": [1], "alpha": 0.5}, "sequential.alpha"),
        ({"information_fractions": [1], "alpha": 0}, "sequential.alpha"),
        ({"information_fractions": [1], "alpha": "0.025"}, "sequential.alpha"),
        ({"information_fractions": [1], "efficacy": {"type": "haybittle"}}, "sequential.efficacy.type"),
        ({"information_fractions": [1], "efficacy": {"type": "as_hsd"}}, "sequential.efficacy.gamma"),
        (
            {"information_fractions": [1], "efficacy": {"type": "as_kim_demets", "gamma": None}},
            "sequential.efficacy.gamma",
        ),
        (
            {"information_fractions": [1], "efficacy": {"type": "as_kim_demets", "gamma": -1}},
            "sequential.efficacy.gamma",
        ),
        ({"information_fractions": [1], "futility": {"type": "as_pocock"}}, "sequential.futility.beta"),
        (
            {"information_fractions": [1], "futility": {"type": "pocock", "beta": 0.2}},
            "sequential.futility.type",
        ),
        (
            {"information_fractions": [1], "futility": {"type": "as_hsd", "beta": 0.2}},
            "sequential.futility.gamma",
        ),
        (
            {"information_fractions": [1], "futility": {"type": "as_pocock", "beta": 0.2, "binding": "no"}},
            "sequential.futility.binding",
        ),
        (
            {"information_fractions": [1], "sided": 2, "futility": {"type": "as_pocock", "beta": 0.2}},
            "sequential.futility",
        ),
        ({"information_fractions": [1], "sided": 3}, "sequential.sided"),
        (
            {"information_fractions": [1], "futility": {"type": "conditional_power", "beta": 0.2}},
            "sequential.futility.threshold",
        ),
        (
            {
                "information_fractions": [1],
                "futility": {"type": "conditional_power", "beta": 0.2, "threshold": 1},
            },
            "sequential.futility.threshold",
        ),
        ({"information_fractions": [1], "looks": 3}, "sequential.looks"),
        ({"information_fractions": [1], "efficacy": {"type": "as_hsd", "rho": 1}}, "sequential.efficacy.rho"),
    ],
)
def test_bad_sections_raise_one_line_naming_the_key(section, key):
    with pytest.raises(InputError) as err:
        validate_sequential(section)
    message = str(err.value)
    assert message.startswith(key + ":") or message.startswith(key + " ")
    assert "\n" not in message


def _sequential_schema():
    from vtrial.config import schema

    return schema()["properties"]["sequential"]


def test_schema_section_describes_every_key():
    schema = {"sequential": _sequential_schema()}

    def walk(node, path):
        assert "description" in node, path
        for name, child in node.get("properties", {}).items():
            walk(child, f"{path}.{name}")

    walk(schema["sequential"], "sequential")
    assert set(schema["sequential"]["properties"]) == {
        "information_fractions",
        "look_months",
        "look_endpoints",
        "alpha",
        "sided",
        "beta",
        "efficacy",
        "futility",
    }


@pytest.mark.parametrize("case", REF["final_ci"], ids=lambda c: f"{c['design']}-look{c['finalStage']}")
def test_stagewise_estimate_matches_rpact_final_confidence_interval(case):
    design = design_from(DESIGNS[case["design"]])
    est = gs.stagewise_estimate(design, case["finalStage"], case["z"])
    # rpact's "general" scale is difference / SD: mu sqrt(1/n1 + 1/n2); rpact solves to 1e-6.
    scale = np.sqrt(1 / case["overallSampleSize1"] + 1 / case["overallSampleSize2"])
    assert est.median_unbiased * scale == pytest.approx(case["medianUnbiasedGeneral"], abs=1e-6)
    np.testing.assert_allclose(
        np.array([est.lower, est.upper]) * scale, case["finalConfidenceIntervalGeneral"], atol=1e-6
    )
    assert est.median_unbiased * scale * case["overallStDev"] == pytest.approx(
        case["medianUnbiased"], abs=1e-5
    )


@pytest.mark.slow
def test_stagewise_p_value_at_the_true_mean_is_uniform_by_monte_carlo():
    """At the true mean the stage-wise p-value is U(0, 1), so the estimate is median unbiased."""
    design = gs.group_sequential_design([0.3, 0.7, 1.0], efficacy="as_pocock")
    t, c = design.information_fractions, design.z_efficacy
    rng = np.random.default_rng(7)
    drift, n = 2.0, 2000
    steps = np.diff(t, prepend=0.0)
    z = np.cumsum(rng.normal(drift * steps, np.sqrt(steps), (n, t.size)), axis=1) / np.sqrt(t)
    crossed = z >= c
    look = np.where(crossed.any(axis=1), crossed.argmax(axis=1), t.size - 1)
    p = np.array(
        [gs.stagewise_p_value(design, k + 1, z[i, k], drift * np.sqrt(t[k])) for i, k in enumerate(look)]
    )
    for q in (0.1, 0.5, 0.9):
        assert abs(np.mean(p <= q) - q) < 3 * np.sqrt(q * (1 - q) / n)
    # Median unbiased: the estimate is below the truth exactly when p >= 1/2.
    k = look[0]
    est = gs.stagewise_estimate(design, k + 1, z[0, k])
    assert (est.median_unbiased <= drift * np.sqrt(t[k])) == (p[0] >= 0.5)


def test_conditional_power_with_one_look_left_is_the_closed_form():
    design = gs.group_sequential_design([0.4, 1.0], efficacy="as_pocock")
    c2, t1 = design.z_efficacy[1], 0.4
    for z, drift in [(0.5, 0.0), (1.2, 2.8), (-0.3, 3.5)]:
        expected = stats.norm.sf((c2 - z * np.sqrt(t1) - drift * (1 - t1)) / np.sqrt(1 - t1))
        assert gs.conditional_power(design, 1, z, drift) == pytest.approx(expected, abs=1e-9)


@pytest.mark.slow
def test_conditional_power_futility_by_monte_carlo():
    """From Z_1 = f_1 the share of continuations that reject equals the threshold."""
    plan = gs.group_sequential_design([0.3, 0.7, 1.0])
    design = gs.conditional_power_futility(plan, 0.15)
    t, c, f = design.information_fractions, design.z_efficacy, design.z_futility
    rng = np.random.default_rng(11)
    n = 400_000
    steps = np.diff(t)
    s = f[0] * np.sqrt(t[0]) + np.cumsum(rng.normal(plan.drift * steps, np.sqrt(steps), (n, 2)), axis=1)
    z = s / np.sqrt(t[1:])
    reject = (z[:, 0] >= c[1]) | ((z[:, 0] > f[1]) & (z[:, 0] < c[1]) & (z[:, 1] >= c[2]))
    assert abs(reject.mean() - 0.15) < 3 * np.sqrt(0.15 * 0.85 / n)
    assert gs.exit_probabilities(design, design.drift)[0].sum() == pytest.approx(0.8, abs=1e-9)
    assert design.drift > plan.drift


def test_boundaries_table_conditional_power_futility():
    section = {
        "information_fractions": [0.5, 1],
        "futility": {"type": "conditional_power", "threshold": 0.2, "beta": 0.2},
    }
    frame = gs.boundaries_table(section)
    plan = gs.group_sequential_design([0.5, 1.0])
    assert gs.conditional_power(plan, 1, frame.z_futility[0], plan.drift) == pytest.approx(0.2, abs=1e-9)
    np.testing.assert_allclose(frame.z_efficacy, DESIGNS["asOF_2"]["criticalValues"], atol=1e-6)


def test_schema_section_accepts_valid_sections_and_rejects_unknown_keys():
    import jsonschema

    schema = _sequential_schema()
    good = [
        {
            "information_fractions": [0.5, 1],
            "alpha": 0.025,
            "efficacy": {"type": "as_obrien_fleming", "gamma": None},
        },
        {
            "information_fractions": [0.3, 0.7, 1],
            "efficacy": {"type": "as_kim_demets", "gamma": 2},
            "futility": {"type": "as_hsd", "gamma": -2, "binding": True, "beta": 0.1},
        },
        {
            "information_fractions": [0.5, 1],
            "futility": {"type": "conditional_power", "threshold": 0.1, "beta": 0.2},
        },
    ]
    for section in good:
        jsonschema.validate(section, schema)
        validate_sequential(section)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"information_fractions": [1], "looks": 2}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"information_fractions": [1], "futility": {"type": "as_pocock"}}, schema)
