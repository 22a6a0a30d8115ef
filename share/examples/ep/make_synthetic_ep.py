#!/usr/bin/env python3
"""A synthetic genome with a planted, cell-line-specific enhancer-promoter grammar.

Known answer, so that fit-ep can be checked where no real sequence is at hand (no hg19
FASTA on the development machine). Everything is drawn from one seed.

Genome. ``n_chroms`` chromosomes (chr1, chr2, ...) of uniform random sequence (GC 0.42)
holding enhancers and promoters in random order, one element every ``spacing`` bp
(enhancers 150-500 bp, promoters 300-1,000 bp long), ``flank`` bp from the ends so that
3,000 bp windows fit. Motifs (10-mers, planted in a random orientation within 150 bp of
an element's centre, never overlapping):

- programs k = 0..3, each a motif pair: enhancer motif a_k (in an enhancer with
  probability ``p_a``) and promoter motif b_k (in a promoter with probability ``p_b``);
- markers m_k (in an enhancer with probability ``p_marker``): the footprint of program
  k's factors, which open enhancers in the cell lines where k is active.

Cell lines. Six, each with two active programs, every program active in three cell
lines and every pair of programs in one (cellA {0,1}, cellB {1,2}, cellC {2,3},
cellD {0,3}, cellE {0,2}, cellF {1,3}): a held-out cell line's combination is never
seen in training, but each of its programs is. An enhancer is active (present in the
cell line's table) with probability 0.05 + 0.8 [it holds a marker of an active
program], so a cell line's enhancers are enriched for its markers (about 0.5 against
0.2): the environment, visible in any unlabeled support set of its pairs.

Pairs and labels (the TargetFinder layout). Every active enhancer is paired with up to
``partners`` promoters on its chromosome within ``max_distance`` bp. A pair interacts
with probability 0.9 * distance factor if, for some program k active in the cell line,
the enhancer holds a_k and the promoter b_k (the planted grammar), else with
probability ``p_noise`` * distance factor; the distance factor is 1 below 30 kb and
0.7 above (a weak distance effect). About 1 pair in 20 interacts; as many pairs again
match a program that is not active in their cell line (decoys: the environment tells
them apart, and in part the enhancer's own markers, since an enhancer in a cell line's
table mostly holds a marker of one of the line's programs; on the benchmark's test pairs
a model reading those markers but no support set can reach about 0.59 AUPR against 0.45
for the motif pairs alone and 0.82 for the known answer). ``planted_probability`` gives
the known answer per pair (``planted_without_distance`` the same without the distance
factor); ``own_sequence_probability`` and ``agnostic_probability`` the two references
without the cell line.

Usage: python3 make_synthetic_ep.py OUTDIR [--seed 7]   (writes synthetic_ep_genome.fa.bgz
with its .fai/.gzi, synthetic_ep_pairs.csv.gz and synthetic_ep_grammar.json)
"""

import argparse
import gzip
import json
import os
import sys

import numpy as np

PROGRAMS = 4
CELLS = {"cellA": (0, 1), "cellB": (1, 2), "cellC": (2, 3), "cellD": (0, 3), "cellE": (0, 2), "cellF": (1, 3)}
MOTIF_LEN = 10
_COMP = str.maketrans("ACGT", "TGCA")


def _rc(s):
    return s.translate(_COMP)[::-1]


def _motifs(rng, n):
    """n distinct random 10-mers, none a reverse complement of another or of itself."""
    out = []
    while len(out) < n:
        m = "".join(rng.choice(list("ACGT"), MOTIF_LEN))
        if m == _rc(m) or any(m in (o, _rc(o)) for o in out):
            continue
        if max(m.count(b) for b in "ACGT") > 5:
            continue
        out.append(m)
    return out


