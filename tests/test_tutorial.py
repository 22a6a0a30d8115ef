"""docs/tutorial.md runs on the repository alone: every file under share/ it names exists, it reads
nothing outside the clone, and every bundled table it cleans with seqqc is read by seqqc with the row
counts the tutorial quotes. Cheap (a few seconds); the tutorial's training steps are not run here."""
import json
import re

import pytest

from conftest import REPO, run_cli

TUTORIAL = REPO / "docs" / "tutorial.md"


def _text():
    return TUTORIAL.read_text()


def _blocks(kind):
    return re.findall(r"```" + kind + r"\n(.*?)```", _text(), re.S)


def _share_paths():
    """Every path under share/ that the tutorial names, in prose or in a command."""
    found = re.findall(r"(?<![\w./-])(?:\$R/)?(share/[\w./-]*[\w/])", _text())
    return sorted({p.rstrip("/") for p in found})


def test_tutorial_names_only_existing_share_files():
    paths = _share_paths()
    assert "share/examples/gosai_table_s2_10rows.tsv" in paths, paths
    missing = [p for p in paths if not (REPO / p).exists()]
    assert not missing, f"docs/tutorial.md names files that are not in the repository: {missing}"


def test_tutorial_reads_nothing_outside_the_clone():
    commands = "\n".join(_blocks("sh"))
    assert "../shared" not in _text() and "/shared/" not in commands
    # every input under share/ is reached through $R, the clone's root, since the commands run elsewhere
    for path in re.findall(r"(?<![\w$/.-])share/[\w./-]+", commands):
        pytest.fail(f"a command names {path} without $R/ (the tutorial runs in a scratch folder)")


def test_bundled_tables_read_by_seqqc_with_the_quoted_counts(tmp_path):
    commands = re.findall(r"^seqqc \$R/(share/examples/\S+) .*--report", "\n".join(_blocks("sh")), re.M)
    quoted = re.findall(r"^seqqc: (\d+) rows in, (\d+) out, (\d+) rejected, (\d+) merged \(length (\d+)",
                        "\n".join(_blocks("text")), re.M)
    assert "share/examples/gosai_table_s2_10rows.tsv" in commands, commands
    assert len(commands) == len(quoted), (commands, quoted)
    for i, (path, counts) in enumerate(zip(commands, quoted)):
        out, report = tmp_path / f"out{i}.tsv", tmp_path / f"qc{i}.json"
        res = run_cli("seqqc", [REPO / path, "-q", "-o", out, "--report", report,
                                "--rejects", tmp_path / f"rej{i}.tsv"])
        assert res.exit_code == 0, (path, res.output)
        rep = json.loads(report.read_text())
        got = (rep["rows_in"], rep["rows_out"], rep["rows_rejected"], rep["rows_merged"],
               rep["length_policy"]["length"])
        assert got == tuple(map(int, counts)), (path, got, counts)
        assert out.stat().st_size > 0
