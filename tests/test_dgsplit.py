"""dgsplit: grouping, allocation modes, manifest, report and the leakage guarantee."""

import hashlib
import json

import numpy as np
import pandas as pd
import pytest

from conftest import DATA, EXAMPLES, read_tsv, run_cli
from toolkit.seq import reverse_complement
from toolkit.split.allocate import check_no_leak, random_grouped
from toolkit.split.group import group_rows, shared_flanks


def split(tmp_path, args, input=None):
    rep, man = tmp_path / "split.json", tmp_path / "manifest.tsv"
    res = run_cli("dgsplit", [*args, "--report", rep, "--manifest", man], input=input)
    assert res.exit_code == 0, res.stderr
    out = read_tsv(res.stdout)
    report = json.loads(rep.read_text())
    # a group never crosses splits (checked here independently of dgsplit's own check)
    assert (out.groupby("group_id")["split"].nunique() == 1).all()
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
    out, rep, _ = split(tmp_path, [DATA / "gosai_table_s2_10rows.tsv", "--holdout-chrom"])
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
    out, rep, _ = split(tmp_path, [path, "--holdout-chrom"])
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
