"""Sample size, MDE and analytic power of multi-arm designs (vtrial.design_analytic, power.solve).

References are independent of the code under test: scipy's noncentral t for
single comparisons, a direct Monte Carlo draw of the multivariate t vector
for the family-wise rows, and the design simulator (vtrial.design_sim) for
the formulas with dropout and ANCOVA.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from vtrial import design_analytic, design_power, power
from vtrial.cli import main
from vtrial.config import load_config, set_key, validate_config
from vtrial.errors import InputError

ALPHA = 0.05


def _three_arm(diffs=(-2.0, -2.46), n=30, dropout=(0.0, 0.0, 0.0), **keys):
    arms = [{"name": "placebo", "dropout": dropout[0]}] + [
        {"name": name, "difference_pct": d, "dropout": p}
        for name, d, p in zip(("low", "high"), diffs, dropout[1:], strict=True)
    ]
    cfg = set_key(load_config(), "trial.arms", arms)
    cfg = set_key(set_key(cfg, "trial.n_per_arm", n), "trial.block_sizes", [3])
    for key, value in keys.items():
        cfg = set_key(cfg, key.replace("__", "."), value)
    return validate_config(cfg)


def _t_power(delta, n0, n1, df, alpha):
    """Two-sided Student t power at level ``alpha`` (scipy's noncentral t)."""
    ncp = delta / (3.0 * math.sqrt(1 / n0 + 1 / n1))
    c = stats.t.ppf(1 - alpha / 2, df)
    return float(stats.nct.sf(c, df, ncp) + stats.nct.cdf(-c, df, ncp))


# --------------------------------------------------------------------------- formulas


def test_pairwise_formula_is_the_noncentral_t_on_the_pooled_df():
    cfg = _three_arm(n=25, analysis__multiplicity="bonferroni")
    for label, delta in (("low-placebo", -2.0), ("high-placebo", -2.46)):
        for mult, level in (("none", ALPHA), ("bonferroni", ALPHA / 2)):
            got = design_analytic.comparison_power(cfg, "student_t", label, mult)
            assert got == pytest.approx(_t_power(delta, 25, 25, 72, level), abs=1e-9)


def test_familywise_formula_against_a_direct_draw_of_the_t_vector():
    """any/all rows: the multivariate noncentral t by quadrature vs 400,000 draws of (Z, chi2)."""
    cfg = _three_arm(n=20, trial__arms=[{"name": "placebo"}, {"name": "low", "difference_pct": -2.0},
                                        {"name": "high", "difference_pct": -2.46, "allocation": 2}],
                     trial__block_sizes=[4])  # fmt: skip
    n = np.array([20, 20, 40])
    df = n.sum() - 3
    rng = np.random.default_rng(7)
    reps = 400_000
    lam = np.sqrt(n[1:] / (n[1:] + n[0]))
    z = lam * rng.standard_normal((reps, 1)) + np.sqrt(1 - lam**2) * rng.standard_normal((reps, 2))
    ncp = np.array([-2.0, -2.46]) / (3.0 * np.sqrt(1 / n[1:] + 1 / n[0]))
    t = (z + ncp) / np.sqrt(rng.chisquare(df, (reps, 1)) / df)
    for mult in ("none", "bonferroni", "dunnett"):
        if mult == "dunnett":
            c = design_analytic._dunnett(design_analytic.design_of(cfg), ALPHA, None).value(float(df))
        else:
            c = stats.t.ppf(1 - ALPHA / (2 * (2 if mult == "bonferroni" else 1)), df)
        sig = np.abs(t) > c
        for which, hit in (("any", sig.any(axis=1)), ("all", sig.all(axis=1))):
            p = hit.mean()
            got = design_analytic.familywise_power(cfg, "student_t", which, mult)
            assert abs(got - p) < 3 * math.sqrt(p * (1 - p) / reps), (mult, which, got, p)


def test_familywise_formula_is_alpha_under_the_global_null_and_one_comparison_is_the_t_test():
    cfg = _three_arm(diffs=(0.0, 0.0), analysis__multiplicity="dunnett")
    assert design_analytic.familywise_power(cfg, "student_t", "any") == pytest.approx(ALPHA, abs=1e-9)
    two = validate_config(set_key(load_config(), "trial.schedule", {"visits_months": [0, 12],
                                                                     "dxa_months": [0, 12]}))  # fmt: skip
    two = validate_config(set_key(set_key(two, "dropout.placebo", 0.0), "dropout.anastrozole", 0.0))
    expected = _t_power(-2.46, 44, 44, 86, ALPHA)
    for which in ("any", "all"):
        assert design_analytic.familywise_power(two, "student_t", which, "none") == pytest.approx(
            expected, abs=1e-8
        )


def test_welch_formula_of_a_design_pair_is_the_two_arm_welch_formula():
    # Welch reads only the pair's two arms, so a two-arm design and the default
    # two-arm trial (vtrial.analytic, tested against simulation and quadrature)
    # give the same power; with Bonferroni over 2 comparisons, the level halves.
    from vtrial import analytic

    base = load_config(overrides=["trial.n_per_arm=30", "trial.block_sizes=[2]"])
    arms = [
        {"name": "placebo", "dropout": 0.18},
        {"name": "anastrozole", "difference_pct": -2.46, "dropout": 0.25},
    ]
    two = validate_config(set_key(base, "trial.arms", arms))
    want = analytic.analytic_power(base, "welch_t")
    assert 0.5 < want < 0.95
    got = design_analytic.comparison_power(two, "welch_t", "anastrozole-placebo", "none")
    assert got == pytest.approx(want, abs=1e-8)
    half = analytic.analytic_power(set_key(base, "analysis.alpha", 0.025), "welch_t")
    three = _three_arm(n=30, diffs=(-1.0, -2.46), dropout=(0.18, 0.1, 0.25))
    got = design_analytic.comparison_power(three, "welch_t", "high-placebo", "bonferroni")
    assert got == pytest.approx(half, abs=1e-8)
    assert math.isnan(design_analytic.comparison_power(three, "welch_t", "high-placebo", "dunnett"))


def test_no_formula_gives_nan():
    cfg = _three_arm(dropout=(0.1, 0.1, 0.1))
    assert math.isnan(design_analytic.familywise_power(cfg, "student_t", "any", "none"))  # dropout
    assert math.isnan(design_analytic.comparison_power(cfg, "mmrm", "low-placebo", "none"))
    assert math.isnan(design_analytic.comparison_power(cfg, "ancova", "low-placebo", "holm"))
    assert math.isnan(design_analytic.familywise_power(_three_arm(), "ancova", "all", "none"))
    assert design_analytic.reason(_three_arm(trial__randomization="simple"), "ancova")


@pytest.mark.slow
def test_analytic_column_agrees_with_simulation_within_3_se():
    """Dropout (binomial completers), ANCOVA, Student and Welch, single-step adjustments; family rows without dropout."""
    reps = 20_000
    cfg = _three_arm(n=24, dropout=(0.2, 0.25, 0.1), analysis__methods=["ancova", "student_t"])
    t = design_power.run_design_power(cfg, reps=reps, multiplicities=["none", "bonferroni", "dunnett"])
    pair = t[~t["comparison"].isin(["any", "all"])]
    assert pair["analytic_power"].notna().all() and len(pair) == 12
    assert t.loc[t["comparison"].isin(["any", "all"]), "analytic_power"].isna().all()
    welch = _three_arm(n=24, dropout=(0.2, 0.25, 0.1), analysis__methods=["welch_t"])
    w = design_power.run_design_power(welch, reps=reps, multiplicities=["none", "bonferroni"])
    w = w[~w["comparison"].isin(["any", "all"])]
    assert w["analytic_power"].notna().all() and len(w) == 4
    nodrop = _three_arm(n=24, analysis__methods=["student_t"])
    u = design_power.run_design_power(nodrop, reps=reps, multiplicities=["bonferroni", "dunnett"])
    assert u["analytic_power"].notna().all()
    for table in (pair, u, w):
        se = np.sqrt(table["analytic_power"] * (1 - table["analytic_power"]) / reps)
        assert (np.abs(table["power"] - table["analytic_power"]) < 3 * se).all(), table[
            ["method", "comparison", "multiplicity", "power", "analytic_power"]
        ]


# --------------------------------------------------------------------------- searches


@pytest.mark.slow
def test_bonferroni_sample_size_per_comparison_matches_the_t_test_at_alpha_over_2():
    """Three arms, no dropout: the Monte Carlo n of each comparison brackets the closed form.

    At the answer n the closed-form power (Student t on the pooled 3n - 3 df
    at alpha / 2) is at least the target less 3 Monte Carlo SE, and at n - 1
    at most the target plus 3 SE.
    """
    reps, target = 4000, 0.8
    cfg = _three_arm(analysis__multiplicity="bonferroni", analysis__methods=["student_t"])
    se = 3 * math.sqrt(target * (1 - target) / reps)
    for label, delta in (("low-placebo", -2.0), ("high-placebo", -2.46)):
        t = power.sample_size(cfg, target, reps=reps, comparison=label)
        n = int(t.loc[0, "n_per_arm"])
        assert t.loc[0, "comparison"] == label and t.loc[0, "engine"] == "design"
        assert _t_power(delta, n, n, 3 * n - 3, ALPHA / 2) >= target - se
        assert _t_power(delta, n - 1, n - 1, 3 * n - 6, ALPHA / 2) <= target + se
        # the formula's answer is the closed form's
        closed = next(m for m in range(2, 500) if _t_power(delta, m, m, 3 * m - 3, ALPHA / 2) >= target)
        assert t.loc[0, "analytic_n_per_arm"] == closed


def test_each_is_the_least_powered_comparison_and_mde_moves_every_treated_arm():
    cfg = _three_arm(analysis__multiplicity="bonferroni", analysis__methods=["student_t"])
    each = power.solve(cfg, "trial.n_per_arm", 0.8, analytic_only=True)
    low = power.solve(cfg, "trial.n_per_arm", 0.8, analytic_only=True, comparison="low-placebo")
    assert each.loc[0, "value"] == low.loc[0, "value"] and list(each["comparison"]) == ["each"]
    m = power.mde(cfg, 30, 0.8, reps=1000, comparison="high-placebo")
    d = m.loc[0, "analytic_mde_pct"]  # both treated arms at -d: the closed form reaches 0.8 there
    assert _t_power(d, 30, 30, 87, ALPHA / 2) == pytest.approx(0.8, abs=2e-4)
    assert list(m.columns[:3]) == ["scenario_id", "method", "comparison"]


def test_searches_refuse_unknown_rows_and_other_statistics():
    cfg = _three_arm(analysis__methods=["student_t"])
    with pytest.raises(InputError, match="comparison: value 'low-high'"):
        power.sample_size(cfg, 0.8, reps=100, comparison="low-high")
    with pytest.raises(InputError, match="power only"):
        power.sample_size(cfg, 0.8, reps=100, statistic="assurance")
    # a two-arm config accepts its one comparison and keeps its table
    two = power.solve(load_config(), "trial.n_per_arm", 0.8, methods=["student_t"], analytic_only=True,
                      comparison="anastrozole-placebo")  # fmt: skip
    assert list(two.columns) == power.SOLVE_COLUMNS


def test_cli_sample_size_of_a_design_and_an_unknown_comparison(tmp_path, capsys):
    yaml = tmp_path / "three.yaml"
    yaml.write_text(
        "trial: {n_per_arm: 30, block_sizes: [3], arms: [{name: placebo}, {name: low, difference_pct: -2.46},"
        " {name: high, difference_pct: -2.46}]}\nanalysis: {multiplicity: dunnett}\n"
    )
    argv = ["sample-size", "--config", str(yaml), "--target-power", "0.8", "--reps", "1000", "--quiet"]
    assert main([*argv, "--comparison", "low-placebo-x"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("vtrial: error: comparison: value 'low-placebo-x'")
    assert main([*argv, "--comparison", "all", "--method", "student_t"]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines()[1].split()[1:3] == ["student_t", "all"]


def _direct_comparison_power(cfg, method, label, mult):
    """The pairwise formula summed term by term: every completer triple, every quadrature node, nctdtr.

    Independent of the interpolants of design_analytic: binomial laws from
    scipy.stats, Gauss-Jacobi rules from scipy.special.roots_jacobi, the
    noncentral t power from scipy.special.nctdtr at every point. Only the
    critical values (Dunnett's c(df), tested elsewhere) come from the code.
    """
    from scipy import special

    design = design_analytic.design_of(cfg)
    i, j = design.comparisons[design.labels.index(label)]
    delta = design_analytic.true_differences(cfg)["spine", label]
    sd, sd_e = design_analytic._moments(cfg)
    laws = [
        stats.binom.pmf(np.arange(n + 1), n, 1 - arm.dropout)
        for n, arm in zip(design.sizes, design.arms, strict=True)
    ]
    rest = np.array([1.0])
    for k, law in enumerate(laws):
        if k not in (i, j):
            rest = np.convolve(rest, law)
    arms, ancova = len(design.arms), method == "ancova"
    dunnett = design_analytic._dunnett(design, ALPHA, None) if mult == "dunnett" else None
    m = len(design.labels) if mult == "bonferroni" else 1
    total = 0.0
    for ci in range(2, design.sizes[i] + 1):
        for cj in range(2, design.sizes[j] + 1):
            cr = np.arange(len(rest))
            w = laws[i][ci] * laws[j][cj] * rest
            df = (ci + cj + cr - arms - ancova).astype(float)
            ok = (w > 1e-15) & (df > 0)
            df, w, cr = df[ok], w[ok], cr[ok]
            crit = dunnett.critical(df) if dunnett else special.stdtrit(df, 1 - ALPHA / (2 * m))
            h = math.sqrt(1 / ci + 1 / cj)
            for d, c, wt in zip(df, crit, w, strict=True):
                if ancova:
                    x, wx = special.roots_jacobi(32, (d - 1) / 2, -0.5)
                    ncp = delta * np.sqrt(1 - (1 + x) / 2) / (sd_e * h)
                    wx = wx / wx.sum()
                else:
                    ncp, wx = np.array([delta / (sd * h)]), np.array([1.0])
                p = special.nctdtr(d, ncp, -c) + 1 - special.nctdtr(d, ncp, c)
                total += wt * float(p @ wx)
    return total


@pytest.mark.slow
@pytest.mark.parametrize(
    "arms, blocks, dropout, n",
    [
        (None, [3], (0.0, 0.0, 0.0), 14),
        (None, [3], (0.18, 0.25, 0.25), 12),
        ([{"name": "placebo", "allocation": 2}, {"name": "low", "difference_pct": -2.0},
          {"name": "high", "difference_pct": -2.46}], [4], (0.2, 0.3, 0.1), 8),
    ],
)  # fmt: skip
def test_pairwise_formula_equals_the_term_by_term_sum(arms, blocks, dropout, n):
    """Interpolated pairwise power = the direct sum to 1e-8 (documented accuracy 1e-6 in power).

    The formula drops completer counts of probability below 1e-9 per arm
    (design_analytic.TOL), the reference only terms below 1e-15: a few 1e-9
    of mass apart at most; the interpolants agree to 1e-13.
    """
    if arms is None:
        cfg = _three_arm(n=n, dropout=dropout, trial__block_sizes=blocks)
    else:
        arms = [{**a, "dropout": p} for a, p in zip(arms, dropout, strict=True)]
        cfg = _three_arm(n=n, trial__arms=arms, trial__block_sizes=blocks)
    for method in ("student_t", "ancova"):
        for label in ("low-placebo", "high-placebo"):
            for mult in ("none", "bonferroni", "dunnett"):
                got = design_analytic.comparison_power(cfg, method, label, mult)
                want = _direct_comparison_power(cfg, method, label, mult)
                assert got == pytest.approx(want, abs=1e-8), (method, label, mult)
