"""The design in words: phrases, the summary of a design, figure titles, report captions, stages.

The two-arm wording is checked against literal text of the outputs before the
design keys existed (and, in tests/workflow, against the summary.md that code
wrote: tests/fixtures/words/make_default_summary.sh); the design tables are
fixtures made by tests/fixtures/words/make_design_tables.py.
"""

from __future__ import annotations

from pathlib import Path

import jinja2
import pandas as pd
import pytest
from docutils.core import publish_parts

from vtrial import design_text as dt
from vtrial import pipeline as vp
from vtrial import plots
from vtrial.config import load_config, set_key
from vtrial.design import design_of
from vtrial.report import design_key_numbers, design_summary_markdown, sample_size_rule

ROOT = Path(__file__).resolve().parents[1]
FIX = ROOT / "tests" / "fixtures" / "words"

THREE_ARMS = [
    {"name": "placebo", "allocation": 1, "dropout": 0.18},
    {"name": "anastrozole_daily", "allocation": 1, "dropout": 0.25, "difference_pct": -2.46},
    {"name": "anastrozole_twice_weekly", "allocation": 1, "dropout": 0.22, "difference_pct": -1.5},
]


def cfg_of(name: str) -> dict:
    return vp.check_config(load_config(FIX / f"{name}.yaml"))


def three_arm(**analysis) -> dict:
    cfg = set_key(set_key(load_config(), "trial.arms", THREE_ARMS), "trial.block_sizes", [6])
    for key, value in analysis.items():
        cfg = set_key(cfg, f"analysis.{key}", value)
    return vp.check_config(cfg)


# --------------------------------------------------------------------------- phrases


def test_two_arm_design_keeps_todays_wording():
    d = design_of(load_config())
    assert dt.endpoint_phrase(d) == "12-month change in PA spine BMD"
    assert dt.comparison_phrase(d) == "anastrozole versus placebo"
    assert dt.difference_phrase(d) == "anastrozole minus placebo"
    assert dt.control_name(d) == "placebo"
    assert dt.multiplicity_phrase(d) == ""  # one comparison: nothing to adjust
    assert dt.design_title(d) == "anastrozole versus placebo, 12-month change in PA spine BMD"


def test_three_arms_with_dunnett():
    d = design_of(three_arm(multiplicity="dunnett"))
    assert dt.comparison_phrase(d) == "anastrozole_daily, anastrozole_twice_weekly versus placebo (Dunnett)"
    assert dt.difference_phrase(d) == "arm minus placebo"
    assert dt.arm_count(d) == "three arms"


def test_all_pairs_with_holm_and_an_unadjusted_family():
    d = design_of(three_arm(comparisons="all_pairs", multiplicity="holm"))
    assert (
        dt.comparison_phrase(d)
        == "every pair of placebo, anastrozole_daily and anastrozole_twice_weekly (Holm)"
    )
    assert dt.difference_phrase(d) == "arm minus reference arm"
    d = design_of(three_arm())
    assert dt.comparison_phrase(d).endswith("versus placebo (no multiplicity adjustment)")


def test_fixed_sequence_names_the_testing_order():
    order = ["anastrozole_twice_weekly-placebo", "anastrozole_daily-placebo"]
    d = design_of(three_arm(multiplicity="fixed_sequence", multiplicity_order=order))
    assert dt.multiplicity_phrase(d) == (
        "fixed sequence: anastrozole_twice_weekly-placebo then anastrozole_daily-placebo"
    )


def test_24_month_spine_and_hip():
    d = design_of(cfg_of("hip_24_month"))
    assert dt.endpoint_phrase(d) == "24-month change in PA spine and total hip BMD"
    assert dt.schedule_phrase(d) == (
        "hormone visits at months 0, 6, 12 and 24, DXA scans at months 0, 12 and 24, endpoint at month 24"
    )
    assert dt.endpoint_rule_phrase(d).startswith("co-primary endpoints")
    assert dt.arm_phrases(d)[1] == (
        "anastrozole (44 men; allocation 1; dropout 25%; spine -2.46, hip -1.50 points versus placebo)"
    )


