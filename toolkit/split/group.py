"""Group rows that share biology so that no group is ever split.

Keys, from strict to loose:

- ``exact``: identical cleaned sequence (after removing shared flanks);
- ``rc``: identical up to reverse complement (the default);
- near-duplicates on top: ``hamming`` (equal-length cores within d mismatches,
  either orientation; candidates found by the pigeonhole principle: two
  strings within d mismatches share one of d + 1 segments exactly) or
  ``kmer`` (exact Jaccard of the canonical k-mer sets >= threshold; candidates by
  prefix filtering, so every qualifying pair is found).

Groups are the connected components of these relations: related rows share a group,
and two rows share one only through a chain of related pairs.
"""

import os

import numba
import numpy as np
import pandas as pd

from ..errors import ConfigError
from ..seq import _COMP as _COMP_TABLE

GROUPINGS = ("exact", "rc")
NEAR_METHODS = ("none", "hamming", "kmer")
MIN_FLANK = 8


def shared_flanks(seqs, min_flank=MIN_FLANK, min_core=20):
    """Longest prefix and suffix shared by every sequence (adapters, primers).

    Flanks shorter than ``min_flank`` are treated as chance and ignored; flanks
    are shortened so that the shortest sequence keeps a core of ``min_core``.

    Returns
    -------
    (left, right) : tuple of int
    """
    seqs = [s for s in seqs if s]
    if len(seqs) < 2:
        return 0, 0
    left = len(os.path.commonprefix([min(seqs), max(seqs)]))
    suffix = seqs[0]
    for s in seqs:
        if not s.endswith(suffix):
            k = 0
            while k < len(suffix) and k < len(s) and s[-1 - k] == suffix[-1 - k]:
                k += 1
            suffix = suffix[len(suffix) - k:]
            if not suffix:
                break
    right = len(suffix)
    shortest = min(len(s) for s in seqs)
    if left < min_flank:
        left = 0
    if right < min_flank:
        right = 0
    while left + right > max(shortest - min_core, 0):
        if right >= left and right:
            right -= 1
        elif left:
            left -= 1
        else:
            break
    return left, right


def exact_groups(keys):
    """Integer group labels (first-appearance order) for equal keys. Returns int64 (n,)."""
    if not isinstance(keys, np.ndarray):
        keys = pd.Series(keys, dtype=object)
    codes, _ = pd.factorize(keys, sort=False)
    return codes.astype(np.int64)


def core_hashes(seqs, left, right, reverse=True, packed=None):
    """64-bit hashes of each core (flanks removed) and of its canonical form
    min(core, reverse complement), without keeping the cores in memory.

    A hash collision can only merge two groups, never split one, so the split
    stays leakage-safe; with 64-bit hashes it is vanishingly rare (about 3e-8
    for a million distinct sequences).

    ``packed``: ``seqs`` as :func:`toolkit.seq.arrays.ascii_buffer` gives them, if already made.

    Returns
    -------
    (exact, canonical) : int64 arrays, shape (n,)
    """
    from ..seq.arrays import ascii_buffer

    n = len(seqs)
    packed = packed if packed is not None else ascii_buffer(seqs) if n else None
    if packed is not None:   # plain ASCII: one compiled pass
        exact, canon = _core_hash_pass(packed[0], packed[1], int(left), int(right), bool(reverse))
        return exact, (canon if reverse else exact)
    exact = np.empty(n, dtype=np.int64)
    canon = np.empty(n, dtype=np.int64) if reverse else exact
    for i, s in enumerate(seqs):
        c = s[left: max(len(s) - right, 0)] if (left or right) else s
        h = hash(c)
        exact[i] = h
        if reverse:
            r = c.translate(_COMP_TABLE)[::-1]
            canon[i] = h if c <= r else hash(r)
    return exact, canon


_CODE = np.full(256, 4, dtype=np.uint8)
for _i, _b in enumerate(b"ACGT"):
    _CODE[_b] = _i


_COMP_BYTES = np.arange(256, dtype=np.uint8)
for _a, _b in zip(b"ACGTNacgtn", b"TGCANtgcan"):
    _COMP_BYTES[_a] = _b


