"""Variant scoring against plain prediction of the same windows.

predict --variants on N random single-base substitutions of the bundled E. coli genome (a VCF;
REF read from the genome) against predict on the 2N windows those variants need (a table cut
here with pysam), the same fit-cre model, batch size and threads; alternating, median of the
repeats, model loading included in both. Reports variants per second and the ratio of the two
commands' window rates (target: >= 1, variant scoring at least as fast as predict).

    python3 benchmarks/bench_variants.py --variants 5000 --repeat 3
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

from benchlib import machine, revision

REPO = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
GENOME = os.path.join(REPO, "share", "examples", "ecoli", "NC_000913.3.fa.bgz")
LENTIMPRA = os.path.join(REPO, "share", "examples", "lentimpra_joint_3cell.csv.gz")
BIN = os.path.join(REPO, "bin")


def sh(cmd, **kw):
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    return subprocess.run(cmd, shell=True, check=True, env=env, **kw)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variants", type=int, default=5000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=512)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--label", default=None)
    args = ap.parse_args()
    import pysam

    work = args.workdir or tempfile.mkdtemp(prefix="bench-variants-")
    os.makedirs(work, exist_ok=True)
    model = os.path.join(work, "model")
    if not os.path.exists(os.path.join(model, "model.pt")):   # a cpu-preset network, one epoch: speed, not quality
        sh(f"seqqc {LENTIMPRA} -q | dgsplit -q > {work}/split.tsv && fit-cre {work}/split.tsv "
           f"--targets HepG2_l2fc,K562_l2fc,WTC11_l2fc --preset cpu --epochs 1 --ensemble 1 --no-baseline -q "
           f"-o {model}")
    import json

    L = json.load(open(os.path.join(model, "config.json")))["length"]
    rng = np.random.default_rng(7)
    fa = pysam.FastaFile(GENOME)
    chrom, size = fa.references[0], fa.lengths[0]
    pos = np.sort(rng.choice(np.arange(L + 1, size - L), size=args.variants, replace=False))
    vcf, table = os.path.join(work, "snvs.vcf"), os.path.join(work, "windows.tsv")
    with open(vcf, "w") as v, open(table, "w") as t:
        v.write(f"##fileformat=VCFv4.2\n##contig=<ID={chrom},length={size}>\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
        t.write("id\tsequence\n")
        for k, p in enumerate(pos):
            start = p - 1 - L // 2
            win = fa.fetch(chrom, int(start), int(start) + L).upper()
            ref = win[L // 2]
            alt = "ACGT"[("ACGT".index(ref) + 1 + int(rng.integers(3))) % 4] if ref in "ACGT" else "A"
            v.write(f"{chrom}\t{p}\tv{k}\t{ref}\t{alt}\t.\tPASS\t.\n")
            t.write(f"v{k}_ref\t{win}\nv{k}_alt\t{win[:L // 2]}{alt}{win[L // 2 + 1:]}\n")
    common = f"-m {model} -q --batch-size {args.batch_size} -j {args.threads}"
    runs = {"predict --variants": f"predict {common} --variants {vcf} --genome {GENOME} -o {work}/effects.tsv",
            "predict (windows)": f"predict {common} {table} -o {work}/preds.tsv"}
    times = {k: [] for k in runs}
    for _ in range(args.repeat):
        for k, cmd in runs.items():
            t0 = time.perf_counter()
            sh(cmd)
            times[k].append(time.perf_counter() - t0)
    # the two commands predicted the same windows: check before reporting speed
    import pandas as pd

    eff = pd.read_csv(f"{work}/effects.tsv", sep="\t")
    pr = pd.read_csv(f"{work}/preds.tsv", sep="\t")
    worst = max(float(np.max(np.abs(eff[f"alt_{c}"].to_numpy() - pr[f"pred_{c}"].to_numpy()[1::2])))
                for c in ("HepG2_l2fc", "K562_l2fc", "WTC11_l2fc"))
    med = {k: statistics.median(v) for k, v in times.items()}
    n = args.variants
    m = machine(("numpy", "torch", "pysam"))
    print(f"machine: {m['cpu']}, {m['cores']} cores, {m['ram_gib']} GiB, torch {m['torch']}, pysam {m['pysam']}")
    print(f"code: {revision(REPO, args.label)}")
    print(f"command: python3 benchmarks/bench_variants.py --variants {n} --repeat {args.repeat} "
          f"--batch-size {args.batch_size} --threads {args.threads}; {L}-nt cpu-preset fit-cre model, CPU")
    print()
    print("| run | median s | variants/s | windows/s |")
    print("|---|---:|---:|---:|")
    for k, t in med.items():
        print(f"| {k} | {t:.1f} | {n / t:,.0f} | {2 * n / t:,.0f} |")
    ratio = med["predict (windows)"] / med["predict --variants"]
    print()
    print(f"ratio (windows/s of --variants over plain predict): {ratio:.2f} (target >= 1: "
          f"{'met' if ratio >= 1 else 'NOT met'}); largest |alt - plain prediction| {worst:.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
