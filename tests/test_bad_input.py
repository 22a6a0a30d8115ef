"""Bad input, for every registered command.

Each command must answer bad data with exit status 1 and exactly one line
``Error: <where>: <what>; <what to do>`` on standard error (naming the file),
nothing on standard output, and never a Python traceback; bad usage exits 2
(SPEC.md, "Every command"). Inputs a user would reasonably give (lowercase
bases, CRLF line ends) must be accepted.
"""

import gzip
import io
import json
import os
import random
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import pandas as pd
import pytest
from click.testing import CliRunner

REPO = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from conftest import FreshDir, TinyModel, run_cli  # noqa: E402
from toolkit.cli import COMMANDS, load  # noqa: E402

ALL = sorted(COMMANDS)
LENTI = DATA / "lentimpra_HepG2_400.tsv"


# ----------------------------------------------------------------------------- what each command reads

@dataclass(frozen=True)
class Reads:
    """What a command makes of the small tables built here (id, sequence, K562_l2fc).

    needs: words of its error for a table without the columns it needs;
    parses_targets: K562_l2fc is read as numbers, so text there is an error naming line and column;
    sequences: "qc" (bad sequences are rejected with a reason), "strict" (refused, naming the
        line) or "ignored" (the command does not read sequences);
    add_columns: (header, rows) -> (header, rows) with the other columns a valid input has;
    args: arguments every invocation needs;
    check_rows: for a command that does not write its input rows: (output, rows) asserts the
        output accounts for exactly these rows;
    writes_table: False for a command that writes a model directory (fit-*): only the checks of
        bad input and usage apply, not those of its output table.
    """

    needs: str = "no sequence column"
    parses_targets: bool = False
    sequences: str = "strict"
    add_columns: Optional[Callable] = None
    args: tuple = ()
    check_rows: Optional[Callable] = None
    writes_table: bool = True


def _add_prediction(header, rows):
    """A pred_K562_l2fc column next to K562_l2fc: 0.8 x the measurement +- 0.1 (row number
    where the measurement is not a number)."""
    if "K562_l2fc" not in header:
        return header, rows
    k = list(header).index("K562_l2fc")
    out = []
    for i, r in enumerate(rows):
        try:
            pred = f"{0.8 * float(r[k]) + 0.1 * (i % 3 - 1):.3f}"
        except ValueError:
            pred = f"{0.1 * i:.3f}"
        out.append(tuple(r) + (pred,))
    return tuple(header) + ("pred_K562_l2fc",), out


def _add_split(header, rows):
    """A split column (train, train, val, ... by row): a training input."""
    return tuple(header) + ("split",), [tuple(r) + (("train", "train", "val")[i % 3],) for i, r in enumerate(rows)]


def _metrics_of_rows(out, rows):
    """evalboot's records for K562_l2fc cover every row and leave none out."""
    task = out[(out["section"] == "metrics") & (out["task"] == "K562_l2fc")]
    metric = dict(zip(task["metric"], task["value"]))
    assert set(task["n"]) == {str(len(rows))}, task
    assert metric["rows_excluded"] == "0"
    assert -1 <= float(metric["pearson"]) <= 1


def _add_pair_columns(header, rows):
    """A fit-ep input: the sequence column is the enhancer (--enhancer-col sequence), plus a
    promoter sequence, a cell line, a 0/1 label and a split; K562_l2fc is read as the distance."""
    promoter = "ACGTTGCAAGCT" * 20
    return (tuple(header) + ("promoter_seq", "cell", "label", "split"),
            [tuple(r) + (promoter, ("cellA", "cellB")[i % 2], ("1", "0")[i % 2], ("train", "train", "val")[i % 3])
             for i, r in enumerate(rows)])


