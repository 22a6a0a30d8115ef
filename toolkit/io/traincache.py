"""The training cache of fit-cre and fit-physinformer: the train and val rows of a split
table, encoded, in one HDF5 file that training reads batches from by row index, so that
a table larger than memory trains at the speed of one held in memory.

The command reads its input once, chunk by chunk (test and excluded rows are dropped
before anything in them is parsed and never enter the cache), and appends each chunk's
train and val rows, already encoded, to the cache. It is written in the model directory as
``DIR/train_cache.h5``, under a temporary name (``DIR/.train_cache.h5.<pid>.tmp``) that
is renamed once every row and the metadata are in, so a file with the final name is
always complete. It stays there while the run trains (``--resume`` after a kill or
SIGTERM reads it instead of the input) and is deleted when the run finishes.

Layout (format 1)::

    /<split>/codes     uint8 [n, W]     sequence codes (A0 C1 G2 T3 N4) of each row, left-aligned
                                        and N-padded to W, the longest stored sequence; the model
                                        input is a row's central ``length`` bases (N-padded),
                                        toolkit.train.data.centre
    /<split>/lengths   int32 [n]        bases of each row's sequence
    /<split>/ids       str [n]          row ids
    /<split>/<name>    [n] or [n, k]    the command's per-row values, as read (raw): fit-cre
                                        y, se (float64 [n, T]), side (float32 [n, S]),
                                        cell (int32 [n]), target_idx (int64 [n]), groups (str [n]);
                                        fit-physinformer values (float32 or float64 [n, d]),
                                        act (float64 [n, A]) and origin (uint8 [n]: 0 a row of the
                                        input; --augment copies 1 mutated, 2 shuffled, 3 genome)
    attrs: format ("regseq-toolkit training cache"), format_version (1), kind (cre or
           physinformer), toolkit_version, complete (1), source (JSON: the input's path,
           size and mtime_ns; null for standard input), meta (JSON: what the command derived
           from the rows: normalisation, chosen columns, row counts, data hash)

``<split>`` is ``train`` or ``val``. Every dataset is chunked (about 256 kB a chunk, a
chunk spanning whole rows), uncompressed and appended one chunk at a time, so a writer
holds at most one chunk per dataset. The command's transforms (target standardisation,
SE weights, scalers) are fitted from the cache once it is written and applied to rows as
they are read, the same arithmetic in memory and streamed.

Reading by index: the byte offset of every chunk is taken from the file once
(``H5Dchunk_iter``); a row of a numeric dataset is then one positioned read (``pread``)
of its bytes, so a batch of random rows costs one small read per row and dataset, served
by the page cache, whatever the number of rows. String datasets (ids, groups) are read
through h5py.
"""

import json
import os

import numpy as np

from ..errors import InputError, OutputError

FORMAT = "regseq-toolkit training cache"
FORMAT_VERSION = 1
NAME = "train_cache.h5"
SPLITS = ("train", "val")
CHUNK_BYTES = 1 << 18
MAX_CHUNK_ROWS = 1 << 16
BLOCK_ROWS = 1 << 15
"""Rows per block of the sequential passes over a cache (statistics, hashing, loading)."""


