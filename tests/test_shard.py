"""--shard I/N (descfeat, predict, seqqc): shards 1..N joined are the unsharded run.

TSV shards are joined with ``cat`` (shard 1 alone writes the header), HDF5 shards with
``descfeat --merge``; seqqc's rejects join the same way and its reports add up.
"""

import gzip
import json

import numpy as np
import pytest

from conftest import DATA, EXAMPLES, TinyModel, read_tsv, run_cli
from toolkit.io.tables import iter_table, shard_bounds

TABLE = DATA / "lentimpra_HepG2_400.tsv"


def shards(name, args, n, out=None, tmp_path=None, ext="tsv"):
    """Run shard 1..n of a command; returns their standard outputs, or with ``out`` a
    name pattern, the paths written (``-o tmp_path/<out>.<i>.<ext>``)."""
    results = []
    for i in range(1, n + 1):
        extra = ["--shard", f"{i}/{n}"]
        if out is not None:
            path = tmp_path / f"{out}.{i}.{ext}"
            extra += ["-o", path]
        res = run_cli(name, [*args, *extra])
        assert res.exit_code == 0, res.stderr
        results.append(path if out is not None else res.stdout)
    return results


# ---------------------------------------------------------------------- the row blocks

@pytest.mark.parametrize("n", [1, 2, 3, 7, 400, 401, 1000])
@pytest.mark.parametrize("align", [1, 64])
def test_shard_bounds_partition_the_rows_in_order(n, align):
    for count in (1, 2, 3, 10, 999):
        edges = [shard_bounds(n, i, count, align) for i in range(1, count + 1)]
        assert edges[0][0] == 0 and edges[-1][1] == n
        assert all(a[1] == b[0] for a, b in zip(edges, edges[1:]))        # contiguous, in order
        assert all(lo <= hi for lo, hi in edges)
        assert edges[0][1] > 0                                              # shard 1 never empty
        assert all(lo % align == 0 or lo == n for lo, _ in edges)           # aligned starts
        if align == 1:
            sizes = [hi - lo for lo, hi in edges]
            assert max(sizes) - min(sizes) <= 1


def test_iter_table_shards_keep_global_ids_lines_and_skip_unparsed_blocks(tmp_path):
    path = tmp_path / "t.tsv"  # no id column: ids are row<N> of the whole input
    lines = ["sequence\tvalue"] + [f"{'ACGT' * 3}\t{i}" for i in range(50)]
    lines.insert(20, "")  # a blank line is not a row
    path.write_text("\n".join(lines) + "\n")
    whole = [c for c in iter_table(str(path), chunk_rows=7)]
    ids = np.concatenate([c.ids() for c in whole])
    file_lines = np.concatenate([c.lines for c in whole])
    got_ids, got_lines = [], []
    for i in range(1, 5):
        parts = list(iter_table(str(path), chunk_rows=7, shard=(i, 4)))
        got_ids += [x for c in parts for x in c.ids()]
        got_lines += [x for c in parts for x in c.lines]
        assert all(c.seq_col == "sequence" and c.id_col is None for c in parts)
    assert got_ids == list(ids) and got_ids[:2] == ["row1", "row2"] and got_ids[-1] == "row50"
    assert got_lines == list(file_lines)


def test_head_is_the_inputs_first_chunk_whatever_the_shard(tmp_path):
    seen = []
    list(iter_table(str(TABLE), chunk_rows=100, shard=(4, 4), head=seen.append))
    assert len(seen) == 1 and seen[0].row_offset == 0 and len(seen[0]) == 100
    assert seen[0].df.iloc[0, 0] == read_tsv(TABLE).iloc[0, 0]


# ---------------------------------------------------------------------- descfeat

def test_descfeat_tsv_shards_cat_to_the_unsharded_bytes():
    args = [TABLE, "-q", "--families", "thermo,entropy", "--chunk-rows", "37"]
    whole = run_cli("descfeat", args)
    assert whole.exit_code == 0
    for n in (1, 3, 8):
        parts = shards("descfeat", args, n)
        assert "".join(parts) == whole.stdout
        assert parts[0].startswith("id\t") and all(not p.startswith("id\t") for p in parts[1:])
        assert sum(p.count("\n") for p in parts) == 401


def test_descfeat_gzip_and_fasta_inputs_shard_too(tmp_path):
    gz = tmp_path / "table.tsv"  # gzip content under a plain name
    gz.write_bytes(gzip.compress(TABLE.read_bytes()))
    fa = tmp_path / "seqs.fa"
    src = read_tsv(TABLE).head(30)
    fa.write_text("".join(f">{i}\n{s}\n" for i, s in zip(src["seq_id"], src["seq"])))
    for path in (gz, fa):
        args = [path, "-q", "--families", "thermo", "--chunk-rows", "8"]
        whole = run_cli("descfeat", args)
        assert whole.exit_code == 0
        assert "".join(shards("descfeat", args, 4)) == whole.stdout


