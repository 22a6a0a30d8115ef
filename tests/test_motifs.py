"""Motifs from attribution maps (toolkit.evaluate.motifs): TF-MoDISco clusters, Tomtom matches
to JASPAR 2024, and the three kinds of files written, checked against known answers.

The known answer is synthetic: random 200-nt sequences with JASPAR motifs planted, each instance
sampled base by base from the JASPAR matrix on a random strand: CTCF (MA0139.2) and REST
(MA0138.3) raising an additive score, TP53 (MA0106.3) lowering it, 200 sequences each, and 200
sequences with none. The ISM maps are exactly those of that score (a substitution changes it by
the planted matrix's log-odds difference between the new and the observed base; 0 outside the
sites) plus Gaussian noise. So every motif TF-MoDISco returns must be one of the planted ones,
matched by Tomtom to its JASPAR ID, and its seqlets must lie on that motif's planted sites.

Two slow tests train small fit-cre models and recover the planted motifs from their maps through
``predict --find-motifs``: on sequences whose activity is the presence of a planted CTCF site
(``--explain ism``, CTCF back), and on the bundled synthetic enhancer-promoter genome, whose
enhancers' presence in the cell lines' pair tables is decided by planted marker 10-mers
(``--explain saliency``, the four markers back, matched among the planted 10-mers and decoys).
"""

import math

import h5py
import numpy as np
import pytest

from conftest import read_tsv, run_cli
from toolkit.evaluate import motifs as M

PLANTED = {"MA0139.2": 1.0, "MA0138.3": 1.0, "MA0106.3": -1.0}   # JASPAR ID -> sign of its effect
N_EACH, N_NONE, L, MARGIN, NOISE = 200, 200, 200, 30, 0.1
FAST = {"leiden_runs": 10}   # 10 Leiden seeds instead of 50: the clusters here are unambiguous


def _planted_maps(seed=0):
    """Synthetic sequences and ISM maps with a known answer (see the module docstring).

    Returns (sequences list of str (n), maps float32 (n, 4, L), sites dict row -> (JASPAR ID,
    start, width, reverse))."""
    ids, _, mats = M.read_database(M.jaspar_path("vertebrates"))
    rng = np.random.default_rng(seed)
    n = N_EACH * len(PLANTED) + N_NONE
    codes = rng.integers(0, 4, (n, L))
    maps = np.zeros((n, 4, L))
    sites = {}
    rows = rng.permutation(n)
    for k, (mid, sign) in enumerate(PLANTED.items()):
        P = mats[ids.index(mid)].T
        P = (P + 1e-3) / (P + 1e-3).sum(axis=1, keepdims=True)
        W = sign * np.log2(P / 0.25)               # the score's weights: log-odds against a uniform background
        w = len(P)
        for r in rows[k * N_EACH:(k + 1) * N_EACH]:
            rev = bool(rng.random() < 0.5)
            Pk, Wk = (P[::-1, ::-1], W[::-1, ::-1]) if rev else (P, W)
            s = int(rng.integers(MARGIN, L - w - MARGIN))
            codes[r, s:s + w] = [rng.choice(4, p=row) for row in Pk]
            obs = codes[r, s:s + w]
            maps[r, :, s:s + w] = (Wk - Wk[np.arange(w), obs][:, None]).T   # mutant score - sequence score
            sites[int(r)] = (mid, s, w, rev)
    maps += rng.normal(0, NOISE, maps.shape)
    maps[np.arange(n)[:, None], codes, np.arange(L)[None, :]] = 0.0      # ISM is 0 at the observed base
    seqs = ["".join("ACGT"[c] for c in row) for row in codes]
    return seqs, maps.astype(np.float32), sites


