"""Behaviour every registered command shares (SPEC.md "Every command"), tested once
and parametrized over all commands.

``INVOCATIONS`` says, per command, how to run it on a valid input and what its output
must show; a check that does not apply to a command (passing rows through, for a
command that writes metrics) is parametrized over the commands it applies to.
"""

import configparser
import gzip
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest

from conftest import DATA, EXAMPLES, REPO, FreshDir, TinyModel, read_tsv, run_bin, run_cli
from toolkit import __version__
from toolkit.cli import COMMANDS, load

ALL = sorted(COMMANDS)
TABLE = DATA / "lentimpra_HepG2_400.tsv"
BIG = EXAMPLES / "lentimpra_HepG2.tsv.gz"  # 12,292 rows: far more than a pipe buffer
PIPELINE_STARTS = ("seqqc", "dgsplit", "predict")  # --help examples start a pipeline with one of these


@dataclass(frozen=True)
class Invocation:
    """How a command is run on a valid input, and what its output must show.

    make_input(folder, source) -> Path: a valid input built from ``source`` (a real table);
    args: arguments after the input; first_column: the output's first column;
    check(out, source): asserts on the output table (a DataFrame of text) made from ``source``;
    passes_rows: the command writes every input row with its columns (passthrough check);
    reader: the function of toolkit.io.tables the command reads through (internal-error check);
    writes_table: the command writes a table to standard output or -o FILE (fit-* commands
    write a model directory instead, and the table-output checks do not apply).
    """

    make_input: Callable
    check: Callable
    first_column: str = "id"
    args: tuple = ()
    passes_rows: bool = True
    reader: str = "iter_table"
    writes_table: bool = True


def _as_is(folder, source):
    return source


def _rows_passed(out, source):
    assert len(out) == (400 if source == TABLE else len(read_tsv(source)))


def _with_prediction(folder, source):
    """The real lentiMPRA table with a prediction: the measurement plus seeded noise."""
    import pandas as pd

    df = pd.read_csv(source, sep="\t", dtype={"mean_value": float})
    rng = np.random.default_rng(7)
    df["pred_mean_value"] = (0.8 * df["mean_value"] + rng.normal(0, 0.4, len(df))).round(4)
    path = folder / f"pred_{source.name.replace('.gz', '')}"
    df.to_csv(path, sep="\t", index=False)
    return path


def _metrics_of_all_rows(out, source):
    """Metric records of the one task, over every row of ``source``, with an interval."""
    pearson = out[(out["section"] == "metrics") & (out["task"] == "mean_value") & (out["metric"] == "pearson")]
    assert len(pearson) == 1 and pearson["prediction"].iloc[0] == "pred_mean_value"
    assert pearson["n"].iloc[0] == str(len(read_tsv(source)))
    assert 0.5 < float(pearson["value"].iloc[0]) < 1
    assert float(pearson["ci_low"].iloc[0]) < float(pearson["value"].iloc[0]) < float(pearson["ci_high"].iloc[0])


ROWS = Invocation(make_input=_as_is, check=_rows_passed)
def _split_table(folder, source):
    """seqqc | dgsplit of the real table (a training input)."""
    qc = run_cli("seqqc", [source, "-q"])
    sp = run_cli("dgsplit", ["-q"], input=qc.stdout)
    path = folder / f"split_{source.name.replace('.gz', '')}"
    path.write_text(sp.stdout)
    return path


def _rows_with_predictions(out, source):
    _rows_passed(out, source)
    assert "pred_mean_value" in out.columns and out["pred_mean_value"].astype(float).notna().all()


def _descriptor_table(folder, source):
    """seqqc | dgsplit | descfeat --families thermo of the real table (a PhysInformer input)."""
    split = _split_table(folder, source)
    feats = run_cli("descfeat", [split, "-q", "--families", "thermo"])
    path = folder / f"thermo_{source.name.replace('.gz', '')}"
    path.write_text(feats.stdout)
    return path


