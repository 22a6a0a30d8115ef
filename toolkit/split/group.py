"""Group rows that share biology so that no group is ever split.

Keys, from strict to loose:

- ``exact``: identical cleaned sequence (after removing shared flanks);
- ``rc``: identical up to reverse complement (the default);
- near-duplicates on top: ``hamming`` (equal-length cores within d mismatches,
  either orientation; candidates found by the pigeonhole principle: two
  strings within d mismatches share one of d + 1 segments exactly) or
  ``kmer`` (reverse-complement-aware k-mer sketches, Jaccard >= threshold).
"""

import os

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


def core_hashes(seqs, left, right, reverse=True):
    """64-bit hashes of each core (flanks removed) and of its canonical form
    min(core, reverse complement), without keeping the cores in memory.

    A hash collision can only merge two groups, never split one, so the split
    stays leakage-safe; with 64-bit hashes it is vanishingly rare (about 3e-8
    for a million distinct sequences).

    Returns
    -------
    (exact, canonical) : int64 arrays, shape (n,)
    """
    n = len(seqs)
    exact = np.empty(n, dtype=np.int64)
    canon = np.empty(n, dtype=np.int64) if reverse else exact
    for i, s in enumerate(seqs):
        c = s[left: len(s) - right] if (left or right) else s
        h = hash(c)
        exact[i] = h
        if reverse:
            r = c.translate(_COMP_TABLE)[::-1]
            canon[i] = h if c <= r else hash(r)
    return exact, canon


_CODE = np.full(256, 4, dtype=np.uint8)
for _i, _b in enumerate(b"ACGT"):
    _CODE[_b] = _i


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
        return s[self.left: len(s) - self.right] if (self.left or self.right) else s

    def __iter__(self):
        return (self[i] for i in range(len(self)))


_COMP_CODE = np.array([3, 2, 1, 0, 4], dtype=np.uint8)


def _rc_codes(X):
    return _COMP_CODE[X[:, ::-1]]


def _bucket_pairs(keys, group_of=None, settle=None):
    """Candidate pairs (a, b) of items whose keys are equal, batch by batch.

    Without ``group_of``: every pair within every bucket. With ``group_of``
    (items -> current group labels) and ``settle`` (called once the first batch
    is consumed, to fold the links found so far), buckets are first compared
    star-wise (each item against the bucket's first), then reduced to one item
    per group before the remaining pairs are generated: a bucket of 160
    near-identical copies costs 159 comparisons, not 12,720.
    """
    order = np.argsort(keys, kind="stable")
    sk = keys[order]
    boundary = np.ones(len(sk), dtype=bool)
    boundary[1:] = sk[1:] != sk[:-1]
    if group_of is not None:
        start_idx = np.flatnonzero(boundary)
        leader = order[start_idx[np.cumsum(boundary) - 1]]
        star = ~boundary
        yield leader[star], order[star]
        if settle is not None:
            settle()
    start_idx = np.flatnonzero(boundary)
    sizes = np.diff(np.append(start_idx, len(sk)))
    bucket = np.cumsum(boundary) - 1
    pos = np.arange(len(sk)) - start_idx[bucket]
    left = sizes[bucket] - pos  # items after me in my bucket, inclusive
    live = np.flatnonzero(left > 1)
    k = 1
    while live.size:
        live = live[left[live] > k]
        if not live.size:
            break
        yield order[live], order[live + k]
        k += 1


def hamming_edges(core_seqs, max_mismatch=2, reverse=True, progress=None):
    """Pairs of equal-length cores within ``max_mismatch`` mismatches (N counts as a mismatch
    against anything but N), in either orientation when ``reverse``.

    Candidates come from the pigeonhole principle: two cores within d mismatches
    share at least one of d + 1 segments exactly. With ``reverse``, segment j of
    a core's reverse complement is also bucketed, so RC near-duplicates meet; a
    candidate pair is then compared in the orientation that brought it together.

    Returns
    -------
    (a, b) : int64 arrays of indices into ``core_seqs``.
    """
    n = len(core_seqs)
    comps = _Components(n)
    lengths = np.fromiter((len(s) for s in core_seqs), dtype=np.int64, count=n)
    for length in np.unique(lengths):
        idx = np.flatnonzero(lengths == length)
        if len(idx) < 2 or length <= max_mismatch:
            continue
        X = _encode(core_seqs, int(length), idx)
        m = len(idx)
        nseg = max_mismatch + 1
        bounds = np.linspace(0, length, nseg + 1).astype(int)
        for j in range(nseg):
            a0, b0 = bounds[j], bounds[j + 1]
            keys = _segment_hash(X, a0, b0)
            if reverse:  # segment j of each reverse complement
                keys = np.concatenate([keys, _segment_hash(X, a0, b0, rc=True)])
            pairs = _bucket_pairs(keys, group_of=lambda items: comps.label[idx[items % m]], settle=comps.flush)
            for a, b in pairs:
                flip = (a >= m) != (b >= m)       # one forward, one reverse complement
                oa, ob = a % m, b % m
                # pairs already joined (directly or through others) need no comparison
                keep = comps.label[idx[oa]] != comps.label[idx[ob]]
                oa, ob, flip = oa[keep], ob[keep], flip[keep]
                for s in range(0, len(oa), 1 << 16):
                    sl = slice(s, s + (1 << 16))
                    xa, xb, fl = X[oa[sl]], X[ob[sl]], flip[sl]
                    if fl.any():
                        xb[fl] = _rc_codes(xb[fl])
                    close = (xa != xb).sum(axis=1) <= max_mismatch
                    comps.add(idx[oa[sl][close]], idx[ob[sl][close]])
            del keys
            comps.flush()
            if progress is not None:
                progress(1)
    return comps.edges()


