"""``vtrial assurance`` and ``vtrial sample-size --target-assurance``.

References: the analytic assurance and its bisection
(:func:`vtrial.assurance.analytic_sample_size_for_assurance`), which do not
use the simulation engine.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from vtrial.assurance import analytic_sample_size_for_assurance
from vtrial.cli import main
from vtrial.config import load_config
from vtrial.priors import default_prior

NO_DROPOUT = ["--set", "dropout.anastrozole=0", "--set", "dropout.placebo=0"]


def _one_line_error(capsys, match: str) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("vtrial: error: "), err
    assert match in err, err
    return err


def test_assurance_writes_one_row_per_scenario_and_method(tmp_path):
    out = tmp_path / "a.csv"
    argv = ["assurance", "--reps", "4000", "--grid", "trial.n_per_arm=20,44", "--method", "welch_t",
            "--method", "mann_whitney", "--quiet", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    t = pd.read_csv(out)
    for col in ("scenario_id", "method", "n_per_arm", "reps", "assurance", "assurance_se",
                "analytic_assurance", "p_wrong_sign", "type_s", "type_m", "power", "trial.n_per_arm"):  # fmt: skip
        assert col in t.columns
    assert len(t) == 4 and t["reps"].eq(4000).all()
    assert sorted(t["n_per_arm"].unique()) == [20, 44]
    w = t[t["method"] == "welch_t"]
    assert (abs(w["assurance"] - w["analytic_assurance"]) < 3 * w["assurance_se"]).all()
    assert t.loc[t["method"] == "mann_whitney", "analytic_assurance"].isna().all()
    # assurance rises with n and stays below the power at the prior's mean (a wide prior): by
    # about 0.08 at 44 men per arm (Welch, analytic), but only by 0.016 at 20, which is two
    # Monte Carlo SEs at 4,000 replicates, so there only within 3 SEs
    for _, g in t.groupby("method"):
        g = g.sort_values("n_per_arm")
        assert g["assurance"].is_monotonic_increasing
        big = g["n_per_arm"] == 44
        assert (g.loc[big, "assurance"] < g.loc[big, "power"]).all()
        assert (g["assurance"] < g["power"] + 3 * g["assurance_se"]).all()
    assert json.loads((tmp_path / "a.csv.provenance.json").read_text())
    # byte-identical on a rerun
    again = tmp_path / "b.csv"
    assert main([*argv[:-1], str(again)]) == 0
    assert again.read_bytes() == out.read_bytes()


def test_assurance_n_per_arm_and_standard_output(capsys):
    assert main(["assurance", "--n-per-arm", "30", "--reps", "1000", "--method", "ancova", "--out", "-"]) == 0
    text = capsys.readouterr().out
    assert "ancova" in text and " 30 " in text


@pytest.mark.slow
def test_sample_size_for_target_assurance_matches_the_formula_within_one_man(tmp_path):
    out = tmp_path / "ss.csv"
    argv = ["sample-size", "--target-assurance", "0.8", "--method", "welch_t", "--reps", "20000", "--quiet",
            *NO_DROPOUT, "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    t = pd.read_csv(out)
    assert list(t.columns[:4]) == ["scenario_id", "method", "target_assurance", "n_per_arm"]
    row = t.iloc[0]
    cfg = load_config(overrides=["dropout.anastrozole=0", "dropout.placebo=0"])
    n_formula = analytic_sample_size_for_assurance(cfg, "welch_t", default_prior(), 0.8)
    assert abs(row["n_per_arm"] - n_formula) <= 1
    assert row["analytic_n_per_arm"] == n_formula
    assert row["assurance"] >= 0.8 > row["assurance_below"]


def test_sample_size_target_power_columns_are_unchanged(capsys):
    assert main(["sample-size", "--target-power", "0.8", "--method", "student_t", "--reps", "1000"]) == 0
    header = capsys.readouterr().out.splitlines()[0].split()
    assert header[:6] == ["scenario_id", "method", "target_power", "n_per_arm", "power", "power_se"]


@pytest.mark.parametrize(
    "argv,match",
    [
        (["--target-power", "0.8", "--target-assurance", "0.8"], "not allowed with argument"),
        ([], "one of the arguments --target-power --target-assurance is required"),
        (["--target-assurance", "1.5"], "--target-assurance"),
    ],
)
def test_sample_size_target_options_are_checked(argv, match, capsys):
    assert main(["sample-size", *argv]) == 2
    _one_line_error(capsys, match)


def test_unreachable_target_assurance_exits_2_with_the_maximum(capsys):
    # the default prior puts 0.99957 on harm: no n reaches 0.9999
    assert main(["sample-size", "--target-assurance", "0.9999", "--method", "welch_t"]) == 2
    _one_line_error(capsys, "largest assurance any sample size gives is 0.99957")


def test_assurance_refuses_the_estradiol_mediated_mode(capsys, tmp_path):
    out = tmp_path / "x.csv"
    argv = ["assurance", "--reps", "100", "--set", "effects.mode=estradiol_mediated", "--out", str(out)]
    assert main(argv) == 2
    _one_line_error(capsys, "effects.mode 'direct'")
    assert not out.exists()


PRIOR = ["--set", "prior.difference.distribution=normal", "--set", "prior.difference.mean=-1.5",
         "--set", "prior.difference.sd=1.5"]  # fmt: skip


def test_the_config_prior_section_is_used(tmp_path):
    from vtrial.assurance import analytic_assurance_detail
    from vtrial.priors import Normal

    out = tmp_path / "a.csv"
    assert (
        main(["assurance", "--reps", "20000", "--method", "welch_t", "--quiet", *PRIOR, "--out", str(out)])
        == 0
    )
    row = pd.read_csv(out).iloc[0]
    detail = analytic_assurance_detail(load_config(), "welch_t", Normal(-1.5, 1.5))
    assert row["prior_point"] == -1.5
    assert row["analytic_assurance"] == pytest.approx(detail["assurance"], abs=1e-12)
    assert abs(row["assurance"] - detail["assurance"]) < 3 * row["assurance_se"]
    assert abs(row["p_wrong_sign"] - detail["p_wrong_sign"]) < 3 * row["p_wrong_sign_se"]


@pytest.mark.parametrize(
    "command", [["assurance", "--out", "-"], ["sample-size", "--target-assurance", "0.8"]]
)
@pytest.mark.parametrize(
    "sets,match",
    [
        (["prior.difference.distribution=normal", "prior.difference.mean=-2", "prior.difference.sd=0"],
         "prior.difference.sd"),
        (["prior.difference.distribution=gamma"], "prior.difference.distribution"),
        (["prior.difference.distribution=draws", "prior.difference.file=no/such.csv"], "no/such.csv"),
        (["prior.sd_pct_change.distribution=scaled_inv_chi2", "prior.sd_pct_change.value=3",
          "prior.sd_pct_change.df=0"], "prior.sd_pct_change.df"),
    ],
)  # fmt: skip
def test_bad_priors_exit_2_with_one_line(command, sets, match, capsys):
    argv = [*command, "--reps", "100", "--method", "welch_t"]
    for s in sets:
        argv += ["--set", s]
    assert main(argv) == 2
    _one_line_error(capsys, match)


def test_assurance_skips_config_methods_that_cannot_use_the_strategy(tmp_path, capsys):
    """As power and analyze: mmrm cannot take multiple imputation, so it is skipped, and said after the work."""
    out = tmp_path / "a.csv"
    code = main(["assurance", "--n-per-arm", "20", "--reps", "200", "--quiet", "--out", str(out),
                 "--set", "analysis.missing=multiple_imputation", "--set", "analysis.methods=[student_t, mmrm]"])  # fmt: skip
    assert code == 0
    assert list(pd.read_csv(out)["method"]) == ["student_t"]
    err = capsys.readouterr().err.splitlines()
    assert err[-1] == "vtrial: note: mmrm cannot use missing=multiple_imputation; skipped"