def _pair_table(folder, source):
    """Enhancer-promoter pairs built from the real table's sequences (a fit-ep input): the
    first half as enhancers, the second as promoters, two cell lines, label 1 for the top
    tenth of mean_value, split train/train/val."""
    import pandas as pd

    df = pd.read_csv(source, sep="\t", dtype=str, keep_default_na=False)
    n = len(df) // 2
    act = pd.to_numeric(df["mean_value"][:n], errors="coerce").to_numpy()
    out = pd.DataFrame({"id": [f"pair{i}" for i in range(n)], "enhancer_seq": df["seq"][:n].to_numpy(),
                        "promoter_seq": df["seq"][n:2 * n].to_numpy(), "cell": ["cellA", "cellB"] * (n // 2) +
                        ["cellA"] * (n % 2), "label": (act > np.nanquantile(act, 0.9)).astype(int),
                        "split": [("train", "train", "val")[i % 3] for i in range(n)]})
    path = folder / f"pairs_{source.name.replace('.gz', '')}"
    out.to_csv(path, sep="\t", index=False)
    return path


INVOCATIONS = {
    "seqqc": ROWS,
    "dgsplit": ROWS,
    "descfeat": ROWS,
    "predict": Invocation(make_input=_as_is, check=_rows_with_predictions,
                          args=("-m", TinyModel(), "--chunk-rows", "500")),
    "fit-cre": Invocation(make_input=_split_table, check=None, passes_rows=False, writes_table=False,
                          args=("-o", FreshDir(), "--preset", "cpu", "--epochs", "1", "--no-baseline",
                                "--targets", "mean_value")),
    "fit-physinformer": Invocation(make_input=_descriptor_table, check=None, passes_rows=False, writes_table=False,
                                   args=("-o", FreshDir(), "--preset", "cpu", "--epochs", "1")),
    "fit-ep": Invocation(make_input=_pair_table, check=None, passes_rows=False, writes_table=False,
                         reader="_iter_delimited", args=("-o", FreshDir(), "--preset", "cpu", "--epochs", "1")),
    "evalboot": Invocation(make_input=_with_prediction, check=_metrics_of_all_rows, first_column="section",
                           passes_rows=False, reader="_iter_delimited"),
}
PASSING_ROWS = [n for n in ALL if INVOCATIONS[n].passes_rows]
TABLE_WRITERS = [n for n in ALL if INVOCATIONS[n].writes_table]


@pytest.fixture(scope="module")
def valid(tmp_path_factory):
    """valid(name) -> the 400-row input of a command; valid(name, BIG) -> its 12,292-row input."""
    folder = tmp_path_factory.mktemp("valid_inputs")
    made = {}

    def get(name, source=TABLE):
        key = (name, source)
        if key not in made:
            made[key] = INVOCATIONS[name].make_input(folder, source)
        return made[key]

    return get


def test_every_command_says_how_it_is_invoked():
    assert set(INVOCATIONS) == set(COMMANDS), "add the new command to INVOCATIONS (and to test_bad_input.READS)"


def test_console_scripts_match_registry():
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    scripts = {}
    for line in cfg["options.entry_points"]["console_scripts"].strip().splitlines():
        name, target = (x.strip() for x in line.split("="))
        scripts[name] = target
    assert set(scripts) == set(COMMANDS)
    for name, target in scripts.items():
        assert target == f"{COMMANDS[name]}:main"
        assert (REPO / "bin" / name).exists()


@pytest.mark.parametrize("name", ALL)
def test_help_has_pipeline_example(name):
    res = run_cli(name, ["--help"])
    assert res.exit_code == 0
    assert "Examples:" in res.stdout
    example_lines = [ln for ln in res.stdout.splitlines() if ln.strip().startswith(PIPELINE_STARTS)]
    assert any("|" in ln for ln in example_lines), "no pipeline example in --help"


@pytest.mark.parametrize("name", ALL)
def test_version(name):
    res = run_cli(name, ["--version"])
    assert res.exit_code == 0
    assert name in res.stdout and __version__ in res.stdout


@pytest.mark.parametrize("name", TABLE_WRITERS)
def test_path_dash_stdin_and_gzip_by_magic_agree(name, tmp_path, valid):
    inv, table = INVOCATIONS[name], valid(name)
    data = table.read_bytes()
    by_path = run_cli(name, [table, "-q", *inv.args])
    assert by_path.exit_code == 0, by_path.stderr
    by_dash = run_cli(name, ["-", "-q", *inv.args], input=data)
    by_nothing = run_cli(name, ["-q", *inv.args], input=data)
    gz = tmp_path / "table.tsv"  # gzip content under a name without .gz
    gz.write_bytes(gzip.compress(data))
    by_gzip = run_cli(name, [gz, "-q", *inv.args])
    assert by_path.stdout == by_dash.stdout == by_nothing.stdout == by_gzip.stdout
    inv.check(read_tsv(by_path.stdout), table)


@pytest.mark.parametrize("name", TABLE_WRITERS)
def test_output_file_atomic_gz_and_refuses_input(name, tmp_path, valid):
    inv, table = INVOCATIONS[name], valid(name)
    out = tmp_path / "out.tsv"
    res = run_cli(name, [table, "-q", "-o", out, *inv.args])
    assert res.exit_code == 0 and res.stdout == ""
    inv.check(read_tsv(out), table)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.tsv"]  # no temporary left behind
    outgz = tmp_path / "out.tsv.gz"
    assert run_cli(name, [table, "-q", "-o", outgz, *inv.args]).exit_code == 0
    assert gzip.decompress(outgz.read_bytes()) == out.read_bytes()
    # refuses to write over its input, which stays intact
    copy = tmp_path / "in.tsv"
    shutil.copy(table, copy)
    res = run_cli(name, [copy, "-o", copy, *inv.args])
    assert res.exit_code == 1 and "Error:" in res.stderr and "refusing" in res.stderr
    assert copy.read_bytes() == table.read_bytes()


@pytest.mark.parametrize("name", ALL)
def test_failed_run_leaves_previous_output_intact(name, tmp_path):
    out = tmp_path / "out.tsv"
    out.write_text("previous\n")
    bad = tmp_path / "bad.tsv"
    bad.write_text("id\tvalue\nr1\t3\n")
    args = [a for a in INVOCATIONS[name].args if not isinstance(a, FreshDir)]
    if "-o" in args:   # a model-directory writer: its -o gets the file that must stay intact
        args.remove("-o")
    res = run_cli(name, [bad, "-o", out, *args])
    assert res.exit_code == 1
    assert out.read_text() == "previous\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.tsv", "out.tsv"]