def test_paragraph_states_sizes_from_the_allocation():
    arms = [dict(a) for a in THREE_ARMS]
    arms[1]["allocation"] = 2
    cfg = set_key(set_key(set_key(load_config(), "trial.arms", arms), "trial.block_sizes", [8]),
                  "trial.n_per_arm", 40)  # fmt: skip
    text = dt.design_paragraph(design_of(vp.check_config(cfg)), n_per_arm=40, alpha=0.05, method="ancova")
    assert "anastrozole_daily (80 men; allocation 2; dropout 25%; spine -2.46 points versus placebo)" in text
    assert "placebo (control; 40 men; allocation 1; dropout 18%)" in text
    assert "analysed by ancova with two-sided alpha 0.05 and no multiplicity adjustment." in text


# --------------------------------------------------------------------------- stages


def test_default_targets_and_summary_inputs_are_those_of_before():
    cfg = vp.check_config(load_config())
    assert vp.omitted_stages(cfg) == {}
    targets = vp.workflow_targets(cfg)
    for stage in ("calibration/", "replication/", "sensitivity/", "tipping_point/", "assurance/"):
        assert any(stage in t for t in targets)
    assert list(vp.summary_inputs(cfg)) == [
        "assurance", "provenance", "power", "sample_size", "heatmap_effect_sd", "heatmap_dropout", "tornado",
        "tipping_example", "tipping_design", "calibration", "replication",
    ]  # fmt: skip


@pytest.mark.parametrize("name", ["three_arm", "hip_24_month"])
def test_a_design_runs_power_sample_size_and_summary(name):
    cfg = cfg_of(name)
    assert set(vp.omitted_stages(cfg)) == {
        "calibration", "example_trial", "replication", "sensitivity", "tipping_point", "assurance",
    }  # fmt: skip
    assert vp.workflow_targets(cfg) == [
        "results/provenance.json", "results/power/power.csv", "results/power/power.html",
        "results/sample_size/sample_size.csv", "results/sample_size/sample_size.html", "results/summary.md",
        "results/summary.html", "results/report/key_numbers.json", "results/power/power_curves.png",
        "results/power/power_curves.svg", "results/sample_size/sample_size.png",
        "results/sample_size/sample_size.svg",
    ]  # fmt: skip
    assert vp.summary_inputs(cfg) == {
        "provenance": "results/provenance.json",
        "power": "results/power/power.csv",
        "sample_size": "results/sample_size/sample_size.csv",
    }
    assert vp.assurance_config(cfg) is None
    # one sample-size job (one scenario) for every method
    assert [job["methods"] for job in vp.sample_size_jobs(cfg).values()] == [cfg["analysis"]["methods"]]


def test_sample_size_rule_in_words():
    cfg = cfg_of("three_arm")
    labels = "(`anastrozole_daily-placebo`, `anastrozole_twice_weekly-placebo`)"
    assert vp.sample_size_comparison(cfg) is None  # each
    assert (
        sample_size_rule(cfg) == f"`each`: every comparison {labels} reaches the target power, after Dunnett"
    )
    assert sample_size_rule(cfg, "all") == (
        "`all`: every comparison succeeds with the target probability, after Dunnett"
    )
    assert sample_size_rule(cfg, "anastrozole_daily-placebo") == (
        "`anastrozole_daily-placebo`: its power reaches the target, after Dunnett"
    )
    holm = set_key(cfg, "analysis.multiplicity", "none")
    assert sample_size_rule(holm, "any") == (
        "`any`: at least one comparison succeeds with the target probability, with no multiplicity adjustment"
    )
    hip = cfg_of("hip_24_month")  # one comparison, co-primary endpoints
    assert sample_size_rule(hip) == (
        "`each`: `anastrozole-placebo` reaches the target power; a comparison succeeds when significant on "
        "both endpoints"
    )
    assert sample_size_rule(set_key(hip, "analysis.endpoint_rule", "primary")).endswith(
        "; the PA spine decides"
    )
    w = vp.design_words(cfg)
    assert (
        w["sample_size_rule"]
        == f"every comparison {labels.replace('`', '')} reaches the target power, after Dunnett"
    )
    assert vp.design_words(load_config())["sample_size_rule"] == ""
    assert vp.sample_size_title(load_config()) == ""  # the figure keeps its two-arm title
    assert vp.sample_size_title(cfg) == (
        f"Sample size for the target power: {w['title']}\n"
        "comparison rule each: every comparison reaches the target power, after Dunnett"
    )


