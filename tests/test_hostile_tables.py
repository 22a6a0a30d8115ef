"""Hostile but common tables: trailing delimiters (Excel and R exports), ids with tabs,
quotes, commas, '#', spaces and non-ASCII text, double-quoted TSV headers, ';'-separated
files and duplicate column names. Every one is either read correctly (checked against the
real rows of the bundled lentiMPRA table, read here with the csv module) or stopped with
one ``Error:`` line naming the line; no column is ever shifted or renamed."""

import csv
import io
import sys
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from test_bad_input import ALL, READS, assert_error, invoke, table_text, write  # noqa: E402

LENTI = DATA / "lentimpra_HepG2_400.tsv"


def lenti_rows(n=20):
    """The header and first ``n`` rows of the real lentiMPRA table, split by the csv module
    (independent of the toolkit's reader)."""
    with open(LENTI, newline="") as fh:
        rows = list(csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))
    return rows[0], rows[1:n + 1]


def run(name, args, input=None):
    """A command in-process; any exception but SystemExit fails the test."""
    result = invoke(name, args, input=input)
    return result


def out_table(path_or_text):
    """A TSV written by the toolkit, read by the csv module (no quoting: tabs separate, always)."""
    text = Path(path_or_text).read_text() if isinstance(path_or_text, Path) else path_or_text
    rows = list(csv.reader(io.StringIO(text), delimiter="\t", quoting=csv.QUOTE_NONE))
    header = rows[0]
    for r in rows[1:]:
        assert len(r) == len(header), f"row with {len(r)} fields under a header of {len(header)}: {r[:3]}"
    return pd.DataFrame(rows[1:], columns=header, dtype=str)


# ----------------------------------------------------------------------------- 5. trailing delimiter

def _trailing(tmp_path, sep, rows_with=None):
    """The lentiMPRA rows with one trailing delimiter on data rows (all, or those in ``rows_with``)."""
    header, rows = lenti_rows()
    lines = [sep.join(header)]
    for i, r in enumerate(rows):
        end = sep if rows_with is None or i in rows_with else ""
        lines.append(sep.join(r) + end)
    ext = "tsv" if sep == "\t" else "csv"
    return write(tmp_path / f"trailing.{ext}", "\n".join(lines) + "\n"), header, rows


def _seqqc_reads_every_row(path, rows, tmp_path):
    """seqqc keeps every (id, sequence, mean_value) row of ``rows`` as written, rejects none."""
    out, rej = tmp_path / "clean.tsv", tmp_path / "rej.tsv"
    res = run("seqqc", [path, "-q", "-o", out, "--rejects", rej])
    assert res.exit_code == 0, res.stderr
    got = out_table(out)
    assert list(got.columns) == ["id", "seq_id", "sequence", "mean_value"]
    assert list(got["id"]) == [r[0] for r in rows]
    assert list(got["sequence"]) == [r[1] for r in rows]
    assert list(got["mean_value"]) == [r[2] for r in rows]
    assert len(out_table(rej)) == 0


@pytest.mark.parametrize("sep", ["\t", ","])
def test_trailing_delimiter_on_every_data_row_seqqc(sep, tmp_path):
    path, header, rows = _trailing(tmp_path, sep)
    _seqqc_reads_every_row(path, rows, tmp_path)


@pytest.mark.parametrize("sep", ["\t", ","])
def test_trailing_delimiter_on_every_data_row_dgsplit(sep, tmp_path):
    path, header, rows = _trailing(tmp_path, sep)
    out = tmp_path / "split.tsv"
    res = run("dgsplit", [path, "-q", "-o", out])
    assert res.exit_code == 0, res.stderr
    got = out_table(out)
    assert list(got.columns)[:4] == ["id", "seq_id", "sequence", "mean_value"]
    assert sorted(got["id"]) == sorted(r[0] for r in rows)
    by_id = dict(zip(got["id"], got["sequence"]))
    assert all(by_id[r[0]] == r[1] for r in rows)
    assert got["group_id"].nunique() > 1  # 20 distinct real sequences are not one group


@pytest.mark.parametrize("sep", ["\t", ","])
@pytest.mark.parametrize("name", ["seqqc", "dgsplit"])
def test_trailing_delimiter_on_some_rows_is_an_error(name, sep, tmp_path):
    # data rows 1-3 plain, row 4 (file line 5) with a trailing delimiter: never shifted
    path, _, _ = _trailing(tmp_path, sep, rows_with={3})
    line = assert_error(run(name, [path, "-q"]), path, "fields")
    assert "line 5" in line, line


