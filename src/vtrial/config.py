"""Load, override, validate and expand vtrial study configurations.

A configuration is a plain nested ``dict`` read from YAML. It is validated
against the JSON Schema shipped in the package (``data/config.schema.yaml``: the
file the Snakemake workflow validates with, and the source of the option tables
of ``config/README.md``), then against rules across keys that a schema cannot
express. Every failure raises :class:`vtrial.errors.InputError` with one line (at
most :data:`MAX_MESSAGE` characters) naming the key, the value and what is
allowed.

Beyond the schema, validation

* refuses NaN and infinity anywhere (also inside lists, the grid and the
  sensitivity ranges): a NaN passes every ``minimum``/``maximum`` comparison;
* turns integral floats into integers where the schema asks for an integer
  (``trial.n_per_arm: 44.0`` becomes ``44``, in place, also in grid values);
  a non-integral float there is refused with the key's name;
* checks the rules across keys (correlations positive definite, eligibility
  reachable, probabilities summing to 1, BMD kept positive, analyses that can
  run), each in milliseconds: see :func:`validate_config`.

YAML files are read with libyaml's C loader where installed; duplicate keys and
aliases are refused (an alias can blow a few hundred bytes up into gigabytes),
and so are files that are not UTF-8 text or hold no mapping. The schema and the
packaged default are parsed once per process.

A *scenario* is one fully specified configuration (one point of ``grid``),
identified by a short stable hash of the parameters that generate data.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import itertools
import json
import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from vtrial.errors import InputError
from vtrial.keys import check_variable_key

if TYPE_CHECKING:
    import jsonschema

#: Config sections that change the simulated data (and so the scenario id).
#: ``sequential`` and ``prior`` are left out on purpose: interim looks analyse
#: the same simulated men as the final analysis, and a design prior only
#: matters to assurance, so adding either section keeps every scenario's random
#: streams (a plain ``vtrial power`` run gives the same numbers with or without
#: them, and a fixed and a sequential design share common random numbers).
DATA_SECTIONS = ("trial", "cohort", "hormones", "effects", "measurement", "dropout")


#: Longest error message (characters); longer values are elided.
MAX_MESSAGE = 300

#: Largest config file read (bytes); a real config is a few kilobytes.
MAX_FILE_BYTES = 1_000_000

#: Smallest eligible share of screened men: below it the screening loop draws
#: more than 200 candidates per man enrolled.
MIN_ELIGIBLE_RATE = 0.005

#: Screened men drawn (fixed seed) to check eligibility and estradiol moments.
ELIGIBILITY_DRAW = 20_000

#: BMD must stay this many SDs above zero (probability below 1e-9 per man).
BMD_SDS = 6

_LOADER_BASE = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


# --------------------------------------------------------------------------- YAML


class _DuplicateKey(Exception):
    def __init__(self, path: list, line: int, first: int):
        super().__init__(path, line, first)
        self.path, self.line, self.first = path, line, first


class _StrictLoader(_LOADER_BASE):  # type: ignore[valid-type, misc]
    """Safe YAML loader (libyaml's C parser where installed) that refuses duplicate keys."""

    def construct_document(self, node):
        self._root = node  # to name the dotted path of a duplicate key
        return super().construct_document(node)

    def construct_mapping(self, node, deep=False):
        self.flatten_mapping(node)
        first: dict = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            try:
                seen = first.get(key)
            except TypeError:
                continue  # unhashable key: SafeConstructor reports it
            if seen is not None:
                raise _DuplicateKey([*_node_path(self._root, node), key], line, seen)
            first[key] = line
        return super().construct_mapping(node, deep=deep)


def _node_path(root: yaml.Node, target: yaml.Node) -> list:
    """Keys leading from ``root`` to ``target`` in a composed YAML document."""
    stack = [(root, [])]
    while stack:
        node, path = stack.pop()
        if node is target:
            return path
        if isinstance(node, yaml.MappingNode):
            stack.extend((v, [*path, getattr(k, "value", "?")]) for k, v in node.value)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((v, [*path, i]) for i, v in enumerate(node.value))
    return []


def _load_yaml(text: str, source: str) -> Any:
    """Parse YAML text; ``source`` names it in the one-line :class:`InputError`."""
    try:
        if "*" in text:  # only then can there be an alias
            for event in yaml.parse(text, Loader=_LOADER_BASE):
                if isinstance(event, yaml.AliasEvent):
                    raise InputError(
                        f"{source}, line {event.start_mark.line + 1}: YAML alias '*{_elide(event.anchor)}' is "
                        "not allowed (write the value out; aliases can expand a few bytes into gigabytes)"
                    )
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except _DuplicateKey as dup:
        raise InputError(
            f"{source}, line {dup.line}: key '{_elide(_key(dup.path))}' appears twice (first at line "
            f"{dup.first}; allowed: each key once, or the later one would silently win)"
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or getattr(exc, "reason", None)
        raise InputError(
            _one_line(f"{source} is not valid YAML{at}" + (f" ({problem})" if problem else ""))
        ) from None


@functools.cache
def _package_yaml(name: str) -> Any:
    text = resources.files("vtrial").joinpath("data", name).read_text(encoding="utf-8")
    return _load_yaml(text, f"packaged file '{name}'")


def default_config() -> dict:
    """Return the packaged default configuration (the 2009 trial), a fresh copy."""
    return copy.deepcopy(_package_yaml("default_config.yaml"))


def schema() -> dict:
    """Return the JSON Schema that every configuration must satisfy (a fresh copy)."""
    return copy.deepcopy(_package_yaml("config.schema.yaml"))


def read_yaml_file(path: str | Path) -> Any:
    """Read a YAML file; anything but readable UTF-8 YAML raises a one-line :class:`InputError`.

    Refused: a missing file or a folder, more than :data:`MAX_FILE_BYTES`, a
    binary file (NUL bytes), text that is not UTF-8, invalid YAML, duplicate
    keys and aliases.
    """
    path = Path(path)
    where = f"config file '{_elide(str(path))}'"
    if not path.is_file():
        what = "is a folder" if path.is_dir() else "does not exist"
        raise InputError(f"{where} {what} (expected a YAML file)")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{where} cannot be read ({exc.strerror})") from None
    if len(data) > MAX_FILE_BYTES:
        raise InputError(
            f"{where} has {len(data):,} bytes (allowed: at most {MAX_FILE_BYTES:,}; a config is a few kB)"
        )
    if b"\0" in data:
        raise InputError(f"{where} is a binary file (allowed: YAML text in UTF-8)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{where} is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}; "
            "allowed: YAML in UTF-8)"
        ) from None
    return _load_yaml(text, where)


def get_key(cfg: dict, dotted: str) -> Any:
    """Value at a dotted key such as ``"trial.n_per_arm"``; :class:`InputError` if absent."""
    node: Any = cfg
    for i, part in enumerate(dotted.split(".")):
        if not isinstance(node, dict) or part not in node:
            known = ", ".join(sorted(node)) if isinstance(node, dict) else "none"
            prefix = ".".join(dotted.split(".")[:i]) or "top level"
            raise InputError(
                _one_line(
                    f"config key '{_elide(dotted)}' does not exist: '{_elide(part)}' is not a key of "
                    f"{_elide(prefix)} (allowed: {known})"
                )
            )
        node = node[part]
    return node


def set_key(cfg: dict, dotted: str, value: Any) -> dict:
    """Return a copy of ``cfg`` with the dotted key set to ``value``.

    The key must already exist, or be a key of the schema (the optional
    sections ``sequential`` and ``prior`` and their keys, created as needed);
    keys under ``grid`` are free. So a typo is caught here with the list of
    allowed names.

    Examples
    --------
    >>> set_key(default_config(), "sequential.alpha", 0.05)["sequential"]
    {'alpha': 0.05}
    """
    out = copy.deepcopy(cfg)
    parts = dotted.split(".")
    if parts[0] == "grid" and len(parts) >= 2:
        out.setdefault("grid", {})[".".join(parts[1:])] = value
        return out
    try:
        get_key(out, dotted)
    except InputError:
        if not _in_schema(parts):
            raise  # with the allowed names
    node = out
    for part in parts[:-1]:
        if not isinstance(node.get(part), dict):
            node[part] = {}  # an absent (or null) optional section
        node = node[part]
    node[parts[-1]] = value
    return out


def _in_schema(parts: list[str]) -> bool:
    """Whether the schema names this key path (mappings all the way down)."""
    node: dict = _package_yaml("config.schema.yaml")
    for part in parts:
        # An optional section is "null or a mapping": look into its mapping branch.
        node = next((b for b in node.get("anyOf", ()) if "properties" in b), node)
        node = _resolve(node.get("properties", {}).get(part, {}))
        if not node:
            return False
    return True


def parse_override(text: str) -> tuple[str, Any]:
    """Split ``"key=value"``, parsing the value as a YAML scalar or flow list.

    Examples
    --------
    >>> parse_override("trial.n_per_arm=60")
    ('trial.n_per_arm', 60)
    >>> parse_override("dropout.mechanism=MNAR")
    ('dropout.mechanism', 'MNAR')
    """
    if "=" not in text:
        raise InputError(f"--set {_elide(text)!r} is not KEY=VALUE (e.g. trial.n_per_arm=60)")
    key, raw = text.split("=", 1)
    key = key.strip()
    value = _load_yaml(raw, f"--set {_elide(key)}: value {_elide(raw)!r}") if raw.strip() else None
    return key, value


# --------------------------------------------------------------------------- messages


def _elide(text: str, limit: int = 60) -> str:
    """``text`` cut to about ``limit`` characters, keeping its start and end."""
    return text if len(text) <= limit else f"{text[: limit - 20]} ... {text[-12:]}"


def _show(value: Any) -> str:
    """A value for a message: its repr, elided when long."""
    return _elide(repr(value))


def _one_line(message: str) -> str:
    """One line of at most :data:`MAX_MESSAGE` characters."""
    message = " ".join(message.split())
    return message if len(message) <= MAX_MESSAGE else message[: MAX_MESSAGE - 4] + " ..."


def _key(path) -> str:
    """Dotted key of a path of names and list indices: ``dropout.visit_probs[0]``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _number(x: float) -> str:
    if isinstance(x, int) and abs(x) >= 10_000:
        return f"{x:,}"
    return f"{x:g}" if isinstance(x, float) else str(x)


def describe_allowed(sub: dict) -> str:
    """What a schema node allows, in words (used in error messages and config/README.md).

    Examples
    --------
    >>> describe_allowed({"type": "integer", "minimum": 2, "maximum": 1000000})
    'integer 2 to 1,000,000'
    >>> describe_allowed({"type": "number", "exclusiveMinimum": 0, "maximum": 30})
    'number > 0, <= 30'
    >>> describe_allowed({"type": "array", "minItems": 3, "maxItems": 3, "items": {"type": "number"}})
    'list of 3 (number)'
    """
    sub = _resolve(sub)
    if "enum" in sub:
        return "one of " + ", ".join(map(str, sub["enum"]))
    if "anyOf" in sub:
        return " or ".join(describe_allowed(b) for b in sub["anyOf"])
    kind = sub.get("type")
    if isinstance(kind, list):
        return " or ".join(describe_allowed({**sub, "type": k}) for k in kind)
    if kind == "null":
        return "null"
    if kind == "boolean":
        return "true or false"
    if kind == "string":
        return "text"
    if kind == "object" and "properties" in sub:
        return "mapping with keys " + ", ".join(sub["properties"])
    if kind == "object":
        return "mapping of dotted config keys to lists of values"
    if kind == "array":
        lo, hi = sub.get("minItems"), sub.get("maxItems")
        if lo is not None and hi is not None:
            count = f"{lo} " if lo == hi else f"{lo} to {hi} "
        else:
            count = f"{lo} or more " if lo else ""
        if "items" not in sub:
            return f"list of {count}values"
        items = f"({describe_allowed(sub['items'])})"
        return f"list of {count}{items}" if count else f"list {items}"
    if kind in ("integer", "number"):
        lo, hi = sub.get("minimum"), sub.get("maximum")
        if lo is not None and hi is not None:
            return f"{kind} {_number(lo)} to {_number(hi)}"
        bounds = [
            f"{op} {_number(sub[name])}"
            for name, op in (
                ("minimum", ">="),
                ("exclusiveMinimum", ">"),
                ("maximum", "<="),
                ("exclusiveMaximum", "<"),
            )
            if name in sub
        ]
        return f"{kind} {', '.join(bounds)}" if bounds else kind
    return "any value"


def _resolve(sub: dict) -> dict:
    """Follow a local ``$ref`` of the package schema."""
    ref = sub.get("$ref")
    if ref is None:
        return sub
    node: Any = _package_yaml("config.schema.yaml")
    for part in ref.lstrip("#/").split("/"):
        node = node[part]
    return _resolve(node)


def _key_schema(path) -> dict:
    """Schema node of the config key at ``path`` (list indices stay on the list's node)."""
    node: dict = _package_yaml("config.schema.yaml")
    for part in path:
        if isinstance(part, int):
            continue
        props = node.get("properties", {})
        extra = node.get("additionalProperties")
        node = _resolve(props.get(part) or (extra if isinstance(extra, dict) else {}))
    return node


def _why(path) -> str:
    reason = _key_schema(path).get("x-why")
    return f"; {reason}" if reason else ""


def _describe(error: jsonschema.ValidationError) -> str:
    """One readable sentence for a schema violation: key, value, what is allowed and why."""
    path = list(error.absolute_path)
    key = _key(path)
    value = error.instance
    v = error.validator
    arg = error.validator_value
    shown = _show(value)
    if v == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(set(value) - set(allowed))
        where = key if path else "top level"
        full = _key([*path, extra[0]]) if extra else where
        return f"config key '{_elide(full)}' is not known (allowed in {where}: {', '.join(allowed)})"
    if v == "required":
        missing = [k for k in arg if k not in value]
        return f"config key '{_key([*path, missing[0]])}' is missing (it is required)"
    if v == "enum":
        return f"config key '{key}': value {shown} is not allowed (allowed: {', '.join(map(str, arg))})"
    if v == "type":
        note = "; integral floats such as 44.0 count as integers" if arg == "integer" else ""
        return f"config key '{key}': value {shown} has the wrong type (allowed: {describe_allowed(error.schema)}{note})"
    if v in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "anyOf"):
        return f"config key '{key}': value {shown} is out of range (allowed: {describe_allowed(error.schema)}{_why(path)})"
    if v in ("minItems", "maxItems"):
        return f"config key '{key}': value {shown} has the wrong length (allowed: {describe_allowed(error.schema)})"
    return f"config key '{key}': value {shown} is not allowed ({error.message})"


# --------------------------------------------------------------------------- normalization


def _check_finite(node: Any, path: tuple = ()) -> None:
    """Refuse NaN and infinity anywhere: they pass every range comparison of the schema."""
    if isinstance(node, float):
        if not math.isfinite(node):
            raise InputError(
                f"config key '{_key(path)}': value {node!r} is not allowed (allowed: finite numbers; "
                "NaN or infinity would pass every range check and poison the simulation)"
            )
    elif isinstance(node, dict):
        for k, v in node.items():
            _check_finite(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            _check_finite(v, (*path, i))


def _wants_integer(sub: dict) -> bool:
    sub = _resolve(sub)
    return sub.get("type") == "integer" or any(
        _resolve(b).get("type") == "integer" for b in sub.get("anyOf", ())
    )


def _integral_floats(node: Any, sub: dict) -> Any:
    """``node`` with integral floats turned into ints where ``sub`` wants an integer (in place)."""
    sub = _resolve(sub)
    if isinstance(node, float) and node.is_integer() and _wants_integer(sub):
        return int(node)
    if isinstance(node, dict):
        props, extra = sub.get("properties", {}), sub.get("additionalProperties")
        for k, v in node.items():
            child = props.get(k, extra if isinstance(extra, dict) else None)
            if child is not None:
                node[k] = _integral_floats(v, child)
    elif isinstance(node, list) and isinstance(sub.get("items"), dict):
        for i, v in enumerate(node):
            node[i] = _integral_floats(v, sub["items"])
    return node


@functools.cache
def _validator():
    import jsonschema  # 50 ms: only when a config is validated

    return jsonschema.Draft202012Validator(_package_yaml("config.schema.yaml"))


# --------------------------------------------------------------------------- rules across keys


def _check_rules(cfg: dict) -> None:
    """Rules across keys that the JSON Schema cannot state (all fast)."""
    probs = cfg["dropout"]["visit_probs"]
    if abs(sum(probs) - 1.0) > 1e-9:
        raise InputError(
            f"config key 'dropout.visit_probs': value {_show(probs)} sums to {sum(probs):g} "
            "(allowed: three probabilities summing to 1, one visit is the first missed)"
        )
    cuts = cfg["trial"]["strata_cutoffs"]
    if any(b <= a for a, b in itertools.pairwise(cuts)):
        raise InputError(
            f"config key 'trial.strata_cutoffs': value {_show(cuts)} is not allowed "
            "(allowed: strictly increasing numbers; a repeated cutoff makes an empty stratum)"
        )
    elig = cfg["cohort"]["eligibility"]
    for name in ("testosterone_single_ng_dl", "testosterone_two_consecutive_ng_dl"):
        lo, hi = elig[name]
        if not lo < hi:
            raise InputError(
                f"config key 'cohort.eligibility.{name}': value {[lo, hi]} is not allowed "
                "(allowed: [low, high] with low < high; an empty window enrolls nobody)"
            )
    from vtrial.design import is_default, validate_design

    validate_design(cfg)  # arms, schedule, hip, population and the comparison keys
    default = is_default(cfg)
    if default:  # otherwise validate_design checked the arms and their effects
        _check_arms(cfg["trial"])
    _check_measurement(cfg)
    _check_analyses(cfg)
    c = cfg["cohort"]
    if c["bmd_mean_g_cm2"] < BMD_SDS * c["bmd_sd_g_cm2"]:
        raise InputError(
            f"config key 'cohort.bmd_sd_g_cm2': value {c['bmd_sd_g_cm2']!r} is too large for "
            f"cohort.bmd_mean_g_cm2 = {c['bmd_mean_g_cm2']!r} (allowed: mean >= {BMD_SDS} SDs, "
            "so that no simulated baseline BMD is negative)"
        )
    _check_cohort(cfg)
    if default:
        _check_effects(cfg)


def _check_arms(trial: dict) -> None:
    """At least 2 men on anastrozole, and permuted blocks that hold the allocation exactly."""
    from fractions import Fraction

    n_p = trial["n_per_arm"]
    n_a = round(n_p * trial["allocation_ratio"])
    if n_a < 2:
        raise InputError(
            f"config key 'trial.allocation_ratio': value {trial['allocation_ratio']!r} leaves {n_a} men "
            f"on anastrozole with trial.n_per_arm = {n_p} (allowed: at least 2, to estimate a variance)"
        )
    unit = Fraction(n_a, n_p + n_a).denominator
    if trial["randomization"] != "simple" and any(b % unit for b in trial["block_sizes"]):
        raise InputError(
            f"config key 'trial.block_sizes': value {_show(trial['block_sizes'])} cannot hold "
            f"anastrozole:placebo = {n_a}:{n_p} exactly (allowed: multiples of {unit}, "
            "or trial.randomization: simple)"
        )


def _check_measurement(cfg: dict) -> None:
    sd = cfg["effects"]["sd_pct_change"]
    cv = cfg["measurement"]["bmd_cv_pct"]
    if sd**2 <= 2 * cv**2:
        raise InputError(
            f"config key 'effects.sd_pct_change': value {sd!r} must exceed sqrt(2) x "
            f"measurement.bmd_cv_pct = {2**0.5 * cv:.3f} (two DXA scans alone give that SD)"
        )
    if cv == 0 and "mmrm" in _methods(cfg):
        raise InputError(
            "config key 'measurement.bmd_cv_pct': value 0 is not allowed with mmrm among the methods "
            "(allowed: > 0; without scan error the month-6 change is month6_fraction x the month-12 "
            "one and the MMRM covariance is singular)"
        )


def _methods(cfg: dict) -> list[str]:
    """Methods that the commands and the workflow's power stages run."""
    return [*cfg["analysis"]["methods"], *(cfg.get("pipeline") or {}).get("power_methods", [])]


def _check_analyses(cfg: dict) -> None:
    """Refuse a missing-data strategy that none of a method list accepts, as ``vtrial analyze`` does.

    Every method accepts ``complete_case`` (the default), so only another
    strategy needs the analysis registry (and its pandas import).
    """
    missing = cfg["analysis"]["missing"]
    if missing == "complete_case":
        return
    from vtrial.analysis import ALLOWED_MISSING

    lists = [("analysis.methods", cfg["analysis"]["methods"])]
    power = (cfg.get("pipeline") or {}).get("power_methods") or []
    if power:
        lists.append(("pipeline.power_methods", power))
    for name, methods in lists:
        if not any(missing in ALLOWED_MISSING[m] for m in methods):
            allowed = sorted({s for m in methods for s in ALLOWED_MISSING[m]})
            raise InputError(
                f"config key 'analysis.missing': value {missing!r} is not accepted by any of {name} "
                f"{_show(methods)} (allowed for them: {', '.join(allowed)})"
            )


def _check_cohort(cfg: dict) -> None:
    """Correlations positive definite; enough screened men eligible (fixed-seed draw)."""
    c = cfg["cohort"]
    if c == _package_yaml("default_config.yaml")["cohort"]:
        return  # the packaged cohort passes (tested); spares the numpy import in the common case
    from vtrial.cohort import correlation_matrix

    try:
        correlation_matrix(c)
    except InputError:
        values = ", ".join(f"{k[5:]}={v:g}" for k, v in c.items() if k.startswith("corr_"))
        raise InputError(
            f"config keys 'cohort.corr_*' ({values}) do not form a positive definite correlation "
            "matrix (allowed: a valid correlation matrix; make them smaller in magnitude)"
        ) from None
    rate, age_rate, _, _ = _screening(json.dumps(c, sort_keys=True))
    if rate < MIN_ELIGIBLE_RATE:
        e = c["eligibility"]
        if age_rate < MIN_ELIGIBLE_RATE:
            what = f"key 'cohort.eligibility.age_min_years': value {e['age_min_years']!r} leaves"
        else:
            what = (
                f"keys 'cohort.eligibility.testosterone_single_ng_dl' {e['testosterone_single_ng_dl']} "
                f"and '...two_consecutive_ng_dl' {e['testosterone_two_consecutive_ng_dl']} leave"
            )
        raise InputError(
            f"config {what} {rate:.2%} of screened men eligible (allowed: at least "
            f"{MIN_ELIGIBLE_RATE:.1%}; below, screening needs over 200 men per man enrolled)"
        )


@functools.lru_cache(maxsize=64)
def _screening(cohort_json: str) -> tuple[float, float, float, float]:
    """Eligible share, share old enough, and E[E2], E[E2^2] of eligible men (pg/mL).

    From :data:`ELIGIBILITY_DRAW` screened men with a fixed seed (a few
    milliseconds); cached per cohort section.
    """
    import numpy as np

    from vtrial.cohort import _population_draw, eligible

    c = json.loads(cohort_json)
    rng = np.random.default_rng(20091201)
    x = _population_draw(c, ELIGIBILITY_DRAW, rng)
    ok = eligible(c, x, rng)
    e2 = np.exp(x[ok, 3])
    moments = (float(e2.mean()), float((e2**2).mean())) if ok.any() else (0.0, 0.0)
    return float(ok.mean()), float((x[:, 0] >= c["eligibility"]["age_min_years"]).mean()), *moments


def _check_effects(cfg: dict) -> None:
    """Each arm's mean change plausible, BMD kept positive, estradiol slope not too steep."""
    eff = cfg["effects"]
    placebo, sd = eff["placebo_pct_change"], eff["sd_pct_change"]
    if eff["mode"] == "direct":
        diff, key = eff["difference_pct"], "effects.difference_pct"
    else:
        diff, key = _check_slope(cfg), "effects.estradiol_slope_pct_per_pg_ml"
    if not -50 <= placebo + diff <= 50:
        raise InputError(
            f"config key '{key}': value {eff[key.split('.')[1]]!r} makes the anastrozole arm's mean "
            f"change {placebo + diff:.3g}% (allowed: -50 to 50, as effects.placebo_pct_change)"
        )
    low = min(placebo, placebo + diff)
    if low - BMD_SDS * sd <= -100:
        raise InputError(
            f"config key 'effects.sd_pct_change': value {sd!r} with an arm mean change of {low:.3g}% "
            f"makes BMD negative for some men (allowed: mean - {BMD_SDS} x SD > -100%)"
        )


def _check_slope(cfg: dict) -> float:
    """Estradiol-mediated mode: the implied difference, after checking the slope's variance share.

    ``dE2 = E2 * (r * R - 1)`` with ``R`` lognormal of mean one and log-SD ``s``,
    independent of ``E2``; so ``E[dE2] = E[E2] (r - 1)`` and
    ``E[dE2^2] = E[E2^2] (r^2 exp(s^2) - 2 r + 1)``, with the moments of ``E2``
    over eligible men from :func:`_screening`.
    """
    eff = cfg["effects"]
    slope = eff["estradiol_slope_pct_per_pg_ml"]
    _, _, m1, m2 = _screening(json.dumps(cfg["cohort"], sort_keys=True))
    r = cfg["hormones"]["estradiol_ratio"][2]
    s = cfg["hormones"]["estradiol_response_log_sd"]
    mean_de2 = m1 * (r - 1)
    var_de2 = max(m2 * (r * r * math.exp(s * s) - 2 * r + 1) - mean_de2**2, 0.0)
    var_true = eff["sd_pct_change"] ** 2 - 2 * cfg["measurement"]["bmd_cv_pct"] ** 2
    if slope**2 * var_de2 >= var_true:
        raise InputError(
            f"config key 'effects.estradiol_slope_pct_per_pg_ml': value {slope!r} makes estradiol alone "
            f"vary the % change by SD {abs(slope) * math.sqrt(var_de2):.2f} (allowed: below the true-change "
            f"SD {math.sqrt(var_true):.2f} left by effects.sd_pct_change)"
        )
    return slope * mean_de2 + eff["direct_pct"]


# --------------------------------------------------------------------------- validation


def _check_optional_sections(cfg: dict, base_dir: str | Path | None) -> None:
    """Check the optional ``sequential`` and ``prior`` sections beyond the schema.

    Their modules import numpy and scipy, so they are imported only when a
    section is present. A relative draws file of the prior is made absolute
    against ``base_dir`` in place, so that the configuration can be validated
    again (or used) from any folder.
    """
    if cfg.get("sequential") is not None:
        from vtrial.sequential_looks import planned_fractions

        planned_fractions(cfg)  # the section, and looks by month or by men consistent with the trial
    prior = cfg.get("prior")
    if prior is not None:
        from vtrial.priors import parse_prior

        if base_dir is not None:
            resolve_prior_file(cfg, base_dir)
        parse_prior(prior)


def _prior_difference(cfg: dict) -> dict | None:
    prior = cfg.get("prior")
    diff = prior.get("difference") if isinstance(prior, dict) else None
    return diff if isinstance(diff, dict) else None


def prior_file(cfg: dict) -> Any:
    """The value of ``prior.difference.file``, or None where the config has none."""
    diff = _prior_difference(cfg)
    return None if diff is None else diff.get("file")


def resolve_prior_file(cfg: dict, folder: str | Path) -> dict:
    """Make a relative ``prior.difference.file`` absolute against ``folder`` (in place).

    A config file names its draws file relative to its own folder; once
    absolute, the configuration can be used from any folder.

    Examples
    --------
    >>> cfg = {"prior": {"difference": {"distribution": "draws", "file": "draws.csv"}}}
    >>> resolve_prior_file(cfg, "/studies/a")["prior"]["difference"]["file"]
    '/studies/a/draws.csv'
    """
    file = prior_file(cfg)
    if isinstance(file, str) and file and not Path(file).is_absolute():
        _prior_difference(cfg)["file"] = str(Path(folder).absolute() / file)
    return cfg


def validate_config(cfg: Any, *, base_dir: str | Path | None = None) -> dict:
    """Validate a configuration and return it; raise :class:`InputError` otherwise.

    In order: no NaN or infinity anywhere; integral floats turned into integers
    where an integer is required (in place); the JSON Schema; the rules across
    keys (visit probabilities sum to 1, strata cutoffs increase, eligibility
    windows are [low, high], at least 2 men on anastrozole, blocks hold the
    allocation, ``sd_pct_change`` above the DXA error, no MMRM without DXA error,
    a missing-data strategy some method accepts, baseline BMD 6 SDs above zero,
    positive definite cohort correlations, at least :data:`MIN_ELIGIBLE_RATE` of
    screened men eligible, each arm's mean change in [-50, 50]% and 6 SDs above
    -100%, an estradiol slope whose variance fits in the true-change variance).
    Grid values are checked too, each by validating the configuration with that
    value substituted, and normalized likewise; the grid may vary only the
    sections of :data:`vtrial.keys.VARIABLE_SECTIONS`.

    The optional sections are checked when present (not None):
    ``sequential`` by :func:`vtrial.sequential_config.validate_sequential`
    (looks increasing and ending at 1, spending parameters, futility rules;
    looks by month or by men consistent with the trial,
    :func:`vtrial.sequential_looks.planned_fractions`) and
    ``prior`` by :func:`vtrial.priors.parse_prior` (mixture weights summing to
    1, truncation bounds, the draws file readable and holding finite numbers,
    a selection-adjusted estimate significant). A relative
    ``prior.difference.file`` is taken from ``base_dir`` when given, and
    replaced in place by the resulting path (:func:`resolve_prior_file`), else
    from the current folder; :func:`load_config` resolves it against the
    config file's folder before validating.

    Examples
    --------
    >>> cfg = validate_config(default_config() | {"seed": 7.0})
    >>> cfg["seed"]
    7
    """
    if not isinstance(cfg, dict):
        raise InputError(f"config must be a mapping of keys to values, got {type(cfg).__name__}")
    _check_finite(cfg)
    _integral_floats(cfg, _package_yaml("config.schema.yaml"))
    errors = sorted(_validator().iter_errors(cfg), key=lambda e: (len(e.absolute_path), str(e.absolute_path)))
    if errors:
        raise InputError(_one_line(_describe(errors[0])))
    _check_rules(cfg)
    _check_optional_sections(cfg, base_dir)
    for key, values in cfg.get("grid", {}).items():
        check_variable_key(key, "grid")
        get_key(cfg, key)
        for i, value in enumerate(values):
            point = set_key({**cfg, "grid": {}}, key, value)
            try:
                _validate_grid_point(point, key.split(".")[0])
            except InputError as exc:
                raise InputError(_one_line(f"grid value for '{key}': {exc}")) from None
            values[i] = get_key(point, key)
    return cfg


def _validate_grid_point(point: dict, section: str) -> None:
    """:func:`validate_config` of a valid config in which one value of ``section`` changed.

    The schema is checked on that section alone (a value inside a section
    cannot break a constraint elsewhere; ``$ref`` resolves against the whole
    schema), then every rule across keys; the optional sections do not
    depend on the sections a grid may vary. About a tenth of the cost of
    validating the whole config, once per grid value.
    """
    _check_finite(point[section], (section,))
    sub = _package_yaml("config.schema.yaml")["properties"][section]
    point[section] = _integral_floats(point[section], sub)
    errors = sorted(
        _validator().descend(point[section], sub, path=section, schema_path="properties"),
        key=lambda e: (len(e.absolute_path), str(e.absolute_path)),
    )
    if errors:
        raise InputError(_one_line(_describe(errors[0])))
    _check_rules(point)


def load_config(
    path: str | Path | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    seed: int | None = None,
) -> dict:
    """Read, override and validate a configuration.

    Parameters
    ----------
    path : str or Path, optional
        YAML file. Keys it leaves out take the packaged default; without it the
        packaged default (the 2009 trial) is used as is. A relative
        ``prior.difference.file`` in it is taken from its folder (one set by
        ``overrides`` from the current folder).
    overrides : sequence of str
        ``"dotted.key=value"`` strings applied in order (the ``--set`` option).
    seed : int, optional
        Replaces the root seed (the ``--seed`` option).

    Returns
    -------
    dict
        The validated configuration.

    Examples
    --------
    >>> cfg = load_config(overrides=["trial.n_per_arm=60"])
    >>> cfg["trial"]["n_per_arm"], cfg["effects"]["difference_pct"]
    (60, -2.46)
    """
    cfg = default_config()
    if path is not None:
        user = read_yaml_file(path)
        if user is None:
            user = {}
        if not isinstance(user, dict):
            raise InputError(
                f"config file '{_elide(str(path))}' must hold a mapping of keys, not {type(user).__name__}"
            )
        cfg = merge(cfg, resolve_prior_file(user, Path(path).parent))
    for text in overrides:
        key, value = parse_override(text)
        cfg = set_key(cfg, key, value)
    if seed is not None:
        cfg["seed"] = seed
    return validate_config(cfg)


def merge(base: dict, user: dict) -> dict:
    """Deep-merge ``user`` into a copy of ``base`` (user wins; ``grid`` replaced whole)."""
    out = copy.deepcopy(base)
    for key, value in user.items():
        if key != "grid" and isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def scenario_id(cfg: dict, exclude: tuple[str, ...] = ()) -> str:
    """Short stable id (10 hex digits) of the data-generating parameters.

    Only :data:`DATA_SECTIONS` enter, so changing the analysis methods or the
    number of replicates keeps a scenario's random streams. ``exclude`` drops
    dotted keys as well, e.g. ``("trial.n_per_arm",)`` so that a sample-size
    search uses common random numbers across candidate sizes.
    """
    data = {k: copy.deepcopy(cfg[k]) for k in DATA_SECTIONS}
    for dotted in exclude:
        *head, last = dotted.split(".")
        node = data
        for part in head:
            node = node[part]
        node.pop(last, None)
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=float)
    return hashlib.sha256(text.encode()).hexdigest()[:10]


@dataclass(frozen=True)
class Scenario:
    """One point of the grid: its id, the values the grid set, and its config as JSON."""

    id: str
    grid_values: tuple[tuple[str, Any], ...]
    config_json: str

    @property
    def config(self) -> dict:
        """The full configuration of this scenario (a fresh dict)."""
        return json.loads(self.config_json)


def make_scenario(cfg: dict, grid_values: tuple[tuple[str, Any], ...] = ()) -> Scenario:
    """Freeze one configuration into a :class:`Scenario`."""
    return Scenario(scenario_id(cfg), tuple(grid_values), json.dumps(cfg, sort_keys=True))


def expand_grid(cfg: dict) -> list[Scenario]:
    """All scenarios of the cartesian grid in ``cfg["grid"]`` (one if the grid is empty).

    Examples
    --------
    >>> cfg = load_config(overrides=["grid.trial.n_per_arm=[20, 40]"])
    >>> [dict(s.grid_values)["trial.n_per_arm"] for s in expand_grid(cfg)]
    [20, 40]
    """
    grid = cfg.get("grid") or {}
    base = {**copy.deepcopy(cfg), "grid": {}}
    keys = list(grid)
    scenarios = []
    for combo in itertools.product(*(grid[k] for k in keys)):
        point = base
        for key, value in zip(keys, combo, strict=True):
            point = set_key(point, key, value)
        scenarios.append(make_scenario(point, tuple(zip(keys, combo, strict=True))))
    return scenarios


#: ``analysis`` config keys and the method keyword each one sets.
METHOD_OPTION_NAMES = {
    "covariates": "covariates",
    "robust_se": "robust",
    "imputations": "n_imputations",
    "delta_pct": "delta",
    "delta_arm": "delta_arm",
    "permutations": "n_permutations",
    "bootstrap_resamples": "n_resamples",
}


def method_options(cfg: dict, methods: list[str]) -> dict[str, dict]:
    """Per-method keyword options from the ``analysis`` section.

    Each method gets only the options its function accepts, so one config serves
    any selection of methods: ``{"ancova": {"covariates": [...], "robust": None}, ...}``.
    """
    import inspect

    from vtrial.analysis import METHODS

    a = cfg["analysis"]
    values = {name: a[key] for key, name in METHOD_OPTION_NAMES.items()}
    values["robust"] = "HC3" if a["robust_se"] else None
    out = {}
    for method in methods:
        if method not in METHODS:
            continue  # run_methods reports unknown names with the allowed list
        accepted = inspect.signature(METHODS[method][0]).parameters
        out[method] = {k: v for k, v in values.items() if k in accepted}
    return out
