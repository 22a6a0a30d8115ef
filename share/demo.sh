#!/bin/sh
# The toolkit's main job on the bundled example: a real lentiMPRA table measured in
# three cell lines (Agarwal et al. 2025), quality-controlled, split without leakage,
# described by the biophysical descriptor set, then a CRE model trained on the train rows
# (stopped on val), applied to the unseen test rows and evaluated with bootstrap intervals.
# Usage: sh share/demo.sh [OUTDIR]     (commands must be installed: pip install .)
# DEMO_FIT_ARGS adds fit-cre options (e.g. DEMO_FIT_ARGS="--epochs 2" for a quick look).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
[ -d "$here/examples" ] || here=$(cd "$here/.." && pwd)   # installed: share/regseq-toolkit/scripts/
out=${1:-demo-out}
mkdir -p "$out"
ex="$here/examples/lentimpra_joint_3cell.csv.gz"
echo "== seqqc | dgsplit on $(basename "$ex")" >&2
seqqc "$ex" --report "$out/qc.json" --rejects "$out/rejected.tsv" \
  | dgsplit --report "$out/split.json" --manifest "$out/manifest.tsv" > "$out/split.tsv"
echo "== descfeat on the split table (HepG2 motif list)" >&2
descfeat "$out/split.tsv" --cell-type HepG2 -o "$out/feats.h5" --report "$out/descfeat.json"
echo "== fit-cre on the train rows, early stopping on val (test rows are not read)" >&2
rm -rf "$out/model"
# shellcheck disable=SC2086
fit-cre "$out/split.tsv" --targets HepG2_l2fc,K562_l2fc,WTC11_l2fc -o "$out/model" ${DEMO_FIT_ARGS:-}
awk -F'\t' 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "split") c = i; print; next } $c == "test"' \
  "$out/split.tsv" > "$out/test.tsv"
echo "== predict on the $(($(wc -l < "$out/test.tsv") - 1)) unseen test rows, then evalboot" >&2
predict --model "$out/model" "$out/test.tsv" > "$out/preds.tsv"
evalboot "$out/preds.tsv" --truth HepG2_l2fc,K562_l2fc,WTC11_l2fc --group-col group_id --output-format table \
  | tee "$out/eval.txt"
echo "== outputs in $out/: split.tsv ($(($(wc -l < "$out/split.tsv") - 1)) rows), rejected.tsv, qc.json, split.json, manifest.tsv, feats.h5, descfeat.json, model/, test.tsv, preds.tsv, eval.txt" >&2
