"""Worked examples on the bundled data, for the command reference pages (docs/commands/).

Each entry is (what it shows, the command line), run from the repository root in the order
given: later commands read what earlier ones wrote (qc.tsv, split.tsv, the model folders).
A test runs them all (``pytest -m slow tests/test_conventions.py``), so they stay true.
"""

LENTIMPRA = "share/examples/lentimpra_joint_3cell.csv.gz"
EP_PAIRS = "share/examples/ep/synthetic_ep_pairs.csv.gz"
EP_GENOME = "share/examples/ep/synthetic_ep_genome.fa.bgz"
TEST_ROWS = ("awk -F'\\t' 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == \"split\") c = i; print; next } "
             "$c == \"test\"' split.tsv > test.tsv")

WORKED = {
    "seqqc": [
        ("Quality control of the bundled lentiMPRA table (Agarwal et al. 2025, 3 cell lines): the cleaned "
         "table on standard output, every rejected row with its reason, and a JSON report.",
         f"seqqc {LENTIMPRA} --report qc.json --rejects rejected.tsv > qc.tsv"),
    ],
    "dgsplit": [
        ("Leakage-safe train/val/test split of the cleaned table (an element and its reverse orientation "
         "always in one split).",
         "dgsplit qc.tsv --report split.json > split.tsv"),
        ("Check an existing split for related rows in different splits (exit 1 if any).",
         "dgsplit --check split.tsv --report check.json"),
    ],
    "descfeat": [
        ("Every biophysical descriptor family of the split table, HepG2 motifs, into HDF5.",
         "descfeat split.tsv --cell-type HepG2 -o feats.h5"),
        ("Two families as TSV, constant and duplicate columns left out.",
         "descfeat split.tsv --families thermo,entropy --prune > feats.tsv"),
    ],
    "fit-cre": [
        ("A CRE model of the three cell lines' activities on the train rows, stopped on val (two epochs "
         "for a quick look; leave --epochs out for the preset's).",
         "fit-cre split.tsv --targets HepG2_l2fc,K562_l2fc,WTC11_l2fc -o cre --epochs 2"),
    ],
    "predict": [
        ("The test rows only, as the model never saw them.", TEST_ROWS),
        ("Predictions for every test row (the input columns kept, pred_<target> added).",
         "predict --model cre test.tsv > preds.tsv"),
        ("Saliency maps of the test rows and the motifs in them: TF-MoDISco clusters the seqlets per cell line, "
         "Tomtom names them after JASPAR 2024 (motifs.tsv, motifs.meme, a logo PNG per motif).",
         "predict --model cre test.tsv --explain saliency -e saliency.h5 --find-motifs motifs > preds_saliency.tsv"),
        ("Variant effects: seven MPRA-tested GWAS variants inside their 200-nt elements (Gosai et al. 2024), "
         "each allele predicted in one pass; ref_, alt_ and delta_ (alt - ref) per cell line, and the change "
         "in MinGap specificity.",
         "predict --model cre --variants share/examples/gosai_variants.tsv > effects.tsv"),
        ("Variants from a VCF against a genome: the bundled test records on the E. coli genome show how each "
         "is read and which are rejected, with their reason (a human model: the format, not the biology).",
         "predict --model cre --variants share/examples/ecoli/variants.vcf "
         "--genome share/examples/ecoli/NC_000913.3.fa.bgz --rejects variant_rejects.tsv > vcf_effects.tsv"),
    ],
    "evalboot": [
        ("Pearson, Spearman, R² and more per cell line with 95% intervals from resampling dgsplit groups.",
         "evalboot preds.tsv --truth HepG2_l2fc,K562_l2fc,WTC11_l2fc --group-col group_id --output-format table"),
    ],
    "fit-physinformer": [
        ("PhysInformer on the split table, its descriptors computed by the command (HepG2 motifs); one epoch "
         "for a quick look.",
         "fit-physinformer split.tsv --cell-type HepG2 -o pi --epochs 1"),
        ("Every descriptor of the test rows from their sequences alone.",
         "predict --model pi test.tsv > descriptors_pred.tsv"),
    ],
    "fit-ep": [
        ("Leave-one-cell-out on the bundled synthetic enhancer-promoter genome (a planted grammar): train on "
         "five cell lines, test on cellC's pairs, beside the distance baseline (two epochs for a quick look).",
         f"fit-ep {EP_PAIRS} --genome {EP_GENOME} --leave-one-cell-out --cells cellC --val-chroms chr2,chr3 "
         "--test-chroms chr1,chr5,chr9 --enhancer-length 320 --promoter-length 320 --epochs 2 -o loco"),
    ],
}
"""command -> list of (what it shows, command line)."""

ORDER = ("seqqc", "dgsplit", "descfeat", "fit-cre", "predict", "evalboot", "fit-physinformer", "fit-ep")
"""The order the examples run in (each reads files the earlier ones wrote)."""
