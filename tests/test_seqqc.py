"""seqqc on every input kind, each rule, and the report's bookkeeping."""

import gzip
import json

import numpy as np
import pandas as pd
import pytest

from conftest import DATA, EXAMPLES, read_tsv, run_cli
from toolkit.seq import reverse_complement

GENOME = EXAMPLES / "ecoli" / "NC_000913.3.fa.bgz"


def qc(tmp_path, args, input=None):
    rep, rej = tmp_path / "qc.json", tmp_path / "rejects.tsv"
    res = run_cli("seqqc", [*args, "--report", rep, "--rejects", rej], input=input)
    assert res.exit_code == 0, res.stderr
    report = json.loads(rep.read_text())
    out, rejects = read_tsv(res.stdout), read_tsv(rej)
    # nothing lost: every input row is kept, rejected or merged
    assert report["rows_in"] == report["rows_out"] + report["rows_rejected"] + report["rows_merged"]
    assert report["rows_out"] == len(out) and report["rows_rejected"] == len(rejects)
    assert sum(report["removed_by_rule"].values()) == report["rows_rejected"]
    return out, rejects, report


def test_gosai_table_s2_layout(tmp_path):
    out, rej, rep = qc(tmp_path, [DATA / "gosai_table_s2_10rows.tsv"])
    assert rep["targets"] == ["K562_log2FC", "HepG2_log2FC", "SKNSH_log2FC"]
    assert rep["se_columns"] == {"K562_log2FC": "K562_lfcSE", "HepG2_log2FC": "HepG2_lfcSE",
                                 "SKNSH_log2FC": "SKNSH_lfcSE"}
    # rule A at 0.5: the one row with HepG2_lfcSE 0.711 goes, with its reason and line
    assert rej["id"].tolist() == ["5:108823545:G:A:A:wC"]
    assert rej["qc_reason"].tolist() == ["se_filter"] and rej["qc_line"].tolist() == ["11"]
    assert out.columns[0] == "id" and out["id"].tolist() == out["IDs"].tolist()
    assert "sequence" in out.columns and len(out) == 9
    prof = rep["profile_out"]
    assert set(prof["standard_errors"]) == {"K562_lfcSE", "HepG2_lfcSE", "SKNSH_lfcSE"}
    assert prof["standard_errors"]["K562_lfcSE"]["iqr"] > 0


def test_lentimpra_layout_and_alias_columns(tmp_path):
    out, rej, rep = qc(tmp_path, [DATA / "lentimpra_HepG2_400.tsv"])
    assert rep["targets"] == ["mean_value"] and rep["se_columns"] == {}
    assert len(out) == 400 and len(rej) == 0
    assert list(out.columns) == ["id", "seq_id", "sequence", "mean_value"]
    assert rep["length_policy"]["length"] == 230
    src = read_tsv(DATA / "lentimpra_HepG2_400.tsv")
    assert out["sequence"].tolist() == src["seq"].tolist()
    assert out["mean_value"].tolist() == src["mean_value"].tolist()  # text unchanged


def test_deepstarr_and_joint_library(tmp_path):
    _, _, rep = qc(tmp_path, [DATA / "deepstarr_200.tsv"])
    assert rep["targets"] == ["Dev_log2_enrichment", "Hk_log2_enrichment"]
    assert rep["length_policy"]["length"] == 249
    out, _, rep = qc(tmp_path, [EXAMPLES / "lentimpra_joint_3cell.csv.gz"])
    assert rep["format"] == "csv" and rep["rows_in"] == 3076
    assert rep["targets"] == ["HepG2_l2fc", "K562_l2fc", "WTC11_l2fc"]
    assert set(out["target_cell"]) == {"HepG2", "WTC11"}


def test_fasta_input(tmp_path):
    src = read_tsv(DATA / "lentimpra_HepG2_400.tsv").head(30)
    fa = tmp_path / "x.fa"
    fa.write_text("".join(f">{i} some description\n{s[:100]}\n{s[100:].lower()}\n" for i, s in zip(src.seq_id, src.seq)))
    out, rej, rep = qc(tmp_path, [fa])
    assert rep["format"] == "fasta" and len(out) == 30
    assert out["id"].tolist() == src["seq_id"].tolist()
    assert out["sequence"].tolist() == src["seq"].tolist()
    assert set(out["description"]) == {"some description"}


def _genome_text():
    # BGZF is a gzip stream: read the chromosome independently of pyfaidx
    lines = gzip.decompress(GENOME.read_bytes()).decode().splitlines()
    return "".join(lines[1:]).upper()


