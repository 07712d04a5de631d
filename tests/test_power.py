"""Power summaries, analytic power, sample size, MDE and the engine's commands.

References: R ``power.t.test`` (fixture in tests/fixtures/power, with the R code
beside it), scipy/statsmodels, direct numpy computation from per-replicate
results, and Monte Carlo agreement within three standard errors.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

from vtrial import analytic, engine, model, power
from vtrial.cli import main
from vtrial.config import load_config, scenario_id

FIXTURES = Path(__file__).parent / "fixtures" / "power"
NO_DROPOUT = ["dropout.anastrozole=0", "dropout.placebo=0"]


@pytest.fixture(scope="module")
def r_power():
    """R 4.2 power.t.test results (see power_t_test.R)."""
    return pd.read_csv(FIXTURES / "power_t_test.csv")


def _csv(table: pd.DataFrame) -> bytes:
    buf = io.StringIO()
    power.write_table(table, buf)
    return buf.getvalue().encode()


# --------------------------------------------------------------------------- analytic power


def test_student_analytic_power_matches_r(r_power):
    rows = r_power[r_power["quantity"] == "power_at_n"]
    for n, expected in zip(rows["n_per_arm"], rows["power"], strict=True):
        cfg = load_config(overrides=[*NO_DROPOUT, f"trial.n_per_arm={int(n)}"])
        # R's default (strict = FALSE) leaves out the far rejection tail; add it back.
        df = 2 * n - 2
        far = stats.nct.cdf(-stats.t.ppf(0.975, df), df, 2.46 / (3 * math.sqrt(2 / n)))
        assert far < 1e-5
        assert power.analytic_power(cfg, "student_t") == pytest.approx(expected + far, abs=1e-9)


def test_student_analytic_sample_size_matches_r(r_power):
    cfg = load_config(overrides=NO_DROPOUT)
    rows = r_power[r_power["quantity"] == "n_for_power"]
    for p, n in zip(rows["target_power"], rows["n_per_arm"], strict=True):
        assert power.analytic_sample_size(cfg, "student_t", p) == math.ceil(n)


def test_welch_analytic_against_direct_monte_carlo():
    """Quadrature over the two sample variances vs 400,000 draws of (D, s0^2, s1^2)."""
    cfg = load_config(
        overrides=[*NO_DROPOUT, "trial.n_per_arm=12", "trial.allocation_ratio=2", "trial.block_sizes=[3]"]
    )
    exact = power.analytic_power(cfg, "welch_t")
    rng = np.random.default_rng(1)
    m, n0, n1, sd, delta = 400_000, 12, 24, 3.0, -2.46
    v0 = sd**2 * rng.chisquare(n0 - 1, m) / (n0 - 1) / n0
    v1 = sd**2 * rng.chisquare(n1 - 1, m) / (n1 - 1) / n1
    d = rng.normal(delta, sd * math.sqrt(1 / n0 + 1 / n1), m)
    df = (v0 + v1) ** 2 / (v0**2 / (n0 - 1) + v1**2 / (n1 - 1))
    p = 2 * stats.t.sf(np.abs(d) / np.sqrt(v0 + v1), df)
    mc = np.mean(p < 0.05)
    assert abs(exact - mc) < 3 * math.sqrt(mc * (1 - mc) / m)


def test_ancova_analytic_against_quad():
    """Gauss-Jacobi average over the baseline imbalance vs scipy quad on the Beta density."""
    cfg = load_config(overrides=[*NO_DROPOUT, "trial.n_per_arm=20"])
    mo = model.moments(cfg)
    sd_e = math.sqrt(mo.cov[1, 1] - mo.cov[0, 1] ** 2 / mo.cov[0, 0])
    n0 = n1 = 20
    df = n0 + n1 - 3
    crit = stats.t.ppf(0.975, df)
    ncp0 = 2.46 / (sd_e * math.sqrt(1 / n0 + 1 / n1))

    def integrand(r):
        ncp = ncp0 * math.sqrt(1 - r)
        return (stats.nct.sf(crit, df, ncp) + stats.nct.cdf(-crit, df, ncp)) * stats.beta.pdf(
            r, 0.5, (n0 + n1 - 2) / 2
        )

    ref, _ = integrate.quad(integrand, 0, 1, limit=200)
    assert power.analytic_power(cfg, "ancova") == pytest.approx(ref, abs=1e-7)


def test_analytic_power_averages_over_dropout():
    """With MCAR dropout the Student power is the binomial mixture of noncentral t powers."""
    cfg = load_config(overrides=["trial.n_per_arm=10", "dropout.placebo=0.2", "dropout.anastrozole=0.3"])
    total = 0.0
    for k0 in range(11):
        for k1 in range(11):
            w = stats.binom.pmf(k0, 10, 0.8) * stats.binom.pmf(k1, 10, 0.7)
            if k0 < 2 or k1 < 2:
                continue
            df = k0 + k1 - 2
            ncp = -2.46 / (3 * math.sqrt(1 / k0 + 1 / k1))
            c = stats.t.ppf(0.975, df)
            total += w * (stats.nct.sf(c, df, ncp) + stats.nct.cdf(-c, df, ncp))
    assert power.analytic_power(cfg, "student_t") == pytest.approx(total, abs=1e-8)


def test_no_formula_gives_nan():
    assert math.isnan(power.analytic_power(load_config(), "mann_whitney"))
    assert math.isnan(power.analytic_power(load_config(overrides=["dropout.mechanism=MNAR"]), "ancova"))


# --------------------------------------------------------------------------- summaries


def test_wilson_matches_statsmodels():
    from statsmodels.stats.proportion import proportion_confint

    for k, n in ((0, 50), (37, 50), (9132, 10000)):
        lo, hi = proportion_confint(k, n, alpha=0.05, method="wilson")
        assert power.wilson(k, n) == pytest.approx((lo, hi), abs=1e-12)


def test_power_table_diagnostics_equal_direct_computation():
    """Every diagnostic recomputed from the per-replicate results with numpy."""
    cfg = load_config(
        overrides=["trial.n_per_arm=30", "dropout.mechanism=MNAR", "analysis.methods=[ancova, mann_whitney]"]
    )
    reps = 2500
    table = power.run_power(cfg, reps=reps)
    sid = scenario_id(cfg)
    res = [
        engine.run_block(cfg, sid, k, s, ["ancova", "mann_whitney"])
        for k, s in enumerate(engine.block_sizes(reps))
    ]
    truth = -2.46
    for method in ("ancova", "mann_whitney"):
        get = lambda f, m=method: np.concatenate([getattr(r[m], f) for r in res])  # noqa: E731
        est, se, p = get("estimate"), get("se"), get("p_value")
        lo, hi = get("ci_low"), get("ci_high")
        n = get("n_placebo") + get("n_anastrozole")
        row = table.set_index("method").loc[method]
        pw = np.mean(p < 0.05)
        assert row["power"] == pytest.approx(pw, abs=1e-15)
        assert row["power_se"] == pytest.approx(math.sqrt(pw * (1 - pw) / reps), rel=1e-12)
        assert row["mean_estimate"] == pytest.approx(est.mean(), rel=1e-12)
        assert row["bias"] == pytest.approx(est.mean() - truth, rel=1e-9)
        assert row["emp_se"] == pytest.approx(est.std(ddof=1), rel=1e-9)
        assert row["rmse"] == pytest.approx(math.sqrt(np.mean((est - truth) ** 2)), rel=1e-12)
        assert row["coverage"] == pytest.approx(np.mean((lo <= truth) & (truth <= hi)), abs=1e-15)
        assert row["mean_n_analyzed"] == pytest.approx(n.mean(), rel=1e-12)
        if method == "ancova":
            assert row["mean_se"] == pytest.approx(se.mean(), rel=1e-12)
        else:
            assert math.isnan(row["mean_se"])
    assert list(table.columns[: len(power.POWER_COLUMNS)]) == power.POWER_COLUMNS


def test_output_identical_for_any_chunking_and_workers():
    cfg = load_config(
        overrides=[
            "analysis.methods=[ancova, welch_t, mann_whitney]",
            "dropout.mechanism=MNAR",
            "trial.n_per_arm=20",
            "grid.trial.allocation_ratio=[1.0, 2.0]",
            "trial.block_sizes=[6]",
        ]
    )
    mnar_exact = load_config(overrides=["analysis.methods=[ancova, student_t]", "trial.n_per_arm=20"])
    for c in (cfg, mnar_exact):
        a = _csv(power.run_power(c, reps=4500, chunk_size=1000))
        b = _csv(power.run_power(c, reps=4500, chunk_size=3000))
        d = _csv(power.run_power(c, reps=4500, chunk_size=100000, workers=2))
        e = _csv(power.run_power(c, reps=4500, chunk_size=1000, workers=2))
        assert a == b == d == e


def test_target_se_reaches_target():
    cfg = load_config(overrides=["analysis.methods=[ancova, welch_t]", "trial.n_per_arm=20"])
    table = power.run_power(cfg, target_se=0.01)
    assert (table["power_se"] <= 0.01).all()
    assert (table["reps"] % engine.BLOCK == 0).all()
    assert (table["reps"] <= 0.25 / 0.01**2 + engine.BLOCK).all()
    # the worst-case p(1 - p) would need 2,500; a power near 0.6 needs about 2,400
    p = table["power"].to_numpy()
    assert (table["reps"] >= p * (1 - p) / 0.01**2 - engine.BLOCK).all()


def test_power_with_grid_has_grid_columns():
    cfg = load_config(
        overrides=[
            "analysis.methods=[ancova]",
            "grid.trial.n_per_arm=[20, 34]",
            "grid.effects.difference_pct=[0, -2.46]",
        ]
    )
    table = power.run_power(cfg, reps=1000)
    assert len(table) == 4
    assert table["trial.n_per_arm"].tolist() == [20, 20, 34, 34]
    assert table["effects.difference_pct"].tolist() == [0, -2.46, 0, -2.46]
    assert table["n_per_arm"].tolist() == [20, 20, 34, 34]


# --------------------------------------------------------------------------- sample size and MDE


@pytest.mark.parametrize("target", [0.8, 0.9])
def test_sample_size_welch_matches_r(target, r_power):
    """Monte Carlo n for Welch equals R's n rounded up, or differs by one within MC error."""
    cfg = load_config(overrides=NO_DROPOUT)
    row = r_power[(r_power["quantity"] == "n_for_power") & np.isclose(r_power["target_power"], target)]
    n_r = math.ceil(float(row["n_per_arm"].iloc[0]))
    table = power.sample_size(cfg, target, ["welch_t"], reps=10000)
    got = table.iloc[0]
    assert got["engine"] == "exact"
    assert got["analytic_n_per_arm"] == n_r
    assert got["power"] >= target > got["power_below"]
    if got["n_per_arm"] != n_r:
        assert abs(got["n_per_arm"] - n_r) == 1
        # the analytic power at the nearer boundary is within 3 MC SEs of the target
        boundary = got["power"] if got["n_per_arm"] < n_r else got["power_below"]
        se = got["power_se"] if got["n_per_arm"] < n_r else got["power_below_se"]
        assert abs(boundary - target) < 3 * se