READS = {
    "seqqc": Reads(parses_targets=True, sequences="qc"),
    "dgsplit": Reads(args=("--allow-empty",)),   # the small tables here leave val or test empty
    "descfeat": Reads(),
    "evalboot": Reads(needs="no truth column", parses_targets=True, sequences="ignored",
                      add_columns=_add_prediction, check_rows=_metrics_of_rows),
    "predict": Reads(args=("-m", TinyModel())),
    "fit-cre": Reads(parses_targets=True, add_columns=_add_split,
                     args=("-o", FreshDir(), "--preset", "cpu", "--epochs", "1", "--no-baseline",
                           "--targets", "K562_l2fc"),
                     writes_table=False),
    "fit-ep": Reads(needs="no enhancer sequence", parses_targets=True, add_columns=_add_pair_columns,
                    args=("-o", FreshDir(), "--preset", "cpu", "--epochs", "1", "--enhancer-col", "sequence",
                          "--distance-col", "K562_l2fc"),
                    writes_table=False),
    "fit-physinformer": Reads(parses_targets=True, add_columns=_add_split,
                              args=("-o", FreshDir(), "--preset", "cpu", "--epochs", "1", "--descriptors",
                                    "K562_l2fc"),
                              writes_table=False),
}
TABLE_WRITERS = [n for n in ALL if READS[n].writes_table]


def test_every_command_says_what_it_reads():
    assert set(READS) == set(COMMANDS), "add the new command to READS (and to test_conventions.INVOCATIONS)"


# ----------------------------------------------------------------------------- helpers

def sample_rows(n=6, start=0):
    """``n`` real lentiMPRA rows (id, 230-nt sequence, mean_value) as string tuples."""
    df = pd.read_csv(LENTI, sep="\t", dtype=str, keep_default_na=False)
    df = df.iloc[start:start + n]
    return list(zip(df["seq_id"], df["seq"], df["mean_value"]))


def table_text(rows, header=("id", "sequence", "K562_l2fc"), sep="\t", eol="\n", name=None):
    """The table as text; with ``name``, plus the columns that command's valid input has."""
    if name is not None and READS[name].add_columns is not None:
        header, rows = READS[name].add_columns(header, rows)
    lines = [sep.join(header)] + [sep.join(map(str, r)) for r in rows]
    return eol.join(lines) + eol


def write(path, content):
    path = Path(path)
    if isinstance(content, str):
        content = content.encode("utf-8")
    path.write_bytes(content)
    return path


def invoke(name, args, input=None):
    """Run a registered command in-process; exceptions other than SystemExit are failures."""
    args = [*args, *READS[name].args]
    result = CliRunner().invoke(load(name), [str(a) for a in args], input=input, catch_exceptions=True)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        import traceback

        tb = "".join(traceback.format_exception(*result.exc_info))
        pytest.fail(f"{name} raised {type(result.exception).__name__} instead of an Error line:\n{tb}")
    return result


def run_bin(name, args, input=None, timeout=120):
    """Run bin/<name> as a real subprocess; returns (CompletedProcess, seconds)."""
    t0 = time.monotonic()
    args = [*args, *READS[name].args]
    proc = subprocess.run([sys.executable, str(REPO / "bin" / name), *map(str, args)],
                          input=input, capture_output=True, timeout=timeout)
    return proc, time.monotonic() - t0


def error_line(stderr, status, path, *keywords):
    """Check a bad-data failure: one ``Error:`` line naming ``path`` and saying each keyword.

    ``status`` is the exit status seen; ``stderr`` the text of standard error.
    Returns the error line.
    """
    assert "Traceback" not in stderr, stderr
    assert status == 1, f"exit status {status}, expected 1; stderr:\n{stderr}"
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("Error:")]
    assert len(errors) == 1, f"expected exactly one 'Error:' line, got:\n{stderr}"
    assert len(lines) == 1, f"expected only the Error line on stderr, got:\n{stderr}"
    line = errors[0]
    if path is not None:
        names = {str(path), os.path.basename(str(path))}
        assert any(n in line for n in names), f"Error line does not name {path}: {line}"
    low = line.lower()
    for kw in keywords:
        assert kw.lower() in low, f"Error line does not say {kw!r}: {line}"
    assert len(line) < 2000, f"Error line is {len(line)} characters long"
    return line


