"""The entry point of ``wqrc`` and ``python -m wqrc``: importing the CLI is inside the handler,
so a Ctrl-C during start-up is a one-line message like any later one."""
import signal
import sys


def run() -> None:
    try:
        from wqrc.cli import main
    except KeyboardInterrupt:
        sys.stderr.write("wqrc: interrupted\n")
        sys.exit(130)
    code = main()
    # the command has finished: a late Ctrl-C must not turn into a traceback in some
    # library's exit hook (torch logs cache statistics at exit) or a death by signal
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.exit(code)
