import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

REPO = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"
EXAMPLES = REPO / "share" / "examples"

sys.path.insert(0, str(REPO))


@pytest.fixture
def runner():
    return CliRunner()


def run_cli(name, args, input=None):
    """Invoke a registered command in-process; returns click's Result."""
    from toolkit.cli import load

    return CliRunner().invoke(load(name), [str(a) for a in args], input=input, catch_exceptions=False)


def run_bin(name, args, input=None, **kw):
    """Run bin/<name> as a subprocess (real pipes); returns CompletedProcess with bytes."""
    return subprocess.run([sys.executable, str(REPO / "bin" / name), *map(str, args)],
                          input=input, capture_output=True, **kw)


def read_tsv(src):
    """A TSV as a DataFrame of text: ``src`` is a Path, or the table's text (str or bytes)."""
    import io

    import pandas as pd

    if isinstance(src, bytes):
        src = src.decode()
    if isinstance(src, str):
        src = io.StringIO(src)
    return pd.read_csv(src, sep="\t", dtype=str, keep_default_na=False)


def random_seqs(n, rng, lengths, n_rate=0.0):
    """Synthetic uniform random sequences (for invariants, not for answers): lengths cycle
    through ``lengths``; each base is N with probability ``n_rate``."""
    out = []
    for i in range(n):
        s = rng.choice(list("ACGT"), size=lengths[i % len(lengths)])
        if n_rate:
            s[rng.random(s.size) < n_rate] = "N"
        out.append("".join(s))
    return out


class TinyModel:
    """A CRE model directory trained once per test session on demand (str() builds it):
    the real 400-row lentiMPRA table through seqqc | dgsplit, one epoch of the cpu preset."""

    _path = None

    def __str__(self):
        if TinyModel._path is None:
            import atexit
            import shutil
            import tempfile

            from toolkit.cli.fit_cre import cli as fit

            d = tempfile.mkdtemp(prefix="tiny-model-")
            atexit.register(shutil.rmtree, d, True)
            qc = run_cli("seqqc", [DATA / "lentimpra_HepG2_400.tsv", "-q"])
            split = run_cli("dgsplit", ["-q"], input=qc.stdout)
            res = CliRunner().invoke(fit, ["-o", f"{d}/m", "--preset", "cpu", "--epochs", "1", "--no-baseline",
                                           "--targets", "mean_value", "-q"], input=split.stdout,
                                     catch_exceptions=False)
            assert res.exit_code == 0, res.output
            TinyModel._path = f"{d}/m"
        return TinyModel._path


class FreshDir:
    """A new, not yet existing directory path each time it is turned into a string
    (for commands that refuse to write into an existing model directory)."""

    def __str__(self):
        import atexit
        import shutil
        import tempfile

        d = tempfile.mkdtemp(prefix="fresh-")
        atexit.register(shutil.rmtree, d, True)
        return d + "/out"


def kill_after_epoch(monkeypatch, trainer, epoch):
    """Make the next training run of ``trainer`` (a toolkit.train module with write_log and
    MD.save_tensors) die like a killed process right after epoch ``epoch``'s log is written
    and its next file is saved. Returns a function that undoes it."""
    real_log = trainer.write_log
    real_save = trainer.MD.save_tensors
    fired = {"done": False}

    def save_then_die(p, obj):
        real_save(p, obj)
        monkeypatch.setattr(trainer.MD, "save_tensors", real_save)
        raise KeyboardInterrupt

    def log_then_arm(path, rows):
        real_log(path, rows)
        if len(rows) == epoch and not fired["done"]:
            fired["done"] = True
            monkeypatch.setattr(trainer.MD, "save_tensors", save_then_die)

    monkeypatch.setattr(trainer, "write_log", log_then_arm)
    return lambda: monkeypatch.setattr(trainer, "write_log", real_log)
