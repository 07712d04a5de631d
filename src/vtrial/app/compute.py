"""What each page of the teaching app computes: pure functions, no web framework.

Each page's inputs arrive as a plain dict of strings or numbers. They are
checked here (bad values raise :class:`vtrial.errors.InputError` with one line
the page shows), turned into ``--set`` overrides of the packaged 2009 config,
and passed to the public API: :func:`vtrial.trial.simulate_trial`,
:func:`vtrial.analysis.run_methods`, :func:`vtrial.power.run_power`,
:func:`vtrial.power.sample_size`, :func:`vtrial.calibration.simulated_statistics`
and :func:`vtrial.assurance.run_assurance`.
Every result carries the ``vtrial`` command or Python call that reproduces it.
"""

from __future__ import annotations

import math
import shlex
from dataclasses import dataclass

import pandas as pd

from vtrial.config import load_config, scenario_id
from vtrial.errors import InputError
from vtrial.reference import published
from vtrial.streams import rng_for
from vtrial.trial import ARMS

#: Methods the power page offers: the ones whose engine answers within about a second.
POWER_METHODS = ("ancova", "welch_t", "student_t", "mmrm")
#: Methods the one-trial page offers.
TRIAL_METHODS = ("ancova", "welch_t", "student_t", "mmrm", "mann_whitney")
MECHANISMS = ("MCAR", "MAR", "MNAR")
#: Missing-data strategies compared on the dropout page: (label, method, strategy).
DROPOUT_STRATEGIES = (
    ("complete case (ANCOVA)", "ancova", "complete_case"),
    ("last observation carried forward (ANCOVA)", "ancova", "locf"),
    ("baseline observation carried forward (ANCOVA)", "ancova", "bocf"),
    ("all visits by likelihood (MMRM)", "mmrm", "complete_case"),
)
#: Target powers whose n per arm the power page shows.
SIZE_TARGETS = (0.8, 0.9)
MI_STRATEGY = ("multiple imputation (ANCOVA)", "ancova", "multiple_imputation")
#: Replicates of the slow multiple-imputation engine on the dropout page.
MI_REPS = 200


def _number(values: dict, key: str, low: float, high: float, *, integer: bool = False) -> float:
    """``values[key]`` as a number in [low, high], else InputError naming the key."""
    raw = values.get(key)
    kind = "a whole number" if integer else "a number"
    try:
        x = float(raw)
    except (TypeError, ValueError):
        raise InputError(f"{key}: value {raw!r} is not {kind} (allowed: {low:g} to {high:g})") from None
    if not math.isfinite(x) or not low <= x <= high or (integer and x != int(x)):
        raise InputError(f"{key}: value {raw!r} is not allowed (allowed: {kind} from {low:g} to {high:g})")
    return int(x) if integer else x


def _choice(values: dict, key: str, allowed) -> str:
    v = values.get(key)
    if v not in allowed:
        raise InputError(f"{key}: value {v!r} is not allowed (allowed: {', '.join(allowed)})")
    return v


def _set_flags(overrides: list[str]) -> str:
    return " ".join(f"--set {shlex.quote(o)}" for o in overrides)


def published_p() -> float:
    """Published between-group P of the 2009 trial (0.0014)."""
    return float(published()["primary_trial"]["outcomes"]["pa_spine_bmd_g_cm2"]["p_between_groups"])


def published_difference() -> float:
    """Published difference in mean 12-month % change, anastrozole minus placebo (-2.46)."""
    return float(published()["derived"]["mean_pct_change_12m"]["difference"])


def adjusted_difference() -> float:
    """The 2009 difference corrected for the winner's curse (conditional MLE, about -2.28 points).

    :func:`vtrial.selection.conditional_mle` of -2.46 with the standard error
    implied by P = 0.0014 (:func:`vtrial.priors.se_from_p`).
    """
    from vtrial.priors import published_estimate, se_from_p
    from vtrial.selection import conditional_mle

    est, p, df = published_estimate()
    return conditional_mle(est, se_from_p(est, p, df))


# --------------------------------------------------------------------------- one trial


