"""dgsplit's grouping and --check mode against an independent brute-force enumeration of pairs.

The oracle (tests/bruteforce_pairs.py) is written from dgsplit's contract alone and shares no
code with toolkit/split: it cuts the cores, enumerates every pair of rows for every relation
(exact, reverse complement, hamming, exact k-mer Jaccard) and takes connected components.

The data are real lentiMPRA HepG2 rows (a seeded sample of share/examples) plus PLANTED
copies: synthetic modifications of real sequences (duplicates, substitutions, reverse
complements, N bases, indels, shifts), made so that the answer is known and so that every
relation has pairs close to its threshold. Exact and reverse-complement duplicates are put
at the top of the table, before the sample and before the near copies of the same rows
(an old bug mapped near links onto the wrong rows when an exact duplicate came earlier).
"""

import json

import numpy as np
import pandas as pd
import pytest

from bruteforce_pairs import Oracle, cores, crossing_counts, partition_mismatch, revcomp
from conftest import DATA, EXAMPLES, read_tsv, run_cli

FLANK = 15
SPLITS = {"train", "val", "test"}


# ---------------------------------------------------------------- the planted table

def _sub(core, n, rng, letters="ACGT", avoid=()):
    """``core`` with ``n`` substitutions at distinct positions (not in ``avoid``)."""
    s = list(core)
    free = [p for p in range(len(s)) if p not in set(avoid)]
    pos = rng.choice(free, size=n, replace=False)
    for p in pos:
        s[p] = rng.choice([b for b in letters if b != s[p]])
    return "".join(s), set(int(p) for p in pos)


def _indel(core, rng):
    n = int(rng.integers(1, 4))
    p = int(rng.integers(40, len(core) - 40))
    if rng.random() < 0.5:
        return core[:p] + "".join(rng.choice(list("ACGT"), n)) + core[p:]
    return core[:p] + core[p + n:]


def _shift(core, rng):
    s = int(rng.integers(1, 9))
    fill = "".join(rng.choice(list("ACGT"), s))
    return core[s:] + fill if rng.random() < 0.5 else fill + core[:-s]