def _write_maps(path, maps, ids, targets=("activity",), method="ism"):
    """An HDF5 file in the layout predict --explain writes (docs/formats.md): maps (n, T, 4, L)."""
    with h5py.File(path, "w") as h5:
        s = h5py.string_dtype("utf-8")
        h5.create_dataset("ids", data=np.array(ids, dtype=object), dtype=s)
        h5.create_dataset("targets", data=np.array(list(targets), dtype=object), dtype=s)
        h5.create_dataset(method, data=maps.astype(np.float32))
        h5.attrs["method"] = method
        h5.attrs["layout"] = "[sequence, task, base A C G T, position]"


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """The synthetic maps written as a predict --explain file and run through motifs_from_maps
    (sequences read off the ISM maps)."""
    seqs, maps, sites = _planted_maps()
    d = tmp_path_factory.mktemp("motifs")
    h5 = d / "maps.h5"
    _write_maps(h5, maps[:, None], [f"s{i}" for i in range(len(seqs))])
    run = M.motifs_from_maps(str(h5), str(d / "found"), **FAST)
    return {"seqs": seqs, "maps": maps, "sites": sites, "run": run, "dir": d, "h5": h5}


# ------------------------------------------------------------------------------------------------
# contributions, hand-worked


def test_ism_contributions_hand_worked_and_as_the_logos_draw_them():
    """At 'A' with deltas C 0.3, G -0.6, T 0.9 the observed base contributes -(0.3 - 0.6 + 0.9)/3
    = -0.2 (as predict --plot's logos); a hypothetical base gets its delta minus the mean of the
    other three: C 0.3 - (0 - 0.6 + 0.9)/3 = 0.2, G -0.6 - 0.4 = -1.0, T 0.9 - (-0.1) = 1.0."""
    from toolkit.evaluate.plots import contribution_scores

    att = np.array([[0.0, 0.5, 0.1, 0.0],      # A
                    [0.3, 0.0, 0.2, 0.0],      # C
                    [-0.6, 0.4, 0.0, 0.0],     # G
                    [0.9, -0.3, 0.6, 0.0]])    # T   (last position: N, all zero)
    h = M.hypothetical_contributions(att[None], "ism")[0]          # (L, 4)
    assert np.allclose(h[0], [-0.2, 0.2, -1.0, 1.0])
    x = M.reference_from_ism(att[None])[0]
    assert x.tolist() == [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0]]   # ACG then no base
    assert np.allclose((x * h).T, contribution_scores("ACGN", att, "ism"))
    xs, hs = M.attribution_tracks(att[None], "saliency", ["TGCA"])
    assert np.allclose(hs[0], att.T) and np.allclose((xs * hs)[0].T, contribution_scores("TGCA", att, "saliency"))
    with pytest.raises(ValueError, match="pass the sequences"):
        M.attribution_tracks(att[None], "ig")


def test_sequences_are_read_as_the_model_reads_them():
    """Short sequences N-padded on both sides (the extra N on the right), long ones centre-cropped,
    lowercase accepted, other letters no base."""
    x = M.onehot(["ac", "GGTTACG", "ANT"], 5)
    assert ["".join("ACGT"[k] if row.any() else "N" for k, row in zip(r.argmax(1), r)) for r in x] == \
        ["NACNN", "GTTAC", "NANTN"]


def test_reference_read_off_the_ism_maps_is_the_sequence(planted):
    x = M.reference_from_ism(planted["maps"])
    assert np.array_equal(x, M.onehot(planted["seqs"], L))


def test_each_planted_motif_is_its_own_cluster_matched_to_its_jaspar_id(planted):
    run = planted["run"]
    assert run.message is None and run.n_sequences == len(planted["seqs"]) and run.targets == ["activity"]
    best = [ms[0] for ms in run.matches]
    summary = [(m.name, m.n_seqlets, b.id, b.name, f"{b.qvalue:.2g}") for m, b in zip(run.motifs, best)]
    # the positive patterns: CTCF and REST, each its own cluster; the top one (most seqlets) one of them
    pos = {b.id: m for m, b in zip(run.motifs, best) if m.sign == "pos"}
    assert [m.sign for m in run.motifs][0] == "pos" and best[0].id in ("MA0139.2", "MA0138.3"), summary
    assert sorted(pos) == ["MA0138.3", "MA0139.2"] and len(pos) == sum(m.sign == "pos" for m in run.motifs), summary
    # the negative ones: TP53 (a palindrome: modisco may keep its two orientations apart)
    assert {b.id for m, b in zip(run.motifs, best) if m.sign == "neg"} == {"MA0106.3"}, summary
    for m, b in zip(run.motifs, best):
        assert b.qvalue < 1e-6 and b.pvalue <= b.qvalue <= b.evalue, summary
    # nearly every planted instance is a seqlet of its motif (200 planted per motif)
    for mid in PLANTED:
        n = sum(m.n_seqlets for m, b in zip(run.motifs, best) if b.id == mid)
        assert 0.75 * N_EACH <= n <= N_EACH, (mid, n, summary)
    assert run.n_seqlets == sum(m.n_seqlets for m in run.motifs)
    assert "matched in JASPAR2024_CORE_vertebrates" in run.text