def test_bed_windows_strand_aware_on_ecoli(tmp_path):
    genome = _genome_text()
    assert len(genome) == 4641652
    genes = pd.read_csv(EXAMPLES / "ecoli" / "ecoli_gene_info.csv", index_col=0).head(60)
    bed = tmp_path / "genes.bed"
    # gene bodies from the annotation (1-based inclusive -> BED), with a name and strand
    bed.write_text("".join(f"NC_000913.3\t{r.start - 1}\t{r.stop}\t{b}\t0\t{r.strand}\n" for b, r in genes.iterrows()))
    out, rej, rep = qc(tmp_path, [bed, "--genome", GENOME, "--length", 200])
    assert len(out) == 60 and len(rej) == 0
    for _, row in out.iterrows():
        s, e = int(row.start), int(row.end)
        c = (s + e) // 2
        ws, we = c - 100, c + 100
        assert (int(row.window_start), int(row.window_end)) == (ws, we)
        expect = genome[ws:we]
        if row.strand == "-":
            expect = reverse_complement(expect)
        assert row.sequence == expect, row.id
    assert {"+", "-"} <= set(out["strand"])


def test_bed_window_ends_rejected_or_clipped(tmp_path):
    genome = _genome_text()
    bed = tmp_path / "ends.bed"
    bed.write_text("NC_000913.3\t10\t20\tleft\t0\t+\n"
                   "NC_000913.3\t4641640\t4641650\tright\t0\t-\n"
                   "chrZ\t100\t200\tnowhere\t0\t+\n"
                   "NC_000913.3\t1000\t1100\tinside\t0\t+\n")
    out, rej, rep = qc(tmp_path, [bed, "--genome", GENOME, "--length", 50])
    assert out["id"].tolist() == ["inside"]
    assert dict(zip(rej["id"], rej["qc_reason"])) == {"left": "out_of_bounds", "right": "out_of_bounds",
                                                       "nowhere": "unknown_chrom"}
    out, rej, rep = qc(tmp_path, [bed, "--genome", GENOME, "--length", 50, "--clip"])
    seqs = dict(zip(out["id"], out["sequence"]))
    assert seqs["left"] == "N" * 10 + genome[0:40]
    right = genome[4641620:4641652] + "N" * 18
    assert seqs["right"] == reverse_complement(right)
    assert rep["removed_by_rule"]["n_fraction"] == 0  # padding Ns do not count
    assert rej["id"].tolist() == ["nowhere"]


def _planted(tmp_path):
    """Synthetic table with one row failing each rule (known answers)."""
    rng = np.random.default_rng(0)
    base = ["".join(rng.choice(list("ACGT"), 50)) for _ in range(12)]
    rows = [
        ("ok1", base[0], "0.5", "0.1", "0.2", "0.1", "K562"),
        ("ok2", "  " + base[1].lower() + " ", "1.5", "0.1", "-0.2", "0.1", "HepG2"),
        ("empty", "", "0.5", "0.1", "0.2", "0.1", "K562"),
        ("iupac", base[2][:25] + "R" + base[2][26:], "0.5", "0.1", "0.2", "0.1", "K562"),
        ("short", base[3][:40], "0.5", "0.1", "0.2", "0.1", "K562"),
        ("withN", base[4][:25] + "N" + base[4][26:], "0.5", "0.1", "0.2", "0.1", "K562"),
        ("nan_target", base[5], "NA", "0.1", "0.2", "0.1", "K562"),
        ("inf_se", base[6], "0.5", "inf", "0.2", "0.1", "K562"),
        ("zero_se", base[7], "0.5", "0.0", "0.2", "0.1", "K562"),
        ("high_se_other", base[8], "0.5", "0.1", "0.2", "0.7", "K562"),
        ("ok3", base[9], "-1.0", "0.2", "0.3", "0.2", "HepG2"),
        ("ok4", base[10], "2.0", "0.3", "0.1", "0.3", "K562"),
    ]
    df = pd.DataFrame(rows, columns=["name", "sequence", "K562_l2fc", "K562_lfcSE", "HepG2_l2fc", "HepG2_lfcSE",
                                     "target_cell"])
    path = tmp_path / "planted.tsv"
    df.to_csv(path, sep="\t", index=False)
    return path