def _h5_equal(a, b):
    from toolkit.io.h5 import read_h5

    x, y = read_h5(a), read_h5(b)
    assert np.array_equal(x["values"], y["values"], equal_nan=True)
    for key in ("names", "families", "ids", "sequences", "columns", "attrs"):
        assert x[key] == y[key], key


def test_descfeat_hdf5_shards_merge_in_shard_order(tmp_path):
    args = [TABLE, "-q", "--families", "thermo", "--chunk-rows", "50"]
    whole = tmp_path / "whole.h5"
    assert run_cli("descfeat", [*args, "-o", whole]).exit_code == 0
    parts = shards("descfeat", args, 5, out="part", tmp_path=tmp_path, ext="h5")
    merged = tmp_path / "merged.h5"
    scrambled = [parts[i] for i in (3, 0, 4, 2, 1)]  # any order: the files say which shard they are
    res = run_cli("descfeat", ["--merge", "-o", merged, *scrambled])
    assert res.exit_code == 0, res.stderr
    assert "5 shards" in res.stderr and "400 rows" in res.stderr
    _h5_equal(merged, whole)
    from toolkit.io.h5 import read_h5

    assert read_h5(parts[1])["attrs"]["shard"] == "2/5"
    assert "shard" not in read_h5(merged)["attrs"]


def test_descfeat_merge_refuses_incomplete_or_mixed_sets(tmp_path):
    args = [TABLE, "-q", "--families", "thermo"]
    parts = shards("descfeat", args, 3, out="part", tmp_path=tmp_path, ext="h5")
    plain = tmp_path / "plain.h5"
    assert run_cli("descfeat", [*args, "-o", plain]).exit_code == 0
    out = tmp_path / "all.h5"
    out.write_text("previous\n")
    for files, words in (([parts[0], parts[2]], "shard(s) 2/3 missing"),
                         ([parts[0], parts[1], parts[1], parts[2]], "given twice"),
                         ([parts[0], parts[1], parts[2], plain], "mixes files")):
        res = run_cli("descfeat", ["--merge", "-o", out, *files])
        assert res.exit_code == 1 and res.stderr.startswith("Error:") and words in res.stderr, res.stderr
        assert out.read_text() == "previous\n"
    assert run_cli("descfeat", ["--merge", "-o", tmp_path / "x.tsv", *parts]).exit_code == 2  # HDF5 only
    assert run_cli("descfeat", [parts[0], parts[1]]).exit_code == 2  # several INPUTs only with --merge
    # files of separate runs (no shard attributes) are joined in the order given
    res = run_cli("descfeat", ["--merge", "-o", out, plain, plain])
    assert res.exit_code == 0
    from toolkit.io.h5 import read_h5

    both = read_h5(out)
    assert len(both["ids"]) == 800 and both["ids"][:400] == both["ids"][400:]


def test_more_shards_than_rows(tmp_path):
    path = tmp_path / "three.tsv"
    src = read_tsv(TABLE).head(3)
    src.to_csv(path, sep="\t", index=False)
    args = [path, "-q", "--families", "thermo"]
    whole = run_cli("descfeat", args).stdout
    parts = shards("descfeat", args, 5)
    assert "".join(parts) == whole and sum(1 for p in parts if p == "") == 2
    h5s = shards("descfeat", args, 5, out="p", tmp_path=tmp_path, ext="h5")
    ref = tmp_path / "whole.h5"
    assert run_cli("descfeat", [*args, "-o", ref]).exit_code == 0
    merged = tmp_path / "merged.h5"
    assert run_cli("descfeat", ["--merge", "-q", "-o", merged, *h5s]).exit_code == 0
    _h5_equal(merged, ref)


# ---------------------------------------------------------------------- predict

def test_predict_shards_cat_to_the_unsharded_bytes(tmp_path):
    """Shard boundaries (400, 800 here) and chunks are aligned to the batch size, so every
    row is predicted in the same batch shape as unsharded: the same 10 digits (a different
    batch layout changes the last digits of some rows on CPU)."""
    lines = gzip.decompress((EXAMPLES / "lentimpra_HepG2.tsv.gz").read_bytes()).decode().splitlines(True)
    path = tmp_path / "hepg2.tsv"  # 1,200 real rows
    path.write_text("".join(lines[:1201]))
    model = str(TinyModel())
    whole = run_cli("predict", [path, "-m", model, "-q", "--batch-size", "64"])
    assert whole.exit_code == 0
    # the shards also read in other chunks: a row meets the same batches either way
    parts = shards("predict", [path, "-m", model, "-q", "--batch-size", "64", "--chunk-rows", "100"], 3)
    assert "".join(parts) == whole.stdout
    assert len(read_tsv("".join(parts))) == 1200 and all(parts)


