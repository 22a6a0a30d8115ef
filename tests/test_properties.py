"""Property-based tests (hypothesis): random and adversarial tables fed to seqqc, dgsplit,
descfeat and evalboot never end in a traceback or an internal error, nothing is lost
(seqqc: rows in = rows out + rejected; dgsplit: every row once, with a split) and the
numbers written stay finite (or are written as NaN where a value is undefined).

Tables mix valid and broken pieces: sequences with N, lowercase, empty, 1-nt and long
ones, IUPAC codes, spaces and non-ASCII; ids duplicated or with quotes and commas; numeric
columns with NaN, inf, text, empty cells and huge exponents; TSV and quoted CSV. A command
may refuse the table (one ``Error:`` line naming the file, exit 1) or reject rows with a
reason; anything else is a bug.
"""

import csv
import io
import json
import math

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, event, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from conftest import run_cli  # noqa: E402

SETTINGS = settings(max_examples=50, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

def chars(alphabet, min_size, max_size):
    """Strings of these characters (lists of sampled characters: hypothesis' text() shrinker
    trips over some alphabets)."""
    return st.lists(st.sampled_from(alphabet), min_size=min_size, max_size=max_size).map("".join)


DNA = chars("ACGT", 20, 60)
ODD_SEQ = st.one_of(
    st.just(""), chars("ACGT", 1, 3),            # empty, very short
    chars("acgtnACGTN", 20, 60),                 # lowercase and N
    chars("NNNNACGT", 20, 40),                   # N-rich
    chars("ACGT", 400, 900),                     # long
    chars("ACGTRYKMSW-. ", 5, 40),               # IUPAC, gaps, spaces
    chars("ACGTé\u00a0\u2013#'\"", 5, 40),       # odd characters
)
NUMBER = st.one_of(st.floats(-50, 50, allow_nan=False).map(lambda v: f"{v:.4g}"),
                   st.integers(-5, 5).map(str), st.sampled_from(["1e-320", "-0", "+3", " 2 ", "1E2"]),
                   st.sampled_from(["1e200", "-1e300", "1.7e308", "-1.7e308", "3e-300"]))  # finite, but huge
MISSING = st.sampled_from(["", "NA", "NaN", "nan", "inf", "-inf", "Infinity", "1e309", "-1e309", "null", "."])
GARBAGE = st.sampled_from(["abc", "1,5", "0x10", "--1", "1e", "TRUE", "½"])
ID = st.one_of(st.sampled_from(["a", "b", "dup", "dup", "x y", "q'uote", "co,mma", '"dq"', "#hash", "é", "-", "NA"]),
               chars("abcdef0123456789_", 1, 8))
RATE = st.sampled_from([0, 0, 10, 50])  # percent of odd cells in a table


def _cell(draw, rate, good, odd):
    return draw(odd) if rate and draw(st.integers(0, 99)) < rate else draw(good)


def _render(header, rows, fmt):
    buf = io.StringIO()
    if fmt == "csv":
        csv.writer(buf, lineterminator="\n").writerows([header, *rows])
    else:
        buf.write("\n".join("\t".join(r) for r in [header, *rows]) + "\n")
    return buf.getvalue()


def _ragged(text, sep):
    """The first data row loses its last field."""
    lines = text.split("\n")
    if len(lines) > 1 and sep in lines[1]:
        lines[1] = lines[1].rsplit(sep, 1)[0]
    return "\n".join(lines)


MANGLES = {  # what people's files do to a table
    "crlf": lambda t, sep: t.replace("\n", "\r\n"),
    "bom": lambda t, sep: "\ufeff" + t,
    "blank lines": lambda t, sep: t.replace("\n", "\n\n", 2),
    "comment": lambda t, sep: "# exported by a spreadsheet\n" + t,
    "no final newline": lambda t, sep: t.rstrip("\n"),
    "trailing spaces": lambda t, sep: t.replace("\n", "  \n"),
    "ragged row": _ragged,
    "extra field": lambda t, sep: t.replace("\n", sep + "x\n", 2),
    "header only": lambda t, sep: t.split("\n", 1)[0] + "\n",
    "duplicate column": lambda t, sep: t.replace("\n", sep + "id\n", 1),
    "quoted newline": lambda t, sep: t.replace("\n", '\n"a\nb"' + sep, 1),
}


def mangled(draw, text, fmt):
    """Now and then one of MANGLES applied to a rendered table."""
    if draw(st.integers(0, 4)) != 3:
        return text
    return MANGLES[draw(st.sampled_from(sorted(MANGLES)))](text, "," if fmt == "csv" else "\t")


@st.composite
def tables(draw, numeric=("mean_value",), min_rows=1, max_rows=25, seq_col="sequence"):
    """(text, fmt, n_rows): an id column, a sequence column and numeric columns; a share of the
    sequences odd, a share of the numbers missing or infinite, now and then one garbage cell."""
    n = draw(st.integers(min_rows, max_rows))
    fmt = draw(st.sampled_from(["tsv", "tsv", "csv"]))
    seq_rate, num_rate = draw(RATE), draw(RATE)
    rows = [[draw(ID), _cell(draw, seq_rate, DNA, ODD_SEQ), *(_cell(draw, num_rate, NUMBER, MISSING) for _ in numeric)]
            for _ in range(n)]
    if draw(st.integers(0, 9)) == 7:  # (not 0: hypothesis favours the bounds)
        rows[draw(st.integers(0, n - 1))][2 + draw(st.integers(0, len(numeric) - 1))] = draw(GARBAGE)
    text = _render(["id", seq_col, *numeric], rows, fmt)
    mangled_text = mangled(draw, text, fmt)
    if mangled_text != text:
        n = None  # the row count is no longer known: checked where it still can be
    return mangled_text, fmt, n


def read_tsv(src):
    """A TSV output as the toolkit reads TSV: fields unquoted (a field may start with a quote)."""
    import pandas as pd

    if hasattr(src, "read_text"):
        src = src.read_text()
    return pd.read_csv(io.StringIO(src), sep="\t", dtype=str, keep_default_na=False, quoting=csv.QUOTE_NONE)


def refused_cleanly(res, path):
    """exit 1 with one Error: line naming the input, and not an internal error."""
    err = res.stderr
    assert res.exit_code == 1, (res.exit_code, err)
    assert err.startswith("Error: ") and err.count("\n") == 1, err
    assert "internal error" not in err and "Traceback" not in err, err
    assert str(path) in err or "<stdin>" in err, err


def ended_well(res, path):
    """True when the command succeeded; a clean refusal is accepted (and checked); else a failure."""
    event("ran" if res.exit_code == 0 else "refused: " + res.stderr.split(": ")[-1][:40])
    if res.exit_code == 0:
        assert res.stderr == "", res.stderr  # -q: nothing on standard error (no library warnings either)
        return True
    refused_cleanly(res, path)
    return False


def finite_or_nan(text):
    """A written number: finite, or NaN/empty where undefined; never inf."""
    if text in ("", "NaN", "nan", "NA"):
        return True
    v = float(text)
    return math.isfinite(v)


def write(tmp_path, text, fmt, name="t"):
    path = tmp_path / f"{name}.{fmt}"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("props")


@SETTINGS
@given(table=tables(numeric=("mean_value", "HepG2_l2fc", "HepG2_lfcSE")),
       policy=st.sampled_from(["auto", "drop", "trim-pad", "none"]), max_n=st.sampled_from(["0", "0.1", "1"]))
def test_seqqc_rows_in_equal_out_plus_rejected(folder, table, policy, max_n):
    text, fmt, n = table
    path = write(folder, text, fmt)
    rep, rej = folder / "qc.json", folder / "rej.tsv"
    for p in (rep, rej):
        p.unlink(missing_ok=True)
    res = run_cli("seqqc", [path, "-q", "--report", rep, "--rejects", rej, "--length-policy", policy,
                            "--max-n-frac", max_n])
    if not ended_well(res, path):
        assert not rep.exists()
        return
    report = json.loads(rep.read_text())
    out = read_tsv(res.stdout) if res.stdout else None
    rejects = read_tsv(rej)
    assert n is None or report["rows_in"] == n
    assert report["rows_in"] == report["rows_out"] + report["rows_rejected"] + report["rows_merged"]
    assert report["rows_out"] == (0 if out is None else len(out)) and report["rows_rejected"] == len(rejects)
    assert sum(report["removed_by_rule"].values()) == report["rows_rejected"]
    assert (rejects["qc_reason"] != "").all()
    if out is not None and len(out):
        assert out["sequence"].str.fullmatch("[ACGTN]+").all()
        for col in ("mean_value", "HepG2_l2fc", "HepG2_lfcSE"):
            assert out[col].map(lambda v: math.isfinite(float(v))).all()


@SETTINGS
@given(table=tables(numeric=("mean_value",)), merge=st.sampled_from(["median", "ivw"]))
def test_seqqc_merging_and_winsorizing_lose_nothing(folder, table, merge):
    text, fmt, n = table
    path = write(folder, text, fmt)
    rep = folder / "qc_merge.json"
    rep.unlink(missing_ok=True)
    res = run_cli("seqqc", [path, "-q", "--report", rep, "--merge-duplicates", merge, "--winsorize", "5,95"])
    if not ended_well(res, path):
        return
    report = json.loads(rep.read_text())
    assert n is None or report["rows_in"] == n
    assert report["rows_in"] == report["rows_out"] + report["rows_rejected"] + report["rows_merged"]
    if report["rows_out"]:
        out = read_tsv(res.stdout)
        assert out["mean_value"].map(lambda v: math.isfinite(float(v))).all()
        assert out["n_merged"].astype(int).sum() == report["rows_out"] + report["rows_merged"]


@SETTINGS
@given(table=tables(numeric=("mean_value",)), near=st.sampled_from(["none", "hamming", "kmer"]))
def test_dgsplit_every_row_once_with_a_split(folder, table, near):
    text, fmt, n = table
    path = write(folder, text, fmt)
    args = [path, "-q", "--near", near, "--allow-empty"] + (["--kmer-k", "8"] if near == "kmer" else [])
    res = run_cli("dgsplit", args)
    if not ended_well(res, path):
        return
    out = read_tsv(res.stdout)
    assert n is None or len(out) == n
    assert set(out["split"]) <= {"train", "val", "test", "excluded"}
    assert (out["group_id"] != "").all()
    # rows with the same (uppercase) sequence share a group, so a split
    seqs = out["sequence"].str.upper()
    for _, grp in out.groupby(seqs):
        assert grp["split"].nunique() == 1


@SETTINGS
@given(table=tables(numeric=("mean_value",), seq_col="seq"),
       families=st.sampled_from(["thermo", "entropy", "bend,stiff", "advanced", "thermo,entropy,bend"]))
def test_descfeat_values_finite_or_nan(folder, table, families):
    text, fmt, n = table
    path = write(folder, text, fmt)
    res = run_cli("descfeat", [path, "-q", "--families", families, "--chunk-rows", "7"])
    if not ended_well(res, path):
        return
    out = read_tsv(res.stdout)
    assert n is None or len(out) == n
    values = out[descriptor_names(families)]
    assert values.map(finite_or_nan).all().all()


def descriptor_names(families):
    from toolkit.features.compute import DescriptorSet, parse_families
    from toolkit.features.params import default_params

    return DescriptorSet(parse_families(families), default_params()).names


@st.composite
def predictions(draw):
    """A table with a truth, a prediction, an SE and a group column; values may be broken."""
    n = draw(st.integers(1, 40))
    rate = draw(RATE)
    rows = [[draw(ID), _cell(draw, rate, NUMBER, MISSING), _cell(draw, rate, NUMBER, MISSING),
             _cell(draw, rate, st.sampled_from(["0.1", "0.2", "1"]), st.sampled_from(["NA", "0", "inf", "-1"])),
             draw(st.sampled_from(["g1", "g2", "g3", ""]))] for _ in range(n)]
    if draw(st.integers(0, 4)) == 0:  # a constant prediction (a collapsed model)
        rows = [[r[0], r[1], "1", r[3], r[4]] for r in rows]
    if draw(st.integers(0, 9)) == 7:  # (not 0: hypothesis favours the bounds)
        rows[draw(st.integers(0, n - 1))][draw(st.integers(1, 2))] = draw(GARBAGE)
    fmt = draw(st.sampled_from(["tsv", "csv"]))
    return mangled(draw, _render(["id", "HepG2_l2fc", "pred_HepG2_l2fc", "HepG2_lfcSE", "group"], rows, fmt), fmt), fmt


@SETTINGS
@given(table=predictions(), grouped=st.booleans())
def test_evalboot_metrics_finite(folder, table, grouped):
    text, fmt = table
    path = write(folder, text, fmt, name="preds")
    args = [path, "-q", "--bootstrap", "30"] + (["--group-col", "group"] if grouped else [])
    res = run_cli("evalboot", args)
    if not ended_well(res, path):
        return
    out = read_tsv(res.stdout)
    assert list(out.columns[:3]) == ["section", "task", "prediction"]
    for col in ("value", "ci_low", "ci_high"):
        assert out[col].map(finite_or_nan).all(), out[~out[col].map(finite_or_nan)]


# ---------------------------------------------------------------------- what hypothesis found

def test_padded_infinity_is_a_missing_value_not_garbage(folder):
    """'Infinity ' (a spreadsheet's trailing space) was 'not a number' while 'Infinity' was
    rejected as non-finite: both are now the same non-finite value."""
    path = write(folder, "id\tsequence\tmean_value\na\tACGTACGTAC\tInfinity  \nb\tACGTACGTAA\t -1\n"
                         "c\tACGTACGTCC\t -inf\n", "tsv", name="inf")
    rej = folder / "inf_rej.tsv"
    res = run_cli("seqqc", [path, "-q", "--rejects", rej])
    assert res.exit_code == 0, res.stderr
    assert read_tsv(rej)["qc_reason"].tolist() == ["nonfinite_target", "nonfinite_target"]
    assert read_tsv(res.stdout)["id"].tolist() == ["b"]


def test_library_warnings_stay_off_standard_error(folder):
    """Finite but huge values overflowed inside evalboot's metrics and numpy's RuntimeWarnings,
    with source lines, reached standard error even with -q; now only -v shows them."""
    path = write(folder, "id\tHepG2_l2fc\tpred_HepG2_l2fc\na\t0\t0\nb\t0\t0\nc\t0\t1e200\nd\t1\t2\n", "tsv", name="huge")
    quiet = run_cli("evalboot", [path, "-q", "--bootstrap", "20"])
    assert quiet.exit_code == 0 and quiet.stderr == ""
    loud = run_cli("evalboot", [path, "-v", "--bootstrap", "20"])
    assert loud.exit_code == 0 and "RuntimeWarning: overflow" in loud.stderr