@dataclass(frozen=True)
class OneTrial:
    """One simulated trial, its randomization list and its analysis."""

    data: pd.DataFrame  # long format, as vtrial simulate writes it
    blocks: pd.DataFrame  # subject_id, block, order, arm
    dropouts: pd.DataFrame  # subject_id, arm, last_visit_month
    analysis: pd.DataFrame  # run_methods output, one row
    command: str


def check_one_trial(values: dict) -> dict:
    """Checked inputs of the one-trial page: seed, n_per_arm, block_size, method, missing."""
    out = {
        "seed": _number(values, "seed", 0, 2**31 - 1, integer=True),
        "n_per_arm": _number(values, "n_per_arm", 4, 200, integer=True),
        "block_size": _number(values, "block_size", 2, 8, integer=True),
        "method": _choice(values, "method", TRIAL_METHODS),
        "missing": _choice(values, "missing", ("complete_case", "locf", "bocf")),
    }
    if out["block_size"] % 2:
        raise InputError(f"block_size: value {out['block_size']} is not allowed (allowed: 2, 4, 6 or 8)")
    if out["method"] == "mmrm" and out["missing"] != "complete_case":
        raise InputError(
            f"missing: value {out['missing']!r} is not allowed with mmrm (allowed: complete_case)"
        )
    return out


def randomization_list(data: pd.DataFrame) -> pd.DataFrame:
    """The randomization list of a simulated trial: ``subject_id, block, order, arm``, one row per man.

    Read from the trial's ``randomization_block`` and ``allocation_order``
    columns (:func:`vtrial.trial.randomize_blocks`).
    """
    men = data.drop_duplicates("subject_id").sort_values("subject_id")
    return pd.DataFrame({
        "subject_id": men["subject_id"].to_numpy(),
        "block": men["randomization_block"].to_numpy(int),
        "order": men["allocation_order"].to_numpy(int),
        "arm": men["arm"].to_numpy(),
    })  # fmt: skip


def one_trial(values: dict) -> OneTrial:
    """Simulate and analyse one trial as ``vtrial simulate`` and ``vtrial analyze`` do."""
    from vtrial.analysis import run_methods
    from vtrial.trial import simulate_trial

    v = check_one_trial(values)
    overrides = [f"trial.n_per_arm={v['n_per_arm']}", f"trial.block_sizes=[{v['block_size']}]"]
    cfg = load_config(overrides=overrides, seed=v["seed"])
    rng = rng_for(cfg["seed"], scenario_id(cfg), 0)
    data = simulate_trial(cfg, rng=rng)
    table = run_methods(data, [v["method"]], missing=v["missing"], alpha=cfg["analysis"]["alpha"],
                        rng=rng_for(cfg["seed"], scenario_id(cfg), 0))  # fmt: skip
    seen = data.dropna(subset=["bmd_g_cm2", "testosterone_ng_dl"], how="all")
    last = seen.groupby("subject_id")["visit_month"].max()
    arm = data.drop_duplicates("subject_id").set_index("subject_id")["arm"]
    gone = last[last < 12]
    dropouts = pd.DataFrame({"subject_id": gone.index, "arm": arm[gone.index].to_numpy(),
                             "last_visit_month": gone.to_numpy()})  # fmt: skip
    flags = _set_flags(overrides)
    command = (
        f"vtrial simulate --seed {v['seed']} {flags} --out trial.csv\n"
        f"vtrial analyze trial.csv --seed {v['seed']} {flags} --method {v['method']} --missing {v['missing']}"
    )
    return OneTrial(data, randomization_list(data), dropouts, table, command)


# --------------------------------------------------------------------------- many trials


@dataclass(frozen=True)
class ManyTrials:
    table: pd.DataFrame  # p_value, estimate per trial
    share_significant: float
    share_below_published: float
    command: str


def check_many(values: dict) -> dict:
    return {
        "seed": _number(values, "seed", 0, 2**31 - 1, integer=True),
        "n_per_arm": _number(values, "n_per_arm", 4, 200, integer=True),
        "trials": _number(values, "trials", 100, 5000, integer=True),
    }


def many_trials(values: dict) -> ManyTrials:
    """P and estimate of many trials of one design, analysed as the 2009 paper did.

    The paper's analysis: pooled two-sample t-test on the 12-month BMD change
    (g/cm2) of the completers; the estimate is the difference in mean 12-month
    % change (percentage points). Random stream: chunk 3 of the scenario, as
    the workflow's replication figure.
    """
    from vtrial.calibration import simulated_statistics

    v = check_many(values)
    overrides = [f"trial.n_per_arm={v['n_per_arm']}"]
    cfg = load_config(overrides=overrides, seed=v["seed"])
    stats = simulated_statistics(cfg, v["trials"], rng=rng_for(cfg["seed"], scenario_id(cfg), 3))
    table = pd.DataFrame({
        "p_value": stats["bmd_change_g_cm2|difference|12|p_value"],
        "estimate": stats[f"bmd_pct_change|{ARMS[1]}|12|mean"] - stats[f"bmd_pct_change|{ARMS[0]}|12|mean"],
    })  # fmt: skip
    alpha = cfg["analysis"]["alpha"]
    command = (
        "from vtrial.calibration import simulated_statistics\n"
        "from vtrial.config import load_config, scenario_id\n"
        "from vtrial.streams import rng_for\n"
        f"cfg = load_config(overrides={overrides!r}, seed={v['seed']})\n"
        f"stats = simulated_statistics(cfg, {v['trials']}, rng=rng_for(cfg['seed'], scenario_id(cfg), 3))\n"
        f"(stats['bmd_change_g_cm2|difference|12|p_value'] < {alpha}).mean()  # the power"
    )
    return ManyTrials(
        table,
        float((table["p_value"] < alpha).mean()),
        float((table["p_value"] <= published_p()).mean()),
        command,
    )


# --------------------------------------------------------------------------- power


@dataclass(frozen=True)
class PowerPage:
    curve: pd.DataFrame  # run_power table over n per arm
    at_n: pd.Series  # the row at the chosen n
    overrides: list[str]
    command: str


def check_power(values: dict) -> dict:
    """Checked inputs of the power page."""
    return {
        "difference_pct": _number(values, "difference_pct", -6, 6),
        "sd_pct_change": _number(values, "sd_pct_change", 0.5, 8),
        "dropout_rate": _number(values, "dropout_rate", 0, 0.6),
        "mechanism": _choice(values, "mechanism", MECHANISMS),
        "n_per_arm": _number(values, "n_per_arm", 4, 500, integer=True),
        "method": _choice(values, "method", POWER_METHODS),
        "reps": _number(values, "reps", 200, 20000, integer=True),
        "seed": _number(values, "seed", 0, 2**31 - 1, integer=True),
    }


def power_overrides(v: dict) -> list[str]:
    """``--set`` overrides of the power page (dropout rate applies to both arms)."""
    return [
        f"effects.difference_pct={v['difference_pct']:g}",
        f"effects.sd_pct_change={v['sd_pct_change']:g}",
        f"dropout.anastrozole={v['dropout_rate']:g}",
        f"dropout.placebo={v['dropout_rate']:g}",
        f"dropout.mechanism={v['mechanism']}",
    ]


def curve_sizes(n: int) -> list[int]:
    """Men per arm on the power curve: six sizes from about n/4 to 2n, and n itself.

    Examples
    --------
    >>> curve_sizes(44)
    [11, 22, 33, 44, 55, 66, 88]
    """
    return sorted({max(4, round(n * f)) for f in (0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0)})


def _over_n(run, v: dict, overrides: list[str]) -> tuple[list[int], pd.DataFrame, pd.Series]:
    """``run`` (run_power or run_assurance) over :func:`curve_sizes`: sizes, table, row at the chosen n."""
    sizes = curve_sizes(v["n_per_arm"])
    grid = f"grid={{trial.n_per_arm: [{', '.join(map(str, sizes))}]}}"
    table = run(
        load_config(overrides=[*overrides, grid], seed=v["seed"]), reps=v["reps"], methods=[v["method"]]
    )
    return sizes, table, table[table["n_per_arm"] == v["n_per_arm"]].iloc[0]


