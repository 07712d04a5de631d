"""Command-line front end of the power engine: ``power``, ``sample-size``, ``mde``.

Kept apart from :mod:`vtrial.cli` so the engine's commands grow in one place.
"""

from __future__ import annotations


def add_commands(sub, common) -> None:
    """Register the engine's subcommands on the ``vtrial`` parser."""