@pytest.mark.parametrize("sep", ["\t", ","])
def test_trailing_delimiter_missing_on_one_row_is_an_error(sep, tmp_path):
    # every row but data row 7 (file line 8) ends with the delimiter
    path, _, rows = _trailing(tmp_path, sep, rows_with=set(range(20)) - {6})
    line = assert_error(run("seqqc", [path, "-q"]), path, "fields")
    assert "line 8" in line, line


def test_extra_non_empty_field_on_first_row_is_an_error(tmp_path):
    # pandas would take the first column as the index when row 1 has one field more than the header
    header, rows = lenti_rows(5)
    text = "\t".join(header) + "\n" + "".join("\t".join(r + (["x"] if i == 0 else [])) + "\n"
                                               for i, r in enumerate(rows))
    path = write(tmp_path / "extra.tsv", text)
    line = assert_error(run("dgsplit", [path, "-q"]), path, "4 fields", "header has 3")
    assert "line 2" in line, line


def test_trailing_delimiter_in_later_chunks_is_read(tmp_path):
    # more rows than one parsed block: the decision of the first block holds for every block
    from toolkit.io.tables import iter_table

    header, rows = lenti_rows(400)
    path = write(tmp_path / "trail.tsv", "\t".join(header) + "\n" + "".join("\t".join(r) + "\t\n" for r in rows))
    chunks = list(iter_table(str(path), chunk_rows=64))
    assert len(chunks) > 1
    df = pd.concat([c.df for c in chunks], ignore_index=True)
    assert list(df.columns) == header
    assert df.values.tolist() == rows


# ----------------------------------------------------------------------------- 6. hostile ids

HOSTILE_IDS = [
    'with"quote', '"fully quoted"', "comma,inside", "#hash first", " leading space", "trailing space ",
    "ünïcødé-β", "semi;colon", "back\\slash", "'single'", "a b  c", "#", "x\x0by",
]


def _hostile_csv(tmp_path):
    """A CSV of real lentiMPRA sequences and values whose ids are hostile text."""
    header, rows = lenti_rows(len(HOSTILE_IDS) + 7)
    ids = HOSTILE_IDS + [r[0] for r in rows[len(HOSTILE_IDS):]]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["name", "seq", "mean_value"])
    for i, r in zip(ids, rows):
        w.writerow([i, r[1], r[2]])
    # the first data row starts with '#': it must not be taken for a comment
    text = buf.getvalue()
    lines = text.splitlines(keepends=True)
    k = next(j for j, ln in enumerate(lines) if ln.startswith("#hash"))
    lines.insert(1, lines.pop(k))
    return write(tmp_path / "hostile.csv", "".join(lines)), ids, rows


def test_hostile_ids_survive_seqqc_dgsplit_descfeat(tmp_path):
    path, ids, rows = _hostile_csv(tmp_path)
    with open(path, newline="") as fh:
        want = {r[0]: (r[1], r[2]) for r in list(csv.reader(fh))[1:]}
    assert len(want) == len(ids)
    clean, rej, split, feats = (tmp_path / n for n in ("clean.tsv", "rej.tsv", "split.tsv", "feat.tsv"))
    res = run("seqqc", [path, "-q", "-o", clean, "--rejects", rej])
    assert res.exit_code == 0, res.stderr
    got = out_table(clean)
    assert len(out_table(rej)) == 0
    assert {i: (s, v) for i, s, v in zip(got["id"], got["sequence"], got["mean_value"])} == want
    res = run("dgsplit", [clean, "-q", "-o", split])
    assert res.exit_code == 0, res.stderr
    got = out_table(split)
    assert {i: (s, v) for i, s, v in zip(got["id"], got["sequence"], got["mean_value"])} == want
    assert set(got["split"]) <= {"train", "val", "test"}
    res = run("descfeat", [split, "-q", "--families", "entropy", "-o", feats])
    assert res.exit_code == 0, res.stderr
    got = out_table(feats)
    assert list(got["id"]) == list(out_table(split)["id"])
    assert {i: (s, v) for i, s, v in zip(got["id"], got["sequence"], got["mean_value"])} == want


