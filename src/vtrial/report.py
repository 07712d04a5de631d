"""Report text of the workflow: ``results/summary.md``, its provenance block and HTML pages.

Pure functions from results tables (DataFrames) and the configuration to
text: the key numbers in sentences (:func:`summary_markdown`), the provenance
of a run (made by :func:`vtrial.provenance.provenance`), the key numbers of the
report's landing page (:func:`key_numbers`), and readable HTML for the
Snakemake report (:func:`markdown_to_html`, :func:`table_html`).
"""

from __future__ import annotations

import copy
import html
import math
import re
from collections.abc import Mapping

import numpy as np
import pandas as pd

from vtrial.config import get_key


def _base(cfg: dict) -> dict:
    """The base case: ``cfg`` without its grid (a fresh copy)."""
    out = copy.deepcopy(cfg)
    out["grid"] = {}
    return out


def published_p_value() -> float:
    """Published between-group P of the 2009 trial (PA spine BMD), from the reference data.

    Examples
    --------
    >>> published_p_value()
    0.0014
    """
    from vtrial.reference import published

    return float(published()["primary_trial"]["outcomes"]["pa_spine_bmd_g_cm2"]["p_between_groups"])


# --------------------------------------------------------------------------- provenance


def provenance_lines(prov: Mapping) -> list[str]:
    """The provenance block that opens ``summary.md`` (Markdown lines).

    Examples
    --------
    >>> provenance_lines({"vtrial_version": "0.1.0", "config_sha256": "ab" * 32, "seed": 1,
    ...                   "reps": 100, "command": "snakemake"})[0]
    '- vtrial 0.1.0, `snakemake`'
    """
    lines = [
        f"- vtrial {prov['vtrial_version']}, `{prov['command']}`",
        f"- config SHA-256 `{prov['config_sha256']}`"
        + (f" ({', '.join(prov['config_files'])})" if prov.get("config_files") else ""),
        f"- seed {prov['seed']}, {prov['reps']} replicates per scenario",
    ]
    return lines


def _short_replicates(tables: Mapping[str, pd.DataFrame]) -> list[str]:
    """Markdown lines naming power-table rows with ``valid_reps < reps``."""
    out = []
    for name, t in tables.items():
        if t is None or not {"valid_reps", "reps"} <= set(t.columns):
            continue
        short = t[t["valid_reps"] < t["reps"]]
        for r in short.itertuples(index=False):
            rd = r._asdict()
            out.append(
                f"- {name}: scenario `{rd.get('scenario_id', '')}`, {rd.get('method', '')}, "
                f"{rd.get('n_per_arm', '')} per arm: power over {int(rd['valid_reps'])} of "
                f"{int(rd['reps'])} replicates (the others could not be analysed)."
            )
    return out


def _tipping_shifts(grid: pd.DataFrame, column: str) -> str:
    """The tipping points of a grid in words ("" if the conclusion never tips within it)."""
    from vtrial.analysis.tipping import tipping_points

    tp = tipping_points(grid, column, 0.5)
    found = tp[tp["tipping_delta"].notna()]
    return "; ".join(f"{r.tipping_delta:+g} points in the {r.arm} arm" for r in found.itertuples())


# --------------------------------------------------------------------------- summary


def _is_published_design(cfg: dict) -> bool:
    """Whether the base case generates data as the packaged default (the 2009 trial) does."""
    from vtrial.config import DATA_SECTIONS, default_config

    base, ref = _base(cfg), default_config()
    return all(base[k] == ref[k] for k in DATA_SECTIONS)


