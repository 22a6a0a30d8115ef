"""Byte streams: open a path or standard input, recognise gzip by its magic
bytes, refuse binary garbage, and write outputs atomically."""

import gzip
import io
import os
import sys
import tempfile
import zlib

from ..errors import InputError, OutputError

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
            self._fh = _GuardedStdout(sys.stdout if self.text else sys.stdout.buffer)
            return self._fh
        folder = os.path.dirname(os.path.abspath(self.path))
        try:
            fd, self._tmp = tempfile.mkstemp(prefix=".tmp-", suffix="-" + os.path.basename(self.path), dir=folder)
        except FileNotFoundError:
            raise InputError("the output folder does not exist", file=self.path, hint="create it first") from None
        except OSError as exc:  # no write permission, read-only file system, no space or inodes left, ...
            raise OutputError.from_os_error(exc, self.path) from None
        if self.by_name:  # the caller writes the temporary file by its name (e.g. HDF5)
            os.close(fd)
            self._fh = None
            self._raw_parent = None
            return self._tmp
        # every write goes through _GuardedFile: a full disk names this output, not a traceback
        raw = io.BufferedWriter(_GuardedFile(fd, self.path), buffer_size=1 << 16)
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
            try:
                if self._fh is not None:
                    self._fh.close()
            finally:
                if self._raw_parent is not None:
                    self._raw_parent.close()
        except (OSError, OutputError) as err:
            self._discard()
            if exc_type is None:
                if isinstance(err, OutputError):
                    raise
                raise OutputError.from_os_error(err, self.path) from None
            return False
        if exc_type is not None:
            self._discard()
            if self.by_name and issubclass(exc_type, OSError) and _is_write_error(exc, self._tmp):
                raise OutputError.from_os_error(exc, self.path) from None  # e.g. HDF5 on a full disk
            return False
        try:
            os.chmod(self._tmp, 0o666 & ~_umask())
            os.replace(self._tmp, self.path)
        except OSError as err:
            self._discard()
            raise OutputError.from_os_error(err, self.path) from None
        return False

    def _discard(self):
        try:
            os.unlink(self._tmp)
        except OSError:
            pass


class _GuardedFile(io.RawIOBase):
    """A raw writer on a file descriptor whose failures (full disk, quota, I/O error)
    raise OutputError naming ``path``, the output the user asked for."""

    def __init__(self, fd, path):
        self._fd = fd
        self._path = path

    def writable(self):
        return True

    def fileno(self):
        return self._fd

    def write(self, b):
        try:
            return os.write(self._fd, b)
        except OSError as exc:
            raise OutputError.from_os_error(exc, self._path) from None

    def close(self):
        if self.closed:
            return
        try:
            os.close(self._fd)  # NFS reports some write failures only here
        except OSError as exc:
            raise OutputError.from_os_error(exc, self._path) from None
        finally:
            super().close()


class _GuardedStdout:
    """Standard output whose write failures (a full disk under ``>``) raise OutputError
    naming ``<stdout>``; a closed pipe stays a BrokenPipeError (a quiet end)."""

    def __init__(self, stream):
        self._stream = stream

    def _fail(self, exc):
        from ..errors import describe_os_error

        reason, hint = describe_os_error(exc)
        return OutputError(f"cannot write ({reason})", file="<stdout>", hint=hint)

    def write(self, data):
        try:
            return self._stream.write(data)
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise self._fail(exc) from None

    def flush(self):
        try:
            return self._stream.flush()
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise self._fail(exc) from None

    def __getattr__(self, name):
        return getattr(self._stream, name)


def _is_write_error(exc, tmp):
    """True when ``exc`` (an OSError raised while a by-name output was being written)
    concerns that file or is a failure of writing as such."""
    import errno

    from ..errors import WRITE_ERRNOS

    if tmp and tmp in str(exc):
        return True
    if exc.errno is not None:
        return errno.errorcode.get(exc.errno) in WRITE_ERRNOS
    text = str(exc).lower()
    return "write failed" in text or "no space left" in text or "unable to synchronously write" in text


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask
