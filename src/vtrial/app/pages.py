"""The pages of the teaching app (Shiny for Python); computations in :mod:`vtrial.app.compute`.

Every output goes through :func:`_attempt`: a value the page cannot use is
shown as one line in a red box (the :class:`vtrial.errors.InputError`
message), never as a traceback.
"""

from __future__ import annotations

import asyncio
import math
import secrets
import tempfile
from pathlib import Path

from shiny import App, reactive, render, ui

from vtrial import plots
from vtrial.app import compute
from vtrial.app.figures import block_figure, dropout_figure
from vtrial.assurance_plots import plot_assurance
from vtrial.errors import InputError
from vtrial.trial import ARMS

SEED = 20091201


def _attempt(fn, values: dict):
    """``(result, None)`` or ``(None, message)``: bad input becomes a message for the page."""
    try:
        return fn(values), None
    except InputError as e:
        return None, str(e)
    except Exception as e:  # a bug still shows as one line, not a traceback
        return None, f"could not compute this ({type(e).__name__}: {e})"


def _error_box(message: str | None):
    if message:
        return ui.div(ui.strong("Not accepted: "), message, class_="alert alert-danger vt-error")
    return ui.div()


def _explain(*paragraphs: str):
    return ui.div(*[ui.p(p) for p in paragraphs], class_="vt-explain")


def _command_box(output_id: str):
    return ui.tags.details(
        ui.tags.summary("Show the command"),
        ui.output_code(output_id),
        class_="vt-command",
    )


def _seed_input(id_: str):
    return ui.input_numeric(id_, "seed", SEED, min=0, step=1)


P = compute.published_p()
D = compute.published_difference()
D_ADJ = compute.adjusted_difference()

page_trial = ui.nav_panel(
    "One trial",
    ui.layout_sidebar(
        ui.sidebar(
            _seed_input("trial_seed"),
            ui.input_action_button("trial_new_seed", "New seed: a new trial"),
            ui.input_numeric("trial_n", "men per arm", 44, min=4, max=200, step=1),
            ui.input_select(
                "trial_block", "block size", {"2": "2", "4": "4", "6": "6", "8": "8"}, selected="4"
            ),
            ui.input_select("trial_method", "analysis", list(compute.TRIAL_METHODS), selected="ancova"),
            ui.input_select("trial_missing", "missing data", ["complete_case", "locf", "bocf"]),
        ),
        _explain(
            "Men are randomized in permuted blocks: within each block of, say, four men, two get "
            "anastrozole and two placebo, in a random order, so the arms stay balanced as the trial "
            "enrols. Each coloured cell below is one man, numbered in the order he enrolled.",
            "Each man's spine BMD is measured at months 0, 6 and 12. Some men leave the trial early "
            "(dropout): their later visits are missing. The analysis compares the 12-month change "
            "between the arms; a new seed gives a new trial from the same design.",
        ),
        ui.output_ui("trial_error"),
        ui.layout_columns(
            ui.output_image("trial_blocks", height="auto"),
            ui.output_image("trial_paths", height="auto"),
            col_widths=(5, 7),
        ),  # fmt: skip
        ui.h5("Analysis of this trial"),
        ui.output_table("trial_analysis"),
        ui.h5("Who dropped out"),
        ui.output_text("trial_dropout_summary"),
        ui.output_table("trial_dropouts"),
        _command_box("trial_command"),
    ),
)

page_many = ui.nav_panel(
    "A thousand trials",
    ui.layout_sidebar(
        ui.sidebar(
            _seed_input("many_seed"),
            ui.input_numeric("many_n", "men per arm", 44, min=4, max=200, step=1),
            ui.input_numeric("many_trials", "trials", 1000, min=100, max=5000, step=100),
        ),
        _explain(
            f"The 2009 trial found P = {P:g} and a difference of {D:+.2f} percentage points. Had it been "
            "run again with other men, both numbers would have come out differently. Here the same "
            "design is run many times and each trial is analysed as the paper did.",
            "The share of trials with P below 0.05 is the power of the design: the chance that a trial "
            "like this one finds the effect. The published P is one draw from this distribution.",
        ),
        ui.output_ui("many_error"),
        ui.output_ui("many_numbers"),
        ui.output_image("many_figure", height="auto"),
        _command_box("many_command"),
    ),
)