def build_planted_table(n_sample=2600, seed=20240611):
    """Real rows (seeded sample of the bundled lentiMPRA table) with planted synthetic
    copies of some of them. Returns a DataFrame seq_id, seq, mean_value."""
    full = pd.read_csv(EXAMPLES / "lentimpra_HepG2.tsv.gz", sep="\t", dtype=str,
                       keep_default_na=False)
    rng = np.random.default_rng(seed)
    base = full.iloc[rng.choice(len(full), size=n_sample, replace=False)].reset_index(drop=True)
    order = iter(rng.permutation(len(base)).tolist())
    early, late = [], []
    count = [0]

    def plant(where, kind, i, core):
        s = base.seq[i]
        count[0] += 1
        where.append((f"plant{count[0]:04d}_{kind}", s[:FLANK] + core + s[-FLANK:],
                      base.mean_value[i]))

    def core_of(i):
        return base.seq[i][FLANK:-FLANK]

    # a hub: one real row with many copies (the unique largest group)
    h = next(order)
    c = core_of(h)
    for _ in range(3):
        plant(early, "hub_exact", h, c)
    for _ in range(2):
        plant(early, "hub_rc", h, revcomp(c))
    for n in (1, 2, 2):
        plant(late, f"hub_sub{n}", h, _sub(c, n, rng)[0])
    for n in (1, 2):
        plant(late, f"hub_rcsub{n}", h, revcomp(_sub(c, n, rng)[0]))

    # early exact / reverse-complement duplicates; half of them get near copies later
    for j in range(30):
        i = next(order)
        plant(early, "exact", i, core_of(i))
        if j % 2 == 0:
            plant(late, "after_exact_sub", i, _sub(core_of(i), 1 + j % 4 // 2, rng)[0])
    for j in range(30):
        i = next(order)
        plant(early, "rc", i, revcomp(core_of(i)))
        if j % 2 == 0:
            plant(late, "after_rc_sub", i, _sub(core_of(i), 1 + j % 4 // 2, rng)[0])
            plant(late, "after_rc_rcsub", i, revcomp(_sub(core_of(i), 2, rng)[0]))
    for _ in range(3):  # lower case: cores are uppercased before comparing
        i = next(order)
        plant(early, "lower", i, core_of(i).lower())

    # hamming: 1-2 substitutions, reverse complements with 1-2, 3 (not related at d=2)
    for j in range(40):
        i = next(order)
        plant(late, f"sub{1 + j % 2}", i, _sub(core_of(i), 1 + j % 2, rng)[0])
    for j in range(30):
        i = next(order)
        plant(late, f"rcsub{1 + j % 2}", i, revcomp(_sub(core_of(i), 1 + j % 2, rng)[0]))
    for _ in range(15):
        i = next(order)
        plant(late, "sub3", i, _sub(core_of(i), 3, rng)[0])
    for _ in range(5):
        i = next(order)
        plant(late, "rcsub3", i, revcomp(_sub(core_of(i), 3, rng)[0]))
    # chains: orig - c1 (2 subs) - c2 (2 more): c2 is 4 from orig, joined through c1
    for _ in range(5):
        i = next(order)
        c1, used = _sub(core_of(i), 2, rng)
        plant(late, "chain1", i, c1)
        plant(late, "chain2", i, _sub(c1, 2, rng, avoid=used)[0])
    # N bases: N vs A is a mismatch, N vs N is not
    for _ in range(8):
        i = next(order)
        plant(late, "n1", i, _sub(core_of(i), 1, rng, letters="N")[0])
    for _ in range(4):
        i = next(order)
        a, used = _sub(core_of(i), 2, rng, letters="N")   # 2 from orig
        plant(late, "n2", i, a)
        plant(late, "n2_sub2", i, _sub(a, 2, rng, avoid=used)[0])   # 2 from a, 4 from orig
    for _ in range(3):
        i = next(order)
        plant(late, "n3", i, _sub(core_of(i), 3, rng, letters="N")[0])
        plant(late, "n3_rc", i, revcomp(_sub(core_of(i), 3, rng, letters="N")[0]))

    # kmer: indels (other lengths), shifts, 4-8 substitutions (around Jaccard 0.5 at k=12)
    for j in range(25):
        i = next(order)
        d = _indel(core_of(i), rng)
        plant(late, "indel", i, d if j % 3 else revcomp(d))
    for j in range(25):
        i = next(order)
        d = _shift(core_of(i), rng)
        plant(late, "shift", i, d if j % 3 else revcomp(d))
    for j in range(30):
        i = next(order)
        n = 4 + j % 5
        plant(late, f"msub{n}", i, _sub(core_of(i), n, rng)[0])

    late = [late[k] for k in rng.permutation(len(late))]
    rows = early + list(base.itertuples(index=False, name=None)) + late
    table = pd.DataFrame(rows, columns=["seq_id", "seq", "mean_value"])
    assert table.seq_id.is_unique
    return table


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    table = build_planted_table()
    path = tmp_path_factory.mktemp("planted") / "planted.tsv"
    table.to_csv(path, sep="\t", index=False)
    return table, path, Oracle(cores(table.seq, FLANK, FLANK))


@pytest.fixture(scope="module")
def dgsplit_runs(tmp_path_factory):
    """dgsplit run once per distinct argument list (shared by the tests of this module)."""
    cache = {}

    def run(path, *args):
        key = (str(path), *map(str, args))
        if key not in cache:
            d = tmp_path_factory.mktemp("run")
            rep, out = d / "report.json", d / "out.tsv"
            res = run_cli("dgsplit", [path, *args, "--report", rep, "-o", out])
            assert res.exit_code == 0, res.stderr
            cache[key] = (read_tsv(out), json.loads(rep.read_text()), out)
        return cache[key]

    return run


def _aligned(table, out):
    """dgsplit's output rows in the input table's order. The toolkit's output convention
    (README): ``id`` first (from seq_id), the sequence column named ``sequence``, every other
    input column unchanged and in order; dgsplit adds ``split`` and ``group_id``."""
    other = [c for c in table.columns if c != "seq"]
    assert out.columns[0] == "id" and "sequence" in out.columns, list(out.columns)
    rest = [c for c in out.columns if c not in ("id", "sequence")]
    assert [c for c in rest if c in other] == other, list(out.columns)
    assert set(rest) - set(other) == {"split", "group_id"}, list(out.columns)
    assert len(out) == len(table) and out["id"].is_unique
    out = out.set_index("id", drop=False).loc[table.seq_id].reset_index(drop=True)
    assert (out["sequence"].values == table.seq.values).all()
    for c in other:
        assert (out[c].values == table[c].values).all(), c
    assert set(out.split) <= SPLITS
    return out


def _check_grouping(table, oracle, out, report, near, group_by="rc", **kw):
    flanks = report["grouping"]["flanks"]
    assert (flanks["left"], flanks["right"]) == (FLANK, FLANK), flanks
    out = _aligned(table, out)
    truth = oracle.components(near, group_by, **kw)
    diff = partition_mismatch(truth, out.group_id.to_numpy(dtype=object), table.seq_id.values)
    assert not diff, f"groups differ from brute-force components ({near}, {kw}):\n{diff}"
    rel = oracle.related(near, group_by, **kw)
    split = out.split.to_numpy(dtype=object)
    crossing = np.argwhere(np.triu(rel & (split[:, None] != split[None, :]), 1))
    assert len(crossing) == 0, [(table.seq_id[i], table.seq_id[j]) for i, j in crossing[:5]]
    assert report["grouping"]["groups"] == len(set(truth))
    return truth


def test_planted_table_has_pairs_near_every_threshold(planted):
    """Guard on the data: the planted copies make every relation non-trivial."""
    table, _, oracle = planted
    fwd, both = oracle.hamming()
    iu = np.triu_indices(len(table), 1)
    hb = both[iu]
    for d in (1, 2, 3):
        assert (hb == d).sum() >= 5, d
    assert ((fwd[iu] > 2) & (hb <= 2)).sum() >= 20          # rc-only hamming pairs
    assert oracle.rc_matrix().sum() // 2 >= 100
    jac, _ = oracle.jaccard(12)
    jv = jac[iu]
    assert ((jv >= 0.4) & (jv < 0.5)).sum() >= 3 and ((jv >= 0.5) & (jv < 0.6)).sum() >= 3
    lens = {len(c) for c in oracle.cores}
    assert len(lens) > 3


def test_oracle_known_answers():
    """The brute force itself, on hand-made cores with answers worked out by hand."""
    assert revcomp("AACGTN") == "NACGTT"
    o = Oracle(cores(["xxAAAACCCCyy", "xxAAAACCCGyy", "xxGGGGTTTTyy", "xxNAAACCCCyy",
                      "xxNAAACCCGyy", "xxAAAACCCCGyy"], 2, 2))
    assert o.cores[0] == "AAAACCCC" and o.cores[5] == "AAAACCCCG"
    fwd, both = o.hamming()
    assert fwd[0, 1] == 1 and fwd[0, 2] == 8 and both[0, 2] == 0      # 2 = revcomp(0)
    assert fwd[3, 4] == 1 and fwd[0, 3] == 1                           # N-N equal, N-A not
    assert fwd[0, 5] > 100                                             # lengths differ
    assert o.rc_matrix()[0, 2] and not o.rc_matrix()[0, 1] and not o.exact_matrix()[0, 2]
    jac, size = o.jaccard(4)
    # AAAACCCC: AAAA AAAC(GTTT) AACC(GGTT) ACCC(GGGT) CCCC(GGGG) -> canonical
    # {AAAA, AAAC, AACC, ACCC, CCCC}; AAAACCCG drops CCCC and adds CCCG (CGGG): 4 / 6
    assert size[0] == 5 and jac[0, 1] == pytest.approx(4 / 6)
    assert jac[0, 2] == 1.0 and jac[0, 5] == pytest.approx(5 / 6)     # other length related
    assert size[3] == 4                                                # NAAA skipped
    lab = o.components("hamming", d=1)
    assert len(set(lab)) == 2 and lab[0] == lab[1] == lab[2] == lab[3] == lab[4] != lab[5]
    total, by_pair = crossing_counts(o.cores, ["a", "b", "a", "b", "excluded", "a"],
                                     near="hamming", oracle=o, d=1)
    # 0-1 (hamming), 0-3 (hamming), 1-2 (hamming via rc), 2-3 (hamming via rc); 4 excluded
    assert total == {"exact": 0, "reverse_complement": 0, "hamming": 4}
    assert by_pair["hamming"] == {"a|b": 4}


def test_oracle_counting_paths_agree(planted):
    """The dictionary count (used on the full 12,292-row table) and the dense pair count."""
    table, _, oracle = planted
    lab = np.random.default_rng(3).choice(["train", "val", "test"], size=len(table)).astype(object)
    assert crossing_counts(oracle.cores, lab) == crossing_counts(oracle.cores, lab, oracle=oracle)


# ---------------------------------------------------------------- 1. hamming

@pytest.mark.parametrize("d", [2, 1, 3])
def test_hamming_groups_are_bruteforce_components(planted, dgsplit_runs, d):
    """Planted copies (synthetic modifications of real rows): the groups are exactly the
    components of exact | reverse complement | hamming <= d, and no related pair crosses."""
    table, path, oracle = planted
    args = ["--flanks", "15,15", "--near", "hamming"] + ([] if d == 2 else ["--max-mismatch", d])
    out, report, _ = dgsplit_runs(path, *args)
    _check_grouping(table, oracle, out, report, "hamming", d=d)


# ---------------------------------------------------------------- 2. kmer

@pytest.mark.parametrize("k,t", [(12, 0.5), (8, 0.7)])
def test_kmer_groups_are_exact_jaccard_components(planted, dgsplit_runs, k, t):
    """Planted copies (synthetic: indels, shifts, 4-8 substitutions, reverse complements)
    against exact Jaccard of canonical k-mer sets, every pair enumerated."""
    table, path, oracle = planted
    args = ["--flanks", "15,15", "--near", "kmer"]
    if (k, t) != (12, 0.5):
        args += ["--kmer-k", k, "--kmer-threshold", t]
    out, report, _ = dgsplit_runs(path, *args)
    _check_grouping(table, oracle, out, report, "kmer", k=k, t=t)


# ---------------------------------------------------------------- 3. group-by exact

def test_group_by_exact_hamming_is_forward_only(planted, dgsplit_runs):
    """With --group-by exact, reverse complements (exact or near) are not related."""
    table, path, oracle = planted
    out, report, _ = dgsplit_runs(path, "--flanks", "15,15", "--group-by", "exact",
                                  "--near", "hamming")
    truth = _check_grouping(table, oracle, out, report, "hamming", group_by="exact", d=2)
    # and it matters here: the rc relation would merge more
    assert len(set(truth)) > len(set(oracle.components("hamming", "rc", d=2)))


# ---------------------------------------------------------------- the minimal reproduction

@pytest.mark.parametrize("near", ["hamming", "kmer"])
def test_near_copies_minimal_reproduction(tmp_path, near):
    """tests/data/dgsplit_near_copies.tsv: y/y_dup identical, xm = x with one substitution."""
    out_path, rep = tmp_path / "out.tsv", tmp_path / "rep.json"
    res = run_cli("dgsplit", [DATA / "dgsplit_near_copies.tsv", "--near", near, "--allow-empty",  # 6 rows
                              "--report", rep, "-o", out_path])
    assert res.exit_code == 0, res.stderr
    g = dict(zip(*read_tsv(out_path)[["id", "group_id"]].values.T))
    assert g["y"] == g["y_dup"]
    assert g["x"] == g["xm"]
    assert g["x"] != g["y"]
    others = {g["y"], g["x"], g["z"], g["w"]}
    assert len(others) == 4
    assert sorted(g.values()).count(g["z"]) == 1 and sorted(g.values()).count(g["w"]) == 1


# ---------------------------------------------------------------- 4. report: largest group

@pytest.mark.parametrize("near", ["none", "hamming", "kmer"])
def test_report_largest_group_against_bruteforce(planted, dgsplit_runs, near):
    """report.grouping.largest_group: rows, distinct cores and diameter (mismatches, min over
    both strands, for exact/rc/hamming; 1 - Jaccard for kmer) of the largest group."""
    table, path, oracle = planted
    out, report, _ = dgsplit_runs(path, "--flanks", "15,15", "--near", near)
    truth = oracle.components(near)
    sizes = np.bincount(truth)
    big = int(np.argmax(sizes))
    assert (sizes == sizes[big]).sum() == 1, "test data: the largest group must be unique"
    rows = np.flatnonzero(truth == big)
    distinct = {}
    for i in rows:
        distinct.setdefault(oracle.cores[i], i)
    reps = list(distinct.values())
    diam = max((oracle.distance(i, j, near) for a, i in enumerate(reps) for j in reps[a + 1:]),
               default=0)
    lg = report["grouping"].get("largest_group")
    assert isinstance(lg, dict), f"no grouping.largest_group in {report['grouping']}"
    assert lg["rows"] == len(rows)
    assert lg["sequences"] == len(distinct)
    if near == "kmer":
        assert lg["diameter"] == pytest.approx(diam, abs=1e-6)   # may be rounded to 6 places
    else:
        assert lg["diameter"] == diam
    # and the largest group of dgsplit's output is that component
    out = _aligned(table, out)
    gid = out.group_id.to_numpy(dtype=object)
    assert (gid == gid[rows[0]]).sum() == len(rows)


# ---------------------------------------------------------------- 5. --check

def _check(tmp_path, frame, *args):
    """Run dgsplit --check on ``frame`` written as TSV; returns (result, report)."""
    path, rep = tmp_path / "check_in.tsv", tmp_path / "check.json"
    frame.to_csv(path, sep="\t", index=False)
    res = run_cli("dgsplit", ["--check", path, *args, "--report", rep])
    assert res.exit_code in (0, 1), (res.exit_code, res.stderr)
    assert rep.exists(), f"no report written (exit {res.exit_code}): {res.stderr}"
    # check mode writes no table (standard output carries no row of it)
    assert not res.stdout.startswith("id\t") and frame.seq.iloc[0] not in res.stdout
    return res, json.loads(rep.read_text())


def _nonzero(d):
    return {k: v for k, v in (d or {}).items() if v}


def _assert_counts(report, total, by_pair):
    got = report["crossing_pairs"]
    for rel, n in total.items():
        assert got.get(rel) == n, (rel, got, total)
    extra = {k: v for k, v in got.items() if k not in total and v}
    assert not extra, extra
    got_pairs = report["crossing_by_split_pair"]
    for rel in set(total) | set(got_pairs):
        assert _nonzero(got_pairs.get(rel)) == _nonzero(by_pair.get(rel)), rel


def _row_split(n, rng, labels=("train", "val", "test"), fractions=(0.8, 0.1, 0.1)):
    """A naive row-level split (what not to do): seeded permutation, cut by fractions."""
    cuts = np.cumsum(np.round(np.array(fractions) * n).astype(int))[:-1]
    lab = np.empty(n, dtype=object)
    for name, part in zip(labels, np.split(rng.permutation(n), cuts)):
        lab[part] = name
    return lab


def test_check_full_lentimpra_row_split_fails(tmp_path):
    """The bundled table (12,292 real rows; half are the reverse orientation of another) with
    a naive row-level 80/10/10 split: reverse-complement pairs cross, counted exactly."""
    full = read_tsv(EXAMPLES / "lentimpra_HepG2.tsv.gz")
    full["split"] = _row_split(len(full), np.random.default_rng(7))
    total, by_pair = crossing_counts(cores(full.seq, FLANK, FLANK), full.split.to_numpy(dtype=object))
    assert total["reverse_complement"] > 1000
    res, report = _check(tmp_path, full, "--flanks", "15,15")
    assert res.exit_code == 1
    assert report["result"] == "failed"
    _assert_counts(report, total, by_pair)


@pytest.mark.parametrize("near,args,kw", [
    ("hamming", [], {"d": 2}),
    ("kmer", [], {"k": 12, "t": 0.5}),
    ("kmer", ["--kmer-k", "8", "--kmer-threshold", "0.7"], {"k": 8, "t": 0.7}),
])
def test_check_planted_row_split_counts_per_relation(tmp_path, planted, near, args, kw):
    """Planted near copies (synthetic) with a naive row-level split: crossing row pairs per
    relation and per split pair equal the brute-force enumeration."""
    table, _, oracle = planted
    frame = table.copy()
    frame["split"] = _row_split(len(frame), np.random.default_rng(11))
    total, by_pair = crossing_counts(oracle.cores, frame.split.to_numpy(dtype=object), near=near,
                                     oracle=oracle, **kw)
    assert total[near] > 0 and total["reverse_complement"] > 0 and total["exact"] > 0
    res, report = _check(tmp_path, frame, "--flanks", "15,15", "--near", near, *args)
    assert res.exit_code == 1
    assert report["result"] == "failed"
    _assert_counts(report, total, by_pair)


def test_check_passes_on_dgsplit_output(tmp_path, planted, dgsplit_runs):
    """dgsplit's own split (near hamming), checked with the same grouping: exit 0, no pair."""
    table, path, oracle = planted
    out, _, out_path = dgsplit_runs(path, "--flanks", "15,15", "--near", "hamming")
    res = run_cli("dgsplit", ["--check", out_path, "--flanks", "15,15", "--near", "hamming",
                              "--report", tmp_path / "check.json"])
    assert res.exit_code == 0, res.stderr
    assert not res.stdout.startswith("id\t")   # check mode writes no table
    report = json.loads((tmp_path / "check.json").read_text())
    assert report["result"] == "passed"
    assert set(report["crossing_pairs"]) >= {"exact", "reverse_complement", "hamming"}
    assert all(v == 0 for v in report["crossing_pairs"].values()), report["crossing_pairs"]
    assert not any(_nonzero(v) for v in report["crossing_by_split_pair"].values())
    # and brute force agrees
    split = _aligned(table, out).split.to_numpy(dtype=object)
    total, _ = crossing_counts(oracle.cores, split, near="hamming", oracle=oracle, d=2)
    assert not any(total.values())


def test_check_fold_column(tmp_path, planted):
    """--split-col fold with labels fold1..fold5 (rows labelled 'excluded' take part in no
    pair); a 'split' column that would pass is there too and must be ignored."""
    table, _, oracle = planted
    rng = np.random.default_rng(23)
    frame = table.copy()
    frame["split"] = "train"
    fold = rng.choice([f"fold{i}" for i in range(1, 6)], size=len(frame)).astype(object)
    fold[rng.choice(len(frame), size=150, replace=False)] = "excluded"
    frame["fold"] = fold
    total, by_pair = crossing_counts(oracle.cores, fold, near="hamming", oracle=oracle, d=2)
    assert all(total.values())
    res, report = _check(tmp_path, frame, "--split-col", "fold", "--flanks", "15,15",
                         "--near", "hamming")
    assert res.exit_code == 1
    assert report["result"] == "failed"
    _assert_counts(report, total, by_pair)
    assert all(k.split("|")[0] < k.split("|")[1] and "excluded" not in k
               for rel in by_pair.values() for k in rel)

    # folds by brute-force component (whole groups per fold), some groups excluded: passes
    comp = oracle.components("hamming", d=2)
    names = np.array([f"fold{i}" for i in range(1, 6)] + ["excluded"], dtype=object)
    frame["fold"] = names[np.random.default_rng(5).integers(0, 6, size=comp.max() + 1)][comp]
    res, report = _check(tmp_path, frame, "--split-col", "fold", "--flanks", "15,15",
                         "--near", "hamming")
    assert res.exit_code == 0, report
    assert report["result"] == "passed"
    assert not any(report["crossing_pairs"].values())
