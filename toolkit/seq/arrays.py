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
        hits = mask_table[self.buf]
        csum = np.concatenate([[0], np.cumsum(hits, dtype=np.int64)])
        return csum[self.ends] - csum[self.starts]

    def count_bytes(self, chars):
        table = np.zeros(256, dtype=bool)
        table[list(chars.encode("ascii"))] = True
        return self.count(table)

    def invalid(self):
        """Per-row count of characters outside A/C/G/T/N."""
        return self.count(~_VALID)
