"""descfeat's HDF5 layout, written in chunks and read back by the fit-* commands.

Layout (format 1)::

    /descriptors           float32 [n, d]   descriptor values (NaN where undefined)
    /descriptor_names      str [d]
    /descriptor_families   str [d]
    /ids                   str [n]
    /sequences             str [n]
    /columns/<name>        str [n]          every other input column, as text
    attrs: format ("regseq-toolkit descfeat"), format_version (1), toolkit_version,
           column_order (JSON list of the passthrough columns, in input order),
           plus what the writer is given (cell type, motif source and release,
           parameter table checksums as JSON, families).

Strings are variable-length UTF-8. Datasets are chunked and grow as chunks are
appended, so a writer never holds more than one chunk.
"""

import json
import os

import numpy as np

from ..errors import InputError

FORMAT = "regseq-toolkit descfeat"
FORMAT_VERSION = 1


class H5Writer:
    """Append chunks of rows to a descfeat HDF5 file.

    Parameters
    ----------
    fileobj : path or binary file object
    names, families : list of str, length d
    attrs : dict of attribute name -> str/int/float (dicts and lists are stored as JSON)
    """

    def __init__(self, fileobj, names, families, attrs):
        import h5py

        from .. import __version__

        self.h5, self._raw = create_h5(fileobj)
        d = len(names)
        s = h5py.string_dtype("utf-8")
        self.h5.create_dataset("descriptors", shape=(0, d), maxshape=(None, d), dtype="float32",
                               chunks=(max(1, min(4096, (1 << 18) // max(d, 1))), d) if d else None,
                               compression="gzip", compression_opts=4, shuffle=True)
        self.h5.create_dataset("descriptor_names", data=np.array(names, dtype=object), dtype=s)
        self.h5.create_dataset("descriptor_families", data=np.array(families, dtype=object), dtype=s)
        for key in ("ids", "sequences"):
            self.h5.create_dataset(key, shape=(0,), maxshape=(None,), dtype=s, chunks=(4096,))
        self.h5.create_group("columns")
        self.h5.attrs["format"] = FORMAT
        self.h5.attrs["format_version"] = FORMAT_VERSION
        self.h5.attrs["toolkit_version"] = __version__
        for k, v in attrs.items():
            self.h5.attrs[k] = json.dumps(v) if isinstance(v, (dict, list, tuple)) else ("" if v is None else v)
        self.columns = None
        self.n = 0

    def append(self, ids, seqs, columns, values):
        """Append rows: ids, seqs (str arrays (m,)), columns (dict name -> str array (m,)), values (m, d)."""
        import h5py

        m = len(ids)
        if self.columns is None:
            self.columns = list(columns)
            self.h5.attrs["column_order"] = json.dumps(self.columns)
            s = h5py.string_dtype("utf-8")
            for c in self.columns:
                self.h5["columns"].create_dataset(c, shape=(0,), maxshape=(None,), dtype=s, chunks=(4096,))
        new = self.n + m
        ds = self.h5["descriptors"]
        ds.resize((new, ds.shape[1]))
        ds[self.n:new] = np.asarray(values, dtype=np.float32)
        for key, vals in (("ids", ids), ("sequences", seqs)):
            self.h5[key].resize((new,))
            self.h5[key][self.n:new] = np.asarray(vals, dtype=object)
        for c in self.columns:
            dset = self.h5["columns"][c]
            dset.resize((new,))
            dset[self.n:new] = np.asarray(columns[c], dtype=object)
        self.n = new
        check_h5(self.h5, self._raw)

    def close(self):
        self.h5.close()
        if self._raw is not None:
            self._raw.close()  # a failure here is kept too
        check_h5(self.h5, self._raw)


def create_h5(target):
    """``(h5py.File, guard)``: a new HDF5 file for writing at path ``target``, written through
    a :class:`WriteGuard` (``guard``; None when ``target`` is already a file object).

    HDF5 does not survive a failed write (a full disk): it fails later inside object
    clean-up and can crash the interpreter. Through the guard HDF5 never sees one; call
    :func:`check_h5` after each batch of writes to raise it as an OSError.
    """
    import h5py

    if not isinstance(target, (str, os.PathLike)):
        return h5py.File(target, "w"), None
    guard = WriteGuard(target)
    try:
        return h5py.File(guard, "w"), guard
    except BaseException:
        guard.close()
        raise


def check_h5(h5, guard):
    """Raise the first write failure of ``guard`` (see :func:`create_h5`), closing the file first."""
    if guard is None or guard.error is None:
        return
    try:
        if h5.id.valid:
            h5.close()  # flushed into the guard's memory, harmlessly
    finally:
        guard.close()
    raise guard.error


class WriteGuard:
    """A read-write binary file for h5py's ``fileobj`` driver that never fails a write.

    The first failing write (ENOSPC, EDQUOT, EIO, ...) is kept in ``error``; it and every
    later write are then held in memory, so that what HDF5 reads back stays consistent
    until the caller checks ``error`` and gives up on the file.
    """

    def __init__(self, path):
        self.path = str(path)
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o666)
        self._pos = 0
        self._size = 0
        self._held = []  # (offset, bytes) written after the first failure
        self.error = None

    def seek(self, offset, whence=0):
        self._pos = offset if whence == 0 else self._pos + offset if whence == 1 else self._size + offset
        return self._pos

    def tell(self):
        return self._pos

    def write(self, data):
        view = memoryview(data).cast("B")
        n = len(view)
        if self.error is None:
            try:
                done = 0
                while done < n:
                    done += os.pwrite(self._fd, view[done:], self._pos + done)
            except OSError as exc:
                self.error = OSError(exc.errno, exc.strerror, self.path)
        if self.error is not None:
            self._held.append((self._pos, bytes(view)))
        self._pos += n
        self._size = max(self._size, self._pos)
        return n

    def read(self, size=-1):
        if size is None or size < 0:
            size = max(0, self._size - self._pos)
        buf = bytearray(size)
        self.readinto(buf)
        return bytes(buf)

    def readinto(self, buf):
        view = memoryview(buf).cast("B")
        n = len(view)
        got = 0
        if self._fd is not None:
            data = os.pread(self._fd, n, self._pos)
            got = len(data)
            view[:got] = data
        view[got:] = bytes(n - got)  # past the end: zeros, as HDF5's own driver gives
        for off, data in self._held:
            a, b = max(off, self._pos), min(off + len(data), self._pos + n)
            if a < b:
                view[a - self._pos:b - self._pos] = data[a - off:b - off]
        self._pos += n
        return n

    def truncate(self, size=None):
        size = self._pos if size is None else size
        if self.error is None:
            try:
                os.ftruncate(self._fd, size)
            except OSError as exc:
                self.error = OSError(exc.errno, exc.strerror, self.path)
        self._size = size
        return size

    def flush(self):
        pass

    def readable(self):
        return True

    def writable(self):
        return True

    def seekable(self):
        return True

    def close(self):
        if self._fd is not None:
            try:
                os.close(self._fd)
            except OSError as exc:
                if self.error is None:
                    self.error = OSError(exc.errno, exc.strerror, self.path)
            self._fd = None


SHARD_ATTRS = ("shard", "shard_first_row")
"""Attributes of a file written by ``descfeat --shard I/N``: ``shard`` ("I/N") and
``shard_first_row`` (0-based input row of its first row). :func:`merge_h5` orders by them."""


def merge_h5(paths, out, block_rows=8192):
    """Join descfeat HDF5 files into one, streamed ``block_rows`` rows at a time.

    Files written with ``--shard I/N`` must form one complete set (1..N of the same N, any
    order given); they are joined in shard order, so the result holds what the unsharded
    run writes (same rows, values, columns and attributes; the HDF5 bytes may differ).
    Files without shard attributes are joined in the order given. All must have the same
    descriptors, passthrough columns and descriptor attributes (cell type, families,
    motif source, parameter checksums).

    Parameters
    ----------
    paths : list of str
    out : str or file object, where the merged file is written (an HDF5 writer's target)

    Returns
    -------
    dict: ``rows`` (total), ``files`` (the paths in the order joined), ``shards`` (N or None)
    """
    import h5py

    from .. import __version__

    if not paths:
        raise InputError("nothing to merge", hint="give the descfeat HDF5 files to join")
    metas = [_h5_meta(p) for p in paths]
    sharded = [m["shard"] is not None for m in metas]
    if any(sharded) and not all(sharded):
        plain = next(m["path"] for m in metas if m["shard"] is None)
        raise InputError("mixes files written with --shard and without", file=plain,
                         hint="merge the shards of one run, or files of separate runs, not both")
    count = None
    if all(sharded):
        counts = {m["shard"][1] for m in metas}
        if len(counts) > 1:
            raise InputError(f"the files are shards of different splits (N = {', '.join(map(str, sorted(counts)))})",
                             file=metas[0]["path"], hint="merge the N shards of one run")
        count = counts.pop()
        seen = {}
        for m in metas:
            i = m["shard"][0]
            if i in seen:
                raise InputError(f"shard {i}/{count} is given twice (also as {seen[i]})", file=m["path"])
            seen[i] = m["path"]
        missing = [i for i in range(1, count + 1) if i not in seen]
        if missing:
            raise InputError(f"shard(s) {', '.join(f'{i}/{count}' for i in missing[:10])} missing", file=metas[0]["path"],
                             hint="run them, then merge all N")
        metas.sort(key=lambda m: m["shard"][0])
        row = 0
        for m in metas:
            if m["first_row"] != row:
                raise InputError(f"shard {m['shard'][0]}/{count} starts at input row {m['first_row']}, expected {row} "
                                 "(shards of different inputs?)", file=m["path"])
            row += m["rows"]
    ref = metas[0]
    for m in metas[1:]:
        for key, what in (("names", "descriptors"), ("columns", "passthrough columns"), ("attrs", "attributes")):
            if m[key] != ref[key]:
                diff = what if key != "attrs" else "attributes " + ", ".join(
                    sorted(k for k in set(m[key]) | set(ref[key]) if m[key].get(k) != ref[key].get(k)))
                raise InputError(f"differs from {ref['path']} in its {diff}", file=m["path"],
                                 hint="merge files written by the same descfeat command")
    writer = H5Writer(out, ref["names"], ref["families"], {})
    for k, v in ref["raw_attrs"].items():  # exactly as the first file has them, shard attributes dropped
        writer.h5.attrs[k] = v
    writer.h5.attrs["toolkit_version"] = __version__
    for m in metas:
        with h5py.File(m["path"], "r") as h5:
            n = h5["descriptors"].shape[0]
            if n == 0 and writer.columns is None:
                writer.append([], [], {c: [] for c in m["columns"]}, np.zeros((0, len(ref["names"])), np.float32))
            for a in range(0, n, block_rows):
                b = min(a + block_rows, n)
                cols = {c: h5["columns"][c].asstr()[a:b] for c in m["columns"]}
                writer.append(h5["ids"].asstr()[a:b], h5["sequences"].asstr()[a:b], cols, h5["descriptors"][a:b])
    if writer.columns is None:  # no rows at all
        writer.append([], [], {c: [] for c in ref["columns"]}, np.zeros((0, len(ref["names"])), np.float32))
    rows = writer.n
    writer.close()
    return {"rows": rows, "files": [m["path"] for m in metas], "shards": count}


_WRITE_HINT = "write it with descfeat -o FILE.h5"


def open_h5(path, shown=None, hint=_WRITE_HINT):
    """Open a descfeat HDF5 file for reading (an h5py.File, to be closed by the caller),
    or raise InputError naming ``shown`` (default ``path``) when it is not a readable
    HDF5 file or not one descfeat wrote (its ``format`` attribute)."""
    import h5py

    name = str(shown or path)
    try:
        h5 = h5py.File(path, "r")
    except (OSError, ValueError) as exc:
        raise InputError(f"not a readable HDF5 file ({exc})", file=name, hint=hint) from None
    if h5.attrs.get("format") != FORMAT:
        h5.close()
        raise InputError("not a descfeat HDF5 file (attribute 'format' missing or different)", file=name,
                         hint=_WRITE_HINT)
    return h5


def _h5_meta(path):
    """What :func:`merge_h5` checks of one file: names, columns, attributes, shard, rows."""
    with open_h5(path, hint="--merge joins descfeat -o FILE.h5 outputs; join TSV shards with cat") as h5:
        raw = {k: v for k, v in h5.attrs.items() if k not in SHARD_ATTRS and k != "toolkit_version"}
        attrs = {k: (v.decode() if isinstance(v, bytes) else v.item() if hasattr(v, "item") else v)
                 for k, v in raw.items()}
        shard = None
        if "shard" in h5.attrs:
            text = h5.attrs["shard"]
            text = text.decode() if isinstance(text, bytes) else str(text)
            i, n = (int(x) for x in text.split("/"))
            shard = (i, n)
        return {"path": str(path), "names": [x for x in h5["descriptor_names"].asstr()[()]],
                "families": [x for x in h5["descriptor_families"].asstr()[()]],
                "columns": json.loads(attrs.get("column_order") or "[]"), "attrs": attrs, "raw_attrs": raw,
                "shard": shard, "first_row": int(h5.attrs.get("shard_first_row", 0)),
                "rows": int(h5["descriptors"].shape[0])}


def read_h5(path):
    """Read a descfeat HDF5 file.

    Returns
    -------
    dict with ``values`` float32 (n, d), ``names``, ``families`` (lists of str), ``ids``,
    ``sequences`` (lists of str), ``columns`` (dict name -> list of str, input order) and
    ``attrs`` (dict; JSON attributes decoded).
    """
    with open_h5(path) as h5:
        attrs = {}
        for k, v in h5.attrs.items():
            if isinstance(v, bytes):
                v = v.decode()
            if isinstance(v, str) and v[:1] in "[{":
                try:
                    v = json.loads(v)
                except ValueError:
                    pass
            attrs[k] = v.item() if hasattr(v, "item") else v
        order = attrs.get("column_order") or []

        def text(ds):
            return [x.decode() if isinstance(x, bytes) else x for x in ds[()]]

        return {
            "values": h5["descriptors"][()],
            "names": text(h5["descriptor_names"]),
            "families": text(h5["descriptor_families"]),
            "ids": text(h5["ids"]),
            "sequences": text(h5["sequences"]),
            "columns": {c: text(h5["columns"][c]) for c in order},
            "attrs": attrs,
        }


class H5Rows:
    """Descriptors of a descfeat HDF5 file looked up by row id, read in blocks (the file is
    never read whole): what ``fit-cre --features FILE.h5`` / ``--modality NAME=FILE.h5``
    join to a table that is read chunk by chunk.

    The id index takes 16 bytes a row of the file: a sorted 64-bit hash of each id with its
    row; every hit is confirmed against the stored id (a duplicated id resolves to its last
    row, as a dict built over the file would). ``values(ids)`` reads the rows it needs in
    blocks of ``block_rows`` consecutive rows, one block at a time.

    Parameters
    ----------
    path : str
    names : list of str or None, the descriptors wanted (None: all, in file order)
    """

    def __init__(self, path, names=None, block_rows=8192):
        import pandas as pd

        self.path = str(path)
        self.block_rows = block_rows
        self.h5 = open_h5(self.path)
        have = [x.decode() if isinstance(x, bytes) else x for x in self.h5["descriptor_names"][()]]
        self.names = list(have if names is None else names)
        pos = {n: i for i, n in enumerate(have)}
        missing = [n for n in self.names if n not in pos]
        if missing:
            self.h5.close()
            raise InputError(f"descriptor(s) missing: {', '.join(missing[:5])}", file=self.path,
                             hint="compute the features with the same descfeat options as for training")
        self.cols = np.fromiter((pos[n] for n in self.names), dtype=np.int64, count=len(self.names))
        ids = self.h5["ids"]
        self.n = ids.shape[0]
        keys = np.empty(self.n, dtype=np.uint64)
        for a in range(0, self.n, 1 << 16):
            b = min(a + (1 << 16), self.n)
            keys[a:b] = pd.util.hash_array(np.asarray(ids.asstr()[a:b], dtype=object), categorize=False)
        order = np.argsort(keys, kind="stable")
        self.keys, self.order = keys[order], order.astype(np.int64)
        self._hash = lambda v: pd.util.hash_array(np.asarray(v, dtype=object), categorize=False)

    def rows(self, ids):
        """The file row of each id (int64); an id that is not in the file is an InputError."""
        ids = np.asarray([str(x) for x in ids], dtype=object)
        h = self._hash(ids)
        lo = np.searchsorted(self.keys, h, side="left")
        hi = np.searchsorted(self.keys, h, side="right")
        row = np.where(hi > lo, self.order[np.maximum(hi - 1, 0)] if self.n else -1, -1)
        found = hi > lo
        if found.any():                      # confirm against the stored ids (hash collisions)
            got = np.asarray(self._ids_at(row[found]), dtype=object)
            wrong = np.flatnonzero(found)[got != ids[found]]
            for i in wrong:                  # rare: scan the rows sharing the hash
                cand = [r for r in self.order[lo[i]:hi[i]] if self._ids_at(np.array([r]))[0] == ids[i]]
                row[i] = max(cand) if cand else -1
        absent = np.flatnonzero(row < 0)
        if len(absent):
            raise InputError(f"{len(absent)} row id(s) of the input are not in the file, e.g. '{ids[absent[0]]}'",
                             file=self.path, hint="run descfeat on the same table (ids must match)")
        return row

    def _ids_at(self, rows):
        rows = np.asarray(rows, dtype=np.int64)
        order = np.argsort(rows, kind="stable")
        uniq, inv = np.unique(rows[order], return_inverse=True)
        vals = np.asarray(self.h5["ids"].asstr()[uniq], dtype=object)
        out = np.empty(len(rows), dtype=object)
        out[order] = vals[inv]
        return out

    def values(self, ids):
        """float32 (len(ids), len(names)): the descriptors of each id's row."""
        rows = self.rows(ids)
        out = np.empty((len(rows), len(self.names)), dtype=np.float32)
        ds = self.h5["descriptors"]
        blocks = rows // self.block_rows
        for blk in np.unique(blocks):
            a = int(blk) * self.block_rows
            data = ds[a:min(a + self.block_rows, self.n)]
            sel = np.flatnonzero(blocks == blk)
            out[sel] = data[rows[sel] - a][:, self.cols]
        return out

    def close(self):
        if self.h5.id.valid:
            self.h5.close()
