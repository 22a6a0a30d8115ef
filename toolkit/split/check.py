"""Find every pair of related rows that lies in two different splits.

This is the leakage check. It does not use the groups: it enumerates related pairs
of rows itself, by its own candidate search, and reports those whose rows are in
different splits. dgsplit runs it on its own split before writing anything, and
``dgsplit --check`` runs it on a split made by anyone.

Relations (on the cores: flanks removed, rows flagged ``flipped`` read on the other strand):

- ``exact``: identical cores;
- ``reverse_complement``: one core is the reverse complement of the other (not identical);
- ``hamming``: equal-length cores within ``max_mismatch`` mismatches (either strand with
  reverse-complement grouping), neither exact nor reverse complement. Candidates come from
  interleaved position classes: two equal-length strings within d mismatches agree
  exactly on at least one of the d + 1 classes {p : p mod (d + 1) = r};
- ``kmer``: exact Jaccard of the canonical k-mer sets >= threshold, neither exact nor reverse
  complement. Candidates share a token of their rarity-ordered prefixes (complete for exact
  Jaccard; the k-mer sets themselves come from :func:`toolkit.split.group.kmer_rank_sets`).

Only candidate pairs whose rows could be in different splits are compared: a hamming bucket
whose members all lie in one split is skipped whole, and the k-mer search indexes only the
sequences outside the largest split; this keeps the check cheap on a clean split.
"""

import numba
import numpy as np
import pandas as pd

RELATION_LABELS = {"exact": "exact", "reverse_complement": "reverse complement", "element": "shared element",
                   "hamming": "hamming", "kmer": "k-mer Jaccard"}
_COMP = str.maketrans("ACGTN", "TGCAN")
_CODES = np.full(256, 4, dtype=np.uint8)
for _i, _b in enumerate(b"ACGT"):
    _CODES[_b] = _i
MAX_SPLITS = 63


def cross_split_pairs(seqs, split, left=0, right=0, flipped=None, grouping="rc", near="none",
                      max_mismatch=2, kmer_k=12, kmer_threshold=0.5, n_examples=10):
    """Related pairs of rows in two different splits, counted by relation and split pair.

    Parameters
    ----------
    seqs : list of str (n,), uppercase sequences
    split : int array (n,): split code 0..S-1 (S <= 63), or -1 for a row in no split (ignored)
    left, right, flipped : the flanks removed and the rows read on the other strand
    grouping : ``exact`` or ``rc`` (reverse complements related)
    near : ``none``, ``hamming`` or ``kmer``

    Returns
    -------
    dict with
      ``relations``: the relations checked;
      ``crossing_pairs``: {relation: row pairs in different splits};
      ``by_split_pair``: {relation: {(s, t): row pairs}} with s < t;
      ``examples``: up to ``n_examples`` per relation, most similar first:
      dicts (relation, row_a, row_b, distance) with row indices into ``seqs`` and the distance in
      mismatches (0 for exact and reverse complement) or 1 - Jaccard;
      ``compared``: candidate pairs of distinct sequences compared base by base;
      ``sequences``: distinct cores (canonical with ``rc``) among the rows checked.
    """
    return PairCheck(seqs, left, right, flipped, grouping, near, max_mismatch, kmer_k,
                     kmer_threshold).run(split, n_examples)


class PairCheck:
    """The split-independent part of :func:`cross_split_pairs` (cores, distinct sequences and, for
    kmer, their k-mer sets), so that it can be prepared while the split is being made; ``run(split)``
    does the rest. Parameters as :func:`cross_split_pairs`."""

    def __init__(self, seqs, left=0, right=0, flipped=None, grouping="rc", near="none", max_mismatch=2,
                 kmer_k=12, kmer_threshold=0.5, packed=None):
        self.grouping, self.near = grouping, near
        self.max_mismatch, self.kmer_k, self.kmer_threshold = max_mismatch, kmer_k, kmer_threshold
        keys = _hashed_keys(seqs, left, right, flipped, grouping == "rc", packed)
        if keys is None:   # not plain ASCII, or a 128-bit hash collision: compare the strings themselves
            keys = _string_keys(seqs, left, right, flipped, grouping == "rc")
        self.key, self.orient, first = keys
        self.n_keys = len(first)
        self.reps = None   # the distinct canonical cores, needed by the near-duplicate searches only
        if near != "none":
            self.reps = [_core(seqs[i], left, right, flipped is not None and flipped[i], o)
                         for i, o in zip(first, self.orient[first])]
        self.kmer_runs = None
        if near == "kmer":
            from .group import kmer_rank_sets

            self.kmer_runs = kmer_rank_sets(self.reps, k=kmer_k)

    def run(self, split, n_examples=10):
        """Crossing pairs for ``split`` (int (n,), -1 = in no split); see :func:`cross_split_pairs`."""
        grouping, near = self.grouping, self.near
        split = np.asarray(split, dtype=np.int64)
        rows = np.flatnonzero(split >= 0)
        S = int(split.max()) + 1 if len(rows) else 0
        if S > MAX_SPLITS:
            raise ValueError(f"at most {MAX_SPLITS} splits can be checked")
        key, orient = self.key[rows], self.orient[rows]
        K = self.n_keys
        s_of = split[rows]
        counts = np.bincount((orient.astype(np.int64) * K + key) * S + s_of,   # rows per orientation, sequence, split
                             minlength=2 * K * S).astype(np.int32).reshape(2, K, S)
        relations = (["exact"] + (["reverse_complement"] if grouping == "rc" else [])
                     + ([near] if near != "none" else []))
        res = {"relations": relations, "crossing_pairs": {}, "by_split_pair": {}, "examples": [], "compared": 0,
               "sequences": int((counts.sum(axis=(0, 2)) > 0).sum())}
        first_row = _first_rows(key, orient, s_of, rows, K, S)   # (2, K, S) a row of each kind, -1 if none

        def record(name, pair_mats, ex):
            tot = {}
            for s in range(S):
                for t in range(s + 1, S):
                    v = int(pair_mats[s, t] + pair_mats[t, s])
                    if v:
                        tot[(s, t)] = v
            res["by_split_pair"][name] = tot
            res["crossing_pairs"][name] = int(sum(tot.values()))
            res["examples"].extend(ex[:n_examples])

        # exact: rows of one sequence and one orientation in two splits
        M = np.zeros((S, S), dtype=np.int64)
        for o in range(2):
            c = counts[o].astype(np.int64)
            M += np.triu(c.T @ c, 1)
        ex = []
        for o in range(2):
            bad = np.flatnonzero((counts[o] > 0).sum(axis=1) > 1)[:n_examples]
            for k in bad:
                ss = np.flatnonzero(counts[o, k])
                ex.append({"relation": "exact", "row_a": int(first_row[o, k, ss[0]]),
                           "row_b": int(first_row[o, k, ss[1]]), "distance": 0})
        record("exact", M, ex)
        if grouping == "rc":   # one orientation against the other
            M = counts[0].T.astype(np.int64) @ counts[1].astype(np.int64)
            np.fill_diagonal(M, 0)
            ex = []
            for k in np.flatnonzero((counts[0].sum(axis=1) > 0) & (counts[1].sum(axis=1) > 0)):
                ss0, ss1 = np.flatnonzero(counts[0, k]), np.flatnonzero(counts[1, k])
                pair = next(((a, b) for a in ss0 for b in ss1 if a != b), None)
                if pair is not None:
                    ex.append({"relation": "reverse_complement", "row_a": int(first_row[0, k, pair[0]]),
                               "row_b": int(first_row[1, k, pair[1]]), "distance": 0})
                    if len(ex) >= n_examples:
                        break
            record("reverse_complement", M, ex)
        if near == "none":
            return res

        per_seq = counts.sum(axis=0, dtype=np.int64)                    # (K, S)
        masks = ((per_seq > 0).astype(np.uint64) << np.arange(S, dtype=np.uint64)).sum(axis=1).astype(np.uint64)
        if near == "hamming":
            xa, xb, dist, compared = _hamming_candidates(self.reps, masks, self.max_mismatch, grouping == "rc")
            order = np.argsort(dist, kind="stable")                     # fewest mismatches first
        else:
            xa, xb, dist, compared = _kmer_candidates(*self.kmer_runs, masks, self.kmer_threshold)
            order = np.argsort(-dist, kind="stable")                    # highest Jaccard first
        res["compared"] = int(compared)
        A, B = per_seq[xa], per_seq[xb]                                  # (P, S)
        M = A.T @ B
        M = M + M.T
        np.fill_diagonal(M, 0)
        half = np.triu(M, 1)                     # pairs (s, t), s < t, either sequence on either side
        ex = []
        for p in order:
            if len(ex) >= n_examples:
                break
            sa, sb = np.flatnonzero(A[p]), np.flatnonzero(B[p])
            pair = next(((a, b) for a in sa for b in sb if a != b), None)
            if pair is None:
                continue
            ra = first_row[0, xa[p], pair[0]] if first_row[0, xa[p], pair[0]] >= 0 else first_row[1, xa[p], pair[0]]
            rb = first_row[0, xb[p], pair[1]] if first_row[0, xb[p], pair[1]] >= 0 else first_row[1, xb[p], pair[1]]
            d = dist[p]
            ex.append({"relation": near, "row_a": int(ra), "row_b": int(rb),
                       "distance": int(d) if near == "hamming" else round(1.0 - float(d), 6)})
        record(near, half, ex)
        return res


def _core(s, left, right, flipped=False, reverse=False):
    """The core of ``s``: read on the other strand when ``flipped``, flanks removed (a flank longer
    than the sequence leaves it empty), reverse-complemented when ``reverse``."""
    if flipped:
        s = s.translate(_COMP)[::-1]
    if left or right:
        s = s[left:max(len(s) - right, 0)]
    return s.translate(_COMP)[::-1] if reverse else s


def _string_keys(seqs, left, right, flipped, rc):
    """(key (n,), orient (n,) bool: the core is the reverse complement of the canonical form,
    first row of each key) from the canonical cores as strings."""
    orient = np.zeros(len(seqs), dtype=bool)
    canon = []
    for i, s in enumerate(seqs):   # one pass, one string kept per row
        x = _core(s, left, right, flipped is not None and flipped[i])
        if rc:
            y = x.translate(_COMP)[::-1]
            if y < x:
                x = y
                orient[i] = True
        canon.append(x)
    key, _ = pd.factorize(pd.Series(canon, dtype=object), sort=False)
    first = np.unique(key, return_index=True)[1]
    return key.astype(np.int64), orient, first


def _hashed_keys(seqs, left, right, flipped, rc, packed=None):
    """As :func:`_string_keys`, from two independent 64-bit hashes of each canonical core (compiled).
    Rows are keyed by the first hash; if the second hash is not constant within a key (a
    collision), or a sequence is not plain ASCII, returns None. ``packed``: ``seqs`` as
    :func:`toolkit.seq.arrays.ascii_buffer` gives them, if already made."""
    from ..seq.arrays import ascii_buffer

    n = len(seqs)
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=bool), np.zeros(0, dtype=np.int64)
    packed = packed if packed is not None else ascii_buffer(seqs)
    if packed is None:
        return None
    flip = np.zeros(n, dtype=np.bool_) if flipped is None else np.asarray(flipped, dtype=np.bool_)
    h1, h2, orient = _canonical_hashes(packed[0], packed[1], int(left), int(right), flip, bool(rc))
    key, _ = pd.factorize(h1.view(np.int64), sort=False)
    first = np.unique(key, return_index=True)[1]
    if (h2 != h2[first][key]).any():
        return None
    return key.astype(np.int64), orient, first


_BYTE_COMP = np.arange(256, dtype=np.uint8)
for _a, _b in zip(b"ACGTN", b"TGCAN"):
    _BYTE_COMP[_a] = _b


