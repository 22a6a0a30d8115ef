"""An independent brute-force oracle for dgsplit's grouping and its --check mode.

Written from dgsplit's contract only (nothing here imports or copies ``toolkit.split``):

* core: the sequence, stripped and uppercased, less ``left`` bases at the start and ``right``
  at the end;
* exact: identical cores; reverse_complement: one core is the other's reverse complement
  (A<->T, C<->G, N->N, reversed) and they are not identical;
* hamming: equal-length cores with min(mismatches(a, b), mismatches(a, rc(b))) <= d (with
  --group-by exact only the forward orientation); a mismatch is a position whose characters
  differ, so N against N is not one and N against A is;
* kmer: exact Jaccard of canonical k-mer sets (min(w, rc(w)) over every N-free window)
  >= t; an empty set is related to nothing; lengths may differ;
* groups: connected components of the union of those relations.

Every pair of rows is enumerated (as dense matrices: one-hot matrix products count the
matching positions of all pairs at once, a sparse row x k-mer matrix product counts the
shared k-mers of all pairs at once); nothing is sketched, sampled or indexed.
"""
from itertools import combinations

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components

_RC = str.maketrans("ACGTN", "TGCAN")
FAR = np.iinfo(np.int16).max  # "distance" of two cores of different lengths


def revcomp(s):
    return s.translate(_RC)[::-1]


def cores(seqs, left, right):
    out = []
    for s in seqs:
        s = s.strip().upper()
        out.append(s[left:len(s) - right])
    return out


# ---------------------------------------------------------------- hamming, all pairs

def _one_hot(strings, alphabet):
    """n x (L * |alphabet|) float32 one-hot matrix of equal-length strings."""
    idx = {c: i for i, c in enumerate(alphabet)}
    codes = np.array([[idx[c] for c in s] for s in strings], dtype=np.int64)
    n, L = codes.shape
    m = np.zeros((n, L * len(alphabet)), dtype=np.float32)
    cols = np.arange(L) * len(alphabet)
    m[np.arange(n)[:, None], cols[None, :] + codes] = 1.0
    return m


def mismatch_matrices(core_list):
    """(forward, both) n x n int16 matrices of mismatch counts between every two cores:
    forward = mismatches(a, b), both = min(forward, mismatches(a, rc(b))); FAR where the
    lengths differ. Position-wise character comparison, so N == N is a match."""
    n = len(core_list)
    fwd = np.full((n, n), FAR, dtype=np.int16)
    both = np.full((n, n), FAR, dtype=np.int16)
    by_len = {}
    for i, c in enumerate(core_list):
        by_len.setdefault(len(c), []).append(i)
    for L, ids in by_len.items():
        ids = np.array(ids)
        sub = [core_list[i] for i in ids]
        if L == 0:
            fwd[np.ix_(ids, ids)] = 0
            both[np.ix_(ids, ids)] = 0
            continue
        alphabet = sorted(set("".join(sub)) | set("".join(revcomp(s) for s in sub)))
        a = _one_hot(sub, alphabet)
        r = _one_hot([revcomp(s) for s in sub], alphabet)
        f = L - np.rint(a @ a.T).astype(np.int32)       # matches counted exactly in float32
        b = np.minimum(f, L - np.rint(a @ r.T).astype(np.int32))
        fwd[np.ix_(ids, ids)] = f
        both[np.ix_(ids, ids)] = b
    return fwd, both


# ---------------------------------------------------------------- kmer, all pairs

def canonical_kmers(core, k):
    out = set()
    for i in range(len(core) - k + 1):
        w = core[i:i + k]
        if "N" in w:
            continue
        r = revcomp(w)
        out.add(w if w <= r else r)
    return out