def test_each_rule_in_order(tmp_path):
    out, rej, rep = qc(tmp_path, [_planted(tmp_path), "--length-policy", "drop"])
    reasons = dict(zip(rej["id"], rej["qc_reason"]))
    assert reasons == {"empty": "empty_sequence", "iupac": "alphabet", "short": "length", "withN": "n_fraction",
                       "nan_target": "nonfinite_target", "inf_se": "nonfinite_se", "zero_se": "se_out_of_bounds",
                       "high_se_other": "se_filter"}
    assert out["id"].tolist() == ["ok1", "ok2", "ok3", "ok4"]
    assert out["sequence"][1] == out["sequence"][1].strip().upper()
    assert rep["sequences_case_or_space_changed"] == 1
    assert rep["length_policy"]["length"] == 50
    # auto: one off-length row in 11 is too many to drop silently, so it is padded and flagged
    out, rej, rep = qc(tmp_path, [_planted(tmp_path)])
    assert rep["length_policy"]["applied"] == "trim-pad"
    assert out.set_index("id").loc["short", "qc_flag"] == "padded_from_40"


def test_rule_b_uses_only_the_target_cells_se(tmp_path):
    out, rej, rep = qc(tmp_path, [_planted(tmp_path), "--se-rule", "B", "--length-policy", "drop"])
    # high_se_other is a K562 row whose HepG2 SE is high: rule B keeps it
    assert "high_se_other" in out["id"].tolist()
    assert rep["removed_by_rule"]["se_filter"] == 0
    _, _, rep = qc(tmp_path, [_planted(tmp_path), "--se-rule", "B", "--max-se", "0.25", "--length-policy", "drop"])
    assert rep["removed_by_rule"]["se_filter"] == 1  # ok4: K562 row with K562 SE 0.3


def test_rule_a_advice_when_over_30_percent(tmp_path):
    out, rej, rep = qc(tmp_path, [_planted(tmp_path), "--max-se", "0.15", "--length-policy", "drop"])
    assert rep["se_filter_removed_fraction"] > 0.3
    assert "0.6" in rep["advice"] and "rule B" in rep["advice"]
    res = run_cli("seqqc", [_planted(tmp_path), "--max-se", "0.15"])
    assert "Warning: Rule A removed" in res.stderr


def test_length_policy_trim_and_pad(tmp_path):
    src = read_tsv(DATA / "lentimpra_HepG2_400.tsv").head(10)
    seqs = src["seq"].tolist()
    seqs[0] = "AAAA" + seqs[0] + "CCCC"      # 238 -> centre-trimmed
    seqs[1] = seqs[1][3:]                     # 227 -> padded 1 left, 2 right
    src["seq"] = seqs
    path = tmp_path / "len.tsv"
    src.to_csv(path, sep="\t", index=False)
    out, rej, rep = qc(tmp_path, [path, "--length", 230, "--length-policy", "trim-pad"])
    assert len(out) == 10 and rep["removed_by_rule"]["n_fraction"] == 0
    assert out["sequence"][0] == seqs[0][4:-4] and out["qc_flag"][0] == "trimmed_from_238"
    assert out["sequence"][1] == "N" + seqs[1] + "NN" and out["qc_flag"][1] == "padded_from_227"
    out, rej, rep = qc(tmp_path, [path, "--length", 230, "--length-policy", "drop"])
    assert len(out) == 8 and set(rej["qc_reason"]) == {"length"}
    out, rej, rep = qc(tmp_path, [path, "--length", 230])  # auto: 20% off-length is too many to drop
    assert rep["length_policy"]["applied"] == "trim-pad"


def test_winsorize(tmp_path):
    src = read_tsv(DATA / "lentimpra_HepG2_400.tsv")
    out, rej, rep = qc(tmp_path, [DATA / "lentimpra_HepG2_400.tsv", "--winsorize", "5,95"])
    y = src["mean_value"].astype(float).to_numpy()
    lo, hi = np.percentile(y, [5, 95])
    got = out["mean_value"].astype(float).to_numpy()
    assert np.allclose(got, np.clip(y, lo, hi), atol=1e-9)
    assert rep["winsorized"]["mean_value"]["values_clipped"] == int(((y < lo) | (y > hi)).sum())


