"""Byte streams: open a path or standard input, recognise gzip by its magic
bytes, refuse binary garbage, and write outputs atomically."""

import gzip
import io
import os
import sys
import tempfile
import zlib

from ..errors import InputError

GZIP_MAGIC = b"\x1f\x8b"
SNIFF_BYTES = 1 << 16


def display_name(path):
    """The name used in messages: ``<stdin>`` for ``-`` or None."""
    return "<stdin>" if path in (None, "-") else str(path)


class _GzipGuard(io.RawIOBase):
    """Wrap a GzipFile so that a truncated or corrupt stream raises InputError."""

    def __init__(self, raw, name):
        self._raw = raw
        self._name = name

    def readable(self):
        return True

    def readinto(self, b):
        try:
            data = self._raw.read(len(b))
        except (EOFError, zlib.error, gzip.BadGzipFile, OSError) as exc:
            raise InputError(
                f"the gzip stream is truncated or corrupt ({exc})",
                file=self._name,
                hint="re-download or re-compress the file (gzip -t checks it)",
            ) from None
        n = len(data)
        b[:n] = data
        return n

    def close(self):
        self._raw.close()
        super().close()


def open_binary(path):
    """Open ``path`` (or standard input for ``-``/None) for binary reading.

    gzip is recognised by its magic bytes whatever the file is called.
    Returns a buffered reader that supports ``peek``.
    """
    name = display_name(path)
    if path in (None, "-"):
        raw = sys.stdin.buffer
    else:
        try:
            raw = open(path, "rb")
        except FileNotFoundError:
            raise InputError("no such file", file=name, hint="check the path") from None
        except IsADirectoryError:
            raise InputError("is a directory, not a file", file=name) from None
        except PermissionError:
            raise InputError("permission denied", file=name) from None
    buf = raw if hasattr(raw, "peek") else io.BufferedReader(raw)
    if buf.peek(2)[:2] == GZIP_MAGIC:
        gz = gzip.GzipFile(fileobj=buf, mode="rb")
        return io.BufferedReader(_GzipGuard(gz, name), buffer_size=SNIFF_BYTES * 4)
    return buf


def sniff_text(stream, name):
    """Return the first up-to-64 KiB of ``stream`` decoded as text, without consuming it.

    Raises InputError for empty input or binary data (NUL bytes, invalid UTF-8).
    """
    head = stream.peek(SNIFF_BYTES)[:SNIFF_BYTES]
    if not head:
        raise InputError("the input is empty", file=name, hint="check the file or the command before the pipe")
    if b"\x00" in head:
        pos = head.index(b"\x00")
        raise InputError(
            f"binary data (NUL byte at offset {pos}); this is not a text table, FASTA or BED file",
            file=name,
            hint="give a TSV, CSV, FASTA or BED file, optionally gzipped",
        )
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a multi-byte character cut at the sniff boundary
            raise InputError(
                f"binary or non-UTF-8 data at byte {exc.start}",
                file=name,
                hint="give a TSV, CSV, FASTA or BED file in UTF-8 or ASCII",
            ) from None
        text = head[: exc.start].decode("utf-8")
    return text


def same_file(a, b):
    """True when paths ``a`` and ``b`` name the same existing file."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.abspath(a) == os.path.abspath(b)


class AtomicOutput:
    """Write to ``path`` atomically: a temporary file in the same folder, renamed on success.

    ``-`` writes to standard output. A path ending in ``.gz`` is gzip-compressed.
    With ``by_name``, entering yields the temporary file's name instead of a
    file object (for writers such as HDF5 that open files themselves).
    Use as a context manager; on an exception the temporary file is removed and
    any previous file at ``path`` is left intact.
    """

    def __init__(self, path, inputs=(), text=True, by_name=False):
        self.path = "-" if path is None else str(path)
        self.text = text
        self.by_name = by_name
        for inp in inputs:
            if inp not in (None, "-") and self.path != "-" and same_file(self.path, inp):
                raise InputError(
                    "refusing to write the output over the input file",
                    file=self.path,
                    hint="choose another -o path",
                )
        self._tmp = None
        self._fh = None

    def __enter__(self):
        if self.path == "-":
            self._fh = sys.stdout if self.text else sys.stdout.buffer
            return self._fh
        folder = os.path.dirname(os.path.abspath(self.path))
        try:
            fd, self._tmp = tempfile.mkstemp(prefix=".tmp-", suffix="-" + os.path.basename(self.path), dir=folder)
        except FileNotFoundError:
            raise InputError("the output folder does not exist", file=self.path, hint="create it first") from None
        except PermissionError:
            raise InputError("the output folder is not writable", file=self.path) from None
        if self.by_name:  # the caller writes the temporary file by its name (e.g. HDF5)
            os.close(fd)
            self._fh = None
            self._raw_parent = None
            return self._tmp
        raw = os.fdopen(fd, "wb")
        if self.path.endswith(".gz"):
            raw = gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="")
            self._raw_parent = raw.fileobj
        else:
            self._raw_parent = None
        self._binary = raw
        self._fh = io.TextIOWrapper(raw, encoding="utf-8", newline="") if self.text else raw
        return self._fh

    def __exit__(self, exc_type, exc, tb):
        if self.path == "-":
            if exc_type is None:
                self._fh.flush()
            return False
        try:
            if self._fh is not None:
                self._fh.close()
            if self._raw_parent is not None:
                self._raw_parent.close()
        except OSError as err:
            self._discard()
            if exc_type is None:
                raise InputError(f"could not write the output ({err.strerror})", file=self.path) from None
            return False
        if exc_type is not None:
            self._discard()
            return False
        mode = 0o666 & ~_umask()
        os.chmod(self._tmp, mode)
        os.replace(self._tmp, self.path)
        return False

    def _discard(self):
        try:
            os.unlink(self._tmp)
        except OSError:
            pass


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask
