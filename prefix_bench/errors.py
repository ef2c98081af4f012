"""One exception type for every user-facing failure.

The CLI turns a `PrefixBenchError` into a single line on stderr and exit code 2, so bad input
(config, data files, predictions, checkpoints) never ends in a traceback. The message should say
what is wrong, where, and how to fix it.
"""


class PrefixBenchError(Exception):
    """A problem with the user's input or environment, reported as one line."""