def test_sample_size_comparison_is_a_row_of_the_design():
    from vtrial.errors import InputError

    cfg = set_key(cfg_of("three_arm"), "pipeline.sample_size_comparison", "anastrozole_daily-placebo")
    assert vp.sample_size_comparison(vp.check_config(cfg)) == "anastrozole_daily-placebo"
    bad = set_key(cfg, "pipeline.sample_size_comparison", "daily-placebo")
    with pytest.raises(
        InputError, match=r"pipeline.sample_size_comparison.*'daily-placebo'.*allowed: each, any"
    ):
        vp.check_config(bad)
    with pytest.raises(InputError, match="pipeline.sample_size_comparison"):
        vp.check_config(set_key(load_config(), "pipeline.sample_size_comparison", "placebo-anastrozole"))
    # the two-arm trial's one row by any rule
    assert vp.check_config(set_key(load_config(), "pipeline.sample_size_comparison", "any"))


def test_sample_size_of_a_design_without_true_differences_is_not_searched():
    arms = [{**arm, "difference_pct": 0.0} for arm in THREE_ARMS]
    cfg = vp.check_config(set_key(three_arm(), "trial.arms", arms))
    jobs = vp.sample_size_jobs(cfg)
    table = vp.sample_size_table([jobs[next(iter(jobs))]["scenario"]], targets=[0.8], methods=["ancova"], reps=10,
                                 comparison="any")  # fmt: skip
    assert table[["method", "comparison", "target_power"]].values.tolist() == [["ancova", "any", 0.8]]
    assert table["n_per_arm"].isna().all() and table["note"].iloc[0].startswith("no true difference")


def test_sample_size_section_of_a_design_summary():
    cfg = cfg_of("three_arm")
    ss = pd.DataFrame({
        "scenario_id": "x", "method": ["ancova", "ancova", "student_t", "student_t"],
        "comparison": "each", "target_power": [0.8, 0.9, 0.8, 0.9], "n_per_arm": [66.0, 88.0, 70.0, float("nan")],
        "power": [0.805, 0.903, 0.81, float("nan")], "power_se": [0.004, 0.003, 0.004, float("nan")],
    })  # fmt: skip
    power = pd.read_csv(FIX / "three_arm_power.csv")
    text = design_summary_markdown(cfg, power=power, omitted=vp.omitted_stages(cfg), sample_size=ss)
    assert "comparison rule `each`: every comparison (`anastrozole_daily-placebo`, " in text
    # 1:1:1 allocation: three times the control arm in all
    assert (
        "- ancova: 66 men in the control arm (placebo) for 80% power (198 men in all; simulated power at that "
        "n: 80.5% ± 0.4); 88 men in the control arm (placebo) for 90% power (264 men in all; simulated power "
        "at that n: 90.3% ± 0.3).\n" in text
    )
    assert (
        "- student_t: 70 men in the control arm (placebo) for 80% power (210 men in all; simulated power at "
        "that n: 81.0% ± 0.4); 90% power not reached within 1000 men per arm.\n" in text
    )
    assert "- sample size (results/" not in text
    numbers = design_key_numbers(cfg, power=power, config_name="three_arm.yaml", sample_size=ss)
    assert numbers["n_for_target"] == {"0.8": 66, "0.9": 88}
    assert "**Men in the control arm for 90% power (comparison rule each):** 88 men." in numbers["rst"]
    # unequal allocation: the total counts each arm's own size
    arms = [THREE_ARMS[0], THREE_ARMS[1], {**THREE_ARMS[2], "allocation": 2}]
    two_to_one = vp.check_config(set_key(set_key(cfg, "trial.arms", arms), "trial.block_sizes", [8]))
    text = design_summary_markdown(two_to_one, power=power, omitted={}, sample_size=ss)
    assert "66 men in the control arm (placebo) for 80% power (264 men in all;" in text