@numba.njit(cache=True, nogil=True)
def _core_hash_pass(buf, offsets, left, right, reverse):
    """:func:`core_hashes` for ASCII rows concatenated in ``buf`` (row i is buf[offsets[i]:offsets[i + 1]]):
    a polynomial hash of each core, finalised with splitmix64, and of the smaller (byte order) of
    the core and its reverse complement."""
    comp = _COMP_BYTES
    n = len(offsets) - 1
    exact = np.empty(n, dtype=np.int64)
    canon = np.empty(n, dtype=np.int64)
    mult = np.uint64(0x100000001B3)
    for i in range(n):
        s0, L = offsets[i], offsets[i + 1] - offsets[i]
        a = min(left, L)
        b = max(L - right, 0)
        if b < a:
            b = a
        hf = np.uint64(b - a)
        for p in range(s0 + a, s0 + b):
            hf = hf * mult + np.uint64(buf[p]) + np.uint64(1)
        hf = _splitmix(hf)
        exact[i] = np.int64(hf)
        if not reverse:
            continue
        smaller_rc = False
        for p in range(b - a):   # core[p] against rc[p] = comp(core[m - 1 - p])
            f, r = buf[s0 + a + p], comp[buf[s0 + b - 1 - p]]
            if f != r:
                smaller_rc = r < f
                break
        if not smaller_rc:
            canon[i] = np.int64(hf)
            continue
        hr = np.uint64(b - a)
        for p in range(s0 + b - 1, s0 + a - 1, -1):
            hr = hr * mult + np.uint64(comp[buf[p]]) + np.uint64(1)
        canon[i] = np.int64(_splitmix(hr))
    return exact, canon


@numba.njit(cache=True, nogil=True)
def _splitmix(x):
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def _encode(seqs, length, idx=None, block=65536):
    """Equal-length sequences ``seqs[i] for i in idx`` -> uint8 codes (n, length):
    A0 C1 G2 T3, other 4; encoded block by block so no copy of all strings is made."""
    if idx is None:
        idx = np.arange(len(seqs))
    X = np.empty((len(idx), length), dtype=np.uint8)
    for s in range(0, len(idx), block):
        part = idx[s:s + block]
        buf = np.frombuffer("".join(seqs[i] for i in part).encode("ascii", "replace"), dtype=np.uint8)
        X[s:s + len(part)] = _CODE[buf].reshape(len(part), length)
    return X


def _segment_hash(X, a, b, rc=False):
    """64-bit polynomial hash of columns [a, b) of every row of X (codes 0-4), or of the same
    segment of each row's reverse complement. Equal segments have equal hashes; a collision
    only adds a candidate pair, which is then compared base by base."""
    L = X.shape[1]
    h = np.zeros(X.shape[0], dtype=np.uint64)
    mult = np.uint64(0x100000001B3)
    with np.errstate(over="ignore"):
        for k in range(a, b):
            col = _COMP_CODE[X[:, L - 1 - k]] if rc else X[:, k]
            h = h * mult + col.astype(np.uint64) + np.uint64(1)
    return h


class CoreView:
    """Cores (flanks removed) of selected sequences, sliced on demand instead of stored."""

    def __init__(self, seqs, index, left, right):
        self.seqs, self.index, self.left, self.right = seqs, index, left, right

    def __len__(self):
        return len(self.index)

    def __getitem__(self, i):
        s = self.seqs[self.index[i]]
        return s[self.left: max(len(s) - self.right, 0)] if (self.left or self.right) else s

    def __iter__(self):
        return (self[i] for i in range(len(self)))


_COMP_CODE = np.array([3, 2, 1, 0, 4], dtype=np.uint8)


def _rc_codes(X):
    return _COMP_CODE[X[:, ::-1]]