def jaccard_matrix(core_list, k):
    """Dense n x n float64 matrix of exact Jaccard similarities of canonical k-mer sets
    (0 where either set is empty), and the set sizes."""
    sets = [canonical_kmers(c, k) for c in core_list]
    vocab = {}
    rows, cols = [], []
    for i, s in enumerate(sets):
        for w in s:
            rows.append(i)
            cols.append(vocab.setdefault(w, len(vocab)))
    x = sparse.csr_matrix((np.ones(len(rows), dtype=np.int32), (rows, cols)),
                          shape=(len(sets), max(len(vocab), 1)))
    inter = (x @ x.T).toarray().astype(np.int64)
    size = np.array([len(s) for s in sets], dtype=np.int64)
    union = size[:, None] + size[None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        jac = np.where(union > 0, inter / np.maximum(union, 1), 0.0)
    jac[(size[:, None] == 0) | (size[None, :] == 0)] = 0.0
    return jac, size


# ---------------------------------------------------------------- relations between rows

class Oracle:
    """All-pairs relations between the rows of one table (cores already cut)."""

    def __init__(self, core_list):
        self.cores = list(core_list)
        self.n = len(self.cores)
        self._ham = None
        self._jac = {}

    # exact / reverse complement (by dictionary: identity is identity)
    def exact_matrix(self):
        key = {}
        ids = np.array([key.setdefault(c, len(key)) for c in self.cores])
        return ids[:, None] == ids[None, :]

    def rc_matrix(self):
        """Cores are each other's reverse complement and not identical."""
        key = {}
        ids = np.array([key.setdefault(c, len(key)) for c in self.cores])
        rc_ids = np.array([key.get(revcomp(c), -1) for c in self.cores])
        return (rc_ids[:, None] == ids[None, :]) & (ids[:, None] != ids[None, :])

    def hamming(self):
        if self._ham is None:
            self._ham = mismatch_matrices(self.cores)
        return self._ham

    def jaccard(self, k):
        if k not in self._jac:
            self._jac[k] = jaccard_matrix(self.cores, k)
        return self._jac[k]

    def near_matrix(self, near, group_by="rc", d=2, k=12, t=0.5):
        if near == "none":
            return np.zeros((self.n, self.n), dtype=bool)
        if near == "hamming":
            fwd, both = self.hamming()
            return (fwd if group_by == "exact" else both) <= d
        if near == "kmer":
            if t <= 0:
                raise ValueError("t must be > 0 for this oracle")
            jac, size = self.jaccard(k)
            ok = size > 0
            return (jac >= t) & ok[:, None] & ok[None, :]
        raise ValueError(near)

    def related(self, near, group_by="rc", **kw):
        rel = self.exact_matrix() | self.near_matrix(near, group_by, **kw)
        if group_by == "rc":
            rel |= self.rc_matrix()
        np.fill_diagonal(rel, False)
        return rel

    def components(self, near, group_by="rc", **kw):
        rel = self.related(near, group_by, **kw)
        _, lab = connected_components(sparse.csr_matrix(rel), directed=False)
        return lab

    def distance(self, i, j, near, k=12):
        """The report's diameter distance between two cores: mismatches min over both
        orientations for hamming/exact/rc, 1 - Jaccard for kmer."""
        if near == "kmer":
            return 1.0 - float(self.jaccard(k)[0][i, j])
        return int(self.hamming()[1][i, j])


# ---------------------------------------------------------------- partitions

def partition_mismatch(truth, got, names=None, limit=5):
    """'' when the two labelings induce the same partition, else a description of the
    first differences (components split across groups = missed links; groups joining
    several components = spurious merges)."""
    truth = np.asarray(truth)
    got = np.asarray(got)
    names = list(names) if names is not None else [str(i) for i in range(len(truth))]
    msgs = []
    for lab_a, lab_b, what in ((truth, got, "brute-force component split over dgsplit groups"),
                               (got, truth, "dgsplit group joins several brute-force components")):
        seen = {}
        for i, (a, b) in enumerate(zip(lab_a, lab_b)):
            seen.setdefault(a, {}).setdefault(b, []).append(i)
        for a, parts in seen.items():
            if len(parts) > 1:
                desc = "; ".join(",".join(names[i] for i in rows[:4]) for rows in parts.values())
                msgs.append(f"{what}: {desc}")
                if len(msgs) >= limit:
                    break
    return "\n".join(msgs[:2 * limit])


# ---------------------------------------------------------------- crossing pairs (--check)

def crossing_counts(core_list, labels, near="none", group_by="rc", ignore=("excluded",),
                    oracle=None, **kw):
    """Row pairs related and labelled differently, by relation: exact, reverse_complement
    (rc of each other, not identical) and the near relation (neither exact nor rc).
    Returns ({relation: count}, {relation: {"A|B": count}}); rows labelled in ``ignore``
    take part in no pair. Without ``oracle`` exact/rc are counted by dictionary (fast for
    large tables); with near relations the dense oracle is used."""
    labels = np.asarray(labels, dtype=object)
    keep = np.array([lab not in ignore for lab in labels])
    rels = ["exact"] + (["reverse_complement"] if group_by == "rc" else [])
    if near != "none":
        rels.append(near)
    total = {r: 0 for r in rels}
    by_pair = {r: {} for r in rels}

    def add(rel, a, b, count):
        if count:
            key = "|".join(sorted((a, b)))
            by_pair[rel][key] = by_pair[rel].get(key, 0) + count
            total[rel] += count

    if near == "none" and oracle is None:
        from collections import Counter
        per_core = {}
        for c, lab, ok in zip(core_list, labels, keep):
            if ok:
                per_core.setdefault(c, Counter())[lab] += 1
        for c, cnt in per_core.items():
            for a, b in combinations(sorted(cnt), 2):
                add("exact", a, b, cnt[a] * cnt[b])
            if group_by == "rc":
                r = revcomp(c)
                if r != c and r in per_core and c < r:
                    other = per_core[r]
                    for a in cnt:
                        for b in other:
                            if a != b:
                                add("reverse_complement", a, b, cnt[a] * other[b])
        return total, by_pair

    oracle = oracle or Oracle(core_list)
    ex = oracle.exact_matrix()
    rc = oracle.rc_matrix() if group_by == "rc" else np.zeros_like(ex)
    nr = oracle.near_matrix(near, group_by, **kw) & ~ex & ~rc
    iu, ju = np.triu_indices(len(labels), 1)
    ok = keep[iu] & keep[ju] & (labels[iu] != labels[ju])
    iu, ju = iu[ok], ju[ok]
    for rel, mat in (("exact", ex), ("reverse_complement", rc), (near, nr)):
        if rel not in total:
            continue
        hit = mat[iu, ju]
        for i, j in zip(iu[hit], ju[hit]):
            add(rel, labels[i], labels[j], 1)
    return total, by_pair
