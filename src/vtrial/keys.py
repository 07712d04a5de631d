"""Which config keys a grid (or a one-at-a-time range) may vary.

One home for the rule, shared by the workflow (``grid``,
``sensitivity.tornado``) and the command line (``--grid``): a study parameter
may vary; the root seed, the replicates and the workflow's own options may not
(varying them would not describe another trial).
"""

from __future__ import annotations

from vtrial.errors import InputError

#: Config sections whose keys a grid may vary: the data-generating sections
#: (``vtrial.config.DATA_SECTIONS``) and the analysis.
VARIABLE_SECTIONS = ("trial", "cohort", "hormones", "effects", "measurement", "dropout", "analysis")


def check_variable_key(key: str, where: str = "grid") -> str:
    """Raise unless dotted ``key`` lies in a section a grid may vary; return it.

    Parameters
    ----------
    key : str
        Dotted config key, e.g. ``"effects.sd_pct_change"``.
    where : str
        Where the key was given: a config mapping (``grid``) or an option (``--grid``).

    Raises
    ------
    InputError
        One line naming ``where.key`` and the allowed sections.

    Examples
    --------
    >>> check_variable_key("effects.sd_pct_change")
    'effects.sd_pct_change'
    >>> check_variable_key("simulation.reps")
    Traceback (most recent call last):
    ...
    vtrial.errors.InputError: config key 'grid.simulation.reps': 'simulation.reps' cannot be varied (vary study parameters in trial, cohort, hormones, effects, measurement, dropout or analysis)
    """
    if key.split(".")[0] not in VARIABLE_SECTIONS:
        named = f"{where} key '{key}'" if where.startswith("--") else f"config key '{where}.{key}'"
        raise InputError(
            f"{named}: '{key}' cannot be varied (vary study parameters in "
            f"{', '.join(VARIABLE_SECTIONS[:-1])} or {VARIABLE_SECTIONS[-1]})"
        )
    return key