def hamming_edges(core_seqs, max_mismatch=2, reverse=True, progress=None):
    """Pairs of equal-length cores within ``max_mismatch`` mismatches (any base other than A, C, G,
    T is read as N, and N matches only N), in either orientation when ``reverse``.

    Candidates come from the pigeonhole principle: two cores within d mismatches
    share at least one of d + 1 segments exactly. With ``reverse``, segment j of
    a core's reverse complement is also bucketed, so RC near-duplicates meet; a
    candidate pair is then compared in the orientation that brought it together,
    base by base, unless the two are already joined.

    Returns
    -------
    (a, b) : int64 arrays of indices into ``core_seqs``: linking them gives the components.
    """
    n = len(core_seqs)
    root = np.arange(n, dtype=np.int64)
    lengths = np.fromiter((len(s) for s in core_seqs), dtype=np.int64, count=n)
    for length in np.unique(lengths):
        idx = np.flatnonzero(lengths == length)
        if len(idx) < 2:
            continue
        if length <= max_mismatch:   # any two such cores are within max_mismatch of each other
            root[idx] = idx[0]
            continue
        X = _encode(core_seqs, int(length), idx)
        parent = np.arange(len(idx), dtype=np.int64)
        nseg = max_mismatch + 1
        bounds = np.linspace(0, length, nseg + 1).astype(int)
        for j in range(nseg):
            a0, b0 = bounds[j], bounds[j + 1]
            keys = _segment_hash(X, a0, b0)
            if reverse:  # segment j of each reverse complement
                keys = np.concatenate([keys, _segment_hash(X, a0, b0, rc=True)])
            order = np.argsort(keys, kind="stable")
            _hamming_join(X, keys[order], order, parent, int(max_mismatch))
            del keys, order
            if progress is not None:
                progress(1)
        root[idx] = idx[_roots(parent)]
    moved = np.flatnonzero(root != np.arange(n))
    return moved, root[moved]


@numba.njit(cache=True, nogil=True)
def _roots(parent):
    """Each item's root (full path compression)."""
    out = np.empty(len(parent), dtype=np.int64)
    for i in range(len(parent)):
        out[i] = _find(parent, i)
    return out


@numba.njit(cache=True, nogil=True)
def _hamming_join(X, sorted_keys, order, parent, D):
    """Union the items of X (m, L) within D mismatches that share a bucket (equal key). Items
    0..m-1 are the rows, m..2m-1 their reverse complements; a pair is compared in the
    orientation that shares the segment. Buckets whose members are already joined are skipped."""
    m, L = X.shape
    comp = np.array([3, 2, 1, 0, 4], dtype=np.uint8)
    items = len(order)
    i = 0
    while i < items:
        j = i + 1
        while j < items and sorted_keys[j] == sorted_keys[i]:
            j += 1
        if j - i >= 2:
            r0 = _find(parent, order[i] % m)
            mixed = False
            for q in range(i + 1, j):
                if _find(parent, order[q] % m) != r0:
                    mixed = True
                    break
            if mixed:
                for p1 in range(i, j):
                    it1 = order[p1]
                    x1 = it1 % m
                    for p2 in range(p1 + 1, j):
                        it2 = order[p2]
                        x2 = it2 % m
                        r1, r2 = _find(parent, x1), _find(parent, x2)
                        if r1 == r2:
                            continue
                        flip = (it1 >= m) != (it2 >= m)
                        d = 0
                        for p in range(L):
                            c2 = comp[X[x2, L - 1 - p]] if flip else X[x2, p]
                            if X[x1, p] != c2:
                                d += 1
                                if d > D:
                                    break
                        if d <= D:
                            parent[r1] = r2
        i = j


def _concat_codes(core_seqs):
    """All cores as one uint8 code array (A0 C1 G2 T3, other 4) and their offsets (n + 1,)."""
    from ..seq.arrays import ascii_buffer

    buf, offsets = ascii_buffer(core_seqs, strict=False)
    return _CODE[buf], offsets


@numba.njit(cache=True, nogil=True)
def _window_codes(buf, offsets, k):
    """Canonical 2-bit codes of every window of length k without a base other than ACGT,
    core by core, in window order (duplicates kept). Returns (codes uint64, row offsets)."""
    n = len(offsets) - 1
    total = 0
    for i in range(n):
        total += max(offsets[i + 1] - offsets[i] - k + 1, 0)
    out = np.empty(total, dtype=np.uint64)
    starts = np.zeros(n + 1, dtype=np.int64)
    mask = (np.uint64(1) << np.uint64(2 * k)) - np.uint64(1)
    shift = np.uint64(2 * (k - 1))
    w = 0
    for i in range(n):
        fwd = np.uint64(0)
        rev = np.uint64(0)
        run = 0
        for p in range(offsets[i], offsets[i + 1]):
            c = buf[p]
            if c > 3:
                run = 0
                continue
            fwd = ((fwd << np.uint64(2)) | np.uint64(c)) & mask
            rev = (rev >> np.uint64(2)) | (np.uint64(3 - c) << shift)
            run += 1
            if run >= k:
                out[w] = fwd if fwd < rev else rev
                w += 1
        starts[i + 1] = w
    return out[:w], starts


