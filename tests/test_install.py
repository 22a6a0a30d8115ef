"""`pip install .` (not editable) gives working commands, man pages and share/ data."""

import os
import shutil
import subprocess
import sys
import venv

import pytest

from conftest import REPO


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A virtual environment (reusing this interpreter's packages) with the toolkit installed from a copy."""
    root = tmp_path_factory.mktemp("install")
    src = root / "src"
    shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(".git", "*.egg-info", "build", "__pycache__",
                                                             ".pytest_cache", "demo-out"))
    env_dir = root / "venv"
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(env_dir)
    py = env_dir / "bin" / "python"
    res = subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps",
                          "--no-build-isolation", "--quiet", str(src)], capture_output=True, text=True)
    if res.returncode != 0 and "no such option: --python" in res.stderr:
        pytest.skip("pip too old for --python")
    assert res.returncode == 0, res.stderr
    shutil.rmtree(src)  # the installed copy must not depend on the source tree
    return env_dir


def test_commands_man_pages_and_share_installed(installed, tmp_path):
    from toolkit.cli import COMMANDS

    bindir = installed / "bin"
    env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}"}
    env.pop("PYTHONPATH", None)
    for name in COMMANDS:
        res = subprocess.run([bindir / name, "--version"], capture_output=True, text=True, cwd=tmp_path, env=env)
        assert res.returncode == 0 and name in res.stdout
        page = installed / "share" / "man" / "man1" / f"{name}.1"
        assert page.read_text() == (REPO / "man" / "man1" / f"{name}.1").read_text()
        if shutil.which("man"):
            res = subprocess.run(["man", "-M", str(installed / "share" / "man"), name], capture_output=True,
                                 text=True, env={**env, "MANPAGER": "cat", "PAGER": "cat"})
            assert res.returncode == 0 and "EXIT STATUS" in res.stdout
    # share/ data is found from the installed package, run from an unrelated folder
    code = "from toolkit.io.paths import share_dir, example; print(share_dir()); print(example('lentimpra_joint_3cell.csv.gz'))"
    res = subprocess.run([installed / "bin" / "python", "-c", code], capture_output=True, text=True, cwd=tmp_path,
                         env=env)
    assert res.returncode == 0, res.stderr
    share, ex = res.stdout.split()
    assert share.startswith(str(installed)) and os.path.exists(ex)
    # the main job runs on the installed example
    res = subprocess.run(["bash", "-c", f"set -o pipefail; seqqc '{ex}' -q | dgsplit -q > split.tsv"],
                         capture_output=True, text=True, cwd=tmp_path, env=env)
    assert res.returncode == 0, res.stderr
    lines = (tmp_path / "split.tsv").read_text().splitlines()
    assert len(lines) == 3077 and lines[0].endswith("split\tgroup_id")
    demo = installed / "share" / "regseq-toolkit" / "scripts" / "demo.sh"
    assert demo.exists()
    quick = {**env, "DEMO_FIT_ARGS": "--epochs 1 --batch-size 128"}   # the whole job, one epoch of training
    res = subprocess.run(["sh", str(demo), "out"], capture_output=True, text=True, cwd=tmp_path, env=quick)
    assert res.returncode == 0, res.stderr
    out = tmp_path / "out"
    assert (out / "split.tsv").read_text() == (tmp_path / "split.tsv").read_text()
    n_test = sum(1 for ln in lines[1:] if ln.split("\t")[-2] == "test")
    assert len((out / "preds.tsv").read_text().splitlines()) == n_test + 1
    assert (out / "model" / "model.pt").exists() and "pred_WTC11_l2fc" in (out / "preds.tsv").read_text()
    table = (out / "eval.txt").read_text()
    assert "HepG2_l2fc" in table and "pearson" in table.lower() and table == res.stdout
    assert (installed / "share" / "regseq-toolkit" / "examples" / "ecoli" / "NC_000913.3.fa.bgz.fai").exists()
