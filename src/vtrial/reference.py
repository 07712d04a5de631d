"""Published figures of the 2009 trial (package data) and what follows from them.

The YAML file is a verbatim copy of ``shared/reference/burnett_bowie_2009.yaml``:
facts transcribed from the abstracts, plus a ``derived`` section of our own
arithmetic with its assumptions stated.
"""

from __future__ import annotations

from importlib import resources

import yaml


def published() -> dict:
    """The reference file as a dict (fresh copy).

    Examples
    --------
    >>> published()["primary_trial"]["withdrawn"]
    {'anastrozole': 11, 'placebo': 8}
    """
    text = resources.files("vtrial").joinpath("data", "burnett_bowie_2009.yaml").read_text("utf-8")
    return yaml.safe_load(text)


def published_figures() -> list[dict]:
    """The figures ``vtrial calibrate`` compares with simulation, one dict each.

    Each has ``figure`` (a stable name), ``arm``, ``month``, ``statistic``
    (mean, sd, count, p_value), ``unit`` and ``published``.
    """
    ref = published()
    t = ref["primary_trial"]
    out = []
    bmd = t["outcomes"]["pa_spine_bmd_g_cm2"]
    for arm in ("anastrozole", "placebo"):
        for month in (0, 12):
            mean, sd = bmd[arm][f"month_{month}"]
            out.append(_fig("bmd_g_cm2", arm, month, "mean", "g/cm2", mean))
            out.append(_fig("bmd_g_cm2", arm, month, "sd", "g/cm2", sd))
    for hormone, unit in (("testosterone_ng_dl", "ng/dL"), ("estradiol_pg_ml", "pg/mL")):
        for key, (mean, sd) in t["outcomes"][hormone]["anastrozole"].items():
            month = int(key.split("_")[1])
            out.append(_fig(hormone, "anastrozole", month, "mean", unit, mean))
            out.append(_fig(hormone, "anastrozole", month, "sd", unit, sd))
    n_arm = t["randomized_total"] // 2
    for arm, withdrawn in t["withdrawn"].items():
        out.append(_fig("completers", arm, 12, "count", "men", n_arm - withdrawn))
    d = ref["derived"]
    for arm in ("anastrozole", "placebo"):
        out.append(_fig("bmd_change_g_cm2", arm, 12, "mean", "g/cm2", d["mean_change_12m_g_cm2"][arm]))
        out.append(_fig("bmd_pct_change", arm, 12, "mean", "%", d["mean_pct_change_12m"][arm]))
    out.append(
        _fig(
            "bmd_change_g_cm2",
            "difference",
            12,
            "p_value",
            "",
            t["outcomes"]["pa_spine_bmd_g_cm2"]["p_between_groups"],
        )
    )
    return out


def _fig(figure: str, arm: str, month: int, statistic: str, unit: str, value: float) -> dict:
    return {
        "figure": figure,
        "arm": arm,
        "month": month,
        "statistic": statistic,
        "unit": unit,
        "published": value,
    }
