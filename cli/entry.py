"""The ``tf2eng`` console script: it loads the CLI (cli/app.py) and runs it.

An interrupt (Ctrl-C) while the CLI's modules load, or while typer builds
the command from them, ends the command with one line and exit code 130, as
one during a run does, instead of a traceback of whatever it stopped.
"""

import sys


def main() -> None:
    try:
        from .app import main as run_cli

        run_cli()
    except KeyboardInterrupt:
        sys.stderr.write("tf2eng: error: interrupted\n")
        raise SystemExit(130) from None