def test_seqlets_lie_on_the_planted_sites_in_tomtoms_alignment(planted):
    """Each seqlet overlaps a planted site of its motif; for the asymmetric motifs (CTCF, REST) the
    seqlet's strand combined with Tomtom's strand is the planted strand, and the motif's first
    position lies Tomtom's offset into the planted JASPAR matrix."""
    run, sites = planted["run"], planted["sites"]
    for m, ms in zip(run.motifs, run.matches):
        b = ms[0]
        assert m.seqlets.shape == (m.n_seqlets, 4) and m.width == m.ppm.shape[0] == m.cwm.shape[0]
        on = [sites.get(int(r), ("",))[0] == b.id and a < sites[int(r)][1] + sites[int(r)][2] and sites[int(r)][1] < e
              for r, a, e, _ in m.seqlets]
        assert np.mean(on) >= 0.95, (m.name, np.mean(on))
        if b.id == "MA0106.3":
            continue
        agree = []
        for r, a, e, rc in m.seqlets:
            mid, s, w, rev = sites.get(int(r), ("", 0, 0, False))
            if mid != b.id:
                continue
            # the sequence position of the motif's first column, and of the Tomtom-aligned column
            # (``offset``) of the strand-oriented JASPAR matrix, read in the same direction
            first = a if not rc else e - 1
            forward_column = b.offset if b.strand == "+" else w - 1 - b.offset
            aligned = s + forward_column if not rev else s + w - 1 - forward_column
            agree.append((bool(rc) ^ (b.strand == "-")) == rev and first == aligned)
        assert np.mean(agree) >= 0.95, (m.name, np.mean(agree))


def test_sequences_given_or_read_off_the_maps_give_the_same_tracks(planted):
    seqs, maps = planted["seqs"][:50], planted["maps"][:50]
    a = M.attribution_tracks(maps, "ism")
    b = M.attribution_tracks(maps, "ism", seqs)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])


# ------------------------------------------------------------------------------------------------
# the files


def test_meme_table_and_logos_read_back(planted):
    """PREFIX.meme parsed by memelite's reader (independent of the writer) gives the motifs'
    PPMs; PREFIX.tsv has the documented columns and the run's values; each logo is a PNG."""
    from memelite.io import read_meme

    run, d = planted["run"], planted["dir"]
    prefix = str(d / "found")
    assert run.files[:2] == [prefix + ".meme", prefix + ".tsv"]
    meme = read_meme(prefix + ".meme")
    assert list(meme) == [f"{m.name} activity" for m in run.motifs]
    for m, pwm in zip(run.motifs, meme.values()):
        assert pwm.shape == (4, m.width) and np.allclose(pwm.T, m.ppm, atol=1e-6)
        assert np.allclose(pwm.sum(axis=0), 1, atol=1e-5)
    tsv = read_tsv(d / "found.tsv")
    assert list(tsv.columns) == M.TABLE_COLUMNS + [f"match{k}_{c}" for k in (2, 3) for c in ("id", "name", "qvalue")]
    assert tsv["motif"].tolist() == [m.name for m in run.motifs]
    assert tsv["n_seqlets"].astype(int).tolist() == [m.n_seqlets for m in run.motifs]
    assert tsv["match_id"].tolist() == [ms[0].id for ms in run.matches]
    assert np.allclose(tsv["match_qvalue"].astype(float), [ms[0].qvalue for ms in run.matches], rtol=1e-3)
    assert set(tsv["sign"]) == {"pos", "neg"} and set(tsv["match_strand"]) <= {"+", "-"}
    logos = run.files[2:]
    assert logos == [f"{prefix}_{m.name}.png" for m in run.motifs]
    for path in logos:
        with open(path, "rb") as fh:
            assert fh.read(8) == b"\x89PNG\r\n\x1a\n"