def _missing(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def _fmt_n(x) -> str:
    return "not reached" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{int(x)}"


def summary_markdown(
    cfg: dict,
    *,
    sample_size: pd.DataFrame,
    tornado: pd.DataFrame,
    tipping_example: pd.DataFrame | None = None,
    tipping_design_table: pd.DataFrame | None = None,
    calibration: pd.DataFrame | None = None,
    replication: pd.DataFrame | None = None,
    power_tables: Mapping[str, pd.DataFrame] | None = None,
    provenance: Mapping | None = None,
    assurance: pd.DataFrame | None = None,
) -> str:
    """Key numbers in sentences a study team can paste into a protocol.

    Parameters
    ----------
    cfg : dict
        The validated configuration (base case = ``cfg`` without its grid).
    sample_size : DataFrame
        ``results/sample_size/sample_size.csv`` (columns ``method, target_power,
        n_per_arm`` and the grid keys).
    tornado : DataFrame
        ``results/sensitivity/tornado.csv``.
    tipping_example, tipping_design_table, calibration, replication : DataFrame, optional
        The corresponding results tables.
    power_tables : mapping of str to DataFrame, optional
        Power tables (name -> table with ``reps`` and ``valid_reps``); rows whose
        power rests on fewer valid replicates than requested are listed.
    provenance : mapping, optional
        :func:`vtrial.provenance.provenance` of the run; printed first.
    assurance : DataFrame, optional
        ``results/assurance/assurance.csv`` (:func:`vtrial.assurance.run_assurance`
        over n per arm); adds the section on planning under uncertainty
        (:func:`assurance_lines`).

    Returns
    -------
    str
        Markdown.

    Examples
    --------
    >>> from vtrial.config import load_config
    >>> ss = pd.DataFrame({"method": ["ancova"], "target_power": [0.9], "n_per_arm": [42],
    ...                    "power": [0.9], "power_se": [0.003]})
    >>> tor = pd.DataFrame({"key": ["base"], "side": ["base"], "value": [None], "n_per_arm": [42]})
    >>> text = summary_markdown(load_config(), sample_size=ss, tornado=tor)
    >>> "For 90% power with ancova, 42 men per arm" in text
    True
    """
    b = _base(cfg)
    e, d, a = b["effects"], b["dropout"], b["analysis"]
    s = cfg["sensitivity"]
    method = s["method"]
    lines = ["# vtrial summary", ""]
    if provenance is not None:
        lines += provenance_lines(provenance) + [""]
    flagged = _short_replicates(power_tables or {})
    if flagged:
        lines += ["## Warning: power over fewer replicates than requested", ""] + flagged + [""]
    lines.append("## Assumptions")
    lines.append("")
    lines.append(
        f"We assume a mean 12-month change in PA spine BMD of {e['placebo_pct_change']:+.2f}% on "
        f"placebo and a difference of {e['difference_pct']:+.2f} percentage points with anastrozole "
        f"(anastrozole minus placebo), with a within-arm SD of the observed 12-month % change of "
        f"{e['sd_pct_change']:.2f} percentage points (DXA precision error "
        f"{b['measurement']['bmd_cv_pct']:.1f}% CV included) and a correlation of "
        f"{e['baseline_corr']:+.2f} between baseline BMD and the change. We expect "
        f"{100 * d['anastrozole']:.0f}% of men on anastrozole and {100 * d['placebo']:.0f}% on "
        f"placebo not to complete month 12 ({d['mechanism']} dropout). The analysis is "
        f"{method} on the 12-month % change ({a['missing'].replace('_', ' ')}), two-sided "
        f"alpha {a['alpha']:g}, allocation anastrozole:placebo {b['trial']['allocation_ratio']:g}:1."
    )
    lines.append("")
    lines.append("## Sample size")
    lines.append("")
    ss = _base_rows(sample_size, cfg)
    max_n = s.get("max_n_per_arm", "the search limit")
    for target in s["target_power"]:
        rows = ss[np.isclose(ss["target_power"], target)]
        if rows.empty:
            continue
        main = rows[rows["method"] == method]
        if not main.empty:
            r = main.iloc[0]
            if _missing(r["n_per_arm"]):
                lines.append(
                    f"- {100 * target:.0f}% power with {method} is not reached with up to {max_n} men "
                    "per arm (or there is no true difference to detect)."
                )
            else:
                lines.append(
                    f"- For {100 * target:.0f}% power with {method}, {_fmt_n(r['n_per_arm'])} men per "
                    f"arm need to be randomized (simulated power at that n: {_fmt_power(r)})."
                )
        others = rows[rows["method"] != method]
        if not others.empty:
            parts = ", ".join(
                f"{m} {_fmt_n(n)}" for m, n in zip(others["method"], others["n_per_arm"], strict=True)
            )
            lines.append(f"  Other analyses need, per arm: {parts}.")
    lines.append("")
    if assurance is not None and len(assurance):
        lines += assurance_lines(cfg, assurance) + [""]
    lines.append("## How fragile that number is")
    lines.append("")
    tor = tornado[tornado["key"] != "base"].copy()
    base_n = tornado.loc[tornado["key"] == "base", "n_per_arm"]
    if len(base_n) and not _missing(base_n.iloc[0]):
        same = ss[np.isclose(ss["target_power"], s["tornado_power"]) & (ss["method"] == method)]
        note = ""
        if (
            len(same)
            and not _missing(same["n_per_arm"].iloc[0])
            and same["n_per_arm"].iloc[0] != base_n.iloc[0]
        ):
            note = (
                f" (the sample-size table says {_fmt_n(same['n_per_arm'].iloc[0])}: the tornado's searches "
                "draw their own random numbers, and the two differ by Monte Carlo error)"
            )
        lines.append(
            f"At the base case, {_fmt_n(base_n.iloc[0])} men per arm give "
            f"{100 * s['tornado_power']:.0f}% power with {method}{note}. Moving one assumption at a time:"
        )
        lines.append("")
        tor["swing"] = (tor["n_per_arm"] - float(base_n.iloc[0])).abs()
        order = tor.groupby("key")["swing"].max().sort_values(ascending=False).index
        for key in order:
            lo = tor[(tor["key"] == key) & (tor["side"] == "low")].iloc[0]
            hi = tor[(tor["key"] == key) & (tor["side"] == "high")].iloc[0]
            lines.append(
                f"- `{key}` from {lo['value']} to {hi['value']}: {_fmt_n(lo['n_per_arm'])} to "
                f"{_fmt_n(hi['n_per_arm'])} men per arm."
            )
    elif len(base_n):
        lines.append(
            f"At the base case, {100 * s['tornado_power']:.0f}% power with {method} is not reached "
            f"with up to {max_n} men per arm, so there is no sample size to be fragile."
        )
    if tipping_design_table is not None and len(tipping_design_table):
        reps = int(tipping_design_table["reps"].iloc[0])
        zero = tipping_design_table[
            (tipping_design_table["delta_anastrozole"] == 0) & (tipping_design_table["delta_placebo"] == 0)
        ]
        p0 = float(zero["power"].iloc[0]) if len(zero) else float("nan")
        lines.append("")
        if p0 < 0.5:
            lines.append(
                f"Tipping point of the planned design ({reps} simulated trials): even with dropouts "
                f"missing at random, only {100 * p0:.0f}% of trials reach a significant result in "
                "the assumed direction, so there is no conclusion to tip."
            )
        else:
            shifts = _tipping_shifts(tipping_design_table, "power")
            if shifts:
                lines.append(
                    "Tipping point of the planned design (delta-adjusted multiple imputation, "
                    f"{reps} simulated trials; {100 * p0:.0f}% significant under MAR): the "
                    "conclusion is lost in most trials when the imputed 12-month changes of dropouts "
                    f"are shifted by {shifts} (the other arm unshifted)."
                )
            else:
                lines.append(
                    f"Tipping point of the planned design ({reps} simulated trials): no shift in the "
                    f"grid ({min(s['tipping_delta_pct']):g} to {max(s['tipping_delta_pct']):g} points) "
                    "takes the share of significant trials below one half."
                )
    if tipping_example is not None and len(tipping_example):
        zero = tipping_example[
            (tipping_example["delta_anastrozole"] == 0) & (tipping_example["delta_placebo"] == 0)
        ]
        lines.append("")
        if len(zero) and not bool(zero["holds"].iloc[0]):
            lines.append(
                f"The simulated example trial is not significant under MAR (P = {float(zero['p_value'].iloc[0]):.2g})."
            )
        else:
            shifts = _tipping_shifts(tipping_example, "holds")
            if shifts:
                lines.append(
                    "In the simulated example trial, the result stops being significant when imputed "
                    f"values are shifted by {shifts}."
                )
            else:
                lines.append("In the simulated example trial, no shift in the grid changes the conclusion.")
    published_design = _is_published_design(cfg)
    published_p = published_p_value()
    if replication is not None and len(replication):
        frac = float((replication["p_value"] <= published_p).mean())
        sig = float((replication["p_value"] < a["alpha"]).mean())
        lines.append("")
        lines.append("## The 2009 trial as one draw")
        lines.append("")
        lines.append(
            f"Over {len(replication)} simulated replications of the "
            + (
                "published design, "
                if published_design
                else "base design of this config (not the 2009 one), "
            )
            + f"{100 * sig:.1f}% reached P < {a['alpha']:g} and {100 * frac:.1f}% reached "
            f"P <= {published_p:g} (the published value); median P {replication['p_value'].median():.2g}."
        )
    if calibration is not None and len(calibration):
        lines.append("")
        lines.append(
            f"Calibration: {int(calibration['inside'].sum())} of {len(calibration)} published figures "
            "of the 2009 trial lie inside their simulated 95% range (results/calibration/)"
            + (
                "."
                if published_design
                else "; the base design of this config differs from the 2009 trial, so this compares "
                "the planned trial with the published one rather than checking the model."
            )
        )
    lines.append("")
    return "\n".join(lines)


def _fmt_power(row) -> str:
    p = row.get("power", float("nan"))
    se = row.get("power_se", float("nan"))
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "n/a"
    return f"{100 * p:.1f}% ± {100 * se:.1f}" if se == se else f"{100 * p:.1f}%"


def _base_rows(table: pd.DataFrame, cfg: dict) -> pd.DataFrame:
    """Rows of a per-scenario table at the base case (grid keys at their base value, if present)."""
    out = table
    b = _base(cfg)
    for key in cfg.get("grid") or {}:
        if key in out.columns and key != "trial.n_per_arm":
            value = get_key(b, key)
            match = out[key] == value
            if match.any():
                out = out[match]
            else:
                first = out[key].iloc[0] if len(out) else None
                out = out[out[key] == first]
    return out


# --------------------------------------------------------------------------- report pages


def key_numbers(
    cfg: dict,
    *,
    sample_size: pd.DataFrame,
    power: pd.DataFrame,
    config_name: str,
) -> dict:
    """The numbers the report's landing page states, and one reStructuredText paragraph of them.

    Parameters
    ----------
    cfg : dict
        The validated configuration.
    sample_size, power : DataFrame
        ``results/sample_size/sample_size.csv`` and ``results/power/power.csv``.
    config_name : str
        The config file(s) of the run.

    Returns
    -------
    dict
        ``config, method, planned_n, power_at_planned_n, power_se, n_for_target``
        (target power -> n per arm, None if not reached) and ``rst``.

    Examples
    --------
    >>> from vtrial.config import load_config
    >>> ss = pd.DataFrame({"method": ["ancova"], "target_power": [0.9], "n_per_arm": [42.0]})
    >>> pw = pd.DataFrame({"method": ["ancova"], "n_per_arm": [44], "power": [0.91], "power_se": [0.003]})
    >>> k = key_numbers(load_config(), sample_size=ss, power=pw, config_name="config/config.yaml")
    >>> k["n_for_target"], k["power_at_planned_n"]
    ({'0.9': 42}, 0.91)
    """
    b = _base(cfg)
    method = (cfg.get("sensitivity") or {}).get("method") or b["analysis"]["methods"][0]
    n = int(b["trial"]["n_per_arm"])
    ss = _base_rows(sample_size, cfg)
    ss = ss[ss["method"] == method]
    targets = {}
    for r in ss.itertuples(index=False):
        targets[f"{r.target_power:g}"] = None if _missing(r.n_per_arm) else int(r.n_per_arm)
    pw = _base_rows(power, cfg)
    pw = pw[(pw["method"] == method) & (pw["n_per_arm"] == n)]
    p = float(pw["power"].iloc[0]) if len(pw) else None
    se = float(pw["power_se"].iloc[0]) if len(pw) else None
    parts = [f"**Config:** ``{config_name}``. **Main analysis:** {method}."]
    for target, value in targets.items():
        needed = f"{value} men per arm" if value is not None else "not reached within the search limit"
        parts.append(f"**n per arm for {100 * float(target):.0f}% power:** {needed}.")
    if p is None:
        parts.append(f"**Power at the planned {n} per arm:** not on the power curves "
                     "(add it to ``pipeline.power_n_per_arm``).")  # fmt: skip
    else:
        parts.append(f"**Power at the planned {n} per arm:** {100 * p:.1f}% (Monte Carlo SE {100 * se:.1f}).")
    return {
        "config": config_name, "method": method, "planned_n": n, "power_at_planned_n": p,
        "power_se": se, "n_for_target": targets, "rst": "\n\n".join(parts),
    }  # fmt: skip


_INLINE = [
    (re.compile(r"`([^`]+)`"), r"<code>\1</code>"),
    (re.compile(r"\*\*([^*]+)\*\*"), r"<strong>\1</strong>"),
]


def _inline(text: str) -> str:
    out = html.escape(text, quote=False)
    for pattern, repl in _INLINE:
        out = pattern.sub(repl, out)
    return out


def _page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;max-width:60em;margin:1em auto;line-height:1.4}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}"
        "th{background:#f2f2f2}code{background:#f5f5f5}</style></head>\n<body>\n"
        f"{body}\n</body></html>\n"
    )