@pytest.mark.slow
def test_hostile_ids_survive_seqqc_dgsplit_predict_evalboot(tmp_path):
    from conftest import TinyModel

    path, ids, _ = _hostile_csv(tmp_path)
    with open(path, newline="") as fh:
        want = {r[0]: (r[1], r[2]) for r in list(csv.reader(fh))[1:]}
    clean, split, preds, ev = (tmp_path / n for n in ("clean.tsv", "split.tsv", "preds.tsv", "eval.tsv"))
    assert run("seqqc", [path, "-q", "-o", clean]).exit_code == 0
    assert run("dgsplit", [clean, "-q", "-o", split]).exit_code == 0
    res = run("predict", [split, "-q", "-m", str(TinyModel()), "-o", preds])
    assert res.exit_code == 0, res.stderr
    got = out_table(preds)
    assert {i: (s, v) for i, s, v in zip(got["id"], got["sequence"], got["mean_value"])} == want
    assert got["pred_mean_value"].map(float).notna().all()
    res = run("evalboot", [preds, "-q", "--truth", "mean_value", "-o", ev])
    assert res.exit_code == 0, res.stderr
    n = out_table(ev)
    assert str(len(want)) in set(n.loc[n["task"] == "mean_value", "n"])


@pytest.mark.parametrize("quoting", [csv.QUOTE_MINIMAL, csv.QUOTE_ALL])
@pytest.mark.parametrize("bad", ["tab\there", "cr\rhere"])
@pytest.mark.parametrize("name", ["seqqc", "dgsplit", "descfeat", "evalboot"])
def test_field_with_tab_or_carriage_return_is_an_error(name, bad, quoting, tmp_path):
    # a quoted CSV field may hold a tab or a line break; no TSV output could hold it
    header, rows = lenti_rows(6)
    body = [("id", "sequence", "K562_l2fc")] + [(r[0], r[1], r[2]) for r in rows]
    body[4] = (bad, *body[4][1:])  # data row 4 = file line 5
    if READS[name].add_columns is not None:
        h, rr = READS[name].add_columns(body[0], body[1:])
        body = [h] + rr
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n", quoting=quoting).writerows(body)  # CRLF as Excel writes it
    path = write(tmp_path / "tabbed.csv", buf.getvalue())
    line = assert_error(run(name, [path, "-q"]), path)
    assert "line 5" in line, line
    assert "tab" in line.lower() or "line break" in line.lower(), line


def test_tab_inside_a_quoted_tsv_field_is_an_error(tmp_path):
    # R's write.table(sep="\t") quotes text, so a tab inside a value stays inside its quotes
    header, rows = lenti_rows(5)
    rows[3][0] = "tab\there"
    text = "".join("\t".join(f'"{f}"' for f in r) + "\n" for r in [header] + rows)
    path = write(tmp_path / "rtab.tsv", text)
    line = assert_error(run("seqqc", [path, "-q"]), path, "tab", "column 'seq_id'")
    assert "line 5" in line, line


def test_header_name_with_tab_is_an_error(tmp_path):
    header, rows = lenti_rows(3)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["seq_id", "seq", "mean\tvalue"])
    w.writerows(rows)
    path = write(tmp_path / "tabname.csv", buf.getvalue())
    line = assert_error(run("seqqc", [path, "-q", "--format", "csv"]), path, "tab")
    assert "line 1" in line, line
    # without --format the tab makes it look like a TSV: then no column is the sequence
    assert_error(run("seqqc", [path, "-q"]), path, "no sequence column")


def test_csv_field_with_line_break_is_an_error(tmp_path):
    header, rows = lenti_rows(4)
    rows[2][0] = "two\nlines"
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows([header] + rows)
    path = write(tmp_path / "newline.csv", buf.getvalue())
    line = assert_error(run("seqqc", [path, "-q"]), path)
    assert "line 4" in line, line


def test_fasta_description_with_tab_is_an_error(tmp_path):
    _, rows = lenti_rows(3)
    descs = ["plain", "cell\tHepG2", "plain"]
    text = "".join(f">{r[0]} {d}\n{r[1]}\n" for r, d in zip(rows, descs))
    path = write(tmp_path / "tab.fa", text)
    line = assert_error(run("seqqc", [path, "-q"]), path, "tab")
    assert "line 3" in line, line


def test_write_tsv_never_writes_a_tab_or_line_break_inside_a_field():
    from toolkit.errors import ToolkitError
    from toolkit.io.tables import write_tsv

    for bad in ("a\tb", "a\nb", "a\rb"):
        df = pd.DataFrame({"id": ["ok", bad], "v": ["1", "2"]})
        fh = io.StringIO()
        with pytest.raises(ToolkitError, match="column 'id'"):
            write_tsv(df, fh)
        assert bad not in fh.getvalue()
    fh = io.StringIO()
    with pytest.raises(ToolkitError):
        write_tsv(pd.DataFrame({"a\tb": ["1"]}), fh)