def power_page(values: dict) -> PowerPage:
    """Monte Carlo (and analytic) power over n per arm for the page's settings.

    The row at the chosen n is the same number as
    ``run_power(load_config(overrides=..., seed=...), reps=..., methods=[method])``
    with ``trial.n_per_arm`` set to n: a grid scenario's random stream depends
    only on its own config.
    """
    from vtrial.power import run_power

    v = check_power(values)
    overrides = power_overrides(v)
    sizes, curve, at_n = _over_n(run_power, v, overrides)
    command = (
        f"vtrial power --seed {v['seed']} {_set_flags(overrides)} --method {v['method']} "
        f"--reps {v['reps']} --grid trial.n_per_arm={','.join(map(str, sizes))} --out power.csv"
    )
    return PowerPage(curve, at_n, [*overrides, f"trial.n_per_arm={v['n_per_arm']}"], command)


def sample_sizes(values: dict, targets=SIZE_TARGETS) -> dict[float, float]:
    """Smallest n per arm for each target power (NaN: not reached by 2,000 per arm)."""
    from vtrial.power import sample_size

    v = check_power(values)
    cfg = load_config(overrides=[*power_overrides(v), f"trial.n_per_arm={v['n_per_arm']}"], seed=v["seed"])
    out = {}
    for t in targets:
        if v["difference_pct"] == 0:
            out[t] = float("nan")
            continue
        table = sample_size(cfg, t, [v["method"]], reps=v["reps"], n_max=2000)
        out[t] = float(table.loc[0, "n_per_arm"])
    return out


def sample_size_commands(values: dict, targets=SIZE_TARGETS) -> str:
    """The ``vtrial sample-size`` commands that give :func:`sample_sizes`."""
    v = check_power(values)
    overrides = [*power_overrides(v), f"trial.n_per_arm={v['n_per_arm']}"]
    return "\n".join(
        f"vtrial sample-size --seed {v['seed']} {_set_flags(overrides)} --method {v['method']} "
        f"--reps {v['reps']} --target-power {t}"
        for t in targets
    )


# --------------------------------------------------------------------------- dropout


def check_dropout(values: dict) -> dict:
    return {
        "dropout_anastrozole": _number(values, "dropout_anastrozole", 0.05, 0.6),
        "dropout_placebo": _number(values, "dropout_placebo", 0.05, 0.6),
        "strength": _number(values, "strength", 0, 3),
        "n_per_arm": _number(values, "n_per_arm", 10, 200, integer=True),
        "reps": _number(values, "reps", 200, 20000, integer=True),
        "seed": _number(values, "seed", 0, 2**31 - 1, integer=True),
        "with_mi": bool(values.get("with_mi", False)),
    }


def dropout_page(values: dict) -> tuple[pd.DataFrame, str]:
    """Power, bias and coverage of each missing-data strategy under MCAR, MAR and MNAR.

    Returns
    -------
    table : DataFrame
        ``mechanism, strategy, power, bias, coverage, reps`` (bias in
        percentage points of the difference; coverage of the 95% CI).
    command : str
    """
    from vtrial.power import run_power

    v = check_dropout(values)
    strategies = [*DROPOUT_STRATEGIES, MI_STRATEGY] if v["with_mi"] else list(DROPOUT_STRATEGIES)
    base = [
        f"trial.n_per_arm={v['n_per_arm']}",
        f"dropout.anastrozole={v['dropout_anastrozole']:g}",
        f"dropout.placebo={v['dropout_placebo']:g}",
        f"dropout.strength={v['strength']:g}",
    ]
    rows = []
    lines = []
    for mech in MECHANISMS:
        for label, method, missing in strategies:
            ov = [*base, f"dropout.mechanism={mech}", f"analysis.missing={missing}"]
            reps = min(v["reps"], MI_REPS) if missing == "multiple_imputation" else v["reps"]
            cfg = load_config(overrides=ov, seed=v["seed"])
            r = run_power(cfg, reps=reps, methods=[method]).iloc[0]
            rows.append({"mechanism": mech, "strategy": label, "power": r["power"], "bias": r["bias"],
                         "coverage": r["coverage"], "reps": int(r["reps"])})  # fmt: skip
            lines.append(f"vtrial power --seed {v['seed']} {_set_flags(ov)} --method {method} "
                         f"--reps {reps} --out {mech}_{missing}_{method}.csv")  # fmt: skip
    return pd.DataFrame(rows), "\n".join(lines)


