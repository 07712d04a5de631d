"""Validation of the config section ``sequential`` (group-sequential design).

The section looks like::

    sequential:
      information_fractions: [0.5, 1]   # or look_months: [24, 36] or look_endpoints: [40, 80]
      alpha: 0.025            # one-sided unless sided: 2
      sided: 1
      beta: 0.2               # power target when there is no futility rule
      efficacy: {type: as_obrien_fleming, gamma: null}
      futility: {type: as_hsd, gamma: -2, binding: false, beta: 0.2}
      # or futility: {type: conditional_power, threshold: 0.1, beta: 0.2}

:func:`validate_sequential` returns the section with defaults filled in, or
raises :class:`vtrial.errors.InputError` with one line naming the key, the
value and what is allowed. The section's JSON schema is
``properties.sequential`` of ``vtrial/data/config.schema.yaml``, and
:func:`vtrial.config.validate_config` calls :func:`validate_sequential` when
the section is present.
"""

from __future__ import annotations

import math
from numbers import Real

from vtrial.boundaries import CLASSICAL, NEEDS_GAMMA, SPENDING
from vtrial.errors import InputError

EFFICACY_TYPES = SPENDING + tuple(CLASSICAL)
#: The keys that time the looks; exactly one is given.
LOOK_KEYS = ("information_fractions", "look_months", "look_endpoints")
_TOP_KEYS = {*LOOK_KEYS, "alpha", "sided", "beta", "efficacy", "futility"}
_EFFICACY_KEYS = {"type", "gamma"}
_FUTILITY_KEYS = {"type", "gamma", "binding", "beta", "threshold"}
FUTILITY_TYPES = SPENDING + ("conditional_power",)


