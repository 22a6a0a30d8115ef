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
