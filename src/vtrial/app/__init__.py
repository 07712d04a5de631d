"""A classroom in the browser: the interactive trial-design app (``pip install vtrial[app]``).

Five pages, each explaining its idea in a few sentences and showing the
``vtrial`` command or Python call that reproduces its figure:

* **One trial** - randomization in permuted blocks, each man's BMD path, who
  drops out, and the analysis of that one trial;
* **A thousand trials** - the distribution of P and of the estimate over
  replications, with the published P = 0.0014 and difference -2.46 marked;
* **Power and sample size** - Monte Carlo and analytic power curves, and the
  n per arm for 80% and 90% power;
* **Dropout and missing data** - bias and coverage of each missing-data
  strategy under MCAR, MAR and MNAR dropout.
* **Uncertain effects** - assurance (power averaged over a normal prior for
  the true difference) against power at the prior mean by n per arm, the n
  for 80% and 90% assurance, its ceiling and the winner's curse.

The computations live in :mod:`vtrial.app.compute` (no web framework), the
pages in :mod:`vtrial.app.pages` (Shiny for Python).
"""

from __future__ import annotations

import socket


def create_app():
    """The Shiny app object (``shiny.App``).

    Raises
    ------
    ImportError
        With the install command, if the ``[app]`` extra is missing.
    """
    try:
        from vtrial.app.pages import build_app
    except ImportError as e:  # pragma: no cover - only without the extra
        raise ImportError(f"the vtrial app needs the [app] extra: pip install 'vtrial[app]' ({e})") from e
    return build_app()


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` now.

    Examples
    --------
    >>> 0 < free_port() < 65536
    True
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def serve(port: int | None = None, open_browser: bool = True, host: str = "127.0.0.1") -> None:
    """Serve the app until interrupted; prints the URL first.

    Parameters
    ----------
    port : int, optional
        TCP port; a free one when None.
    open_browser : bool
        Open the URL in the default web browser.
    host : str
        Interface to listen on (``127.0.0.1``: this machine only).
    """
    import shiny

    app = create_app()
    port = free_port(host) if port is None else int(port)
    print(f"vtrial app: http://{host}:{port}/", flush=True)
    shiny.run_app(app, host=host, port=port, launch_browser=open_browser, log_level="warning")