def _number(value, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise InputError(f"{key}: {value!r} is not a finite number")
    return float(value)


def _mapping(value, key: str, allowed: set[str]) -> dict:
    if not isinstance(value, dict):
        raise InputError(f"{key}: {value!r} must be a mapping")
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise InputError(f"{key}.{unknown[0]}: unknown key; allowed: {', '.join(sorted(allowed))}")
    return value


def _fractions(value) -> list[float]:
    key = "sequential.information_fractions"
    if not isinstance(value, list | tuple) or not value:
        raise InputError(f"{key}: {value!r} must be a non-empty list of numbers in (0, 1] ending at 1")
    t = [_number(v, key) for v in value]
    if any(not 0 < v <= 1 for v in t):
        raise InputError(f"{key}: {t} must all be in (0, 1]")
    if any(b <= a for a, b in zip(t, t[1:], strict=False)):
        raise InputError(f"{key}: {t} must be strictly increasing")
    if t[-1] != 1:
        raise InputError(f"{key}: {t} must end at 1 (the final analysis)")
    return t


def _increasing(value, key: str, kind: str, integer: bool) -> list:
    """A non-empty strictly increasing list of positive numbers (integers if ``integer``)."""
    if not isinstance(value, list | tuple) or not value:
        raise InputError(f"{key}: {value!r} must be a non-empty list of {kind}")
    t = [_number(v, key) for v in value]
    if integer and any(v != int(v) for v in t):
        raise InputError(f"{key}: {value!r} must be whole numbers of men")
    if any(v <= 0 for v in t):
        raise InputError(f"{key}: {value!r} must all be > 0")
    if any(b <= a for a, b in zip(t, t[1:], strict=False)):
        raise InputError(f"{key}: {value!r} must be strictly increasing")
    return [int(v) for v in t] if integer else t


def _looks(section: dict) -> dict:
    """The look keys: exactly one of :data:`LOOK_KEYS`, validated; the others None."""
    given = [k for k in LOOK_KEYS if section.get(k) is not None]
    if len(given) != 1:
        if not given:
            raise InputError(
                "sequential.information_fractions: 'sequential.information_fractions' is missing (time the "
                "looks by exactly one of information_fractions, look_months, look_endpoints)"
            )
        raise InputError(
            f"sequential.{given[1]}: given with sequential.{given[0]}; time the looks by exactly one of "
            + ", ".join(LOOK_KEYS)
        )
    out = dict.fromkeys(LOOK_KEYS)
    key = given[0]
    if key == "information_fractions":
        out[key] = _fractions(section[key])
    elif key == "look_months":
        out[key] = _increasing(section[key], "sequential.look_months", "calendar months", integer=False)
    else:
        out[key] = _increasing(section[key], "sequential.look_endpoints", "numbers of men", integer=True)
    return out


def _gamma(rule: dict, key: str) -> float | None:
    """The spending parameter, required for the families that have one."""
    if rule["type"] not in NEEDS_GAMMA:
        return None
    if rule.get("gamma") is None:
        raise InputError(
            f"{key}.gamma: missing; {rule['type']} needs a number (gamma of as_hsd, rho of as_kim_demets)"
        )
    gamma = _number(rule["gamma"], f"{key}.gamma")
    if rule["type"] == "as_kim_demets" and gamma <= 0:
        raise InputError(f"{key}.gamma: {gamma} must be > 0 for as_kim_demets")
    return gamma


def _probability(value, key: str, upper: float) -> float:
    p = _number(value, key)
    if not 0 < p < upper:
        raise InputError(f"{key}: {p} must be in (0, {upper:g})")
    return p


def validate_sequential(section) -> dict:
    """Check the ``sequential`` section and fill in its defaults.

    Parameters
    ----------
    section : dict
        The config section.

    Returns
    -------
    dict
        Keys ``information_fractions``, ``look_months`` and
        ``look_endpoints`` (the one given as a list, the others None; see
        :mod:`vtrial.sequential_looks` for looks by month or by men with the
        endpoint), ``alpha``, ``sided``, ``beta``,
        ``efficacy`` ({type, gamma}) and ``futility`` (None or {type, gamma,
        binding, beta, threshold}).

    Raises
    ------
    vtrial.errors.InputError
        For a bad value; the message names the key.

    Examples
    --------
    >>> validate_sequential({"information_fractions": [0.5, 1]})["efficacy"]
    {'type': 'as_obrien_fleming', 'gamma': None}
    >>> validate_sequential({"information_fractions": [0.6, 0.5, 1]})
    Traceback (most recent call last):
    ...
    vtrial.errors.InputError: sequential.information_fractions: [0.6, 0.5, 1.0] must be strictly increasing
    """
    section = _mapping(section, "sequential", _TOP_KEYS)
    out = _looks(section)
    out["alpha"] = _probability(section.get("alpha", 0.025), "sequential.alpha", 0.5)
    out["sided"] = section.get("sided", 1)
    if out["sided"] not in (1, 2) or isinstance(out["sided"], bool):
        raise InputError(f"sequential.sided: {out['sided']!r} must be 1 or 2")
    out["beta"] = _probability(section.get("beta", 0.2), "sequential.beta", 1 - out["alpha"])

    efficacy = dict(_mapping(section.get("efficacy", {}), "sequential.efficacy", _EFFICACY_KEYS))
    efficacy.setdefault("type", "as_obrien_fleming")
    if efficacy["type"] not in EFFICACY_TYPES:
        raise InputError(
            f"sequential.efficacy.type: {efficacy['type']!r} is not one of {', '.join(EFFICACY_TYPES)}"
        )
    out["efficacy"] = {"type": efficacy["type"], "gamma": _gamma(efficacy, "sequential.efficacy")}

    out["futility"] = None
    if section.get("futility") is not None:
        futility = _mapping(section["futility"], "sequential.futility", _FUTILITY_KEYS)
        if futility.get("type") not in FUTILITY_TYPES:
            raise InputError(
                f"sequential.futility.type: {futility.get('type')!r} is not one of {', '.join(FUTILITY_TYPES)}"
            )
        if futility.get("beta") is None:
            raise InputError(
                "sequential.futility.beta: missing; futility bounds need a power target 1 - beta"
            )
        binding = futility.get("binding", False)
        if not isinstance(binding, bool):
            raise InputError(f"sequential.futility.binding: {binding!r} must be true or false")
        if out["sided"] == 2:
            raise InputError(
                "sequential.futility: futility bounds are available for one-sided designs (sided: 1) only"
            )
        if binding and efficacy["type"] in CLASSICAL:
            raise InputError(
                f"sequential.futility.binding: binding futility needs an alpha-spending efficacy type, not {efficacy['type']}"
            )
        out["futility"] = {
            "type": futility["type"],
            "gamma": _gamma(futility, "sequential.futility"),
            "binding": binding,
            "beta": _probability(futility["beta"], "sequential.futility.beta", 1 - out["alpha"]),
            "threshold": None,
        }
        if futility["type"] == "conditional_power":
            if binding:
                raise InputError(
                    "sequential.futility.binding: conditional-power futility is non-binding only"
                )
            if futility.get("threshold") is None:
                raise InputError(
                    "sequential.futility.threshold: missing; conditional_power needs the conditional power "
                    "below which to stop, in (0, 1)"
                )
            out["futility"]["threshold"] = _probability(
                futility["threshold"], "sequential.futility.threshold", 1
            )
    return out