def assert_error(result, path, *keywords):
    """``error_line`` for a CliRunner result; standard output must stay empty."""
    line = error_line(result.stderr, result.exit_code, path, *keywords)
    assert result.stdout == "", f"data on stdout on failure: {result.stdout[:200]!r}"
    return line


def assert_bin_error(proc, path, *keywords):
    stderr = proc.stderr.decode("utf-8", "replace")
    line = error_line(stderr, proc.returncode, path, *keywords)
    assert proc.stdout == b"", f"data on stdout on failure: {proc.stdout[:200]!r}"
    return line


def read_out(text):
    return pd.read_csv(io.StringIO(text), sep="\t", dtype=str, keep_default_na=False)


@pytest.fixture
def good_table(tmp_path, request):
    """A small valid TSV: id, sequence, K562_l2fc with real 230-nt sequences (and the other
    columns the command under test needs)."""
    name = request.node.callspec.params["name"]
    return write(tmp_path / "good.tsv", table_text(sample_rows(6), name=name))


# ----------------------------------------------------------------------------- 1. empty file

@pytest.mark.parametrize("name", ALL)
def test_empty_file(name, tmp_path):
    path = write(tmp_path / "empty.tsv", b"")
    assert_error(invoke(name, [path]), path, "empty")


@pytest.mark.parametrize("name", ALL)
def test_empty_stdin(name):
    result = invoke(name, ["-"], input=b"")
    assert_error(result, "<stdin>", "empty")


# ----------------------------------------------------------------------------- 2. header only

@pytest.mark.parametrize("name", ALL)
def test_header_only(name, tmp_path):
    path = write(tmp_path / "header_only.tsv", "id\tsequence\n")
    assert_error(invoke(name, [path]), path, "no data rows")


# ----------------------------------------------------------------------------- 3. binary garbage

def _garbage_with_nul():
    rnd = random.Random(1)
    data = bytearray(rnd.randbytes(4096))
    data[0:2] = b"\x00\x01"  # not gzip magic; a NUL right away
    data[100] = 0
    return bytes(data)


def _garbage_high_bytes():
    rnd = random.Random(2)
    data = bytes(rnd.randrange(0x80, 0x100) for _ in range(4096))
    assert b"\x00" not in data and data[:2] != b"\x1f\x8b"
    return data


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("kind", ["nul", "high_bytes"])
def test_binary_garbage(name, kind, tmp_path):
    data = _garbage_with_nul() if kind == "nul" else _garbage_high_bytes()
    path = write(tmp_path / f"garbage_{kind}.tsv", data)
    assert_error(invoke(name, [path]), path, "binary")


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("kind", ["nul", "high_bytes"])
def test_binary_after_valid_text(name, kind, tmp_path):
    """Garbage past the first 64 KiB (the sniffed part) is still refused cleanly."""
    rows = sample_rows(6)
    body = table_text(rows * 60, name=name)  # > 64 KiB of valid table
    assert len(body) > 70_000
    junk = b"\x00\x00\x00junk" if kind == "nul" else bytes(range(0x80, 0x100))
    path = write(tmp_path / f"late_{kind}.tsv", body.encode() + junk + b"\n")
    assert_error(invoke(name, [path]), path, "binary")


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("kind", ["nul", "high_bytes"])
def test_binary_garbage_subprocess(name, kind, tmp_path):
    data = _garbage_with_nul() if kind == "nul" else _garbage_high_bytes()
    path = write(tmp_path / f"garbage_{kind}.bin", data)
    proc, _ = run_bin(name, [path])
    assert_bin_error(proc, path, "binary")


# ----------------------------------------------------------------------------- 4. wrong delimiter

