"""Typed exceptions raised by the library and turned into ``Error:`` lines by the CLI."""


class ToolkitError(Exception):
    """Bad data or a run-time failure a user can act on.

    Parameters
    ----------
    what : str
        What went wrong.
    file, line, column : optional
        Where: the file name (or ``<stdin>``), the 1-based line of the file
        (the header is line 1) and the column name.
    hint : str, optional
        What to do about it.
    """

    def __init__(self, what, file=None, line=None, column=None, hint=None):
        self.what = what
        self.file = file
        self.line = line
        self.column = column
        self.hint = hint
        super().__init__(self.message())

    def where(self):
        parts = []
        if self.file is not None:
            parts.append(str(self.file))
        if self.line is not None:
            parts.append(f"line {self.line}")
        if self.column is not None:
            parts.append(f"column '{self.column}'")
        return ", ".join(parts)

    def message(self):
        msg = self.what
        where = self.where()
        if where:
            msg = f"{where}: {msg}"
        if self.hint:
            msg = f"{msg}; {self.hint}"
        return msg


class InputError(ToolkitError):
    """The input cannot be read or does not have the expected shape."""


class ConfigError(ToolkitError):
    """Options that are valid one by one but do not fit the data."""


class OutputError(ToolkitError):
    """An output cannot be written: a full disk or quota, a read-only file system,
    a folder without write permission. The message names the path; the previous
    file at that path, if any, is left as it was."""

    @classmethod
    def from_os_error(cls, exc, path):
        """The OutputError for ``exc`` (an OSError raised while writing ``path``)."""
        reason, hint = describe_os_error(exc)
        return cls(f"cannot write the output ({reason}); any previous file there is unchanged", file=path, hint=hint)


def describe_os_error(exc):
    """(reason, what to do) for an OSError: ``No space left on device, ENOSPC`` and a hint."""
    import errno
    import os

    code = exc.errno
    if code is None:  # e.g. HDF5's messages carry the C errno as text
        import re

        m = re.search(r"errno\s*=\s*(\d+)", str(exc))
        code = int(m.group(1)) if m else None
    name = errno.errorcode.get(code, "") if code else ""
    reason = os.strerror(code) if code else (exc.strerror or str(exc) or type(exc).__name__)
    if name:
        reason = f"{reason}, {name}"
    return reason, _WRITE_HINTS.get(name, "check the path, the folder's permissions and the free space")


WRITE_ERRNOS = ("ENOSPC", "EDQUOT", "EFBIG", "EROFS", "EACCES", "EPERM", "EIO")
_WRITE_HINTS = {
    "ENOSPC": "free space on that file system, or write elsewhere (-o)",
    "EDQUOT": "your disk quota is exhausted: free space, or write elsewhere (-o)",
    "EFBIG": "the file is larger than that file system allows: write elsewhere (-o)",
    "EROFS": "that file system is read-only: write elsewhere (-o)",
    "EACCES": "check the permissions of the file and its folder, or write elsewhere (-o)",
    "EPERM": "check the permissions of the file and its folder, or write elsewhere (-o)",
    "EIO": "the storage reported an I/O error: check the disk, or write elsewhere (-o)",
}
