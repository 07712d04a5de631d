"""Load, override, validate and expand vtrial study configurations.

A configuration is a plain nested ``dict`` read from YAML. It is validated
against the JSON Schema shipped in the package (``data/config.schema.yaml``, the
same file the Snakemake workflow validates with) and then against a few rules a
schema cannot express. Every failure raises :class:`vtrial.errors.InputError`
with one message naming the key, the value and what is allowed.

A *scenario* is one fully specified configuration (one point of ``grid``),
identified by a short stable hash of the parameters that generate data.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from vtrial.errors import InputError

#: Config sections that change the simulated data (and so the scenario id).
DATA_SECTIONS = ("trial", "cohort", "hormones", "effects", "measurement", "dropout")


def _read_package_yaml(name: str) -> Any:
    text = resources.files("vtrial").joinpath("data", name).read_text(encoding="utf-8")
    return yaml.safe_load(text)


def default_config() -> dict:
    """Return the packaged default configuration (the 2009 trial), a fresh copy."""
    return _read_package_yaml("default_config.yaml")


def schema() -> dict:
    """Return the JSON Schema that every configuration must satisfy."""
    return _read_package_yaml("config.schema.yaml")


def read_yaml_file(path: str | Path) -> Any:
    """Read a YAML file, turning a missing or malformed file into :class:`InputError`."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"config file '{path}' does not exist (expected a YAML file)")
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" at line {where.line + 1}" if where is not None else ""
        raise InputError(f"config file '{path}' is not valid YAML{at}") from None


def get_key(cfg: dict, dotted: str) -> Any:
    """Value at a dotted key such as ``"trial.n_per_arm"``; :class:`InputError` if absent."""
    node: Any = cfg
    for i, part in enumerate(dotted.split(".")):
        if not isinstance(node, dict) or part not in node:
            known = ", ".join(sorted(node)) if isinstance(node, dict) else "none"
            prefix = ".".join(dotted.split(".")[:i]) or "top level"
            raise InputError(
                f"config key '{dotted}' does not exist: '{part}' is not a key of {prefix} (allowed: {known})"
            )
        node = node[part]
    return node


def set_key(cfg: dict, dotted: str, value: Any) -> dict:
    """Return a copy of ``cfg`` with the dotted key set to ``value``.

    The key must already exist (except under ``grid``, whose keys are free), so a
    typo is caught here with the list of allowed names.
    """
    out = copy.deepcopy(cfg)
    parts = dotted.split(".")
    if parts[0] == "grid" and len(parts) >= 2:
        out.setdefault("grid", {})[".".join(parts[1:])] = value
        return out
    get_key(out, dotted)  # raises with the allowed names if the key is unknown
    node = out
    for part in parts[:-1]:
        node = node[part]
    node[parts[-1]] = value
    return out


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
        raise InputError(f"--set '{text}' is not KEY=VALUE (e.g. trial.n_per_arm=60)")
    key, raw = text.split("=", 1)
    key = key.strip()
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        raise InputError(f"--set {key}: value '{raw}' is not a valid YAML value") from None
    return key, value


def _dotted(path) -> str:
    return ".".join(str(p) for p in path) or "(top level)"


def _describe(error: jsonschema.ValidationError) -> str:
    """One readable sentence for a schema violation: key, value, what is allowed."""
    key = _dotted(error.absolute_path)
    value = error.instance
    v = error.validator
    arg = error.validator_value
    if v == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(set(value) - set(allowed))
        where = key if error.absolute_path else "top level"
        full = ".".join([*map(str, error.absolute_path), extra[0]]) if extra else where
        return f"config key '{full}' is not known (allowed in {where}: {', '.join(allowed)})"
    if v == "required":
        missing = [k for k in arg if k not in value]
        name = ".".join([*map(str, error.absolute_path), missing[0]])
        return f"config key '{name}' is missing (it is required)"
    if v == "enum":
        return f"config key '{key}': value {value!r} is not allowed (allowed: {', '.join(map(str, arg))})"
    if v == "type":
        return f"config key '{key}': value {value!r} has the wrong type (expected {arg})"
    if v in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        op = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}[v]
        return f"config key '{key}': value {value!r} is out of range (must be {op} {arg})"
    if v in ("minItems", "maxItems"):
        return f"config key '{key}': value {value!r} has the wrong length ({v} {arg})"
    if v == "anyOf":
        return f"config key '{key}': value {value!r} is not allowed (expected null or a number in (0, 0.5])"
    return f"config key '{key}': value {value!r} is not allowed ({error.message})"


