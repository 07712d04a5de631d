"""Random streams keyed by (root seed, scenario id, chunk index), and their named children.

Every random number vtrial draws comes from a generator made here, so that
results do not depend on how replicates are chunked or spread over processes:
chunk ``k`` of scenario ``s`` always gets the same stream, whoever draws it.

Inside one block of the power engine (:mod:`vtrial.engine`) each simulated
quantity has its own child stream of the block's :class:`numpy.random.SeedSequence`
(:func:`child_rng`), so that drawing one more quantity (say the month-6
change for an MMRM) leaves every other quantity unchanged. The labels are
part of the output: changing a number changes every published replicate that
uses it. Per-arm streams add ``arm * stride`` (arm 0 placebo, 1 anastrozole).

The exact shortcut draws groups of :data:`vtrial.engine.EXACT_GROUP_BLOCKS` blocks at once
(:func:`vtrial.engine.exact_block_stats`): group ``g`` uses the children
``EXACT_GROUP_SIZES``, ``EXACT_GROUP`` and ``EXACT_SHARE`` of the seed sequence
of chunk ``g`` (labels no per-block stream uses, so the streams are independent).

=====================  =====  ======  ==================================================
stream                 label  stride  what it draws
=====================  =====  ======  ==================================================
``RANDOMIZE``          0      --      arm sizes (:func:`vtrial.samplers.draw_arm_sizes`)
``EXACT``              1      --      exact shortcut variates of one block (default of
                                      :func:`vtrial.samplers.exact_draws`)
``REFERENCE``          2      --      the reference analyses' own randomness
                                      (permutations, bootstrap, imputations)
``FULL``               3      --      :func:`vtrial.trial.simulate_arrays` (``full``)
``EXACT_GROUP_SIZES``  4      --      arm sizes of a group of blocks (exact shortcut)
``EXACT_GROUP``        5      --      sufficient statistics of a group of blocks
``PRIOR``              6      --      per-replicate true difference (and SD) from the
                                      design prior (assurance, :func:`vtrial.engine.run_block`)
``EXACT_SHARE``        7      --      each arm's share of the outcome sum of squares of
                                      a group of exact blocks (Welch only,
                                      :meth:`vtrial.samplers.ExactDraws.with_share`)
``BASELINE``           10     4       measured baseline BMD given Y12, per man
``DROPOUT``            11     4       dropout uniform, per man
``VISIT``              12     4       first missed visit (month-6 scan), per man
``Y6``                 13     4       month-6 change given (B0, Y12), per man
``Y12``                30     1       12-month change, per man
``BASELINE_SUMS``      40     1       baseline sums given Y (``per_man_y``)
``ENTRY``              50     --      enrolment order under simple randomization
                                      (:mod:`vtrial.sequential_sim`)
=====================  =====  ======  ==================================================
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np


class Stream(IntEnum):
    """Child-stream labels inside a block (see the module table)."""

    RANDOMIZE = 0
    EXACT = 1
    REFERENCE = 2
    FULL = 3
    EXACT_GROUP_SIZES = 4
    EXACT_GROUP = 5
    PRIOR = 6
    EXACT_SHARE = 7
    BASELINE = 10
    DROPOUT = 11
    VISIT = 12
    Y6 = 13
    Y12 = 30
    BASELINE_SUMS = 40
    ENTRY = 50


#: Label step between the placebo and anastrozole streams of a per-arm quantity.
ARM_STRIDE = {
    Stream.BASELINE: 4,
    Stream.DROPOUT: 4,
    Stream.VISIT: 4,
    Stream.Y6: 4,
    Stream.Y12: 1,
    Stream.BASELINE_SUMS: 1,
}


def seed_sequence(seed: int, scenario: str, chunk: int = 0) -> np.random.SeedSequence:
    """SeedSequence for one chunk of one scenario.

    Parameters
    ----------
    seed : int
        Root seed (config key ``seed``).
    scenario : str
        Scenario id (hex digits, from :func:`vtrial.config.scenario_id`).
    chunk : int
        Chunk index, 0 for a single trial.

    Examples
    --------
    >>> a = rng_for(1, "4161f7d57b", 0).random()
    >>> a == rng_for(1, "4161f7d57b", 0).random()
    True
    """
    return np.random.SeedSequence([int(seed), int(scenario, 16), int(chunk)])


def rng_for(seed: int, scenario: str, chunk: int = 0) -> np.random.Generator:
    """A PCG64 generator for one chunk of one scenario (see :func:`seed_sequence`)."""
    return np.random.default_rng(seed_sequence(seed, scenario, chunk))


def child_label(stream: Stream, arm: int | None = None) -> int:
    """Numeric child label of ``stream`` (of one arm for per-arm streams).

    Examples
    --------
    >>> child_label(Stream.EXACT), child_label(Stream.DROPOUT, 1), child_label(Stream.Y12, 1)
    (1, 15, 31)
    """
    if arm is None:
        if stream in ARM_STRIDE:
            raise ValueError(f"stream {stream.name} is per arm: give arm")
        return int(stream)
    return int(stream) + int(arm) * ARM_STRIDE[stream]


def child_rng(ss: np.random.SeedSequence, stream: Stream, arm: int | None = None) -> np.random.Generator:
    """Generator of one named child stream of a block's seed sequence.

    The child is ``SeedSequence(ss.entropy, spawn_key=ss.spawn_key + (label,))``
    with ``label`` from :func:`child_label`, so it does not depend on how many
    other children were made before.

    Examples
    --------
    >>> ss = np.random.SeedSequence(7)
    >>> child_rng(ss, Stream.Y12, 0).random() == child_rng(ss, Stream.Y12, 0).random()
    True
    """
    label = child_label(stream, arm)
    return np.random.default_rng(np.random.SeedSequence(ss.entropy, spawn_key=(*ss.spawn_key, label)))