def markdown_to_html(text: str, title: str = "vtrial summary") -> str:
    """A standalone HTML page of the Markdown that :func:`summary_markdown` writes.

    Handles what the summary uses: ``#`` headings, paragraphs, ``-`` lists
    (with indented continuation lines), inline code and bold.

    Examples
    --------
    >>> page = markdown_to_html("# Title\\n\\nSome `code`.\\n\\n- a\\n- b\\n")
    >>> "<h1>Title</h1>" in page, "<li>b</li>" in page, "<code>code</code>" in page
    (True, True, True)
    """
    out: list[str] = []
    para: list[str] = []
    items: list[str] = []

    def flush() -> None:
        if para:
            out.append(f"<p>{_inline(' '.join(para))}</p>")
            para.clear()
        if items:
            out.append("<ul>\n" + "\n".join(f"<li>{_inline(i)}</li>" for i in items) + "\n</ul>")
            items.clear()

    for line in text.splitlines():
        stripped = line.strip()
        heading = re.match(r"^(#{1,6}) (.*)$", line)
        if not stripped:
            flush()
        elif heading:
            flush()
            level = len(heading.group(1))
            out.append(f"<h{level}>{_inline(heading.group(2))}</h{level}>")
        elif line.startswith("- "):
            if para:
                flush()
            items.append(line[2:])
        elif items and line.startswith("  "):
            items[-1] += " " + stripped
        else:
            para.append(stripped)
    flush()
    return _page(title, "\n".join(out))


