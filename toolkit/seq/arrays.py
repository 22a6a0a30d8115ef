"""Vectorised views of many sequences at once: one byte buffer plus offsets."""

import numpy as np

_VALID = np.zeros(256, dtype=bool)
_VALID[list(b"ACGTN")] = True


class PackedSeqs:
    """Sequences packed into one uint8 buffer for fast per-row counting.

    Parameters
    ----------
    seqs : sequence of str
        Uppercase sequences; non-ASCII characters count as invalid.

    Attributes
    ----------
    buf : numpy.ndarray of uint8, shape (total_length,)
    starts, ends : numpy.ndarray of int64, shape (n,)
    lengths : numpy.ndarray of int64, shape (n,)
    """

    def __init__(self, seqs):
        seqs = list(seqs)
        self.lengths = np.fromiter((len(s) for s in seqs), dtype=np.int64, count=len(seqs))
        self.ends = np.cumsum(self.lengths)
        self.starts = self.ends - self.lengths
        joined = "".join(seqs).encode("ascii", errors="replace")
        self.buf = np.frombuffer(joined, dtype=np.uint8)

    def count(self, mask_table):
        """Per-row count of bytes whose ``mask_table[byte]`` is true.

        Returns numpy.ndarray of int64, shape (n,).
        """
        return self._per_row(mask_table.view(np.uint8)[self.buf])

    def _per_row(self, hits):
        n = len(self.lengths)
        if n and self.lengths[0] > 0 and (self.lengths == self.lengths[0]).all():
            return np.count_nonzero(hits.reshape(n, int(self.lengths[0])), axis=1).astype(np.int64)
        out = np.zeros(n, dtype=np.int64)
        nonempty = self.lengths > 0
        if nonempty.any():
            out[nonempty] = np.add.reduceat(hits.view(np.uint8), self.starts[nonempty], dtype=np.int64)
        return out

    def count_bytes(self, chars):
        """Per-row count of the given characters, e.g. ``count_bytes("GC")``."""
        codes = chars.encode("ascii")
        hits = self.buf == codes[0]
        for c in codes[1:]:
            hits |= self.buf == c
        return self._per_row(hits)

    def invalid(self):
        """Per-row count of characters outside A/C/G/T/N."""
        return self.count(~_VALID)


def ascii_buffer(seqs, strict=True):
    """All sequences as one uint8 buffer and their offsets.

    ``seqs``: anything indexable by row number with a length. With ``strict``, returns None if
    any sequence is not plain ASCII; otherwise a non-ASCII character becomes one '?' byte.

    Returns
    -------
    (buf, offsets) : uint8 (total_length,), int64 (n + 1,); row i is ``buf[offsets[i]:offsets[i + 1]]``.
    """
    n = len(seqs)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.fromiter((len(s) for s in seqs), dtype=np.int64, count=n), out=offsets[1:])
    buf = np.empty(offsets[-1], dtype=np.uint8)
    for b in range(0, n, 65536):   # in blocks: no second copy of every string at once
        e = min(b + 65536, n)
        text = "".join(seqs[i] for i in range(b, e))
        chunk = text.encode("utf-8") if strict else text.encode("ascii", "replace")
        if len(chunk) != offsets[e] - offsets[b]:
            return None
        buf[offsets[b]:offsets[e]] = np.frombuffer(chunk, dtype=np.uint8)
    return buf, offsets
