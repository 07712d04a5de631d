"""Provenance of an output table: what produced it, so that it can be reproduced.

Every table the command line writes gets a sidecar ``<table>.provenance.json``
holding the record :func:`provenance` builds: the vtrial version, the SHA-256
of the full resolved configuration in canonical JSON (:func:`config_sha256`),
the root seed, the replicates, the command line and the configuration itself.
The record holds no clock time, so that the same command gives the same bytes.
"""

from __future__ import annotations

import hashlib
import json


def version() -> str:
    """The installed vtrial version (package metadata; else the package's ``__version__``).

    Examples
    --------
    >>> version().count(".") >= 1
    True
    """
    from importlib import metadata

    try:
        return metadata.version("vtrial")
    except metadata.PackageNotFoundError:
        from vtrial import __version__

        return __version__


def canonical_json(cfg) -> str:
    """Canonical JSON text of a configuration: keys sorted, no spaces, ASCII only.

    Examples
    --------
    >>> canonical_json({"b": 1, "a": [1.5, "x"]})
    '{"a":[1.5,"x"],"b":1}'
    """
    return json.dumps(cfg, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def config_sha256(cfg) -> str:
    """SHA-256 (hex) of :func:`canonical_json` of ``cfg`` encoded as UTF-8."""
    return hashlib.sha256(canonical_json(cfg).encode("utf-8")).hexdigest()


def file_sha256(path) -> str:
    """SHA-256 (hex) of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def provenance(cfg: dict, *, command, reps: int | None = None, inputs: dict | None = None) -> dict:
    """The provenance record of a table produced from ``cfg``.

    Parameters
    ----------
    cfg : dict
        The full resolved configuration the table was computed from.
    command : str or sequence of str
        The command line (a sequence is joined with spaces, each part quoted
        as a POSIX shell would need).
    reps : int, optional
        Replicate trials per scenario or candidate value (None where the table
        is not a simulation summary, or the replicates were chosen per
        scenario by a target SE).
    inputs : dict, optional
        Name -> path of input files; each is recorded with its SHA-256.

    Returns
    -------
    dict
        ``vtrial_version, config_sha256, seed, reps, command, inputs, config``.

    Examples
    --------
    >>> rec = provenance({"seed": 7, "x": 1}, command=["vtrial", "power", "--out", "a b.csv"], reps=10)
    >>> rec["seed"], rec["reps"], rec["command"]
    (7, 10, "vtrial power --out 'a b.csv'")
    >>> rec["config_sha256"] == config_sha256({"x": 1, "seed": 7})
    True
    """
    import shlex

    if not isinstance(command, str):
        command = shlex.join(str(part) for part in command)
    return {
        "vtrial_version": version(),
        "config_sha256": config_sha256(cfg),
        "seed": cfg.get("seed"),
        "reps": None if reps is None else int(reps),
        "command": command,
        "inputs": {
            name: {"path": str(path), "sha256": file_sha256(path)} for name, path in (inputs or {}).items()
        },
        "config": cfg,
    }