@pytest.mark.parametrize("name", ALL)
def test_semicolon_delimiter(name, tmp_path):
    rows = sample_rows(4)
    path = write(tmp_path / "semicolon.csv", table_text(rows, sep=";", name=name))
    line = assert_error(invoke(name, [path]), path, READS[name].needs, "delimiter")
    assert "line 1" in line, line
    assert "delimiter" in line.replace(str(path), ""), line  # the folder's name has the word too


# ----------------------------------------------------------------------------- 5. missing sequence column

@pytest.mark.parametrize("name", ALL)
def test_missing_sequence_column(name, tmp_path):
    path = write(tmp_path / "noseq.tsv", table_text([("a", "1.5"), ("b", "-0.25"), ("c", "3")],
                                                    header=("id", "value"), name=name))
    assert_error(invoke(name, [path]), path, READS[name].needs)


# ----------------------------------------------------------------------------- 6. non-numeric target

@pytest.mark.parametrize("name", ALL)
def test_non_numeric_target(name, tmp_path):
    rows = [list(r) for r in sample_rows(5)]
    rows[2][2] = "abc"  # data row 3 = line 4 of the file (header is line 1)
    path = write(tmp_path / "nonnum.tsv", table_text(rows, name=name))
    result = invoke(name, [path])
    if not READS[name].parses_targets:
        # seqqc and evalboot parse targets; the other commands pass the column through
        assert result.exit_code == 0, result.stderr
        out = read_out(result.stdout)
        assert len(out) == 5
        assert list(out["K562_l2fc"]) == [r[2] for r in rows]
        return
    line = assert_error(result, path, "K562_l2fc", "not a number")
    assert "line 4" in line, line
    assert "abc" in line, line


def _with_blank_line(rows, after_line=2, name=None):
    """The table with an empty line inserted after file line ``after_line``."""
    lines = table_text(rows, name=name).split("\n")
    lines.insert(after_line, "")
    return "\n".join(lines)


@pytest.mark.parametrize("name", ALL)
def test_line_number_after_blank_line(name, tmp_path):
    """Line numbers are the file's lines even when a blank line precedes the bad row.

    File: 1 header, 2 row 1, 3 blank, 4 row 2, 5 row 3, 6 row 4 (the bad one).
    seqqc, evalboot: row 4's target is 'abc'; dgsplit, descfeat: row 4's sequence is empty.
    """
    rows = [list(r) for r in sample_rows(5)]
    if READS[name].parses_targets:
        rows[3][2] = "abc"
        keywords = ("K562_l2fc", "not a number")
    else:
        rows[3][1] = ""
        keywords = ("empty sequence",)
    path = write(tmp_path / "blank_inside.tsv", _with_blank_line(rows, name=name))
    line = assert_error(invoke(name, [path]), path, *keywords)
    assert "line 6" in line, line


@pytest.mark.parametrize("name", ["seqqc"])
def test_rejects_qc_line_after_blank_line(name, tmp_path):
    rows = [list(r) for r in sample_rows(5)]
    rows[3][1] = ""  # row 4, file line 6
    path = write(tmp_path / "blank_inside.tsv", _with_blank_line(rows))
    rej = tmp_path / "rejects.tsv"
    result = invoke(name, [path, "-q", "-o", tmp_path / "out.tsv", "--rejects", rej])
    assert result.exit_code == 0, result.stderr
    rejected = pd.read_csv(rej, sep="\t", dtype=str, keep_default_na=False)
    assert list(rejected["qc_reason"]) == ["empty_sequence"]
    assert list(rejected["qc_line"]) == ["6"]


