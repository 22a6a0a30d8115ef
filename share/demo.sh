#!/bin/sh
# The toolkit's main job on the bundled example: a real lentiMPRA table measured in
# three cell lines (Agarwal et al. 2025), quality-controlled and split without leakage.
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
echo "== outputs in $out/: split.tsv ($(($(wc -l < "$out/split.tsv") - 1)) rows), rejected.tsv, qc.json, split.json, manifest.tsv" >&2