def table_html(table: pd.DataFrame, title: str, note: str = "") -> str:
    """A standalone HTML page of one results table (numbers to 4 significant digits).

    Examples
    --------
    >>> page = table_html(pd.DataFrame({"n": [20], "power": [0.81234]}), "Power")
    >>> "<td>0.8123</td>" in page
    True
    """

    def cell(v) -> str:
        if isinstance(v, (float, np.floating)):
            return "" if math.isnan(v) else f"{v:.4g}"
        return html.escape(str(v))

    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in table.columns)
    rows = "\n".join(
        "<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>"
        for row in table.itertuples(index=False)
    )
    body = f"<h1>{html.escape(title)}</h1>\n"
    if note:
        body += f"<p>{_inline(note)}</p>\n"
    body += f"<table>\n<tr>{head}</tr>\n{rows}\n</table>"
    return _page(title, body)


def assurance_lines(cfg: dict, table: pd.DataFrame) -> list[str]:
    """The section of ``summary.md`` on assurance (planning under uncertainty).

    Power at the prior's point and assurance at the planned n, the n per arm
    for 80% and 90% assurance (linear between the simulated sizes, rounded up),
    Type M at the planned n, and the winner's-curse-adjusted 2009 estimate
    beside the published one (:func:`vtrial.selection.conditional_mle`).

    Examples
    --------
    >>> from vtrial.config import load_config
    >>> t = pd.DataFrame({"method": "ancova", "n_per_arm": [20, 44, 80], "assurance": [0.57, 0.84, 0.94],
    ...                   "power": [0.66, 0.92, 0.99], "type_m": [1.3, 1.1, 1.02], "max_assurance": 0.9996,
    ...                   "prior_point": -2.46})
    >>> print("\\n".join(assurance_lines(load_config(), t)[2:4]))
    - With 44 men per arm the trial (ancova) has 92% power if the difference is -2.46 points, but its probability of success given the uncertainty in that value is 84% (assurance under the design prior).
    - 80% assurance needs about 41 men per arm, 90% about 66 (at most 99.96% is reachable: the prior probability that the difference has the favoured sign).
    """
    from math import ceil

    from vtrial.assurance_plots import crossing_n
    from vtrial.priors import published_estimate, se_from_p
    from vtrial.selection import conditional_interval, conditional_mle

    method = cfg["sensitivity"]["method"] if cfg["sensitivity"]["method"] in set(table["method"]) else None
    method = method or str(table["method"].iloc[0])
    rows = table[table["method"] == method].sort_values("n_per_arm")
    planned = int(cfg["trial"]["n_per_arm"])
    at = rows[rows["n_per_arm"] == planned]
    lines = ["## Planning under uncertainty (assurance)", ""]
    if not at.empty:
        r = at.iloc[0]
        lines.append(
            f"- With {planned} men per arm the trial ({method}) has {100 * r['power']:.0f}% power if the "
            f"difference is {r['prior_point']:g} points, but its probability of success given the "
            f"uncertainty in that value is {100 * r['assurance']:.0f}% (assurance under the design prior)."
        )
    needs = []
    for target in (0.8, 0.9):
        n = crossing_n(rows["n_per_arm"], rows["assurance"], target)
        needs.append(f"more than {int(rows['n_per_arm'].max())}" if n != n else f"about {ceil(n)}")
    lines.append(
        f"- 80% assurance needs {needs[0]} men per arm, 90% {needs[1]} (at most "
        f"{100 * float(rows['max_assurance'].iloc[0]):.2f}% is reachable: the prior probability that the "
        "difference has the favoured sign)."
    )
    if not at.empty and at.iloc[0]["type_m"] == at.iloc[0]["type_m"]:
        lines.append(
            f"- At {planned} men per arm a significant estimate exaggerates the true difference by a "
            f"factor of {at.iloc[0]['type_m']:.2f} on average (Type M error)."
        )
    est, p, df = published_estimate()
    se = se_from_p(est, p, df)
    adj = conditional_mle(est, se)
    low, high = conditional_interval(est, se)
    lines.append(
        f"- The published estimate {est:g} points (SE {se:.2f}) was reported because it was significant; "
        f"adjusted for that selection it is {adj:.2f} points (95% interval {low:.2f} to {high:.2f}). "
        "A prior centred there (`prior.difference.distribution: selection_adjusted`) gives a more "
        "cautious plan."
    )
    return lines


