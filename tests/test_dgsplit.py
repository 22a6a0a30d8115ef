"""dgsplit: grouping, allocation modes, manifest, report and the leakage guarantee."""

import hashlib
import json

import numpy as np
import pandas as pd
import pytest

from conftest import DATA, EXAMPLES, random_seqs, read_tsv, run_cli
from toolkit.seq import reverse_complement
from toolkit.split.allocate import check_no_leak, random_grouped
from toolkit.split.group import group_rows, shared_flanks


def split(tmp_path, args, input=None):
    rep, man = tmp_path / "split.json", tmp_path / "manifest.tsv"
    res = run_cli("dgsplit", [*args, "--report", rep, "--manifest", man], input=input)
    assert res.exit_code == 0, res.stderr
    out = read_tsv(res.stdout)
    report = json.loads(rep.read_text())
    # a group never crosses splits (checked here independently of dgsplit's own check);
    # excluded rows (combined hold-out) are in none
    kept = out[out["split"] != "excluded"]
    assert (kept.groupby("group_id")["split"].nunique() == 1).all()
    assert sum(s["rows"] for s in report["splits"].values()) == len(out) == report["rows"]
    return out, report, read_tsv(man)


def test_lentimpra_reverse_orientation_rows_share_a_group(tmp_path):
    out, rep, man = split(tmp_path, [DATA / "lentimpra_HepG2_400.tsv"])
    assert rep["grouping"]["flanks"] == {"left": 15, "right": 15}
    assert rep["grouping"]["groups_exact"] == 400 and rep["grouping"]["groups"] == 200
    element = out["seq_id"].str.replace("_Reversed:", "", regex=False)
    assert (out.groupby(element)["group_id"].nunique() == 1).all()
    assert (out.groupby(element)["split"].nunique() == 1).all()
    assert element.nunique() == 200


def test_full_lentimpra_table_halves_into_pairs(tmp_path):
    out, rep, _ = split(tmp_path, [EXAMPLES / "lentimpra_HepG2.tsv.gz"])
    assert rep["rows"] == 12292 and rep["grouping"]["groups"] == 6146
    fr = {k: v["fraction"] for k, v in rep["splits"].items()}
    assert fr["train"] == pytest.approx(0.8, abs=0.005) and fr["val"] == pytest.approx(0.1, abs=0.005)
    # without flank removal the reverse rows are not recognised (adapters are not reverse-complemented)
    _, rep_none, _ = split(tmp_path, [EXAMPLES / "lentimpra_HepG2.tsv.gz", "--flanks", "none"])
    assert rep_none["grouping"]["groups"] == 12292


def test_target_cell_proportions_within_two_points(tmp_path):
    out, rep, _ = split(tmp_path, [EXAMPLES / "lentimpra_joint_3cell.csv.gz"])
    assert rep["max_proportion_deviation"] <= 0.02
    overall = out["target_cell"].value_counts(normalize=True)
    for name, part in out.groupby("split"):
        props = part["target_cell"].value_counts(normalize=True)
        assert (props - overall).abs().max() <= 0.02, name
    assert rep["leakage_check"].startswith("passed")


def test_allocation_keeps_proportions_with_mixed_groups():
    rng = np.random.default_rng(1)
    n = 5000
    labels = rng.integers(0, 1500, n)
    labels = pd.factorize(labels)[0]
    strata = rng.choice(["K562", "HepG2", "SKNSH"], n, p=[0.6, 0.3, 0.1])
    s = random_grouped(labels, strata, (0.8, 0.1, 0.1), seed=3)
    assert check_no_leak(labels, s) is None
    for k, f in enumerate((0.8, 0.1, 0.1)):
        assert (s == k).mean() == pytest.approx(f, abs=0.02)
        for c in ("K562", "HepG2", "SKNSH"):
            assert (strata[s == k] == c).mean() == pytest.approx((strata == c).mean(), abs=0.02)


def test_holdout_chromosomes_accept_both_spellings(tmp_path):
    # no row of the 10 is on a validation chromosome (chr19, chr21, chrX): val is empty, as allowed
    out, rep, _ = split(tmp_path, [DATA / "gosai_table_s2_10rows.tsv", "--holdout-chrom", "--allow-empty"])
    assert out.loc[out["chr"] == "7", "split"].tolist() == ["test"]
    assert (out.loc[out["chr"] != "7", "split"] == "train").all()
    out2, _, _ = split(tmp_path, [DATA / "gosai_table_s2_10rows.tsv", "--holdout-chrom",
                                  "--test-chroms", "7,13", "--val-chroms", "chr1"])
    assert out2["split"].tolist() == out["split"].where(out["chr"] != "1", "val").tolist()


def test_holdout_chromosome_group_goes_to_strictest_split(tmp_path):
    src = read_tsv(DATA / "gosai_table_s2_10rows.tsv")
    src.loc[1, "sequence"] = reverse_complement(src.loc[0, "sequence"])  # same element on chr1 and chr7
    path = tmp_path / "t.tsv"
    src.to_csv(path, sep="\t", index=False)
    out, rep, _ = split(tmp_path, [path, "--holdout-chrom", "--allow-empty"])   # no val chromosome here
    assert out["split"][0] == out["split"][1] == "test"
    assert rep["groups_moved_to_stricter_split"] == 1


def test_holdout_column_value(tmp_path):
    out, rep, _ = split(tmp_path, [EXAMPLES / "lentimpra_joint_3cell.csv.gz", "--holdout", "target_cell=WTC11"])
    assert (out.loc[out["target_cell"] == "WTC11", "split"] == "test").all()
    assert set(out.loc[out["target_cell"] == "HepG2", "split"]) == {"train", "val"}
    hep = out[out["target_cell"] == "HepG2"]
    assert (hep["split"] == "val").mean() == pytest.approx(1 / 9, abs=0.01)
    res = run_cli("dgsplit", [EXAMPLES / "lentimpra_joint_3cell.csv.gz", "--holdout", "target_cell=K562"])
    assert res.exit_code == 1 and "not found" in res.stderr


def _mutate(seq, positions, rng):
    s = list(seq)
    for p in positions:
        s[p] = rng.choice([b for b in "ACGT" if b != s[p]])
    return "".join(s)


def test_near_duplicates_hamming_and_kmer():
    """Synthetic known answers: planted copies with 2 mismatches, reverse complements and shifts."""
    rng = np.random.default_rng(5)
    base = ["".join(rng.choice(list("ACGT"), 200)) for _ in range(50)]
    seqs = list(base)
    seqs.append(_mutate(base[0], [10, 150], rng))                        # 50: 2 mismatches of 0
    seqs.append(reverse_complement(_mutate(base[1], [3, 99], rng)))      # 51: RC + 2 mismatches of 1
    seqs.append(_mutate(base[2], [10, 80, 150], rng))                    # 52: 3 mismatches of 2
    seqs.append(base[3][7:] + "".join(rng.choice(list("ACGT"), 7)))      # 53: shifted copy of 3
    lab, info = group_rows(seqs, near="hamming")
    assert lab[50] == lab[0] and lab[51] == lab[1]
    assert lab[52] != lab[2] and lab[53] != lab[3]
    assert info["groups"] == 52
    lab, _ = group_rows(seqs, near="hamming", max_mismatch=3)
    assert lab[52] == lab[2]
    lab, info = group_rows(seqs, near="kmer")
    assert lab[53] == lab[3] and lab[50] == lab[0] and lab[51] == lab[1]
    assert len(set(lab[:50])) == 50  # unrelated random sequences stay apart


def test_shared_flanks_need_eight_bases():
    rng = np.random.default_rng(0)
    cores = ["".join(rng.choice(list("ACGT"), 60)) for _ in range(30)]
    assert shared_flanks(["AGGACCGGATCAACT" + c + "CATTGCGTGAACCGA" for c in cores]) == (15, 15)
    assert shared_flanks(["ACG" + c for c in cores]) == (0, 0)


def test_manifest_and_seed(tmp_path):
    out, rep, man = split(tmp_path, [DATA / "lentimpra_HepG2_400.tsv"])
    assert man.columns.tolist() == ["id", "sha1", "group_id", "split"]
    assert man["sha1"].tolist() == [hashlib.sha1(s.encode()).hexdigest() for s in out["sequence"]]
    assert man["split"].tolist() == out["split"].tolist()
    other, _, _ = split(tmp_path, [DATA / "lentimpra_HepG2_400.tsv", "--seed", "1"])
    assert other["split"].tolist() != out["split"].tolist()
    assert other["group_id"].tolist() == out["group_id"].tolist()


def test_report_distributions_per_split(tmp_path):
    out, rep, _ = split(tmp_path, [EXAMPLES / "lentimpra_joint_3cell.csv.gz"])
    for name, entry in rep["splits"].items():
        part = out[out["split"] == name]
        assert entry["groups"] == part["group_id"].nunique()
        d = entry["distributions"]["K562_l2fc"]
        assert d["n"] == len(part) and d["mean"] == pytest.approx(part["K562_l2fc"].astype(float).mean())


def test_leak_check_catches_planted_leaks():
    """The check dgsplit runs before writing: a group or a core sequence in two splits is reported."""
    labels = np.array([0, 0, 1, 2])
    assert check_no_leak(labels, np.array([0, 0, 1, 2])) is None
    assert "crosses splits" in check_no_leak(labels, np.array([0, 1, 1, 2]))
    keys = np.array([10, 10, 20, 20])  # rows 2 and 3 share a core but sit in different groups
    assert "more than one split" in check_no_leak(labels, np.array([0, 0, 1, 2]), keys=keys)
    assert check_no_leak(labels, np.array([0, 0, 2, 2]), keys=keys) is None


