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

        self.h5 = h5py.File(fileobj, "w")
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

    def close(self):
        self.h5.close()


def read_h5(path):
    """Read a descfeat HDF5 file.

    Returns
    -------
    dict with ``values`` float32 (n, d), ``names``, ``families`` (lists of str), ``ids``,
    ``sequences`` (lists of str), ``columns`` (dict name -> list of str, input order) and
    ``attrs`` (dict; JSON attributes decoded).
    """
    import h5py

    try:
        h5 = h5py.File(path, "r")
    except (OSError, ValueError) as exc:
        raise InputError(f"not a readable HDF5 file ({exc})", file=path) from None
    with h5:
        if h5.attrs.get("format") != FORMAT:
            raise InputError("not a descfeat HDF5 file (attribute 'format' missing or different)", file=path,
                             hint="write it with descfeat -o FILE.h5")
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