def block_rows(row_bytes, budget=1 << 24):
    """Rows per block of a sequential pass over rows of ``row_bytes`` bytes (as float64 arrays):
    about ``budget`` bytes a block, between 256 and :data:`BLOCK_ROWS`."""
    return int(max(256, min(BLOCK_ROWS, budget // max(int(row_bytes), 1))))


def column_moments(blocks):
    """Per column over the rows of ``blocks()`` (a callable returning an iterator of float64
    arrays (rows, columns), read twice): finite count, mean and population SD, NaN and inf
    skipped, in two passes (mean, then the squared deviations), as a streamed table needs.
    Columns without a finite value get NaN."""
    total = count = None
    for x in blocks():
        ok = np.isfinite(x)
        s, c = np.where(ok, x, 0.0).sum(axis=0), ok.sum(axis=0)
        total, count = (s, c) if total is None else (total + s, count + c)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / count
        sq = np.zeros_like(total)
        for x in blocks():
            ok = np.isfinite(x)
            sq += np.where(ok, (x - mean) ** 2, 0.0).sum(axis=0)
        sd = np.sqrt(sq / count)
    return count, mean, sd


def path_in(out_dir):
    """The cache of a model directory."""
    return os.path.join(out_dir, NAME)


def fingerprint(input):
    """What identifies an input file for reuse of its cache: path, size, mtime_ns (None: standard input)."""
    if input in (None, "-"):
        return None
    try:
        st = os.stat(input)
    except OSError:
        return None
    return {"path": os.path.abspath(str(input)), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


class _Column:
    """One appendable dataset: rows are buffered until a whole chunk is ready, then written."""

    def __init__(self, group, name, sample, fill):
        import h5py

        self.name = name
        self.fill = fill
        self.strings = sample.dtype.kind in "OUS"
        trailing = sample.shape[1:]
        self.growable = sample.ndim == 2 and sample.dtype == np.uint8     # sequence codes: W grows
        if self.strings:
            dtype, rowbytes = h5py.string_dtype("utf-8"), 64
        else:
            dtype = sample.dtype.newbyteorder("<") if sample.dtype.byteorder == ">" else sample.dtype
            rowbytes = dtype.itemsize * int(np.prod(trailing, dtype=np.int64)) if trailing else dtype.itemsize
        width = max(1, trailing[0]) if self.growable else None
        rowbytes = max(1, rowbytes if not self.growable else width)
        self.chunk_rows = int(max(1, min(MAX_CHUNK_ROWS, CHUNK_BYTES // rowbytes)))
        shape = (0,) + tuple(trailing)
        if self.growable:
            shape = (0, width)
        maxshape = (None, None) if self.growable else (None,) + tuple(trailing)
        chunks = (self.chunk_rows,) + (tuple(shape[1:]) if shape[1:] else ())
        kw = {} if self.strings or fill is None else {"fillvalue": fill}
        self.ds = group.create_dataset(name, shape=shape, maxshape=maxshape, chunks=chunks, dtype=dtype, **kw)
        self.dtype = None if self.strings else dtype
        self.buf = []
        self.buffered = 0
        self.n = 0

    def append(self, block):
        block = np.asarray(block, dtype=object if self.strings else self.dtype)
        if self.growable and block.shape[1] > self.ds.shape[1]:
            self.ds.resize((self.ds.shape[0], block.shape[1]))
        self.buf.append(block)
        self.buffered += len(block)
        while self.buffered >= self.chunk_rows:
            self._write(self.chunk_rows)

    def flush(self):
        if self.buffered:
            self._write(self.buffered)

    def _write(self, m):
        rows, need = [], m
        while need:
            head = self.buf[0]
            if len(head) <= need:
                rows.append(self.buf.pop(0))
                need -= len(head)
            else:
                rows.append(head[:need])
                self.buf[0] = head[need:]
                need = 0
        if self.growable:
            W = self.ds.shape[1]
            out = np.full((m, W), self.fill, dtype=np.uint8)
            a = 0
            for r in rows:
                out[a:a + len(r), :r.shape[1]] = r
                a += len(r)
        else:
            out = np.concatenate(rows) if len(rows) > 1 else rows[0]
        self.ds.resize((self.n + m,) + self.ds.shape[1:])
        self.ds[self.n:self.n + m] = out
        self.n += m
        self.buffered -= m


class CacheWriter:
    """Write a training cache: ``append(split, arrays)`` chunk by chunk, then ``finish(meta)``.

    Parameters
    ----------
    path : str, the cache's final path (a temporary file next to it is written)
    kind : str, the command (``cre``, ``physinformer``)
    source : dict or None, :func:`fingerprint` of the input
    fills : dict dataset name -> fill value of the space a growing row width adds (codes: N)

    Every failure to write (a full disk, an unwritable folder) raises OutputError naming
    ``path`` and removes the temporary file; so does any error between creation and
    :meth:`finish` when the caller calls :meth:`abort` (use it as a context manager).
    """

    def __init__(self, path, kind, source=None, fills=None):
        from .. import __version__
        from .h5 import create_h5

        self.path = str(path)
        self.kind = kind
        folder = os.path.dirname(os.path.abspath(self.path))
        self.tmp = os.path.join(folder, f".{os.path.basename(self.path)}.{os.getpid()}.tmp")
        self.fills = {"codes": 4, **(fills or {})}
        try:
            self.h5, self._guard = create_h5(self.tmp)
        except OSError as exc:
            self._remove()
            raise OutputError.from_os_error(exc, self.path) from None
        self.h5.attrs["format"] = FORMAT
        self.h5.attrs["format_version"] = FORMAT_VERSION
        self.h5.attrs["kind"] = kind
        self.h5.attrs["toolkit_version"] = __version__
        self.h5.attrs["complete"] = 0
        self.h5.attrs["source"] = json.dumps(source)
        self.columns = {s: {} for s in SPLITS}
        self.groups = {s: self.h5.create_group(s) for s in SPLITS}
        self.rows = {s: 0 for s in SPLITS}
        self._check()

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        if exc is not None:
            self.abort()
        return False

    def append(self, split, arrays):
        """Append rows to ``split``: ``arrays`` maps dataset name -> array of m rows (every
        name the same m; a name first seen after rows were written is an error)."""
        m = {len(v) for v in arrays.values()}
        if len(m) != 1:
            raise ValueError(f"arrays of different lengths: { {k: len(v) for k, v in arrays.items()} }")
        m = m.pop()
        cols = self.columns[split]
        if not cols and self.rows[split] == 0:
            for name, v in arrays.items():
                cols[name] = _Column(self.groups[split], name, np.asarray(v), self.fills.get(name, 0))
        elif set(arrays) != set(cols):
            raise ValueError(f"datasets {sorted(arrays)} differ from the first block's {sorted(cols)}")
        try:
            for name, v in arrays.items():
                cols[name].append(v)
        except OSError as exc:
            raise OutputError.from_os_error(exc, self.path) from None
        self.rows[split] += m
        self._check()

    def flush(self):
        """Write every buffered row (reading the datasets back needs it)."""
        try:
            for cols in self.columns.values():
                for c in cols.values():
                    c.flush()
        except OSError as exc:
            raise OutputError.from_os_error(exc, self.path) from None
        self._check()

    def dataset(self, split, name):
        """A dataset of the file being written (flushed first), or None."""
        self.flush()
        return self.h5[split][name] if name in self.h5[split] else None

    def finish(self, meta):
        """Flush, store ``meta`` and the row counts, mark complete, rename to the final path."""
        self.flush()
        self.h5.attrs["meta"] = json.dumps(_plain(meta), allow_nan=True)
        self.h5.attrs["rows"] = json.dumps(self.rows)
        self.h5.attrs["complete"] = 1
        try:
            self.h5.close()
            if self._guard is not None:
                self._guard.close()
            from .h5 import check_h5

            check_h5(self.h5, self._guard)
            with open(self.tmp, "rb") as fh:
                os.fsync(fh.fileno())
            os.replace(self.tmp, self.path)
        except OSError as exc:
            self._remove()
            raise OutputError.from_os_error(exc, self.path) from None

    def abort(self):
        """Close and delete the temporary file (a failed or interrupted build)."""
        try:
            if self.h5.id.valid:
                self.h5.close()
        except Exception:  # noqa: BLE001  (the file is going anyway)
            pass
        if self._guard is not None:
            self._guard.close()
        self._remove()

    def _remove(self):
        try:
            os.unlink(self.tmp)
        except OSError:
            pass

    def _check(self):
        from .h5 import check_h5

        try:
            check_h5(self.h5, self._guard)
        except OSError as exc:
            self._remove()
            raise OutputError.from_os_error(exc, self.path) from None


def _plain(x):
    """numpy scalars and arrays inside ``x`` as JSON-able Python values."""
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, np.ndarray):
        return _plain(x.tolist())
    if isinstance(x, np.generic):
        return x.item()
    return x


class _Rows:
    """Positioned reads of the rows of one chunked, unfiltered numeric dataset."""

    def __init__(self, ds, fd, path):
        self.fd, self.path = fd, path
        self.shape = ds.shape
        self.dtype = ds.dtype
        chunks = ds.chunks
        self.C = chunks[0]
        self.cw = chunks[1] if len(chunks) > 1 else 1               # columns per chunk (2-D)
        self.width = self.shape[1] if len(self.shape) > 1 else 1
        self.trailing = self.shape[1:]
        self.colchunks = -(-self.width // self.cw) if self.width else 0
        self.item = self.dtype.itemsize
        rowchunks = -(-self.shape[0] // self.C) if self.shape[0] else 0
        self.offsets = np.full((rowchunks, max(self.colchunks, 1)), -1, dtype=np.int64)
        extra = int(np.prod(chunks[2:], dtype=np.int64)) if len(chunks) > 2 else 1
        self.chunk_row_bytes = self.cw * extra * self.item        # bytes of one row within one chunk
        fill = ds.fillvalue
        self.fill = np.asarray(fill if fill is not None else 0, dtype=self.dtype)

        def seen(info):
            r, c = info.chunk_offset[0] // self.C, (info.chunk_offset[1] // self.cw if len(info.chunk_offset) > 1 else 0)
            if info.filter_mask != 0:
                raise InputError("a chunk of the training cache is filtered; the cache was not written by this toolkit",
                                 file=path, hint="delete it; the next run rebuilds it")
            self.offsets[r, c] = info.byte_offset

        if rowchunks and self.colchunks:
            if hasattr(ds.id, "chunk_iter"):             # h5py >= 3.8: one call
                ds.id.chunk_iter(seen)
            else:                                        # older h5py: one query per chunk
                for i in range(ds.id.get_num_chunks()):
                    seen(ds.id.get_chunk_info(i))

    def read(self, idx):
        m = len(idx)
        out_cols = self.colchunks * self.cw
        row_bytes = self.chunk_row_bytes
        parts = []
        pread = os.pread
        fd = self.fd
        missing = None
        for i in idx.tolist():
            r, w = divmod(i, self.C)
            for c in range(self.colchunks):
                off = self.offsets[r, c]
                if off < 0:               # never written: the fill value
                    if missing is None:
                        missing = (self.fill.reshape(1).repeat(row_bytes // self.item)).tobytes()
                    parts.append(missing)
                    continue
                b = pread(fd, row_bytes, int(off) + w * row_bytes)
                if len(b) != row_bytes:
                    raise InputError("the training cache is truncated (a read ran past its end)", file=self.path,
                                     hint="delete it; the next run rebuilds it from the input")
                parts.append(b)
        flat = np.frombuffer(b"".join(parts), dtype=self.dtype)
        if len(self.trailing) == 0:
            return flat.copy()
        if len(self.trailing) == 1:
            return flat.reshape(m, out_cols)[:, :self.width].copy()
        return flat.reshape((m,) + self.trailing).copy()


class CacheReader:
    """A complete training cache opened for reading.

    ``rows(split)``, ``has(split, name)``, ``read(split, name, idx)`` (rows by index, in the
    order given), ``block(split, name, a, b)`` (a contiguous range), ``meta`` (the command's
    JSON), ``source`` (the input's fingerprint). An unreadable, truncated, incomplete or
    foreign file is an InputError naming it.
    """

    def __init__(self, path, kind):
        import h5py

        self.path = str(path)
        hint = "delete it; the next run (or --resume with the input table) rebuilds it from the input"
        try:
            self.h5 = h5py.File(self.path, "r")
        except FileNotFoundError:
            raise InputError("the training cache is missing", file=self.path,
                             hint="run again with the input table, which rebuilds it") from None
        except (OSError, ValueError) as exc:
            raise InputError(f"the training cache is unreadable or truncated ({str(exc).strip()[:160]})",
                             file=self.path, hint=hint) from None
        try:
            a = self.h5.attrs
            fmt = a.get("format")
            fmt = fmt.decode() if isinstance(fmt, bytes) else fmt
            if fmt != FORMAT:
                raise InputError("not a training cache (attribute 'format' missing or different)", file=self.path,
                                 hint=hint)
            if int(a.get("format_version", -1)) != FORMAT_VERSION:
                raise InputError(f"training cache format {a.get('format_version')} (this toolkit reads "
                                 f"{FORMAT_VERSION})", file=self.path, hint=hint)
            got = a.get("kind")
            got = got.decode() if isinstance(got, bytes) else got
            if got != kind:
                raise InputError(f"a training cache of fit-{got}, not fit-{kind}", file=self.path, hint=hint)
            if int(a.get("complete", 0)) != 1:
                raise InputError("the training cache is incomplete", file=self.path, hint=hint)
            self.meta = json.loads(_text(a["meta"]))
            self.source = json.loads(_text(a.get("source", "null")))
            self._rows = json.loads(_text(a["rows"]))
            for s in SPLITS:
                for name, ds in self.h5[s].items():
                    if ds.shape[0] != self._rows[s]:
                        raise InputError(f"dataset {s}/{name} holds {ds.shape[0]} rows, not {self._rows[s]}",
                                         file=self.path, hint=hint)
            self.fd = os.open(self.path, os.O_RDONLY)
            self._readers = {}
        except InputError:
            self.h5.close()
            raise
        except (OSError, KeyError, ValueError, RuntimeError) as exc:
            self.h5.close()
            raise InputError(f"the training cache is corrupt ({type(exc).__name__}: {str(exc).strip()[:160]})",
                             file=self.path, hint=hint) from None

    def rows(self, split):
        return int(self._rows[split])

    def has(self, split, name):
        return name in self.h5[split]

    def _reader(self, split, name):
        key = (split, name)
        r = self._readers.get(key)
        if r is None:
            ds = self.h5[split][name]
            if ds.dtype.kind in "OSU" or ds.chunks is None or ds.compression or ds.shuffle or ds.fletcher32 \
                    or ds.scaleoffset or not hasattr(os, "pread"):
                r = ds                    # strings, or a layout positioned reads do not cover: h5py
            else:
                try:
                    r = _Rows(ds, self.fd, self.path)
                except (AttributeError, NotImplementedError, TypeError):
                    r = ds                # an h5py or HDF5 without the chunk queries: h5py reads
                except (OSError, RuntimeError, ValueError) as exc:
                    raise InputError(f"cannot index the training cache ({exc})", file=self.path,
                                     hint="delete it; the next run rebuilds it") from None
            self._readers[key] = r
        return r

    def read(self, split, name, idx):
        """Rows ``idx`` (int array, any order, repeats allowed) of a dataset, in that order."""
        idx = np.asarray(idx, dtype=np.int64)
        r = self._reader(split, name)
        if isinstance(r, _Rows):
            return r.read(idx)
        if not len(idx):
            return self.block(split, name, 0, 0)
        order = np.argsort(idx, kind="stable")
        uniq, inv = np.unique(idx[order], return_inverse=True)
        vals = self._h5read(r, uniq)
        out = np.empty((len(idx),) + vals.shape[1:], dtype=vals.dtype)
        out[order] = vals[inv]
        return out

    def _h5read(self, ds, rows):
        try:
            v = (ds.asstr() if ds.dtype.kind == "O" else ds)[rows]
        except (OSError, RuntimeError) as exc:
            raise InputError(f"cannot read the training cache ({str(exc).strip()[:160]})", file=self.path,
                             hint="delete it; the next run rebuilds it") from None
        return np.asarray(v, dtype=object) if ds.dtype.kind == "O" else v

    def block(self, split, name, a, b):
        """Rows a..b-1 of a dataset."""
        ds = self.h5[split][name]
        try:
            v = (ds.asstr() if ds.dtype.kind == "O" else ds)[a:b]
        except (OSError, RuntimeError) as exc:
            raise InputError(f"cannot read the training cache ({str(exc).strip()[:160]})", file=self.path,
                             hint="delete it; the next run rebuilds it") from None
        return np.asarray(v, dtype=object) if ds.dtype.kind == "O" else v

    def close(self):
        if getattr(self, "fd", None) is not None:
            os.close(self.fd)
            self.fd = None
        if self.h5.id.valid:
            self.h5.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def _text(v):
    return v.decode() if isinstance(v, bytes) else str(v)


def reusable(path, input, kind):
    """Whether ``--resume`` can train from the cache at ``path`` instead of reading ``input``
    again: it exists and was built from this input (same path, size and mtime; an input
    given as standard input, or none, always takes the cache). A cache that exists but
    cannot be read is an InputError (not silently rebuilt)."""
    if not os.path.exists(path):
        return False
    with CacheReader(path, kind) as r:
        src = r.source
    now = fingerprint(input)
    return now is None or (src is not None and now == src)


def check_source(path, input):
    """``--resume`` without a cache reads the input again: none given (standard input a
    terminal) is an InputError naming the missing cache."""
    if input in (None, "-") and _stdin_is_terminal():
        raise InputError("the training cache is missing and no input was given", file=path,
                         hint="give the input table again (COMMAND TABLE -o DIR --resume), which rebuilds it")


def _stdin_is_terminal():
    import sys

    return sys.stdin is not None and sys.stdin.isatty()


def remove(path):
    """Delete a cache (end of a finished run); a missing file is fine."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def in_memory_bytes(rows, row_bytes):
    """Bytes the train and val rows take as in-memory arrays."""
    return int(sum(rows.values()) * row_bytes)


MEMORY_LIMIT = 256 << 20
"""The automatic switch: train and val rows that take at most this many bytes as
in-memory arrays are loaded into memory; larger ones are read from the cache batch by
batch (``--data-in-memory`` / ``--stream-data`` choose either)."""


def choose_mode(flag, rows, row_bytes):
    """``memory`` or ``stream``: the flag (True: memory, False: stream), else by :data:`MEMORY_LIMIT`."""
    if flag is not None:
        return "memory" if flag else "stream"
    return "memory" if in_memory_bytes(rows, row_bytes) <= MEMORY_LIMIT else "stream"
