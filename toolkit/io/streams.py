"""Byte streams: open a path or standard input, recognise gzip by its magic
bytes, refuse binary garbage, and write outputs atomically."""

import gzip
import io
import os
import re
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
    """Write to ``path``: atomically when it is (or will be) a regular file, through otherwise.

    - a regular file (or a new path): a temporary file in the same folder, renamed over
      ``path`` on success; on an exception the temporary file is removed and any previous
      file at ``path`` is left intact. A symbolic link is followed: the file it points to
      is replaced and the link stays. A read-only file (no write permission bit, or not
      writable by this user) is refused, not replaced.
    - anything else that exists (a character device such as ``/dev/stdout``, ``/dev/stderr``
      or a terminal, a FIFO, a socket reached through ``/proc/self/fd``): written through,
      never replaced; ``/dev/stdout``, ``/dev/fd/N`` and ``/proc/self/fd/N`` write to this
      process's descriptor N.
    - ``-``: standard output.

    A path ending in ``.gz`` is gzip-compressed. With ``by_name``, entering yields the name
    of a temporary regular file instead of a file object (for writers such as HDF5 that
    open files themselves); for a write-through target its bytes are copied there on success.
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
        self._through = self.path != "-" and (_own_descriptor(self.path) is not None or is_special_file(self.path))
        # the file that is replaced: a symbolic link's target, so that the link stays
        self._target = os.path.realpath(self.path) if self.path != "-" and not self._through else self.path
        if self.path != "-" and not self._through:
            _refuse_read_only(self._target, self.path)
        self._tmp = None
        self._fh = None
        self._raw_parent = None

    def __enter__(self):
        if self.path == "-":
            self._fh = _GuardedStdout(sys.stdout if self.text else sys.stdout.buffer)
            return self._fh
        if self._through and not self.by_name:
            fd = _open_through(self.path)
        else:
            folder = os.path.dirname(self._target) if not self._through else None
            try:
                fd, self._tmp = tempfile.mkstemp(prefix=".tmp-", suffix="-" + os.path.basename(self.path), dir=folder)
            except FileNotFoundError:
                raise InputError("the output folder does not exist", file=self.path, hint="create it first") from None
            except OSError as exc:  # no write permission, read-only file system, no space or inodes left, ...
                raise OutputError.from_os_error(exc, self.path) from None
            _TEMPORARY.add(self._tmp)
        if self.by_name:  # the caller writes the temporary file by its name (e.g. HDF5)
            os.close(fd)
            return self._tmp
        # every write goes through _GuardedFile: a full disk names this output, not a traceback
        raw = io.BufferedWriter(_GuardedFile(fd, self.path), buffer_size=1 << 16)
        if self.path.endswith(".gz"):
            raw = gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="")
            self._raw_parent = raw.fileobj
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
                if isinstance(err, (OutputError, BrokenPipeError)):
                    raise
                raise OutputError.from_os_error(err, self.path) from None
            return False
        if exc_type is not None:
            self._discard()
            if self.by_name and issubclass(exc_type, OSError) and _is_write_error(exc, self._tmp):
                raise OutputError.from_os_error(exc, self.path) from None  # e.g. HDF5 on a full disk
            return False
        if self._through:
            if self.by_name:  # a by-name output for a device or FIFO: copy the finished file through
                try:
                    _copy_through(self._tmp, self.path)
                finally:
                    self._discard()
            return False
        try:
            os.chmod(self._tmp, file_mode(self._target))
            os.replace(self._tmp, self._target)
        except OSError as err:
            self._discard()
            raise OutputError.from_os_error(err, self.path) from None
        _TEMPORARY.discard(self._tmp)
        return False

    def _discard(self):
        if self._tmp is None:
            return
        try:
            os.unlink(self._tmp)
        except OSError:
            pass
        _TEMPORARY.discard(self._tmp)


# Temporary files of outputs being written, removed by remove_temporary_files() when a
# signal ends the command in a way that skips the context managers.
_TEMPORARY = set()


def remove_temporary_files():
    """Remove every temporary output file this process still has open (after a fatal signal)."""
    for tmp in list(_TEMPORARY):
        try:
            os.unlink(tmp)
        except OSError:
            pass
        _TEMPORARY.discard(tmp)


def is_special_file(path):
    """True when ``path`` exists (following links) and is not a regular file or a folder:
    a character or block device, a FIFO, a socket; such outputs are written through."""
    import stat

    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


_FD_PATH = re.compile(r"^/(?:proc/self|dev)/fd/(\d+)$")


def _own_descriptor(path):
    """This process's descriptor that ``path`` names (``/dev/stdout``, ``/dev/fd/2``,
    ``/proc/self/fd/1``, or a link to one), or None."""
    p = str(path)
    for _ in range(8):  # follow a chain of links by hand: realpath would resolve /proc/self/fd/1 to 'pipe:[…]'
        if p in ("/dev/stdin", "/dev/stdout", "/dev/stderr"):
            return ("/dev/stdin", "/dev/stdout", "/dev/stderr").index(p)
        m = _FD_PATH.match(p)
        if m:
            return int(m.group(1))
        if not os.path.islink(p):
            return None
        link = os.readlink(p)
        p = link if os.path.isabs(link) else os.path.join(os.path.dirname(p), link)
    return None


def _open_through(path):
    """A descriptor writing through to the existing non-regular file ``path``."""
    fd = _own_descriptor(path)
    if fd is not None:
        if fd in (1, 2):
            (sys.stdout if fd == 1 else sys.stderr).flush()
        try:
            return os.dup(fd)
        except OSError as exc:
            raise OutputError.from_os_error(exc, path) from None
    try:
        return os.open(path, os.O_WRONLY | os.O_APPEND | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise OutputError.from_os_error(exc, path) from None


def _copy_through(tmp, path):
    """Copy the finished temporary file ``tmp`` to the non-regular file ``path``."""
    fd = _open_through(path)
    out = _GuardedFile(fd, path)
    try:
        with open(tmp, "rb") as src:
            while True:
                block = src.read(1 << 20)
                if not block:
                    break
                view = memoryview(block)
                while view:
                    view = view[out.write(view):]
    finally:
        out.close()


def _refuse_read_only(target, path):
    """Refuse to replace an existing regular file that is read-only (mode 444 and the like);
    root could rename over it, but a read-only file says: do not change me."""
    try:
        mode = os.stat(target).st_mode
    except OSError:
        return
    if mode & 0o222 and os.access(target, os.W_OK):
        return
    if mode & 0o222:  # writable by someone, not by us: unless the whole file system is read-only (said later)
        try:
            if os.statvfs(os.path.dirname(target) or ".").f_flag & os.ST_RDONLY:
                return
        except OSError:
            pass
    raise OutputError("the output file is read-only; it was left unchanged", file=path,
                      hint="choose another path, or make it writable (chmod u+w) if it may be replaced")


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
        except BrokenPipeError:  # a pipe or FIFO written through, closed by its reader: a quiet end
            raise
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


def file_mode(target):
    """The permissions a finished output takes: those of the file it replaces, else 0666 less
    the umask (what open() would give it; a temporary file from mkstemp has 0600)."""
    return os.stat(target).st_mode & 0o7777 if os.path.exists(target) else 0o666 & ~_umask()