@numba.njit(cache=True, nogil=True)
def _dense_ranks(codes, k):
    """Rank of each code in the order (occurrences, clipped to 65,535; then code), by counting;
    returns (int32 ranks like ``codes``, number of distinct codes)."""
    size = 1 << (2 * k)
    count = np.zeros(size, dtype=np.int32)
    for q in range(len(codes)):
        count[codes[q]] += 1
    hist = np.zeros(65537, dtype=np.int64)
    for c in range(size):
        if count[c]:
            hist[min(count[c], 65535) + 1] += 1
    for v in range(65536):
        hist[v + 1] += hist[v]
    n_ranks = hist[65536]
    rank_of = count   # reused: each cell's count is read before it is overwritten
    for c in range(size):
        if count[c]:
            v = min(count[c], 65535)
            rank_of[c] = hist[v]
            hist[v] += 1
    out = np.empty(len(codes), dtype=np.int32)
    for q in range(len(codes)):
        out[q] = rank_of[codes[q]]
    return out, n_ranks


def rarity_ranks(codes, k):
    """Rank of every k-mer code in one global order: fewest occurrences first (counts above
    65,535 count as 65,535), ties by code. Any fixed total order serves prefix filtering;
    rare tokens first keep the candidate lists short.

    Returns
    -------
    ranks : int32 array like ``codes``; n_ranks : int, the number of distinct codes.
    """
    if len(codes) == 0:
        return np.zeros(0, dtype=np.int32), 0
    if k <= 13:   # a dense count table of 4**k cells
        ranks, n_ranks = _dense_ranks(codes, k)
        return ranks, int(n_ranks)
    uniq, inverse, counts = np.unique(codes, return_inverse=True, return_counts=True)
    order = np.argsort(np.minimum(counts, 65535).astype(np.uint16), kind="stable")
    rank = np.empty(len(uniq), dtype=np.int32)
    rank[order] = np.arange(len(uniq), dtype=np.int32)
    return rank[inverse], len(uniq)


@numba.njit(cache=True, nogil=True)
def _runs_by_rank(offsets, ranks):
    """Each row's distinct ranks in ascending order (sorted row by row, duplicates dropped).
    Returns (new offsets int64 (n + 1,), ranks int32)."""
    n = len(offsets) - 1
    out = np.empty(len(ranks), dtype=np.int32)
    new_off = np.zeros(n + 1, dtype=np.int64)
    w = 0
    for i in range(n):
        seg = np.sort(ranks[offsets[i]:offsets[i + 1]])
        last = -1
        for v in seg:
            if v != last:
                out[w] = v
                w += 1
                last = v
        new_off[i + 1] = w
    return new_off, out[:w]


def kmer_sets(core_seqs, k=12):
    """Distinct canonical k-mers of each core, as 2-bit codes.

    A canonical k-mer is min(k-mer, its reverse complement) (A0 C1 G2 T3, most
    significant base first, so the order is the strings' lexicographic order); a
    sequence and its reverse complement have the same set. Windows with a base
    other than A, C, G, T are skipped; a core shorter than k has an empty set.

    Returns
    -------
    offsets : int64 (n + 1,); codes : uint64, shape (offsets[-1],)
        Row i's codes, ascending, are ``codes[offsets[i]:offsets[i + 1]]``.
    """
    buf, offsets = _concat_codes(core_seqs)
    codes, starts = _window_codes(buf, offsets, k)
    order = np.lexsort((codes, np.repeat(np.arange(len(starts) - 1), np.diff(starts))))
    codes = codes[order]
    rows = np.repeat(np.arange(len(starts) - 1), np.diff(starts))
    keep = np.ones(len(codes), dtype=bool)
    keep[1:] = (codes[1:] != codes[:-1]) | (rows[1:] != rows[:-1])
    sizes = np.bincount(rows[keep], minlength=len(starts) - 1)
    out = np.zeros(len(starts), dtype=np.int64)
    np.cumsum(sizes, out=out[1:])
    return out, codes[keep]


