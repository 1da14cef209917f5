"""The one exception type for mistakes a user can fix (bad file, bad option).

The CLI prints it as a single line and exits with status 2; anything else is a
bug and keeps its traceback.
"""


class UserError(Exception):
    """A problem with the user's input, explained in one line."""

#: Exit status of a command for a :class:`UserError`.
EXIT_USER_ERROR = 2
#: Exit status of a run stopped by Ctrl-C, SIGTERM or SIGHUP (its best image
#: and checkpoint kept): 128 + SIGINT, as shells report it.
EXIT_INTERRUPTED = 130
