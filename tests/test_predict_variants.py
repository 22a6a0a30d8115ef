"""predict --variants: each allele's two windows cut by hand here (pysam's FASTA reader, not
the toolkit's) and predicted with a plain predict give the ref, alt and delta columns; every
allele of the input is scored or rejected with its reason; shards, compression and standard
input give the same rows; MinGap of both alleles by hand.

The model is a quick fit-cre model on the bundled real lentiMPRA table (three cell lines, 64-nt
windows); the variants are the bundled E. coli test VCF (records made by hand on the real
genome) and element variants made here."""

import gzip
import json
import shutil
import subprocess

import numpy as np
import pandas as pd
import pysam
import pytest
from click.testing import CliRunner

from conftest import EXAMPLES, read_tsv, run_cli
from toolkit.cli.predict import cli as predict_cli

TARGETS = ["HepG2_l2fc", "K562_l2fc", "WTC11_l2fc"]
L = 64
GENOME = EXAMPLES / "ecoli" / "NC_000913.3.fa.bgz"
VCF = EXAMPLES / "ecoli" / "variants.vcf"
CHROM = "NC_000913.3"
COMP = str.maketrans("ACGTN", "TGCAN")


def invoke(args, input=None):
    return CliRunner().invoke(predict_cli, [str(a) for a in args], input=input, catch_exceptions=False)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """fit-cre, cpu preset, one epoch, one member, 64-nt windows, on 300 rows of the real table."""
    from toolkit.cli.fit_cre import cli as fit_cli

    qc = run_cli("seqqc", [EXAMPLES / "lentimpra_joint_3cell.csv.gz", "-q"])
    df = read_tsv(run_cli("dgsplit", ["-q"], input=qc.stdout).stdout).head(300)
    out = tmp_path_factory.mktemp("m") / "cre"
    res = CliRunner().invoke(fit_cli, [str(a) for a in ["-o", out, "--targets", ",".join(TARGETS), "--preset", "cpu",
                                                        "--epochs", "1", "--ensemble", "1", "--length", L,
                                                        "--no-baseline", "-q"]],
                             input=df.to_csv(sep="\t", index=False), catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert json.loads((out / "config.json").read_text())["length"] == L
    return out


@pytest.fixture(scope="module")
def fasta():
    with pysam.FastaFile(str(GENOME)) as fa:
        yield fa


def _hand_windows(fa, pos, ref, alt):
    """The two windows by the documented rule, written out: the allele of n bases at 0-based s
    is centred as a BED interval [s, s + n): the window starts at s + n // 2 - L // 2; the ALT
    haplotype is the genome with REF replaced; bases off the chromosome are N."""
    size = fa.get_reference_length(CHROM)

    def base(i, allele, s):
        if i < s:
            return fa.fetch(CHROM, i, i + 1).upper() if i >= 0 else "N"
        if i < s + len(allele):
            return allele[i - s]
        g = i - len(allele) + len(ref)   # back to genome coordinates past the allele
        return fa.fetch(CHROM, g, g + 1).upper() if g < size else "N"

    s = pos - 1
    out = []
    for allele in (ref, alt):
        start = s + len(allele) // 2 - L // 2
        out.append("".join(base(i, allele, s) for i in range(start, start + L)))
    return out


def _predict_table(model, seqs):
    table = "id\tsequence\n" + "".join(f"w{i}\t{s}\n" for i, s in enumerate(seqs))
    res = invoke(["-m", model, "-q"], input=table)
    assert res.exit_code == 0, res.output
    return read_tsv(res.stdout)[[f"pred_{t}" for t in TARGETS]].to_numpy(dtype=float)


@pytest.fixture(scope="module")
def effects(model, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("v")
    res = invoke(["-m", model, "--variants", VCF, "--genome", GENOME, "--rejects", tmp / "rej.tsv"])
    assert res.exit_code == 0, res.output
    return read_tsv(res.stdout), read_tsv((tmp / "rej.tsv").read_text()), res.output


def test_delta_is_the_two_windows_predicted_by_hand(model, fasta, effects):
    eff, _, _ = effects
    assert list(eff["id"]) == ["near_start", "thrL_snv", "multi", "multi", "del2", "ins3", "last_base"]
    windows = [w for p, r, a in zip(eff["pos"].astype(int), eff["ref"], eff["alt"]) for w in _hand_windows(fasta, p, r, a)]
    assert all(len(w) == L for w in windows)
    by_hand = _predict_table(model, windows)
    for j, t in enumerate(TARGETS):
        ref, alt = eff[f"ref_{t}"].astype(float).to_numpy(), eff[f"alt_{t}"].astype(float).to_numpy()
        np.testing.assert_allclose(ref, by_hand[0::2, j], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(alt, by_hand[1::2, j], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(eff[f"delta_{t}"].astype(float), alt - ref, rtol=1e-6, atol=1e-7)
    # an SNV changes one base, in the middle; the 3-base insertion keeps the length
    r, a = _hand_windows(fasta, 190, "A", "G")
    assert [i for i in range(L) if r[i] != a[i]] == [L // 2] and r[L // 2] == "A"
    # N padding: 23 bases before the first base (pos 10: window starts at 9 - 32), 31 past the last
    assert eff.set_index("id").loc["near_start", "n_pad"] == "23"
    assert eff.set_index("id").loc["last_base", "n_pad"] == "31"


def test_every_allele_is_scored_or_rejected_with_its_reason(effects):
    eff, rej, _ = effects
    with open(VCF) as fh:
        records = [line.split("\t") for line in fh if not line.startswith("#")]
    alleles = sum(len(r[4].split(",")) for r in records)
    assert len(eff) + len(rej) == alleles == 12
    assert dict(zip(rej["id"], rej["qc_reason"])) == {
        "wrong_ref": "ref_mismatch", "other_genome": "unknown_chrom", "past_end": "out_of_bounds",
        "symbolic": "symbolic_alt", "no_alt": "no_alt"}
    # qc_line is the line in the VCF file (4 header lines)
    lines = {r[2]: i + 5 for i, r in enumerate(records)}
    assert all(int(q) == lines[i] for i, q in zip(rej["id"], rej["qc_line"]))
    assert list(eff.loc[eff["id"] == "multi", "alt"]) == ["A", "C"]
    assert "7 of 12 variant allele(s) scored, 5 rejected" in effects[2]


def test_mingap_of_both_alleles_by_hand(effects):
    eff, _, _ = effects
    ref = eff[[f"ref_{t}" for t in TARGETS]].to_numpy(dtype=float)
    alt = eff[[f"alt_{t}" for t in TARGETS]].to_numpy(dtype=float)
    for i in range(len(eff)):
        top = int(np.argmax(ref[i]))
        others = [k for k in range(3) if k != top]
        assert eff["mingap_cell"].iat[i] == TARGETS[top].split("_")[0]
        mr = ref[i, top] - max(ref[i, k] for k in others)
        ma = alt[i, top] - max(alt[i, k] for k in others)
        assert float(eff["mingap_ref"].iat[i]) == pytest.approx(mr, abs=1e-8)
        assert float(eff["mingap_alt"].iat[i]) == pytest.approx(ma, abs=1e-8)
        assert float(eff["delta_mingap"].iat[i]) == pytest.approx(ma - mr, abs=1e-8)


def test_compressed_stdin_and_sharded_vcfs_give_the_same_rows(model, effects, tmp_path):
    want = invoke(["-m", model, "-q", "--variants", VCF, "--genome", GENOME]).stdout
    assert read_tsv(want).equals(effects[0])
    gz = tmp_path / "v.vcf.gz"
    gz.write_bytes(gzip.compress(VCF.read_bytes()))
    assert invoke(["-m", model, "-q", "--variants", gz, "--genome", GENOME]).stdout == want
    if shutil.which("bgzip"):
        bgz = tmp_path / "b.vcf.gz"
        subprocess.run(f"bgzip -c {VCF} > {bgz}", shell=True, check=True)
        assert invoke(["-m", model, "-q", "--variants", bgz, "--genome", GENOME]).stdout == want
    assert invoke(["-m", model, "-q", "--variants", "-", "--genome", GENOME], input=VCF.read_text()).stdout == want
    parts = [invoke(["-m", model, "-q", "--variants", VCF, "--genome", GENOME, "--shard", f"{k}/3",
                     "--batch-size", "4"]).stdout for k in (1, 2, 3)]
    assert "".join(parts) == invoke(["-m", model, "-q", "--variants", VCF, "--genome", GENOME,
                                     "--batch-size", "4"]).stdout


def test_a_genome_table_with_strand_reads_minus_strand_windows_reverse_complemented(model, fasta, tmp_path):
    table = tmp_path / "v.tsv"
    table.write_text("chrom\tpos\tref\talt\tstrand\n"
                     f"{CHROM}\t190\tA\tG\t+\n{CHROM}\t190\tA\tG\t-\n{CHROM}\t2001\tTTC\tT\t-\n{CHROM}\t190\tC\tG\t+\n")
    res = invoke(["-m", model, "--variants", table, "--genome", GENOME, "--rejects", tmp_path / "rej.tsv"])
    assert res.exit_code == 0, res.output
    eff = read_tsv(res.stdout)
    assert list(eff["id"]) == [f"{CHROM}:190:A:G", f"{CHROM}:190:A:G", f"{CHROM}:2001:TTC:T"]
    assert list(eff["strand"]) == ["+", "-", "-"] and "n_pad" in eff
    w = [_hand_windows(fasta, 190, "A", "G"), _hand_windows(fasta, 190, "A", "G"), _hand_windows(fasta, 2001, "TTC", "T")]
    w[1] = [s.translate(COMP)[::-1] for s in w[1]]
    w[2] = [s.translate(COMP)[::-1] for s in w[2]]
    by_hand = _predict_table(model, [s for pair in w for s in pair])
    np.testing.assert_allclose(eff[[f"alt_{t}" for t in TARGETS]].to_numpy(dtype=float), by_hand[1::2], rtol=1e-5,
                               atol=1e-6)
    assert read_tsv((tmp_path / "rej.tsv").read_text())["qc_reason"].tolist() == ["ref_mismatch"]


def test_element_variants_replace_ref_inside_the_element(model, tmp_path):
    seqs = read_tsv(run_cli("seqqc", [EXAMPLES / "lentimpra_joint_3cell.csv.gz", "-q"]).stdout)["sequence"].head(3)
    s0, s1, s2 = (s[:L] for s in seqs)   # 64-nt elements: the model reads them whole
    rows = [("e0", s0, 5, s0[4], "ACGT"[("ACGT".index(s0[4]) + 1) % 4]),
            ("e1", s1, 30, s1[29:32], s1[29]),                      # a 2-base deletion
            ("e2", s2, 7, "N" if s2[6] != "N" else "A", "G"),      # REF differs from the element
            ("e3", s2, 64, s2[63], "T" if s2[63] != "T" else "A"),
            ("e4", s2, 64, s2[63] + "A", "T")]                      # REF past the element's end
    table = tmp_path / "el.tsv"
    pd.DataFrame(rows, columns=["name", "sequence", "position", "ref", "alt"]).to_csv(table, sep="\t", index=False)
    res = invoke(["-m", model, "--variants", table, "--rejects", tmp_path / "rej.tsv"])
    assert res.exit_code == 0, res.output
    eff = read_tsv(res.stdout)
    assert list(eff["name"]) == ["e0", "e1", "e3"] and "n_pad" not in eff
    alt_seqs = [s0[:4] + rows[0][4] + s0[5:], s1[:29] + s1[29] + s1[32:], s2[:63] + rows[3][4]]
    by_hand = _predict_table(model, [s0, alt_seqs[0], s1, alt_seqs[1], s2, alt_seqs[2]])
    got = np.stack([eff[[f"ref_{t}" for t in TARGETS]].to_numpy(dtype=float),
                    eff[[f"alt_{t}" for t in TARGETS]].to_numpy(dtype=float)], axis=1).reshape(-1, 3)
    np.testing.assert_allclose(got, by_hand, rtol=1e-5, atol=1e-6)
    rej = read_tsv((tmp_path / "rej.tsv").read_text())
    assert dict(zip(rej["name"], rej["qc_reason"])) == {"e2": "ref_mismatch", "e4": "out_of_bounds"}


@pytest.mark.parametrize("extra, needle", [
    ([], "--genome"),                                     # a VCF needs the genome
    (["--genome", GENOME, "--explain", "ism", "-e", "x.h5"], "--explain"),
])
def test_usage_errors(model, extra, needle):
    res = invoke(["-m", model, "--variants", VCF, *extra])
    assert res.exit_code == 2 and needle in res.output


def test_rejects_without_variants_is_a_usage_error(model, tmp_path):
    res = invoke(["-m", model, "--rejects", tmp_path / "r.tsv"], input="id\tsequence\na\tACGT\n")
    assert res.exit_code == 2 and "--variants" in res.output


def test_real_mpra_variants_alt_element_is_the_measured_alt_row(model):
    """The bundled Gosai et al. 2024 variants (derived from Table S2): the element predict builds with
    ALT put in is, base for base, the Table S2 row that carries ALT, so its alt_ prediction is that
    row's plain prediction (and ref_ that of the REF row where Table S2 has one)."""
    from conftest import DATA

    s2 = pd.read_csv(DATA / "gosai_table_s2_10rows.tsv", sep="\t")
    var = pd.read_csv(EXAMPLES / "gosai_variants.tsv", sep="\t")
    res = invoke(["-m", model, "-q", "--variants", EXAMPLES / "gosai_variants.tsv"])
    assert res.exit_code == 0, res.output
    eff = read_tsv(res.stdout).set_index("id")
    assert list(eff.index) == list(var["id"])
    rows = {i.rsplit(":", 2)[0] + ":" + i.split(":")[4]: s for i, s in zip(s2["IDs"], s2["sequence"])}
    pairs = [(v, rows[v + ":R"], rows[v + ":A"]) for v in var["id"] if v + ":R" in rows and v + ":A" in rows]
    assert len(pairs) == 3
    by_hand = _predict_table(model, [s for _, r, a in pairs for s in (r, a)])
    for k, (v, _, _) in enumerate(pairs):
        np.testing.assert_allclose([float(eff.loc[v, f"ref_{t}"]) for t in TARGETS], by_hand[2 * k], rtol=1e-5,
                                   atol=1e-6)
        np.testing.assert_allclose([float(eff.loc[v, f"alt_{t}"]) for t in TARGETS], by_hand[2 * k + 1], rtol=1e-5,
                                   atol=1e-6)


def test_bcf_gives_the_vcf_rows(model, effects, tmp_path):
    bcf = tmp_path / "v.bcf"
    vcf = tmp_path / "v.vcf"   # BCF needs every chromosome declared (a VCF does not)
    text = VCF.read_text().replace("##INFO", "##contig=<ID=chr1,length=1000>\n##INFO", 1)
    # htslib writes a symbolic <DEL> without END as a BCF record it cannot read back: leave it out
    vcf.write_text("".join(ln for ln in text.splitlines(keepends=True) if "<DEL>" not in ln))
    with pysam.VariantFile(str(vcf)) as src, pysam.VariantFile(str(bcf), "wb", header=src.header) as dst:
        for rec in src:
            dst.write(rec)
    res = invoke(["-m", model, "-q", "--variants", bcf, "--genome", GENOME])
    assert res.exit_code == 0, res.output
    assert read_tsv(res.stdout).equals(effects[0])


def test_a_model_reading_more_than_the_sequence_is_refused(model, monkeypatch):
    """A model trained with descfeat features cannot score variant windows, which have none."""
    import toolkit.train.serve as serve

    real = serve.load

    def with_features(*a, **kw):
        pred = real(*a, **kw)
        pred.features = {"spec": "feats.h5", "names": ["thermo_dG"]}
        return pred

    monkeypatch.setattr(serve, "load", with_features)
    res = invoke(["-m", model, "--variants", EXAMPLES / "gosai_variants.tsv"])
    assert res.exit_code == 1 and "reads more than the sequence" in res.output
