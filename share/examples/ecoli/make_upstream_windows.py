#!/usr/bin/env python3
"""Build the E. coli upstream-window table: one 200-bp window at every gene's start codon, with
two targets computed from the annotation.

    python3 share/examples/ecoli/make_upstream_windows.py            # writes upstream_windows.tsv.gz here

Inputs (bundled next to this script; see share/PROVENANCE.md):
  NC_000913.3.fa.bgz (+ .fai, .gzi)  E. coli K-12 MG1655 genome, BGZF
  ecoli_gene_info.csv                 SBRG/precise-db gene table: b-number (first column), start, stop,
                                      strand, gene_name, length, operon, cog

Coordinates. ``start`` is 0-based and ``stop`` end-exclusive (BED-style): thrL is NCBI 190..255 and
here 189, 255. Checked on every run: a canonical start codon (ATG, GTG, TTG) must begin at ``start``
(plus strand) or end at ``stop`` (minus strand, reverse complement) for at least 90% of the genes (97%
do); a 1-based table would fail this and stop the script instead of silently shifting every window.

Window. The start codon's first base is position 0; the window spans -150..+49 in the gene's own
orientation (150 bases upstream, the start codon, 47 coding bases): 200 bases, reverse-complemented for
minus-strand genes. Most E. coli 5' UTRs are under 100 bases, and a sigma-70 promoter reaches about
60 bases upstream of its transcription start, so -150 covers the promoter of most genes whose operon
starts there, and the +50 keeps the start codon at a fixed position (offset 150 of every sequence).
Every window has the same length, so seqqc needs no padding. Sequences are cut by the toolkit (BED
windows through ``toolkit.io.genome.bed_windows`` and seqqc's rules, exactly what
``seqqc windows.bed --genome NC_000913.3.fa.bgz`` does); a window past a chromosome end would be rejected
(the chromosome is circular, but no gene's window crosses the origin in this annotation).

Targets.
  opens_operon      1 when the gene is the first of its operon (``operon`` column) in the direction of
                    transcription: its start codon is the most upstream one among the operon's genes
                    (smallest on the plus strand, largest on the minus strand; every operon here lies on
                    one strand). Genes alone in their operon open it. Ties (two genes with the same start
                    codon position) would all be 1, as they share a window. A promoter is expected
                    upstream of an opening gene; internal promoters exist but are not in this table, so
                    this is the annotation's proxy, not a measurement.
  n_genes_5kb       the number of *other* genes whose start codon lies within 5,000 bases of this gene's
                    (either strand; distances around the circular chromosome), and
  log1p_genes_5kb   log(1 + n_genes_5kb), the regression target.

Split helper. ``block`` = ``blk`` + the 100-kb block of the start codon (``blk00`` .. ``blk46``), except
that overlapping windows never straddle two blocks: a run of overlapping windows (sorted by start) takes
the block of its first window. Windows of neighbouring genes overlap (562 pairs of distinct windows,
median 110 of 200 bases), and dgsplit groups only identical, reverse-complement and near-duplicate
sequences, so hold out whole genomic blocks with ``dgsplit --holdout-chrom --chrom-col block`` (see
README, "Genome windows: the E. coli example").

Needs only the toolkit and pandas; deterministic (no randomness; gzip written with mtime 0); seconds.
"""

import argparse
import io
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
if (HERE.parents[2] / "toolkit" / "__init__.py").is_file():  # run from a checkout: use its toolkit
    sys.path.insert(0, str(HERE.parents[2]))

import numpy as np  # noqa: E402  (pandas' own dependency)
import pandas as pd  # noqa: E402

UPSTREAM = 150
DOWNSTREAM = 50
RADIUS = 5000
BLOCK = 100_000
START_CODONS = ("ATG", "GTG", "TTG")


def start_codon_positions(genes):
    """0-based coordinate of each gene's start codon's first base (``stop - 1`` on the minus strand)."""
    return np.where(genes["strand"].to_numpy() == "+", genes["start"].to_numpy(), genes["stop"].to_numpy() - 1)


def windows(genes, upstream=UPSTREAM, downstream=DOWNSTREAM):
    """BED windows [-upstream, +downstream) around each start codon, in the gene's orientation."""
    pos = start_codon_positions(genes)
    plus = genes["strand"].to_numpy() == "+"
    ws = np.where(plus, pos - upstream, pos - downstream + 1)
    return ws, ws + upstream + downstream


def opens_operon(genes):
    """1 for the genes whose start codon is the most upstream of their operon, else 0."""
    pos = pd.Series(start_codon_positions(genes), index=genes.index)
    plus = genes["strand"] == "+"
    key = pos.where(plus, -pos)  # most upstream = smallest key on either strand
    first = key.groupby(genes["operon"]).transform("min")
    return (key == first).astype(int)


def genes_within(pos, radius, length):
    """For each position, the number of *other* positions within ``radius`` on a circle of ``length``."""
    order = np.sort(pos)
    ring = np.concatenate([order - length, order, order + length])
    lo = np.searchsorted(ring, pos - radius, side="left")
    hi = np.searchsorted(ring, pos + radius, side="right")
    return hi - lo - 1


