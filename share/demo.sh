#!/bin/sh
# The toolkit's main job on the bundled example: a real lentiMPRA table measured in
# three cell lines (Agarwal et al. 2025), quality-controlled, split without leakage, and
# described by the biophysical descriptor set.
# Usage: sh share/demo.sh [OUTDIR]     (commands must be installed: pip install .)
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
echo "== outputs in $out/: split.tsv ($(($(wc -l < "$out/split.tsv") - 1)) rows), rejected.tsv, qc.json, split.json, manifest.tsv, feats.h5, descfeat.json" >&2