@numba.njit(cache=True, nogil=True)
def _canonical_hashes(buf, offsets, left, right, flip, rc):
    """Two 64-bit hashes (different multipliers) of each row's canonical core, and whether the
    canonical form is the core's reverse complement. The core of row i is its bytes, read
    reverse-complemented when ``flip[i]``, minus ``left`` and ``right`` flanks; with ``rc`` the
    canonical form is the smaller (byte order) of the core and its reverse complement."""
    comp = _BYTE_COMP
    n = len(offsets) - 1
    h1 = np.empty(n, dtype=np.uint64)
    h2 = np.empty(n, dtype=np.uint64)
    orient = np.zeros(n, dtype=np.bool_)
    for i in range(n):
        s0, L = offsets[i], offsets[i + 1] - offsets[i]
        a = min(left, L)
        b = max(L - right, 0)
        if b < a:
            b = a
        m = b - a
        # position p of the core: buf[s0 + a + p], or on a flipped row comp(buf[s0 + L - 1 - a - p])
        rev = False
        if rc:
            for p in range(m):
                if flip[i]:
                    f = comp[buf[s0 + L - 1 - a - p]]
                    r = buf[s0 + L - 1 - a - (m - 1 - p)]
                else:
                    f = buf[s0 + a + p]
                    r = comp[buf[s0 + a + m - 1 - p]]
                if f != r:
                    rev = r < f
                    break
        orient[i] = rev
        x1 = np.uint64(1469598103934665603)
        x2 = np.uint64(7809847782465536322)
        for p in range(m):
            q = m - 1 - p if rev else p        # canonical position p is core position q (complemented if rev)
            c = comp[buf[s0 + L - 1 - a - q]] if flip[i] else buf[s0 + a + q]
            if rev:
                c = comp[c]
            x1 = (x1 ^ np.uint64(c)) * np.uint64(1099511628211)
            x2 = (x2 + np.uint64(c) + np.uint64(1)) * np.uint64(0x9E3779B97F4A7C15)
            x2 ^= x2 >> np.uint64(29)
        h1[i] = x1 ^ np.uint64(m)
        h2[i] = x2 ^ (np.uint64(m) << np.uint64(32))
    return h1, h2, orient


def _first_rows(key, orient, s_of, rows, K, S):
    """(2, K, S): the first row of each sequence, orientation and split; -1 where none."""
    out = np.full((2, K, S), -1, dtype=np.int32 if len(key) < 2 ** 31 else np.int64)
    code = (orient.astype(np.int64) * K + key) * S + s_of
    uniq, first = np.unique(code, return_index=True)
    out.reshape(-1)[uniq] = rows[first]
    return out


def _encode(seqs):
    """Equal-length strings -> uint8 codes (n, L): A0 C1 G2 T3, anything else 4."""
    L = len(seqs[0])
    buf = np.frombuffer("".join(seqs).encode("ascii", "replace"), dtype=np.uint8)
    return _CODES[buf].reshape(len(seqs), L)


def _hamming_candidates(reps, masks, max_mismatch, rc):
    """Related pairs of distinct sequences that could cross splits: (a, b, mismatches, compared)."""
    lengths = np.fromiter((len(s) for s in reps), dtype=np.int64, count=len(reps))
    out_a, out_b, out_d, compared = [], [], [], 0
    for length in np.unique(lengths):
        idx = np.flatnonzero(lengths == length)
        if len(idx) < 2:
            continue
        # orientation is irrelevant to the split masks; skip lengths whose sequences all lie in one split
        union = np.bitwise_or.reduce(masks[idx])
        if not (union & (union - np.uint64(1))):
            continue
        X = _encode([reps[i] for i in idx])
        a, b, d, n = _hamming_cross(X, masks[idx], int(max_mismatch), bool(rc))
        compared += n
        out_a.append(idx[a])
        out_b.append(idx[b])
        out_d.append(d)
    if not out_a:
        e = np.zeros(0, dtype=np.int64)
        return e, e, e, compared
    a, b, d = np.concatenate(out_a), np.concatenate(out_b), np.concatenate(out_d)
    return (*_dedupe(a, b, d, keep="min"), compared)


def _dedupe(a, b, d, keep="min"):
    """One entry per pair (a < b), keeping the smallest (``min``) or largest (``max``) value."""
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    order = np.lexsort((d if keep == "min" else -d, hi, lo))
    lo, hi, d = lo[order], hi[order], d[order]
    first = np.ones(len(lo), dtype=bool)
    first[1:] = (lo[1:] != lo[:-1]) | (hi[1:] != hi[:-1])
    return lo[first], hi[first], d[first]


@numba.njit(cache=True, nogil=True)
def _grown(a, n):
    """A twice as long copy of ``a`` holding its first n entries (a growing output buffer)."""
    b = np.empty(2 * len(a), dtype=a.dtype)
    b[:n] = a[:n]
    return b


