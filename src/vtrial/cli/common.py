"""Helpers shared by every ``vtrial`` command: options, argument checks, output files.

Conventions (every command):

* ``--config FILE``, repeated ``--set KEY=VALUE`` and ``--seed N`` build the
  configuration (:func:`add_config_options`, :func:`load`).
* A usage error ends with exit status 2 and ONE line on stderr,
  ``vtrial: error: <option>: <value> ... (allowed: ...)`` (:class:`Parser`).
* ``--out FILE`` writes a table: the file's folder must exist (it is never
  created), ``FILE`` may not be a folder, and the table is written to a
  temporary name in that folder, then renamed, with permissions following the
  umask; a failed write (read-only file system, full disk) leaves nothing
  behind. Beside it goes ``FILE.provenance.json`` (:mod:`vtrial.provenance`).
  ``--out -`` prints the table to standard output instead, as aligned text with
  numbers to 4 significant digits, and writes nothing to disk.
* All these checks run before any simulation work.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import sys
from pathlib import Path

from vtrial.errors import InputError

#: Largest ``--reps`` and ``--workers`` (the schema's maxima of
#: ``simulation.reps`` and ``simulation.workers``; a test keeps them equal).
#: Written out rather than read from the schema: parsing it costs start-up time.
REPS_MAX = 100_000_000
WORKERS_MAX = 1024

OUT_HELP = (
    "CSV file to write (its folder must exist; FILE.provenance.json is written beside it); "
    "'-' prints the table as aligned text, numbers to 4 significant digits, and writes no file"
)


def plain(message: str) -> str:
    """One line, numpy scalars shown as plain numbers.

    Examples
    --------
    >>> plain("value np.int64(1) is\\nnot allowed (np.float64(0.5))")
    'value 1 is not allowed (0.5)'
    """
    message = re.sub(r"np\.(?:u?int|float|bool|str)_?\d*\(([^()]*)\)", r"\1", str(message))
    return " ".join(message.split())


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors are one line on stderr and exit status 2."""

    def error(self, message: str):
        self.exit(2, f"vtrial: error: {plain(message)}\n")


EPILOG = (
    "Bad input ends with exit status 2 and one line on stderr, before any simulation, and "
    "leaves no file behind. An output's folder must exist (it is never created); a failed "
    "write (read-only file system, full disk) also exits 2 and leaves nothing."
)


def add_command(sub, name: str, help_text: str, func) -> argparse.ArgumentParser:
    """Register one command: its parser, with the shared description and epilog."""
    p = sub.add_parser(name, help=help_text, description=help_text[:1].upper() + help_text[1:] + ".",
                       epilog=EPILOG)  # fmt: skip
    p.set_defaults(func=func)
    return p


