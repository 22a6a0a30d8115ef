#!/bin/sh
# Genome windows (issue 7): 200-nt windows upstream of every E. coli K-12 gene start
# (share/examples/ecoli/upstream_windows.tsv.gz, built from the bundled genome and gene
# table by share/examples/ecoli/make_upstream_windows.py), split by 100-kb genomic
# blocks, and one fit-cre model for two task types at once: opens_operon (binary: the
# gene is the first of its operon, so a promoter is expected upstream) and
# log1p_genes_5kb (regression). The test blocks are predicted together with the k-mer
# ridge baseline fitted with the model, and evalboot compares the two (AUROC and AUPR
# against the class prior, Pearson; bootstrap intervals).
# Usage: sh share/ecoli.sh [OUTDIR]     (commands must be installed: pip install .)
# ECOLI_FIT_ARGS adds fit-cre options (e.g. ECOLI_FIT_ARGS="--epochs 2" for a quick look).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
[ -d "$here/examples" ] || here=$(cd "$here/.." && pwd)   # installed: share/regseq-toolkit/scripts/
out=${1:-ecoli-out}
mkdir -p "$out"
echo "== dgsplit by 100-kb genomic blocks (overlapping windows never straddle train and test)" >&2
dgsplit "$here/examples/ecoli/upstream_windows.tsv.gz" --holdout-chrom --chrom-col block --flanks none \
  --val-chroms blk10,blk20,blk30,blk40 --test-chroms blk05,blk15,blk25,blk35,blk45 \
  --report "$out/split.json" > "$out/split.tsv"
echo "== fit-cre: opens_operon (binary) and log1p_genes_5kb (regression, z-scored)" >&2
rm -rf "$out/model"
# shellcheck disable=SC2086
fit-cre "$out/split.tsv" --targets opens_operon,log1p_genes_5kb --task-type opens_operon=binary \
  -o "$out/model" ${ECOLI_FIT_ARGS:-}
awk -F'\t' 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "split") c = i; print; next } $c == "test"' \
  "$out/split.tsv" > "$out/test.tsv"
echo "== predict the unseen blocks with the k-mer baseline, then evalboot" >&2
predict --model "$out/model" "$out/test.tsv" --baseline > "$out/preds.tsv"
evalboot "$out/preds.tsv" --truth opens_operon,log1p_genes_5kb --compare base_opens_operon,base_log1p_genes_5kb \
  --output-format table | tee "$out/eval.txt"
