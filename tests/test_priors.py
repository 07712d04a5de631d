"""Design priors: distributions against scipy.stats, sampling, parsing and the default."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import optimize, stats

from vtrial import priors
from vtrial.errors import InputError

SCIPY = {
    "normal": (priors.Normal(-2.46, 0.74), stats.norm(-2.46, 0.74)),
    "truncated_normal": (
        priors.TruncatedNormal(-2.46, 1.5, -6.0, 0.5),
        stats.truncnorm((-6 + 2.46) / 1.5, (0.5 + 2.46) / 1.5, loc=-2.46, scale=1.5),
    ),
    "t": (priors.StudentT(-2.46, 0.74, 5.0), stats.t(5.0, -2.46, 0.74)),
}


@pytest.mark.parametrize("name", list(SCIPY))
def test_distribution_matches_scipy(name):
    p, ref = SCIPY[name]
    x = np.linspace(-6, 0.4, 17)
    q = np.linspace(0.01, 0.99, 13)
    np.testing.assert_allclose(p.cdf(x), ref.cdf(x), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(p.pdf(x), ref.pdf(x), rtol=1e-10)
    np.testing.assert_allclose(p.ppf(q), ref.ppf(q), rtol=1e-9)
    assert p.mean == pytest.approx(ref.mean(), rel=1e-9)
    assert p.prob_negative() == pytest.approx(ref.cdf(0.0), rel=1e-12)
    assert p.prob_positive() == pytest.approx(ref.sf(0.0), rel=1e-9, abs=1e-15)


def test_mixture_against_components():
    p = priors.Mixture((0.7, 0.3), (-2.46, 0.5), (0.74, 1.2))
    a, b = stats.norm(-2.46, 0.74), stats.norm(0.5, 1.2)
    x = np.linspace(-5, 3, 9)
    np.testing.assert_allclose(p.cdf(x), 0.7 * a.cdf(x) + 0.3 * b.cdf(x), rtol=1e-12)
    np.testing.assert_allclose(p.pdf(x), 0.7 * a.pdf(x) + 0.3 * b.pdf(x), rtol=1e-12)
    for q in (0.001, 0.2, 0.5, 0.77, 0.999):
        root = optimize.brentq(lambda v, q=q: 0.7 * a.cdf(v) + 0.3 * b.cdf(v) - q, -20, 20, xtol=1e-13)
        assert p.ppf(q) == pytest.approx(root, abs=1e-9)
    assert p.mean == pytest.approx(0.7 * -2.46 + 0.3 * 0.5)


def test_draws_empirical_law():
    p = priors.Draws((-3.0, -2.0, -1.0, 0.0, 1.0))
    assert p.cdf(-1.0) == pytest.approx(0.6)
    assert p.prob_negative() == pytest.approx(0.6)
    assert p.prob_zero() == pytest.approx(0.2)
    assert p.prob_positive() == pytest.approx(0.2)
    assert p.ppf(0.5) == -1.0
    s = p.sample(1000, rng=np.random.default_rng(3))
    assert set(np.unique(s)) <= set(p.values)


@pytest.mark.parametrize(
    "p",
    [
        priors.Normal(-2.46, 0.74),
        priors.TruncatedNormal(-2.46, 1.5, -6.0, 0.5),
        priors.StudentT(-2.46, 0.74, 5.0),
        priors.Mixture((0.7, 0.3), (-2.46, 0.5), (0.74, 1.2)),
    ],
)
def test_sample_follows_cdf(p):
    """Sample shares below fixed points agree with the CDF within 3 binomial SEs."""
    n = 40_000
    s = p.sample(n, rng=np.random.default_rng(11))
    for x in (-4.0, -2.46, -1.0, 0.0):
        share = np.mean(s <= x)
        c = float(p.cdf(x))
        assert abs(share - c) < 3 * math.sqrt(c * (1 - c) / n) + 1e-12


def test_scaled_inv_chi2_against_scipy():
    """sigma^2 = df v^2 / chi2_df is inverse-gamma(df/2, scale df v^2 / 2)."""
    p = priors.ScaledInvChi2(3.0, 67.0)
    ig = stats.invgamma(67 / 2, scale=67 * 9.0 / 2)
    q = np.array([0.01, 0.3, 0.5, 0.9])
    np.testing.assert_allclose(p.ppf(q) ** 2, ig.ppf(q), rtol=1e-10)
    np.testing.assert_allclose(
        p.cdf(np.array([2.5, 3.0, 3.5])), ig.cdf(np.array([2.5, 3.0, 3.5]) ** 2), rtol=1e-10
    )
    s = p.sample(40_000, rng=np.random.default_rng(5))
    c = float(p.cdf(3.0))
    assert abs(np.mean(s <= 3.0) - c) < 3 * math.sqrt(c * (1 - c) / 40_000)


def test_default_prior_from_published_p():
    """SE = 2.46 / t_{0.9993; 67}, which gives back P = 0.0014 on 67 df."""
    p = priors.default_prior()
    assert p.sd_pct_change is None
    assert p.difference.mean == -2.46
    se = 2.46 / stats.t.ppf(1 - 0.0014 / 2, 67)
    assert p.difference.sd == pytest.approx(se, rel=1e-12)
    assert 2 * stats.t.sf(2.46 / p.difference.sd, 67) == pytest.approx(0.0014, rel=1e-9)
    assert p.difference.sd == pytest.approx(0.73797, abs=1e-5)
    assert priors.parse_prior(None) == p
    assert priors.parse_prior({}) == p


def test_parse_all_kinds(tmp_path):
    (tmp_path / "d.csv").write_text("difference\n-2.0\n-3.0\n1.0\n")
    sec = {
        "difference": {"distribution": "mixture",
                       "components": [{"weight": 0.8, "mean": -2.46, "sd": 0.74}, {"weight": 0.2, "mean": 0, "sd": 0.5}]},
        "sd_pct_change": {"distribution": "scaled_inv_chi2", "value": 3.0, "df": 67},
    }  # fmt: skip
    p = priors.parse_prior(sec)
    assert p.difference == priors.Mixture((0.8, 0.2), (-2.46, 0.0), (0.74, 0.5))
    assert p.sd_pct_change == priors.ScaledInvChi2(3.0, 67.0)
    d = priors.parse_prior({"difference": {"distribution": "draws", "file": "d.csv"}}, base_dir=tmp_path)
    assert d.difference.values == (-2.0, -3.0, 1.0)
    t = priors.parse_prior(
        {"difference": {"distribution": "truncated_normal", "mean": -2, "sd": 1, "upper": 0}}
    )
    assert t.difference == priors.TruncatedNormal(-2.0, 1.0, -math.inf, 0.0)
    s = priors.parse_prior({"difference": {"distribution": "selection_adjusted"}}).difference
    assert isinstance(s, priors.Normal) and -2.46 < s.mean < -2.0 and s.sd == pytest.approx(0.73797, abs=1e-5)


def _bad(tmp_path):
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "header_only.csv").write_text("x\n")
    (tmp_path / "two.csv").write_text("-1,2\n-2,3\n")
    (tmp_path / "text.csv").write_text("x\n-1\nabc\n")
    (tmp_path / "inf.csv").write_text("-1\ninf\n")
    n = "difference"
    return [
        ({n: {"distribution": "normal", "mean": -2.46, "sd": 0}}, "prior.difference.sd"),
        ({n: {"distribution": "normal", "mean": -2.46, "sd": -1}}, "prior.difference.sd"),
        ({n: {"distribution": "normal", "mean": float("nan"), "sd": 1}}, "prior.difference.mean"),
        ({n: {"distribution": "normal", "mean": float("inf"), "sd": 1}}, "prior.difference.mean"),
        ({n: {"distribution": "normal", "mean": "x", "sd": 1}}, "prior.difference.mean"),
        ({n: {"distribution": "normal", "sd": 1}}, "prior.difference.mean"),
        ({n: {"distribution": "normal", "mean": 1, "sd": 1, "df": 3}}, "prior.difference.df"),
        ({n: {"distribution": "cauchy"}}, "prior.difference.distribution"),
        ({n: {"distribution": "t", "mean": -2, "scale": 1, "df": 0}}, "prior.difference.df"),
        ({n: {"distribution": "truncated_normal", "mean": -2, "sd": 1, "lower": 1, "upper": 0}}, "prior.difference.upper"),
        ({n: {"distribution": "mixture", "components": [{"weight": 0.5, "mean": 0, "sd": 1},
                                                         {"weight": 0.6, "mean": 1, "sd": 1}]}}, "prior.difference.components"),
        ({n: {"distribution": "mixture", "components": [{"weight": 0.5, "mean": 0, "sd": 1},
                                                         {"weight": 0.5, "mean": 1, "sd": 0}]}}, "prior.difference.components[1].sd"),
        ({n: {"distribution": "draws", "file": "empty.csv"}}, "prior.difference.file"),
        ({n: {"distribution": "draws", "file": "header_only.csv"}}, "prior.difference.file"),
        ({n: {"distribution": "draws", "file": "two.csv"}}, "prior.difference.file"),
        ({n: {"distribution": "draws", "file": "text.csv"}}, "prior.difference.file"),
        ({n: {"distribution": "draws", "file": "inf.csv"}}, "prior.difference.file"),
        ({n: {"distribution": "draws", "file": "missing.csv"}}, "prior.difference.file"),
        ({n: {"distribution": "selection_adjusted", "estimate": -1.0, "se": 0.74}}, "prior.difference.estimate"),
        ({n: {"distribution": "selection_adjusted", "spread": "wide"}}, "prior.difference.spread"),
        ({"sd_pct_change": {"distribution": "scaled_inv_chi2", "value": 3.0, "df": -1}}, "prior.sd_pct_change.df"),
        ({"sd_pct_change": {"distribution": "gamma", "value": 3.0, "df": 5}}, "prior.sd_pct_change.distribution"),
        ({"effect": {}}, "prior.effect"),
    ]  # fmt: skip


def test_parse_errors_name_the_key(tmp_path):
    for section, key in _bad(tmp_path):
        with pytest.raises(InputError) as exc:
            priors.parse_prior(section, base_dir=tmp_path)
        msg = str(exc.value)
        assert f"'{key}" in msg, (section, msg)
        assert "\n" not in msg


def test_direction_of_zero_median_is_an_error():
    with pytest.raises(InputError, match="favours no direction"):
        priors.Normal(0.0, 1.0).direction()


def _prior_schema():
    from vtrial.config import schema

    return schema()["properties"]["prior"]


def test_schema_section_accepts_valid_sections_and_describes_every_key(tmp_path):
    import jsonschema

    from vtrial.config import default_config, validate_config

    schema = _prior_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    v = jsonschema.Draft202012Validator(schema)
    (tmp_path / "draws.csv").write_text("d\n-2.0\n-1.5\n")
    good = [
        None,
        {"difference": {"distribution": "normal", "mean": -2.46, "sd": 0.74}},
        {"difference": {"distribution": "t", "mean": -2.46, "scale": 0.74, "df": 5},
         "sd_pct_change": {"distribution": "scaled_inv_chi2", "value": 3.0, "df": 67}},
        {"difference": {"distribution": "mixture", "components": [{"weight": 0.8, "mean": -2.46, "sd": 0.74},
                                                                  {"weight": 0.2, "mean": 0, "sd": 0.5}]}},
        {"difference": {"distribution": "draws", "file": "draws.csv"}},
        {"difference": {"distribution": "selection_adjusted", "spread": "conditional"}},
        {"difference": {"distribution": "truncated_normal", "mean": -2, "sd": 1, "upper": 0}},
    ]  # fmt: skip
    for section in good:
        assert not list(v.iter_errors(section)), section
        validate_config({**default_config(), "prior": section}, base_dir=tmp_path)
    # Refused by the schema section itself ...
    bad_schema = [
        {"difference": {"distribution": "normal", "mean": -2.46, "sd": 0}},
        {"difference": {"distribution": "cauchy"}},
        {"sd_pct_change": {"distribution": "gamma", "value": 3, "df": 5}},
        {"effect": {}},
    ]
    for section in bad_schema:
        assert list(v.iter_errors(section)), section
    # ... or, for keys that belong to another family, by parse_prior through validate_config.
    with pytest.raises(InputError, match="'prior.difference.df' is not known"):
        validate_config({**default_config(), "prior": {"difference": {"distribution": "normal", "mean": -2.46,
                                                                       "sd": 1, "df": 3}}})  # fmt: skip

    def walk(node, path):
        if isinstance(node, dict):
            for key, sub in (node.get("properties") or {}).items():
                assert "description" in sub, f"{path}.{key}"
                walk(sub, f"{path}.{key}")
            if "items" in node:
                walk(node["items"], f"{path}[]")

    walk(schema, "prior")


def test_sd_draws_conditional_on_floor():
    p = priors.ScaledInvChi2(1.8, 6.0)
    dp = priors.DesignPrior(priors.Normal(-2.46, 0.74), p)
    n, floor = 40_000, 1.5
    d, s = dp.sample(n, rng=np.random.default_rng(4), sd_floor=floor)
    assert d.shape == s.shape == (n,) and s.min() > floor
    lo = float(p.cdf(floor))
    for x in (1.7, 2.0, 2.6):
        c = (float(p.cdf(x)) - lo) / (1 - lo)
        assert abs(np.mean(s <= x) - c) < 3 * math.sqrt(c * (1 - c) / n)