# --------------------------------------------------------------------------- summary.md of a design


def test_summary_of_three_arms():
    cfg = cfg_of("three_arm")
    power = pd.read_csv(FIX / "three_arm_power.csv")
    text = design_summary_markdown(cfg, power=power, omitted=vp.omitted_stages(cfg))
    assert "2009 trial as one draw" not in text and "## Assumptions" not in text
    assert "The design has three arms: placebo (control; 44 men; allocation 1; dropout 18%); " in text
    assert "Endpoint: 12-month change in PA spine BMD." in text
    assert "each arm against placebo (anastrozole_daily-placebo, anastrozole_twice_weekly-placebo)" in text
    assert "analysed by ancova with two-sided alpha 0.05 and Dunnett." in text
    # the numbers of the fixture table at n = 44, ancova
    assert "- `anastrozole_daily-placebo`: power 89.0% ± 1.6\n" in text
    assert "- `anastrozole_twice_weekly-placebo`: power 43.5% ± 2.5\n" in text
    assert "- familywise `any` (at least one comparison succeeds): power 90.2% ± 1.5\n" in text
    assert "- familywise `all` (every comparison succeeds): power 42.2% ± 2.5\n" in text
    assert "Familywise `any` with the other analyses: student_t 90.5%." in text
    assert text.count("left out because") == 6
    assert "- calibration (results/calibration/): left out because it compares" in text
    numbers = design_key_numbers(cfg, power=power, config_name="three_arm.yaml")
    assert numbers["power_at_planned_n"] == 0.9025 and numbers["n_for_target"] == {}
    assert "versus placebo (Dunnett), 12-month change in PA spine BMD" in numbers["rst"]


def test_summary_of_two_endpoints_names_each_endpoint_row():
    cfg = cfg_of("hip_24_month")
    text = design_summary_markdown(cfg, power=pd.read_csv(FIX / "hip_24_month_power.csv"), omitted={})
    assert "Endpoint: 24-month change in PA spine and total hip BMD (co-primary endpoints" in text
    assert "- `anastrozole-placebo`, PA spine alone: power 93.2% ± 1.3\n" in text
    assert "- `anastrozole-placebo`, total hip alone: power 70.8% ± 2.3\n" in text
    assert "- `anastrozole-placebo`, significant on both endpoints: power 67.5% ± 2.3\n" in text
    assert "## Not in this run" not in text


def test_summary_says_when_the_planned_n_is_not_on_the_curves():
    cfg = set_key(cfg_of("three_arm"), "trial.n_per_arm", 50)
    text = design_summary_markdown(cfg, power=pd.read_csv(FIX / "three_arm_power.csv"), omitted={})
    assert "The planned 50 men per arm are not on the power curves (20 to 80 per arm" in text


# --------------------------------------------------------------------------- figures


def test_power_curve_figure_is_titled_with_the_design(tmp_path):
    cfg = cfg_of("three_arm")
    w = vp.design_words(cfg)
    png, svg = plots.plot_comparison_power_curves(
        pd.read_csv(FIX / "three_arm_power.csv"), tmp_path / "curves", title=w["title"], control=w["control"],
        planned_n=44,
    )  # fmt: skip
    text = svg.read_text(encoding="utf-8")
    assert (
        "Power by n per arm: anastrozole_daily, anastrozole_twice_weekly versus placebo (Dunnett), "
        "12-month change in PA spine BMD" in text
    )
    for label in ("anastrozole_daily-placebo", "anastrozole_twice_weekly-placebo",
                  "any (familywise: at least one comparison succeeds)", "men per arm (placebo)",
                  "planned n = 44", "ancova", "student_t"):  # fmt: skip
        assert label in text, label
    assert png.stat().st_size > 10_000


