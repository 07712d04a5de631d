"""Generate the option tables of ``config/README.md`` from the config schema.

The schema (``vtrial/data/config.schema.yaml``) documents every key: its
``description`` (meaning, unit), ``default`` (left empty for keys of the
optional sections that have none: required keys, or keys whose absence the
description explains), allowed values (type, enum, bounds) and ``x-why`` (why
that range). This module renders one Markdown table
per config section between marker comments in the README, keeping the prose
around them::

    <!-- BEGIN GENERATED: trial -->
    ...table...
    <!-- END GENERATED -->

Usage: ``python -m vtrial.config_docs [README] [--check]`` rewrites the README
(default ``config/README.md``) in place, or with ``--check`` exits 1 when it
differs from what would be generated.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

from vtrial.config import _resolve, describe_allowed, schema

#: A generated block: its section name and its current content.
BLOCK = re.compile(
    r"(<!-- BEGIN GENERATED: (?P<section>[\w.]+) -->\n)(?P<body>.*?)(<!-- END GENERATED -->)", re.S
)

HEADER = "| key | meaning | default | allowed | why this range |\n|---|---|---|---|---|\n"


def _format(value: Any) -> str:
    """A default value as YAML-like text."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return "[" + ", ".join(_format(v) for v in value) + "]"
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_format(v)}" for k, v in value.items()) or "{}"
    return str(value)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def leaves(node: dict, prefix: str) -> list[tuple[str, dict]]:
    """``(dotted key, schema node)`` of every option under ``node``, in schema order."""
    node = _resolve(node)
    kinds = node.get("type")
    if "object" in (kinds if isinstance(kinds, list) else [kinds]) and "properties" in node:
        out = []
        for name, sub in node["properties"].items():
            out.extend(leaves(sub, f"{prefix}.{name}" if prefix else name))
        return out
    return [(prefix, node)]


def table(section: str) -> str:
    """The Markdown option table of one top-level config key or section.

    Examples
    --------
    >>> print(table("measurement").splitlines()[2][:40])
    | `measurement.bmd_cv_pct` | DXA precisi
    """
    rows = []
    for key, node in leaves(schema()["properties"][section], section):
        cells = [
            f"`{key}`",
            node.get("description", ""),
            _format(node["default"]) if "default" in node else "",
            describe_allowed(node),
            node.get("x-why", ""),
        ]
        rows.append("| " + " | ".join(_cell(c) for c in cells) + " |\n")
    return HEADER + "".join(rows)


def render(text: str) -> str:
    """``text`` with every generated block replaced by the current table."""
    return BLOCK.sub(lambda m: m.group(1) + table(m.group("section")) + m.group(4), text)


def main(argv: list[str] | None = None) -> int:
    """Rewrite (or with ``--check`` compare) the README; returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    check = "--check" in args
    paths = [a for a in args if a != "--check"]
    path = Path(paths[0] if paths else "config/README.md")
    text = path.read_text(encoding="utf-8")
    new = render(text)
    if check:
        if new != text:
            print(f"{path} is out of date: run python -m vtrial.config_docs {path}", file=sys.stderr)
            return 1
        return 0
    if new != text:
        path.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
