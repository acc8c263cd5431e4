"""Errors the engine reports to its caller as one clear line."""


class InputError(Exception):
    """Bad invocation or unreadable input: the CLI prints it and exits with code 2.

    The message names the file and, where one is at fault, the column.
    """


class RejectedRowError(InputError):
    """A row was rejected while ``on_invalid="error"`` asked to stop on the first one."""


class OutputError(InputError):
    """The output cannot be written: a directory that cannot be created, a full disk, a read-only
    file system.  The message names the path; nothing is committed and the previous result stays."""
