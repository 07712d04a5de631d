"""Random streams keyed by (root seed, scenario id, chunk index).

Every random number vtrial draws comes from a generator made here, so that
results do not depend on how replicates are chunked or spread over processes:
chunk ``k`` of scenario ``s`` always gets the same stream, whoever draws it.
"""

from __future__ import annotations

import numpy as np


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