def test_sample_size_per_man_mnar_brackets_target():
    cfg = load_config(overrides=["dropout.mechanism=MNAR", "analysis.methods=[ancova]"])
    got = power.sample_size(cfg, 0.8, reps=2000).iloc[0]
    assert got["engine"] == "per_man_y"
    assert got["power"] >= 0.8 > got["power_below"]
    assert math.isnan(got["analytic_n_per_arm"])


def test_mde_matches_r_delta(r_power):
    cfg = load_config(overrides=NO_DROPOUT)
    rows = r_power[r_power["quantity"] == "delta_for_power"]
    for p, delta in zip(rows["target_power"], rows["delta"], strict=True):
        table = power.mde(cfg, 44, p, ["student_t"], reps=4000)
        got = table.iloc[0]
        assert got["analytic_mde_pct"] == pytest.approx(delta, abs=2e-3)
        assert got["power"] >= p
        # the Monte Carlo MDE is the analytic one up to Monte Carlo error:
        # its analytic power is within 3 SEs of the target
        from vtrial.config import set_key

        at = set_key(cfg, "effects.difference_pct", -got["mde_pct"])
        assert abs(power.analytic_power(at, "student_t") - p) < 3 * math.sqrt(p * (1 - p) / 4000) + 1e-3


# --------------------------------------------------------------------------- command line


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["power", "--reps", "0"], "--reps"),
        (["power", "--reps", "x"], "--reps"),
        (["power", "--grid", "trial.nope=1,2"], "trial.nope"),
        (["power", "--grid", "trial.n_per_arm=ten,20"], "trial.n_per_arm"),
        (["power", "--grid", "trial.n_per_arm"], "--grid"),
        (["power", "--target-se", "0"], "--target-se"),
        (["power", "--workers", "0"], "--workers"),
        (["sample-size", "--target-power", "1.2"], "--target-power"),
        (["sample-size", "--target-power", "0"], "--target-power"),
        (["mde", "--n-per-arm", "30", "--target-power", "-0.1"], "--target-power"),
        (["mde", "--n-per-arm", "1", "--target-power", "0.8"], "--n-per-arm"),
        (["power", "--method", "nonsense"], "nonsense"),
    ],
)
def test_bad_arguments_exit_2_without_output(tmp_path, capsys, argv, needle):
    out = tmp_path / "out.csv"
    assert main([*argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0]
    assert list(tmp_path.iterdir()) == []


def test_power_command_writes_contract_table(tmp_path):
    out = tmp_path / "power.csv"
    argv = [
        "power",
        "--reps",
        "1500",
        "--grid",
        "trial.n_per_arm=20,34",
        "--set",
        "analysis.methods=[ancova,welch_t]",
        "--quiet",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    table = pd.read_csv(out)
    assert list(table.columns[: len(power.POWER_COLUMNS)]) == power.POWER_COLUMNS
    assert "trial.n_per_arm" in table.columns
    assert len(table) == 4
    assert set(table["engine"]) == {"exact"}


def test_sample_size_and_mde_commands(tmp_path):
    ss = tmp_path / "ss.csv"
    assert (
        main(
            [
                "sample-size",
                "--target-power",
                "0.8",
                "--method",
                "welch_t",
                "--reps",
                "2000",
                "--set",
                "dropout.anastrozole=0",
                "--set",
                "dropout.placebo=0",
                "--quiet",
                "--out",
                str(ss),
            ]
        )
        == 0
    )
    t = pd.read_csv(ss)
    assert t.loc[0, "analytic_n_per_arm"] == 25
    md = tmp_path / "mde.csv"
    assert (
        main(
            [
                "mde",
                "--n-per-arm",
                "44",
                "--target-power",
                "0.8",
                "--method",
                "ancova",
                "--reps",
                "2000",
                "--quiet",
                "--out",
                str(md),
            ]
        )
        == 0
    )
    assert pd.read_csv(md).loc[0, "mde_pct"] > 0


# --------------------------------------------------------------------------- slow: Monte Carlo against formulas


@pytest.mark.slow
@pytest.mark.parametrize("shortcut", ["auto", "never"])
def test_type_one_error_at_difference_zero(shortcut):
    cfg = load_config(
        overrides=[
            "effects.difference_pct=0",
            f"simulation.exact_shortcut={shortcut}",
            "analysis.methods=[student_t, welch_t, ancova, mann_whitney, mmrm]",
        ]
    )
    table = power.run_power(cfg, reps=20000)
    for _, row in table.iterrows():
        # The exact Wilcoxon test (under 50 per arm, no ties) is discrete: its
        # size is below alpha; compare with its exact size, mixed over arm sizes.
        target = _exact_wilcoxon_size(cfg) if row["method"] == "mann_whitney" else 0.05
        se = math.sqrt(target * (1 - target) / 20000)
        assert abs(row["power"] - target) < 3 * se, (row["method"], row["power"], target)


def _exact_wilcoxon_size(cfg, alpha=0.05):
    """P(p < alpha) of the exact two-sided Wilcoxon test under H0, over the completer law."""
    from vtrial.analysis.nonparametric import wilcox_counts

    size = 0.0
    for n0, n1, pr in analytic.completer_law(cfg):
        if n0 < 2 or n1 < 2:
            continue
        prob = wilcox_counts(n1, n0) / float(math.comb(n0 + n1, n0))
        w = np.arange(n0 * n1 + 1)
        lower = np.cumsum(prob)  # P(W <= w)
        upper = np.cumsum(prob[::-1])[::-1]  # P(W >= w)
        p = np.minimum(2 * np.where(w > n0 * n1 / 2, upper, lower), 1.0)
        size += pr * prob[p < alpha].sum()
    return size


@pytest.mark.slow
@pytest.mark.parametrize("shortcut", ["auto", "never"])
@pytest.mark.parametrize("n", [20, 34, 60])
def test_power_matches_analytic_without_dropout(n, shortcut):
    cfg = load_config(
        overrides=[
            *NO_DROPOUT,
            f"trial.n_per_arm={n}",
            f"simulation.exact_shortcut={shortcut}",
            "analysis.methods=[ancova, welch_t]",
        ]
    )
    table = power.run_power(cfg, reps=20000)
    for _, row in table.iterrows():
        assert abs(row["power"] - row["analytic_power"]) < 3 * row["power_se"], (
            n,
            row["method"],
            row["power"],
            row["analytic_power"],
        )


@pytest.mark.slow
def test_power_matches_analytic_with_mcar_dropout_and_random_arms():
    cfg = load_config(
        overrides=[
            "trial.randomization=simple",
            "trial.n_per_arm=25",
            "simulation.exact_shortcut=never",
            "analysis.methods=[ancova, welch_t, student_t]",
        ]
    )
    table = power.run_power(cfg, reps=20000)
    for _, row in table.iterrows():
        assert abs(row["power"] - row["analytic_power"]) < 3 * row["power_se"], (
            row["method"],
            row["power"],
            row["analytic_power"],
        )


def test_checkpoints_resume_without_redoing_finished_scenarios(tmp_path, monkeypatch):
    # A run interrupted after its first scenario resumes from the saved sums:
    # the finished scenario is not simulated again, and the table is identical.
    from vtrial import power as power_mod
    from vtrial.config import load_config

    cfg = load_config(overrides=["analysis.methods=[ancova, welch_t]", "grid.trial.n_per_arm=[20, 30]"])
    whole = power_mod.run_power(cfg, reps=2000)
    parts = tmp_path / "parts"
    real = power_mod.simulate_sums
    calls = []

    def interrupted(cfg_, scenario, *a, **k):
        if calls:
            raise KeyboardInterrupt
        calls.append(scenario)
        return real(cfg_, scenario, *a, **k)

    monkeypatch.setattr(power_mod, "simulate_sums", interrupted)
    with pytest.raises(KeyboardInterrupt):
        power_mod.run_power(cfg, reps=2000, checkpoint_dir=parts)
    assert len(list(parts.glob("*.npz"))) == 1

    seen = []

    def counting(cfg_, scenario, *a, **k):
        seen.append(scenario)
        return real(cfg_, scenario, *a, **k)

    monkeypatch.setattr(power_mod, "simulate_sums", counting)
    resumed = power_mod.run_power(cfg, reps=2000, checkpoint_dir=parts)
    assert seen == [whole["scenario_id"].iloc[-1]]
    pd.testing.assert_frame_equal(resumed, whole)
    # a changed setting does not reuse the saved sums
    seen.clear()
    power_mod.run_power(cfg, reps=3000, checkpoint_dir=parts)
    assert len(seen) == 2


def test_power_command_leaves_no_checkpoints(tmp_path):
    from vtrial.cli import main

    out = tmp_path / "p.csv"
    assert main(["power", "--reps", "1000", "--method", "ancova", "--quiet", "--out", str(out)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.csv", "p.csv.provenance.json"]


@pytest.mark.slow
def test_analytic_power_of_a_very_large_trial():
    # 20,000 men per arm: the laws of arm sizes and completers used to be
    # (n + 1)^2 tables (12 GB here); against the noncentral t at the mean
    # completers, which the binomial spread (about 60 men) barely moves.
    cfg = load_config(overrides=["trial.n_per_arm=20000", "effects.difference_pct=-0.06"])
    mo = model.moments(cfg)
    sigma, delta = math.sqrt(mo.cov[1, 1]), mo.mean_pct[1] - mo.mean_pct[0]
    n0, n1 = 20000 * (1 - cfg["dropout"]["placebo"]), 20000 * (1 - cfg["dropout"]["anastrozole"])
    df, ncp = n0 + n1 - 2, delta / (sigma * math.sqrt(1 / n0 + 1 / n1))
    crit = stats.t.isf(0.025, df)
    expected = stats.nct.sf(crit, df, ncp) + stats.nct.cdf(-crit, df, ncp)
    got = analytic.analytic_power(cfg, "student_t")
    assert 0.2 < expected < 0.8
    assert abs(got - expected) < 2e-3, (got, expected)


def test_welch_quadrature_in_passes_equals_one_pass(monkeypatch):
    cfg = load_config(overrides=["trial.n_per_arm=30", "trial.randomization=simple"])
    n0, n1, _ = analytic.analysable_law(cfg, "welch_t")
    assert len(n0) > 400
    whole = analytic._welch_conditional(n0, n1, -2.46, 3.0, 0.05)
    monkeypatch.setattr(analytic, "WELCH_PAIRS_PER_PASS", 37)
    parts = analytic._welch_conditional(n0, n1, -2.46, 3.0, 0.05)
    assert parts.shape == whole.shape
    np.testing.assert_allclose(parts, whole, rtol=0, atol=1e-11)
