"""The design in words: the phrases that summary.md, figure titles, report captions and CLI notes use.

Pure functions of a :class:`vtrial.design.Design` (arms, control, schedule,
endpoints, comparisons, multiplicity, endpoint rule). For the packaged
two-arm design they return exactly the wording the outputs have always used
("12-month change in PA spine BMD", "anastrozole versus placebo"), so default
outputs stay byte-identical; for any other design they name its arms, months,
endpoints and adjustment.

The functions read only the attributes of the contract's ``Design``
(``arms`` with ``name, allocation, dropout, difference_pct``; ``control``;
``visits_months``, ``dxa_months``, ``endpoint_month``; ``endpoints``;
``comparisons``, ``labels``; ``multiplicity``; ``endpoint_rule``), so any
object with those attributes works.
"""

from __future__ import annotations

from collections.abc import Sequence

#: Measurement site of each endpoint, as the text names it.
ENDPOINT_SITES = {"spine": "PA spine", "hip": "total hip"}

#: The multiplicity adjustments by name (``analysis.multiplicity``).
MULTIPLICITY_NAMES = {
    "none": "no multiplicity adjustment",
    "bonferroni": "Bonferroni",
    "holm": "Holm",
    "hochberg": "Hochberg",
    "dunnett": "Dunnett",
    "fixed_sequence": "fixed sequence",
}

#: What decides success with two endpoints (``analysis.endpoint_rule``).
ENDPOINT_RULES = {
    "primary": "the spine endpoint alone decides success (the hip is secondary)",
    "all": "co-primary endpoints: success needs every endpoint significant",
    "any": "success needs at least one endpoint significant, after the multiplicity adjustment",
}


