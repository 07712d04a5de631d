"""`vtrial analyze` on trials that are not the 2009 layout: schedule, mapping, arms, outcome.

References: tests/fixtures/btheb/reference.json (R on HSAUR3::BtheB) and
tests/fixtures/schedule24/reference.json (R on a simulated 24-month,
three-arm trial with intermittent gaps), each from the make_fixture.R beside it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from vtrial.analysis.comparisons import analyze_trial, comparison_pairs
from vtrial.analysis.data import Layout, analysis_notes, layout_of, to_wide, validate_long, with_layout
from vtrial.analysis.missing import single_outcome
from vtrial.analysis.mmrm import fit_mmrm_visits, mmrm_arrays
from vtrial.analysis.trial_input import layout_from_config, parse_mapping, prepare_trial
from vtrial.cli import main
from vtrial.config import load_config
from vtrial.errors import InputError

ROOT = Path(__file__).resolve().parents[1]
BTHEB = ROOT / "tests" / "fixtures" / "btheb"
S24 = ROOT / "tests" / "fixtures" / "schedule24"
EXAMPLE = ROOT / "config" / "examples" / "analyze_btheb.yaml"
BTHEB_COLUMNS = "id=subject_id,treatment=arm,month=visit_month,bdi=outcome"
BTHEB_SET = [
    "--set", "trial.arms=[{name: TAU}, {name: BtheB}]",
    "--set", "trial.schedule.dxa_months=[0,2,3,5,8]",
    "--set", "trial.schedule.visits_months=[0,2,3,5,8]",
]  # fmt: skip
S24_SET = [
    "--set", "trial.arms=[{name: placebo}, {name: low}, {name: high}]",
    "--set", "trial.block_sizes=[6]",  # a block must hold the 1:1:1 allocation
    "--set", "trial.schedule.dxa_months=[0,6,12,18,24]",
    "--set", "trial.schedule.visits_months=[0,6,12,18,24]",
]  # fmt: skip
TOL = 1e-6


def reference(folder: Path) -> dict:
    return json.loads((folder / "reference.json").read_text())


def run(tmp_path, capsys, *argv) -> tuple[pd.DataFrame, str]:
    out = tmp_path / "res.csv"
    code = main(["analyze", *argv, "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 0, err
    return pd.read_csv(out), err


def fails(capsys, *argv) -> str:
    code = main(["analyze", *argv])
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def close(got: float, want: float, tol: float = TOL) -> bool:
    return math.isclose(got, want, rel_tol=0, abs_tol=tol * max(1.0, abs(want)))


# --------------------------------------------------------------------------- Beat the Blues


@pytest.mark.parametrize("via", ["options", "example_config"])
def test_btheb_matches_r(tmp_path, capsys, via):
    ref = reference(BTHEB)
    methods = ["--method", "welch_t", "--method", "student_t", "--method", "ancova", "--method", "mmrm"]
    if via == "options":
        argv = [str(BTHEB / "btheb_long.csv"), "--columns", BTHEB_COLUMNS, *BTHEB_SET, *methods]
    else:
        mapping = BTHEB / "columns.yaml"
        argv = [str(BTHEB / "btheb_long.csv"), "--config", str(EXAMPLE), "--columns", str(mapping), *methods]
    table, err = run(tmp_path, capsys, *argv)
    assert set(table["comparison"]) == {"BtheB-TAU"}
    rows = table.set_index("method")
    for method in ("welch_t", "student_t", "ancova"):
        for field in ("estimate", "se", "df", "p_value"):
            assert close(rows.loc[method, field], ref[method][field]), (method, field)
        assert rows.loc[method, "p_adjusted"] == rows.loc[method, "p_value"]
    # Completers: 25 TAU, 27 BtheB (R: 52 completers); the MMRM uses everyone seen after month 0.
    assert (rows.loc["welch_t", "n_placebo"], rows.loc["welch_t", "n_anastrozole"]) == (25, 27)
    assert rows.loc["ancova", "n_placebo"] + rows.loc["ancova", "n_anastrozole"] == ref["data"]["completers"]
    assert close(rows.loc["mmrm", "estimate"], ref["mmrm"]["estimate"])
    assert close(rows.loc["mmrm", "se"], ref["mmrm"]["se"])
    assert "outcome 'bdi' is not BMD" in err and "without a month-8 outcome" in err


def test_btheb_mmrm_fit_matches_r_loglik():
    ref = reference(BTHEB)["mmrm"]
    layout = layout_from_config(load_config(None, [o for o in BTHEB_SET if o != "--set"]))
    raw = pd.read_csv(BTHEB / "btheb_long.csv")
    data = prepare_trial(raw, layout, parse_mapping(BTHEB_COLUMNS)[0])
    z, y, _ = mmrm_arrays(to_wide(data), "absolute", (), layout.arms)
    fit = fit_mmrm_visits(z, y, np.eye(1, 12, 10))
    assert fit.n_obs == ref["n_obs"]
    assert fit.reml_loglik == pytest.approx(ref["reml_loglik"], abs=1e-8)
    assert fit.beta[10] == pytest.approx(ref["estimate"], abs=TOL)


def test_generic_outcome_refuses_pct_scale(capsys):
    line = fails(
        capsys, str(BTHEB / "btheb_long.csv"), "--columns", BTHEB_COLUMNS, *BTHEB_SET, "--scale", "pct"
    )
    assert "--scale" in line and "generic outcome" in line


def test_generic_outcome_skips_bmd_range_but_bmd_keeps_it():
    # A BDI of 40 is far outside the BMD range 0.2-3 g/cm2: fine as a generic outcome ...
    raw = pd.DataFrame(
        {
            "id": [1, 1, 2, 2],
            "group": ["TAU", "TAU", "BtheB", "BtheB"],
            "month": [0, 8, 0, 8],
            "bdi": [40, 30, 35, 20],
        }
    )
    layout = Layout(scans=(0, 8), visits=(0, 8), endpoint=8, arms=("TAU", "BtheB"))
    cols = {"id": "subject_id", "group": "arm", "month": "visit_month"}
    data = prepare_trial(raw, layout, {**cols, "bdi": "outcome"})
    assert validate_long(data)["bmd_g_cm2"].tolist() == [40.0, 30.0, 35.0, 20.0]
    # ... but not as BMD, and the message names the user's column.
    with pytest.raises(
        InputError, match=r"column 'bdi', subject 1 \(row 1\): value 40 is not allowed \(allowed: 0.2 to 3"
    ):
        validate_long(prepare_trial(raw, layout, {**cols, "bdi": "bmd_g_cm2"}))
    # A generic outcome must still be finite.
    bad = raw.assign(bdi=[40, np.inf, 35, 20])
    with pytest.raises(InputError, match="column 'bdi'.*inf is not a finite number"):
        validate_long(prepare_trial(bad, layout, {**cols, "bdi": "outcome"}))


# --------------------------------------------------------------------------- schedule


def _trial_0_12_24() -> pd.DataFrame:
    """Two arms, scans at 0, 12 and 24 months, one dropout before 24."""
    rng = np.random.default_rng(5)
    n = 24
    b0 = rng.normal(1.1, 0.1, n)
    arm = np.repeat(["placebo", "anastrozole"], n // 2)
    rows = []
    for i in range(n):
        for m in (0, 12, 24):
            value = b0[i] * (1 + (m / 24) * (rng.normal(0, 2) - 1.5 * (arm[i] == "anastrozole")) / 100)
            rows.append({"subject_id": i + 1, "arm": arm[i], "visit_month": m, "bmd_g_cm2": round(value, 4)})
    frame = pd.DataFrame(rows)
    frame.loc[(frame.subject_id == 3) & (frame.visit_month == 24), "bmd_g_cm2"] = np.nan
    return frame


def test_visit_outside_default_schedule_is_an_error(tmp_path, capsys):
    path = tmp_path / "t.csv"
    _trial_0_12_24().to_csv(path, index=False)
    line = fails(capsys, str(path), "--method", "welch_t")
    assert line.startswith(
        "vtrial: error: column 'visit_month', subject 1 (line 4): value 24 is not a scheduled visit"
    )
    assert "allowed: 0, 3, 6, 12" in line and "trial.schedule" in line


def test_schedule_endpoint_is_analysed_and_no_hormone_columns_needed(tmp_path, capsys):
    frame = _trial_0_12_24()  # no age, BMI or hormone columns
    path = tmp_path / "t.csv"
    frame.to_csv(path, index=False)
    sched = [
        "--set",
        "trial.schedule.dxa_months=[0,12,24]",
        "--set",
        "trial.schedule.visits_months=[0,12,24]",
    ]
    table, err = run(tmp_path, capsys, str(path), *sched, "--method", "welch_t", "--method", "ancova")
    wide = frame.pivot(index="subject_id", columns="visit_month", values="bmd_g_cm2")
    change = 100 * (wide[24] - wide[0]) / wide[0]
    arm = frame.groupby("subject_id")["arm"].first()
    a, p = change[arm == "anastrozole"].dropna(), change[arm == "placebo"].dropna()
    welch = stats.ttest_ind(a, p, equal_var=False)
    row = table.set_index("method").loc["welch_t"]
    assert row["estimate"] == pytest.approx(a.mean() - p.mean(), abs=1e-12)
    assert row["p_value"] == pytest.approx(welch.pvalue, abs=1e-12)
    assert (row["n_placebo"], row["n_anastrozole"]) == (11, 12)
    assert "without a month-24 BMD" in err and "subject 3" in err
    # endpoint_month: 12 analyses month 12 instead (everyone seen).
    table12, _ = run(
        tmp_path,
        capsys,
        str(path),
        *sched,
        "--set",
        "trial.schedule.endpoint_month=12",
        "--method",
        "welch_t",
    )
    assert (table12.loc[0, "n_placebo"], table12.loc[0, "n_anastrozole"]) == (12, 12)


def test_ancova_covariate_missing_from_file_is_named(tmp_path, capsys):
    path = tmp_path / "t.csv"
    _trial_0_12_24().to_csv(path, index=False)
    sched = [
        "--set",
        "trial.schedule.dxa_months=[0,12,24]",
        "--set",
        "trial.schedule.visits_months=[0,12,24]",
    ]
    line = fails(capsys, str(path), *sched, "--method", "ancova", "--set", "analysis.covariates=[age_years]")
    assert "covariate 'age_years' is not a column" in line


def test_endpoint_must_be_a_scan():
    with pytest.raises(InputError, match="endpoint_month': value 9 is not a scan"):
        layout_from_config(
            {
                "trial": {
                    "schedule": {"visits_months": [0, 6, 12], "dxa_months": [0, 6, 12], "endpoint_month": 9}
                }
            }
        )


def test_locf_carries_the_last_scan_before_the_endpoint_across_gaps():
    layout = Layout(scans=(0, 6, 12, 18, 24), visits=(0, 6, 12, 18, 24), endpoint=24)
    nan = np.nan
    wide = with_layout(
        pd.DataFrame(
            {
                "bmd0": [1.0, 1.0, 1.0, 1.0],
                "bmd6": [1.01, 1.01, nan, 1.01],
                "bmd12": [nan, 1.02, nan, 1.02],
                "bmd18": [1.03, nan, nan, 1.03],
                "bmd24": [nan, nan, nan, 1.04],
            }
        ),
        layout,
    )
    assert single_outcome(wide, "locf", "pct").round(9).tolist() == [3.0, 2.0, 0.0, 4.0]
    assert single_outcome(wide, "bocf", "pct").round(9).tolist() == [0.0, 0.0, 0.0, 4.0]


# --------------------------------------------------------------------------- mapping and arms


def test_mapping_errors(tmp_path, capsys):
    csv = str(BTHEB / "btheb_long.csv")
    assert "'patient' is not a column" in fails(capsys, csv, "--columns", "patient=subject_id", *BTHEB_SET)
    assert "target 'visit' of 'month' is not allowed" in fails(
        capsys, csv, "--columns", "month=visit", *BTHEB_SET
    )
    assert "is not SRC=DST" in fails(capsys, csv, "--columns", "id", *BTHEB_SET)
    # Labels TAU/BtheB are not the default arms: the error names the label, subject and line.
    line = fails(capsys, csv, "--columns", BTHEB_COLUMNS)
    assert line.startswith(
        "vtrial: error: column 'treatment', subject 1 (line 2): value 'TAU' is not allowed"
    )
    assert "--arms" in line
    # Mapped onto the default arms instead, the analysis runs.
    table, _ = run(
        tmp_path, capsys, csv, "--columns", BTHEB_COLUMNS, "--arms", "TAU=placebo,BtheB=anastrozole",
        *BTHEB_SET[2:], "--method", "welch_t",
    )  # fmt: skip
    assert table.loc[0, "comparison"] == "anastrozole-placebo"
    assert close(table.loc[0, "estimate"], reference(BTHEB)["welch_t"]["estimate"])
    assert "label 'Control' is not in column 'treatment'" in fails(
        capsys, csv, "--columns", BTHEB_COLUMNS, "--arms", "Control=placebo,BtheB=anastrozole", *BTHEB_SET[2:]
    )
    assert "'active' is not a configured arm" in fails(
        capsys, csv, "--columns", BTHEB_COLUMNS, "--arms", "TAU=placebo,BtheB=active", *BTHEB_SET[2:]
    )


def test_mapping_file(tmp_path):
    path = tmp_path / "map.yaml"
    path.write_text("columns:\n  id: subject_id\n  treatment: arm\narms:\n  TAU: placebo\n")
    assert parse_mapping(str(path)) == ({"id": "subject_id", "treatment": "arm"}, {"TAU": "placebo"})
    path.write_text("id: subject_id\n")
    assert parse_mapping(str(path)) == ({"id": "subject_id"}, {})
    path.write_text("columns: {id: subject_id}\nextra: 1\n")
    with pytest.raises(InputError, match="key 'extra'"):
        parse_mapping(str(path))


def test_numeric_arm_labels_are_mapped():
    raw = pd.DataFrame({"subject_id": [1, 1, 2, 2], "arm": [0, 0, 1, 1], "visit_month": [0, 12, 0, 12],
                        "bmd_g_cm2": [1.0, 1.01, 1.1, 1.08]})  # fmt: skip
    data = prepare_trial(raw, Layout(), arms={"0": "placebo", "1": "anastrozole"})
    assert validate_long(data)["arm"].tolist() == ["placebo", "placebo", "anastrozole", "anastrozole"]


# --------------------------------------------------------------------------- three arms, 24 months


def _s24_table(tmp_path, capsys, *extra) -> pd.DataFrame:
    methods = ["--method", "welch_t", "--method", "student_t", "--method", "ancova", "--method", "mmrm"]
    table, _ = run(tmp_path, capsys, str(S24 / "trial24.csv"), *S24_SET, *methods, *extra)
    return table


@pytest.mark.parametrize("kind", ["vs_control", "all_pairs"])
def test_three_arms_match_r(tmp_path, capsys, kind):
    ref = reference(S24)
    table = _s24_table(
        tmp_path, capsys, "--set", f"analysis.comparisons={kind}", "--set", "analysis.multiplicity=holm"
    )
    labels = ["low-placebo", "high-placebo"] + (["high-low"] if kind == "all_pairs" else [])
    for method, rows in table.groupby("method", sort=False):
        assert rows["comparison"].tolist() == labels
        for _, row in rows.iterrows():
            want = ref[f"{method}/{row['comparison']}"]
            fields = ("estimate", "se") if method == "mmrm" else ("estimate", "se", "df", "p_value")
            for field in fields:
                assert close(row[field], want[field]), (method, row["comparison"], field)
        if method in ("student_t", "ancova"):
            holm = ref[f"{method}/holm_{kind}"]
            np.testing.assert_allclose(rows["p_adjusted"], holm, rtol=1e-9, atol=1e-14)
    # Welch compares each pair on its own men; the joint models count every arm's men.
    welch = table[table.method == "welch_t"].set_index("comparison")
    assert welch.loc["high-placebo", "note"].startswith("pairwise")
    assert (welch.loc["high-placebo", "n_placebo"], welch.loc["high-placebo", "n_anastrozole"]) == (28, 26)


def test_three_arm_dunnett_matches_multcomp(tmp_path, capsys):
    ref = reference(S24)["student_t/dunnett"]
    table = _s24_table(tmp_path, capsys, "--set", "analysis.multiplicity=dunnett")
    student = table[table.method == "student_t"]
    np.testing.assert_allclose(student["p_adjusted"], ref, rtol=1e-6, atol=1e-9)
    # No common-df t statistics for Welch or the MMRM: no adjusted p-value, and said so.
    for method in ("welch_t", "mmrm"):
        rows = table[table.method == method]
        assert rows["p_adjusted"].isna().all()
        assert rows["note"].str.contains("no dunnett adjustment").all()


def test_two_arm_subset_of_the_24_month_trial_mmrm_matches_gls(tmp_path, capsys):
    frame = pd.read_csv(S24 / "trial24.csv")
    path = tmp_path / "two.csv"
    frame[frame.arm != "low"].to_csv(path, index=False)
    argv = [
        str(path),
        "--set",
        "trial.arms=[{name: placebo}, {name: high}]",
        *S24_SET[4:],
        "--method",
        "mmrm",
    ]
    table, err = run(tmp_path, capsys, *argv)
    want = reference(S24)["two_arm/mmrm"]
    assert table.loc[0, "comparison"] == "high-placebo"
    assert close(table.loc[0, "estimate"], want["estimate"]) and close(table.loc[0, "se"], want["se"])
    assert "intermittent gap" in err


def test_fixed_sequence_and_pairwise_multiple_imputation(tmp_path, capsys):
    order = [
        "--set",
        "analysis.multiplicity=fixed_sequence",
        "--set",
        "analysis.multiplicity_order=[high-placebo, low-placebo]",
    ]
    table = _s24_table(tmp_path, capsys, *order)
    for _, rows in table.groupby("method"):
        p = rows.set_index("comparison")["p_value"]
        adj = rows.set_index("comparison")["p_adjusted"]
        assert adj["high-placebo"] == p["high-placebo"]
        assert adj["low-placebo"] == max(p["high-placebo"], p["low-placebo"])
    mi, _ = run(
        tmp_path,
        capsys,
        str(S24 / "trial24.csv"),
        *S24_SET,
        "--method",
        "ancova",
        "--missing",
        "multiple_imputation",
    )
    assert mi["note"].str.startswith("pairwise: men of").all() and mi["estimate"].notna().all()


def test_three_arm_mmrm_satterthwaite_df_matches_dense_formula():
    """Satterthwaite df of the K-visit fit against full N x N matrices (no grouping by pattern)."""
    layout = layout_from_config(load_config(None, [o for o in S24_SET if o != "--set"]))
    data = prepare_trial(pd.read_csv(S24 / "trial24.csv"), layout)
    z, y, _ = mmrm_arrays(to_wide(data), "pct", (), layout.arms)
    k, q = y.shape[1], z.shape[1]
    c = np.zeros((2, k * q))
    c[0, 3 * q + 1] = 1  # low - placebo at month 24
    c[1, 3 * q + 2], c[1, 3 * q + 1] = 1, -1  # high - low
    fit = fit_mmrm_visits(z, y, c)
    rows, ys, who = [], [], []
    for i in range(len(z)):
        for v in range(k):
            if not np.isnan(y[i, v]):
                x = np.zeros(k * q)
                x[v * q : (v + 1) * q] = z[i]
                rows.append(x)
                ys.append(y[i, v])
                who.append((i, v))
    x, obs = np.array(rows), np.array(ys)
    same = np.array([[a[0] == b[0] for b in who] for a in who])
    va = np.array([a[1] for a in who])

    def v_of(s):
        return np.where(same, s[va[:, None], va[None, :]], 0.0)

    vinv = np.linalg.inv(v_of(fit.sigma))
    m_inv = np.linalg.inv(x.T @ vinv @ x)
    proj = vinv - vinv @ x @ m_inv @ x.T @ vinv
    derivs = []
    for a in range(k):
        for b in range(a, k):
            e = np.zeros((k, k))
            e[a, b] = e[b, a] = 1.0
            derivs.append(v_of(e))
    info = np.array(
        [
            [
                -0.5 * np.sum((proj @ da) * (proj @ db).T) + obs @ proj @ da @ proj @ db @ proj @ obs
                for db in derivs
            ]
            for da in derivs
        ]
    )
    assert fit.contrast_dfs[0] == pytest.approx(fit.contrast_df)
    for row, want_df in zip(c, fit.contrast_dfs, strict=True):
        var = row @ m_inv @ row
        grad = np.array([row @ m_inv @ x.T @ vinv @ d @ vinv @ x @ m_inv @ row for d in derivs])
        assert want_df == pytest.approx(2 * var**2 / (grad @ np.linalg.inv(info) @ grad), rel=1e-6)
        assert var == pytest.approx(row @ fit.cov_beta @ row, rel=1e-10)


def test_notes_name_intermittent_gaps_only_with_several_scans():
    layout = layout_from_config(load_config(None, [o for o in S24_SET if o != "--set"]))
    data = prepare_trial(pd.read_csv(S24 / "trial24.csv"), layout)
    notes = analysis_notes(validate_long(data))
    gap = [n for n in notes if "intermittent gap" in n]
    assert len(gap) == 1 and gap[0].startswith(f"{reference(S24)['data']['nonmonotone']} men missed a scan")


def test_analyze_trial_two_arms_equals_run_methods():
    from vtrial.analysis import run_methods
    from vtrial.analysis._example import example_trial

    data = example_trial()
    joint = analyze_trial(data, ["welch_t", "ancova", "mmrm"], rng=3)
    plain = run_methods(data, ["welch_t", "ancova", "mmrm"], rng=3)
    pd.testing.assert_frame_equal(joint[plain.columns], plain)
    assert joint["comparison"].eq("anastrozole-placebo").all()
    assert layout_of(data).arms == ("placebo", "anastrozole")
    assert comparison_pairs(("a", "b")) == [("b", "a")]


# --------------------------------------------------------------------------- wide files

WIDE = ["--wide", "bdi.pre=0,bdi.2m=2,bdi.3m=3,bdi.5m=5,bdi.8m=8", "--wide-outcome", "outcome"]


def test_wide_file_equals_long_file(tmp_path, capsys):
    methods = ["--method", "welch_t", "--method", "ancova", "--method", "mmrm", "--method", "mann_whitney"]
    long, _ = run(
        tmp_path, capsys, str(BTHEB / "btheb_long.csv"), "--columns", BTHEB_COLUMNS, *BTHEB_SET, *methods
    )
    wide, err = run(
        tmp_path, capsys, str(BTHEB / "btheb_wide.csv"), "--columns", "id=subject_id,treatment=arm", *WIDE,
        *BTHEB_SET, *methods,
    )  # fmt: skip
    pd.testing.assert_frame_equal(long, wide)
    assert close(wide.loc[0, "estimate"], reference(BTHEB)["welch_t"]["estimate"])
    assert "48 subjects without a month-8 outcome" in err


def test_wide_file_errors_name_the_line(tmp_path, capsys):
    frame = pd.read_csv(BTHEB / "btheb_wide.csv")
    frame["bdi.3m"] = frame["bdi.3m"].astype(object)
    frame.loc[4, "bdi.3m"] = "x"
    path = tmp_path / "w.csv"
    frame.to_csv(path, index=False)
    line = fails(capsys, str(path), "--columns", "id=subject_id,treatment=arm", *WIDE, *BTHEB_SET)
    assert line.startswith("vtrial: error: column 'outcome', subject 5 (line 6): value 'x' is not a number")
    bad = ["--wide", "bdi.pre=0,bdi.2m=two"]
    assert "month 'two' of column 'bdi.2m' is not allowed" in fails(capsys, str(path), *bad)
    missing = ["--columns", "id=subject_id,treatment=arm", "--wide", "bdi.pre=0,bdi.9m=9"]
    assert "'bdi.9m' is not a column" in fails(capsys, str(path), *missing)


@pytest.mark.parametrize("missing", ["complete_case", "locf"])
@pytest.mark.parametrize("robust", [None, "HC3"])
def test_three_arm_joint_ancova_equals_statsmodels(missing, robust):
    """Joint ANCOVA with a covariate, HC3 or not, complete cases or LOCF, against statsmodels OLS."""
    import statsmodels.api as sm

    layout = layout_from_config(load_config(None, [o for o in S24_SET if o != "--set"]))
    data = prepare_trial(pd.read_csv(S24 / "trial24.csv"), layout)
    options = {"ancova": {"covariates": ["age_years"], "robust": robust}}
    table = analyze_trial(
        data, ["ancova"], missing=missing, options=options, analysis={"comparisons": "all_pairs"}
    )
    # The outcome written out independently: % change at 24, else (locf) the last earlier scan, else 0.
    frame = pd.read_csv(S24 / "trial24.csv")
    bmd = frame.pivot(index="subject_id", columns="visit_month", values="bmd_g_cm2")
    pct = 100 * bmd.sub(bmd[0], axis=0).div(bmd[0], axis=0)
    y = pct[24].copy()
    if missing == "locf":
        y = pct[[6, 12, 18, 24]].ffill(axis=1)[24].fillna(0.0)
    info = frame[frame.visit_month == 0].set_index("subject_id")
    use = y.notna()
    x = pd.DataFrame(
        {
            "const": 1.0,
            "low": (info["arm"] == "low").astype(float),
            "high": (info["arm"] == "high").astype(float),
            "bmd0": bmd[0],
            "age": info["age_years"],
        }
    )[use]
    fit = sm.OLS(y[use], x).fit(cov_type=robust) if robust else sm.OLS(y[use], x).fit()
    contrasts = {
        "low-placebo": [0, 1, 0, 0, 0],
        "high-placebo": [0, 0, 1, 0, 0],
        "high-low": [0, -1, 1, 0, 0],
    }
    for _, row in table.iterrows():
        c = np.array(contrasts[row["comparison"]], dtype=float)
        assert row["estimate"] == pytest.approx(c @ fit.params.to_numpy(), abs=1e-10)
        assert row["se"] == pytest.approx(np.sqrt(c @ fit.cov_params().to_numpy() @ c), rel=1e-9)
        assert row["df"] == fit.df_resid
    assert table["n_placebo"].tolist()[:2] == [int(((info["arm"] == "placebo") & use).sum())] * 2


def test_delta_mnar_shift_of_a_generic_outcome_is_in_its_unit():
    layout = layout_from_config(load_config(None, [o for o in BTHEB_SET if o != "--set"]))
    data = prepare_trial(pd.read_csv(BTHEB / "btheb_long.csv"), layout, parse_mapping(BTHEB_COLUMNS)[0])

    def estimate(delta):
        opts = {"welch_t": {"delta": delta, "delta_arm": "anastrozole", "n_imputations": 5}}
        table = analyze_trial(data, ["welch_t"], missing="delta_mnar", scale="absolute", rng=11, options=opts)
        return table.loc[0, "estimate"]

    # Same draws, every imputed BtheB value 3 BDI points higher: the mean difference moves
    # by 3 x (share of the BtheB arm imputed). With the BMD rule (3% of each baseline) it would not.
    wide = to_wide(validate_long(data))
    btheb = wide[wide.arm == "BtheB"]
    share = btheb["bmd8"].isna().sum() / len(btheb)
    assert estimate(3.0) - estimate(0.0) == pytest.approx(3.0 * share, abs=1e-10)


def test_complete_data_k_visit_mmrm_is_per_visit_ols_with_exact_df():
    # No missing visit and the same regressors at each visit: GLS = OLS per visit,
    # REML Sigma = residual SSCP / (n - q), Satterthwaite df = n - q exactly.
    rng = np.random.default_rng(8)
    n, k = 45, 4
    arm = np.repeat([0.0, 1.0, 2.0], 15)
    z = np.column_stack([np.ones(n), arm == 1, arm == 2, rng.normal(1.1, 0.1, n)]).astype(float)
    y = rng.normal(0, 1, (n, k)).cumsum(axis=1) + 0.5 * (arm == 2)[:, None]
    c = np.zeros((2, k * 4))
    c[0, 3 * 4 + 2] = 1.0
    c[1, 3 * 4 + 2], c[1, 3 * 4 + 1] = 1.0, -1.0
    fit = fit_mmrm_visits(z, y, c)
    beta, rss = np.linalg.lstsq(z, y[:, -1], rcond=None)[:2]
    cov = np.linalg.inv(z.T @ z) * rss[0] / (n - 4)
    assert c[0] @ fit.beta == pytest.approx(beta[2], abs=1e-9)
    assert c[1] @ fit.beta == pytest.approx(beta[2] - beta[1], abs=1e-9)
    assert np.sqrt(c[0] @ fit.cov_beta @ c[0]) == pytest.approx(np.sqrt(cov[2, 2]), rel=1e-7)
    np.testing.assert_allclose(fit.contrast_dfs, [n - 4, n - 4], rtol=1e-6)
    resid = y - z @ np.linalg.lstsq(z, y, rcond=None)[0]
    np.testing.assert_allclose(fit.sigma, resid.T @ resid / (n - 4), rtol=1e-6)


def test_provenance_records_the_mapping_file(tmp_path, capsys):
    mapping = BTHEB / "columns.yaml"
    run(
        tmp_path,
        capsys,
        str(BTHEB / "btheb_long.csv"),
        "--config",
        str(EXAMPLE),
        "--columns",
        str(mapping),
        "--method",
        "welch_t",
    )
    record = json.loads((tmp_path / "res.csv.provenance.json").read_text())
    assert set(record["inputs"]) == {"data", "columns"}
    assert record["inputs"]["columns"]["path"] == str(mapping)