def kmer_rank_sets(core_seqs, k=12):
    """Each core's distinct canonical k-mers as ranks in the rarity order (:func:`rarity_ranks`),
    ascending: what the prefix-filtering searches need.

    Returns
    -------
    offsets : int64 (n + 1,); ranks : int32 (offsets[-1],); n_ranks : int
    """
    buf, offsets = _concat_codes(core_seqs)
    codes, starts = _window_codes(buf, offsets, k)
    del buf
    ranks, n_ranks = rarity_ranks(codes, k)
    del codes
    new_off, runs = _runs_by_rank(starts, ranks)
    return new_off, runs, n_ranks


@numba.njit(cache=True, nogil=True)
def _find(parent, i):
    root = i
    while parent[root] != root:
        root = parent[root]
    while parent[i] != root:   # path compression
        nxt = parent[i]
        parent[i] = root
        i = nxt
    return root


@numba.njit(cache=True, nogil=True)
def _jaccard_at_least(toks, a0, a1, b0, b1, threshold):
    """Exact |A ∩ B| / |A ∪ B| >= threshold for two ascending runs of distinct tokens, with early exit."""
    na, nb = a1 - a0, b1 - b0
    # |A ∩ B| >= t |A ∪ B| = t (na + nb - inter)  <=>  inter >= t (na + nb) / (1 + t)
    need = threshold * (na + nb) / (1.0 + threshold)
    inter = 0
    i, j = a0, b0
    while i < a1 and j < b1:
        if inter + min(a1 - i, b1 - j) < need - 1e-9:
            return False
        ti, tj = toks[i], toks[j]
        if ti == tj:
            inter += 1
            i += 1
            j += 1
        elif ti < tj:
            i += 1
        else:
            j += 1
    return inter / (na + nb - inter) >= threshold


@numba.njit(cache=True, nogil=True)
def _prefix_join(offsets, toks, n_ranks, threshold):
    """Connected components of 'exact Jaccard >= threshold' over rows of ascending rank runs.

    Prefix filtering (Chaudhuri et al. 2006; Bayardo et al. 2007): in a fixed global token
    order, two sets with |A ∩ B| >= o share a token among the first |A| - o + 1 of A and
    the first |B| - o + 1 of B; with Jaccard >= t, o >= ceil(t max(|A|, |B|)). Rows that
    share a prefix token are candidates, verified exactly; pairs already joined are skipped.
    Returns (parent array: each row's component root after full compression, pairs verified).
    """
    n = len(offsets) - 1
    plen = np.zeros(n, dtype=np.int64)
    for i in range(n):
        s = offsets[i + 1] - offsets[i]
        if s > 0:
            p = s - int(np.ceil(threshold * s - 1e-9)) + 1
            plen[i] = min(max(p, 1), s)
    start = np.zeros(n_ranks + 1, dtype=np.int64)
    for i in range(n):
        for q in range(offsets[i], offsets[i] + plen[i]):
            start[toks[q] + 1] += 1
    for t in range(n_ranks):
        start[t + 1] += start[t]
    fill = start[:-1].copy()
    post = np.empty(start[-1], dtype=np.int32)
    for i in range(n):
        for q in range(offsets[i], offsets[i] + plen[i]):
            post[fill[toks[q]]] = i
            fill[toks[q]] += 1
    parent = np.arange(n)
    verified = 0
    for t in range(n_ranks):
        a, b = start[t], start[t + 1]
        if b - a < 2:
            continue
        r0 = _find(parent, post[a])
        mixed = False
        for x in range(a + 1, b):
            if _find(parent, post[x]) != r0:
                mixed = True
                break
        if not mixed:
            continue
        for x in range(a, b):
            i = post[x]
            si = offsets[i + 1] - offsets[i]
            for y in range(x + 1, b):
                j = post[y]
                ri, rj = _find(parent, i), _find(parent, j)
                if ri == rj:
                    continue
                sj = offsets[j + 1] - offsets[j]
                if min(si, sj) < threshold * max(si, sj) - 1e-9:   # J <= min / max (float slack: never skip J = t)
                    continue
                verified += 1
                if _jaccard_at_least(toks, offsets[i], offsets[i + 1], offsets[j], offsets[j + 1], threshold):
                    parent[ri] = rj
    for i in range(n):
        parent[i] = _find(parent, i)
    return parent, verified