class _Components:
    """Connected components of 0..n-1 under edges added in batches (bounded memory).

    Edges are kept until max(65536, n/4) are pending, then folded into ``label``
    (component ids) with scipy's connected_components.
    """

    def __init__(self, n, max_pending=None):
        self.label = np.arange(n, dtype=np.int64)
        self.pending_a, self.pending_b = [], []
        self.npending = 0
        # folding costs O(n): fold often enough that joined pairs are skipped, not too often
        self.max_pending = max_pending or max(1 << 16, n // 4)

    def add(self, a, b):
        if len(a):
            self.pending_a.append(a)
            self.pending_b.append(b)
            self.npending += len(a)
            if self.npending >= self.max_pending:
                self.flush()

    def flush(self):
        from scipy.sparse import coo_matrix
        from scipy.sparse.csgraph import connected_components

        if not self.npending:
            return
        la = self.label[np.concatenate(self.pending_a)]
        lb = self.label[np.concatenate(self.pending_b)]
        self.pending_a, self.pending_b, self.npending = [], [], 0
        n = len(self.label)
        graph = coo_matrix((np.ones(len(la), dtype=np.int8), (la, lb)), shape=(n, n))
        _, cc = connected_components(graph, directed=False)
        self.label = cc[self.label].astype(np.int64)

    def edges(self):
        """Edges (i, first member of i's component) for every i not first in its component."""
        self.flush()
        _, first = np.unique(self.label, return_index=True)
        root = first[np.searchsorted(np.unique(self.label), self.label)]
        moved = root != np.arange(len(self.label))
        return np.flatnonzero(moved).astype(np.int64), root[moved].astype(np.int64)


def _mix64(x):
    """splitmix64 finaliser: a well-mixed 64-bit hash of uint64 values."""
    with np.errstate(over="ignore"):
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


_PAD = np.iinfo(np.uint64).max


def kmer_sketches(core_seqs, k=12, sketch=32, block=8192):
    """Bottom-``sketch`` MinHash sketches of the canonical k-mers of each core.

    A canonical k-mer is min(k-mer, its reverse complement) (2-bit codes), so a
    sequence and its reverse complement have the same sketch; k-mers with N are
    skipped. Rows are hashed with splitmix64 and the smallest distinct hashes kept.

    Returns
    -------
    numpy.ndarray of uint64, shape (n, sketch); unused slots hold 2**64 - 1.
    """
    n = len(core_seqs)
    S = np.full((n, sketch), _PAD, dtype=np.uint64)
    lengths = np.fromiter((len(s) for s in core_seqs), dtype=np.int64, count=n)
    dtype = np.uint32 if k <= 16 else np.uint64
    four, three = dtype(4), dtype(3)
    weights = [dtype(4 ** j) for j in range(k)]   # RC: base j of the k-mer is worth 4**j
    for length in np.unique(lengths):
        if length < k:
            continue
        idx = np.flatnonzero(lengths == length)
        for b in range(0, len(idx), block):
            part = idx[b:b + block]
            X = _encode(core_seqs, int(length), part)
            W = int(length) - k + 1
            bad = np.concatenate([np.zeros((len(part), 1), np.int32), np.cumsum(X == 4, axis=1, dtype=np.int32)], 1)
            valid = (bad[:, k:] - bad[:, :W]) == 0                         # (B, W): window without N
            codes = (X & 3).astype(dtype)
            fwd = np.zeros((len(part), W), dtype=dtype)
            rev = np.zeros((len(part), W), dtype=dtype)
            for j in range(k):   # k-mer code, most significant base first; RC: complement, reversed
                fwd = fwd * four + codes[:, j:j + W]
                rev = rev + (three - codes[:, j:j + W]) * weights[j]
            h = _mix64(np.minimum(fwd, rev).astype(np.uint64))
            h[~valid] = _PAD
            h.sort(axis=1)
            dup = np.zeros_like(h, dtype=bool)
            dup[:, 1:] = h[:, 1:] == h[:, :-1]
            if dup.any():
                h[dup] = _PAD
                h.sort(axis=1)
            w = min(sketch, h.shape[1])
            S[part, :w] = h[:, :w]
    return S


def kmer_edges(core_seqs, k=12, threshold=0.5, sketch=32, anchors=4, progress=None):
    """Links between cores whose reverse-complement-aware k-mer sets are similar.

    Each core is summarised by :func:`kmer_sketches`. Candidate pairs share one
    of their ``anchors`` smallest hashes; a pair is linked when the Jaccard
    estimate |S_a ∩ S_b| / |S_a ∪ S_b| over the sketches is at least ``threshold``.
    Pairs already in the same component are not compared again.

    Returns
    -------
    (a, b) : int64 arrays of indices into ``core_seqs`` whose linking gives the components.
    """
    n = len(core_seqs)
    S = kmer_sketches(core_seqs, k=k, sketch=sketch)
    if progress is not None:
        progress(1)
    comps = _Components(n)
    anc = S[:, :anchors]
    owner = np.repeat(np.arange(n), anc.shape[1])
    flat = anc.ravel()
    ok = flat != _PAD
    flat, owner = flat[ok], owner[ok]
    filled = (S != _PAD).sum(axis=1)
    step = 1 << 13
    for a, b in _bucket_pairs(flat, group_of=lambda items: comps.label[owner[items]], settle=comps.flush):
        oa, ob = owner[a], owner[b]
        keep = (oa != ob) & (comps.label[oa] != comps.label[ob])
        oa, ob = oa[keep], ob[keep]
        for s in range(0, len(oa), step):
            a_, b_ = oa[s:s + step], ob[s:s + step]
            sa, sb = S[a_], S[b_]
            inter = ((sa[:, :, None] == sb[:, None, :]) & (sa[:, :, None] != _PAD)).any(axis=2).sum(axis=1)
            jac = inter / np.maximum(filled[a_] + filled[b_] - inter, 1)
            close = jac >= threshold
            comps.add(a_[close], b_[close])
    if progress is not None:
        progress(2)
    return comps.edges()


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


def group_rows(seqs, grouping="rc", flanks="auto", near="none", max_mismatch=2,
               kmer_k=12, kmer_threshold=0.5, progress=None, return_keys=False):
    """Group sequences that share biology.

    Parameters
    ----------
    seqs : list of str, length n
        Uppercase sequences.
    grouping : ``exact`` or ``rc``
    flanks : ``auto`` (shared prefix/suffix), ``none``, or a (left, right) pair of ints
    near : ``none``, ``hamming`` or ``kmer``

    Returns
    -------
    labels : numpy.ndarray of int64, shape (n,)
    info : dict with the flanks used and the number of groups at each stage
    keys : numpy.ndarray of int64, shape (n,), only with ``return_keys``
        64-bit hash of each core (canonical strand with ``rc``), for checking a split.
    """
    if grouping not in GROUPINGS:
        raise ConfigError(f"unknown grouping '{grouping}'", hint="use exact or rc")
    if near not in NEAR_METHODS:
        raise ConfigError(f"unknown near-duplicate method '{near}'", hint="use none, hamming or kmer")
    if flanks == "auto":
        left, right = shared_flanks(seqs)
    elif flanks == "none":
        left, right = 0, 0
    else:
        left, right = flanks
    exact, canon = core_hashes(seqs, left, right, reverse=(grouping == "rc"))
    exact = exact_groups(exact)
    info = {"flanks": {"left": int(left), "right": int(right)},
            "groups_exact": int(exact.max() + 1) if len(exact) else 0}
    labels = exact
    if grouping == "rc":
        labels = exact_groups(canon)
        info["groups_after_rc"] = int(labels.max() + 1) if len(labels) else 0
    if near != "none":
        # one representative per group is enough
        first = np.unique(labels, return_index=True)[1]
        reps = CoreView(seqs, first, left, right)
        if near == "hamming":
            a, b = hamming_edges(reps, max_mismatch=max_mismatch, reverse=(grouping == "rc"), progress=progress)
        else:
            a, b = kmer_edges(reps, k=kmer_k, threshold=kmer_threshold, progress=progress)
        # a, b index the representatives; connect takes row indices
        labels = connect(labels, first[a], first[b]) if len(a) else labels
        info[f"groups_after_{near}"] = int(labels.max() + 1) if len(labels) else 0
        info["near_links"] = int(len(a))  # rows joined to another group by near-duplicate links
    info["groups"] = int(labels.max() + 1) if len(labels) else 0
    if return_keys:
        return labels, info, canon
    return labels, info
