"""`pip install .` (not editable) gives working commands, man pages and share/ data."""

import os
import shutil
import subprocess
import sys
import venv

import pytest

from conftest import REPO

# a network failure while pip fetches the build requirements, as opposed to a broken build
OFFLINE = ("NewConnectionError", "Failed to establish a new connection", "Temporary failure in name resolution",
           "Network is unreachable", "ConnectTimeoutError", "ReadTimeoutError")


def _copy_ignore(folder, names):
    """Build outputs, caches and virtual environments (`.venv/` holds GBs) stay out of the copy."""
    skip = set(shutil.ignore_patterns(".git", "*.egg-info", "build", "dist", "__pycache__", ".pytest_cache",
                                      "demo-out")(folder, names))
    return skip | {n for n in names if os.path.isfile(os.path.join(folder, n, "pyvenv.cfg"))}


def _site_packages(python):
    res = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                         capture_output=True, text=True, check=True)
    return res.stdout.strip()


def _set_extra_paths(env_dir, paths):
    """Make `paths` importable in the environment after its own site-packages (a .pth file, one path a line)."""
    pth = os.path.join(_site_packages(env_dir / "bin" / "python"), "_toolkit_test_paths.pth")
    with open(pth, "w") as fh:
        fh.write("".join(f"{p}\n" for p in paths))


def _running_site_packages():
    """The site-packages folders this interpreter imports from (torch, click, ... come from here, not reinstalled)."""
    return [p for p in sys.path if os.path.basename(p) in ("site-packages", "dist-packages") and os.path.isdir(p)]


def _unusable_build_tools(folder):
    """A setuptools and a wheel that fail on import: stand-ins for an interpreter whose own build tools cannot
    build this package (on a fresh machine: setuptools 65.5 and no wheel, so no bdist_wheel)."""
    for name in ("setuptools", "wheel"):
        (folder / name).mkdir(parents=True)
        (folder / name / "__init__.py").write_text(
            f"raise ImportError('the installing interpreter\\'s own {name} was used for the build')\n")
    return folder


def _pip_install(env_dir, src):
    """`pip install <src>` into the environment, as a user runs it: the build requirements come from
    pyproject.toml in an isolated build environment, whatever setuptools/wheel the interpreter has."""
    return subprocess.run([sys.executable, "-m", "pip", "--python", str(env_dir / "bin" / "python"), "install",
                           "--no-deps", "--quiet", str(src)], capture_output=True, text=True)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A virtual environment (without the base interpreter's packages) with the toolkit installed from a copy.

    During the build only unusable setuptools/wheel stand-ins are importable in it; afterwards it imports the
    toolkit's dependencies from this interpreter's site-packages. Returns (environment folder, pip's result)."""
    root = tmp_path_factory.mktemp("install")
    src = root / "src"
    shutil.copytree(REPO, src, ignore=_copy_ignore)
    env_dir = root / "venv"
    venv.EnvBuilder(system_site_packages=False, with_pip=False).create(env_dir)
    _set_extra_paths(env_dir, [_unusable_build_tools(root / "stubs")])
    probe = subprocess.run([env_dir / "bin" / "python", "-c", "import setuptools"], capture_output=True, text=True)
    assert "own setuptools was used" in probe.stderr   # the stand-ins are what the interpreter would use
    res = _pip_install(env_dir, src)
    if res.returncode != 0 and "no such option: --python" in res.stderr:
        pytest.skip("pip too old for --python")
    if res.returncode != 0 and any(m in res.stderr for m in OFFLINE):
        pytest.skip("the package index cannot be reached to fetch the build requirements (setuptools, wheel)")
    _set_extra_paths(env_dir, _running_site_packages())
    shutil.rmtree(src)  # the installed copy must not depend on the source tree
    return env_dir, res


def test_build_uses_declared_build_requirements_not_the_interpreters(installed):
    env_dir, res = installed
    assert res.returncode == 0, res.stderr
    site = _site_packages(env_dir / "bin" / "python")
    assert os.path.isfile(os.path.join(site, "toolkit", "cli", "seqqc.py"))
    assert any(n.startswith("regseq_toolkit-") and n.endswith(".dist-info") for n in os.listdir(site))


def test_commands_man_pages_and_share_installed(installed, tmp_path):
    from toolkit.cli import COMMANDS

    installed, res = installed
    assert res.returncode == 0, res.stderr
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
    assert "base_K562_l2fc" in table                        # the k-mer ridge beside the model
    for png in ("eval.png", "ism.png"):                     # the figures, real PNGs
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", png
    assert "results in out/" in res.stderr and "ism.png" in res.stderr
    effects = (out / "effects.tsv").read_text().splitlines()   # the installed variant table, all scored
    assert len(effects) == 8 and "delta_K562_l2fc" in effects[0] and "delta_mingap" in effects[0]
    assert (installed / "share" / "regseq-toolkit" / "examples" / "ecoli" / "NC_000913.3.fa.bgz.fai").exists()
