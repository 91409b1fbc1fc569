"""User-facing errors.

Every mistake a user can make (a bad file, an unsupported op, an option out of
range) is raised as a :class:`WqrcError` whose message names the culprit. The
CLI prints such errors as one line and exits non-zero; anything else is a bug
in wqrc and keeps its traceback so it can be reported.
"""


class WqrcError(Exception):
    """A problem with the user's input, explained in one line."""