def join_words(items: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``.

    Examples
    --------
    >>> join_words(["0", "3", "6", "12"])
    '0, 3, 6 and 12'
    >>> join_words(["spine"])
    'spine'
    """
    items = [str(i) for i in items]
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def control_name(design) -> str:
    """Name of the control arm (the arm ``trial.n_per_arm`` counts)."""
    return design.arms[design.control].name


def treated_names(design) -> list[str]:
    """Names of the arms other than the control, in configured order."""
    return [arm.name for i, arm in enumerate(design.arms) if i != design.control]


def vs_control(design) -> bool:
    """Whether every comparison is against the control arm (``analysis.comparisons: vs_control``)."""
    return all(ref == design.control for _, ref in design.comparisons)


def sequence_order(design) -> list[str]:
    """Comparison labels in the order they are tested (``fixed_sequence``), else in table order."""
    order = getattr(design, "multiplicity_order", None)
    return [design.labels[i] for i in order] if order else list(design.labels)


def endpoint_sites(design) -> str:
    """The measurement sites: ``PA spine`` or ``PA spine and total hip``."""
    return join_words([ENDPOINT_SITES.get(e, e) for e in design.endpoints])


def endpoint_phrase(design) -> str:
    """The primary outcome: ``12-month change in PA spine BMD``.

    Examples
    --------
    >>> from types import SimpleNamespace as NS
    >>> endpoint_phrase(NS(endpoint_month=24, endpoints=("spine", "hip")))
    '24-month change in PA spine and total hip BMD'
    """
    return f"{design.endpoint_month}-month change in {endpoint_sites(design)} BMD"


def multiplicity_phrase(design) -> str:
    """The adjustment across comparisons (and endpoints), e.g. ``Dunnett``; ``""`` when nothing is adjusted.

    Nothing is said for a single comparison of a single endpoint: there is no
    multiplicity to adjust for.
    """
    tests = len(design.comparisons) * (len(design.endpoints) if design.endpoint_rule == "any" else 1)
    if tests <= 1:
        return ""
    name = MULTIPLICITY_NAMES.get(design.multiplicity, design.multiplicity)
    if design.multiplicity == "fixed_sequence":
        name += f": {' then '.join(sequence_order(design))}"
    return name


def comparison_phrase(design) -> str:
    """The comparisons: ``anastrozole versus placebo``, ``a, b versus placebo (Dunnett)``, ``every pair of ...``.

    Examples
    --------
    >>> from types import SimpleNamespace as NS
    >>> arms = tuple(NS(name=n) for n in ("placebo", "daily", "weekly"))
    >>> d = NS(arms=arms, control=0, comparisons=((1, 0), (2, 0)), labels=("daily-placebo", "weekly-placebo"),
    ...        multiplicity="dunnett", endpoints=("spine",), endpoint_rule="primary")
    >>> comparison_phrase(d)
    'daily, weekly versus placebo (Dunnett)'
    """
    if vs_control(design):
        text = f"{', '.join(treated_names(design))} versus {control_name(design)}"
    else:
        text = f"every pair of {join_words([arm.name for arm in design.arms])}"
    adjust = multiplicity_phrase(design)
    return f"{text} ({adjust})" if adjust else text


def difference_phrase(design) -> str:
    """What a comparison's difference is, for axis labels: ``anastrozole minus placebo`` or ``arm minus reference``."""
    if len(design.comparisons) == 1:
        treated, ref = design.comparisons[0]
        return f"{design.arms[treated].name} minus {design.arms[ref].name}"
    return "arm minus " + (control_name(design) if vs_control(design) else "reference arm")


def arm_count(design) -> str:
    """``two arms``, ``three arms``, ... (in words up to eight, the schema's limit)."""
    words = ("two", "three", "four", "five", "six", "seven", "eight")
    k = len(design.arms)
    return f"{words[k - 2] if 2 <= k <= 8 else k} arms"


def arm_phrases(design, *, direct: bool = True) -> list[str]:
    """Each arm with its size, allocation and dropout, the control marked, and its true differences.

    ``direct`` (``effects.mode: direct``) adds each arm's configured mean
    difference from the control at the endpoint (spine, and hip with two
    endpoints); in estradiol-mediated mode the differences follow from the
    hormones and are not configured per arm.

    Examples
    --------
    >>> from types import SimpleNamespace as NS
    >>> arms = (NS(name="placebo", allocation=1.0, dropout=0.18, difference_pct=0.0),
    ...         NS(name="daily", allocation=2.0, dropout=0.25, difference_pct=-2.46))
    >>> arm_phrases(NS(arms=arms, control=0, sizes=(40, 80), endpoints=("spine",)))
    ['placebo (control; 40 men; allocation 1; dropout 18%)', 'daily (80 men; allocation 2; dropout 25%; spine -2.46 points versus placebo)']
    """
    out = []
    sizes = getattr(design, "sizes", ()) or ()
    for i, arm in enumerate(design.arms):
        parts = ["control"] if i == design.control else []
        if sizes:
            parts.append(f"{sizes[i]} men")
        parts += [f"allocation {arm.allocation:g}", f"dropout {100 * arm.dropout:.0f}%"]
        if direct and i != design.control:
            diffs = [f"spine {arm.difference_pct:+.2f}"]
            if "hip" in design.endpoints:
                diffs.append(f"hip {getattr(arm, 'hip_difference_pct', 0.0):+.2f}")
            parts.append(f"{', '.join(diffs)} points versus {control_name(design)}")
        out.append(f"{arm.name} ({'; '.join(parts)})")
    return out


def schedule_phrase(design) -> str:
    """Visits, scans and the endpoint month in one clause.

    Examples
    --------
    >>> from types import SimpleNamespace as NS
    >>> schedule_phrase(NS(visits_months=(0, 3, 6, 12), dxa_months=(0, 6, 12), endpoint_month=12))
    'hormone visits at months 0, 3, 6 and 12, DXA scans at months 0, 6 and 12, endpoint at month 12'
    """
    return (
        f"hormone visits at months {join_words(design.visits_months)}, DXA scans at months "
        f"{join_words(design.dxa_months)}, endpoint at month {design.endpoint_month}"
    )


def endpoint_rule_phrase(design) -> str:
    """How two endpoints decide success; ``""`` with one endpoint."""
    if len(design.endpoints) < 2:
        return ""
    return ENDPOINT_RULES.get(design.endpoint_rule, design.endpoint_rule)


def design_title(design) -> str:
    """One line for figure titles: ``anastrozole versus placebo, 12-month change in PA spine BMD``."""
    return f"{comparison_phrase(design)}, {endpoint_phrase(design)}"


#: ``cohort.population`` in words.
POPULATIONS = {
    "hypogonadal_untreated": "older men with low testosterone, untreated",
    "on_testosterone": "older men on testosterone therapy",
}


def design_paragraph(design, *, n_per_arm: int, alpha: float, method: str, direct: bool = True) -> str:
    """The design in one paragraph (arms, control, schedule, endpoints, comparisons, multiplicity, rule).

    Parameters
    ----------
    design : Design
        The design (:func:`vtrial.design.design_of`).
    n_per_arm : int
        Men randomized to the control arm (``trial.n_per_arm``).
    alpha : float
        Two-sided significance level of each test before adjustment.
    method : str
        The main analysis method.
    direct : bool
        ``effects.mode`` is ``direct``: state each arm's configured difference.
    """
    ctl = control_name(design)
    comparisons = (
        f"each arm against {ctl}" if vs_control(design) else "every pair of arms"
    ) + f" ({', '.join(design.labels)})"
    adjust = MULTIPLICITY_NAMES.get(design.multiplicity, design.multiplicity)
    if design.multiplicity == "fixed_sequence":
        adjust += f" (testing order {' then '.join(sequence_order(design))})"
    population = getattr(design, "population", None)
    text = (
        f"The design has {arm_count(design)}: {'; '.join(arm_phrases(design, direct=direct))}. "
        f"trial.n_per_arm = {n_per_arm} men are randomized to {ctl}, and to each other arm "
        f"{n_per_arm} x its allocation / {ctl}'s allocation (rounded)."
    )
    if population in POPULATIONS:
        text += f" Population: {POPULATIONS[population]}."
    text += f" Schedule: {schedule_phrase(design)}. Endpoint: {endpoint_phrase(design)}"
    rule = endpoint_rule_phrase(design)
    text += f" ({rule})." if rule else "."
    text += f" Comparisons: {comparisons}, analysed by {method} with two-sided alpha {alpha:g} and {adjust}."
    return text


def design_words(design) -> dict[str, str]:
    """The phrases of one design by name, as plain strings (for report captions and JSON).

    Examples
    --------
    >>> from types import SimpleNamespace as NS
    >>> arms = (NS(name="placebo"), NS(name="anastrozole"))
    >>> d = NS(arms=arms, control=0, comparisons=((1, 0),), labels=("anastrozole-placebo",), endpoint_month=12,
    ...        multiplicity="none", endpoints=("spine",), endpoint_rule="primary")
    >>> design_words(d)["title"]
    'anastrozole versus placebo, 12-month change in PA spine BMD'
    """
    return {
        "endpoint": endpoint_phrase(design),
        "sites": endpoint_sites(design),
        "comparison": comparison_phrase(design),
        "difference": difference_phrase(design),
        "control": control_name(design),
        "title": design_title(design),
        "month": str(design.endpoint_month),
        "population": POPULATIONS.get(getattr(design, "population", ""), "older men"),
    }


def design_note(design, *, sizes: bool = True) -> str:
    """The design in one line for command-line notes: comparisons, endpoint and (``sizes``) men per arm.

    Examples
    --------
    >>> from types import SimpleNamespace as NS
    >>> arms = (NS(name="placebo"), NS(name="daily"), NS(name="weekly"))
    >>> d = NS(arms=arms, control=0, comparisons=((1, 0), (2, 0)), labels=("daily-placebo", "weekly-placebo"),
    ...        multiplicity="holm", endpoints=("spine",), endpoint_rule="primary", endpoint_month=24,
    ...        sizes=(40, 40, 80))
    >>> design_note(d)
    'design: daily, weekly versus placebo (Holm), 24-month change in PA spine BMD; men randomized: placebo 40 (control), daily 40, weekly 80'
    """
    per_arm = (getattr(design, "sizes", ()) or ()) if sizes else ()
    text = f"design: {design_title(design)}"
    if per_arm:
        men = [f"{arm.name} {n}" + (" (control)" if i == design.control else "")
               for i, (arm, n) in enumerate(zip(design.arms, per_arm, strict=True))]  # fmt: skip
        text += f"; men randomized: {', '.join(men)}"
    return text