@pytest.mark.parametrize("name", ALL)
def test_empty_sequence_row(name, tmp_path):
    """An empty sequence: seqqc rejects the row with its line; dgsplit refuses naming the line;
    evalboot does not read sequences and uses the row."""
    rows = [list(r) for r in sample_rows(5)]
    rows[2][1] = ""  # line 4
    path = write(tmp_path / "empty_seq.tsv", table_text(rows, name=name))
    if READS[name].sequences == "ignored":
        result = invoke(name, [path, "-q"])
        assert result.exit_code == 0, result.stderr
        READS[name].check_rows(read_out(result.stdout), rows)
        return
    if READS[name].sequences == "qc":
        rej = tmp_path / "rejects.tsv"
        result = invoke(name, [path, "-q", "-o", tmp_path / "out.tsv", "--rejects", rej])
        assert result.exit_code == 0, result.stderr
        rejected = pd.read_csv(rej, sep="\t", dtype=str, keep_default_na=False)
        assert list(rejected["qc_reason"]) == ["empty_sequence"]
        assert list(rejected["qc_line"]) == ["4"]
        return
    line = assert_error(invoke(name, [path]), path, "empty sequence")
    assert "line 4" in line, line


# ----------------------------------------------------------------------------- 7. lowercase bases

@pytest.mark.parametrize("name", TABLE_WRITERS)
def test_lowercase_bases(name, tmp_path):
    rows = sample_rows(6)
    if name == "dgsplit":
        # a lowercase copy of row 0 and an uppercase original must share a group
        data = list(rows) + [("lower_copy", rows[0][1].lower(), rows[0][2])]
        path = write(tmp_path / "lower.tsv", table_text(data, name=name))
        for grouping in ("rc", "exact"):
            result = invoke(name, [path, "-q", "--group-by", grouping])
            assert result.exit_code == 0, result.stderr
            out = read_out(result.stdout)
            assert len(out) == len(data)
            gid = dict(zip(out["id"], out["group_id"]))
            split = dict(zip(out["id"], out["split"]))
            assert gid["lower_copy"] == gid[rows[0][0]]
            assert split["lower_copy"] == split[rows[0][0]]
            if grouping == "exact":
                # (row 1 is row 0's reverse complement, so only exact grouping isolates the pair)
                assert sum(g == gid["lower_copy"] for g in out["group_id"]) == 2
        return
    data = [(i, s.lower(), v) for i, s, v in rows]
    path = write(tmp_path / "lower.tsv", table_text(data, name=name))
    result = invoke(name, [path, "-q"])
    assert result.exit_code == 0, result.stderr
    out = read_out(result.stdout)
    if READS[name].sequences == "ignored":
        READS[name].check_rows(out, rows)
        return
    assert len(out) == len(rows)
    assert list(out["sequence"]) == [s.upper() for _, s, _ in rows]


# ----------------------------------------------------------------------------- 8. IUPAC codes

def _iupac_rows():
    rows = [list(r) for r in sample_rows(6)]
    s = rows[3][1]
    rows[3][1] = s[:50] + "R" + s[51:100] + "Y" + s[101:150] + "K" + s[151:]
    assert len(rows[3][1]) == len(s)
    return rows


@pytest.mark.parametrize("name", TABLE_WRITERS)
def test_iupac_codes(name, tmp_path):
    rows = _iupac_rows()
    path = write(tmp_path / "iupac.tsv", table_text(rows, name=name))
    if READS[name].sequences == "qc":
        rej, rep, out_path = tmp_path / "rejects.tsv", tmp_path / "qc.json", tmp_path / "out.tsv"
        result = invoke(name, [path, "-o", out_path, "--rejects", rej, "--report", rep])
        assert result.exit_code == 0, result.stderr
        assert "Traceback" not in result.stderr
        out = pd.read_csv(out_path, sep="\t", dtype=str, keep_default_na=False)
        rejected = pd.read_csv(rej, sep="\t", dtype=str, keep_default_na=False)
        report = json.loads(rep.read_text())
        assert list(rejected["id"]) == [rows[3][0]]
        assert list(rejected["qc_reason"]) == ["alphabet"]
        assert list(rejected["qc_line"]) == ["5"]
        assert set(out["id"]) == {r[0] for i, r in enumerate(rows) if i != 3}
        assert report["rows_in"] == len(rows)
        assert report["rows_out"] == len(out) == len(rows) - 1
        assert report["rows_rejected"] == len(rejected) == 1
        assert report["rows_in"] == report["rows_out"] + report["rows_rejected"] + report["rows_merged"]
        assert report["removed_by_rule"]["alphabet"] == 1
        return
    # dgsplit does no QC: the row passes through with a split, or is refused with one clean Error line
    result = invoke(name, [path, "-q"])
    if READS[name].sequences == "ignored":
        assert result.exit_code == 0, result.stderr
        READS[name].check_rows(read_out(result.stdout), rows)
        return
    if result.exit_code == 0:
        out = read_out(result.stdout)
        assert len(out) == len(rows)
        assert set(out["split"]) <= {"train", "val", "test"}
    else:
        assert_error(result, path, "line 5")


