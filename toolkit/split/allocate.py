"""Allocate whole groups to train/val/test.

Random mode: groups are shuffled with a fixed seed and allocated by cumulative size
to 80/10/10 of the rows, stratified by ``target_cell`` so that each split stays close
to the overall proportions (the aim: within 2 percentage points).
Chromosome and column hold-outs put whole groups in val/test.

Both hold-outs at once (:func:`by_column_and_chromosome`, for models that must
generalise to an unseen cell line *and* unseen loci, e.g. enhancer-promoter pairs)
give a fourth value, ``excluded`` (code 3): rows that would leak either way are kept
out of every split (and still written, so that no row is silently lost).
"""

import numpy as np

from ..errors import ConfigError

SPLITS = ("train", "val", "test")
EXCLUDED = 3
SPLIT_NAMES = SPLITS + ("excluded",)  # names of the codes 0..3
MALINOIS_VAL_CHROMS = ("19", "21", "X")
MALINOIS_TEST_CHROMS = ("7", "13")


def random_grouped(labels, strata, fractions=(0.8, 0.1, 0.1), seed=2025):
    """Random grouped split, stratified by ``strata``.

    Parameters
    ----------
    labels : int64 array (n,)
        Group of each row (0..G-1).
    strata : array (n,)
        Stratum of each row (e.g. target_cell); a single value means unstratified.
    fractions : three floats summing to 1 (train, val, test); a zero fraction gets no rows.
    seed : int

    Returns
    -------
    numpy.ndarray of int8, shape (n,): 0 train, 1 val, 2 test.
    """
    fr = np.asarray(fractions, dtype=np.float64)
    if fr.shape != (3,) or (fr < 0).any() or abs(fr.sum() - 1.0) > 1e-6:
        raise ConfigError("split fractions must be three non-negative numbers summing to 1, e.g. 0.8,0.1,0.1")
    n = len(labels)
    if n == 0:
        return np.zeros(0, dtype=np.int8)
    rng = np.random.default_rng(seed)
    ngroups = int(labels.max()) + 1
    scode, suniq = _factorize(strata)
    nstrata = len(suniq)
    # group x stratum counts, sparse as pairs
    pair = labels * nstrata + scode
    pu, pc = np.unique(pair, return_counts=True)
    pg, ps = pu // nstrata, pu % nstrata
    strata_per_group = np.bincount(pg, minlength=ngroups)
    gsize = np.bincount(labels, minlength=ngroups)
    total_c = np.bincount(scode, minlength=nstrata).astype(np.float64)
    target = fr[:, None] * total_c[None, :]          # (3, C)
    cur = np.zeros((3, nstrata), dtype=np.float64)
    split_size = np.maximum(fr * n, 1.0)
    assign = np.full(ngroups, -1, dtype=np.int8)
    perm = rng.permutation(ngroups)
    rank = np.empty(ngroups, dtype=np.int64)
    rank[perm] = np.arange(ngroups)

    # groups spanning several strata: greedy, least relative squared deviation from the targets
    mixed = np.flatnonzero(strata_per_group > 1)
    if len(mixed):
        sel = np.isin(pg, mixed)
        rows_by_group = {}
        for g, s, c in zip(pg[sel], ps[sel], pc[sel]):
            rows_by_group.setdefault(int(g), []).append((int(s), int(c)))
        for g in mixed[np.argsort(rank[mixed])]:
            vec = np.zeros(nstrata)
            for s, c in rows_by_group[int(g)]:
                vec[s] = c
            # change of the chi-square-like imbalance sum_c (cur - target)^2 / split size
            delta = (vec[None, :] * (2 * (cur - target) + vec[None, :])).sum(axis=1) / split_size
            delta[fr == 0] = np.inf
            k = int(np.argmin(delta))
            assign[g] = k
            cur[k] += vec

    # single-stratum groups: per stratum, in shuffled order, by cumulative size
    pure = strata_per_group == 1
    gstratum = np.zeros(ngroups, dtype=np.int64)
    single = pure[pg]
    gstratum[pg[single]] = ps[single]
    for c in range(nstrata):
        gs = np.flatnonzero(pure & (gstratum == c))
        if not len(gs):
            continue
        gs = gs[np.argsort(rank[gs])]
        need = np.maximum(target[:, c] - cur[:, c], 0)
        if need.sum() <= 0:
            need = fr.copy()
        need = need / need.sum() * gsize[gs].sum()
        cum = np.cumsum(gsize[gs]) - gsize[gs] / 2.0   # group midpoints
        edges = np.cumsum(need)
        k = np.searchsorted(edges, cum, side="right").clip(0, 2).astype(np.int8)
        assign[gs] = k
        np.add.at(cur[:, c], k, gsize[gs])
    return assign[labels]


def _factorize(values):
    import pandas as pd

    codes, uniq = pd.factorize(pd.Series(values, dtype=object), sort=True)
    return codes.astype(np.int64), list(uniq)


def normalise_chrom(name):
    """'chr7', 'Chr7', '7' -> '7'; 'chrX' -> 'X'."""
    s = str(name).strip()
    if s[:3].lower() == "chr":
        s = s[3:]
    return s


