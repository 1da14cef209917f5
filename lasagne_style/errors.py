"""The one exception type for mistakes a user can fix (bad file, bad option).

The CLI prints it as a single line and exits with status 2; anything else is a
bug and keeps its traceback.
"""


class UserError(Exception):
    """A problem with the user's input, explained in one line."""
