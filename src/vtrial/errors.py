"""The one exception type for bad user input.

The command line turns :class:`InputError` into a single message on stderr and
exit status 2, so every check on user input (config keys, CSV columns, command
arguments) raises it with a message that names the key or column, the value and
what is allowed.
"""


class InputError(ValueError):
    """Bad user input: a config key, CSV column or argument that is not allowed."""