# --------------------------------------------------------------------------- uncertain effects

#: Methods the uncertain-effects page offers: those with an exact assurance formula.
ASSURANCE_METHODS = ("ancova", "welch_t", "student_t")


@dataclass(frozen=True)
class AssurancePage:
    """Assurance and power at the prior mean by n per arm, and the n for each target assurance."""

    table: pd.DataFrame  # run_assurance over n per arm
    at_n: pd.Series  # the row at the chosen n
    n_for: dict[float, float]  # target assurance -> n per arm (exact formula; NaN: not reachable)
    adjusted_2009: float  # winner's-curse-adjusted 2009 estimate (conditional MLE, points)
    overrides: list[str]
    command: str


def check_assurance(values: dict) -> dict:
    """Checked inputs of the uncertain-effects page.

    The prior SD must be above 0: at 0 the prior is one point and the
    assurance is the power of the power page.
    """
    v = {
        "prior_mean": _number(values, "prior_mean", -6, 6),
        "prior_sd": _number(values, "prior_sd", 0, 2),
        "dropout_rate": _number(values, "dropout_rate", 0, 0.6),
        "method": _choice(values, "method", ASSURANCE_METHODS),
        "n_per_arm": _number(values, "n_per_arm", 4, 500, integer=True),
        "reps": _number(values, "reps", 200, 20000, integer=True),
        "seed": _number(values, "seed", 0, 2**31 - 1, integer=True),
    }
    if v["prior_sd"] == 0:
        raise InputError(
            "prior_sd: value 0 is not allowed (allowed: above 0 to 2; at 0 the assurance is the power)"
        )
    if v["prior_mean"] == 0:
        raise InputError("prior_mean: value 0 is not allowed (allowed: nonzero, so the prior favours a sign)")
    return v


def assurance_overrides(v: dict) -> list[str]:
    """``--set`` overrides of the uncertain-effects page (normal prior; MCAR dropout in both arms)."""
    return [
        "prior.difference.distribution=normal",
        f"prior.difference.mean={v['prior_mean']:g}",
        f"prior.difference.sd={v['prior_sd']:g}",
        f"dropout.anastrozole={v['dropout_rate']:g}",
        f"dropout.placebo={v['dropout_rate']:g}",
    ]


def assurance_page(values: dict, targets=SIZE_TARGETS) -> AssurancePage:
    """Monte Carlo assurance and power at the prior mean over n per arm, as ``vtrial assurance``.

    The table is ``run_assurance(load_config(overrides=[*overrides, grid],
    seed=seed), reps=reps, methods=[method])``; the n for each target
    assurance is :func:`vtrial.assurance.analytic_sample_size_for_assurance`
    (NaN when the target is at or above the ceiling, the prior probability of
    the favoured sign, or beyond 100,000 per arm).
    """
    from vtrial.assurance import (
        analytic_sample_size_for_assurance,
        design_prior,
        max_assurance,
        run_assurance,
    )

    v = check_assurance(values)
    overrides = assurance_overrides(v)
    sizes, table, at_n = _over_n(run_assurance, v, overrides)
    one = load_config(overrides=[*overrides, f"trial.n_per_arm={v['n_per_arm']}"], seed=v["seed"])
    prior = design_prior(one)
    top = max_assurance(prior, one["analysis"]["alpha"])
    n_for = {
        t: (analytic_sample_size_for_assurance(one, v["method"], prior, t) if t < top else float("nan"))
        for t in targets
    }
    command = (
        f"vtrial assurance --seed {v['seed']} {_set_flags(overrides)} --method {v['method']} "
        f"--reps {v['reps']} --grid trial.n_per_arm={','.join(map(str, sizes))} --out -"
    )
    return AssurancePage(table, at_n, n_for, adjusted_difference(),
                         [*overrides, f"trial.n_per_arm={v['n_per_arm']}"], command)  # fmt: skip
