"""The block runner and engine choice of the power engine.

* Which sampler computes each method, and that the choice changes no result.
* Random streams: blocks are reproducible, results do not depend on chunking,
  adding a method changes no other method's replicates.
"""

from __future__ import annotations

import numpy as np
import pytest

from vtrial import engine
from vtrial.config import load_config


def test_engine_choice():
    cfg = load_config()
    assert engine.method_engine(cfg, "ancova") == "exact"
    assert engine.method_engine(cfg, "mann_whitney") == "per_man"
    assert engine.method_engine(cfg, "mmrm") == "per_man"
    never = load_config(overrides=["simulation.exact_shortcut=never"])
    assert engine.method_engine(never, "welch_t") == "per_man"
    mnar = load_config(overrides=["dropout.mechanism=MNAR"])
    assert engine.method_engine(mnar, "welch_t") == "per_man_y"
    assert engine.method_engine(mnar, "welch_t", ["welch_t", "ancova"]) == "per_man_y"
    assert engine.method_engine(mnar, "welch_t", ["welch_t", "mann_whitney"]) == "per_man"
    assert engine.method_engine(mnar, "mann_whitney", ["welch_t", "mann_whitney"]) == "per_man"
    mnar_never = load_config(overrides=["dropout.mechanism=MNAR", "simulation.exact_shortcut=never"])
    assert engine.method_engine(mnar_never, "welch_t") == "per_man"
    mar = load_config(overrides=["dropout.mechanism=MAR"])
    assert engine.method_engine(mar, "ancova") == "per_man_y"
    for extra in (["analysis.missing=locf"], ["analysis.scale=absolute"], ["analysis.robust_se=true"]):
        assert engine.method_engine(load_config(overrides=["dropout.mechanism=MNAR", *extra]), "ancova") != (
            "per_man_y"
        )
    med = load_config(overrides=["effects.mode=estradiol_mediated"])
    assert engine.method_engine(med, "welch_t") == "full"
    mi = load_config(overrides=["analysis.missing=multiple_imputation"])
    assert engine.method_engine(mi, "welch_t") == "reference"
    assert engine.method_engine(cfg, "permutation") == "reference"


def test_blocks_are_reproducible_and_distinct():
    cfg = load_config(overrides=["simulation.exact_shortcut=never"])
    a = engine.run_block(cfg, "0123456789", 3, 1000, ["ancova"])["ancova"].estimate
    b = engine.run_block(cfg, "0123456789", 3, 1000, ["ancova"])["ancova"].estimate
    c = engine.run_block(cfg, "0123456789", 4, 1000, ["ancova"])["ancova"].estimate
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_adding_a_method_keeps_other_results():
    cfg = load_config(overrides=["simulation.exact_shortcut=never", "dropout.mechanism=MNAR"])
    a = engine.run_block(cfg, "0123456789", 0, 500, ["welch_t"])["welch_t"].estimate
    b = engine.run_block(cfg, "0123456789", 0, 500, ["mann_whitney", "welch_t"])["welch_t"].estimate
    assert np.array_equal(a, b)


def test_reference_path_runs_permutation():
    cfg = load_config(overrides=["analysis.permutations=99", "trial.n_per_arm=8"])
    res = engine.run_block(cfg, "0123456789", 0, 3, ["permutation"])["permutation"]
    assert np.all(np.isfinite(res.p_value))


def test_block_sizes():
    assert engine.block_sizes(1) == [1]
    assert engine.block_sizes(engine.BLOCK * 2) == [engine.BLOCK] * 2


@pytest.mark.parametrize(
    "kind, overrides, reps",
    [
        ("per_man_y", ["dropout.mechanism=MNAR", "grid.dropout.mechanism=[MNAR, MAR]"], 3500),
        # the exact shortcut draws groups of blocks at once: a block's values must not depend
        # on which task asked for it
        ("exact", [], 12500),
    ],
)
def test_output_identical_for_any_chunking_and_workers(kind, overrides, reps):
    from vtrial import power

    cfg = load_config(overrides=["analysis.methods=[ancova, welch_t]", *overrides])
    a = power.run_power(cfg, reps=reps, chunk_size=1000)
    assert set(a["engine"]) == {kind}
    for kw in (
        {"chunk_size": 3000},
        {"chunk_size": 100000, "workers": 2},
        {"chunk_size": 1000, "workers": 2},
        {"chunk_size": 7000, "workers": 2},
    ):
        b = power.run_power(cfg, reps=reps, **kw)
        assert a.to_csv(index=False) == b.to_csv(index=False), kw


def test_exact_block_is_a_slice_of_its_group():
    cfg = load_config(overrides=["analysis.methods=[ancova]"])
    assert engine.method_engine(cfg, "ancova") == "exact"
    # a shorter run is a prefix of the longer one, block by block
    short = engine.run_block(cfg, "0123456789", 13, 250, ["ancova"])["ancova"]
    full = engine.run_block(cfg, "0123456789", 13, 1000, ["ancova"])["ancova"]
    assert np.array_equal(short.estimate, full.estimate[:250])
    other = engine.run_block(cfg, "0123456789", 14, 1000, ["ancova"])["ancova"]
    assert not np.array_equal(other.estimate, full.estimate)


def test_replicates_that_cannot_be_fitted_raise_no_numpy_warning():
    # Tiny trials with heavy dropout: many replicates cannot be analysed; they
    # count as not significant, quietly (a RuntimeWarning leaked to the CLI).
    import warnings

    from vtrial import power

    cfg = load_config(overrides=["trial.n_per_arm=3", "dropout.anastrozole=0.6", "dropout.placebo=0.5",
                                 "simulation.exact_shortcut=never"])  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table = power.run_power(cfg, reps=300, methods=["mmrm", "mann_whitney", "ancova", "welch_t"])
    assert (table["valid_reps"] < 300).all() and (table["valid_reps"] > 0).all()
