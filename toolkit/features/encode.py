"""Shared vectorised encodings for the descriptor families.

Families compute on integer code matrices, one per distinct sequence length,
so that a batch of equal-length sequences (the usual MPRA case) is one array
operation.
"""

import numpy as np

_CODE = np.full(256, 4, dtype=np.uint8)
for _i, _b in enumerate(b"ACGT"):
    _CODE[_b] = _i
_CODE_BYTES = bytes(_CODE.tolist())   # the same table for bytes.translate


def by_length(seqs):
    """Group sequences by length and encode them.

    Parameters
    ----------
    seqs : list of str, length n
        Uppercase sequences over A/C/G/T/N.

    Yields
    ------
    idx : numpy.ndarray of int64, shape (m,)
        Positions in ``seqs`` of this group.
    codes : numpy.ndarray of uint8, shape (m, L)
        A0 C1 G2 T3, N (or anything else) 4.
    """
    lengths = np.fromiter((len(s) for s in seqs), dtype=np.int64, count=len(seqs))
    for L in np.unique(lengths):
        idx = np.flatnonzero(lengths == L)
        if L == 0:
            yield idx, np.zeros((len(idx), 0), dtype=np.uint8)
            continue
        text = "".join(seqs) if len(idx) == len(seqs) else "".join([seqs[i] for i in idx.tolist()])
        buf = bytearray(text.encode("ascii", "replace").translate(_CODE_BYTES))   # writable, as before
        yield idx, np.frombuffer(buf, dtype=np.uint8).reshape(len(idx), int(L))


def by_length_blocks(seqs, max_elements):
    """Like :func:`by_length`, in blocks of at most ``max_elements`` bases (at least one
    sequence), so that work arrays stay in cache. Yields (idx, codes)."""
    for idx, codes in by_length(seqs):
        step = max(1, max_elements // max(codes.shape[1], 1))
        for start in range(0, len(idx), step):
            yield idx[start:start + step], codes[start:start + step]


def kmer_index(codes, k):
    """Index of every k-mer: sum of code * 4**(k-1-j); -1 where the k-mer contains N.

    Parameters
    ----------
    codes : uint8 array, shape (m, L)

    Returns
    -------
    int64 array, shape (m, L - k + 1) (zero columns when L < k).
    """
    m, L = codes.shape
    W = L - k + 1
    if W <= 0:
        return np.zeros((m, 0), dtype=np.int64)
    if codes.dtype == np.uint8 and k <= 8:   # the usual case, in 16-bit words (4**8 - 1 fits)
        c = np.minimum(codes, 3)
        out = c[:, :W].astype(np.uint16)
        for j in range(1, k):
            out <<= 2
            out |= c[:, j:j + W]
        out = out.astype(np.int64)
        n = codes > 3
        if n.any():
            bad = n[:, :W].copy()
            for j in range(1, k):
                bad |= n[:, j:j + W]
            out[bad] = -1
        return out
    out = np.zeros((m, W), dtype=np.int64)
    bad = np.zeros((m, W), dtype=bool)
    for j in range(k):
        col = codes[:, j:j + W]
        out = out * 4 + np.minimum(col, 3)
        bad |= col > 3
    out[bad] = -1
    return out


def lookup(table, index):
    """``table[index]`` with NaN where ``index`` is -1 (k-mers with N).

    table : float array (4**k,); index : int array from :func:`kmer_index`.
    """
    out = np.asarray(table, dtype=np.float64)[np.maximum(index, 0)]
    out[index < 0] = np.nan
    return out