page_power = ui.nav_panel(
    "Power and sample size",
    ui.layout_sidebar(
        ui.sidebar(
            ui.input_slider(
                "power_diff", "difference, anastrozole - placebo (points)", -5, 0, -2.46, step=0.02
            ),
            ui.input_slider("power_sd", "SD of the 12-month % change (points)", 1, 6, 3.0, step=0.1),
            ui.input_slider("power_dropout", "dropout rate (both arms)", 0, 0.5, 0.2, step=0.05),
            ui.input_select("power_mechanism", "dropout mechanism", list(compute.MECHANISMS)),
            ui.input_numeric("power_n", "men per arm", 44, min=4, max=500, step=1),
            ui.input_select("power_method", "analysis", list(compute.POWER_METHODS)),
            ui.input_numeric("power_reps", "simulated trials per point", 2000, min=200, max=20000, step=500),
            _seed_input("power_seed"),
        ),
        _explain(
            "Power is the chance that the trial gives P < 0.05 when the drug truly changes BMD by the "
            "difference set on the left. It grows with the number of men and the size of the "
            "difference, and falls with the spread (SD) of the changes and with dropout.",
            "Solid line: power estimated from simulated trials, with its 95% Monte Carlo band; dashed: "
            "the exact formula where one exists (not under MAR or MNAR dropout, or for MMRM). The "
            "vertical line is the n per arm you chose; the dotted lines mark 80% and 90% power.",
        ),
        ui.output_ui("power_error"),
        ui.output_ui("power_numbers"),
        ui.output_ui("power_n_needed"),
        ui.output_image("power_figure", height="auto"),
        _command_box("power_command"),
    ),
)

page_dropout = ui.nav_panel(
    "Dropout and missing data",
    ui.layout_sidebar(
        ui.sidebar(
            ui.input_slider("drop_anastrozole", "dropout rate, anastrozole arm", 0.05, 0.5, 0.25, step=0.01),
            ui.input_slider("drop_placebo", "dropout rate, placebo arm", 0.05, 0.5, 0.18, step=0.01),
            ui.input_slider(
                "drop_strength", "MAR/MNAR strength (log odds per SD of bone loss)", 0, 3, 1.0, step=0.25
            ),  # fmt: skip
            ui.input_numeric("drop_n", "men per arm", 44, min=10, max=200, step=1),
            ui.input_numeric("drop_reps", "simulated trials", 2000, min=200, max=20000, step=500),
            ui.input_checkbox("drop_mi", f"add multiple imputation ({compute.MI_REPS} trials, slower)"),
            _seed_input("drop_seed"),
        ),
        _explain(
            "Men who leave early have no 12-month scan. Missing completely at random (MCAR): leaving has "
            "nothing to do with bone. Missing at random (MAR): men whose month-6 scan showed more loss "
            "leave more often - the data we have explain it. Missing not at random (MNAR): leaving "
            "depends on the 12-month loss we never see.",
            "Each strategy fills or ignores the gap differently. Bias is the average error of the "
            "estimated difference; coverage is how often the 95% confidence interval contains the true "
            "difference (it should be 0.95).",
            "Why can power rise under MNAR? The men who leave are those losing the most bone within "
            "their own arm, so the completers of each arm are more alike (a smaller SD): the standard "
            "error shrinks, P gets smaller and the power rises. But each arm's mean now describes the "
            "men who stayed, not all the men randomized. When more men leave one arm (25% on anastrozole "
            "against 18% on placebo in 2009), that arm's mean is pulled up more and the difference is "
            "biased towards no effect: more significant results, for an estimate that is less right. "
            "Carrying values forward (LOCF, BOCF) is biased under every mechanism.",
        ),
        ui.output_ui("drop_error"),
        ui.output_table("drop_table"),
        ui.output_image("drop_figure", height="auto"),
        _command_box("drop_command"),
    ),
)