def _random_seq(rng, n, gc=0.42):
    p = [(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2]
    return np.array(list("ACGT"))[rng.choice(4, size=n, p=p)]


def _plant(chrom_arr, centre, motifs, rng):
    """Write motifs (random orientation) into distinct 15-bp slots within 150 bp of centre."""
    slots = rng.choice(20, size=len(motifs), replace=False)
    for m, s in zip(motifs, slots):
        pos = centre - 150 + 15 * int(s) + int(rng.integers(0, 5))
        seq = m if rng.random() < 0.5 else _rc(m)
        chrom_arr[pos:pos + MOTIF_LEN] = list(seq)


def distance_factor(distance):
    """The planted distance effect: 1 below 30 kb, 0.7 from there on."""
    return 1.0 if distance < 30_000 else 0.7


def planted_without_distance(cell, enh_a, prom_b, p_noise=0.004):
    """The known answer without its distance factor: the best a model can do that reads the
    pair's sequences and knows the cell line's programs but not the distance (as fit-ep)."""
    match = any(enh_a[k] and prom_b[k] for k in CELLS[cell])
    return 0.9 if match else p_noise


def planted_probability(cell, enh_a, prom_b, distance, p_noise=0.004):
    """The known answer: P(interaction) of a pair (enhancer programs a, promoter programs b)."""
    return planted_without_distance(cell, enh_a, prom_b, p_noise) * distance_factor(distance)


def agnostic_probability(enh_a, prom_b, distance, p_noise=0.004):
    """The best a model can do that knows the grammar's motif pairs only (neither the cell
    line's programs nor the enhancer's markers): with m programs matched by the pair, each
    active with probability 1/2 in a random cell line, P = factor * (0.9 (1 - 2^-m) +
    p_noise 2^-m) (the ranking is what counts)."""
    factor = distance_factor(distance)
    m = sum(bool(enh_a[k] and prom_b[k]) for k in range(PROGRAMS))
    return factor * (0.9 * (1 - 0.5 ** m) + p_noise * 0.5 ** m)


def own_sequence_probability(enh_a, enh_marker, prom_b, distance, p_noise=0.004, combos=None):
    """The best a model can do that reads the pair's own sequences (motif pairs and the
    enhancer's markers) but no support set of its cell line: the cell line's combination S
    of programs is unknown (uniform over ``combos``, default the six), and the enhancer being
    in the table is evidence for the combinations whose markers it holds, P(S | enhancer
    present) proportional to 0.05 + 0.8 [it holds a marker of S]; P = factor * sum_S
    P(S | present) P(match | S).

    With the six combinations this knows that the held-out line's combination exists, which a
    model trained on the other five lines cannot learn from its pairs; ``combos`` = the five
    training lines' combinations gives what such a model can reach (Bayes-optimal on its
    training distribution)."""
    factor = distance_factor(distance)
    combos = list(CELLS.values()) if combos is None else list(combos)
    w = np.array([0.05 + 0.8 * bool(any(enh_marker[k] for k in s)) for s in combos])
    hit = np.array([0.9 if any(enh_a[k] and prom_b[k] for k in s) else p_noise for s in combos])
    return factor * float(w @ hit / w.sum())


def make(seed=7, n_chroms=8, enhancers_per_chrom=400, promoters_per_chrom=100, partners=3, spacing=400,
         flank=2000, max_distance=100_000, p_a=0.1, p_b=0.3, p_marker=0.2, p_noise=0.004, cells=None):
    """Generate the genome and the pair table.

    Returns
    -------
    genome : dict chrom -> str
    pairs : pandas.DataFrame in the TargetFinder layout (cell, enhancer_name, enhancer_chrom,
        enhancer_start, enhancer_end, promoter_name, promoter_chrom, promoter_start,
        promoter_end, label, distance), coordinates 0-based end-exclusive
    truth : pandas.DataFrame (n rows): ``planted`` (the known answer, P(interaction) given the
        cell line's programs) and ``agnostic`` (the same knowing the motif pairs but not the
        cell line) and ``own_sequence`` (knowing the motif pairs and reading the enhancer's
        own markers, but not the cell line), and the pair's planted motifs as bit masks over
        the programs (``enh_a``, ``enh_marker``, ``prom_b``; :func:`flags` reads them)
    grammar : dict, the motifs and programs (JSON-ready)
    """
    import pandas as pd

    rng = np.random.default_rng(seed)
    cells = list(CELLS) if cells is None else list(cells)
    motifs = _motifs(rng, 3 * PROGRAMS)
    a_m, b_m, mk_m = motifs[:PROGRAMS], motifs[PROGRAMS:2 * PROGRAMS], motifs[2 * PROGRAMS:]
    genome = {}
    enh, prom = [], []
    for ci in range(n_chroms):
        chrom = f"chr{ci + 1}"
        kinds = np.array(["E"] * enhancers_per_chrom + ["P"] * promoters_per_chrom)
        rng.shuffle(kinds)
        size = 2 * flank + spacing * len(kinds)
        arr = _random_seq(rng, size)
        for j, kind in enumerate(kinds):
            centre = flank + spacing * j + spacing // 2
            length = int(rng.integers(150, 501)) if kind == "E" else int(rng.integers(300, 1001))
            start = centre - length // 2
            if kind == "E":
                a = rng.random(PROGRAMS) < p_a
                mk = rng.random(PROGRAMS) < p_marker
                _plant(arr, centre, [a_m[k] for k in range(PROGRAMS) if a[k]] +
                       [mk_m[k] for k in range(PROGRAMS) if mk[k]], rng)
                enh.append((chrom, start, start + length, a, mk))
            else:
                b = rng.random(PROGRAMS) < p_b
                _plant(arr, centre, [b_m[k] for k in range(PROGRAMS) if b[k]], rng)
                prom.append((chrom, start, start + length, b))
        genome[chrom] = "".join(arr)
    rows, truth = [], []
    for cell in cells:
        active = CELLS[cell]
        for (chrom, es, ee, a, mk) in enh:
            p_act = 0.05 + 0.8 * bool(any(mk[k] for k in active))
            if rng.random() >= p_act:
                continue
            ec = (es + ee) // 2
            near = [p for p in prom if p[0] == chrom and abs((p[1] + p[2]) // 2 - ec) <= max_distance]
            if not near:
                continue
            pick = rng.choice(len(near), size=min(partners, len(near)), replace=False)
            for i in sorted(pick):
                _, ps, pe, b = near[i]
                dist = abs((ps + pe) // 2 - ec)
                p = planted_probability(cell, a, b, dist, p_noise)
                y = int(rng.random() < p)
                rows.append((cell, f"{cell}|{chrom}:{es}-{ee}", chrom, es, ee, f"{cell}|{chrom}:{ps}-{pe}", chrom, ps,
                             pe, y, dist))
                truth.append((p, agnostic_probability(a, b, dist, p_noise),
                              own_sequence_probability(a, mk, b, dist, p_noise), _bits(a), _bits(mk), _bits(b)))
    cols = ["cell", "enhancer_name", "enhancer_chrom", "enhancer_start", "enhancer_end", "promoter_name",
            "promoter_chrom", "promoter_start", "promoter_end", "label", "distance"]
    pairs = pd.DataFrame(rows, columns=cols)
    grammar = {"seed": seed, "programs": {k: {"enhancer_motif": a_m[k], "promoter_motif": b_m[k],
                                              "marker_motif": mk_m[k]} for k in range(PROGRAMS)},
               "cells": {c: list(CELLS[c]) for c in cells},
               "rates": {"p_a": p_a, "p_b": p_b, "p_marker": p_marker, "p_noise": p_noise,
                         "match": 0.9, "far_factor_above_30kb": 0.7,
                         "enhancer_active": "0.05 + 0.8 [holds a marker of an active program]"},
               "sizes": {"chromosomes": n_chroms, "enhancers_per_chrom": enhancers_per_chrom,
                         "promoters_per_chrom": promoters_per_chrom, "partners": partners, "spacing": spacing,
                         "flank": flank, "max_distance": max_distance}}
    return genome, pairs, pd.DataFrame(truth, columns=["planted", "agnostic", "own_sequence", "enh_a", "enh_marker",
                                                       "prom_b"]), grammar


def _bits(flags):
    """Program flags (k = 0..3) as one integer, bit k set where flag k is."""
    return int(sum(1 << k for k, f in enumerate(flags) if f))


def flags(bits):
    """The inverse of :func:`_bits`: a list of PROGRAMS booleans."""
    return [bool(int(bits) >> k & 1) for k in range(PROGRAMS)]


def write_fasta(genome, path, bgzf=False, width=60):
    """Write the genome as FASTA (BGZF-compressed with ``bgzf``) and index it with pyfaidx."""
    text = "".join(f">{c}\n" + "\n".join(s[i:i + width] for i in range(0, len(s), width)) + "\n"
                   for c, s in genome.items())
    if bgzf:
        from Bio import bgzf as B

        with B.BgzfWriter(path, "wb") as fh:
            fh.write(text.encode())
    else:
        with open(path, "w") as fh:
            fh.write(text)
    import pyfaidx

    pyfaidx.Fasta(path).close()
    return path


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("outdir")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--chroms", type=int, default=8, help="chromosomes (the bundled example: 8; the benchmark: 16)")
    args = ap.parse_args(argv)
    os.makedirs(args.outdir, exist_ok=True)
    genome, pairs, truth, grammar = make(seed=args.seed, n_chroms=args.chroms)
    write_fasta(genome, os.path.join(args.outdir, "synthetic_ep_genome.fa.bgz"), bgzf=True)
    with open(os.path.join(args.outdir, "synthetic_ep_pairs.csv.gz"), "wb") as raw:
        with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as fh:
            fh.write(pairs.to_csv(index=False).encode())
    grammar["pairs"] = {"rows": len(pairs), "positives": int(pairs["label"].sum()),
                        "per_cell": {c: [int((pairs.cell == c).sum()), int(pairs.label[pairs.cell == c].sum())]
                                     for c in grammar["cells"]}}
    with open(os.path.join(args.outdir, "synthetic_ep_grammar.json"), "w") as fh:
        json.dump(grammar, fh, indent=2)
        fh.write("\n")
    print(f"{len(pairs)} pairs, {int(pairs['label'].sum())} positive ({pairs['label'].mean():.3f}); "
          f"{sum(len(s) for s in genome.values()):,} bp in {len(genome)} chromosomes", file=sys.stderr)


if __name__ == "__main__":
    main()