def sequential_lines(cfg: dict, oc: pd.DataFrame) -> list[str]:
    """The section of ``summary.md`` on the group-sequential design (config section ``sequential``).

    ``oc`` is :func:`vtrial.sequential_sim.operating_characteristics` (read
    back with ``keep_default_na=False`` so that the look ``overall`` stays text).

    Examples
    --------
    >>> oc = pd.DataFrame({"scenario": ["h1"] * 3 + ["h0"] * 3, "method": "ancova",
    ...     "look": ["1", "2", "overall"] * 2, "prob_efficacy": [0.3, 0.55, 0.85, 0.01, 0.014, 0.024],
    ...     "prob_futility": [0.05, None, 0.05, 0.4, None, 0.4], "n_enrolled": [50, 80, 78.0, 50, 80, 70.0],
    ...     "n_endpoint": [30, 60, 55.0, 30, 60, 45.0], "month": [20, 30, 27.5, 20, 30, 24.0], "reps": 1000,
    ...     "bias": [None, None, -0.1, None, None, 0.2], "bias_adjusted": [None, None, 0.02, None, None, 0.1]})
    >>> cfg = {"sequential": {"information_fractions": [0.5, 1]}, "effects": {"difference_pct": -2.46},
    ...        "trial": {"n_per_arm": 40, "allocation_ratio": 1.0}}
    >>> print(sequential_lines(cfg, oc)[2])
    - Looks at 50% and 100% of the men followed to the endpoint (ancova, 1000 simulated trials): power 85.0%, type I error 2.4%; with the configured difference the trial stops early for efficacy with probability 30.0% and for futility 5.0%.
    """
    from vtrial.sequential_looks import describe
    from vtrial.trial import arm_sizes

    looks = describe(cfg)
    planned = sum(arm_sizes(cfg["trial"]))
    lines = ["## Group-sequential design", ""]
    for method in dict.fromkeys(oc["method"]):
        rows = oc[oc["method"] == method]
        h1 = rows[rows["scenario"] == "h1"]
        h0 = rows[rows["scenario"] == "h0"]
        o1 = h1[h1["look"].astype(str) == "overall"]
        o0 = h0[h0["look"].astype(str) == "overall"]
        per1 = h1[h1["look"].astype(str) != "overall"]
        text = f"- Looks at {looks} ({method}, {int(rows['reps'].iloc[0])} simulated trials): "
        parts = []
        if len(o1):
            parts.append(f"power {100 * o1['prob_efficacy'].iloc[0]:.1f}%")
        if len(o0):
            parts.append(f"type I error {100 * o0['prob_efficacy'].iloc[0]:.1f}%")
        text += ", ".join(parts)
        if len(per1) > 1:
            early = per1["prob_efficacy"].iloc[:-1].sum()
            futile = o1["prob_futility"].iloc[0]
            text += (
                f"; with the configured difference the trial stops early for efficacy with probability "
                f"{100 * early:.1f}% and for futility {100 * futile:.1f}%."
            )
        lines.append(text)
        if len(o1):
            r = o1.iloc[0]
            sentence = (
                f"- Expected men randomized {r['n_enrolled']:.1f} (of {planned} planned), "
                f"with the endpoint scan at the decision {r['n_endpoint']:.1f}"
            )
            if r["month"] == r["month"]:
                sentence += f"; expected decision at month {r['month']:.1f}"
            lines.append(
                sentence + f". The estimate at stopping is biased by {r['bias']:+.2f} points on average; "
                f"the stage-wise ordering (median-unbiased) estimate by {r['bias_adjusted']:+.2f}."
            )
    return lines


