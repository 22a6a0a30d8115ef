"""Behaviour every registered command shares (SPEC.md "Every command"), tested once
and parametrized over all commands."""

import configparser
import gzip
import shutil
import subprocess
import sys

import pytest

from conftest import DATA, EXAMPLES, REPO, read_tsv, run_bin, run_cli
from toolkit import __version__
from toolkit.cli import COMMANDS, load

ALL = sorted(COMMANDS)
TABLE = DATA / "lentimpra_HepG2_400.tsv"


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
    example_lines = [ln for ln in res.stdout.splitlines() if ln.strip().startswith(("seqqc", "dgsplit"))]
    assert any("|" in ln for ln in example_lines), "no pipeline example in --help"


@pytest.mark.parametrize("name", ALL)
def test_version(name):
    res = run_cli(name, ["--version"])
    assert res.exit_code == 0
    assert name in res.stdout and __version__ in res.stdout


@pytest.mark.parametrize("name", ALL)
def test_path_dash_stdin_and_gzip_by_magic_agree(name, tmp_path):
    data = TABLE.read_bytes()
    by_path = run_cli(name, [TABLE, "-q"])
    assert by_path.exit_code == 0, by_path.stderr
    by_dash = run_cli(name, ["-", "-q"], input=data)
    by_nothing = run_cli(name, ["-q"], input=data)
    gz = tmp_path / "table.tsv"  # gzip content under a name without .gz
    gz.write_bytes(gzip.compress(data))
    by_gzip = run_cli(name, [gz, "-q"])
    assert by_path.stdout == by_dash.stdout == by_nothing.stdout == by_gzip.stdout
    assert len(read_tsv(by_path.stdout)) == 400


@pytest.mark.parametrize("name", ALL)
def test_output_file_atomic_gz_and_refuses_input(name, tmp_path):
    out = tmp_path / "out.tsv"
    res = run_cli(name, [TABLE, "-q", "-o", out])
    assert res.exit_code == 0 and res.stdout == ""
    assert read_tsv(out).shape[0] == 400
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.tsv"]  # no temporary left behind
    outgz = tmp_path / "out.tsv.gz"
    assert run_cli(name, [TABLE, "-q", "-o", outgz]).exit_code == 0
    assert gzip.decompress(outgz.read_bytes()) == out.read_bytes()
    # refuses to write over its input, which stays intact
    copy = tmp_path / "in.tsv"
    shutil.copy(TABLE, copy)
    res = run_cli(name, [copy, "-o", copy])
    assert res.exit_code == 1 and "Error:" in res.stderr and "refusing" in res.stderr
    assert copy.read_bytes() == TABLE.read_bytes()


@pytest.mark.parametrize("name", ALL)
def test_failed_run_leaves_previous_output_intact(name, tmp_path):
    out = tmp_path / "out.tsv"
    out.write_text("previous\n")
    bad = tmp_path / "bad.tsv"
    bad.write_text("id\tvalue\nr1\t3\n")
    res = run_cli(name, [bad, "-o", out])
    assert res.exit_code == 1
    assert out.read_text() == "previous\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.tsv", "out.tsv"]


@pytest.mark.parametrize("name", ALL)
def test_passthrough_columns_unchanged_in_order(name, tmp_path):
    src = read_tsv(TABLE).head(20)
    src.insert(1, "note", ["0.10", "1e-3", "x y", "", "NA"] * 4)
    src["label"] = [f"L{i:03d}" for i in range(20)]
    path = tmp_path / "t.tsv"
    src.to_csv(path, sep="\t", index=False)
    res = run_cli(name, [path, "-q"])
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
    res = run_bin(name, [bad])
    assert res.returncode == 1
    err = res.stderr.decode()
    assert err.startswith("Error: ") and err.count("\n") == 1, err
    assert "bad.tsv" in err and "Traceback" not in err


@pytest.mark.parametrize("name", ALL)
def test_usage_error_exit_2(name):
    assert run_cli(name, ["--no-such-option"]).exit_code == 2


@pytest.mark.parametrize("name", ALL)
def test_internal_error_traceback_only_with_verbose(name, monkeypatch):
    import toolkit.io.tables as tables

    def boom(*a, **k):
        raise RuntimeError("planted failure")

    monkeypatch.setattr(tables, "iter_table", boom)
    quiet = run_cli(name, [TABLE])
    assert quiet.exit_code == 1
    assert "Error: internal error (RuntimeError: planted failure)" in quiet.stderr
    assert "Traceback" not in quiet.stderr
    loud = run_cli(name, [TABLE, "-v"])
    assert loud.exit_code == 1 and "Traceback" in loud.stderr


@pytest.mark.parametrize("name", ALL)
def test_quiet_end_under_head(name):
    example = EXAMPLES / "lentimpra_HepG2.tsv.gz"  # 12,292 rows: far more than a pipe buffer
    cmd = f"set -o pipefail; '{sys.executable}' '{REPO / 'bin' / name}' '{example}' | head -1"
    res = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("id\t")
    assert "Error" not in res.stderr and "Traceback" not in res.stderr and "Broken" not in res.stderr


@pytest.mark.parametrize("name", ALL)
def test_stdout_data_only_summary_on_stderr(name):
    res = run_bin(name, [TABLE])
    assert res.returncode == 0
    out = res.stdout.decode()
    assert out.splitlines()[0].split("\t")[0] == "id"
    assert len(read_tsv(out)) == 400
    assert res.stderr.decode().startswith(f"{name}:")
    assert run_bin(name, [TABLE, "-q"]).stderr == b""


@pytest.mark.parametrize("name", ALL)
def test_same_input_and_seed_give_identical_bytes(name):
    args = [TABLE, "-q"]
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

    for name in ALL:
        shutil.copy(REPO / "man" / "man1" / f"{name}.1", tmp_path / f"{name}.1")
    monkeypatch.setattr(manpage, "MAN_DIR", tmp_path)
    assert manpage.main(["--check"]) == 0
    page = tmp_path / f"{ALL[0]}.1"
    page.write_text(page.read_text().replace(".SH OPTIONS", ".SH OPTS"))
    assert manpage.main(["--check"]) == 1


def test_ci_runs_the_readme_test_command():
    readme = (REPO / "README.md").read_text()
    commands = [ln.strip() for ln in readme.splitlines() if ln.startswith("python3 -m pip install torch")]
    assert len(commands) == 2, "the README gives exactly two set-up commands"
    assert "demo.sh" in commands[0] and "pytest" in commands[1]
    assert commands[1] in (REPO / ".ci" / "run").read_text()