@numba.njit(cache=True, nogil=True)
def _crossable(m1, m2):
    """Could a row of one sequence and a row of the other lie in different splits? (A mask is
    the set of splits a sequence's rows are in; 0 for a sequence in none.)"""
    if m1 == 0 or m2 == 0:
        return False
    return not (m1 == m2 and (m1 & (m1 - np.uint64(1))) == 0)


@numba.njit(cache=True, nogil=True)
def _hamming_cross(X, masks, D, rc):
    """Pairs of rows of X (m, L) within D mismatches (either strand with ``rc``) that could
    cross splits, from exact agreement on one of the D + 1 interleaved position classes."""
    m, L = X.shape
    W = D + 1
    items = 2 * m if rc else m
    comp = np.array([3, 2, 1, 0, 4], dtype=np.uint8)
    oa = np.empty(1024, dtype=np.int64)
    ob = np.empty(1024, dtype=np.int64)
    od = np.empty(1024, dtype=np.int64)
    n_out = 0
    compared = 0
    h = np.empty(items, dtype=np.uint64)
    for r in range(W):
        for it in range(items):
            x = it % m
            acc = np.uint64(14695981039346656037)
            for p in range(r, L, W):
                c = comp[X[x, L - 1 - p]] if it >= m else X[x, p]
                acc = (acc ^ np.uint64(c + 1)) * np.uint64(1099511628211)
            h[it] = acc
        order = np.argsort(h)
        i = 0
        while i < items:
            j = i + 1
            while j < items and h[order[j]] == h[order[i]]:
                j += 1
            if j - i >= 2:
                union = np.uint64(0)
                for q in range(i, j):
                    union |= masks[order[q] % m]
                if union & (union - np.uint64(1)):
                    for p1 in range(i, j):
                        it1 = order[p1]
                        x1 = it1 % m
                        for p2 in range(p1 + 1, j):
                            it2 = order[p2]
                            x2 = it2 % m
                            if x1 == x2 or not _crossable(masks[x1], masks[x2]):
                                continue
                            flip = (it1 >= m) != (it2 >= m)
                            compared += 1
                            d = 0
                            for p in range(L):
                                c2 = comp[X[x2, L - 1 - p]] if flip else X[x2, p]
                                if X[x1, p] != c2:
                                    d += 1
                                    if d > D:
                                        break
                            if d <= D:
                                if n_out == len(oa):
                                    oa, ob, od = _grown(oa, n_out), _grown(ob, n_out), _grown(od, n_out)
                                oa[n_out] = x1
                                ob[n_out] = x2
                                od[n_out] = d
                                n_out += 1
            i = j
    return oa[:n_out], ob[:n_out], od[:n_out], compared


def _kmer_candidates(offsets, toks, n_ranks, masks, threshold):
    """Pairs of distinct sequences with exact k-mer Jaccard >= threshold that could cross
    splits, from their rank runs (:func:`toolkit.split.group.kmer_rank_sets`): (a, b, jaccard, compared)."""
    a, b, jac, compared = _kmer_cross(offsets, toks, n_ranks, masks, float(threshold))
    if len(a) == 0:
        return a, b, jac, compared
    return (*_dedupe(a, b, jac, keep="max"), compared)