# ----------------------------------------------------------------------------- 9. CRLF line ends

@pytest.mark.parametrize("name", TABLE_WRITERS)
@pytest.mark.parametrize("sep", ["\t", ","], ids=["tsv", "csv"])
def test_crlf_same_output(name, sep, tmp_path):
    rows = sample_rows(8)
    lf = write(tmp_path / "lf.txt", table_text(rows, sep=sep, eol="\n", name=name))
    crlf = write(tmp_path / "crlf.txt", table_text(rows, sep=sep, eol="\r\n", name=name))
    outs = []
    for path in (lf, crlf):
        out_path = tmp_path / f"out_{path.stem}.tsv"
        result = invoke(name, [path, "-q", "-o", out_path])
        assert result.exit_code == 0, result.stderr
        outs.append(out_path.read_bytes())
    assert b"\r" not in outs[0]
    assert b"\r" not in outs[1], "a carriage return leaked into the output"
    assert outs[0] == outs[1]
    out = read_out(outs[1].decode())
    if READS[name].check_rows is not None:
        READS[name].check_rows(out, rows)
        return
    assert list(out["id"]) == [r[0] for r in rows]
    assert list(out["K562_l2fc"]) == [r[2] for r in rows]


@pytest.mark.parametrize("name", TABLE_WRITERS)
def test_crlf_stdout(name, tmp_path):
    rows = sample_rows(8)
    lf = invoke(name, ["-q"], input=table_text(rows, name=name).encode())
    crlf = invoke(name, ["-q"], input=table_text(rows, eol="\r\n", name=name).encode())
    assert lf.exit_code == crlf.exit_code == 0, (lf.stderr, crlf.stderr)
    assert "\r" not in crlf.stdout
    assert lf.stdout == crlf.stdout


# ----------------------------------------------------------------------------- 10. a 10 MB single line

@pytest.mark.parametrize("name", ALL)
def test_huge_single_line(name, tmp_path):
    path = write(tmp_path / "one_line.tsv", b"A" * 10_000_000)
    t0 = time.monotonic()
    result = invoke(name, [path])
    elapsed = time.monotonic() - t0
    assert_error(result, path, "no data rows")
    assert elapsed < 20, f"took {elapsed:.1f} s"


@pytest.mark.parametrize("name", ALL)
def test_huge_single_line_subprocess(name, tmp_path):
    path = write(tmp_path / "one_line.tsv", b"A" * 10_000_000)
    proc, elapsed = run_bin(name, [path], timeout=60)
    assert_bin_error(proc, path, "no data rows")
    assert elapsed < 30, f"took {elapsed:.1f} s"


# ----------------------------------------------------------------------------- 11. truncated gzip

