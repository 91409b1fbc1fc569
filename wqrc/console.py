"""The entry point of ``wqrc`` and ``python -m wqrc``, and its Ctrl-C: importing the CLI is
inside the handler, so a Ctrl-C during start-up is a one-line message like any later one, and
on_sigint (which wqrc.cli.main installs) holds an interrupt back while a module is imported."""
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


SIGNALS = {"interrupted": False}   # a Ctrl-C arrived (an internal error after it is reported as the interrupt)


def _importing(frame) -> bool:
    """Whether Python is running a module's import: the body of an extension's package."""
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib"):
            return True
        frame = frame.f_back
    return False


def on_sigint(signum, frame):
    """Ctrl-C: a KeyboardInterrupt, held back while a module is being imported.

    An exception raised in an import's Python code can reach a native extension's
    initialisation, which cannot take it: torch's pybind11 aborts the process
    ("terminate called after throwing ... error_already_set"), onnxruntime turns it
    into "ImportError: initialization failed". So inside an import the interrupt is
    remembered and raised by a short timer once the import is over."""
    SIGNALS["interrupted"] = True
    if _importing(frame):
        signal.signal(signal.SIGALRM, on_sigint)
        signal.setitimer(signal.ITIMER_REAL, 0.02)
        return
    raise KeyboardInterrupt