def test_two_endpoint_figure_names_each_endpoints_lines(tmp_path):
    cfg = cfg_of("hip_24_month")
    w = vp.design_words(cfg)
    _, svg = plots.plot_comparison_power_curves(
        pd.read_csv(FIX / "hip_24_month_power.csv"),
        tmp_path / "curves",
        title=w["title"],
        control=w["control"],
    )
    text = svg.read_text(encoding="utf-8")
    assert "24-month change in PA spine and total hip BMD" in text
    for label in ("both endpoints", "PA spine alone", "total hip alone"):
        assert f"anastrozole-placebo, {label}" in text
    assert "familywise" not in text  # one comparison: the familywise line would be its own line


def test_sample_size_figure_follows_the_design(tmp_path):
    cfg = cfg_of("three_arm")
    ss = pd.DataFrame({"method": ["ancova", "student_t"], "comparison": "each", "target_power": 0.8,
                       "n_per_arm": [66.0, 70.0]})  # fmt: skip
    _, svg = plots.plot_sample_size(ss, tmp_path / "ss", control="placebo", title=vp.sample_size_title(cfg))
    text = svg.read_text(encoding="utf-8")
    for words in ("Sample size for the target power: anastrozole_daily,", "versus placebo (Dunnett)",
                  "comparison rule each: every comparison", "men per arm (placebo)", ">66<", ">70<"):  # fmt: skip
        assert words in text, words
    _, svg = plots.plot_sample_size(ss, tmp_path / "two_arm")  # the two-arm figure: its title and arm
    text = svg.read_text(encoding="utf-8")
    assert "Sample size for the target power<" in text and "men per arm (placebo)" in text


# --------------------------------------------------------------------------- report captions


class _Snakemake:
    def __init__(self, config):
        self.config = config


def render(path: Path, config: dict) -> str:
    """A caption as Snakemake's report renders it (Jinja2, then docutils to HTML)."""
    text = (
        jinja2.Environment()
        .from_string(path.read_text(encoding="utf-8"))
        .render(snakemake=_Snakemake(config))
    )
    return publish_parts(text, writer="html")["body"]


CAPTIONS = ["power_curves", "power_table", "sample_size", "sample_size_table", "summary", "workflow"]


@pytest.mark.parametrize("name", CAPTIONS)
def test_captions_of_two_arms_are_unchanged(name):
    words = vp.design_words(load_config())
    now = render(ROOT / "workflow" / "report" / f"{name}.rst", {"vtrial_design": words})
    before = render(FIX / "captions" / f"{name}.rst", {})
    assert now == before


@pytest.mark.parametrize("name", CAPTIONS)
def test_captions_of_a_design_name_it(name):
    words = vp.design_words(cfg_of("three_arm"))
    html = render(ROOT / "workflow" / "report" / f"{name}.rst", {"vtrial_design": words})
    assert "anastrozole_daily, anastrozole_twice_weekly versus placebo (Dunnett)" in html
    assert "12-month change in PA spine BMD" in html
    assert "anastrozole versus placebo" not in html
    if name.startswith("sample_size") or name == "summary":
        assert (
            "every comparison (anastrozole_daily-placebo, anastrozole_twice_weekly-placebo) reaches" in html
        )


# --------------------------------------------------------------------------- command-line notes