# --------------------------------------------------------------------------- designs


#: What the familywise rows of a design's power table count.
FAMILYWISE_WORDS = {
    "any": "at least one comparison succeeds",
    "all": "every comparison succeeds",
}


def _planned_rows(power: pd.DataFrame, cfg: dict, method: str) -> pd.DataFrame:
    """Rows of a power table at the base case, the planned n and ``method``."""
    pw = _base_rows(power, cfg)
    return pw[(pw["method"] == method) & (pw["n_per_arm"] == int(cfg["trial"]["n_per_arm"]))]


#: The ``endpoint`` of a design's power-table row in words (two endpoints).
ENDPOINT_WORDS = {
    "spine": "PA spine alone",
    "hip": "total hip alone",
    "all": "significant on both endpoints",
    "any": "significant on either endpoint",
}


def _row_name(row: Mapping, endpoints: int) -> str:
    """``a-p`` (or ``a-p, total hip alone`` with two endpoints); familywise rows in words."""
    c = str(row["comparison"])
    if c in FAMILYWISE_WORDS:
        return f"familywise `{c}` ({FAMILYWISE_WORDS[c]})"
    endpoint = row.get("endpoint")
    if endpoints > 1 and isinstance(endpoint, str) and endpoint:
        return f"`{c}`, {ENDPOINT_WORDS.get(endpoint, endpoint)}"
    return f"`{c}`"


def _design_method(cfg: dict, power: pd.DataFrame) -> str:
    """The main method of a design's summary: ``sensitivity.method`` if the power table has it, else its first."""
    method = (cfg.get("sensitivity") or {}).get("method") or cfg["analysis"]["methods"][0]
    return method if method in set(power["method"]) or power.empty else str(power["method"].iloc[0])


def design_power_lines(cfg: dict, power: pd.DataFrame, method: str) -> list[str]:
    """The section of a design's ``summary.md`` on power at the planned n, per comparison and familywise.

    Parameters
    ----------
    cfg : dict
        The validated configuration (a design with ``trial.arms`` or a schedule).
    power : DataFrame
        ``results/power/power.csv`` of the design (a ``comparison`` column, familywise rows ``any``/``all``).
    method : str
        The main analysis method.

    Examples
    --------
    >>> from vtrial.config import load_config
    >>> pw = pd.DataFrame({"method": "ancova", "n_per_arm": 44, "comparison": ["b-a", "any"],
    ...                    "power": [0.8, 0.85], "power_se": [0.01, 0.01]})
    >>> print("\\n".join(design_power_lines(load_config(), pw, "ancova")[2:]))
    At 44 men per arm in the control arm, with ancova:
    <BLANKLINE>
    - `b-a`: power 80.0% ± 1.0
    - familywise `any` (at least one comparison succeeds): power 85.0% ± 1.0
    """
    n = int(cfg["trial"]["n_per_arm"])
    lines = ["## Power at the planned n", ""]
    rows = _planned_rows(power, cfg, method)
    if rows.empty:
        sizes = sorted(set(power["n_per_arm"]))
        return lines + [
            f"The planned {n} men per arm are not on the power curves ({sizes[0]} to {sizes[-1]} per arm; "
            "add it to `pipeline.power_n_per_arm`); see results/power/power.csv."
        ]
    endpoints = rows["endpoint"].nunique() if "endpoint" in rows.columns else 1
    lines += [f"At {n} men per arm in the control arm, with {method}:", ""]
    ordered = pd.concat([rows[~rows["comparison"].isin(list(FAMILYWISE_WORDS))],
                         rows[rows["comparison"].isin(list(FAMILYWISE_WORDS))]])  # fmt: skip
    for r in ordered.to_dict("records"):
        lines.append(f"- {_row_name(r, endpoints)}: power {_fmt_power(r)}")
    others = _base_rows(power, cfg)
    others = others[
        (others["method"] != method) & (others["n_per_arm"] == n) & (others["comparison"] == "any")
    ]
    if len(others):
        parts = ", ".join(
            f"{m} {100 * p:.1f}%" for m, p in zip(others["method"], others["power"], strict=True)
        )
        lines += ["", f"Familywise `any` with the other analyses: {parts}."]
    return lines


