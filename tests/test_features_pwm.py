"""pwm family and motif loading: JASPAR 2024 lists, motif files, scores, metrics, invariants."""

import itertools
import math

import numpy as np
import pytest

from conftest import DATA, REPO, read_tsv
from toolkit.errors import InputError
from toolkit.features import motifs as M
from toolkit.features import pwm
from toolkit.seq import reverse_complement

MEME_VERT = REPO / "share" / "motifs" / "JASPAR2024_CORE_vertebrates_non-redundant_pfms.meme"
MEME_INS = REPO / "share" / "motifs" / "JASPAR2024_CORE_insects_non-redundant_pfms.meme"
RT = 8.314462618 / 4184.0 * 310.0  # kcal/mol


@pytest.fixture(scope="module")
def real_seqs():
    return read_tsv(DATA / "lentimpra_HepG2_400.tsv")["seq"].tolist()


@pytest.fixture(scope="module")
def hepg2():
    return M.cell_type_motifs("HepG2")


def _by_id(motifs, *ids):
    d = {m.matrix_id: m for m in motifs}
    return [d[i] for i in ids]


# ---------------------------------------------------------------- motif lists (offline JASPAR2024)

@pytest.mark.parametrize("cell,n", [("HepG2", 34), ("K562", 31), ("WTC11", 34)])
def test_every_listed_id_resolves_offline_as_written(cell, n):
    db = M._jaspar()
    listed = M.CELL_TYPE_IDS[cell]
    assert len(listed) == n and len({i for i, _ in listed}) == n
    got = M.cell_type_motifs(cell)
    assert [m.matrix_id for m in got] == [i for i, _ in listed]  # no version substituted
    for (mid, label), m in zip(listed, got):
        jm = db.fetch_motif_by_id(mid)
        assert jm is not None and jm.collection == "CORE", mid
        assert db.fetch_motif_by_id(mid.split(".")[0]).matrix_id == mid  # it is the latest version
        assert m.name == label and m.note == ""
        assert m.counts.shape == (len(jm), 4)
        assert np.array_equal(m.counts[:, 0], np.asarray(jm.counts["A"], dtype=float))


def test_missing_version_falls_back_to_latest_and_says_so():
    m = M.fetch_by_id("MA0139.99", "CTCF")  # no such version
    assert m.matrix_id == "MA0139.2" and "MA0139.99" in m.note


def test_s2_names_resolve_in_insects_core():
    got = M.cell_type_motifs("S2")
    assert len(got) == 13
    assert {m.name: m.matrix_id for m in got} == M.S2_RESOLVED
    db = M._jaspar()
    insects = db.fetch_motifs(collection="CORE", tax_group=["insects"], all_versions=False)
    for _, jname in M.S2:
        ids = sorted(m.matrix_id for m in insects if m.name == jname)
        assert M.S2_RESOLVED[jname] in ids, jname
        assert len(ids) == 1 or jname in M.S2_CHOICE  # only SREBP has variants
    assert sorted(m.matrix_id for m in insects if m.name == "SREBP") == ["MA2281.1", "MA2282.1"]


# ---------------------------------------------------------------- motif files

def test_meme_file_parses_and_matches_jaspar(hepg2):
    vert = M.read_motif_file(MEME_VERT)
    assert len(vert) == 879 and len(M.read_motif_file(MEME_INS)) == 286
    by_id = {m.matrix_id: m for m in vert}
    for m in _by_id(hepg2, "MA0139.2", "MA0099.4", "MA0114.5"):
        f = by_id[m.matrix_id]
        assert f.name == m.jaspar_name and f.length == m.length
        assert np.allclose(f.probabilities, m.probabilities, atol=1e-6)  # the file prints 6 decimals
    # the non-redundant file repeats some TF names: columns stay unique through the matrix ID
    labels = pwm.column_labels(vert)
    assert len(set(labels)) == len(labels)
    assert "FOS__JUN_MA0099_4" in labels