@pytest.mark.parametrize("name", PASSING_ROWS)
def test_passthrough_columns_unchanged_in_order(name, tmp_path):
    src = read_tsv(TABLE).head(20)
    src.insert(1, "note", ["0.10", "1e-3", "x y", "", "NA"] * 4)
    src["label"] = [f"L{i:03d}" for i in range(20)]
    path = tmp_path / "t.tsv"
    src.to_csv(path, sep="\t", index=False)
    res = run_cli(name, [path, "-q", *INVOCATIONS[name].args])
    assert res.exit_code == 0, res.stderr
    out = read_tsv(res.stdout)
    kept = [c for c in out.columns if c in ("seq_id", "note", "mean_value", "label")]
    assert kept == ["seq_id", "note", "mean_value", "label"]
    for c in kept:
        assert out[c].tolist() == src[c].astype(str).tolist()
    assert out["id"].tolist() == src["seq_id"].tolist()


@pytest.mark.parametrize("name", ALL)
def test_bad_data_is_one_error_line_exit_1(name, tmp_path):
    bad = tmp_path / "bad.tsv"
    bad.write_text("id\tvalue\nr1\t3\n")
    res = run_bin(name, [bad, *INVOCATIONS[name].args])
    assert res.returncode == 1
    err = res.stderr.decode()
    assert err.startswith("Error: ") and err.count("\n") == 1, err
    assert "bad.tsv" in err and "Traceback" not in err


@pytest.mark.parametrize("name", ALL)
def test_usage_error_exit_2(name):
    assert run_cli(name, ["--no-such-option"]).exit_code == 2


@pytest.mark.parametrize("name", ALL)
def test_internal_error_traceback_only_with_verbose(name, monkeypatch, valid):
    import toolkit.io.tables as tables

    def boom(*a, **k):
        raise RuntimeError("planted failure")

    inv, table = INVOCATIONS[name], valid(name)
    monkeypatch.setattr(tables, inv.reader, boom)
    quiet = run_cli(name, [table, *inv.args])
    assert quiet.exit_code == 1
    assert "Error: internal error (RuntimeError: planted failure)" in quiet.stderr
    assert "Traceback" not in quiet.stderr
    loud = run_cli(name, [table, "-v", *inv.args])
    assert loud.exit_code == 1 and "Traceback" in loud.stderr


@pytest.mark.parametrize("name", TABLE_WRITERS)
def test_quiet_end_under_head(name, valid):
    inv, example = INVOCATIONS[name], valid(name, BIG)
    args = " ".join(f"'{a}'" for a in inv.args)
    cmd = f"set -o pipefail; '{sys.executable}' '{REPO / 'bin' / name}' '{example}' {args} | head -1"
    res = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith(inv.first_column + "\t")
    assert "Error" not in res.stderr and "Traceback" not in res.stderr and "Broken" not in res.stderr