@numba.njit(cache=True, nogil=True)
def _kmer_cross(offsets, toks, n_ranks, masks, threshold):
    """Every pair of rows that could cross splits, shares a token among the first
    |A| - ceil(t |A|) + 1 of each (ascending rank) and has exact Jaccard >= t.

    A crossing pair has at most one row whose rows all lie in the largest split, so only the
    other rows are indexed (their prefixes' postings) and every row probes that index with its
    own prefix; each pair is compared once (a probe's candidates are marked as they are met)."""
    n = len(offsets) - 1
    plen = np.zeros(n, dtype=np.int64)
    for i in range(n):
        s = offsets[i + 1] - offsets[i]
        if s > 0:
            plen[i] = min(max(s - int(np.ceil(threshold * s - 1e-9)) + 1, 1), s)
    # the largest split, by single-split sequences
    tally = np.zeros(64, dtype=np.int64)
    for i in range(n):
        m = masks[i]
        if m and not (m & (m - np.uint64(1))):
            b = 0
            while m > np.uint64(1):
                m >>= np.uint64(1)
                b += 1
            tally[b] += 1
    big = np.uint64(1) << np.uint64(np.argmax(tally))
    indexed = np.zeros(n, dtype=np.bool_)
    for i in range(n):
        indexed[i] = masks[i] != 0 and masks[i] != big
    start = np.zeros(n_ranks + 1, dtype=np.int64)
    for i in range(n):
        if indexed[i]:
            for q in range(offsets[i], offsets[i] + plen[i]):
                start[toks[q] + 1] += 1
    for t in range(n_ranks):
        start[t + 1] += start[t]
    fill = start[:-1].copy()
    post = np.empty(start[-1], dtype=np.int32)
    for i in range(n):
        if indexed[i]:
            for q in range(offsets[i], offsets[i] + plen[i]):
                t = toks[q]
                post[fill[t]] = i
                fill[t] += 1
    mark = np.full(n, -1, dtype=np.int64)
    oa = np.empty(1024, dtype=np.int64)
    ob = np.empty(1024, dtype=np.int64)
    oj = np.empty(1024, dtype=np.float64)
    n_out = 0
    compared = 0
    for i in range(n):
        if masks[i] == 0:
            continue
        for q in range(offsets[i], offsets[i] + plen[i]):
            t = toks[q]
            for e in range(start[t], start[t + 1]):
                j = post[e]
                if j == i or (indexed[i] and j < i) or mark[j] == i:
                    continue
                mark[j] = i
                if not _crossable(masks[i], masks[j]):
                    continue
                compared += 1
                si, sj = offsets[i + 1] - offsets[i], offsets[j + 1] - offsets[j]
                # Jaccard >= t needs |A & B| >= t (|A| + |B|) / (1 + t): stop once out of reach
                need = threshold * (si + sj) / (1.0 + threshold) - 1e-9
                inter = 0
                p, r = offsets[i], offsets[j]
                while p < offsets[i + 1] and r < offsets[j + 1]:
                    if inter + min(offsets[i + 1] - p, offsets[j + 1] - r) < need:
                        break
                    if toks[p] == toks[r]:
                        inter += 1
                        p += 1
                        r += 1
                    elif toks[p] < toks[r]:
                        p += 1
                    else:
                        r += 1
                jac = inter / (si + sj - inter)
                if jac >= threshold:
                    if n_out == len(oa):
                        oa, ob, oj = _grown(oa, n_out), _grown(ob, n_out), _grown(oj, n_out)
                    oa[n_out] = i
                    ob[n_out] = j
                    oj[n_out] = jac
                    n_out += 1
    return oa[:n_out], ob[:n_out], oj[:n_out], compared


def cross_split_keys(keys, split, n_examples=10):
    """Rows that share a key (e.g. an element's coordinates) in two different splits.

    ``keys``: int array (n,) or (n, m), one or more keys per row; ``split`` as in
    :func:`cross_split_pairs`. A pair of rows sharing two keys counts twice (once per key).
    Returns the same dict as :func:`cross_split_pairs`, with the one relation ``element``.
    """
    split = np.asarray(split, dtype=np.int64)
    keys = np.asarray(keys).reshape(len(split), -1)
    kept = split >= 0
    S = int(split.max()) + 1 if kept.any() else 0
    rows = np.tile(np.flatnonzero(kept), keys.shape[1])
    flat = keys[kept].T.ravel()
    code, uniq = pd.factorize(flat, sort=False)
    s_of = split[rows]
    C = np.zeros((len(uniq), S), dtype=np.int64)
    np.add.at(C, (code, s_of), 1)
    M = np.triu(C.T @ C, 1)
    tot = {(s, t): int(M[s, t]) for s in range(S) for t in range(s + 1, S) if M[s, t]}
    first = np.full((len(uniq), S), -1, dtype=np.int64)
    u, f = np.unique(code * S + s_of, return_index=True)
    first.reshape(-1)[u] = rows[f]
    ex = []
    for k in np.flatnonzero((C > 0).sum(axis=1) > 1)[:n_examples]:
        ss = np.flatnonzero(C[k])
        ex.append({"relation": "element", "row_a": int(first[k, ss[0]]), "row_b": int(first[k, ss[1]]),
                   "distance": 0})
    return {"relations": ["element"], "crossing_pairs": {"element": int(sum(tot.values()))},
            "by_split_pair": {"element": tot}, "examples": ex, "compared": 0, "sequences": None}