page_assurance = ui.nav_panel(
    "Uncertain effects",
    ui.layout_sidebar(
        ui.sidebar(
            ui.input_slider("assur_mean", "prior mean of the difference (points)", -5, 0, -2.46, step=0.02),
            ui.input_slider("assur_sd", "prior SD of the difference (points)", 0, 2, 0.74, step=0.02),
            ui.input_slider("assur_dropout", "dropout rate (both arms)", 0, 0.5, 0.2, step=0.05),
            ui.input_select("assur_method", "analysis", list(compute.ASSURANCE_METHODS)),
            ui.input_numeric("assur_n", "men per arm", 44, min=4, max=500, step=1),
            ui.input_numeric("assur_reps", "simulated trials per point", 2000, min=200, max=20000, step=500),
            _seed_input("assur_seed"),
        ),
        _explain(
            f"Power assumes the true difference is known. It is not: {D:+.2f} points was estimated from "
            "one trial, with a standard error of about 0.74. Assurance draws the true difference of each "
            "simulated trial from a prior - here a normal distribution with the mean and SD on the left - "
            "and counts the trials significant in the direction the prior favours.",
            "Why is assurance below power? Power is computed at the prior mean. Averaging over the prior "
            "mixes in smaller true differences, where power is low, with larger ones, where it is already "
            "near 1; the losses outweigh the gains. The wider the prior, the larger the gap.",
            "The ceiling: however many men are enrolled, a trial cannot succeed when the true difference "
            "has the other sign. Assurance therefore never exceeds the prior probability of the favoured "
            "sign (dotted line); a target above it is not reachable at any n.",
            "The winner's curse: the 2009 result was published because it was significant, and "
            "significant estimates tend to overstate the effect. Correcting for that selection "
            f"(vtrial.selection.conditional_mle) moves {D:.2f} to about {D_ADJ:.2f}; set the prior mean there "
            "to plan with the adjusted estimate.",
        ),
        ui.output_ui("assur_error"),
        ui.output_ui("assur_numbers"),
        ui.output_image("assur_figure", height="auto"),
        _command_box("assur_command"),
    ),
)

CSS = """
.vt-explain { max-width: 60rem; color: #333; }
.vt-command pre { white-space: pre-wrap; font-size: 0.8rem; }
.vt-number { font-weight: bold; font-size: 1.1rem; }
"""