class VersionAction(argparse.Action):
    """``--version``: print ``vtrial <version>`` and exit 0 (the version is looked up only then)."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        from vtrial.provenance import version

        print(f"vtrial {version()}")
        parser.exit(0)


def _ranged(cast, kind: str, inside, allowed: str):
    """Argument type: ``cast(text)``, a ``kind`` for which ``inside(value)`` holds."""

    def parse(text: str):
        try:
            value = cast(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"value {text!r} is not {kind} (allowed: {allowed})") from None
        if not inside(value):
            raise argparse.ArgumentTypeError(f"value {value} is out of range (allowed: {allowed})")
        return value

    return parse


def int_range(low: int, high: int):
    """Argument type: an integer in ``[low, high]``."""
    return _ranged(int, "an integer", lambda v: low <= v <= high, f"{low} to {high}")


def float_range(low: float, high: float, *, high_closed: bool = False):
    """Argument type: a number in ``(low, high)`` (or ``(low, high]``)."""
    if high_closed:
        return _ranged(float, "a number", lambda v: low < v <= high, f"({low}, {high}]")
    return _ranged(float, "a number", lambda v: low < v < high, f"({low}, {high})")


def add_config_options(p: argparse.ArgumentParser) -> None:
    """``--config``, ``--set`` and ``--seed``."""
    p.add_argument("--config", metavar="FILE", help="YAML config (default: the packaged 2009 trial)")
    p.add_argument(
        "--set", dest="overrides", metavar="KEY=VALUE", action="append", default=[],
        help="override a config key, dotted (repeatable), e.g. --set trial.n_per_arm=60",
    )  # fmt: skip
    p.add_argument("--seed", type=int_range(0, 2**63 - 1), help="root seed (overrides config key 'seed')")


def add_out(p: argparse.ArgumentParser, *, required: bool, default: str | None = None) -> None:
    """``--out FILE|-`` with the shared rules (see the module docstring)."""
    help_text = OUT_HELP + ("" if default is None else f" (default: {default})")
    p.add_argument("--out", metavar="FILE|-", required=required, default=default, help=help_text)


def load(args) -> dict:
    """The validated config from ``--config``, ``--set`` and ``--seed``."""
    from vtrial.config import load_config

    return load_config(args.config, args.overrides, args.seed)


def check_out(out: str | None, option: str = "--out") -> Path | None:
    """The output path after the shared checks; None for ``-`` (standard output) or no output."""
    if out is None or out == "-":
        return None
    path = Path(out)
    if path.is_dir() or out.endswith(os.sep):
        raise InputError(f"{option}: '{out}' is a folder (allowed: a file name in an existing folder, or -)")
    check_folder(path.parent, option)
    return path


def check_folder(folder: Path, option: str = "--out") -> Path:
    """An existing, writable folder (the parent of an output), else :class:`InputError`."""
    folder = Path(folder) if str(folder) else Path(".")
    if not folder.is_dir():
        raise InputError(f"{option}: folder '{folder}' does not exist (create it first)")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InputError(f"{option}: folder '{folder}' is not writable")
    return folder


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_files(*paths: Path):
    """Yield temporary paths beside ``paths``; rename them all into place only on success.

    The files get the permissions a plain ``open`` would give (``0o666`` less
    the umask). An ``OSError`` (read-only file system, full disk) becomes an
    :class:`InputError` naming the file; the temporary files are removed.
    """
    import tempfile

    tmps: list[str] = []
    try:
        try:
            for path in paths:
                fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
                os.close(fd)
                tmps.append(tmp)
            yield [Path(t) for t in tmps]
            mode = 0o666 & ~_umask()
            for tmp in tmps:
                os.chmod(tmp, mode)
            for tmp, path in zip(tmps, paths, strict=True):
                os.replace(tmp, path)
        except OSError as exc:
            raise InputError(f"--out: cannot write '{paths[0]}': {exc.strerror or exc}") from None
    finally:
        for tmp in tmps:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def format_table(table) -> str:
    """A table as aligned text, numbers to 4 significant digits (what ``--out -`` prints).

    Examples
    --------
    >>> import pandas as pd
    >>> print(format_table(pd.DataFrame({"method": ["ancova"], "power": [0.912345], "n": [44]})))
    method  power  n
    ancova 0.9123 44
    """
    return table.to_string(index=False, float_format=lambda x: f"{x:.4g}")


def write_table(table, out: Path | None, record: dict | None, writer=None) -> None:
    """Write ``table`` to ``out`` with its provenance sidecar, or print it if ``out`` is None.

    ``writer(table, path)`` writes the file (default: CSV, full precision).
    """
    if out is None:
        print(format_table(table))
        return
    import json

    sidecar = out.with_name(out.name + ".provenance.json")
    with atomic_files(out, sidecar) as (tmp, tmp_side):
        if writer is None:
            table.to_csv(tmp, index=False, lineterminator="\n")
        else:
            writer(table, tmp)
        with open(tmp_side, "w", encoding="utf-8") as fh:
            json.dump(record, fh, indent=2, sort_keys=True)
            fh.write("\n")


def record(args, cfg: dict, *, reps=None, inputs=None) -> dict:
    """The provenance record of the command ``args`` came from (:func:`vtrial.provenance.provenance`).

    :func:`vtrial.cli.main` keeps the command's arguments in ``args.argv``.
    """
    from vtrial.provenance import provenance

    return provenance(cfg, command=["vtrial", *getattr(args, "argv", [])], reps=reps, inputs=inputs)


def note(text: str) -> None:
    """A one-line message on stderr."""
    print(text, file=sys.stderr)


def note_design(cfg: dict, *, sizes: bool = True) -> None:
    """Say which design the command ran, in the words of summary.md, unless it is the two-arm one."""
    from vtrial.design import design_of, is_default
    from vtrial.design_text import design_note

    if not is_default(cfg):
        note(f"vtrial: note: {design_note(design_of(cfg), sizes=sizes)}")


def methods_for(named: list[str] | None, configured: list[str], missing: str) -> tuple[list[str], list[str]]:
    """The methods to run with missing-data strategy ``missing``, and those skipped.

    Methods named on the command line must all accept the strategy (else
    :class:`InputError` naming the first that does not); methods taken from
    ``analysis.methods`` that do not accept it are skipped, as the user did not
    name them (the caller says so in a note).

    Examples
    --------
    >>> methods_for(None, ["ancova", "mmrm"], "multiple_imputation")
    (['ancova'], ['mmrm'])
    """
    from vtrial.method_registry import ALLOWED_MISSING, STRATEGIES

    if missing not in STRATEGIES:
        raise InputError(f"--missing: value '{missing}' is not a strategy (allowed: {', '.join(STRATEGIES)})")

    def accepts(method: str) -> bool:
        return missing in ALLOWED_MISSING.get(method, (missing,))

    if named:
        for method in named:
            if not accepts(method):
                raise InputError(
                    f"--method {method}: cannot use missing={missing} "
                    f"(allowed for {method}: {', '.join(ALLOWED_MISSING[method])})"
                )
        return list(named), []
    kept = [m for m in configured if accepts(m)]
    if not kept:
        raise InputError(f"analysis.missing={missing}: none of the methods {configured} allows it")
    return kept, [m for m in configured if not accepts(m)]