def kmer_edges(core_seqs, k=12, threshold=0.5, progress=None):
    """Links between cores whose canonical k-mer sets have exact Jaccard >= ``threshold``.

    Every pair that qualifies is found (prefix filtering is exact, see :func:`_prefix_join`)
    and every link is a verified pair or a chain of them. Empty sets (cores shorter than
    k, or without a window free of N) link to nothing.

    Returns
    -------
    (a, b) : int64 arrays of indices into ``core_seqs`` whose linking gives the components;
    verified : int, the candidate pairs compared exactly.
    """
    offsets, toks, n_ranks = kmer_rank_sets(core_seqs, k=k)   # each row ascending in the rarity order
    if progress is not None:
        progress(1)
    root, verified = _prefix_join(offsets, toks, n_ranks, float(threshold))
    if progress is not None:
        progress(2)
    moved = np.flatnonzero(root != np.arange(len(root)))
    return moved.astype(np.int64), root[moved].astype(np.int64), int(verified)


def connect(labels, edges_a, edges_b):
    """Merge groups joined by edges (indices into ``labels``); relabel in first-appearance order."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    g = int(labels.max()) + 1 if len(labels) else 0
    if len(edges_a) == 0:
        return labels
    ga, gb = labels[edges_a], labels[edges_b]
    mat = coo_matrix((np.ones(len(ga), dtype=np.int8), (ga, gb)), shape=(g, g))
    _, comp = connected_components(mat, directed=False)
    merged = comp[labels]
    codes, _ = pd.factorize(merged, sort=False)
    return codes.astype(np.int64)


def group_by_elements(keys):
    """Group rows of a coordinate table (no sequences) by the genomic elements they contain.

    Two rows share a group when they share an element: identical coordinates
    (normalised chromosome, start, end) in any of their element columns, e.g. two
    enhancer-promoter pairs with the same promoter. Groups are the connected
    components of that relation, so a promoter seen with many enhancers keeps all
    its pairs, and those enhancers' other pairs, on one side.

    Parameters
    ----------
    keys : list of array-like of str, each of length n
        One key per row and element column (see :func:`element_key`).

    Returns
    -------
    labels : numpy.ndarray of int64, shape (n,), groups in first-appearance order
    info : dict with the number of elements, distinct element keys and groups
    codes : numpy.ndarray of int64, shape (n, m): each row's element keys as integers
        (for checking a split: no element key in two splits)
    """
    m = len(keys)
    if m == 0:
        raise ConfigError("grouping by elements needs at least one element column")
    n = len(keys[0])
    flat = pd.Series(np.concatenate([np.asarray(k, dtype=object) for k in keys]), dtype=object)
    codes = pd.factorize(flat, sort=False)[0].astype(np.int64).reshape(m, n).T  # (n, m)
    nkeys = int(codes.max()) + 1 if n else 0
    labels = np.arange(n, dtype=np.int64)
    if n and m:
        # a key's first row; every row is linked to the first row of each of its keys
        first_row = np.full(nkeys, -1, dtype=np.int64)
        flat_codes = codes.T.ravel()
        rows = np.tile(np.arange(n, dtype=np.int64), m)
        order = np.argsort(flat_codes, kind="stable")
        sc = flat_codes[order]
        starts = np.r_[True, sc[1:] != sc[:-1]]
        first_row[sc[starts]] = rows[order][starts]
        a, b = rows, first_row[flat_codes]
        keep = a != b
        labels = connect(labels, a[keep], b[keep]) if keep.any() else exact_groups(labels)
    info = {"grouped_by": "element coordinates", "elements_per_row": m, "distinct_elements": nkeys,
            "flanks": {"left": 0, "right": 0}, "groups": int(labels.max() + 1) if n else 0}
    return labels, info, codes


def element_key(chrom, start, end):
    """``chrom:start-end`` keys with the chromosome normalised ('chr7' and '7' are one).

    Parameters
    ----------
    chrom : array-like of str, shape (n,)
    start, end : array-like of int, shape (n,)

    Returns
    -------
    numpy.ndarray of str (object), shape (n,)
    """
    from .allocate import normalise_chrom

    return np.array([f"{normalise_chrom(c)}:{int(s)}-{int(e)}" for c, s, e in zip(chrom, start, end)],
                    dtype=object)


def orient_flanks(seqs, min_flank=MIN_FLANK):
    """Shared flanks when some rows are written on the other strand (adapters included).

    Finds the most common ``min_flank``-nt prefix P; when every row starts with P
    either as written or as its reverse complement, the rows that start with it only
    on the other strand are reverse-complemented and :func:`shared_flanks` is taken on
    the oriented rows.

    Returns
    -------
    (left, right, flipped) : flanks of the oriented rows, and a bool array (n,) of the rows
    that were reverse-complemented; ``None`` when no prefix explains every row.
    """
    from collections import Counter

    seqs_ = [s for s in seqs if len(s) >= min_flank]
    if len(seqs_) < 2 or len(seqs_) < len(seqs):
        return None
    prefix = Counter(s[:min_flank] for s in seqs_).most_common(1)[0][0]
    rc_prefix = prefix.translate(_COMP_TABLE)[::-1]   # a flipped row ends with this
    flipped = np.zeros(len(seqs), dtype=bool)
    for i, s in enumerate(seqs):
        if not s.startswith(prefix):
            if not s.endswith(rc_prefix):
                return None
            flipped[i] = True
    if not flipped.any():
        return None
    oriented = [s.translate(_COMP_TABLE)[::-1] if f else s for s, f in zip(seqs, flipped)]
    left, right = shared_flanks(oriented, min_flank=min_flank)
    return left, right, flipped


def resolve_flanks(seqs, flanks="auto"):
    """The flanks to remove and the rows to read on the other strand.

    ``flanks``: ``auto`` (the prefix and suffix every row shares, on either strand: a row
    whose whole sequence, adapters included, is written on the other strand is read
    reverse-complemented), ``none``, or a (left, right) pair of ints.

    Returns
    -------
    (left, right, flipped) : ints and a bool array (n,) or None (no row flipped).
    """
    if flanks == "none":
        return 0, 0, None
    if flanks != "auto":
        left, right = flanks
        return int(left), int(right), None
    left, right = shared_flanks(seqs)
    if left and right:
        return left, right, None
    oriented = orient_flanks(seqs)
    if oriented is not None and oriented[0] + oriented[1] > left + right:
        return oriented
    return left, right, None


def oriented_view(seqs, flipped):
    """``seqs`` with the rows in ``flipped`` (bool (n,) or None) reverse-complemented (a new list;
    the other strings are shared, not copied)."""
    if flipped is None:
        return seqs
    return [s.translate(_COMP_TABLE)[::-1] if f else s for s, f in zip(seqs, flipped)]


def group_rows(seqs, grouping="rc", flanks="auto", near="none", max_mismatch=2,
               kmer_k=12, kmer_threshold=0.5, progress=None, return_keys=False, packed=None):
    """Group sequences that share biology.

    Parameters
    ----------
    seqs : list of str, length n
        Uppercase sequences.
    grouping : ``exact`` or ``rc``
    flanks : ``auto``, ``none``, a (left, right) pair of ints (see :func:`resolve_flanks`),
        or a (left, right, flipped) triple as :func:`resolve_flanks` returns it
    near : ``none``, ``hamming`` or ``kmer``
    packed : ``seqs`` as :func:`toolkit.seq.arrays.ascii_buffer` gives them, if already made
        (used only when no row is read on the other strand)

    Returns
    -------
    labels : numpy.ndarray of int64, shape (n,)
    info : dict with the flanks used, the rows read on the other strand, the number of
        groups at each stage and the largest group (see :func:`largest_group`)
    keys : numpy.ndarray of int64, shape (n,), only with ``return_keys``
        64-bit hash of each core (canonical strand with ``rc``).
    """
    if grouping not in GROUPINGS:
        raise ConfigError(f"unknown grouping '{grouping}'", hint="use exact or rc")
    if near not in NEAR_METHODS:
        raise ConfigError(f"unknown near-duplicate method '{near}'", hint="use none, hamming or kmer")
    if isinstance(flanks, tuple) and len(flanks) == 3:
        left, right, flipped = flanks
    else:
        left, right, flipped = resolve_flanks(seqs, flanks)
    seqs = oriented_view(seqs, flipped)
    exact, canon = core_hashes(seqs, left, right, reverse=(grouping == "rc"),
                               packed=packed if flipped is None else None)
    exact = exact_groups(exact)
    info = {"flanks": {"left": int(left), "right": int(right)},
            "rows_read_reverse_complemented": int(flipped.sum()) if flipped is not None else 0,
            "groups_exact": int(exact.max() + 1) if len(exact) else 0}
    labels = exact
    if grouping == "rc":
        labels = exact_groups(canon)
        info["groups_after_rc"] = int(labels.max() + 1) if len(labels) else 0
    if near != "none":
        # one representative per group is enough: its members are identical (or reverse
        # complements, and both near relations are symmetric under reverse complement then)
        first = np.unique(labels, return_index=True)[1]
        reps = CoreView(seqs, first, left, right)
        if near == "hamming":
            a, b = hamming_edges(reps, max_mismatch=max_mismatch, reverse=(grouping == "rc"), progress=progress)
        else:
            a, b, verified = kmer_edges(reps, k=kmer_k, threshold=kmer_threshold, progress=progress)
            info["kmer_pairs_verified"] = verified
        # a, b index the representatives; connect takes row indices
        labels = connect(labels, first[a], first[b]) if len(a) else labels
        info[f"groups_after_{near}"] = int(labels.max() + 1) if len(labels) else 0
        info["near_links"] = int(len(a))  # rows joined to another group by near-duplicate links
    info["groups"] = int(labels.max() + 1) if len(labels) else 0
    info["largest_group"] = largest_group(labels, seqs, left, right, grouping=grouping, near=near, kmer_k=kmer_k)
    if return_keys:
        return labels, info, canon
    return labels, info


#: Above this many distinct cores the largest group's diameter is not computed (pairwise cost).
DIAMETER_MAX = 2000


def largest_group(labels, seqs, left, right, grouping="rc", near="none", kmer_k=12):
    """Size and diameter of the group with the most rows (the first such group).

    The diameter is the largest distance between two of the group's distinct cores:
    mismatches (the smaller over both strands with ``rc``) for exact, rc and hamming
    grouping, whose groups hold cores of one length; 1 - Jaccard of the canonical
    k-mer sets for kmer. ``None`` above :data:`DIAMETER_MAX` distinct cores.

    Returns
    -------
    dict with ``rows``, ``sequences`` (distinct cores) and ``diameter``, or None for no rows.
    """
    if not len(labels):
        return None
    g = int(np.argmax(np.bincount(labels)))
    rows = np.flatnonzero(labels == g)
    cores = list(dict.fromkeys(CoreView(seqs, rows, left, right)))
    out = {"rows": int(len(rows)), "sequences": len(cores), "diameter": None}
    if len(cores) > DIAMETER_MAX:
        return out
    if len(cores) == 1:
        out["diameter"] = 0
        return out
    if near == "kmer":
        from scipy.sparse import csr_matrix

        offsets, codes = kmer_sets(cores, k=kmer_k)
        _, col = np.unique(codes, return_inverse=True)
        rows_ = np.repeat(np.arange(len(cores)), np.diff(offsets))
        M = csr_matrix((np.ones(len(col), dtype=np.float64), (rows_, col)), shape=(len(cores), int(col.max()) + 1 if len(col) else 1))
        inter = (M @ M.T).toarray()
        size = np.diff(offsets).astype(np.float64)
        union = size[:, None] + size[None, :] - inter
        with np.errstate(invalid="ignore", divide="ignore"):
            jac = np.where(union > 0, inter / union, 0.0)
        out["diameter"] = round(float(1.0 - jac.min()), 6)
        return out
    X = _encode(cores, len(cores[0]))
    R = _rc_codes(X) if grouping == "rc" else None
    worst = 0
    for s in range(0, len(X), 256):
        d = (X[s:s + 256, None, :] != X[None, :, :]).sum(axis=2)
        if R is not None:
            d = np.minimum(d, (X[s:s + 256, None, :] != R[None, :, :]).sum(axis=2))
        worst = max(worst, int(d.max()))
    out["diameter"] = worst
    return out
