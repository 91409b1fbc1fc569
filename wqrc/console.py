"""The entry point of ``wqrc`` and ``python -m wqrc``: importing the CLI is inside the handler,
so a Ctrl-C during start-up is a one-line message like any later one."""
import sys


def run() -> None:
    try:
        from wqrc.cli import main
    except KeyboardInterrupt:
        sys.stderr.write("wqrc: interrupted\n")
        sys.exit(130)
    sys.exit(main())
