"""Small sequence utilities: reverse complement, GC, hashing. No torch imports."""

import hashlib

import numpy as np

_COMP = str.maketrans("ACGTNacgtn", "TGCANtgcan")
# byte lookup: complement for A/C/G/T/N (upper), identity elsewhere
_COMP_BYTES = np.arange(256, dtype=np.uint8)
for a, b in zip(b"ACGTN", b"TGCAN"):
    _COMP_BYTES[a] = b


def reverse_complement(seq):
    """Reverse complement of a DNA string (A/C/G/T/N, either case)."""
    return seq.translate(_COMP)[::-1]


def sha1(seq):
    """SHA1 hex digest of a sequence string."""
    return hashlib.sha1(seq.encode("ascii", "replace")).hexdigest()


def gc_fraction(seqs):
    """GC fraction of each sequence over its A/C/G/T bases (N excluded).

    Parameters
    ----------
    seqs : sequence of str
        Uppercase sequences.

    Returns
    -------
    numpy.ndarray of float64, shape (n,); NaN where a sequence has no A/C/G/T.
    """
    out = np.empty(len(seqs), dtype=np.float64)
    for i, s in enumerate(seqs):
        gc = s.count("G") + s.count("C")
        at = s.count("A") + s.count("T")
        out[i] = gc / (gc + at) if gc + at else np.nan
    return out