# ----------------------------------------------------------------------------- coordinate tables and
# the combined hold-out (an unseen cell line on unseen chromosomes, for enhancer-promoter pairs)

PAIR_HEADER = ("name", "cell", "enhancer_chrom", "enhancer_start", "enhancer_end",
               "promoter_chrom", "promoter_start", "promoter_end", "label")
# hold out cell B; chr1 train, chr7 val, chr8 test. Expected split of each row, and why.
PAIRS = [
    ("r1", "A", "chr1", 100, 200, "chr1", 5000, 7000, 1, "train"),
    ("r2", "B", "chr1", 300, 400, "chr1", 8000, 9000, 0, "excluded"),    # held out, off the test chromosomes
    ("r3", "A", "chr8", 100, 200, "chr8", 5000, 7000, 0, "excluded"),    # another cell on a test chromosome
    ("r4", "B", "8", 300, 400, "8", 8000, 9000, 1, "test"),              # '8' is chr8
    ("r5", "C", "chr7", 100, 200, "chr7", 5000, 7000, 0, "val"),
    ("r6", "B", "chr7", 300, 400, "chr7", 8000, 9000, 0, "excluded"),
    ("r7", "C", "chr1", 900, 950, "chr8", 9000, 9900, 0, "excluded"),    # trans pair: strictest chromosome (test)
    ("r8", "B", "chr8", 900, 950, "chr1", 20000, 21000, 1, "test"),      # trans pair, held out
    ("r9", "A", "chr1", 600, 700, "chr1", 20000, 21000, 0, "excluded"),  # shares r8's promoter: r8's group
    ("r10", "C", "chr1", 100, 200, "chr1", 30000, 31000, 0, "train"),    # shares r1's enhancer
    ("r11", "B", "chr1", 100, 200, "chr1", 40000, 41000, 1, "excluded"),  # shares r1's enhancer, held out
]