def test_cli_notes_say_the_design(tmp_path, capsys):
    from vtrial.cli import main

    config = str(FIX / "three_arm.yaml")
    assert main(["simulate", "--config", config, "--out", str(tmp_path / "t.csv")]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err[-1] == (
        "vtrial: note: design: anastrozole_daily, anastrozole_twice_weekly versus placebo (Dunnett), "
        "12-month change in PA spine BMD; men randomized: placebo 44 (control), anastrozole_daily 44, "
        "anastrozole_twice_weekly 44"
    )
    args = ["power", "--config", config, "--reps", "50", "--quiet", "--method", "ancova"]
    assert main([*args, "--grid", "trial.n_per_arm=20,30", "--out", str(tmp_path / "p.csv")]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err[-1] == (  # sizes vary over the grid: none stated
        "vtrial: note: design: anastrozole_daily, anastrozole_twice_weekly versus placebo (Dunnett), "
        "12-month change in PA spine BMD"
    )


def test_cli_says_nothing_more_for_two_arms(tmp_path, capsys):
    from vtrial.cli import main

    assert main(["simulate", "--out", str(tmp_path / "t.csv")]) == 0
    assert capsys.readouterr().err == f"wrote {tmp_path / 't.csv'}: 88 men, 352 rows\n"


# --------------------------------------------------------------------------- methods and sizes of a design run


def test_design_run_leaves_out_the_methods_it_cannot_run():
    cfg = three_arm(multiplicity="dunnett")  # analysis.methods: the five of the default config
    assert vp.power_methods(cfg) == ["ancova", "student_t", "mmrm"]
    assert vp.skipped_methods(cfg) == {
        "mann_whitney": "not available for designs",
        "welch_t": "Dunnett needs a pooled variance",
    }
    text = design_summary_markdown(
        cfg,
        power=pd.read_csv(FIX / "three_arm_power.csv"),
        omitted={},
        skipped_methods=vp.skipped_methods(cfg),
    )
    assert "- method welch_t of analysis.methods: left out (Dunnett needs a pooled variance)." in text
    two_arm = vp.check_config(load_config())
    assert vp.power_methods(two_arm) == two_arm["analysis"]["methods"] and vp.skipped_methods(two_arm) == {}


@pytest.mark.parametrize(
    ("key", "value", "named"),
    [
        ("pipeline.power_methods", ["mann_whitney"], "mann_whitney"),
        ("analysis.missing", "multiple_imputation", "analysis.missing"),
    ],
)
def test_what_a_design_cannot_do_stops_the_workflow_config(key, value, named):
    from vtrial.errors import InputError

    with pytest.raises(InputError, match=named):
        vp.check_config(set_key(three_arm(), key, value))


def test_design_power_curves_include_the_planned_n():
    cfg = vp.check_config(set_key(three_arm(), "trial.n_per_arm", 33))
    sizes = {s.config["trial"]["n_per_arm"] for s in vp.power_scenarios(cfg)}
    assert sizes == {*cfg["pipeline"]["power_n_per_arm"], 33}
    two_arm = vp.check_config(set_key(load_config(), "trial.n_per_arm", 33))
    sizes = [s.config["trial"]["n_per_arm"] for s in vp.power_scenarios(two_arm)]
    assert sizes == two_arm["pipeline"]["power_n_per_arm"]  # unchanged for two arms


def test_sequential_stage_where_configured_and_left_out_for_a_design():
    # the group-sequential stage runs where the config has a `sequential` section (its content is
    # the stage's business: any mapping here)
    cfg = {**vp.check_config(load_config()), "sequential": {}}
    assert vp.workflow_targets(cfg)[-6:] == [
        "results/sequential/bounds.csv", "results/sequential/operating_characteristics.csv",
        "results/sequential/boundaries.png", "results/sequential/boundaries.svg",
        "results/sequential/stopping.png", "results/sequential/stopping.svg",
    ]  # fmt: skip
    assert list(vp.summary_inputs(cfg))[:3] == ["assurance", "sequential", "provenance"]
    design = {**three_arm(), "sequential": {}}
    assert "sequential" in vp.omitted_stages(design)
    assert not any("sequential" in t for t in vp.workflow_targets(design))
    assert "sequential" not in vp.omitted_stages(three_arm())
