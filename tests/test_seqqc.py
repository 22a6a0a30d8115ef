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
           f"| '{sys.executable}' '{REPO}/bin/dgsplit' -q --holdout-chrom")
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
