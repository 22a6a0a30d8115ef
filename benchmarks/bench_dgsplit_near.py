"""dgsplit --near against a brute-force enumeration, on real rows with planted near-copies.

Draws --rows rows of the real lentiMPRA HepG2 table (230 nt: 15-nt adapters around a
200-nt element; about half the rows are another row's element in reverse orientation),
puts exact and reverse-complement duplicates of some of them first (the trigger of the
old link-mapping defect), then appends --copies planted copies, each a drawn row's
element with 1-2 substitutions, written on either strand (synthetic edits of real
sequences, so that the answer is known). Runs ``dgsplit --near hamming`` and
``--near kmer`` of the checkout given by --repo, and scores each run with the
brute-force pair enumeration of ``tests/bruteforce_pairs.py`` (every pair compared;
no code shared with ``toolkit/split``):

- planted copies in another split than their source (the defect's symptom);
- related pairs of rows in two different splits (must be 0);
- spurious merges: groups that join rows no chain of related pairs links (must be 0);
- the largest group and its diameter (largest distance between two of its cores).

    python3 benchmarks/bench_dgsplit_near.py                       # this checkout
    python3 benchmarks/bench_dgsplit_near.py --repo DIR             # another checkout (e.g. a git worktree), same data
"""

import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
import pandas as pd

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests"))
DEFAULT_SOURCE = os.path.join(REPO, os.pardir, "shared", "data", "lentimpra", "HepG2.tsv")
_COMP = str.maketrans("ACGT", "TGCA")


def rc(s):
    return s.translate(_COMP)[::-1]


def planted_table(source, n_rows, n_copies, seed):
    """(table, source index of each planted copy or -1)."""
    rng = np.random.default_rng(seed)
    src = pd.read_csv(source, sep="\t")
    base = src.sample(n=n_rows, random_state=seed).reset_index(drop=True)
    seqs, ids, parent = [], [], []
    head = base.sample(n=n_rows // 50, random_state=seed + 1).index
    for i in head:   # exact and reverse-complement duplicates first
        s = base.loc[i, "seq"]
        ids += [f"dup_{i}", f"rcdup_{i}"]
        seqs += [s, s[:15] + rc(s[15:-15]) + s[-15:]]
        parent += [i, i]
    for i in range(n_rows):
        ids.append(base.loc[i, "seq_id"])
        seqs.append(base.loc[i, "seq"])
        parent.append(-1)
    for c in range(n_copies):
        i = int(rng.integers(n_rows))
        s = list(base.loc[i, "seq"])
        for p in rng.choice(np.arange(15, 215), size=int(rng.integers(1, 3)), replace=False):
            s[p] = rng.choice([b for b in "ACGT" if b != s[p]])
        s = "".join(s)
        if rng.random() < 0.5:
            s = s[:15] + rc(s[15:-15]) + s[-15:]
        ids.append(f"copy{c}_of_{i}")
        seqs.append(s)
        parent.append(i)
    return pd.DataFrame({"id": ids, "seq": seqs}), np.array(parent), base


def _jac(res):
    return res[0] if isinstance(res, tuple) else res


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repo", default=REPO, help="checkout whose bin/dgsplit runs (default: this one)")
    ap.add_argument("--source", default=DEFAULT_SOURCE)
    ap.add_argument("--rows", type=int, default=3000)
    ap.add_argument("--copies", type=int, default=600)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)
    import bruteforce_pairs as bf

    table, parent, base = planted_table(args.source, args.rows, args.copies, args.seed)
    cores = [s[15:-15] for s in table["seq"]]
    dist = bf.mismatch_matrices(cores)[1]   # either strand
    print(f"input: {len(table)} rows ({args.rows} real lentiMPRA HepG2 rows, {2 * (args.rows // 50)} exact/RC "
          f"duplicates first, {args.copies} planted copies with 1-2 substitutions on either strand); "
          f"dgsplit of {args.repo}")
    print("| run | groups | planted rows (duplicates, near-copies) in another split than their source | related pairs across splits "
          "| spurious merges | largest group (rows, diameter) |")
    print("|---|---:|---:|---:|---:|---|")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "in.tsv")
        table.to_csv(path, sep="\t", index=False)
        for near, extra in (("hamming", []), ("kmer", [])):
            out = os.path.join(tmp, f"{near}.tsv")
            res = subprocess.run([sys.executable, os.path.join(args.repo, "bin", "dgsplit"), path, "--near", near,
                                  *extra, "-q", "-o", out], capture_output=True, text=True)
            if res.returncode:
                print(f"| {near} | failed: {res.stderr.strip()[:200]} |")
                continue
            got = pd.read_csv(out, sep="\t", dtype=str, keep_default_na=False)
            split = got["split"].to_numpy()
            group = got["group_id"].to_numpy()
            src_row = {i: len(table) - args.copies - args.rows + i for i in range(args.rows)}
            copies = np.flatnonzero(parent >= 0)
            moved = sum(split[r] != split[src_row[parent[r]]] for r in copies)
            if near == "hamming":
                related = dist <= 2
            else:
                related = _jac(bf.jaccard_matrix(cores, 12)) >= 0.5
            np.fill_diagonal(related, False)
            a, b = np.nonzero(np.triu(related, 1))
            crossing = int((split[a] != split[b]).sum())
            from scipy.sparse import coo_matrix
            from scipy.sparse.csgraph import connected_components

            n = len(table)
            _, comp = connected_components(coo_matrix((np.ones(len(a)), (a, b)), shape=(n, n)), directed=False)
            # a group is spurious when it holds rows of more than one brute-force component
            spurious = int((pd.Series(comp).groupby(group).nunique() > 1).sum())
            sizes = pd.Series(group).value_counts()
            big = np.flatnonzero(group == sizes.index[0])
            if near == "hamming":
                diam = int(dist[np.ix_(big, big)].max())
            else:
                diam = round(float(1 - _jac(bf.jaccard_matrix([cores[i] for i in big], 12)).min()), 3)
            print(f"| `--near {near}` | {len(set(group)):,} | {moved} of {len(copies)} ({moved / len(copies):.0%}) "
                  f"| {crossing} | {spurious} | {sizes.iloc[0]} rows, {diam} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