def test_predict_refuses_stdin_shards():
    res = run_cli("predict", ["-", "-m", "nowhere", "--shard", "1/2"], input=TABLE.read_text())
    assert res.exit_code == 2 and "standard input" in res.stderr


# ---------------------------------------------------------------------- seqqc

def _qc_input(tmp_path):
    """400 real rows with rejects planted everywhere, and lengths whose mode only the
    whole input shows: the last third is mostly 200 nt (off-length), the rest 230."""
    src = read_tsv(TABLE)
    seqs = src["seq"].tolist()
    for i in range(280, 400):
        if i % 5:
            seqs[i] = seqs[i][15:215]
    for i in range(0, 400, 37):
        seqs[i] = seqs[i][:50] + "NNNN" + seqs[i][54:]
    src["seq"] = seqs
    src.loc[src.index % 53 == 7, "mean_value"] = "NA"
    path = tmp_path / "qc_in.tsv"
    src.to_csv(path, sep="\t", index=False)
    return path


def test_seqqc_shards_join_and_reports_add_up(tmp_path):
    path = _qc_input(tmp_path)
    rep, rej = tmp_path / "qc.json", tmp_path / "rej.tsv"
    whole = run_cli("seqqc", [path, "-q", "--report", rep, "--rejects", rej])
    assert whole.exit_code == 0
    full = json.loads(rep.read_text())
    assert full["rows_rejected"] >= 15  # the planted Ns and NAs
    # 96 of the 400 rows are off-length: the whole input pads them, and so must every shard
    assert full["length_policy"]["applied"] == "trim-pad" and full["length_policy"]["rows_trimmed_or_padded"] == 96
    n = 4
    outs, rejects, reports = [], [], []
    for i in range(1, n + 1):
        r, j = tmp_path / f"qc{i}.json", tmp_path / f"rej{i}.tsv"
        res = run_cli("seqqc", [path, "-q", "--shard", f"{i}/{n}", "--report", r, "--rejects", j])
        assert res.exit_code == 0, res.stderr
        outs.append(res.stdout)
        rejects.append(j.read_text())
        reports.append(json.loads(r.read_text()))
    assert "".join(outs) == whole.stdout
    assert "".join(rejects) == rej.read_text()
    for key in ("rows_in", "rows_out", "rows_rejected", "rows_merged"):
        assert sum(r[key] for r in reports) == full[key], key
    for rule, count in full["removed_by_rule"].items():
        assert sum(r["removed_by_rule"][rule] for r in reports) == count, rule
    for r in reports:  # every shard took the length decision on the input's first rows
        assert r["length_policy"]["length"] == 230 and r["length_policy"]["applied"] == "trim-pad"
        assert r["shard"].endswith(f"/{n}")
        assert r["rows_in"] == r["rows_out"] + r["rows_rejected"]


def test_seqqc_shard_refuses_whole_input_options(tmp_path):
    for extra in (["--merge-duplicates", "median"], ["--winsorize", "1,99"]):
        res = run_cli("seqqc", [TABLE, "--shard", "1/2", *extra])
        assert res.exit_code == 2 and "unsharded" in res.stderr


# ---------------------------------------------------------------------- bad values

@pytest.mark.parametrize("name", ["seqqc", "descfeat", "predict"])
@pytest.mark.parametrize("value, words", [("0/4", "count from 1"), ("5/4", "between 1 and N=4"),
                                          ("1/0", "at least 1"), ("3", "is not I/N"), ("a/b", "is not I/N"),
                                          ("-1/4", "between 1 and N=4")])
def test_bad_shard_values_are_usage_errors(name, value, words):
    args = [TABLE, "--shard", value] + (["-m", "nowhere"] if name == "predict" else [])
    res = run_cli(name, args)
    assert res.exit_code == 2
    assert "--shard" in res.stderr and words in res.stderr, res.stderr
    assert "Traceback" not in res.stderr


@pytest.mark.parametrize("name", ["seqqc", "descfeat"])
def test_shard_of_standard_input_is_refused(name):
    res = run_cli(name, ["--shard", "1/2"], input=TABLE.read_text())
    assert res.exit_code == 2 and "not standard input" in res.stderr