def by_chromosome(labels, chroms, val=MALINOIS_VAL_CHROMS, test=MALINOIS_TEST_CHROMS):
    """Hold out chromosomes: rows on ``test`` chromosomes -> test, ``val`` -> val, others train.

    ``chroms`` is (n,), or (n, m) for rows on several chromosomes (e.g. an enhancer's and
    a promoter's): such a row, and a group with rows on several chromosomes, goes to its
    strictest split (test > val > train), so that no group is split.

    Returns int8 (n,) split codes and the number of groups that were moved.
    """
    val = {normalise_chrom(c) for c in val}
    test = {normalise_chrom(c) for c in test}
    if val & test:
        raise ConfigError(f"chromosomes both in validation and test: {', '.join(sorted(val & test))}")
    chroms = np.asarray(chroms, dtype=object)
    cols = chroms.reshape(len(chroms), -1).T if chroms.ndim > 1 else [chroms]
    row = np.zeros(len(chroms), dtype=np.int8)
    for col in cols:
        norm = np.array([normalise_chrom(c) for c in col], dtype=object)
        row = np.maximum(row, np.where(np.isin(norm, list(test)), 2, np.where(np.isin(norm, list(val)), 1, 0))
                         .astype(np.int8))
    return _strictest(labels, row)


def by_column_and_chromosome(labels, values, held, chroms, val=MALINOIS_VAL_CHROMS, test=MALINOIS_TEST_CHROMS):
    """Hold out a column value and chromosomes at once (an unseen cell line at unseen loci).

    Each group first gets its chromosome split as in :func:`by_chromosome` (strictest
    over its rows and their chromosomes). Then, row by row:

    ======================  =========================  ========================
    chromosome split        row's value in ``held``    other rows
    ======================  =========================  ========================
    train                   excluded                   train
    val                     excluded                   val
    test                    test                       excluded
    ======================  =========================  ========================

    So test holds only held-out rows on test chromosomes, train and val only other
    rows off them; no group has rows in two of train, val and test (its other rows are
    excluded, code :data:`EXCLUDED`).

    Parameters
    ----------
    labels : int64 array (n,), group of each row
    values : array (n,), the column held out (e.g. cell line)
    held : list of values held out
    chroms : array (n,) or (n, m), chromosome(s) of each row
    val, test : chromosome names ('7' and 'chr7' are one)

    Returns
    -------
    split : int8 (n,), codes 0 train, 1 val, 2 test, 3 excluded
    moved : int, groups moved to a stricter chromosome split
    excluded : dict, ``held_out_off_test_chromosomes`` and ``others_on_test_chromosomes`` row counts
    """
    chrom_split, moved = by_chromosome(labels, chroms, val=val, test=test)
    held_row = np.isin(np.asarray(values, dtype=object), list(held))
    on_test = chrom_split == 2
    split = np.where(held_row, np.where(on_test, 2, EXCLUDED), np.where(on_test, EXCLUDED, chrom_split))
    excluded = {"held_out_off_test_chromosomes": int((held_row & ~on_test).sum()),
                "others_on_test_chromosomes": int((~held_row & on_test).sum())}
    return split.astype(np.int8), moved, excluded


def by_column(labels, values, held, fractions=(0.8, 0.1, 0.1), strata=None, seed=2025):
    """Hold out rows whose column value is in ``held`` as test; split the rest train/val.

    Groups that contain any held-out row go to test whole. The rest is split by
    :func:`random_grouped` with the train and val fractions renormalised.

    Returns int8 (n,) split codes and the number of groups moved to test because of a held-out row.
    """
    values = np.asarray(values, dtype=object)
    held_row = np.isin(values, list(held))
    row = np.where(held_row, 2, 0).astype(np.int8)
    split, moved = _strictest(labels, row)
    rest = split == 0
    if rest.any():
        fr = np.array(fractions[:2], dtype=np.float64)
        if fr.sum() <= 0:
            raise ConfigError("train and val fractions must not both be zero")
        fr = np.append(fr / fr.sum(), 0.0)
        sub_labels = labels[rest]
        codes = np.unique(sub_labels, return_inverse=True)[1]
        sub_strata = np.asarray(strata, dtype=object)[rest] if strata is not None else np.zeros(rest.sum())
        split[rest] = random_grouped(codes, sub_strata, fr, seed)
    return split, moved


def _strictest(labels, row_split):
    """Every row of a group gets the group's highest split code."""
    ngroups = int(labels.max()) + 1 if len(labels) else 0
    gmax = np.zeros(ngroups, dtype=np.int8)
    np.maximum.at(gmax, labels, row_split)
    gmin = np.full(ngroups, 3, dtype=np.int8)
    np.minimum.at(gmin, labels, row_split)
    moved = int((gmax != gmin).sum())
    return gmax[labels], moved


def check_no_leak(labels, split, keys=None):
    """Return a description of the first leak found, or None.

    A leak is a group whose rows are in more than one of train, val and test, or
    (when ``keys`` is given, e.g. hashes of the cores) a key present in more than one
    of them. ``keys`` may be (n, m): several keys per row (e.g. the elements of a pair).
    Excluded rows (code :data:`EXCLUDED`) are in no split and are not checked.
    """
    import pandas as pd

    split = np.asarray(split, dtype=np.int8)
    labels = np.asarray(labels)
    kept = split < EXCLUDED
    if not kept.all():
        labels, split = labels[kept], split[kept]
        keys = None if keys is None else np.asarray(keys)[kept]
    if keys is not None and np.ndim(keys) > 1:
        keys = np.asarray(keys)
        m = keys.shape[1]
        return check_no_leak(np.tile(labels, m), np.tile(split, m), keys=keys.T.ravel())
    for what, codes in (("group", labels), ("key", keys)):
        if codes is None:
            continue
        codes = pd.factorize(codes, sort=False)[0]
        lo = np.full(codes.max() + 1 if len(codes) else 0, 127, dtype=np.int8)
        hi = np.full(len(lo), -1, dtype=np.int8)
        np.minimum.at(lo, codes, split)
        np.maximum.at(hi, codes, split)
        bad = np.flatnonzero(lo != hi)
        if len(bad):
            if what == "group":
                return f"group {int(labels[np.flatnonzero(codes == bad[0])[0]])} crosses splits"
            return "a sequence (or its reverse complement) is in more than one split"
    return None
