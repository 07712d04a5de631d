"""`vtrial analyze` with two endpoints (PA spine and total hip BMD) and round trips from `vtrial simulate`.

Reference: tests/fixtures/spine_hip/reference.json, from make_fixture.R (R t.test,
lm, nlme::gls, p.adjust, multcomp) on tests/fixtures/spine_hip/trial.csv, a
three-arm 24-month trial written by `vtrial simulate --config three_arm_hip.yaml`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_analyze_any_trial import close, fails, run

from vtrial.analysis import read_trial_csv
from vtrial.analysis.comparisons import analyze_trial
from vtrial.analysis.endpoints import ENDPOINT_COLUMNS, _any_adjusted, analyze_endpoints, endpoint_frames
from vtrial.analysis.trial_input import layout_from_config
from vtrial.cli import main
from vtrial.config import load_config
from vtrial.design import design_of
from vtrial.errors import InputError

ROOT = Path(__file__).resolve().parents[1]
FIX = ROOT / "tests" / "fixtures" / "spine_hip"
CONFIG = str(FIX / "three_arm_hip.yaml")
TRIAL = str(FIX / "trial.csv")
REF = json.loads((FIX / "reference.json").read_text())
LABELS = ["low-placebo", "high-placebo"]
METHODS = ["--method", "welch_t", "--method", "student_t", "--method", "ancova", "--method", "mmrm"]


def rows(table: pd.DataFrame, method: str, endpoint: str) -> pd.DataFrame:
    part = table[(table.method == method) & (table.endpoint == endpoint)]
    assert part["comparison"].tolist() == LABELS
    return part


def analyse(tmp_path, capsys, rule: str, multiplicity: str, *extra) -> pd.DataFrame:
    sets = ["--set", f"analysis.endpoint_rule={rule}", "--set", f"analysis.multiplicity={multiplicity}"]
    table, _ = run(tmp_path, capsys, TRIAL, "--config", CONFIG, *sets, *extra, *METHODS)
    return table


# --------------------------------------------------------------------------- estimates against R


def test_both_endpoints_match_r(tmp_path, capsys):
    table = analyse(tmp_path, capsys, "any", "holm")
    assert list(table.columns[-3:]) == list(ENDPOINT_COLUMNS)
    for method in ("welch_t", "student_t", "ancova", "mmrm"):
        # Per method: spine rows, hip rows, then one decision row per comparison.
        assert table[table.method == method]["endpoint"].tolist() == ["spine"] * 2 + ["hip"] * 2 + ["any"] * 2
        for endpoint in ("spine", "hip"):
            for _, row in rows(table, method, endpoint).iterrows():
                want = REF[f"{endpoint}/{method}/{row['comparison']}"]
                fields = ("estimate", "se") if method == "mmrm" else ("estimate", "se", "df", "p_value")
                for field in fields:
                    assert close(row[field], want[field]), (endpoint, method, row["comparison"], field)
    for endpoint in ("spine", "hip"):
        # The joint ANCOVA's men: placebo once, plus each compared arm (R: complete cases).
        ancova = rows(table, "ancova", endpoint)
        analysed = ancova["n_placebo"].iloc[0] + ancova["n_anastrozole"].sum()
        assert analysed == REF[f"data/{endpoint}"]["completers"]


def test_two_arm_trial_with_hip_matches_r(tmp_path, capsys):
    frame = pd.read_csv(TRIAL)
    path = tmp_path / "two.csv"
    frame[frame.arm != "low"].to_csv(path, index=False)
    two = ["--set", "trial.arms=[{name: placebo}, {name: high, hip_difference_pct: -1.2}]",
           "--set", "trial.block_sizes=[4]", "--set", "analysis.endpoint_rule=all"]  # fmt: skip
    methods = ["--method", "welch_t", "--method", "ancova", "--method", "mmrm"]
    table, _ = run(tmp_path, capsys, str(path), "--config", CONFIG, *two, *methods)
    assert set(table["comparison"]) == {"high-placebo"}
    for endpoint in ("spine", "hip"):
        want = REF[f"two_arm/{endpoint}"]
        got = table[table.endpoint == endpoint].set_index("method")
        for method, fields in {"welch_t": ("estimate", "se", "p"), "ancova": ("estimate", "se", "p"),
                               "mmrm": ("estimate", "se")}.items():  # fmt: skip
            for field in fields:
                column = "p_value" if field == "p" else field
                assert close(got.loc[method, column], want[f"{method.split('_')[0]}_{field}"]), (
                    endpoint,
                    method,
                )
        # Co-primary: each endpoint at full alpha; with two arms nothing to adjust.
        assert (got["p_adjusted"] == got["p_value"]).all()
    decision = table[table.endpoint == "all"].set_index("method")
    spine, hip = (table[table.endpoint == e].set_index("method") for e in ("spine", "hip"))
    assert (decision["p_adjusted"] == np.maximum(spine["p_adjusted"], hip["p_adjusted"])).all()
    assert (decision["significant"] == ((spine["p_value"] <= 0.05) & (hip["p_value"] <= 0.05))).all()


# --------------------------------------------------------------------------- endpoint rules and multiplicity


@pytest.mark.parametrize("multiplicity", ["holm", "hochberg", "bonferroni"])
def test_any_adjusts_over_comparisons_and_endpoints_as_p_adjust(tmp_path, capsys, multiplicity):
    table = analyse(tmp_path, capsys, "any", multiplicity)
    for method in ("welch_t", "student_t", "ancova"):
        got = np.concatenate([rows(table, method, e)["p_adjusted"].to_numpy() for e in ("spine", "hip")])
        np.testing.assert_allclose(got, REF[f"any/{method}/{multiplicity}"], rtol=1e-9, atol=1e-14)
        decision = table[(table.method == method) & (table.endpoint == "any")]
        assert decision["role"].eq("decision").all() and decision["estimate"].isna().all()
        np.testing.assert_allclose(decision["p_adjusted"], np.minimum(got[:2], got[2:]), rtol=1e-15)
        assert decision["significant"].tolist() == (np.minimum(got[:2], got[2:]) <= 0.05).tolist()
        assert decision["n_placebo"].isna().all()
    # The fixture has a decision on each side of alpha: low-placebo by its hip effect only.
    ancova = table[(table.method == "ancova") & (table.endpoint == "any")]
    if multiplicity == "holm":
        assert ancova["significant"].tolist() == [True, True]


def test_any_with_dunnett_is_bonferroni_over_dunnett_per_endpoint(tmp_path, capsys):
    table = analyse(tmp_path, capsys, "any", "dunnett")
    got = np.concatenate([rows(table, "student_t", e)["p_adjusted"].to_numpy() for e in ("spine", "hip")])
    np.testing.assert_allclose(got, REF["any/student_t/dunnett"], rtol=1e-6, atol=1e-9)
    # Welch has no common-df t statistics: no Dunnett p-value, no decision.
    welch = table[table.method == "welch_t"]
    assert welch["p_adjusted"].isna().all() and not welch["significant"].any()


def test_any_with_fixed_sequence_tests_spine_then_hip(tmp_path, capsys):
    order = ["--set", "analysis.multiplicity_order=[high-placebo, low-placebo]"]
    table = analyse(tmp_path, capsys, "any", "fixed_sequence", *order)
    got = np.concatenate([rows(table, "ancova", e)["p_adjusted"].to_numpy() for e in ("spine", "hip")])
    np.testing.assert_allclose(got, REF["any/ancova/fixed_sequence"], rtol=1e-12)


def test_all_is_each_endpoint_at_full_alpha_with_a_decision_row(tmp_path, capsys):
    table = analyse(tmp_path, capsys, "all", "holm")
    for method in ("student_t", "ancova"):
        spine, hip = rows(table, method, "spine"), rows(table, method, "hip")
        np.testing.assert_allclose(spine["p_adjusted"], REF[f"spine/{method}/holm_within"], rtol=1e-9)
        np.testing.assert_allclose(hip["p_adjusted"], REF[f"hip/{method}/holm_within"], rtol=1e-9)
        assert set(spine["role"]) == set(hip["role"]) == {"co-primary"}
        decision = table[(table.method == method) & (table.endpoint == "all")]
        assert decision["comparison"].tolist() == LABELS
        want = np.maximum(spine["p_adjusted"].to_numpy(), hip["p_adjusted"].to_numpy())
        np.testing.assert_allclose(decision["p_adjusted"], want, rtol=1e-15)
        # high-placebo: spine significant, hip not; low-placebo: hip only. Co-primary: no success.
        assert decision["significant"].tolist() == [False, False]
        assert (
            decision["note"].str.startswith("co-primary: success only if significant on spine and hip").all()
        )


def test_primary_reports_hip_adjusted_within_the_hip_as_secondary(tmp_path, capsys):
    table = analyse(tmp_path, capsys, "primary", "holm")
    assert set(table["endpoint"]) == {"spine", "hip"}  # no decision rows: the spine decides
    for method in ("student_t", "ancova"):
        spine, hip = rows(table, method, "spine"), rows(table, method, "hip")
        np.testing.assert_allclose(spine["p_adjusted"], REF[f"spine/{method}/holm_within"], rtol=1e-9)
        np.testing.assert_allclose(hip["p_adjusted"], REF[f"hip/{method}/holm_within"], rtol=1e-9)
        assert (hip["p_adjusted"] > hip["p_value"]).any()  # the hip is adjusted, as in the power engine
        assert set(spine["role"]) == {"primary"} and set(hip["role"]) == {"secondary"}
        assert hip["note"].str.contains("secondary endpoint: does not decide").all()


def test_a_failed_analysis_counts_as_a_hypothesis_under_any():
    spine = pd.DataFrame({"p_value": [0.01], "p_adjusted": [0.01]})
    hip = pd.DataFrame({"p_value": [np.nan], "p_adjusted": [np.nan]})
    chosen = {"multiplicity": "holm", "order": None}
    adjusted = _any_adjusted([spine, hip], chosen)
    assert adjusted[0].tolist() == [0.02] and np.isnan(adjusted[1][0])  # R's p.adjust would give 0.01
    chosen = {"multiplicity": "none", "order": None}
    assert _any_adjusted([spine, hip], chosen)[0].tolist() == [0.01]


def test_spine_rows_equal_a_spine_only_analysis():
    cfg = load_config(CONFIG)
    data = read_trial_csv(TRIAL, quiet=True, layout=layout_from_config(cfg), hip=True)
    methods = ["welch_t", "mmrm", "bootstrap"]  # bootstrap: the spine keeps its random stream
    analysis = {"multiplicity": "holm", "endpoint_rule": "all"}
    both = analyze_endpoints(endpoint_frames(data, True), methods, rng=5, analysis=analysis)
    alone = analyze_trial(data, methods, rng=5, analysis=analysis)
    spine = both[both.endpoint == "spine"].reset_index(drop=True)[alone.columns]
    pd.testing.assert_frame_equal(spine, alone, check_dtype=False)
    # Without the hip the table is exactly analyze_trial's: no column added.
    pd.testing.assert_frame_equal(
        analyze_endpoints(endpoint_frames(data, False), methods, rng=5, analysis={"multiplicity": "holm"}),
        alone,
    )
    with pytest.raises(InputError, match="'analysis.endpoint_rule': value 'all' needs a second endpoint"):
        analyze_endpoints(endpoint_frames(data, False), methods, analysis=analysis)
    hip = both[both.endpoint == "hip"].set_index("comparison")
    assert (hip.loc[LABELS, "estimate"] != spine.set_index("comparison").loc[LABELS, "estimate"]).all()


# --------------------------------------------------------------------------- input and errors


def test_mapped_hip_column_and_errors_name_it(tmp_path, capsys):
    frame = pd.read_csv(TRIAL).rename(columns={"hip_bmd_g_cm2": "total_hip"})
    path = tmp_path / "t.csv"
    frame.to_csv(path, index=False)
    mapped = ["--columns", "total_hip=hip_bmd_g_cm2", "--method", "ancova"]
    table, _ = run(tmp_path, capsys, str(path), "--config", CONFIG, *mapped)
    want = REF["hip/ancova/high-placebo"]["estimate"]
    assert close(table.set_index(["endpoint", "comparison"]).loc[("hip", "high-placebo"), "estimate"], want)
    # Unmapped, the hip column of the config is missing.
    line = fails(capsys, str(path), "--config", CONFIG, "--method", "ancova")
    assert "missing column 'hip_bmd_g_cm2'" in line and "effects.hip" in line and "--columns" in line
    # A value outside the plausible range names the user's column and the file line.
    frame.loc[7, "total_hip"] = 9.8
    frame.to_csv(path, index=False)
    line = fails(capsys, str(path), "--config", CONFIG, *mapped)
    assert "column 'total_hip'" in line and "(line 9)" in line and "value 9.8 is not allowed" in line
    assert "total hip BMD" in line


def test_hip_value_at_a_visit_without_a_scan_is_refused(tmp_path, capsys):
    frame = pd.read_csv(TRIAL)
    path = tmp_path / "t.csv"
    frame.to_csv(path, index=False)
    # Scans only at 0, 12 and 24 (hormone visits at 6 and 18): the hip value at month 6 is refused.
    frame.loc[frame.visit_month.isin([6, 18]), "bmd_g_cm2"] = np.nan
    frame.to_csv(path, index=False)
    sched = [
        "--set",
        "trial.schedule.dxa_months=[0,12,24]",
        "--set",
        "trial.schedule.visits_months=[0,6,12,18,24]",
    ]
    line = fails(capsys, str(path), "--config", CONFIG, *sched, "--method", "welch_t")
    assert line.startswith("vtrial: error: column 'hip_bmd_g_cm2', subject 1 (line 3)")
    assert "is at a visit without a DXA scan" in line


def test_hip_column_without_effects_hip_is_noted_not_analysed(tmp_path, capsys):
    three = ["--set", "trial.arms=[{name: placebo}, {name: low}, {name: high}]", "--set", "trial.block_sizes=[3]",
             "--set", "trial.schedule.dxa_months=[0,6,12,18,24]",
             "--set", "trial.schedule.visits_months=[0,6,12,18,24]"]  # fmt: skip
    table, err = run(tmp_path, capsys, TRIAL, *three, "--method", "student_t")
    assert "endpoint" not in table.columns and len(table) == 2
    assert close(table.loc[1, "estimate"], REF["spine/student_t/high-placebo"]["estimate"])
    assert "column 'hip_bmd_g_cm2' (total hip BMD) is not analysed: set effects.hip" in err


def test_generic_outcome_with_hip_is_refused(tmp_path, capsys):
    path = tmp_path / "t.csv"
    pd.read_csv(TRIAL).rename(columns={"bmd_g_cm2": "score"}).to_csv(path, index=False)
    line = fails(capsys, str(path), "--config", CONFIG, "--columns", "score=outcome", "--scale", "absolute")
    assert "config key 'effects.hip'" in line and "generic outcome 'score'" in line


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("example", ["three_arm_dose", "addon_24m_spine_hip"])
def test_simulate_then_analyze_reads_the_design_without_mapping(tmp_path, capsys, example):
    config = str(ROOT / "config" / "examples" / f"{example}.yaml")
    path = tmp_path / "trial.csv"
    assert main(["simulate", "--config", config, "--out", str(path)]) == 0
    capsys.readouterr()
    table, err = run(
        tmp_path, capsys, str(path), "--config", config, "--method", "welch_t", "--method", "mmrm"
    )
    design = design_of(load_config(config))
    frame = pd.read_csv(path)
    endpoint = design.endpoint_month
    assert endpoint == max(design.dxa_months)
    # Men analysed by Welch: those with BMD at months 0 and at the design's endpoint, per arm.
    seen = frame[frame.visit_month.isin([0, endpoint])].groupby("subject_id")
    arm = seen["arm"].first()
    for endpoint_name in design.endpoints:
        column = {"spine": "bmd_g_cm2", "hip": "hip_bmd_g_cm2"}[endpoint_name]
        complete = seen[column].count() == 2
        part = table[table.method == "welch_t"]
        if "endpoint" in table.columns:
            part = part[part.endpoint == endpoint_name]
        assert part["comparison"].tolist() == list(design.labels)
        assert part["estimate"].notna().all()
        for _, row in part.iterrows():
            treated, control = row["comparison"].split("-")
            assert row["n_anastrozole"] == int((complete & (arm == treated)).sum())
            assert row["n_placebo"] == int((complete & (arm == control)).sum())
    if len(design.endpoints) == 2:
        assert design.endpoint_rule == "all"
        assert set(table["endpoint"]) == {"spine", "hip", "all"}
    else:
        assert "endpoint" not in table.columns
    assert f"without a month-{endpoint} BMD" in err