def _pairs_file(tmp_path, rows=PAIRS, sep="\t"):
    path = tmp_path / ("pairs.tsv" if sep == "\t" else "pairs.csv")
    lines = [sep.join(PAIR_HEADER)] + [sep.join(map(str, r[:len(PAIR_HEADER)])) for r in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_coordinate_table_is_grouped_by_shared_elements(tmp_path):
    """No sequence column: rows sharing an element's exact coordinates share a group."""
    out, rep, man = split(tmp_path, [_pairs_file(tmp_path)])
    assert "sequence" not in out.columns and list(out.columns[:3]) == ["id", "name", "cell"]
    assert out["id"].tolist() == [r[0] for r in PAIRS]
    g = dict(zip(out["id"], out["group_id"]))
    assert g["r1"] == g["r10"] == g["r11"] and g["r8"] == g["r9"]
    assert len({g["r1"], g["r2"], g["r3"], g["r4"], g["r8"]}) == 5   # same numbers on other chromosomes differ
    assert rep["grouping"]["grouped_by"] == "element coordinates" and rep["grouping"]["groups"] == 8
    assert man.columns.tolist() == ["id", "elements", "group_id", "split"]
    assert man["elements"][0] == "1:100-200;1:5000-7000"
    assert "element" in rep["leakage_check"]


def test_combined_holdout_on_a_small_pair_table(tmp_path):
    """--holdout cell=B --holdout-chrom: every row accounted for, each where the table says."""
    args = [_pairs_file(tmp_path), "--holdout", "cell=B", "--holdout-chrom", "--test-chroms", "chr8",
            "--val-chroms", "7", "--chrom-col", "enhancer_chrom"]
    out, rep, man = split(tmp_path, args)
    assert out["id"].tolist() == [r[0] for r in PAIRS]
    assert dict(zip(out["id"], out["split"])) == {r[0]: r[-1] for r in PAIRS}
    assert man["split"].tolist() == out["split"].tolist()
    # no held-out row in train or val; no test-chromosome row (either element) in train or val
    assert not ((out["cell"] == "B") & out["split"].isin(["train", "val"])).any()
    on_test = out["enhancer_chrom"].isin(["chr8", "8"]) | out["promoter_chrom"].isin(["chr8", "8"])
    assert not (on_test & out["split"].isin(["train", "val"])).any()
    assert (out.loc[out["split"] == "test", "cell"] == "B").all()
    assert rep["excluded"]["rows"] == 6 == (out["split"] == "excluded").sum()
    assert rep["excluded"]["held_out_off_test_chromosomes"] == 3
    assert rep["excluded"]["others_on_test_chromosomes"] == 3
    assert {k: v["rows"] for k, v in rep["splits"].items()} == {"train": 2, "val": 1, "test": 2, "excluded": 6}
    assert rep["groups_moved_to_stricter_split"] == 1                  # r8 + r9: chr8 and chr1
    # the same without --chrom-col: every element's chromosome counts anyway
    out2, _, _ = split(tmp_path, args[:-2])
    assert out2["split"].tolist() == out["split"].tolist()


def test_combined_holdout_on_a_sequence_table(tmp_path):
    """The combination works on sequence groups too: an element on chr1 and chr7 (its
    reverse complement) is one group; its held-out row is tested, its other row excluded."""
    src = read_tsv(DATA / "gosai_table_s2_10rows.tsv")
    src["cell"] = ["K562", "HepG2"] * 5
    src.loc[1, "sequence"] = reverse_complement(src.loc[0, "sequence"])  # row 0 on chr7, row 1 on chr1
    path = tmp_path / "t.tsv"
    src.to_csv(path, sep="\t", index=False)
    out, rep, _ = split(tmp_path, [path, "--holdout", "cell=K562", "--holdout-chrom", "--allow-empty"])
    assert out["split"][0] == "test" and out["split"][1] == "excluded"
    on_test = src["chr"].isin(["7", "13"])
    expect = [("test" if t else "excluded") if c == "K562" else ("excluded" if t else "train")
              for c, t in zip(src["cell"], on_test)]
    expect[1] = "excluded"
    assert out["split"].tolist() == expect
    assert rep["excluded"]["rows"] == expect.count("excluded")


def test_coordinate_table_errors(tmp_path):
    path = _pairs_file(tmp_path)
    res = run_cli("dgsplit", [path, "--near", "hamming"])
    assert res.exit_code == 1 and "needs sequences" in res.stderr
    res = run_cli("dgsplit", [path, "--holdout-chrom", "--chrom-col", "enh_chrom"])
    assert res.exit_code == 1 and "enh_chrom" in res.stderr
    bad = [list(r) for r in PAIRS]
    bad[2][3] = "12.5"                                            # data row 3 = line 4
    res = run_cli("dgsplit", [_pairs_file(tmp_path, bad)])
    assert res.exit_code == 1 and "line 4" in res.stderr and "enhancer_start" in res.stderr
    assert "Traceback" not in res.stderr
    # a table with neither sequences nor coordinates is still refused, naming both ways out
    (tmp_path / "x.tsv").write_text("id\tvalue\na\t1\nb\t2\n")
    res = run_cli("dgsplit", [tmp_path / "x.tsv"])
    assert res.exit_code == 1 and "no sequence column" in res.stderr and "coordinates" in res.stderr


TARGETFINDER = DATA / "targetfinder_pairs_3000.csv.gz"


def test_combined_holdout_on_real_targetfinder_pairs(tmp_path):
    """3,000 real TargetFinder pairs (CSV, gzip, no sequences): hold out K562 and chr8/chr9."""
    src = pd.read_csv(TARGETFINDER, dtype=str, keep_default_na=False)
    out, rep, man = split(tmp_path, [TARGETFINDER, "--holdout", "cell=K562", "--holdout-chrom",
                                     "--test-chroms", "chr8,chr9", "--val-chroms", "chr7"])
    assert len(out) == len(src) == 3000
    assert out.drop(columns=["id", "split", "group_id"]).equals(src)   # every column passes through, in order
    held = out["cell"] == "K562"
    on_test = out["enhancer_chrom"].isin(["chr8", "chr9"]) | out["promoter_chrom"].isin(["chr8", "chr9"])
    on_val = out["enhancer_chrom"].eq("chr7") | out["promoter_chrom"].eq("chr7")
    s = out["split"]
    assert ((s == "test") == (held & on_test)).all()
    assert ((s == "val") == (~held & on_val & ~on_test)).all()
    assert ((s == "train") == (~held & ~on_val & ~on_test)).all()
    assert ((s == "excluded") == ((held & ~on_test) | (~held & on_test))).all()
    counts = s.value_counts().to_dict()
    assert counts["test"] > 20 and counts["train"] > 2000
    assert rep["excluded"]["rows"] == counts["excluded"]
    assert rep["excluded"]["held_out_off_test_chromosomes"] == int((held & ~on_test).sum())
    # no element (exact coordinates) in two of train, val and test
    kept = man[man["split"] != "excluded"]
    elem = kept.assign(e=kept["elements"].str.split(";")).explode("e")
    assert (elem.groupby("e")["split"].nunique() == 1).all()
    # the groups are real: some promoters are shared by several pairs
    assert rep["grouping"]["groups"] < 3000


def test_excluded_rows_are_read_by_no_training_command(tmp_path):
    """check_split accepts 'excluded'; read_split_rows drops and counts it like test."""
    from toolkit.io.tables import check_split, read_split_rows

    assert check_split([" excluded", "train"], "x").tolist() == ["excluded", "train"]
    with pytest.raises(Exception, match="not train, val, test or excluded"):
        check_split(["dropped"], "x")
    df = read_tsv(DATA / "lentimpra_HepG2_400.tsv").head(12)
    df["split"] = ["train"] * 6 + ["val"] * 2 + ["test"] * 2 + ["excluded"] * 2
    path = tmp_path / "s.tsv"
    df.to_csv(path, sep="\t", index=False)
    counts = {}
    first, tables, n_test = read_split_rows(str(path), counts=counts)
    assert len(tables["train"].df) == 6 and len(tables["val"].df) == 2 and n_test == 2
    assert counts == {"train": 6, "val": 2, "test": 2, "excluded": 2}


def test_fit_commands_ignore_excluded_rows(tmp_path):
    """fit-cre and fit-physinformer train on train, select on val, and never parse excluded
    rows (their values here are text that would be an error if read)."""
    qc = run_cli("seqqc", [DATA / "lentimpra_HepG2_400.tsv", "-q"])
    df = read_tsv(qc.stdout).head(150).copy()
    df["split"] = ["train"] * 80 + ["val"] * 30 + ["test"] * 10 + ["excluded"] * 30
    df["group_id"] = [f"g{i}" for i in range(len(df))]
    df.loc[df["split"] == "excluded", "mean_value"] = "not-read"
    path = tmp_path / "split.tsv"
    df.to_csv(path, sep="\t", index=False)
    res = run_cli("fit-cre", [path, "-o", tmp_path / "cre", "--preset", "cpu", "--epochs", "1", "--no-baseline",
                              "--targets", "mean_value", "-q"])
    assert res.exit_code == 0, res.stderr
    cfg = json.loads((tmp_path / "cre" / "config.json").read_text())
    assert cfg["rows"]["train"] == 80 and cfg["rows"]["val"] == 30

    feats = read_tsv(run_cli("descfeat", [path, "--families", "thermo", "-q"]).stdout)
    names = [c for c in feats.columns if c.startswith("thermo_total")]
    feats = feats[["id", "sequence", "split", *names]].copy()
    feats.loc[feats["split"] == "excluded", names] = "not-read"
    fpath = tmp_path / "feats.tsv"
    feats.to_csv(fpath, sep="\t", index=False)
    res = run_cli("fit-physinformer", [fpath, "-o", tmp_path / "pi", "--preset", "cpu", "--epochs", "1", "-q"])
    assert res.exit_code == 0, res.stderr
    cfg = json.loads((tmp_path / "pi" / "config.json").read_text())
    assert cfg["rows"]["train"] == 80 and cfg["rows"]["val"] == 30


# ----------------------------------------------------------------------------- near-duplicates, the
# pair-level leakage check and dgsplit --check

def test_reported_near_copy_case_groups_the_right_rows(tmp_path):
    """The reported defect (tests/data/dgsplit_near_copies.tsv): an exact duplicate earlier in the
    table moved the near-duplicate link onto the wrong rows (y, y_dup and x joined, xm alone)."""
    for near in ("hamming", "kmer"):
        out, rep, _ = split(tmp_path, [DATA / "dgsplit_near_copies.tsv", "--near", near, "--allow-empty"])  # 6 rows
        g = dict(zip(out["id"], out["group_id"]))
        assert g["y"] == g["y_dup"] and g["x"] == g["xm"] and g["y"] != g["x"]
        assert len({g["y"], g["x"], g["z"], g["w"]}) == 4
        assert rep["grouping"]["largest_group"] == {"rows": 2, "sequences": 1, "diameter": 0}


def test_kmer_sets_match_python_sets():
    """Canonical k-mer sets against a direct per-window computation (N windows skipped)."""
    from toolkit.split.group import kmer_sets

    rng = np.random.default_rng(4)
    seqs = random_seqs(40, rng, [30, 31, 9, 50], n_rate=0.03) + ["ACGTN", "NNNNNNNNNNNN"]
    for k in (5, 8, 17):
        offsets, codes = kmer_sets(seqs, k=k)
        for i, s in enumerate(seqs):
            want = set()
            for p in range(len(s) - k + 1):
                w = s[p:p + k]
                if "N" not in w:
                    want.add(min(w, reverse_complement(w)))
            code = {sum("ACGT".index(c) * 4 ** (k - 1 - j) for j, c in enumerate(w)) for w in want}
            got = codes[offsets[i]:offsets[i + 1]].tolist()
            assert got == sorted(code), (k, i)


def test_cross_split_pairs_hand_worked():
    """Five sequences, worked by hand: a, a again, rc(a), a with 2 substitutions, an unrelated one."""
    from toolkit.split.check import cross_split_pairs

    a = "ACGTTGCAAGGCTTACCGATAGCT"
    a2 = a[:3] + ("A" if a[3] != "A" else "C") + a[4:10] + ("G" if a[10] != "G" else "T") + a[11:]
    seqs = [a, a, reverse_complement(a), a2, "TTTTTTTTTTGGGGGGGGGGCCCC"]
    split = np.array([0, 1, 2, 0, 1])
    res = cross_split_pairs(seqs, split, near="hamming", max_mismatch=2)
    # exact: rows 0-1 (0|1); reverse complement: 0-2, 1-2 (0|2, 1|2); hamming: a2 (split 0) against
    # rows 1 and 2 (splits 1, 2), not against row 0 (same split)
    assert res["crossing_pairs"] == {"exact": 1, "reverse_complement": 2, "hamming": 2}
    assert res["by_split_pair"]["hamming"] == {(0, 1): 1, (0, 2): 1}
    assert {e["distance"] for e in res["examples"] if e["relation"] == "hamming"} == {2}
    assert cross_split_pairs(seqs, split, near="hamming", max_mismatch=1)["crossing_pairs"]["hamming"] == 0
    # forward strand only: rc(a) is neither exact nor within 2 mismatches of a
    res = cross_split_pairs(seqs, split, grouping="exact", near="hamming")
    assert res["crossing_pairs"] == {"exact": 1, "hamming": 1}
    # excluded rows (-1) are in no split
    res = cross_split_pairs(seqs, np.array([0, -1, -1, 0, 1]), near="hamming")
    assert sum(res["crossing_pairs"].values()) == 0


def test_flanks_found_when_some_rows_are_written_on_the_other_strand(tmp_path):
    """A fifth of the rows reverse-complemented whole (adapters included): the shared 15-nt flanks
    are still found, and each element's two orientations still share a group."""
    df = pd.read_csv(DATA / "lentimpra_HepG2_400.tsv", sep="\t")
    flip = np.random.default_rng(3).random(len(df)) < 0.2
    df.loc[flip, "seq"] = [reverse_complement(s) for s in df["seq"][flip]]
    path = tmp_path / "flipped.tsv"
    df.to_csv(path, sep="\t", index=False)
    out, rep, _ = split(tmp_path, [path])
    assert rep["grouping"]["flanks"] == {"left": 15, "right": 15}
    assert rep["grouping"]["rows_read_reverse_complemented"] == int(flip.sum())
    element = out["seq_id"].str.replace("_Reversed:", "", regex=False)
    assert (out.groupby(element)["group_id"].nunique() == 1).all() and rep["grouping"]["groups"] == 200


def test_leakage_check_catches_a_grouping_bug(tmp_path, monkeypatch):
    """The built-in check does not trust the groups: with near-duplicate links dropped (a planted
    bug), the run stops with an Error before writing anything."""
    import toolkit.split.group as group

    monkeypatch.setattr(group, "hamming_edges", lambda *a, **k: (np.zeros(0, np.int64), np.zeros(0, np.int64)))
    df = pd.read_csv(DATA / "lentimpra_HepG2_400.tsv", sep="\t")
    s = df["seq"].iloc[0]
    copies = [s[:40 + i] + ("A" if s[40 + i] != "A" else "C") + s[41 + i:] for i in range(30)]
    df = pd.concat([df, pd.DataFrame({"seq_id": [f"copy{i}" for i in range(30)], "seq": copies,
                                      "mean_value": 0.0})])
    path = tmp_path / "copies.tsv"
    df.to_csv(path, sep="\t", index=False)
    out = tmp_path / "out.tsv"
    res = run_cli("dgsplit", [path, "--near", "hamming", "-o", out])
    assert res.exit_code == 1 and not out.exists()
    assert "leakage check failed" in res.stderr and "hamming pairs of rows in different splits" in res.stderr


def test_check_finds_the_reverse_orientation_pairs_of_a_row_split(tmp_path):
    """dgsplit --check on the bundled lentiMPRA table with a naive row-level random split: every
    element whose two orientations landed in different splits is found (counted here directly)."""
    df = pd.read_csv(EXAMPLES / "lentimpra_HepG2.tsv.gz", sep="\t")
    df["split"] = np.random.default_rng(1).choice(["train", "val", "test"], len(df), p=[0.8, 0.1, 0.1])
    path = tmp_path / "naive.tsv"
    df.to_csv(path, sep="\t", index=False)
    rep_path = tmp_path / "check.json"
    res = run_cli("dgsplit", ["--check", path, "--report", rep_path])
    assert res.exit_code == 1 and "FAILED" in res.stderr and res.stdout == ""
    rep = json.loads(rep_path.read_text())
    element = df["seq_id"].str.replace("_Reversed:", "", regex=False)
    crossing = int((df.groupby(element)["split"].nunique() > 1).sum())
    assert crossing > 1000
    assert rep["result"] == "failed" and rep["crossing_pairs"] == {"exact": 0, "reverse_complement": crossing}
    assert rep["groups"]["crossing"] == crossing
    assert sum(rep["crossing_by_split_pair"]["reverse_complement"].values()) == crossing
    ex = rep["examples"][0]
    assert ex["id_a"].replace("_Reversed:", "") == ex["id_b"].replace("_Reversed:", "") and ex["split_a"] != ex["split_b"]


def test_check_passes_on_dgsplits_own_split_and_reads_any_labels(tmp_path):
    out_path, rep_path = tmp_path / "split.tsv", tmp_path / "check.json"
    res = run_cli("dgsplit", [DATA / "lentimpra_HepG2_400.tsv", "--near", "kmer", "-o", out_path])
    assert res.exit_code == 0, res.stderr
    res = run_cli("dgsplit", ["--check", out_path, "--near", "kmer", "--report", rep_path])
    assert res.exit_code == 0 and "passed" in res.stderr
    rep = json.loads(rep_path.read_text())
    assert rep["result"] == "passed" and set(rep["crossing_pairs"].values()) == {0}
    # the group ids as five folds: still clean; a fold label per row: leaks
    df = read_tsv(out_path)
    df["fold"] = "fold" + (df["group_id"].str[1:].astype(int) % 5).astype(str)
    df.to_csv(out_path, sep="\t", index=False)
    res = run_cli("dgsplit", ["--check", out_path, "--split-col", "fold", "-q"])
    assert res.exit_code == 0 and res.stderr == ""
    df["fold"] = "fold" + (np.arange(len(df)) % 5).astype(str)
    df.to_csv(out_path, sep="\t", index=False)
    res = run_cli("dgsplit", ["--check", out_path, "--split-col", "fold", "--report", rep_path])
    rep = json.loads(rep_path.read_text())
    assert res.exit_code == 1 and rep["crossing_pairs"]["reverse_complement"] == 200
    assert set(rep["splits"]) == {f"fold{i}" for i in range(5)}


def test_check_usage_and_input_errors(tmp_path):
    path = tmp_path / "t.tsv"
    path.write_text("id\tseq\tsplit\na\tACGTACGTAC\ttrain\nb\tACGTACGTAC\t\n")
    res = run_cli("dgsplit", ["--check", path])
    assert res.exit_code == 1 and "line 3" in res.stderr and "empty split value" in res.stderr
    res = run_cli("dgsplit", ["--check", path, "--split-col", "fold"])
    assert res.exit_code == 1 and "--split-col" in res.stderr
    res = run_cli("dgsplit", ["--check", path, "-o", tmp_path / "x.tsv"])
    assert res.exit_code == 2 and "writes no table" in res.stderr


def test_check_on_a_coordinate_table(tmp_path):
    """Pairs sharing an element's coordinates in two splits (r1, r10 and r11 share an enhancer)."""
    path = _pairs_file(tmp_path)
    df = read_tsv(path)
    df["split"] = ["train", "test", "val", "test", "val", "train", "val", "test", "test", "train", "train"]
    df.to_csv(path, sep="\t", index=False)
    rep_path = tmp_path / "c.json"
    res = run_cli("dgsplit", ["--check", path, "--report", rep_path])
    rep = json.loads(rep_path.read_text())
    # r1/r10/r11: all train; r8 (test) and r9 (test) share a promoter: no leak from them either
    assert res.exit_code == 0 and rep["crossing_pairs"] == {"element": 0}
    df.loc[df["name"] == "r9", "split"] = "train"
    df.to_csv(path, sep="\t", index=False)
    res = run_cli("dgsplit", ["--check", path, "--report", rep_path])
    rep = json.loads(rep_path.read_text())
    assert res.exit_code == 1 and rep["crossing_pairs"] == {"element": 1}
    assert rep["crossing_by_split_pair"]["element"] == {"test|train": 1}


def test_kmer_pair_exactly_at_the_threshold_is_joined():
    """A set inside another with Jaccard exactly 0.56 (14 / 25): 0.56 * 25 is 14.000000000000002 in
    floating point, and a size filter without slack skipped the pair (a review found it)."""
    from toolkit.split.check import cross_split_pairs

    b = "GCCTGATACGAGTCGGTTATCTTCGGATACTG"
    seqs = [b[3:24], b]
    lab, _ = group_rows(seqs, flanks="none", near="kmer", kmer_k=8, kmer_threshold=0.56)
    assert lab[0] == lab[1]
    assert cross_split_pairs(seqs, np.array([0, 1]), near="kmer", kmer_k=8,
                             kmer_threshold=0.56)["crossing_pairs"]["kmer"] == 1


def test_cores_not_longer_than_the_mismatch_bound_are_all_related():
    """Two cores of length <= --max-mismatch are within that many mismatches of each other."""
    lab, _ = group_rows(["AA", "CC", "GT", "ACG"], flanks="none", near="hamming", max_mismatch=2)
    assert lab[0] == lab[1] == lab[2] != lab[3]


def test_check_ignores_groups_bridged_only_by_excluded_rows(tmp_path):
    """A (train) ~ X (excluded) ~ B (test) with A and B two mismatches apart: at --max-mismatch 1
    no pair of rows in splits is related, and the groups among rows in a split agree."""
    rng = np.random.default_rng(8)
    a = "".join(rng.choice(list("ACGT"), 40))
    x = a[:10] + ("A" if a[10] != "A" else "C") + a[11:]
    b = x[:30] + ("A" if x[30] != "A" else "C") + x[31:]
    path = tmp_path / "bridge.tsv"
    path.write_text(f"id\tseq\tsplit\nA\t{a}\ttrain\nX\t{x}\texcluded\nB\t{b}\ttest\n")
    rep_path = tmp_path / "c.json"
    res = run_cli("dgsplit", ["--check", path, "--near", "hamming", "--max-mismatch", "1", "--report", rep_path])
    rep = json.loads(rep_path.read_text())
    assert res.exit_code == 0 and rep["result"] == "passed" and "inconsistent" not in rep
    assert rep["rows_in_no_split"] == 1 and rep["groups"] == {"total": 2, "crossing": 0, "rows_in_crossing_groups": 0}
    path.write_text(f"id\tseq\tsplit\nA\t{a}\ttrain\nX\t{x}\tval\nB\t{b}\ttest\n")
    res = run_cli("dgsplit", ["--check", path, "--near", "hamming", "--max-mismatch", "1", "--report", rep_path])
    rep = json.loads(rep_path.read_text())
    assert res.exit_code == 1 and rep["crossing_pairs"]["hamming"] == 2 and rep["groups"]["crossing"] == 1


def test_kmer_threshold_zero_is_a_usage_error(tmp_path):
    res = run_cli("dgsplit", [DATA / "dgsplit_near_copies.tsv", "--near", "kmer", "--kmer-threshold", "0",
                              "-o", tmp_path / "x.tsv"])
    assert res.exit_code == 2 and "--kmer-threshold" in res.stderr


def test_check_keys_from_hashes_equal_keys_from_strings():
    """The leakage check keys rows by two 64-bit hashes of the canonical core (compiled); the plain
    string computation must give the same partition, orientation and first rows, with flanks
    longer than some sequences, rows read on the other strand, N, palindromes and empty cores."""
    from toolkit.split import check

    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(list("ACGTN"), rng.integers(0, 30))) for _ in range(2000)]
    seqs += [reverse_complement(s) for s in seqs[:300]] + seqs[:200] + ["ACGT", "AT", "TA", ""]
    flipped = rng.random(len(seqs)) < 0.3
    for left, right in [(0, 0), (3, 2), (40, 0), (5, 50)]:
        for rc in (True, False):
            for fl in (None, flipped):
                want = check._string_keys(seqs, left, right, fl, rc)
                got = check._hashed_keys(seqs, left, right, fl, rc)
                for w, g in zip(want, got):
                    assert np.array_equal(w, g), (left, right, rc)
    assert check._hashed_keys(["ACGT", "ACGÉ"], 0, 0, None, True) is None   # not ASCII: strings instead


