"""The ``vtrial`` command line.

Every command accepts ``--config FILE``, repeated ``--set KEY=VALUE`` and
``--seed N``. Bad input ends with ONE line on stderr (``vtrial: error: ...``)
and exit status 2, before any simulation work, and no output file is left
behind (see :mod:`vtrial.cli.common` for the rules on ``--out``).

Each family of commands is one module with a ``register(subparsers)``
function, listed in :data:`COMMAND_MODULES`; command modules import only the
standard library at load time, the numerical work inside each command.
"""

from __future__ import annotations

import importlib
import sys

from vtrial.errors import InputError

#: Modules registering commands; adding a command is one module and one line here.
COMMAND_MODULES = (
    "vtrial.cli.trial_commands",
    "vtrial.cli.power_commands",
    "vtrial.cli.assurance_commands",
    "vtrial.cli.sequential_commands",
    "vtrial.cli.app_commands",
)


def build_parser():
    """The ``vtrial`` argument parser with every command registered."""
    from vtrial.cli.common import Parser, VersionAction

    parser = Parser(
        prog="vtrial",
        description="Virtual trials of anastrozole versus placebo on PA spine BMD (Burnett-Bowie 2009).",
    )
    parser.add_argument("--version", action=VersionAction, help="print 'vtrial VERSION' and exit")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``vtrial`` console script; returns the exit status."""
    from vtrial.cli.common import plain

    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors (one line, already printed)
        return exc.code if isinstance(exc.code, int) else 2
    args.argv = argv
    try:
        args.func(args)
    except InputError as exc:
        print(f"vtrial: error: {plain(exc)}", file=sys.stderr)
        return 2
    except OSError as exc:
        where = f" '{exc.filename}'" if exc.filename else ""
        print(f"vtrial: error: cannot read or write{where}: {plain(exc.strerror or exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("vtrial: interrupted", file=sys.stderr)
        return 130
    return 0
