"""descfeat: the descriptor list, TSV and HDF5 outputs, streaming invariants."""

import json

import numpy as np
import pandas as pd
import pytest

from conftest import DATA, read_tsv, run_bin, run_cli
from toolkit.features import FAMILIES
from toolkit.seq import reverse_complement

TABLE = DATA / "lentimpra_HepG2_400.tsv"
# the document's lists (expanded); its announced totals for thermo (45) and entropy (62) exceed its own lists;
# psi: the 18 TileFormer targets (section 4.1.2)
DOC_COUNTS = {"bend": 44, "stiff": 62, "thermo": 43, "entropy": 46, "advanced": 55, "psi": 18}
# columns of the document's lists that are another column under a second name, not written
# (the family modules' RETIRED)
RETIRED_COUNTS = {"bend": 4, "stiff": 4, "entropy": 1, "advanced": 2}


def _small(tmp_path, n=40, extra=None):
    src = read_tsv(TABLE).head(n)
    if extra is not None:
        src = pd.concat([src, pd.DataFrame(extra)], ignore_index=True)
    path = tmp_path / "small.tsv"
    src.to_csv(path, sep="\t", index=False)
    return path, src


@pytest.fixture(scope="module")
def listing():
    res = run_cli("descfeat", ["--list"])
    assert res.exit_code == 0, res.stderr
    return read_tsv(res.stdout)


def test_list_covers_every_family(listing):
    assert listing.columns.tolist() == ["name", "family", "unit", "formula", "source", "caveat"]
    assert listing["name"].is_unique
    assert set(listing["family"]) == set(FAMILIES)
    for _, row in listing.iterrows():
        assert row["name"].startswith(row["family"] + "_")
        assert row["formula"] and row["source"] and row["unit"]
    counts = listing["family"].value_counts()
    for fam, n in DOC_COUNTS.items():
        assert counts[fam] == n - RETIRED_COUNTS.get(fam, 0), fam
    assert len(listing) >= 450  # HepG2 motif list


def test_tsv_and_hdf5_agree_and_pass_columns_through(tmp_path):
    from toolkit.io.h5 import read_h5

    path, src = _small(tmp_path)
    res = run_cli("descfeat", [path, "-q"])
    assert res.exit_code == 0, res.stderr
    tsv = read_tsv(res.stdout)
    h5 = tmp_path / "f.h5"
    rep = tmp_path / "r.json"
    assert run_cli("descfeat", [path, "-q", "-o", h5, "--report", rep]).exit_code == 0
    got = read_h5(h5)
    assert got["ids"] == src["seq_id"].tolist() and got["sequences"] == src["seq"].tolist()
    assert got["columns"]["seq_id"] == src["seq_id"].tolist()
    assert got["columns"]["mean_value"] == src["mean_value"].tolist()
    assert got["attrs"]["cell_type"] == "HepG2" and got["attrs"]["motif_release"] == "JASPAR2024"
    assert set(got["attrs"]["parameter_checksums"]) >= {"nn_thermo_16steps.tsv"}
    names = got["names"]
    assert tsv.columns.tolist() == ["id", "seq_id", "sequence", "mean_value"] + names
    a = tsv[names].astype(float).to_numpy()
    b = got["values"].astype(np.float64)
    assert np.array_equal(np.isnan(a), np.isnan(b))
    ok = ~np.isnan(a)
    assert np.allclose(a[ok], b[ok], rtol=1e-5, atol=1e-6)
    report = json.loads(rep.read_text())
    assert report["rows"] == len(src) and report["descriptors"] == len(names)


def test_chunks_processes_and_row_order_do_not_change_results(tmp_path):
    path, src = _small(tmp_path, n=30)
    base = run_cli("descfeat", [path, "-q"]).stdout
    assert run_cli("descfeat", [path, "-q", "--chunk-rows", "7"]).stdout == base
    assert run_bin("descfeat", [path, "-q", "-j", "2", "--chunk-rows", "5"]).stdout.decode() == base
    perm = src.sample(frac=1, random_state=3)
    ppath = tmp_path / "perm.tsv"
    perm.to_csv(ppath, sep="\t", index=False)
    shuffled = read_tsv(run_cli("descfeat", [ppath, "-q"]).stdout).set_index("id")
    original = read_tsv(base).set_index("id")
    pd.testing.assert_frame_equal(shuffled.loc[original.index], original)


def test_undefined_values_are_nan_and_reported(tmp_path):
    path, src = _small(tmp_path, n=5, extra={"seq_id": ["allN", "short"], "seq": ["N" * 230, "ACGTAC"],
                                             "mean_value": ["0", "0"]})
    rep = tmp_path / "r.json"
    res = run_cli("descfeat", [path, "--report", rep])
    assert res.exit_code == 0, res.stderr
    out = read_tsv(res.stdout).set_index("id")
    thermo = [c for c in out.columns if c.startswith("thermo_total")]
    assert out.loc["allN", thermo].astype(float).isna().all()
    report = json.loads(rep.read_text())
    assert report["undefined_values"] and "Warning:" in res.stderr


def test_strand_symmetric_thermo_totals(tmp_path):
    src = read_tsv(TABLE).head(5)
    rc = src.copy()
    rc["seq"] = [reverse_complement(s) for s in src["seq"]]
    both = pd.concat([src, rc], ignore_index=True)
    path = tmp_path / "rc.tsv"
    both.to_csv(path, sep="\t", index=False)
    out = read_tsv(run_cli("descfeat", [path, "-q", "--families", "thermo"]).stdout)
    for col in ("thermo_total_dH", "thermo_total_dS", "thermo_total_dG"):
        v = out[col].astype(float).to_numpy()
        assert np.allclose(v[:5], v[5:], rtol=1e-6), col


def test_non_acgtn_is_an_error_naming_the_line(tmp_path):
    path, _ = _small(tmp_path, n=3, extra={"seq_id": ["iupac"], "seq": ["ACGTRYACGT"], "mean_value": ["1"]})
    res = run_cli("descfeat", [path])
    assert res.exit_code == 1 and "line 5" in res.stderr and "seqqc" in res.stderr


@pytest.mark.parametrize("name", ["f.h5.gz", "f.hdf5"])
def test_hdf5_like_output_names_are_refused_not_written_as_tsv(tmp_path, name):
    """-o f.h5.gz used to write gzipped TSV under an HDF5-looking name: a usage error now, and no file."""
    res = run_cli("descfeat", [DATA / "deepstarr_200.tsv", "-o", tmp_path / name, "-q"])
    assert res.exit_code == 2 and "ending in .h5" in res.output
    assert not (tmp_path / name).exists()


def test_list_goes_to_o_like_any_output(tmp_path):
    """--list honours -o (it used to print to standard output whatever -o said): the same TSV."""
    out = tmp_path / "list.tsv"
    res = run_cli("descfeat", ["--list", "--families", "thermo", "-o", out])
    assert res.exit_code == 0 and res.output == ""
    assert out.read_text() == run_cli("descfeat", ["--list", "--families", "thermo"]).output
    assert out.read_text().startswith("name\tfamily\tunit\tformula\tsource\tcaveat\n")
