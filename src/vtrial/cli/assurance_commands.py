"""Assurance command: ``assurance``.

``vtrial assurance [--n-per-arm N] [--reps R] [--grid KEY=V1,...]... [--method M]... --out FILE|-``
    Monte Carlo assurance (power averaged over the design prior of the config's
    ``prior`` section, default N(-2.46, 0.738^2)), its analytic value, the
    wrong-sign probability, Type S and Type M, and the power at the prior's
    point, one row per scenario and method.
"""

from __future__ import annotations

from vtrial.cli import common


def cmd_assurance(args) -> None:
    from vtrial.assurance import run_assurance
    from vtrial.cli.power_commands import _config, finish

    out = common.check_out(args.out)
    if args.n_per_arm is not None:
        args.overrides = [*args.overrides, f"trial.n_per_arm={args.n_per_arm}"]
    cfg = _config(args, args.grid)
    s = cfg["simulation"]
    table = run_assurance(cfg, reps=s["reps"], workers=s["workers"], progress=not args.quiet)
    finish(args, table, out, cfg, s["reps"])


def register(sub) -> None:
    """Add the ``assurance`` command to the ``vtrial`` subparsers."""
    from vtrial.cli.power_commands import _engine_options

    p = common.add_command(
        sub, "assurance", "probability of success under the design prior, per scenario and method",
        cmd_assurance,
    )  # fmt: skip
    common.add_config_options(p)
    _engine_options(
        p, reps_help=f"replicate trials per scenario, 1 to {common.REPS_MAX} (default simulation.reps)"
    )
    p.add_argument(
        "--n-per-arm", metavar="N", type=common.int_range(2, 1_000_000),
        help="men randomized to placebo, 2 to 1000000 (default trial.n_per_arm)",
    )  # fmt: skip
    p.add_argument(
        "--grid", action="append", default=[], metavar="KEY=V1,V2,...",
        help="vary a config key over values (repeatable; cartesian product), e.g. trial.n_per_arm=20,40,80",
    )  # fmt: skip
    common.add_out(p, required=True)
