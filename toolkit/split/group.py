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
from ..seq import reverse_complement

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


def cores(seqs, left, right):
    """Sequences without their shared flanks (uppercased)."""
    if left == 0 and right == 0:
        return [s.upper() for s in seqs]
    return [s[left: len(s) - right].upper() for s in seqs]


def canonical_keys(core_seqs, reverse=True):
    """Grouping key of each core: itself, or min(core, reverse complement) when ``reverse``."""
    if not reverse:
        return list(core_seqs)
    return [min(s, reverse_complement(s)) for s in core_seqs]


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


def _bucket_pairs(keys_void):
    """All pairs (i, j), i < j in sorted order, of items whose keys are equal.

    Yields arrays (a, b) batch by batch (offset by offset within buckets).
    """
    order = np.argsort(keys_void, kind="stable")
    sk = keys_void[order]
    boundary = np.ones(len(sk), dtype=bool)
    boundary[1:] = sk[1:] != sk[:-1]
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
            for a, b in _bucket_pairs(keys):
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

    Edges are kept until about a million are pending, then folded into ``label``
    (component ids) with scipy's connected_components.
    """

    def __init__(self, n, max_pending=1 << 20):
        self.label = np.arange(n, dtype=np.int64)
        self.pending_a, self.pending_b = [], []
        self.npending = 0
        self.max_pending = max_pending

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


def _kmer_hashes(seq, k):
    """Hashes of the canonical k-mers of one sequence (k-mers with N skipped). uint64 array."""
    codes = _CODE[np.frombuffer(seq.encode("ascii", "replace"), dtype=np.uint8)].astype(np.uint64)
    n = len(codes) - k + 1
    if n <= 0:
        return np.zeros(0, dtype=np.uint64)
    win = np.lib.stride_tricks.sliding_window_view(codes, k)
    valid = (win < 4).all(axis=1)
    weights = (np.uint64(4) ** np.arange(k - 1, -1, -1, dtype=np.uint64))
    fwd = (win * weights).sum(axis=1, dtype=np.uint64)
    rcw = (3 - win[:, ::-1]) * weights
    rev = rcw.sum(axis=1, dtype=np.uint64)
    canon = np.minimum(fwd, rev)[valid]
    # splitmix64 finaliser as the hash
    x = canon + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return np.unique(x ^ (x >> np.uint64(31)))


def kmer_edges(core_seqs, k=12, threshold=0.5, sketch=32, anchors=4, progress=None):
    """Pairs of cores whose reverse-complement-aware k-mer sets are similar.

    Each core is summarised by the ``sketch`` smallest hashes of its canonical
    k-mers (a bottom-s MinHash sketch). Candidate pairs share one of their
    ``anchors`` smallest hashes; a pair is kept when the Jaccard estimate
    |S_a ∩ S_b| / |S_a ∪ S_b| over the sketches is at least ``threshold``.

    Returns
    -------
    (a, b) : int64 arrays of indices into ``core_seqs``.
    """
    with np.errstate(over="ignore"):
        n = len(core_seqs)
        pad = np.iinfo(np.uint64).max
        S = np.full((n, sketch), pad, dtype=np.uint64)
        for i, s in enumerate(core_seqs):
            h = _kmer_hashes(s, k)[:sketch]
            S[i, : len(h)] = h
            if progress is not None and i % 10000 == 0:
                progress(min(10000, n - i))
    # candidates: any two cores sharing one of their `anchors` smallest hashes (any column)
    anc = S[:, :anchors]
    owner = np.repeat(np.arange(n), anc.shape[1])
    flat = anc.ravel()
    ok = flat != pad
    flat, owner = flat[ok], owner[ok]
    cand_a, cand_b = [], []
    for a, b in _bucket_pairs(flat):
        oa, ob = owner[a], owner[b]
        keep = oa != ob
        cand_a.append(np.minimum(oa, ob)[keep])
        cand_b.append(np.maximum(oa, ob)[keep])
    if not cand_a:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    pairs = np.unique(np.stack([np.concatenate(cand_a), np.concatenate(cand_b)], axis=1), axis=0)
    out_a, out_b = [], []
    step = 1 << 14
    for s in range(0, len(pairs), step):
        a, b = pairs[s:s + step, 0], pairs[s:s + step, 1]
        sa, sb = S[a], S[b]
        inter = ((sa[:, :, None] == sb[:, None, :]) & (sa[:, :, None] != pad)).any(axis=2).sum(axis=1)
        na = (sa != pad).sum(axis=1)
        nb = (sb != pad).sum(axis=1)
        jac = inter / np.maximum(na + nb - inter, 1)
        close = jac >= threshold
        out_a.append(a[close])
        out_b.append(b[close])
    return np.concatenate(out_a), np.concatenate(out_b)


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


def group_rows(seqs, grouping="rc", flanks="auto", near="none", max_mismatch=2,
               kmer_k=12, kmer_threshold=0.5, progress=None):
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
        rep_labels = labels[first]
        labels = connect(labels, rep_labels[a], rep_labels[b]) if len(a) else labels
        info[f"groups_after_{near}"] = int(labels.max() + 1) if len(labels) else 0
        info["near_links"] = int(len(a))  # rows joined to another group by near-duplicate links
    info["groups"] = int(labels.max() + 1) if len(labels) else 0
    return labels, info