def test_jaspar_format_parses(tmp_path, hepg2):
    ctcf, fosjun = _by_id(hepg2, "MA0139.2", "MA0099.4")
    text = ""
    for m in (ctcf, fosjun):
        text += f">{m.matrix_id}\t{m.jaspar_name}\n"
        for b, col in zip("ACGT", m.counts.T):
            text += f"{b}  [ " + " ".join(f"{v:g}" for v in col) + " ]\n"
    path = tmp_path / "two.jaspar"
    path.write_text(text)
    got = M.read_motif_file(path)
    assert [(g.matrix_id, g.name) for g in got] == [("MA0139.2", "CTCF"), ("MA0099.4", "FOS::JUN")]
    assert np.array_equal(got[0].counts, ctcf.counts) and np.array_equal(got[1].counts, fosjun.counts)
    # the bare .pfm layout: four rows of numbers without letters or brackets
    pfm = tmp_path / "one.pfm"
    pfm.write_text(">MA0099.4 FOS::JUN\n" + "\n".join(" ".join(f"{v:g}" for v in col) for col in fosjun.counts.T))
    assert np.array_equal(M.read_motif_file(pfm)[0].counts, fosjun.counts)


def test_bad_motif_files_raise_input_error(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("hello\nworld\n")
    with pytest.raises(InputError):
        M.read_motif_file(bad)
    short = tmp_path / "short.meme"
    short.write_text("MEME version 4\n\nMOTIF X y\nletter-probability matrix: alength= 4 w= 3 nsites= 5\n"
                     "0.25 0.25 0.25 0.25\n0.1 0.2 0.3 0.4\n")
    with pytest.raises(InputError, match="w= 3"):
        M.read_motif_file(short)
    with pytest.raises(InputError):
        M.read_motif_file(tmp_path / "missing.meme")


# ---------------------------------------------------------------- names and counts

def test_descriptor_names_and_count(hepg2):
    ds = pwm.descriptors(None, motifs=hepg2)
    names = [d.name for d in ds]
    # the document says 277 for HepG2; its 8 metrics less mean_score (G+C content in disguise):
    # 34 x 7 per-TF + 3 x 7 aggregates + best_tf = 260
    assert pwm.WRITTEN_METRICS == tuple(m for m in pwm.METRICS if m != "mean_score")
    assert len(ds) == 34 * 7 + 3 * 7 + 1 == 260
    assert not any(n.endswith("_mean_score") for n in names)
    assert len(set(names)) == len(names) and all(n.startswith("pwm_") for n in names)
    assert all(d.family == "pwm" and d.unit and d.formula and d.source for d in ds)
    assert names[:7] == [f"pwm_CREB1_{m}" for m in pwm.WRITTEN_METRICS]
    assert "pwm_FOS__JUN_max_score" in names and "pwm_Nr1h3__Rxra_delta_g" in names
    assert names[-1] == "pwm_best_tf" and "pwm_max_max_score" in names and "pwm_sum_top_k_mean" in names
    assert "17 CTCF" in ds[-1].formula
    for cell, k in [("K562", 31), ("WTC11", 34), ("S2", 13)]:
        assert len(pwm.descriptors(None, motifs=M.cell_type_motifs(cell))) == 7 * k + 22


# ---------------------------------------------------------------- scores

def _pure_lod(counts):
    """Log-odds in bits, pure Python: p = (c + 0.8 * 0.25) / (N + 0.8), log2(p / 0.25)."""
    out = []
    for row in counts.tolist():
        n = sum(row)
        out.append({b: math.log2((c + 0.2) / (n + 0.8) / 0.25) for b, c in zip("ACGT", row)})
    return out


def _pure_max(seq, lod):
    comp = {"A": "T", "C": "G", "G": "C", "T": "A"}
    L = len(lod)
    best = -math.inf
    for i in range(len(seq) - L + 1):
        w = seq[i:i + L]
        if "N" in w:
            continue
        fwd = sum(lod[j][w[j]] for j in range(L))
        rc = "".join(comp[c] for c in reversed(w))
        rev = sum(lod[j][rc[j]] for j in range(L))
        best = max(best, fwd, rev)
    return best


def test_max_score_equals_pure_python_scan(real_seqs, hepg2):
    ms = _by_id(hepg2, "MA0139.2", "MA0099.4", "MA0114.5", "MA0079.5")
    seqs = real_seqs[:15] + [real_seqs[15][:100] + "N" + real_seqs[15][101:]]
    X = pwm.compute(seqs, None, motifs=ms)
    for k, m in enumerate(ms):
        lod = _pure_lod(m.counts)
        want = [_pure_max(s, lod) for s in seqs]
        assert np.allclose(X[:, 7 * k], want, rtol=0, atol=1e-9), m.name


def test_fit_cre_motif_prior_is_each_motifs_best_score(real_seqs, hepg2):
    """fit-cre's motif prior (one column per motif) against the pure-Python scan: it picked
    every 8th pwm column and broke when the pwm family's columns per motif changed."""
    from toolkit.train.side import motif_prior

    ms = _by_id(hepg2, "MA0139.2", "MA0099.4", "MA0114.5", "MA0079.5")
    seqs = real_seqs[:10]
    X = motif_prior(seqs, ms)
    assert X.shape == (len(seqs), len(ms))
    for k, m in enumerate(ms):
        lod = _pure_lod(m.counts)
        assert np.allclose(X[:, k], [_pure_max(s, lod) for s in seqs], rtol=0, atol=1e-5), m.name


def test_planted_consensus_scores_the_maximum_at_its_position(hepg2):
    # synthetic: a random uniform background sequence with CTCF's consensus planted
    rng = np.random.default_rng(7)
    ctcf = _by_id(hepg2, "MA0139.2")[0]
    lod = pwm.log_odds(ctcf.counts)
    cons = "".join("ACGT"[i] for i in lod.argmax(axis=1))
    top = lod.max(axis=1).sum()
    seq = list("".join(rng.choice(list("ACGT"), 230)))
    seq[60:60 + len(cons)] = cons
    seq[150:150 + len(cons)] = reverse_complement(cons)
    seq = "".join(seq)
    s = pwm.site_scores([seq], [ctcf])[0][0]   # (2, W)
    assert s[0, 60] == pytest.approx(top, abs=1e-9) and s[1, 150] == pytest.approx(top, abs=1e-9)
    assert np.nanmax(s) == pytest.approx(top, abs=1e-9)
    X = pwm.compute([seq], None, motifs=[ctcf])
    assert X[0, 0] == pytest.approx(top, abs=1e-9)
    assert X[0, 2] >= 2  # num_high_affinity: both planted sites pass p < 1e-4


def test_hand_worked_two_position_motif():
    # synthetic motif "AC" from counts A=8 at position 1, C=8 at position 2 (N = 8):
    #   match p = (8 + 0.2) / 8.8 = 0.931818 -> log2(0.931818 / 0.25) = +1.898120 bits
    #   other p = 0.2 / 8.8 = 0.022727      -> log2(0.022727 / 0.25) = -3.459432 bits
    # reverse-complement matrix is "GT". Sequence ACGT, windows AC, CG, GT:
    #   forward  AC = 3.796240, CG = -6.918863, GT = -6.918863
    #   reverse  AC = -6.918863, CG = -6.918863, GT = 3.796240
    motif = M.Motif("AC", "SYN.1", np.array([[8.0, 0, 0, 0], [0, 8.0, 0, 0]]))
    hi, lo = 2 * math.log2(8.2 / 8.8 / 0.25), 2 * math.log2(0.2 / 8.8 / 0.25)
    assert hi == pytest.approx(3.796240, abs=1e-6) and lo == pytest.approx(-6.918863, abs=1e-6)
    sites = [hi, lo, lo, lo, lo, hi]
    z = 2 * 2 ** hi + 4 * 2 ** lo                                # total weight
    ent = -sum(2 ** x / z * math.log2(2 ** x / z) for x in sites)   # over the 6 sites
    # null: P(score >= 3.796) = P(window = AC) = 1/16 = 0.0625, so only p_threshold > 0.0625 counts it
    X = pwm.compute(["ACGT"], None, motifs=[motif], p_threshold=0.1)
    want = [hi, np.var(sites), 2, z, ent, -RT * math.log(z), (2 * hi + 3 * lo) / 5]   # WRITTEN_METRICS
    assert np.allclose(X[0, :7], want, rtol=1e-9, atol=1e-9)
    assert pwm.compute(["ACGT"], None, motifs=[motif])[0, 2] == 0  # 1/16 is not < 1e-4


def test_null_distribution_matches_enumeration(hepg2):
    mx = _by_id(hepg2, "MA0058.4")[0]   # MAX, 6 columns: 4096 windows enumerated
    lod = pwm.log_odds(mx.counts)
    q = np.rint(lod * pwm.GRID).astype(int)
    lo, sf = pwm.null_survival(lod)
    totals = np.array([sum(q[j, b] for j, b in enumerate(w)) for w in itertools.product(range(4), repeat=6)])
    for t in np.unique(totals):
        assert sf[t - lo] == pytest.approx((totals >= t).mean(), rel=1e-12)
    # the best 6-mer has p = 4**-6 > 1e-4: MAX can never have a high-affinity site
    assert sf[-1] == pytest.approx(4 ** -6) and math.isinf(pwm._scorer([mx], None, 0.8, 1e-4).thresholds[0])


# ---------------------------------------------------------------- invariants and N

def test_reverse_complement_gives_the_same_descriptors(real_seqs, hepg2):
    seqs = real_seqs[:40]
    a = pwm.compute(seqs, None, motifs=hepg2)
    b = pwm.compute([reverse_complement(s) for s in seqs], None, motifs=hepg2)
    assert np.allclose(a, b, rtol=1e-9, atol=1e-9)
    assert np.array_equal(a[:, -1], b[:, -1])


def test_batching_lengths_and_row_order_do_not_change_results(real_seqs, hepg2):
    seqs = real_seqs[:30] + [s[:200] for s in real_seqs[30:45]] + [s[:17] for s in real_seqs[45:50]]
    full = pwm.compute(seqs, None, motifs=hepg2)
    one_by_one = np.vstack([pwm.compute([s], None, motifs=hepg2) for s in seqs])
    assert np.array_equal(np.isnan(full), np.isnan(one_by_one))
    assert np.allclose(full, one_by_one, rtol=1e-12, atol=1e-12, equal_nan=True)
    perm = np.random.default_rng(1).permutation(len(seqs))
    assert np.allclose(pwm.compute([seqs[i] for i in perm], None, motifs=hepg2), full[perm], equal_nan=True)
    assert not np.isnan(full[:45]).any()


def test_windows_with_n_are_skipped(real_seqs, hepg2):
    fosjun = _by_id(hepg2, "MA0099.4")[0]    # 9 columns
    seq = real_seqs[3]
    nseq = seq[:100] + "N" + seq[101:]
    s = pwm.site_scores([seq, nseq], [fosjun])[0]   # (2, 2, 222)
    bad = np.zeros(s.shape[-1], dtype=bool)
    bad[92:101] = True                              # windows starting 92..100 cover position 100
    assert np.isnan(s[1][:, bad]).all() and not np.isnan(s[1][:, ~bad]).any()
    assert np.array_equal(s[1][:, ~bad], s[0][:, ~bad])
    kept = s[1][:, ~bad].ravel()
    X = pwm.compute([nseq], None, motifs=[fosjun])[0]
    assert X[0] == pytest.approx(kept.max())
    assert X[1] == pytest.approx(kept.var()) and X[3] == pytest.approx(np.exp2(kept).sum())
    assert X[6] == pytest.approx(np.sort(kept)[-5:].mean())


def test_nan_only_where_undefined(hepg2):
    ms = _by_id(hepg2, "MA0099.4", "MA0139.2")  # 9 and 15 columns
    X = pwm.compute(["N" * 50, "ACGTACGTACGT", "ACGTACGTACNTACGTACGTA", ""], None, motifs=ms)
    assert np.isnan(X[0]).all() and np.isnan(X[3]).all()
    # 12 nt: FOS::JUN has 4 windows (8 sites) -> defined; CTCF has none -> NaN, so are aggregates
    assert not np.isnan(X[1, :7]).any() and np.isnan(X[1, 7:14]).all() and np.isnan(X[1, 14:]).all()
    # 21 nt with N at 10: FOS::JUN windows 0, 1, 11, 12 valid; CTCF windows 0..6 all cover the N -> NaN
    assert not np.isnan(X[2, :7]).any() and np.isnan(X[2, 7:14]).all()
    # fewer than 5 sites: top_k_mean undefined, the rest defined
    Y = pwm.compute(["ACGTACGTAC"], None, motifs=ms[:1])[0]   # 2 windows = 4 sites
    assert np.isnan(Y[6]) and not np.isnan(Y[:6]).any()


# ---------------------------------------------------------------- FIMO (memelite) agreement

def test_high_affinity_sites_agree_with_memelite_fimo(real_seqs, hepg2):
    memelite = pytest.importorskip("memelite")
    seqs = real_seqs[:120]
    ms = _by_id(hepg2, "MA0139.2", "MA0099.4", "MA0114.5", "MA0079.5", "MA0047.4", "MA0102.5")
    sc = pwm._scorer(ms, None, pwm.PSEUDOCOUNT, pwm.P_THRESHOLD)
    # memelite scores log2(p + 1e-4) - log2(0.25) of the probabilities it is given: give it ours
    probs = {str(k): (np.exp2(lod) * 0.25).T.copy() for k, lod in enumerate(sc.lods)}
    onehot = np.stack([[np.frombuffer(s.encode(), np.uint8) == ord(b) for b in "ACGT"] for s in seqs]).astype(float)
    hits = memelite.fimo(probs, onehot, threshold=1e-4, bin_size=0.001)
    ss = pwm.site_scores(seqs, ms)
    both = only_ours = only_theirs = 0
    for k in range(len(ms)):
        ours = set(zip(*map(lambda a: a.tolist(), np.nonzero(ss[k] >= sc.thresholds[k]))))
        theirs = {(int(r.sequence_name), int(r.strand == "-"), int(r.start)) for r in hits[k].itertuples()}
        both += len(ours & theirs)
        for i, st, w in ours ^ theirs:   # disagreements only at the threshold's edge
            p = sc.pvalue(k, np.array([ss[k][i, st, w]]))[0]
            assert 5e-5 < p < 2e-4
        only_ours += len(ours - theirs)
        only_theirs += len(theirs - ours)
    assert both > 100
    assert both / (both + only_ours + only_theirs) > 0.97


def test_all_statistics_equal_a_reference_over_the_site_scores(real_seqs, hepg2):
    # the compiled one-pass kernel against the 8 statistics written out over the
    # windows that site_scores gives (an independent path: one-hot matrix products)
    seqs = real_seqs[:12] + [real_seqs[12][:150] + "NN" + real_seqs[12][152:]]
    X = pwm.compute(seqs, None, motifs=hepg2)
    sc = pwm._scorer(hepg2, None, pwm.PSEUDOCOUNT, pwm.P_THRESHOLD)
    for k, m in enumerate(hepg2):
        for i, s in enumerate(seqs):
            a = pwm.site_scores([s], [m])[0][0].ravel()
            a = a[~np.isnan(a)]
            z = np.exp2(a).sum()
            p = np.exp2(a) / z
            want = [a.max(), a.var(), (a >= sc.thresholds[k]).sum(), z, -(p * np.log2(p)).sum(),
                    -RT * math.log(z), np.sort(a)[-5:].mean()]                      # WRITTEN_METRICS
            assert np.allclose(X[i, 7 * k:7 * k + 7], want, rtol=1e-9, atol=1e-9), (m.name, i)