def test_writers_without_a_match(tmp_path):
    """A motif with no database match: empty ID and name, NaN numbers; the logo has no match panel."""
    ppm = np.eye(4)[[0, 1, 2, 3, 3]].astype(float)
    m = M.Motif(name="pos_0", sign="pos", ppm=ppm, cwm=ppm * 0.5, hcwm=ppm * 0.5, n_seqlets=42,
                seqlets=np.zeros((42, 4), dtype=np.int64), target="HepG2 l2fc")
    files = M.write_motifs(str(tmp_path / "one"), [m], [[]])
    tsv = read_tsv(tmp_path / "one.tsv")
    row = tsv.iloc[0]
    assert (row["motif"], row["target"], row["n_seqlets"], row["width"], row["consensus"]) == \
        ("pos_0", "HepG2 l2fc", "42", "5", "ACGTT")
    assert row["match_id"] == "" and row["match_qvalue"] == "NaN" and row["match2_qvalue"] == "NaN"
    assert "MOTIF pos_0 HepG2_l2fc" in (tmp_path / "one.meme").read_text()
    assert (tmp_path / "one_pos_0.png").read_bytes()[:4] == b"\x89PNG" and len(files) == 3


def test_too_little_signal_is_a_message_not_a_crash(tmp_path):
    """Noise-only maps of a few sequences, and maps shorter than a seqlet: no motif, a message
    saying why, header-only files."""
    rng = np.random.default_rng(5)
    maps = rng.normal(0, 0.1, (20, 1, 4, 100)).astype(np.float32)
    codes = rng.integers(0, 4, (20, 100))
    maps[np.arange(20)[:, None], 0, codes, np.arange(100)[None, :]] = 0
    _write_maps(tmp_path / "few.h5", maps, [f"r{i}" for i in range(20)])
    run = M.motifs_from_maps(str(tmp_path / "few.h5"), str(tmp_path / "few"), **FAST)
    assert run.motifs == [] and "found no motif" in run.message and "more than 100 seqlets" in run.message
    assert "headers only" in run.text
    assert (tmp_path / "few.tsv").read_text().count("\n") == 1
    assert (tmp_path / "few.meme").read_text().startswith("MEME version 4") and len(run.files) == 2
    _write_maps(tmp_path / "short.h5", maps[:, :, :, :30], [f"r{i}" for i in range(20)])
    run = M.motifs_from_maps(str(tmp_path / "short.h5"), str(tmp_path / "short"))
    assert run.motifs == [] and "shorter than a seqlet" in run.message


def test_bad_inputs_are_clear_errors(tmp_path):
    maps = np.zeros((3, 2, 4, 50), dtype=np.float32)
    _write_maps(tmp_path / "m.h5", maps, ["a", "b", "c"], targets=("K562", "HepG2"), method="saliency")
    with pytest.raises(ValueError, match="target 'WTC11' is not in .* K562, HepG2"):
        M.motifs_from_maps(str(tmp_path / "m.h5"), str(tmp_path / "o"), target="WTC11")
    with pytest.raises(ValueError, match="pass the sequences"):
        M.motifs_from_maps(str(tmp_path / "m.h5"), str(tmp_path / "o"))
    with pytest.raises(ValueError, match="have no sequence"):
        M.motifs_from_maps(str(tmp_path / "m.h5"), str(tmp_path / "o"), sequences={"a": "ACGT"})
    with pytest.raises(FileNotFoundError):
        M.motifs_from_maps(str(tmp_path / "m.h5"), str(tmp_path / "o"), sequences=["A", "C", "G"],
                           jaspar=str(tmp_path / "none.meme"))
    assert M.jaspar_path("insects").endswith("JASPAR2024_CORE_insects_non-redundant_pfms.meme")
    ids, names, mats = M.read_database(M.jaspar_path("insects"))
    assert len(ids) == len(names) == len(mats) == 286 and all(m.shape[0] == 4 for m in mats)


