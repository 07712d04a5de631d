"""``vtrial app``: the classroom web app (optional extra ``[app]``)."""

from __future__ import annotations

from vtrial.cli import common
from vtrial.errors import InputError


def cmd_app(args) -> None:
    try:
        import shiny  # noqa: F401
    except ImportError:
        raise InputError(
            "vtrial app needs the optional extra [app]: pip install -e '.[app]' (or pip install 'vtrial[app]')"
        ) from None
    from vtrial.app import serve

    serve(port=args.port, open_browser=not args.no_browser, host="127.0.0.1")


def register(sub) -> None:
    """Add ``app`` to the ``vtrial`` subparsers."""
    p = common.add_command(
        sub, "app", "start the classroom web app on this machine (127.0.0.1) until Ctrl-C", cmd_app
    )
    p.add_argument(
        "--port", type=common.int_range(1024, 65535), metavar="PORT",
        help="TCP port, 1024 to 65535 (default: a free one; the URL is printed)",
    )  # fmt: skip
    p.add_argument("--no-browser", action="store_true", help="do not open a web browser")