def test_core_hashes_partition_equals_the_strings():
    """Grouping hashes each core (and its canonical strand) in one compiled pass; the groups must be
    those of the strings themselves, with flanks longer than some sequences, N and empty cores."""
    from toolkit.split.group import core_hashes

    rng = np.random.default_rng(1)
    seqs = ["".join(rng.choice(list("ACGTN"), rng.integers(0, 25))) for _ in range(2000)]
    seqs += [reverse_complement(s) for s in seqs[:300]] + seqs[:200] + ["ACGT", "AT", "TA", ""]
    for left, right in [(0, 0), (3, 2), (30, 0), (5, 40)]:
        cores = [s[left:max(len(s) - right, 0)] for s in seqs]
        canon = [min(c, reverse_complement(c)) for c in cores]
        exact, rc = core_hashes(seqs, left, right, reverse=True)
        assert np.array_equal(pd.factorize(exact)[0], pd.factorize(pd.Series(cores))[0])
        assert np.array_equal(pd.factorize(rc)[0], pd.factorize(pd.Series(canon))[0])


def test_kmer_check_prepared_after_the_groups_on_large_inputs(tmp_path, monkeypatch):
    """Above PARALLEL_KMER_ROWS rows the check is prepared after the grouping, not beside it: the
    same split and the same check."""
    import toolkit.cli.dgsplit as cli

    outs = []
    for limit in (10 ** 9, 0):
        monkeypatch.setattr(cli, "PARALLEL_KMER_ROWS", limit)
        out, rep, _ = split(tmp_path, [DATA / "lentimpra_HepG2_400.tsv", "--near", "kmer"])
        outs.append(out)
        assert rep["leakage_check"].startswith("passed") and rep["leakage_check_pairs"]["crossing_pairs"]["kmer"] == 0
    assert outs[0].equals(outs[1])
