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