def _truncated_gzip(tmp_path):
    full = gzip.compress(LENTI.read_bytes(), mtime=0)
    assert len(full) > 1000
    return write(tmp_path / "table.tsv.gz", full[: len(full) // 2])


@pytest.mark.parametrize("name", ALL)
def test_truncated_gzip(name, tmp_path):
    path = _truncated_gzip(tmp_path)
    assert_error(invoke(name, [path]), path, "gzip", "truncated")


@pytest.mark.parametrize("name", ALL)
def test_truncated_gzip_small(name, tmp_path):
    """A gzip cut inside its first block (small file: the sniffed head already fails)."""
    full = gzip.compress(table_text(sample_rows(3), name=name).encode(), mtime=0)
    path = write(tmp_path / "small.gz", full[: len(full) // 2])
    assert_error(invoke(name, [path]), path, "gzip", "truncated")


@pytest.mark.parametrize("name", ALL)
def test_truncated_gzip_subprocess(name, tmp_path):
    path = _truncated_gzip(tmp_path)
    proc, _ = run_bin(name, [path])
    assert_bin_error(proc, path, "gzip", "truncated")


@pytest.mark.parametrize("name", ALL)
def test_truncated_gzip_stdin_subprocess(name, tmp_path):
    path = _truncated_gzip(tmp_path)
    proc, _ = run_bin(name, ["-"], input=path.read_bytes())
    assert_bin_error(proc, "<stdin>", "gzip", "truncated")


# ----------------------------------------------------------------------------- 12. ragged rows

@pytest.mark.parametrize("name", ALL)
def test_ragged_row(name, tmp_path):
    rows = [list(r) for r in sample_rows(5)]
    rows[2].append("extra")  # data row 3 = line 4
    path = write(tmp_path / "ragged.tsv", table_text(rows, name=name))
    line = assert_error(invoke(name, [path]), path, "fields")
    assert "line 4" in line, line


@pytest.mark.parametrize("name", ALL)
def test_ragged_row_after_comment(name, tmp_path):
    """Line numbers count the skipped leading comment lines too."""
    rows = [list(r) for r in sample_rows(5)]
    rows[2].append("extra")  # data row 3 = line 5 with one comment line
    path = write(tmp_path / "ragged_comment.tsv", "# produced by a pipeline\n" + table_text(rows, name=name))
    line = assert_error(invoke(name, [path]), path, "fields")
    assert "line 5" in line, line


@pytest.mark.parametrize("name", ALL)
def test_ragged_row_subprocess(name, tmp_path):
    rows = [list(r) for r in sample_rows(5)]
    rows[3].extend(["x", "y"])  # line 5
    path = write(tmp_path / "ragged.tsv", table_text(rows, name=name))
    proc, _ = run_bin(name, [path])
    line = assert_bin_error(proc, path, "fields")
    assert "line 5" in line, line


# ----------------------------------------------------------------------------- 13. no such file

@pytest.mark.parametrize("name", ALL)
def test_no_such_file(name, tmp_path):
    path = tmp_path / "does_not_exist.tsv"
    assert_error(invoke(name, [path]), path, "no such file")


@pytest.mark.parametrize("name", ALL)
def test_no_such_file_subprocess(name, tmp_path):
    path = tmp_path / "does_not_exist.tsv"
    proc, _ = run_bin(name, [path])
    assert_bin_error(proc, path, "no such file")


@pytest.mark.parametrize("name", ALL)
def test_directory_as_input(name, tmp_path):
    assert_error(invoke(name, [tmp_path]), tmp_path, "directory")


# ----------------------------------------------------------------------------- 14. -o over the input

@pytest.mark.parametrize("name", TABLE_WRITERS)
def test_output_over_input(name, good_table):
    before = good_table.read_bytes()
    result = invoke(name, [good_table, "-o", good_table])
    assert_error(result, good_table, "refusing")
    assert good_table.read_bytes() == before


@pytest.mark.parametrize("name", TABLE_WRITERS)
def test_output_over_input_other_spelling(name, tmp_path, good_table):
    """The same file named differently (a '..' detour, a symlink) is still refused."""
    before = good_table.read_bytes()
    (tmp_path / "sub").mkdir()
    detour = tmp_path / "sub" / ".." / good_table.name
    result = invoke(name, [good_table, "-o", detour])
    assert_error(result, good_table.name, "refusing")
    assert good_table.read_bytes() == before
    link = tmp_path / "link.tsv"
    link.symlink_to(good_table)
    result = invoke(name, [link, "-o", good_table])
    assert_error(result, good_table, "refusing")
    assert good_table.read_bytes() == before
    assert link.is_symlink()


SIDE_OUTPUTS = {"seqqc": ["--rejects", "--report"], "dgsplit": ["--manifest", "--report"], "descfeat": ["--report"],
                "evalboot": ["--plot"]}


@pytest.mark.parametrize("name,option", [(n, o) for n in ALL for o in SIDE_OUTPUTS.get(n, [])])
def test_side_output_over_input(name, option, tmp_path, good_table):
    before = good_table.read_bytes()
    out = tmp_path / "out.tsv"
    result = invoke(name, [good_table, "-o", out, option, good_table])
    assert_error(result, good_table, "refusing")
    assert good_table.read_bytes() == before


@pytest.mark.parametrize("name", TABLE_WRITERS)
def test_output_over_input_subprocess(name, good_table):
    before = good_table.read_bytes()
    proc, _ = run_bin(name, [good_table, "-o", good_table])
    assert_bin_error(proc, good_table, "refusing")
    assert good_table.read_bytes() == before


# ----------------------------------------------------------------------------- 15. unknown option

@pytest.mark.parametrize("name", ALL)
def test_unknown_option(name, good_table):
    result = invoke(name, [good_table, "--no-such-option"])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("Error:")]
    assert len(errors) == 1 and "--no-such-option" in errors[0], result.stderr


@pytest.mark.parametrize("name", ALL)
def test_unknown_option_subprocess(name, good_table):
    proc, _ = run_bin(name, [good_table, "--no-such-option"])
    assert proc.returncode == 2, proc.stderr
    assert b"Traceback" not in proc.stderr
    assert proc.stdout == b""
    assert b"--no-such-option" in proc.stderr


# ----------------------------------------------------------------------------- sanity: the basis is valid

@pytest.mark.parametrize("name", TABLE_WRITERS)
def test_good_table_passes(name, good_table):
    """The valid basis used above succeeds, so failures above are caused by the bad part."""
    result = invoke(name, [good_table, "-q"])
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    if READS[name].check_rows is not None:
        READS[name].check_rows(read_out(result.stdout), sample_rows(6))
        return
    assert len(read_out(result.stdout)) == 6


@pytest.mark.parametrize("name, args", [
    ("dgsplit", ["-o", "{d}/a.tsv", "--manifest", "{d}/a.tsv"]),
    ("dgsplit", ["-o", "{d}/a.tsv", "--report", "{d}/./a.tsv"]),
    ("descfeat", ["-o", "{d}/a.tsv", "--report", "{d}/a.tsv"]),
    ("seqqc", ["-o", "{d}/a.tsv", "--rejects", "{d}/r.tsv", "--report", "{d}/r.tsv"]),
    ("predict", ["--model", "{d}/no_model", "--explain", "ism", "-o", "{d}/a.h5", "-e", "{d}/a.h5"]),
    ("evalboot", ["--truth", "y", "--pred", "p", "-o", "{d}/a.tsv", "--plot", "{d}/a.tsv"]),
])
def test_two_outputs_naming_one_file_are_refused(tmp_path, name, args):
    """One output would silently replace the other: refused before any work, nothing written."""
    src = tmp_path / "in.tsv"
    src.write_text("id\tseq\na\tACGTACGTACGTAAAC\nb\tACGTACGTACGTAAAG\n")
    res = run_cli(name, [src, *[a.format(d=tmp_path) for a in args]])
    assert res.exit_code == 1 and "name the same file" in res.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.tsv"]