# ------------------------------------------------------------------------------------------------
# a trained model


@pytest.mark.slow
def test_a_trained_models_ism_maps_give_back_the_planted_motif(tmp_path):
    """A small fit-cre model learns activity = 2 x (a CTCF site sampled from MA0139.2 is present)
    + noise on 2,000 random 100-nt sequences; predict --explain ism on 300 held-out sequences (200
    with a site) gives maps from which motifs_from_maps recovers CTCF, matched to MA0139.2, its
    seqlets on the planted sites."""
    from click.testing import CliRunner

    from toolkit.cli.fit_cre import cli as fit_cli

    ids, _, mats = M.read_database(M.jaspar_path("vertebrates"))
    P = mats[ids.index("MA0139.2")].T
    P = P / P.sum(axis=1, keepdims=True)
    w, length = len(P), 100
    rng = np.random.default_rng(1)

    def make(n, every):
        """n (sequence, activity, site start or None); every ``every``-th sequence has no site. Sites
        start 30 to 55 nt in (centred 37 to 62), clear of the ends TF-MoDISco drops."""
        out = []
        for i in range(n):
            s = rng.integers(0, 4, length)
            start = None
            if i % every != 0:
                Pk = P[::-1, ::-1] if rng.random() < 0.5 else P
                start = int(rng.integers(30, 56))
                s[start:start + w] = [rng.choice(4, p=row) for row in Pk]
            out.append(("".join("ACGT"[c] for c in s), 2.0 * (start is not None) + rng.normal(0, 0.3), start))
        return out

    train = make(2000, 2)
    split = ["train"] * 1700 + ["val"] * 300
    table = "id\tsequence\tactivity\tsplit\n" + "".join(
        f"t{i}\t{s}\t{y:.4f}\t{k}\n" for i, ((s, y, _), k) in enumerate(zip(train, split)))
    model = tmp_path / "cre"
    res = CliRunner().invoke(fit_cli, ["-o", model, "--targets", "activity", "--preset", "cpu", "--epochs", "4",
                                       "--ensemble", "1", "--length", str(length), "--no-baseline", "-q"],
                             input=table, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    held = make(300, 3)                                   # 200 of 300 with a site
    res = run_cli("predict", ["-m", model, "--no-rc-average", "--explain", "ism", "-e", tmp_path / "maps.h5",
                              "-o", tmp_path / "pred.tsv", "--find-motifs", tmp_path / "cli"],
                  input="id\tsequence\n" + "".join(f"h{i}\t{s}\n" for i, (s, _, _) in enumerate(held)))
    assert res.exit_code == 0, res.output
    pred = read_tsv(tmp_path / "pred.tsv")["pred_activity"].astype(float).to_numpy()
    assert np.corrcoef(pred, [y for _, y, _ in held])[0, 1] > 0.6                 # the model learned the site
    with h5py.File(tmp_path / "maps.h5") as h5:
        maps = h5["ism"][:, 0]
    x = M.reference_from_ism(maps)
    assert (x == M.onehot([s for s, _, _ in held], length)).all(axis=2).mean() > 0.999
    run = M.motifs_from_maps(str(tmp_path / "maps.h5"), str(tmp_path / "found"), **FAST)
    assert run.motifs, run.message
    top, best = run.motifs[0], run.matches[0][0]
    assert top.sign == "pos" and best.id == "MA0139.2" and best.qvalue < 1e-6, run.table.to_string()
    assert 40 <= top.n_seqlets <= 200 and not math.isnan(best.pvalue), run.table.to_string()
    on = [held[r][2] is not None and a < held[r][2] + w and held[r][2] < e for r, a, e, _ in top.seqlets]
    assert np.mean(on) >= 0.9, np.mean(on)
    assert read_tsv(tmp_path / "found.tsv")["match_id"].iloc[0] == "MA0139.2"
    # predict --find-motifs: the same maps through the command line, modisco's default settings
    cli = read_tsv(tmp_path / "cli.tsv")
    assert cli["match_id"].iloc[0] == "MA0139.2" and float(cli["match_qvalue"].iloc[0]) < 1e-6, cli.to_string()
    assert "motifs:" in res.stderr and (tmp_path / "cli.meme").exists()


def _planted_meme(path, named, n_decoys=20, seed=0):
    """Write a MEME (version 4) file of 10-mers: ``named`` (name -> 10-mer) and ``n_decoys``
    random 10-mers (``decoy<i>``; none equal to a named one on either strand), each a PPM with
    0.97 on its base and 0.01 on the others. With 25 or more motifs Tomtom's p-values (which use
    the database's columns as background) are reliable."""
    comp = str.maketrans("ACGT", "TGCA")
    rng = np.random.default_rng(seed)
    motifs = dict(named)
    taken = {m for s in named.values() for m in (s, s.translate(comp)[::-1])}
    while len(motifs) < len(named) + n_decoys:
        s = "".join(rng.choice(list("ACGT"), 10))
        if s not in taken and s.translate(comp)[::-1] not in taken and max(s.count(b) for b in "ACGT") <= 5:
            taken |= {s, s.translate(comp)[::-1]}
            motifs[f"decoy{len(motifs) - len(named)}"] = s
    lines = ["MEME version 4", "", "ALPHABET= ACGT", "", "strands: + -", "",
             "Background letter frequencies", "A 0.25 C 0.25 G 0.25 T 0.25", ""]
    for name, s in motifs.items():
        lines += [f"MOTIF {name} {s}", f"letter-probability matrix: alength= 4 w= {len(s)} nsites= 20 E= 0"]
        lines += [" ".join("0.970" if b == c else "0.010" for b in "ACGT") for c in s] + [""]
    path.write_text("\n".join(lines))
    return motifs


@pytest.mark.slow
def test_the_synthetic_ep_genomes_planted_motifs_come_back(tmp_path):
    """Synthetic data with a known answer: the bundled enhancer-promoter genome
    (share/examples/ep, make_synthetic_ep.py). Every enhancer there has 10-mers planted within
    150 nt of its centre: the enhancer motif a_k of program k with probability 0.1 and the marker
    m_k with probability 0.2 (k = 0..3). In each of the six cell lines an enhancer enters the pair
    table with probability 0.05 + 0.8 [it holds a marker of one of the line's two programs], and
    nothing else decides it. So the target here, the number of cell lines whose table holds the
    enhancer (0 to 6; an enhancer in no table is one of the genome's slots, every spacing bp,
    that holds no enhancer or promoter of the pair table), is raised by the four markers and by
    no other motif: the enhancer motifs (as frequent, planted the same way) only matter to the
    pair labels, and the promoter motifs are not in enhancers.

    A fit-cre model (cpu preset, 1 network, 2 epochs) learns it from 360-nt windows around the
    enhancers of chr1-5 (chr6 for validation); predict --explain saliency --find-motifs on the
    800 windows of chr7-8 must give the four markers back as the four largest pos motifs, each
    matched by Tomtom to its own marker (q < 0.01) among the 12 planted 10-mers and 20 random
    decoys, with a consensus that is the marker's, and no motif matched best to anything but a
    marker."""
    import json

    import pandas as pd

    from conftest import EXAMPLES

    ep = EXAMPLES / "ep"
    grammar = json.loads((ep / "synthetic_ep_grammar.json").read_text())
    planted = {f"prog{k}_{kind.split('_')[0]}": s for k, prog in grammar["programs"].items()
               for kind, s in prog.items()}                       # prog0_enhancer, prog0_promoter, prog0_marker, ...
    markers = {n for n in planted if n.endswith("_marker")}
    motifs = _planted_meme(tmp_path / "planted.meme", planted)
    pairs = pd.read_csv(ep / "synthetic_ep_pairs.csv.gz")
    pairs["centre"] = (pairs["enhancer_start"] + pairs["enhancer_end"]) // 2
    cells = pairs.groupby(["enhancer_chrom", "centre"])["cell"].nunique()
    promoters = set(zip(pairs["promoter_chrom"], (pairs["promoter_start"] + pairs["promoter_end"]) // 2))
    size = grammar["sizes"]
    slots = [(f"chr{c + 1}", size["flank"] + size["spacing"] * j + size["spacing"] // 2)
             for c in range(size["chromosomes"])
             for j in range(size["enhancers_per_chrom"] + size["promoters_per_chrom"])]
    enhancers = [(c, x, int(cells.get((c, x), 0))) for c, x in slots if (c, x) not in promoters]
    assert len(enhancers) == size["chromosomes"] * size["enhancers_per_chrom"]       # every promoter is paired
    bed = "".join(f"{c}\t{x}\t{x + 1}\t{c}_{x}\n" for c, x, _ in enhancers)
    res = run_cli("seqqc", ["--format", "bed", "--genome", ep / "synthetic_ep_genome.fa.bgz", "--length", 360, "-q"],
                  input=bed)                                       # windows [centre - 180, centre + 180)
    assert res.exit_code == 0, res.output
    win = read_tsv(res.stdout).set_index("id")
    target = {f"{c}_{x}": n for c, x, n in enhancers}
    split = {"chr6": "val", "chr7": "test", "chr8": "test"}
    table = pd.DataFrame({"id": win.index, "sequence": win["sequence"], "cells": [target[i] for i in win.index],
                          "split": [split.get(c, "train") for c in win["chrom"]]})
    assert len(table) == 3200 and (table["split"] == "test").sum() == 800
    res = run_cli("fit-cre", ["-o", tmp_path / "cre", "--targets", "cells", "--preset", "cpu", "--epochs", 2,
                              "--ensemble", 1, "--length", 360, "--no-baseline", "-q"],
                  input=table.to_csv(sep="\t", index=False))
    assert res.exit_code == 0, res.output
    test = table[table["split"] == "test"]
    res = run_cli("predict", ["-m", tmp_path / "cre", "--explain", "saliency", "-e", tmp_path / "sal.h5",
                              "-o", tmp_path / "pred.tsv", "--find-motifs", tmp_path / "found",
                              "--motifs", tmp_path / "planted.meme"],
                  input=test[["id", "sequence"]].to_csv(sep="\t", index=False))
    assert res.exit_code == 0, res.output
    pred = read_tsv(tmp_path / "pred.tsv")["pred_cells"].astype(float).to_numpy()
    assert np.corrcoef(pred, test["cells"])[0, 1] > 0.6                               # the model learned the markers
    found = read_tsv(tmp_path / "found.tsv")
    shown = found.iloc[:, :11].to_string()
    pos = found[found["sign"] == "pos"].assign(n=lambda d: d["n_seqlets"].astype(int)).sort_values("n", ascending=False)
    top = pos.head(4)
    assert set(top["match_id"]) == markers, shown                                      # each marker, once
    assert (top["match_qvalue"].astype(float) < 0.01).all() and (top["n"] >= 50).all(), shown
    comp = str.maketrans("ACGT", "TGCA")
    for cons, mid in zip(top["consensus"], top["match_id"]):
        s = motifs[mid]
        assert any(c in t for c in (cons, cons[1:], cons[:-1]) for t in (s, s.translate(comp)[::-1])), shown
    assert found["match_id"].isin(markers).all(), shown                               # no enhancer motif, no decoy
    assert "motifs:" in res.stderr and (tmp_path / "found.meme").exists()


# ----------------------------------------------------------------------------- predict --find-motifs

@pytest.fixture(scope="module")
def quick_model(tmp_path_factory):
    """fit-cre, cpu preset, one epoch, one member, 64-nt windows, on 300 rows of the bundled
    lentiMPRA table: for the command line's wiring, not for motifs."""
    from click.testing import CliRunner

    from conftest import EXAMPLES
    from toolkit.cli.fit_cre import cli as fit_cli

    qc = run_cli("seqqc", [EXAMPLES / "lentimpra_joint_3cell.csv.gz", "-q"])
    df = read_tsv(run_cli("dgsplit", ["-q"], input=qc.stdout).stdout).head(300)
    out = tmp_path_factory.mktemp("m") / "cre"
    res = CliRunner().invoke(fit_cli, [str(a) for a in ["-o", out, "--targets", "HepG2_l2fc,K562_l2fc", "--preset",
                                                        "cpu", "--epochs", "1", "--ensemble", "1", "--length", 64,
                                                        "--no-baseline", "-q"]],
                             input=df.to_csv(sep="\t", index=False), catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return out, df["sequence"].tolist()[:24]


def _table(seqs):
    return "id\tsequence\n" + "".join(f"s{i}\t{s}\n" for i, s in enumerate(seqs))


def test_find_motifs_gets_the_maps_file_and_the_explained_sequences_in_order(quick_model, tmp_path, monkeypatch):
    model, seqs = quick_model
    seen = {}

    def fake(h5_path, prefix, sequences=None, jaspar="vertebrates", **kw):
        with h5py.File(h5_path) as h5:                    # the maps file is complete when motifs are sought
            seen["ids"] = list(h5["ids"].asstr()[:])
        seen.update(prefix=prefix, sequences=list(sequences), jaspar=jaspar)
        return M.MotifRun(motifs=[], matches=[], table=None, files=[], n_sequences=len(sequences), targets=[],
                          method="saliency", n_seqlets=0, message="nothing here", text="motifs: none")

    monkeypatch.setattr(M, "motifs_from_maps", fake)
    res = run_cli("predict", ["-m", model, "--explain", "saliency", "-e", tmp_path / "m.h5", "--chunk-rows", 7,
                              "--find-motifs", tmp_path / "found", "--motifs", "insects", "-o", tmp_path / "p.tsv"],
                  input=_table(seqs))
    assert res.exit_code == 0, res.output
    assert seen["ids"] == [f"s{i}" for i in range(len(seqs))] and seen["sequences"] == seqs
    assert seen["prefix"] == str(tmp_path / "found") and seen["jaspar"] == "insects"
    assert "--find-motifs: nothing here" in res.stderr


def test_find_motifs_with_too_few_sequences_warns_and_writes_headers(quick_model, tmp_path):
    model, seqs = quick_model
    res = run_cli("predict", ["-m", model, "--explain", "saliency", "-e", tmp_path / "m.h5", "--find-motifs",
                              tmp_path / "found", "-o", tmp_path / "p.tsv"], input=_table(seqs))
    assert res.exit_code == 0, res.output
    assert "--find-motifs:" in res.stderr
    assert read_tsv(tmp_path / "found.tsv").empty and "motif" in (tmp_path / "found.tsv").read_text()


@pytest.mark.parametrize("args, needle", [
    (["--find-motifs", "x"], "--explain"),
    (["--explain", "ism", "-e", "m.h5", "--motifs", "insects"], "--find-motifs"),
    (["--explain", "ism", "-e", "m.h5", "--find-motifs", "x", "--motifs", "no/such.meme"], "--motifs"),
])
def test_find_motifs_usage_errors(quick_model, tmp_path, args, needle):
    model, seqs = quick_model
    res = run_cli("predict", ["-m", model, *[tmp_path / a if a.endswith(".h5") else a for a in args]],
                  input=_table(seqs[:2]))
    assert res.exit_code == 2 and needle in res.output


def test_find_motifs_with_a_file_that_is_not_meme_is_an_input_error(quick_model, tmp_path):
    model, seqs = quick_model
    bad = tmp_path / "bad.meme"
    bad.write_text("not a motif file\n")
    res = run_cli("predict", ["-m", model, "--explain", "saliency", "-e", tmp_path / "m.h5", "--find-motifs",
                              tmp_path / "found", "--motifs", bad, "-o", tmp_path / "p.tsv"], input=_table(seqs))
    assert res.exit_code == 1 and "MEME" in res.stderr and str(bad) in res.stderr