def test_merge_duplicates_median_and_ivw(tmp_path):
    seq = "ACGT" * 25
    other = "TTGCA" * 20
    df = pd.DataFrame({"id": ["a", "b", "c", "d"], "sequence": [seq, seq, seq.lower(), other],
                       "K562_l2fc": ["1.0", "2.0", "4.0", "0.5"], "K562_lfcSE": ["0.1", "0.2", "0.4", "0.1"]})
    path = tmp_path / "dup.tsv"
    df.to_csv(path, sep="\t", index=False)
    out, rej, rep = qc(tmp_path, [path, "--merge-duplicates", "median"])
    assert rep["rows_merged"] == 2 and len(out) == 2
    assert float(out["K562_l2fc"][0]) == 2.0 and out["n_merged"][0] == "3" and out["merged_ids"][0] == "a;b;c"
    out, rej, rep = qc(tmp_path, [path, "--merge-duplicates", "ivw"])
    w = 1 / np.array([0.1, 0.2, 0.4]) ** 2
    y = np.array([1.0, 2.0, 4.0])
    assert float(out["K562_l2fc"][0]) == pytest.approx((w * y).sum() / w.sum(), rel=1e-9)
    assert float(out["K562_lfcSE"][0]) == pytest.approx(np.sqrt(1 / w.sum()), rel=1e-9)
    assert out["K562_l2fc"][1] == "0.5"  # singletons untouched
    assert rep["profile_in"]["duplication_rate"] == pytest.approx(0.5)


def test_report_profile_contents(tmp_path):
    out, rej, rep = qc(tmp_path, [EXAMPLES / "lentimpra_joint_3cell.csv.gz"])
    prof = rep["profile_out"]
    assert prof["length"]["most_common"] == {"230": 3076}
    seqs = out["sequence"]
    gc = seqs.map(lambda s: (s.count("G") + s.count("C")) / len(s))
    assert prof["gc"]["mean"] == pytest.approx(gc.mean(), rel=1e-9)
    assert prof["gc"]["sd"] == pytest.approx(gc.std(), rel=1e-9)
    y = out["HepG2_l2fc"].astype(float)
    t = prof["targets"]["HepG2_l2fc"]
    assert t["mean"] == pytest.approx(y.mean()) and t["p50"] == pytest.approx(y.median())
    assert t["p99"] == pytest.approx(np.percentile(y, 99))


