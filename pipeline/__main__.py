"""The `handlingsplan` command's entry point (also `python -m pipeline`).

A command that runs a flow starts Prefect's embedded server first, before the command line
is parsed or its libraries load: the server's start is most of such a command's time, and
every tenth of a second it starts sooner is one the command ends sooner. `pipeline.cli`
does the rest.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from pipeline import server
from pipeline.config import configure_prefect

FLOW_COMMANDS = frozenset({"templates", "collect", "report", "run", "demo"})


def runs_a_flow(args: Sequence[str]) -> bool:
    """Whether the arguments name a command that runs a flow; asking for its help runs none."""
    return bool(args) and args[0] in FLOW_COMMANDS and "--help" not in args


def main() -> None:
    """Runs the command, with the embedded server already starting if it runs a flow."""
    started = None
    if runs_a_flow(sys.argv[1:]):
        configure_prefect()
        started = server.start()
    from pipeline.cli import app

    app(obj=started)


if __name__ == "__main__":
    main()