def server(input, output, session):  # noqa: A002 - Shiny's names
    tmp = Path(tempfile.mkdtemp(prefix="vtrial-app-"))

    # ------------------------------------------------------------------ one trial
    @reactive.effect
    @reactive.event(input.trial_new_seed)
    def _new_seed():
        ui.update_numeric("trial_seed", value=secrets.randbelow(2**31 - 1))

    @reactive.calc
    def trial():
        values = {"seed": input.trial_seed(), "n_per_arm": input.trial_n(), "block_size": input.trial_block(),
                  "method": input.trial_method(), "missing": input.trial_missing()}  # fmt: skip
        return _attempt(compute.one_trial, values)

    @render.ui
    def trial_error():
        return _error_box(trial()[1])

    @render.image
    def trial_blocks():
        t = trial()[0]
        if t is None:
            return None
        png = plots.save(block_figure(t.blocks), tmp / "blocks")[0]  # tight box: no label cut off
        return {"src": str(png), "width": "100%", "alt": "randomization blocks"}

    @render.image
    def trial_paths():
        t = trial()[0]
        if t is None:
            return None
        png = plots.plot_bmd_trajectories(t.data, tmp / "trial_paths")[0]
        return {"src": str(png), "width": "100%", "alt": "BMD paths"}

    @render.table
    def trial_analysis():
        t = trial()[0]
        if t is None:
            return None
        cols = ["method", "missing", "estimate", "ci_low", "ci_high", "p_value", "n_placebo", "n_anastrozole"]
        shown = t.analysis[[c for c in cols if c in t.analysis.columns]]
        return shown.round({"estimate": 3, "ci_low": 3, "ci_high": 3, "p_value": 4})

    @render.text
    def trial_dropout_summary():
        t = trial()[0]
        if t is None:
            return ""
        counts = t.dropouts["arm"].value_counts()
        return "; ".join(f"{arm}: {int(counts.get(arm, 0))} men left before month 12" for arm in ARMS)

    @render.table
    def trial_dropouts():
        t = trial()[0]
        return None if t is None else t.dropouts

    @render.code
    def trial_command():
        t = trial()[0]
        return "" if t is None else t.command

    # ------------------------------------------------------------------ many trials
    @reactive.calc
    def many():
        values = {"seed": input.many_seed(), "n_per_arm": input.many_n(), "trials": input.many_trials()}
        return _attempt(compute.many_trials, values)

    @render.ui
    def many_error():
        return _error_box(many()[1])

    @render.ui
    def many_numbers():
        m = many()[0]
        if m is None:
            return ui.div()
        n = len(m.table)
        return ui.p(
            f"{n} trials: ",
            ui.span(f"{m.share_significant:.3f}", id="many-power", class_="vt-number"),
            f" had P < 0.05 (the power); {m.share_below_published:.3f} had P at or below the published {P:g}.",
        )

    @render.image
    def many_figure():
        m = many()[0]
        if m is None:
            return None
        png = plots.plot_replication(m.table, tmp / "many", published_p=P, published_estimate=D)[0]
        return {"src": str(png), "width": "100%", "alt": "P values and estimates"}

    @render.code
    def many_command():
        m = many()[0]
        return "" if m is None else m.command

    # ------------------------------------------------------------------ power
    def power_values():
        return {"difference_pct": input.power_diff(), "sd_pct_change": input.power_sd(),
                "dropout_rate": input.power_dropout(), "mechanism": input.power_mechanism(),
                "n_per_arm": input.power_n(), "method": input.power_method(), "reps": input.power_reps(),
                "seed": input.power_seed()}  # fmt: skip

    @reactive.calc
    def power():
        return _attempt(compute.power_page, power_values())

    # The sample-size search takes longer than the curve: it runs in a thread, so the
    # curve and the power at n are shown as soon as they are ready.
    @reactive.extended_task
    async def needed_task(values):
        return await asyncio.to_thread(_attempt, compute.sample_sizes, values)

    @reactive.effect
    def _search_n():
        values = power_values()
        needed_task.cancel()  # a newer setting makes a running search moot
        needed_task.invoke(values)

    @render.ui
    def power_error():
        return _error_box(power()[1])

    @render.ui
    def power_numbers():
        p = power()[0]
        if p is None:
            return ui.div()
        r = p.at_n
        analytic = "" if math.isnan(r["analytic_power"]) else f"; exact formula {r['analytic_power']:.4f}"
        return ui.p(
            f"Power at {int(r['n_per_arm'])} men per arm: ",
            ui.span(f"{r['power']:.4f}", id="power-at-n", class_="vt-number"),
            f" (95% Monte Carlo interval {r['power_ci_low']:.3f} to {r['power_ci_high']:.3f}, "
            f"{int(r['reps']):,} trials{analytic}).",
        )

    @render.ui
    def power_n_needed():
        if power()[1]:
            return ui.div()  # the error box already says what is wrong
        if needed_task.status() == "running":
            return ui.p("Searching for the n per arm for 80% and 90% power...", id="n-searching")
        sizes, err = needed_task.result()
        if sizes is None:
            return _error_box(err)

        def show(t):
            n = sizes[t]
            return "not reached by 2,000" if math.isnan(n) else f"{n:.0f}"

        return ui.p(
            "Men per arm for 80% power: ", ui.span(show(0.8), id="n-80", class_="vt-number"),
            "; for 90% power: ", ui.span(show(0.9), id="n-90", class_="vt-number"), ".",
        )  # fmt: skip

    @render.image
    def power_figure():
        p = power()[0]
        if p is None:
            return None
        png = plots.plot_power_curves(p.curve, tmp / "power", planned_n=int(p.at_n["n_per_arm"]))[0]
        return {"src": str(png), "width": "100%", "alt": "power curve"}

    @render.code
    def power_command():
        p = power()[0]
        if p is None:
            return ""
        return p.command + "\n" + compute.sample_size_commands(power_values())

    # ------------------------------------------------------------------ dropout
    @reactive.calc
    def dropout():
        values = {"dropout_anastrozole": input.drop_anastrozole(), "dropout_placebo": input.drop_placebo(),
                  "strength": input.drop_strength(), "n_per_arm": input.drop_n(),
                  "reps": input.drop_reps(), "seed": input.drop_seed(), "with_mi": input.drop_mi()}  # fmt: skip
        return _attempt(compute.dropout_page, values)

    @render.ui
    def drop_error():
        return _error_box(dropout()[1])

    @render.table
    def drop_table():
        d = dropout()[0]
        if d is None:
            return None
        t = d[0]
        wide = t.pivot(index="strategy", columns="mechanism", values=["power", "bias", "coverage"])
        wide = wide.loc[list(dict.fromkeys(t["strategy"]))]
        wide.columns = [f"{stat} {mech}" for stat, mech in wide.columns]
        return wide.reset_index().round(3)

    @render.image
    def drop_figure():
        d = dropout()[0]
        if d is None:
            return None
        png = plots.save(dropout_figure(d[0]), tmp / "dropout")[0]
        return {"src": str(png), "width": "100%", "alt": "bias and coverage"}

    @render.code
    def drop_command():
        d = dropout()[0]
        return "" if d is None else d[1]

    # ------------------------------------------------------------------ uncertain effects
    @reactive.calc
    def assurance():
        values = {"prior_mean": input.assur_mean(), "prior_sd": input.assur_sd(),
                  "dropout_rate": input.assur_dropout(), "method": input.assur_method(),
                  "n_per_arm": input.assur_n(), "reps": input.assur_reps(), "seed": input.assur_seed()}  # fmt: skip
        return _attempt(compute.assurance_page, values)

    @render.ui
    def assur_error():
        return _error_box(assurance()[1])

    @render.ui
    def assur_numbers():
        a = assurance()[0]
        if a is None:
            return ui.div()
        r = a.at_n

        def n_text(t, id_):
            n = a.n_for[t]
            shown = "not reachable" if math.isnan(n) else f"{n:.0f}"
            return ui.span(shown, id=id_, class_="vt-number")

        return ui.div(
            ui.p(
                f"At {int(r['n_per_arm'])} men per arm: power at {r['prior_point']:g} points ",
                ui.span(f"{r['power']:.4f}", id="assur-power", class_="vt-number"),
                "; assurance ",
                ui.span(f"{r['assurance']:.4f}", id="assur-at-n", class_="vt-number"),
                f" (Monte Carlo SE {r['assurance_se']:.4f}, {int(r['reps']):,} trials; exact formula "
                f"{r['analytic_assurance']:.4f}). Ceiling: ",
                ui.span(f"{r['max_assurance']:.4f}", id="assur-ceiling", class_="vt-number"),
                ".",
            ),
            ui.p(
                "Men per arm for 80% assurance: ", n_text(0.8, "assur-n-80"),
                "; for 90%: ", n_text(0.9, "assur-n-90"),
                " (exact formula; the figure reads them off the simulated curve, which is flat near its top, "
                f"so it can differ). The winner's-curse-adjusted 2009 estimate is {a.adjusted_2009:.2f} points.",
            ),
        )  # fmt: skip

    @render.image
    def assur_figure():
        a = assurance()[0]
        if a is None:
            return None
        png = plot_assurance(a.table, tmp / "assurance", planned_n=int(a.at_n["n_per_arm"]))[0]
        return {"src": str(png), "width": "100%", "alt": "assurance and power"}

    @render.code
    def assur_command():
        a = assurance()[0]
        return "" if a is None else a.command


def build_app() -> App:
    """The Shiny ``App``: five pages in a navigation bar."""
    app_ui = ui.page_navbar(
        page_trial,
        page_many,
        page_power,
        page_dropout,
        page_assurance,
        title="vtrial: a trial of anastrozole and bone in older men",
        id="page",
        header=ui.tags.style(CSS),
    )
    return App(app_ui, server)