# ----------------------------------------------------------------------------- 7. quoted headers, ';'

def _quoted_tsv(tmp_path, quote_data):
    header, rows = lenti_rows()
    q = (lambda s: f'"{s}"')
    lines = ["\t".join(q(h) for h in header)]
    for r in rows:  # as R's write.table(sep="\t"): text quoted, numbers not
        lines.append("\t".join([q(r[0]), q(r[1]), r[2]] if quote_data else r))
    return write(tmp_path / "quoted.tsv", "\n".join(lines) + "\n"), rows


@pytest.mark.parametrize("quote_data", [True, False])
def test_double_quoted_tsv_header_is_read(quote_data, tmp_path):
    path, rows = _quoted_tsv(tmp_path, quote_data)
    _seqqc_reads_every_row(path, rows, tmp_path)


def test_one_quoted_header_field_does_not_make_seq_id_the_sequence(tmp_path):
    header, rows = lenti_rows()
    text = 'seq_id\t"seq"\tmean_value\n' + "".join("\t".join(r) + "\n" for r in rows)
    path = write(tmp_path / "q1.tsv", text)
    out = tmp_path / "clean.tsv"
    res = run("seqqc", [path, "-q", "-o", out])
    assert res.exit_code == 0, res.stderr
    got = out_table(out)
    assert list(got["id"]) == [r[0] for r in rows]
    assert list(got["sequence"]) == [r[1] for r in rows]


@pytest.mark.parametrize("name", ["seqqc", "dgsplit"])
def test_semicolon_separated_lentimpra_is_an_error(name, tmp_path):
    header, rows = lenti_rows(5)
    path = write(tmp_path / "semi.csv", "".join(";".join(r) + "\n" for r in [header] + rows))
    line = assert_error(run(name, [path, "-q"]), path, "no sequence column", "seq_id;seq;mean_value", "';'",
                        "delimiter", "convert")
    assert "line 1" in line, line


def test_sequence_id_is_never_the_sequence_column(tmp_path):
    # 'sequence_id' names ids; the DNA is in 'dna'
    header, rows = lenti_rows(10)
    text = "sequence_id\tdna\tmean_value\n" + "".join("\t".join(r) + "\n" for r in rows)
    path = write(tmp_path / "ids.tsv", text)
    out = tmp_path / "clean.tsv"
    res = run("seqqc", [path, "-q", "-o", out])
    assert res.exit_code == 0, res.stderr
    got = out_table(out)
    assert list(got["sequence"]) == [r[1] for r in rows]
    assert list(got["id"]) == [r[0] for r in rows]


# ----------------------------------------------------------------------------- 9. duplicate column names

def _dup_params():
    for n in ALL:
        yield pytest.param(n, marks=pytest.mark.slow) if n == "predict" else n


@pytest.mark.parametrize("name", list(_dup_params()))
def test_duplicate_column_names_are_an_error(name, tmp_path):
    rows = [(r[0], r[1], r[2], "a", "b") for r in lenti_rows(6)[1]]
    text = table_text(rows, header=("id", "sequence", "K562_l2fc", "note", "note"), name=name)
    path = write(tmp_path / "dup.tsv", text)
    line = assert_error(invoke(name, [path, "-q"]), path, "note", "twice")
    assert "line 1" in line, line
    assert "column 'note'" in line, line


def test_duplicate_column_names_after_comments_name_the_header_line(tmp_path):
    header, rows = lenti_rows(4)
    text = "# exported\n# by hand\n" + "seq_id\tseq\tmean_value\t mean_value\n" + "".join(
        "\t".join(r + [r[2]]) + "\n" for r in rows)
    path = write(tmp_path / "dup2.tsv", text)
    line = assert_error(run("seqqc", [path, "-q"]), path, "mean_value", "twice")
    assert "line 3" in line, line


def test_duplicate_column_names_in_csv(tmp_path):
    header, rows = lenti_rows(4)
    text = "seq_id,seq,mean_value,mean_value\n" + "".join(",".join(r + [r[2]]) + "\n" for r in rows)
    path = write(tmp_path / "dup.csv", text)
    line = assert_error(run("dgsplit", [path, "-q"]), path, "mean_value", "twice")
    assert "line 1" in line, line