def sample_size_rule(cfg: dict, comparison: str | None = None, *, list_labels: bool = True) -> str:
    """What a design's sample-size search drives to the target power, in words.

    Parameters
    ----------
    cfg : dict
        The validated configuration of a design.
    comparison : str, optional
        The searched row (:func:`vtrial.power.solve`): ``each`` (default,
        None), a label ``<arm>-<control>``, ``any`` or ``all``.
    list_labels : bool
        Name the comparisons of ``each`` (False: shorter, for figure titles).

    Returns
    -------
    str
        E.g. ``each: every comparison (b-a, c-a) reaches the target power, after Dunnett``;
        with two endpoints, which decision counts.

    Examples
    --------
    >>> from vtrial.config import load_config, set_key
    >>> arms = [{"name": "a"}, {"name": "b"}, {"name": "c"}]
    >>> cfg = set_key(set_key(load_config(), "trial.arms", arms), "trial.block_sizes", [6])
    >>> sample_size_rule(set_key(cfg, "analysis.multiplicity", "holm"))
    '`each`: every comparison (`b-a`, `c-a`) reaches the target power, after Holm'
    >>> sample_size_rule(cfg, "any")
    '`any`: at least one comparison succeeds with the target probability, with no multiplicity adjustment'
    """
    from vtrial.design import design_of
    from vtrial.design_text import multiplicity_phrase

    design = design_of(_base(cfg))
    comparison = comparison or "each"
    if len(design.labels) == 1:  # one comparison: every rule is its power
        text = f"`{comparison}`: `{design.labels[0]}` reaches the target power"
    elif comparison == "each":
        labels = f" ({', '.join(f'`{c}`' for c in design.labels)})" if list_labels else ""
        text = f"`each`: every comparison{labels} reaches the target power"
    elif comparison in FAMILYWISE_WORDS:
        text = f"`{comparison}`: {FAMILYWISE_WORDS[comparison]} with the target probability"
    else:
        text = f"`{comparison}`: its power reaches the target"
    adjust = multiplicity_phrase(design)
    if adjust:
        text += f", {'with' if design.multiplicity == 'none' else 'after'} {adjust}"
    if len(design.endpoints) > 1:
        rule = design.endpoint_rule
        text += (
            "; the PA spine decides"
            if rule == "primary"
            else f"; a comparison succeeds when {ENDPOINT_WORDS[rule]}"
        )
    return text


def design_sample_size_lines(cfg: dict, sample_size: pd.DataFrame, method: str) -> list[str]:
    """The sample-size section of a design's ``summary.md``: n per arm for each target power and method.

    Parameters
    ----------
    cfg : dict
        The validated configuration (a design).
    sample_size : DataFrame
        ``results/sample_size/sample_size.csv`` of the design (columns
        ``method, comparison, target_power, n_per_arm, power, power_se``).
    method : str
        The main analysis method, stated first.

    Examples
    --------
    >>> from vtrial.config import load_config, set_key
    >>> arms = [{"name": "a"}, {"name": "b", "difference_pct": -2}, {"name": "c", "allocation": 2}]
    >>> cfg = set_key(set_key(load_config(), "trial.arms", arms), "trial.block_sizes", [8])
    >>> ss = pd.DataFrame({"method": "ancova", "comparison": "each", "target_power": [0.8, 0.9],
    ...                    "n_per_arm": [40.0, float("nan")], "power": [0.81, float("nan")],
    ...                    "power_se": [0.01, float("nan")]})
    >>> print("\\n".join(design_sample_size_lines(cfg, ss, "ancova")[4:]))
    - ancova: 40 men in the control arm (a) for 80% power (160 men in all; simulated power at that n: 81.0% ± 1.0); 90% power not reached within 1000 men per arm.
    """
    from vtrial.config import set_key
    from vtrial.design import design_of

    b = _base(cfg)
    ss = _base_rows(sample_size, cfg)
    rules = list(dict.fromkeys(ss["comparison"])) if "comparison" in ss.columns else ["each"]
    design = design_of(b)
    ctl = design.arms[design.control].name
    max_n = (cfg.get("sensitivity") or {}).get("max_n_per_arm")
    lines = [
        "## Sample size",
        "",
        f"Men randomized to the control arm ({ctl}; the other arms by their allocation) for each target "
        f"power, the smallest n whose Monte Carlo power reaches it with the comparison rule "
        + "; ".join(sample_size_rule(cfg, r) for r in rules)
        + " (`pipeline.sample_size_comparison`):",
        "",
    ]
    methods = list(dict.fromkeys([method, *ss["method"]])) if len(ss) else []
    for m in methods:
        parts = []
        for r in ss[ss["method"] == m].sort_values("target_power").to_dict("records"):
            target = f"{100 * r['target_power']:.0f}% power"
            if _missing(r["n_per_arm"]):
                limit = f" within {max_n} men per arm" if max_n else " within the search limit"
                parts.append(f"{target} not reached{limit}")
                continue
            n = int(r["n_per_arm"])
            total = sum(design_of(set_key(b, "trial.n_per_arm", n)).sizes)
            parts.append(f"{n} men in the control arm ({ctl}) for {target} ({total} men in all; "
                         f"simulated power at that n: {_fmt_power(r)})")  # fmt: skip
        if parts:
            lines.append(f"- {m}: {'; '.join(parts)}.")
    return lines


