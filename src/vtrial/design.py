"""Trial designs: arms, visit schedule, endpoints and comparisons, parsed from a config.

A :class:`Design` is the plain description of a trial that the simulation
(:mod:`vtrial.design_sim`) and the analyses of many arms share. The default
configuration (no ``trial.arms``, no ``trial.schedule``, no ``effects.hip``, no
``cohort.population``) is the two-arm design of the 2009 trial, which the
existing engine (:mod:`vtrial.trial`, :mod:`vtrial.engine`) simulates
unchanged: :func:`is_default` says when that applies.

Rules (also in ``docs/designs.md``):

* arms: ``trial.arms`` when given; otherwise ``placebo`` (allocation 1,
  dropout ``dropout.placebo``) and ``anastrozole`` (allocation
  ``trial.allocation_ratio``, dropout ``dropout.anastrozole``, difference
  ``effects.difference_pct``, hormone ratios ``hormones.*``), in that order;
* ``trial.n_per_arm`` men are randomized to the control arm, arm ``k`` gets
  ``round(n_per_arm * allocation_k / allocation_control)``;
* comparisons: each other arm against the control, in arm order
  (``vs_control``), then for ``all_pairs`` every other pair ``(i, j)``, ``i <
  j`` in arm order, labelled ``"<arm i>-<arm j>"``;
* schedule: ``trial.schedule`` or hormone visits 0, 3, 6, 12, scans 0, 6, 12,
  endpoint 12.

This module imports neither numpy nor scipy unless a rule needs them, so that
validating a config stays fast.
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass
from fractions import Fraction

from vtrial.errors import InputError

#: Schedule of the 2009 trial: hormone visits, scans, endpoint (months).
DEFAULT_VISITS = (0, 3, 6, 12)
DEFAULT_DXA = (0, 6, 12)
DEFAULT_ENDPOINT = 12
#: ``dropout.visit_probs`` of the packaged default (its months 3, 6, 12 only exist in that schedule).
DEFAULT_VISIT_PROBS = [0.3, 0.3, 0.4]
#: Allowed values of ``cohort.population``.
POPULATIONS = ("hypogonadal_untreated", "on_testosterone")

#: Men on testosterone therapy (``cohort.population: on_testosterone``): the
#: usual on-treatment hormone levels that replace the pre-eligibility hormone
#: distribution, and no testosterone eligibility window (sources and the
#: assumptions among these figures in docs/designs.md).
ON_TESTOSTERONE = {
    "testosterone_median_ng_dl": 550.0,
    "testosterone_log_sd": 0.30,
    "estradiol_median_pg_ml": 30.0,
    "estradiol_log_sd": 0.35,
}

#: Hip keys that only the two-arm design from the old keys uses.
HIP_TWO_ARM_KEYS = ("difference_pct",)


@dataclass(frozen=True)
class Arm:
    """One arm of a design.

    Attributes
    ----------
    name : str
        Arm name (the ``arm`` column of trial CSVs, comparison labels).
    allocation : float
        Allocation weight (men randomized relative to the control's weight).
    dropout : float
        Probability of not completing the endpoint visit.
    difference_pct : float
        Direct mode: mean spine % change at the endpoint minus the control's
        (percentage points); 0 for the control and in estradiol-mediated mode.
    testosterone_ratio, estradiol_ratio : tuple of float or None
        Ratio of the arm's mean hormone level to baseline at each post-baseline
        hormone visit; None: the hormone stays at the man's usual level.
    hip_difference_pct : float
        Direct mode with a hip endpoint: mean total hip % change at the
        endpoint minus the control's (percentage points).
    """

    name: str
    allocation: float
    dropout: float
    difference_pct: float
    testosterone_ratio: tuple[float, ...] | None
    estradiol_ratio: tuple[float, ...] | None
    hip_difference_pct: float = 0.0


@dataclass(frozen=True)
class Design:
    """A trial design (see the module docstring for the rules).

    Attributes
    ----------
    arms : tuple of Arm
    control : int
        Index of the control arm in ``arms``.
    visits_months, dxa_months : tuple of int
        Hormone visits and BMD scans (months), each starting at 0.
    endpoint_month : int
        Month of the endpoint (a scan); effect sizes refer to it.
    endpoints : tuple of str
        ``("spine",)`` or ``("spine", "hip")``.
    comparisons : tuple of (int, int)
        (treated arm index, reference arm index), in the order of ``labels``.
    labels : tuple of str
        ``"<treated>-<reference>"`` per comparison.
    multiplicity : str
        ``analysis.multiplicity``.
    endpoint_rule : str
        ``analysis.endpoint_rule``.
    population : str
        ``cohort.population``.
    sizes : tuple of int
        Men randomized to each arm (targets; permuted blocks may cut the last block short).
    comparison_kind : str
        ``analysis.comparisons``.
    multiplicity_order : tuple of int or None
        fixed_sequence: indices into ``comparisons`` in testing order.
    """

    arms: tuple[Arm, ...]
    control: int
    visits_months: tuple[int, ...]
    dxa_months: tuple[int, ...]
    endpoint_month: int
    endpoints: tuple[str, ...]
    comparisons: tuple[tuple[int, int], ...]
    labels: tuple[str, ...]
    multiplicity: str
    endpoint_rule: str
    population: str
    sizes: tuple[int, ...] = ()
    comparison_kind: str = "vs_control"
    multiplicity_order: tuple[int, ...] | None = None

    @property
    def names(self) -> tuple[str, ...]:
        """Arm names in arm order."""
        return tuple(a.name for a in self.arms)

    @property
    def scan_months(self) -> tuple[int, ...]:
        """Post-baseline scans (months)."""
        return self.dxa_months[1:]

    @property
    def endpoint_scan(self) -> int:
        """Index of the endpoint in :attr:`scan_months`."""
        return self.scan_months.index(self.endpoint_month)

    @property
    def visit_months(self) -> tuple[int, ...]:
        """Every visit of the trial (hormones or scan), sorted."""
        return tuple(sorted(set(self.visits_months) | set(self.dxa_months)))


# --------------------------------------------------------------------------- reading the config


def _has(section: dict | None, key: str) -> bool:
    return isinstance(section, dict) and section.get(key) is not None


def hip_config(cfg: dict) -> dict | None:
    """``effects.hip`` with the schema defaults filled in, or None when there is no hip endpoint.

    Examples
    --------
    >>> from vtrial.config import default_config
    >>> hip_config(default_config()) is None
    True
    >>> hip_config(default_config() | {"effects": {"hip": {"sd_pct_change": 2.0}}})["bmd_cv_pct"]
    1.0
    """
    hip = cfg.get("effects", {}).get("hip")
    if hip is None:
        return None
    from vtrial.config import schema

    node = schema()["properties"]["effects"]["properties"]["hip"]["properties"]
    return {k: hip.get(k, sub["default"]) for k, sub in node.items()}


def population(cfg: dict) -> str:
    """``cohort.population`` (default ``hypogonadal_untreated``)."""
    return cfg["cohort"].get("population") or POPULATIONS[0]


def effective_cohort(cfg: dict) -> dict:
    """The ``cohort`` section the simulation draws from, after ``cohort.population``.

    ``on_testosterone`` replaces the hormone medians and log-SDs by
    :data:`ON_TESTOSTERONE` and opens the testosterone eligibility windows (men
    on therapy are not screened on testosterone); age, BMI, BMD and the
    correlations are kept.

    Examples
    --------
    >>> from vtrial.config import default_config
    >>> cfg = default_config()
    >>> effective_cohort(cfg) == cfg["cohort"]
    True
    >>> cfg["cohort"]["population"] = "on_testosterone"
    >>> effective_cohort(cfg)["estradiol_median_pg_ml"]
    30.0
    """
    c = dict(cfg["cohort"])
    c.pop("population", None)
    if population(cfg) == "on_testosterone":
        c.update(ON_TESTOSTERONE)
        c["eligibility"] = {
            **c["eligibility"],
            "testosterone_single_ng_dl": [0.0, math.inf],
            "testosterone_two_consecutive_ng_dl": [0.0, 0.0],
        }
    return c


def is_default(cfg: dict) -> bool:
    """True when the existing two-arm engine applies unchanged (none of the design keys is set).

    The design keys are ``trial.arms``, ``trial.control``, ``trial.schedule``,
    ``effects.hip`` and ``cohort.population`` other than
    ``hypogonadal_untreated``. The analysis keys (``analysis.comparisons``,
    ``multiplicity``, ``endpoint_rule``) change nothing with two arms and one
    endpoint.

    Examples
    --------
    >>> from vtrial.config import default_config
    >>> is_default(default_config())
    True
    """
    return not design_keys(cfg)


def design_keys(cfg: dict) -> list[str]:
    """The design keys set in ``cfg`` (empty exactly when :func:`is_default`).

    Examples
    --------
    >>> from vtrial.config import default_config
    >>> cfg = default_config()
    >>> cfg["cohort"]["population"] = "on_testosterone"
    >>> design_keys(cfg)
    ['cohort.population']
    """
    trial = cfg["trial"]
    keys = [f"trial.{k}" for k in ("arms", "control", "schedule") if _has(trial, k)]
    if _has(cfg.get("effects"), "hip"):
        keys.append("effects.hip")
    if population(cfg) != POPULATIONS[0]:
        keys.append("cohort.population")
    return keys


def require_default(cfg: dict, what: str) -> None:
    """Refuse a design key where only the two-arm 2009 design is supported (``what`` names the command).

    Examples
    --------
    >>> from vtrial.config import default_config
    >>> cfg = default_config()
    >>> cfg["trial"]["schedule"] = {"visits_months": [0, 12], "dxa_months": [0, 12]}
    >>> require_default(cfg, "vtrial calibrate")
    Traceback (most recent call last):
    ...
    vtrial.errors.InputError: config key 'trial.schedule' is set, but vtrial calibrate supports only the two-arm design of the 2009 trial (allowed: leave out trial.arms, trial.control, trial.schedule, effects.hip and cohort.population)
    """
    keys = design_keys(cfg)
    if keys:
        raise InputError(
            f"config key '{keys[0]}' is set, but {what} supports only the two-arm design of the 2009 trial "
            "(allowed: leave out trial.arms, trial.control, trial.schedule, effects.hip and cohort.population)"
        )


def _schedule(trial: dict) -> tuple[tuple[int, ...], tuple[int, ...], int]:
    s = trial.get("schedule")
    if s is None:
        return DEFAULT_VISITS, DEFAULT_DXA, DEFAULT_ENDPOINT
    visits, dxa = tuple(s["visits_months"]), tuple(s["dxa_months"])
    for key, months in (("visits_months", visits), ("dxa_months", dxa)):
        if months[0] != 0 or any(b <= a for a, b in itertools.pairwise(months)):
            raise InputError(
                f"config key 'trial.schedule.{key}': value {list(months)} is not allowed "
                "(allowed: months strictly increasing, starting at 0 for the baseline visit)"
            )
    endpoint = s.get("endpoint_month")
    endpoint = dxa[-1] if endpoint is None else endpoint
    if endpoint not in dxa[1:]:
        raise InputError(
            f"config key 'trial.schedule.endpoint_month': value {endpoint} is not a scan "
            f"(allowed: one of trial.schedule.dxa_months after baseline, {list(dxa[1:])})"
        )
    return visits, dxa, endpoint


def _ratio(arm: dict, key: str, n_visits: int, where: str) -> tuple[float, ...] | None:
    value = arm.get(key)
    if value is None:
        return None
    if len(value) != n_visits:
        raise InputError(
            f"config key '{where}.{key}': value {list(value)} has {len(value)} ratios (allowed: one per "
            f"post-baseline hormone visit of trial.schedule.visits_months, {n_visits})"
        )
    return tuple(float(x) for x in value)


def _default_ratios(hormones: dict, visits: tuple[int, ...]) -> tuple[tuple, tuple]:
    """Anastrozole ratios of ``hormones.*`` (months 3, 6, 12) at the post-baseline ``visits``.

    Each visit takes the ratio of the nearest of months 3, 6 and 12 (the later
    on a tie): the 2009 ratios are about stable from month 3 on.
    """
    known = (3, 6, 12)

    def at(month: int) -> int:
        return min(range(3), key=lambda k: (abs(known[k] - month), -k))

    idx = [at(m) for m in visits[1:]]
    return (
        tuple(float(hormones["testosterone_ratio"][k]) for k in idx),
        tuple(float(hormones["estradiol_ratio"][k]) for k in idx),
    )


def _arms(cfg: dict, visits: tuple[int, ...], hip: dict | None) -> tuple[tuple[Arm, ...], int]:
    trial, eff = cfg["trial"], cfg["effects"]
    mediated = eff["mode"] == "estradiol_mediated"
    items = trial.get("arms")
    if items is None:
        control = trial.get("control")
        if control not in (None, "placebo"):
            raise InputError(
                f"config key 'trial.control': value {control!r} is not an arm (allowed without "
                "trial.arms: placebo, the control of the two-arm design; give trial.arms for others)"
            )
        t_ratio, e_ratio = _default_ratios(cfg["hormones"], visits)
        diff = 0.0 if mediated else float(eff["difference_pct"])
        hip_diff = 0.0 if (hip is None or mediated) else float(hip["difference_pct"])
        d = cfg["dropout"]
        return (
            Arm("placebo", 1.0, float(d["placebo"]), 0.0, None, None),
            Arm("anastrozole", float(trial["allocation_ratio"]), float(d["anastrozole"]), diff,
                t_ratio, e_ratio, hip_diff),
        ), 0  # fmt: skip
    names = [a["name"] for a in items]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise InputError(
                f"config key 'trial.arms[{i}].name': value {name!r} is used twice (allowed: distinct arm names)"
            )
    control_name = trial.get("control") or names[0]
    if control_name not in names:
        raise InputError(
            f"config key 'trial.control': value {control_name!r} is not an arm (allowed: one of "
            f"{', '.join(names)})"
        )
    control = names.index(control_name)
    arms = []
    for i, a in enumerate(items):
        where = f"trial.arms[{i}]"
        if mediated and "difference_pct" in a:
            raise InputError(
                f"config key '{where}.difference_pct': value {a['difference_pct']!r} is not used in "
                "effects.mode estradiol_mediated (allowed: leave it out; the arm's estradiol_ratio and "
                "effects.estradiol_slope_pct_per_pg_ml imply its effect)"
            )
        if "hip_difference_pct" in a and (hip is None or mediated):
            why = (
                "effects.hip is not set" if hip is None else "effects.mode is estradiol_mediated (hip slope)"
            )
            raise InputError(
                f"config key '{where}.hip_difference_pct': value {a['hip_difference_pct']!r} is not used "
                f"because {why} (allowed: leave it out)"
            )
        for key in ("difference_pct", "hip_difference_pct"):
            if i == control and a.get(key, 0.0) != 0:
                raise InputError(
                    f"config key '{where}.{key}': value {a[key]!r} is given for the control arm "
                    f"{a['name']!r} (allowed: 0 or left out; differences are relative to the control)"
                )
        n_visits = len(visits) - 1
        arms.append(
            Arm(
                a["name"],
                float(a.get("allocation", 1.0)),
                float(a.get("dropout", 0.0)),
                float(a.get("difference_pct", 0.0)),
                _ratio(a, "testosterone_ratio", n_visits, where),
                _ratio(a, "estradiol_ratio", n_visits, where),
                float(a.get("hip_difference_pct", 0.0)),
            )
        )
    return tuple(arms), control


def _comparisons(arms, control: int, kind: str) -> list[tuple[int, int]]:
    pairs = [(k, control) for k in range(len(arms)) if k != control]
    if kind == "all_pairs":
        pairs += [(i, j) for i, j in itertools.combinations(range(len(arms)), 2) if control not in (i, j)]
    return pairs


def arm_sizes(cfg: dict, arms: tuple[Arm, ...], control: int) -> tuple[int, ...]:
    """Men randomized per arm: ``round(n_per_arm * allocation / control allocation)``, at least 2 each."""
    n_c = cfg["trial"]["n_per_arm"]
    w_c = arms[control].allocation
    sizes = tuple(n_c if k == control else int(round(n_c * a.allocation / w_c)) for k, a in enumerate(arms))
    for k, (arm, n) in enumerate(zip(arms, sizes, strict=True)):
        if n < 2:
            key = f"trial.arms[{k}].allocation" if cfg["trial"].get("arms") else "trial.allocation_ratio"
            raise InputError(
                f"config key '{key}': value {arm.allocation!r} leaves {n} men on {arm.name} with "
                f"trial.n_per_arm = {n_c} (allowed: at least 2 per arm, to estimate a variance)"
            )
    return sizes


def allocation_shares(design: Design) -> tuple[Fraction, ...]:
    """Each arm's share of a randomization block (exact fractions of the allocation weights).

    Examples
    --------
    >>> from vtrial.config import default_config
    >>> [str(s) for s in allocation_shares(design_of(default_config()))]
    ['1/2', '1/2']
    """
    weights = [Fraction(a.allocation).limit_denominator(1000) for a in design.arms]
    total = sum(weights)
    return tuple(w / total for w in weights)


def design_of(cfg: dict) -> Design:
    """The :class:`Design` of a (schema-valid) config; the two-arm design when no new keys are set.

    Raises :class:`InputError` (one line naming the key) for the cross-key
    rules of the design keys; :func:`validate_design` adds the rules on the
    effects.

    Examples
    --------
    >>> from vtrial.config import default_config
    >>> d = design_of(default_config())
    >>> d.names, d.labels, d.scan_months, d.sizes
    (('placebo', 'anastrozole'), ('anastrozole-placebo',), (6, 12), (44, 44))
    """
    visits, dxa, endpoint = _schedule(cfg["trial"])
    hip = hip_config(cfg)
    arms, control = _arms(cfg, visits, hip)
    a = cfg["analysis"]
    kind = a.get("comparisons") or "vs_control"
    pairs = _comparisons(arms, control, kind)
    labels = tuple(f"{arms[i].name}-{arms[j].name}" for i, j in pairs)
    method = a.get("multiplicity") or "none"
    rule = a.get("endpoint_rule") or "primary"
    order = None
    if (method, kind, rule) != ("none", "vs_control", "primary") or a.get("multiplicity_order") is not None:
        from vtrial.multiplicity import validate_analysis  # imports scipy: only when needed

        order = validate_analysis(a, comparisons=labels)["order"]
    if rule != "primary" and hip is None:
        raise InputError(
            f"config key 'analysis.endpoint_rule': value {rule!r} needs a second endpoint "
            "(allowed without effects.hip: primary)"
        )
    return Design(
        arms=arms,
        control=control,
        visits_months=visits,
        dxa_months=dxa,
        endpoint_month=endpoint,
        endpoints=("spine", "hip") if hip is not None else ("spine",),
        comparisons=tuple(pairs),
        labels=labels,
        multiplicity=method,
        endpoint_rule=rule,
        population=population(cfg),
        sizes=arm_sizes(cfg, arms, control),
        comparison_kind=kind,
        multiplicity_order=order,
    )


# --------------------------------------------------------------------------- validation


def validate_design(cfg: dict) -> None:
    """Check the design keys across the config; :class:`InputError` naming the key otherwise.

    Called by :func:`vtrial.config.validate_config` after the schema, in place
    of the two-arm checks when a design key is set (see :func:`is_default`).
    Beyond :func:`design_of`: blocks that hold the allocation exactly; each
    arm's mean change in [-50, 50]% and 6 SDs above -100%; in
    estradiol-mediated mode an estradiol ratio at or before the endpoint and a
    slope whose variance fits every arm; MAR dropout needs a scan before the
    endpoint; ``dropout.visit_probs`` only with the default schedule; the hip
    endpoint's SD above its DXA error, its baseline 6 SDs above zero, and its
    correlations possible.

    Examples
    --------
    >>> from vtrial.config import default_config
    >>> cfg = default_config()
    >>> cfg["trial"]["arms"] = [{"name": "placebo"}, {"name": "placebo"}]
    >>> validate_design(cfg)
    Traceback (most recent call last):
    ...
    vtrial.errors.InputError: config key 'trial.arms[1].name': value 'placebo' is used twice (allowed: distinct arm names)
    """
    design = design_of(cfg)
    if is_default(cfg):
        return
    _check_blocks(cfg, design)
    _check_dropout(cfg, design)
    means = _check_means(cfg, design)
    hip = hip_config(cfg)
    if hip is not None:
        _check_hip(cfg, hip, design, means)


def _check_blocks(cfg: dict, design: Design) -> None:
    trial = cfg["trial"]
    if trial["randomization"] == "simple":
        return
    unit = math.lcm(*(s.denominator for s in allocation_shares(design)))
    if any(b % unit for b in trial["block_sizes"]):
        weights = ":".join(f"{a.allocation:g}" for a in design.arms)
        raise InputError(
            f"config key 'trial.block_sizes': value {list(trial['block_sizes'])} cannot hold the "
            f"allocation {weights} exactly (allowed: multiples of {unit}, or trial.randomization: simple)"
        )


def _check_dropout(cfg: dict, design: Design) -> None:
    d = cfg["dropout"]
    default_schedule = (design.visits_months, design.dxa_months, design.endpoint_month) == (
        DEFAULT_VISITS, DEFAULT_DXA, DEFAULT_ENDPOINT,
    )  # fmt: skip
    if not default_schedule and list(d["visit_probs"]) != DEFAULT_VISIT_PROBS:
        raise InputError(
            f"config key 'dropout.visit_probs': value {list(d['visit_probs'])} applies to the visits at "
            "months 3, 6, 12 only (allowed with trial.schedule: the default; dropout times are then "
            "uniform over follow-up)"
        )
    if d["mechanism"] == "MAR" and d["strength"] != 0 and design.endpoint_scan == 0:
        raise InputError(
            f"config key 'dropout.mechanism': value 'MAR' needs a scan between baseline and the endpoint "
            f"month {design.endpoint_month} (allowed here: MCAR or MNAR; MAR dropout is driven by the last "
            "observed change)"
        )


def estradiol_change_moments(cfg: dict, ratio: float) -> tuple[float, float]:
    """Mean and variance (pg/mL, (pg/mL)^2) of a man's true estradiol change at ratio ``ratio``.

    ``dE2 = E2 * (r * R - 1)`` with ``R`` lognormal of mean one, as
    :func:`vtrial.config._check_slope`, over the eligible men of the effective
    cohort (fixed-seed screening draw).
    """
    from vtrial.config import _screening

    _, _, m1, m2 = _screening(json.dumps(effective_cohort(cfg), sort_keys=True))
    s = cfg["hormones"]["estradiol_response_log_sd"]
    mean = m1 * (ratio - 1)
    var = max(m2 * (ratio * ratio * math.exp(s * s) - 2 * ratio + 1) - mean**2, 0.0)
    return mean, var


def endpoint_ratio_index(design: Design) -> int | None:
    """Index (into the post-baseline hormone visits) of the last visit not after the endpoint."""
    before = [k for k, m in enumerate(design.visits_months[1:]) if m <= design.endpoint_month]
    return before[-1] if before else None


def _check_means(cfg: dict, design: Design) -> list[float]:
    """Each arm's mean spine change: in [-50, 50]% and 6 SDs above -100%; mediated slopes fit."""
    eff = cfg["effects"]
    placebo, sd = eff["placebo_pct_change"], eff["sd_pct_change"]
    mediated = eff["mode"] == "estradiol_mediated"
    means = []
    for k, arm in enumerate(design.arms):
        if mediated:
            slope = eff["estradiol_slope_pct_per_pg_ml"]
            cv = cfg["measurement"]["bmd_cv_pct"]
            mean = placebo + _mediated_shift(
                cfg, design, k, slope, "effects.estradiol_slope_pct_per_pg_ml", sd, cv
            )
            mean += eff["direct_pct"] * (k != design.control)
        else:
            mean = placebo + arm.difference_pct
        _check_mean(cfg, design, k, mean, sd, "spine", mediated)
        means.append(mean)
    return means


def _mediated_shift(cfg: dict, design: Design, k: int, slope: float, key: str, sd: float, cv: float) -> float:
    arm = design.arms[k]
    if arm.estradiol_ratio is None:
        return 0.0
    idx = endpoint_ratio_index(design)
    if idx is None:
        raise InputError(
            f"config key 'trial.schedule.visits_months': value {list(design.visits_months)} has no hormone "
            f"visit between baseline and the endpoint month {design.endpoint_month} (allowed in "
            "estradiol_mediated mode: at least one, whose estradiol ratio drives the BMD change)"
        )
    mean, var = estradiol_change_moments(cfg, arm.estradiol_ratio[idx])
    var_true = sd**2 - 2 * cv**2
    if slope**2 * var >= var_true:
        raise InputError(
            f"config key '{key}': value {slope!r} makes estradiol alone vary the % change in arm "
            f"{arm.name!r} by SD {abs(slope) * math.sqrt(var):.2f} (allowed: below the true-change SD "
            f"{math.sqrt(var_true):.2f} of that endpoint)"
        )
    return slope * mean


def _check_mean(cfg, design: Design, k: int, mean: float, sd: float, endpoint: str, mediated: bool):
    arm = design.arms[k]
    prefix = "effects." if endpoint == "spine" else "effects.hip."
    if mediated:
        key = f"{prefix}estradiol_slope_pct_per_pg_ml"
    elif cfg["trial"].get("arms") is not None:
        key = f"trial.arms[{k}].{'difference_pct' if endpoint == 'spine' else 'hip_difference_pct'}"
    else:
        key = f"{prefix}difference_pct"
    if key.startswith("trial."):
        value = arm.difference_pct if endpoint == "spine" else arm.hip_difference_pct
    else:
        value = (
            cfg["effects"][key.split(".")[-1]] if endpoint == "spine" else hip_config(cfg)[key.split(".")[-1]]
        )
    if not -50 <= mean <= 50:
        raise InputError(
            f"config key '{key}': value {value!r} makes the mean {endpoint} change of arm {arm.name} "
            f"{mean:.3g}% (allowed: arm means from -50 to 50)"
        )
    if mean - 6 * sd <= -100:
        raise InputError(
            f"config key '{key}': value {value!r} makes the mean {endpoint} change of arm {arm.name} "
            f"{mean:.3g}% with SD {sd:g}, so BMD turns negative for some men (allowed: mean - 6 x SD > -100%)"
        )


def _check_hip(cfg: dict, hip: dict, design: Design, spine_means: list[float]) -> None:
    sd, cv = hip["sd_pct_change"], hip["bmd_cv_pct"]
    if sd**2 <= 2 * cv**2:
        raise InputError(
            f"config key 'effects.hip.sd_pct_change': value {sd!r} must exceed sqrt(2) x "
            f"effects.hip.bmd_cv_pct = {2**0.5 * cv:.3f} (two DXA scans alone give that SD)"
        )
    if hip["baseline_mean_g_cm2"] < 6 * hip["baseline_sd_g_cm2"]:
        raise InputError(
            f"config key 'effects.hip.baseline_sd_g_cm2': value {hip['baseline_sd_g_cm2']!r} is too large "
            f"for effects.hip.baseline_mean_g_cm2 = {hip['baseline_mean_g_cm2']!r} (allowed: mean >= 6 SDs)"
        )
    latent_corr(cfg, hip)  # raises when the correlations are impossible
    mediated = cfg["effects"]["mode"] == "estradiol_mediated"
    for k, arm in enumerate(design.arms):
        if mediated:
            slope = hip["estradiol_slope_pct_per_pg_ml"]
            mean = hip["placebo_pct_change"] + _mediated_shift(
                cfg, design, k, slope, "effects.hip.estradiol_slope_pct_per_pg_ml", sd, cv
            )
        else:
            mean = hip["placebo_pct_change"] + arm.hip_difference_pct
        _check_mean(cfg, design, k, mean, sd, "hip", mediated)


def latent_corr(cfg: dict, hip: dict) -> float:
    """Correlation of the spine and hip change parts unexplained by baseline (direct-mode scale).

    ``effects.hip.corr_change_spine`` is the correlation of the observed
    endpoint % changes within an arm (direct mode). The DXA errors of the two
    sites are independent, so the true changes have correlation
    ``r_true = r_obs * sd_s * sd_h / (s_D * s_H)``; with ``rho_s``, ``rho_h``
    the baseline-change correlations and ``r_b`` the baseline correlation,
    ``r_true = rho_s rho_h r_b + sqrt(1 - rho_s^2) sqrt(1 - rho_h^2) c`` gives
    the correlation ``c`` of the parts not explained by baseline.

    Examples
    --------
    >>> from vtrial.config import default_config
    >>> cfg = default_config()
    >>> cfg["effects"]["hip"] = {"corr_change_spine": 0.0, "corr_baseline_spine": 0.0}
    >>> latent_corr(cfg, hip_config(cfg))
    0.0
    """
    eff, cv_s = cfg["effects"], cfg["measurement"]["bmd_cv_pct"]
    sd_s, sd_h, cv_h = eff["sd_pct_change"], hip["sd_pct_change"], hip["bmd_cv_pct"]
    s_d = math.sqrt(sd_s**2 - 2 * cv_s**2)
    s_h = math.sqrt(sd_h**2 - 2 * cv_h**2)
    r_obs = hip["corr_change_spine"]
    r_true = r_obs * sd_s * sd_h / (s_d * s_h)
    rho_s, rho_h, r_b = eff["baseline_corr"], hip["baseline_corr"], hip["corr_baseline_spine"]
    c = (r_true - rho_s * rho_h * r_b) / math.sqrt((1 - rho_s**2) * (1 - rho_h**2))
    if abs(r_true) >= 1 or abs(c) >= 1:
        raise InputError(
            f"config key 'effects.hip.corr_change_spine': value {r_obs!r} is not possible with these "
            f"SDs, DXA errors and baseline correlations (implied correlation of the true changes "
            f"{r_true:.3f}, of their parts unexplained by baseline {c:.3f}; allowed: both inside (-1, 1))"
        )
    return c