def _check_rules(cfg: dict) -> None:
    """Rules across keys that the JSON Schema cannot state."""
    probs = cfg["dropout"]["visit_probs"]
    if abs(sum(probs) - 1.0) > 1e-9:
        raise InputError(f"config key 'dropout.visit_probs': value {probs} must sum to 1")
    cuts = cfg["trial"]["strata_cutoffs"]
    if list(cuts) != sorted(cuts):
        raise InputError(f"config key 'trial.strata_cutoffs': value {cuts} must be increasing")
    elig = cfg["cohort"]["eligibility"]
    for name in ("testosterone_single_ng_dl", "testosterone_two_consecutive_ng_dl"):
        lo, hi = elig[name]
        if not lo < hi:
            raise InputError(
                f"config key 'cohort.eligibility.{name}': value {[lo, hi]} must be [low, high] with low < high"
            )
    _check_blocks(cfg["trial"])
    sd = cfg["effects"]["sd_pct_change"]
    cv = cfg["measurement"]["bmd_cv_pct"]
    if sd**2 <= 2 * cv**2:
        raise InputError(
            f"config key 'effects.sd_pct_change': value {sd} must exceed sqrt(2) x "
            f"measurement.bmd_cv_pct = {2**0.5 * cv:.3f} (two DXA scans alone give that SD)"
        )


def _check_blocks(trial: dict) -> None:
    """Permuted blocks must hold the allocation ratio exactly."""
    from fractions import Fraction

    n_p = trial["n_per_arm"]
    n_a = round(n_p * trial["allocation_ratio"])
    unit = Fraction(n_a, n_p + n_a).denominator
    if trial["randomization"] != "simple" and any(b % unit for b in trial["block_sizes"]):
        raise InputError(
            f"config key 'trial.block_sizes': value {trial['block_sizes']} cannot hold "
            f"anastrozole:placebo = {n_a}:{n_p} exactly (allowed: multiples of {unit}, "
            "or trial.randomization: simple)"
        )


def validate_config(cfg: Any) -> dict:
    """Validate a configuration and return it; raise :class:`InputError` otherwise.

    Grid values are checked too, each by validating the base configuration with
    that value substituted.
    """
    if not isinstance(cfg, dict):
        raise InputError(f"config must be a mapping of keys to values, got {type(cfg).__name__}")
    validator = jsonschema.Draft202012Validator(schema())
    errors = sorted(validator.iter_errors(cfg), key=lambda e: (len(e.absolute_path), str(e.absolute_path)))
    if errors:
        raise InputError(_describe(errors[0]))
    _check_rules(cfg)
    for key, values in cfg.get("grid", {}).items():
        if key.startswith("grid") or key.split(".")[0] in ("seed", "simulation"):
            raise InputError(f"config key 'grid.{key}': the grid cannot vary '{key}' (vary study parameters)")
        get_key(cfg, key)
        for value in values:
            trial = set_key({**cfg, "grid": {}}, key, value)
            try:
                validate_config(trial)
            except InputError as exc:
                raise InputError(f"grid value for '{key}': {exc}") from None
    return cfg


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
        packaged default (the 2009 trial) is used as is.
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
            raise InputError(f"config file '{path}' must hold a mapping of keys, not {type(user).__name__}")
        cfg = merge(cfg, user)
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