def design_summary_markdown(
    cfg: dict,
    *,
    power: pd.DataFrame,
    omitted: Mapping[str, str],
    sample_size: pd.DataFrame | None = None,
    provenance: Mapping | None = None,
    skipped_methods: Mapping[str, str] | None = None,
) -> str:
    """``summary.md`` of a design other than the two-arm one: the design, its power, what was left out.

    Parameters
    ----------
    cfg : dict
        The validated configuration (``trial.arms``, a schedule or a second endpoint).
    power : DataFrame
        ``results/power/power.csv`` of the design.
    omitted : mapping of str to str
        Stages the run left out and why (:func:`vtrial.pipeline.omitted_stages`).
    sample_size : DataFrame, optional
        ``results/sample_size/sample_size.csv``, where the stage ran.
    provenance : mapping, optional
        :func:`vtrial.provenance.provenance` of the run; printed first.
    skipped_methods : mapping of str to str, optional
        Methods of ``analysis.methods`` the power stage left out, and why
        (:func:`vtrial.pipeline.skipped_methods`).

    Returns
    -------
    str
        Markdown: provenance, any power over fewer replicates than requested,
        the design in one paragraph (:func:`vtrial.design_text.design_paragraph`),
        the power at the planned n per comparison and familywise, the sample
        size if computed, and the stages left out with the reason.
    """
    from vtrial.design import design_of
    from vtrial.design_text import design_paragraph

    b = _base(cfg)
    method = _design_method(b, power)
    lines = ["# vtrial summary", ""]
    if provenance is not None:
        lines += provenance_lines(provenance) + [""]
    flagged = _short_replicates({"power curves": power})
    if flagged:
        lines += ["## Warning: power over fewer replicates than requested", ""] + flagged + [""]
    a = b["analysis"]
    paragraph = design_paragraph(design_of(b), n_per_arm=int(b["trial"]["n_per_arm"]), alpha=a["alpha"],
                                 method=method, direct=b["effects"]["mode"] == "direct")  # fmt: skip
    lines += ["## Design", "", paragraph, ""]
    lines += design_power_lines(cfg, power, method) + [""]
    if sample_size is not None and len(sample_size):
        lines += design_sample_size_lines(cfg, sample_size, method) + [""]
    if omitted or skipped_methods:
        lines += ["## Not in this run", ""]
        lines += [f"- {stage.replace('_', ' ')} (results/{stage}/): left out because {why}."
                  for stage, why in omitted.items()]  # fmt: skip
        lines += [
            f"- method {m} of analysis.methods: left out ({why})."
            for m, why in (skipped_methods or {}).items()
        ]
        lines.append("")
    return "\n".join(lines)


def design_key_numbers(
    cfg: dict, *, power: pd.DataFrame, config_name: str, sample_size: pd.DataFrame | None = None
) -> dict:
    """The report landing page's numbers for a design: familywise power at the planned n (:func:`key_numbers`' keys).

    ``n_for_target`` (target power -> men in the control arm, None if not
    reached) comes from ``sample_size`` (``results/sample_size/sample_size.csv``)
    for the main method, with its comparison rule; empty without it.

    Examples
    --------
    >>> from vtrial.config import load_config
    >>> pw = pd.DataFrame({"method": "ancova", "n_per_arm": 44, "comparison": ["b-a", "any"],
    ...                    "power": [0.8, 0.85], "power_se": [0.01, 0.01]})
    >>> design_key_numbers(load_config(), power=pw, config_name="c.yaml")["power_at_planned_n"]
    0.85
    """
    from vtrial.design import design_of
    from vtrial.design_text import design_title

    b = _base(cfg)
    method = _design_method(b, power)
    n = int(b["trial"]["n_per_arm"])
    pw = _planned_rows(power, cfg, method)
    pw = pw[pw["comparison"] == "any"]
    p = float(pw["power"].iloc[0]) if len(pw) else None
    se = float(pw["power_se"].iloc[0]) if len(pw) else None
    parts = [
        f"**Config:** ``{config_name}``. **Design:** {design_title(design_of(b))}. **Main analysis:** {method}."
    ]
    targets = {}
    ss = pd.DataFrame() if sample_size is None else _base_rows(sample_size, cfg)
    for r in (ss[ss["method"] == method] if len(ss) else ss).to_dict("records"):
        value = None if _missing(r["n_per_arm"]) else int(r["n_per_arm"])
        targets[f"{r['target_power']:g}"] = value
        needed = f"{value} men" if value is not None else "not reached within the search limit"
        rule = r.get("comparison", "each")
        parts.append(f"**Men in the control arm for {100 * r['target_power']:.0f}% power "
                     f"(comparison rule {rule}):** {needed}.")  # fmt: skip
    if p is None:
        parts.append(f"**Power at the planned {n} per arm:** not on the power curves "
                     "(add it to ``pipeline.power_n_per_arm``).")  # fmt: skip
    else:
        parts.append(f"**Familywise power (at least one comparison succeeds) at the planned {n} per arm:** "
                     f"{100 * p:.1f}% (Monte Carlo SE {100 * se:.1f}).")  # fmt: skip
    return {
        "config": config_name, "method": method, "planned_n": n, "power_at_planned_n": p,
        "power_se": se, "n_for_target": targets, "rst": "\n\n".join(parts),
    }  # fmt: skip