def blocks(ws, we, pos, size=BLOCK):
    """``blk<k>``: the ``size`` block of each start codon; a run of overlapping windows takes its first's."""
    out = np.empty(len(ws), dtype=object)
    block, reach = 0, None
    for i in np.lexsort((we, ws)):
        if reach is None or ws[i] >= reach:
            block = pos[i] // size
        reach = we[i] if reach is None else max(reach, we[i])
        out[i] = f"blk{block:02d}"
    return out


def build(genes_csv, genome):
    from toolkit.io.genome import bed_windows, open_genome, read_bed
    from toolkit.qc.rules import QCConfig, run_qc
    from toolkit.seq import reverse_complement

    genes = pd.read_csv(genes_csv, index_col=0)
    missing = {"start", "stop", "strand", "gene_name", "operon"} - set(genes.columns)
    if missing:
        raise SystemExit(f"{genes_csv}: missing column(s) {', '.join(sorted(missing))}")
    genes.index.name = "gene"
    genes = genes.sort_values(["start", "stop"], kind="mergesort")
    fa = open_genome(genome)
    chrom, size = next((k, len(v)) for k, v in fa.items())

    # the coordinates are 0-based, end-exclusive: start codons say so
    seq = fa[chrom]
    codons = [seq[s:s + 3] if st == "+" else reverse_complement(seq[e - 3:e])
              for s, e, st in zip(genes["start"], genes["stop"], genes["strand"])]
    canonical = float(np.isin(codons, START_CODONS).mean())
    if canonical < 0.9:
        raise SystemExit(f"only {canonical:.1%} of genes start with ATG/GTG/TTG at 'start' (0-based): "
                         "the table's coordinates are not the expected 0-based, end-exclusive ones")

    ws, we = windows(genes)
    bed = "".join(f"{chrom}\t{a}\t{b}\t{g}\t0\t{s}\n" for a, b, g, s in zip(ws, we, genes.index, genes["strand"]))
    table = bed_windows(read_bed(io.BytesIO(bed.encode()), "upstream.bed"), fa, name="upstream.bed")
    qc = run_qc(table, QCConfig(length=UPSTREAM + DOWNSTREAM, length_policy="drop"))
    kept = qc.kept.set_index("name")

    pos = start_codon_positions(genes)
    n5 = genes_within(pos, RADIUS, size)
    out = pd.DataFrame({
        "id": [f"{chrom}:{a}-{b}({s})" for a, b, s in zip(ws, we, genes["strand"])],
        "chrom": chrom, "start": ws, "end": we, "strand": genes["strand"].to_numpy(),
        "gene": genes.index.to_numpy(), "gene_name": genes["gene_name"].to_numpy(),
        "operon": genes["operon"].to_numpy(), "start_codon": pos,
        "opens_operon": opens_operon(genes).to_numpy(),
        "n_genes_5kb": n5, "log1p_genes_5kb": [f"{v:.6f}" for v in np.log1p(n5)],
        "block": blocks(ws, we, pos),
    })
    ok = out["gene"].isin(kept.index).to_numpy()
    out = out[ok].reset_index(drop=True)
    out.insert(out.columns.get_loc("start_codon"), "sequence", kept.loc[out["gene"], "sequence"].to_numpy())
    return out, qc.rejects, qc.report, canonical


def summary(out, rejects, canonical):
    y = out["opens_operon"]
    n = out["n_genes_5kb"]
    lines = [
        f"{len(out)} windows written, {len(rejects)} rejected by seqqc; "
        f"{canonical:.1%} of genes start with ATG/GTG/TTG at the annotated position",
        f"opens_operon: {int(y.sum())} of {len(y)} = {y.mean():.3f} (class prior)",
        f"n_genes_5kb: mean {n.mean():.2f}, SD {n.std():.2f}, median {n.median():.0f}, range {n.min()}-{n.max()}",
        "log1p_genes_5kb: mean {:.3f}, SD {:.3f}".format(*(lambda v: (v.mean(), v.std()))(
            out["log1p_genes_5kb"].astype(float))),
    ]
    s = out.sort_values("start")
    moved = int((s["block"] != [f"blk{p // BLOCK:02d}" for p in s["start_codon"]]).sum())
    lines.append(f"{out['block'].nunique()} blocks of {BLOCK:,} bases; {moved} windows take the block of an "
                 "overlapping window in the previous block")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--genes", default=str(HERE / "ecoli_gene_info.csv"), help="precise-db gene_info.csv")
    ap.add_argument("--genome", default=str(HERE / "NC_000913.3.fa.bgz"), help="genome FASTA (plain or BGZF)")
    ap.add_argument("-o", "--output", default=str(HERE / "upstream_windows.tsv.gz"), help="output TSV (.gz)")
    ap.add_argument("-q", "--quiet", action="store_true")
    args = ap.parse_args(argv)

    from toolkit.io.streams import AtomicOutput
    from toolkit.io.tables import write_tsv

    out, rejects, report, canonical = build(args.genes, args.genome)
    with AtomicOutput(args.output, inputs=[args.genes, args.genome]) as fh:
        write_tsv(out.astype(str), fh)
    if not args.quiet:
        print(summary(out, rejects, canonical), file=sys.stderr)
        for _, r in rejects.iterrows():
            print(f"rejected: {r['id']} ({r['qc_reason']})", file=sys.stderr)
    return out


if __name__ == "__main__":
    main()