@pytest.mark.parametrize("name", TABLE_WRITERS)
def test_stdout_data_only_summary_on_stderr(name, valid):
    inv, table = INVOCATIONS[name], valid(name)
    res = run_bin(name, [table, *inv.args])
    assert res.returncode == 0
    out = res.stdout.decode()
    assert out.splitlines()[0].split("\t")[0] == inv.first_column
    inv.check(read_tsv(out), table)
    assert res.stderr.decode().startswith(f"{name}:")
    assert run_bin(name, [table, "-q", *inv.args]).stderr == b""


@pytest.mark.parametrize("name", TABLE_WRITERS)
def test_same_input_and_seed_give_identical_bytes(name, valid):
    args = [valid(name), "-q", *INVOCATIONS[name].args]
    if any(p.name == "seed" for p in load(name).params):
        args += ["--seed", "7"]
    a, b = run_bin(name, args), run_bin(name, args)
    assert a.returncode == 0 and a.stdout == b.stdout


def test_man_pages_are_current():
    from toolkit.cli import manpage

    assert manpage.main(["--check"]) == 0, "man pages are stale: run python -m toolkit.cli.manpage"
    for name in ALL:
        page = (REPO / "man" / "man1" / f"{name}.1").read_text()
        assert ".SH EXAMPLES" in page and ".SH OPTIONS" in page
        for param in load(name).params:
            for opt in getattr(param, "opts", []):
                if opt.startswith("--"):
                    assert opt.replace("-", "\\-") in page, f"{opt} missing from {name}.1"


def test_man_page_check_detects_staleness(tmp_path, monkeypatch):
    from toolkit.cli import manpage

    man, docs = tmp_path / "man1", tmp_path / "commands"
    man.mkdir()
    docs.mkdir()
    for name in ALL:
        shutil.copy(REPO / "man" / "man1" / f"{name}.1", man / f"{name}.1")
        shutil.copy(REPO / "docs" / "commands" / f"{name}.md", docs / f"{name}.md")
    monkeypatch.setattr(manpage, "MAN_DIR", man)
    monkeypatch.setattr(manpage, "DOCS_DIR", docs)
    assert manpage.main(["--check"]) == 0
    page = man / f"{ALL[0]}.1"
    good = page.read_text()
    page.write_text(good.replace(".SH OPTIONS", ".SH OPTS"))
    assert manpage.main(["--check"]) == 1
    page.write_text(good)
    md = docs / f"{ALL[-1]}.md"
    md.write_text(md.read_text().replace("## Options", "## Opts"))
    assert manpage.main(["--check"]) == 1
    md.unlink()
    assert manpage.main(["--check"]) == 1


def test_command_reference_pages_list_every_option():
    """docs/commands/<command>.md, generated with the man pages: every long option is in its table."""
    for name in ALL:
        page = (REPO / "docs" / "commands" / f"{name}.md").read_text()
        assert page.startswith(f"# {name}\n") and "## Options" in page and "## Examples" in page
        for param in load(name).params:
            for opt in getattr(param, "opts", []):
                if opt.startswith("--"):
                    assert f"`{opt}" in page or f", {opt}" in page, f"{opt} missing from docs/commands/{name}.md"


def test_ci_runs_the_readme_test_command():
    readme = (REPO / "README.md").read_text()
    commands = [ln.strip() for ln in readme.splitlines() if ln.startswith("python3 -m pip install torch")]
    assert len(commands) == 2, "the README gives exactly two set-up commands"
    assert "demo.sh" in commands[0] and "pytest" in commands[1]
    assert commands[1] in (REPO / ".ci" / "run").read_text()


@pytest.mark.slow
def test_worked_examples_run_on_the_bundled_data(tmp_path):
    """Every worked example of docs/commands/, in order, as a user runs them (about 10 minutes)."""
    from toolkit.cli.worked import ORDER, WORKED

    env = dict(os.environ, PATH=f"{REPO / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}")
    (tmp_path / "share").symlink_to(REPO / "share")
    for name in ORDER:
        for _, line in WORKED[name]:
            res = subprocess.run(line, shell=True, cwd=tmp_path, env=env, capture_output=True, text=True)
            assert res.returncode == 0, f"{line}\n{res.stderr[-2000:]}"
    assert (tmp_path / "preds.tsv").stat().st_size > 0 and (tmp_path / "loco" / "loco.tsv").exists()