def test_real_pipe_seqqc_to_dgsplit(tmp_path):
    import subprocess
    import sys

    from conftest import REPO

    cmd = (f"'{sys.executable}' '{REPO}/bin/seqqc' '{DATA}/gosai_table_s2_10rows.tsv' -q "
           f"| '{sys.executable}' '{REPO}/bin/dgsplit' -q --holdout-chrom --allow-empty")  # no val chromosome
    res = subprocess.run(["bash", "-c", "set -o pipefail; " + cmd], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    out = read_tsv(res.stdout)
    assert len(out) == 9 and out.columns[-2:].tolist() == ["split", "group_id"]
    assert out.loc[out["chr"] == "7", "split"].tolist() == ["test"]


def test_streaming_chunks_give_the_same_result(tmp_path):
    """seqqc reads in blocks: small blocks give the same rows, rejects, ids and line numbers."""
    from toolkit.io.tables import iter_table, read_table
    from toolkit.qc.rules import QCConfig, QCRun, run_qc

    src = read_tsv(DATA / "lentimpra_HepG2_400.tsv").drop(columns=["seq_id"]).head(50)
    seqs = src["seq"].tolist()
    seqs[3] = seqs[3][:100] + "R" + seqs[3][101:]   # alphabet
    seqs[17] = seqs[17][:100] + "N" + seqs[17][101:]  # N fraction
    src["seq"] = seqs
    src.loc[30, "mean_value"] = "NA"                 # non-finite target
    path = tmp_path / "t.tsv"
    text = src.to_csv(sep="\t", index=False)
    lines = text.splitlines(keepends=True)
    path.write_text("".join(lines[:10]) + "\n" + "".join(lines[10:]))  # a blank line inside
    whole = run_qc(read_table(path), QCConfig(length_policy="drop"))
    run = QCRun(QCConfig(length_policy="drop"))
    parts = [run.process(chunk) for chunk in iter_table(path, chunk_rows=7)]
    final, report = run.finish()
    assert final is None
    kept = pd.concat([k for k, _ in parts], ignore_index=True)
    rejects = pd.concat([r for _, r in parts], ignore_index=True)
    pd.testing.assert_frame_equal(kept, whole.kept, check_dtype=False)
    pd.testing.assert_frame_equal(rejects, whole.rejects, check_dtype=False)
    assert rejects["id"].tolist() == ["row4", "row18", "row31"]          # ids continue across blocks
    assert rejects["qc_line"].tolist() == [5, 20, 33]                     # the blank line counted
    assert report["removed_by_rule"] == whole.report["removed_by_rule"]
    assert report["profile_out"] == whole.report["profile_out"]


# --- genome tiling (--tile W --step S) -----------------------------------------------------------

CHR_A = "ACGTTGCAAGGCCTTAAGCTAGC"   # 23 bases
CHR_B = "TTTTGGGGCCCCAAAA"          # 16 bases


def _small_genome(tmp_path, bgzf=False):
    """A hand-made two-chromosome FASTA (lines of 10), plain or BGZF (indexed by pyfaidx itself)."""
    text = "".join(f">{name} test chromosome\n" + "\n".join(s[i:i + 10] for i in range(0, len(s), 10)) + "\n"
                   for name, s in (("chrA", CHR_A.lower()[:5] + CHR_A[5:]), ("chrB", CHR_B)))
    if bgzf:
        from Bio import bgzf as bg

        path = tmp_path / "small.fa.bgz"
        with bg.BgzfWriter(str(path), "wb") as fh:
            fh.write(text.encode())
    else:
        path = tmp_path / "small.fa"
        path.write_text(text)
    return path


def _windows(out):
    return list(zip(out["id"], out["sequence"]))


def test_tile_whole_chromosomes_exact_windows(tmp_path):
    fa = _small_genome(tmp_path)
    out, rej, rep = qc(tmp_path, ["--genome", fa, "--tile", 5])
    assert _windows(out) == [("chrA:0-5(+)", "ACGTT"), ("chrA:5-10(+)", "GCAAG"), ("chrA:10-15(+)", "GCCTT"),
                             ("chrA:15-20(+)", "AAGCT"), ("chrB:0-5(+)", "TTTTG"), ("chrB:5-10(+)", "GGGCC"),
                             ("chrB:10-15(+)", "CCAAA")]
    assert list(out.columns) == ["id", "chrom", "start", "end", "strand", "window_start", "window_end", "sequence"]
    assert out["end"].tolist() == ["23"] * 4 + ["16"] * 3 and set(out["start"]) == {"0"}  # the region: the chromosome
    assert out["window_start"].tolist() == ["0", "5", "10", "15", "0", "5", "10"]
    # the last, shorter window of each chromosome is rejected with its bases and reason, not lost
    assert _windows(rej) == [("chrA:20-23(+)", "AGC"), ("chrB:15-16(+)", "A")]
    assert set(rej["qc_reason"]) == {"partial_window"} and rej["qc_detail"][0].startswith("3 of 5 bases")
    t = rep["tiling"]
    assert (t["width"], t["step"], t["regions"], t["rows"]) == (5, 5, 2, 9)
    assert (t["full_windows"], t["partial_windows"], t["partial_rejected"], t["partial_padded"]) == (7, 2, 2, 0)
    assert rep["rows_in"] == t["rows"] == 9 and rep["removed_by_rule"]["partial_window"] == 2
    assert rep["format"] == "genome" and rep["length_policy"]["length"] == 5


def test_tile_overlapping_steps_strands_and_chroms(tmp_path):
    from toolkit.seq import reverse_complement as rc

    fa = _small_genome(tmp_path)
    out, rej, rep = qc(tmp_path, ["--genome", fa, "--tile", 6, "--step", 4, "--chroms", "chrA"])
    starts = [0, 4, 8, 12, 16]  # 16 + 6 = 22 <= 23; the base 22 is left: one partial window [20, 23)
    assert _windows(out) == [(f"chrA:{s}-{s + 6}(+)", CHR_A[s:s + 6]) for s in starts]
    assert all(a[4:] == b[:2] for a, b in zip(out["sequence"], out["sequence"][1:]))  # overlaps of W - S
    assert _windows(rej) == [("chrA:20-23(+)", CHR_A[20:])]
    # both strands: each window on + then -, the minus one reverse-complemented, same coordinates
    out, rej, rep = qc(tmp_path, ["--genome", fa, "--tile", 8, "--strand", "both", "--chroms", "chrB,chrA"])
    assert out["id"].tolist() == ["chrB:0-8(+)", "chrB:0-8(-)", "chrB:8-16(+)", "chrB:8-16(-)",
                                  "chrA:0-8(+)", "chrA:0-8(-)", "chrA:8-16(+)", "chrA:8-16(-)"]
    assert out["sequence"].tolist()[:4] == ["TTTTGGGG", "CCCCAAAA", "CCCCAAAA", "TTTTGGGG"]
    assert out["sequence"][5] == rc(CHR_A[0:8]) and out["strand"].tolist() == ["+", "-"] * 4
    assert rej["id"].tolist() == ["chrA:16-23(+)", "chrA:16-23(-)"] and rej["sequence"][1] == rc(CHR_A[16:])
    assert rep["tiling"]["partial_windows"] == 2 and rep["tiling"]["source"] == "chromosomes"
    # step > width samples windows; a tail inside a skipped gap is skipped too, a tail past it is partial
    out, rej, rep = qc(tmp_path, ["--genome", fa, "--tile", 5, "--step", 8, "--chroms", "chrA"])
    assert out["id"].tolist() == ["chrA:0-5(+)", "chrA:8-13(+)", "chrA:16-21(+)"] and len(rej) == 0
    out, rej, rep = qc(tmp_path, ["--genome", fa, "--tile", 5, "--step", 7, "--chroms", "chrA"])
    assert out["id"].tolist() == ["chrA:0-5(+)", "chrA:7-12(+)", "chrA:14-19(+)"]
    assert _windows(rej) == [("chrA:21-23(+)", CHR_A[21:])]
    out, _, _ = qc(tmp_path, ["--genome", fa, "--tile", 8, "--strand", "-", "--chroms", "chrB"])
    assert _windows(out) == [("chrB:0-8(-)", "CCCCAAAA"), ("chrB:8-16(-)", "TTTTGGGG")]


def test_tile_partial_window_padded_with_clip(tmp_path):
    from toolkit.seq import reverse_complement as rc

    fa = _small_genome(tmp_path)
    out, rej, rep = qc(tmp_path, ["--genome", fa, "--tile", 10, "--strand", "both", "--chroms", "chrA", "--clip"])
    assert len(rej) == 0
    # the id names the bases the window holds; the sequence is padded to W at the region's end
    assert _windows(out)[-2:] == [("chrA:20-23(+)", "AGC" + "N" * 7), ("chrA:20-23(-)", "N" * 7 + "GCT")]
    assert out["sequence"][-2:].tolist()[1] == rc(out["sequence"].tolist()[-2])
    assert rep["removed_by_rule"]["n_fraction"] == 0            # padding is not an N of the genome
    assert rep["tiling"]["partial_padded"] == 2 and rep["tiling"]["partial_rejected"] == 0
    assert {len(s) for s in out["sequence"]} == {10}


def test_tile_bed_regions_strand_aware(tmp_path):
    from toolkit.seq import reverse_complement as rc

    fa = _small_genome(tmp_path)
    bed = tmp_path / "regions.bed"
    bed.write_text("track name=test\n"
                   "chrA\t2\t15\tfwd\t7\t+\n"
                   "chrA\t2\t15\trev\t8\t-\n"
                   "chrB\t3\t9\tnone\t9\t.\n"
                   "chrZ\t0\t10\tlost\t0\t+\n"
                   "chrB\t4\t4\tempty\t0\t-\n"
                   "chrA\t18\t23\tshort\t0\t-\n")
    out, rej, rep = qc(tmp_path, [bed, "--genome", fa, "--tile", 5, "--step", 4])
    # plus: laid out from the region's start; minus: from its end, reverse-complemented; '.' forward
    assert _windows(out) == [("chrA:2-7(+)", CHR_A[2:7]), ("chrA:6-11(+)", CHR_A[6:11]),
                             ("chrA:10-15(+)", CHR_A[10:15]), ("chrA:10-15(-)", rc(CHR_A[10:15])), ("chrA:6-11(-)", rc(CHR_A[6:11])),
                             ("chrA:2-7(-)", rc(CHR_A[2:7])), ("chrB:3-8(.)", CHR_B[3:8]),
                             ("chrA:18-23(-)", rc(CHR_A[18:23]))]
    # the region's own columns pass through; the window's coordinates are added
    assert out["name"].tolist() == ["fwd"] * 3 + ["rev"] * 3 + ["none", "short"]
    assert out["score"].tolist()[:4] == ["7", "7", "7", "8"] and out["start"].tolist()[0] == "2"
    assert list(out.columns) == ["id", "chrom", "start", "end", "name", "score", "strand", "window_start",
                                 "window_end", "sequence"]
    # region chrB:3-9 has one base left after [3, 8) -> partial; the 13-base regions are covered exactly
    assert dict(zip(rej["id"], rej["qc_reason"])) == {"chrB:7-9(.)": "partial_window", "chrZ:0-10(+)": "unknown_chrom",
                                                       "chrB:4-4(-)": "empty_region"}
    assert dict(zip(rej["id"], rej["qc_line"])) == {"chrB:7-9(.)": "4", "chrZ:0-10(+)": "5", "chrB:4-4(-)": "6"}
    t = rep["tiling"]
    assert t["regions"] == 6 and t["rows"] == rep["rows_in"] == 11
    assert t["full_windows"] + t["partial_windows"] + t["out_of_bounds"] + t["unknown_chrom"] + t["empty_region"] \
        == t["rows"]
    # a minus-strand partial window is padded on the side where the region ends (its low end)
    bed.write_text("chrA\t2\t15\trev\t0\t-\n")
    out, rej, rep = qc(tmp_path, [bed, "--genome", fa, "--tile", 5, "--clip"])
    assert _windows(out) == [("chrA:10-15(-)", rc(CHR_A[10:15])), ("chrA:5-10(-)", rc(CHR_A[5:10])),
                             ("chrA:2-5(-)", rc(CHR_A[2:5]) + "NN")]
    # --strand + reads the minus region's windows on the plus strand, still laid out from its end
    out, rej, rep = qc(tmp_path, [bed, "--genome", fa, "--tile", 5, "--strand", "+"])
    assert _windows(out) == [("chrA:10-15(+)", CHR_A[10:15]), ("chrA:5-10(+)", CHR_A[5:10])]
    # a region past the chromosome end: those windows are out_of_bounds, or with --clip cut there
    bed.write_text("chrB\t5\t30\tlong\t0\t+\n")
    out, rej, rep = qc(tmp_path, [bed, "--genome", fa, "--tile", 5])
    assert out["id"].tolist() == ["chrB:5-10(+)", "chrB:10-15(+)"]
    assert rej["id"].tolist() == ["chrB:15-20(+)", "chrB:20-25(+)", "chrB:25-30(+)"]
    assert set(rej["qc_reason"]) == {"out_of_bounds"} and rep["tiling"]["out_of_bounds"] == 3
    out, rej, rep = qc(tmp_path, [bed, "--genome", fa, "--tile", 5, "--clip"])
    assert _windows(out) == [("chrB:5-10(+)", CHR_B[5:10]), ("chrB:10-15(+)", CHR_B[10:15]),
                             ("chrB:15-16(+)", "ANNNN")] and len(rej) == 0


def test_tile_bgzf_equals_plain_and_bed_from_stdin(tmp_path):
    plain = _small_genome(tmp_path)
    bgz = _small_genome(tmp_path, bgzf=True)
    args = ["--tile", 7, "--step", 3, "--strand", "both", "--clip"]
    a = run_cli("seqqc", ["--genome", plain, *args, "-q"])
    b = run_cli("seqqc", ["--genome", bgz, *args, "-q"])
    assert a.exit_code == 0 and b.exit_code == 0, b.stderr
    assert a.stdout == b.stdout and len(read_tsv(a.stdout)) > 10
    bed = "chrA\t0\t23\tall\t0\t-\n"
    c = run_cli("seqqc", ["-", "--genome", bgz, "--tile", 7, "-q"], input=bed)
    assert c.exit_code == 0, c.stderr
    assert read_tsv(c.stdout)["id"].tolist() == ["chrA:16-23(-)", "chrA:9-16(-)", "chrA:2-9(-)"]


def test_tile_streams_in_bounded_chunks(tmp_path):
    """Windows are made chunk by chunk: no chunk exceeds chunk_rows, and the chunks add up to the
    same table as one big chunk."""
    from toolkit.io.genome import chromosome_regions, open_genome, tile_regions

    fa = open_genome(_small_genome(tmp_path))
    regions = chromosome_regions(fa)
    whole = list(tile_regions(regions, fa, 3, 1, strand="both", fmt="genome"))
    stats = {}
    parts = list(tile_regions(regions, fa, 3, 1, strand="both", chunk_rows=4, fmt="genome", stats=stats))
    assert len(whole) == 1 and len(parts) > 10 and max(len(p) for p in parts) <= 5
    joined = pd.concat([p.df for p in parts], ignore_index=True)
    pd.testing.assert_frame_equal(joined, whole[0].df)
    assert stats["rows"] == len(joined) == 2 * ((23 - 3 + 1) + (16 - 3 + 1))
    assert [p.row_offset for p in parts] == list(np.cumsum([0] + [len(p) for p in parts[:-1]]))


def test_tile_bundled_ecoli_bgzf_against_pyfaidx(tmp_path):
    import pyfaidx

    out, rej, rep = qc(tmp_path, ["--genome", GENOME, "--tile", 1000, "--step", 700, "--strand", "both"])
    size = 4641652
    n_full = (size - 1000) // 700 + 1
    assert len(out) == 2 * n_full and rej["id"].tolist() == [f"NC_000913.3:{n_full * 700}-{size}({s})" for s in "+-"]
    fa = pyfaidx.Fasta(str(GENOME), as_raw=True, sequence_always_upper=True)["NC_000913.3"]
    genome = _genome_text()
    for i in (0, 1, 2, 2 * 3315 + 1, len(out) - 2, len(out) - 1):
        row = out.iloc[i]
        s, e = int(row.window_start), int(row.window_end)
        assert row.id == f"NC_000913.3:{s}-{e}({row.strand})" and e - s == 1000
        expect = fa[s:e] if row.strand == "+" else reverse_complement(fa[s:e])
        assert row.sequence == expect == (genome[s:e] if row.strand == "+" else reverse_complement(genome[s:e]))


def test_tile_usage_errors(tmp_path):
    fa = _small_genome(tmp_path)
    for args in (["--genome", fa, "--step", 5], ["--tile", 5], ["--genome", fa, "--tile", 5, "--length", 6],
                 [tmp_path / "x.bed", "--genome", fa, "--tile", 5, "--chroms", "chrA"],
                 ["--genome", fa, "--strand", "-"]):
        res = run_cli("seqqc", args)
        assert res.exit_code == 2, (args, res.stderr)
    res = run_cli("seqqc", ["--genome", fa, "--tile", 5, "--chroms", "chrA,chrQ"])
    assert res.exit_code == 1 and "chrQ" in res.stderr and "chrA, chrB" in res.stderr
    res = run_cli("seqqc", [DATA / "lentimpra_HepG2_400.tsv", "--genome", fa, "--tile", 5])
    assert res.exit_code == 1 and res.stderr.startswith("Error:") and "BED" in res.stderr
    res = run_cli("seqqc", ["--genome", fa, "--tile", 5, "-o", fa])
    assert res.exit_code == 1 and "over the input" in res.stderr


# --- the E. coli upstream-window example -----------------------------------------------------------

def test_ecoli_upstream_windows_example_is_reproducible(tmp_path):
    """share/examples/ecoli/make_upstream_windows.py rebuilds the shipped table byte for byte, and the
    table's windows and targets are what its docstring says."""
    import importlib.util

    script = EXAMPLES / "ecoli" / "make_upstream_windows.py"
    spec = importlib.util.spec_from_file_location("make_upstream_windows", script)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    built = tmp_path / "upstream.tsv.gz"
    mod.main(["-o", str(built), "-q"])
    shipped = EXAMPLES / "ecoli" / "upstream_windows.tsv.gz"
    assert built.read_bytes() == shipped.read_bytes()

    df = read_tsv(gzip.decompress(shipped.read_bytes()))
    genes = pd.read_csv(EXAMPLES / "ecoli" / "ecoli_gene_info.csv", index_col=0)
    assert len(df) == len(genes) and set(df["gene"]) == set(genes.index) and df["id"].is_unique
    genome = _genome_text()
    seqs = df["sequence"]
    assert seqs.str.len().eq(200).all()
    assert seqs.str[150:153].isin(["ATG", "GTG", "TTG"]).mean() > 0.95   # the start codon at offset 150
    for _, r in df.sample(40, random_state=1).iterrows():
        s, e = int(r.start), int(r.end)
        assert r.sequence == (genome[s:e] if r.strand == "+" else reverse_complement(genome[s:e]))
        g = genes.loc[r.gene]
        p = g.start if g.strand == "+" else g.stop - 1
        # targets by brute force: first gene of its operon; other start codons within 5 kb (circular)
        mates = genes[genes.operon == g.operon]
        mp = np.where(mates.strand == "+", mates.start, mates.stop - 1)
        first = mp.min() if g.strand == "+" else mp.max()
        assert int(r.opens_operon) == int(p == first)
        allp = np.where(genes.strand == "+", genes.start, genes.stop - 1)
        d = np.abs(allp - p)
        n = int((np.minimum(d, len(genome) - d) <= 5000).sum()) - 1
        assert int(r.n_genes_5kb) == n and float(r.log1p_genes_5kb) == pytest.approx(np.log1p(n), abs=1e-6)
    assert df["opens_operon"].astype(int).sum() == genes["operon"].nunique()
    # block: the start codon's 100-kb block, but overlapping windows never straddle two blocks
    s = df.assign(start=df.start.astype(int), end=df.end.astype(int)).sort_values("start")
    reach = np.maximum.accumulate(s["end"].to_numpy())
    overlaps = s["start"].to_numpy()[1:] < reach[:-1]
    assert overlaps.sum() > 400
    assert (s["block"].to_numpy()[1:][overlaps] == s["block"].to_numpy()[:-1][overlaps]).all()
    own = [f"blk{int(p) // 100000:02d}" for p in s["start_codon"]]
    assert 0 < (s["block"] != own).sum() <= 5
