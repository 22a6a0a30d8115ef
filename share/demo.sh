#!/bin/sh
# The toolkit's main job on the bundled example: a real lentiMPRA table measured in
# three cell lines (Agarwal et al. 2025), quality-controlled, split without leakage,
# described by the biophysical descriptor set, then a CRE model trained on the train rows
# (stopped on val), applied to the unseen test rows and evaluated with bootstrap intervals
# next to the k-mer ridge baseline fitted on the same rows, with figures.
#
# Usage: sh share/demo.sh [--full] [OUTDIR]     (commands must be installed: pip install .)
#   default: one network, 8 epochs (a few minutes on 2 CPU cores);
#   --full:  the cpu preset as it is (3 networks, 12 epochs; about 15-20 minutes on 2 cores).
# DEMO_FIT_ARGS adds fit-cre options (e.g. DEMO_FIT_ARGS="--device cuda").
set -eu
full=0
if [ "${1:-}" = "--full" ]; then full=1; shift; fi
here=$(cd "$(dirname "$0")" && pwd)
[ -d "$here/examples" ] || here=$(cd "$here/.." && pwd)   # installed: share/regseq-toolkit/scripts/
out=${1:-demo-out}
mkdir -p "$out"
ex="$here/examples/lentimpra_joint_3cell.csv.gz"
targets=HepG2_l2fc,K562_l2fc,WTC11_l2fc
start=$(date +%s)
echo "== seqqc | dgsplit on $(basename "$ex")" >&2
seqqc "$ex" --report "$out/qc.json" --rejects "$out/rejected.tsv" \
  | dgsplit --report "$out/split.json" --manifest "$out/manifest.tsv" > "$out/split.tsv"
echo "== descfeat on the split table (HepG2 motif list)" >&2
descfeat "$out/split.tsv" --cell-type HepG2 -o "$out/feats.h5" --report "$out/descfeat.json"
budget="--ensemble 1 --epochs 8"
[ "$full" = 1 ] && budget=""
echo "== fit-cre on the train rows, early stopping on val (test rows are not read)${budget:+: $budget}" >&2
rm -rf "$out/model"
# shellcheck disable=SC2086
fit-cre "$out/split.tsv" --targets "$targets" -o "$out/model" $budget ${DEMO_FIT_ARGS:-}
awk -F'\t' 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "split") c = i; print; next } $c == "test"' \
  "$out/split.tsv" > "$out/test.tsv"
echo "== predict the $(($(wc -l < "$out/test.tsv") - 1)) unseen test rows (and the k-mer ridge baseline), then evalboot" >&2
predict --model "$out/model" "$out/test.tsv" --baseline > "$out/preds.tsv"
evalboot "$out/preds.tsv" --truth "$targets" --compare base_HepG2_l2fc,base_K562_l2fc,base_WTC11_l2fc \
  --group-col group_id --plot "$out/eval.png" --output-format table | tee "$out/eval.txt"
echo "== in-silico mutagenesis of the first test sequence" >&2
head -2 "$out/test.tsv" > "$out/one.tsv"
predict --model "$out/model" "$out/one.tsv" --explain ism -e "$out/ism.h5" --plot "$out/ism.png" > "$out/one_pred.tsv"
echo "== variant effects: seven MPRA-tested GWAS variants (Gosai et al. 2024), alt minus ref per cell line" >&2
predict --model "$out/model" --variants "$here/examples/gosai_variants.tsv" > "$out/effects.tsv"
cat >&2 <<EOF
== done in $(($(date +%s) - start)) s; results in $out/:
   split.tsv      every input row with its split (rejected.tsv: rows dropped, with the reason)
   qc.json split.json descfeat.json   what each step did, counts that add up
   feats.h5       517 biophysical descriptors per sequence
   model/         the trained model (config.json, model.pt, train_log.tsv, baseline.*)
   preds.tsv      test rows with pred_<cell> (model) and base_<cell> (k-mer ridge)
   eval.txt       metrics with 95% bootstrap intervals, model against baseline, MinGap specificity
   eval.png       per cell line: observed against predicted, residuals, calibration; MinGap by quintile
   ism.png        what each base of one test sequence contributes to its prediction (ism.h5: the maps)
   effects.tsv    each variant's ref_, alt_ and delta_<cell> (alt - ref) and its MinGap change
EOF
