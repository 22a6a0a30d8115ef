"""descfeat -j 2 writes what -j 1 writes, byte for byte, and the bulk number formatting
(toolkit.io.numfmt) writes exactly what Python's own formatting writes."""

import math
import signal

import numpy as np
import pytest

from conftest import DATA, run_bin
from toolkit.io.numfmt import format_rows

TABLE = DATA / "lentimpra_HepG2_400.tsv"

HARD = [0.0, -0.0, math.nan, -math.nan, math.inf, -math.inf, 1e-300, -1e-300, 5e-324, -5e-324,
        2.2250738585072014e-308, 2.2250738585072009e-308, 1e-310, 1e308, 1.7976931348623157e308,
        -1.7976931348623157e308, 0.1 + 0.2, 1 / 3, -2 / 3, math.pi * 1e10, 123456789.123456789, -987654321.0,
        0.5, 1.5, 2.5, -2.5, 123456.5, 1234565.0, 1234575.0, 999999.5, 999999.4999999999, 9999995.0, 99999.95,
        0.0001, 0.00009999995, 0.000099999949, 0.00001, 1e5, 1e6, 999999.0, 1e15, 1e16, 1e22, 1e23, 1e-17,
        1e-18, 1e-22, 1e-23, 1e27, 1e28, 9.999995e27, 1e100, 1e-100, 1.5e-250, 123456.0, 1234567.0, 3.0, -7.0,
        4.9999995, 4.99999949999, 0.30000000000000004, 2.0 ** 52 + 0.5, 2.0 ** 53, float(2 ** 63), 1e-5 * 3]


def _python(values, digits=6, nan="NaN", prefix=None):
    """The reference: Python's format() of every value, NaN as ``nan``, tab-joined lines."""
    spec = f".{digits}g"
    rows = ["\t".join(nan if v != v else format(v, spec) for v in row) for row in np.asarray(values).tolist()]
    if prefix is not None:
        rows = [p + "\t" + r for p, r in zip(prefix.decode().split("\n"), rows)]
    return "".join(r + "\n" for r in rows).encode()


@pytest.mark.parametrize("digits", [1, 2, 3, 6, 10, 15])
def test_hard_values_match_python(digits):
    a = np.array(HARD)
    assert format_rows(a[:, None], digits=digits) == _python(a[:, None], digits)   # one column
    assert format_rows(a[None, :], digits=digits) == _python(a[None, :], digits)   # one row
    block = a[:a.size // 5 * 5].reshape(-1, 5)                                    # rows of 5, another NaN text
    assert format_rows(block, digits=digits, nan="nan?") == _python(block, digits, "nan?")


def test_random_bit_patterns_and_descriptor_like_values_match_python():
    rng = np.random.default_rng(7)
    bits = np.frombuffer(rng.bytes(8 * 20000), dtype=np.float64).reshape(-1, 8)   # every kind of float
    assert format_rows(bits) == _python(bits)
    scale = 10.0 ** rng.integers(-12, 12, size=(1, 40))
    v = rng.standard_normal((500, 40)) * scale
    v[:, ::3] = np.round(v[:, ::3])                          # counts and other whole numbers
    v[:, 1::7] = np.round(v[:, 1::7], 3)                     # few decimals: many trailing zeros
    v[rng.random(v.shape) < 0.05] = np.nan
    v[rng.random(v.shape) < 0.02] = 0.0
    for digits in (6, 4, 12):
        assert format_rows(v, digits=digits) == _python(v, digits)


def test_rounding_ties_match_python():
    # x.5 at the last kept digit, exactly representable: Python rounds the exact binary value half to even
    k = np.arange(100000, 101000, dtype=np.float64)
    ties = np.concatenate([k + 0.5, (k + 0.5) / 8, (k + 0.5) * 2.0 ** 20, -(k + 0.5)])
    assert format_rows(ties[:, None]) == _python(ties[:, None])
    near = np.concatenate([np.nextafter(ties, np.inf), np.nextafter(ties, -np.inf)])
    assert format_rows(near.reshape(-1, 4)) == _python(near.reshape(-1, 4))


def test_powers_of_ten_and_their_neighbours_match_python():
    p = 10.0 ** np.arange(-320, 309)
    p = p[np.isfinite(p)]
    vals = np.concatenate([p, np.nextafter(p, 0), np.nextafter(p, np.inf), p * (1 - 5e-7), p * (1 + 5e-7)])
    vals = vals[vals != 0]
    assert format_rows(vals[:, None]) == _python(vals[:, None])


def test_prefix_lines_come_first():
    v = np.array([[1.0, np.nan], [2.5e-7, -0.0], [5e-324, 1e300]])
    prefix = "r1\tAC\nrow two\tüber\n3\t\n".encode()
    assert format_rows(v, prefix=prefix) == _python(v, prefix=prefix[:-1])
    assert format_rows(np.zeros((0, 3)), prefix=b"") == b""
    with pytest.raises(ValueError):
        format_rows(v, prefix=b"a\nb\n")
    with pytest.raises(ValueError):
        format_rows(v, nan="N\tA")


def test_float32_values_match_python():
    # float32 values widened to float64 (short binary fractions, many exact decimal ties)
    rng = np.random.default_rng(3)
    with np.errstate(invalid="ignore"):   # signalling NaNs among the random bit patterns
        f32 = np.frombuffer(rng.bytes(4 * 8000), dtype=np.float32).astype(np.float64).reshape(-1, 10)
    assert format_rows(f32) == _python(f32)


@pytest.mark.parametrize("chunk", [None, 300])
def test_two_workers_write_the_bytes_one_process_writes(tmp_path, chunk):
    extra = [] if chunk is None else ["--chunk-rows", str(chunk)]
    outs = {}
    for j in (1, 2):
        out = tmp_path / f"j{j}.tsv"
        res = run_bin("descfeat", [TABLE, "-q", "-j", str(j), "-o", out, *extra])
        assert res.returncode == 0, res.stderr.decode()
        outs[j] = out.read_bytes()
    assert outs[1] == outs[2]
    assert outs[1].count(b"\n") == 401


def test_tsv_is_python_formatting_of_the_computed_values(tmp_path):
    """The whole TSV path (input columns, then each value as f"{v:.6g}", NaN) against an
    independent in-process computation formatted by Python."""
    from toolkit.features.compute import DescriptorSet
    from toolkit.features.labeller import load_motifs
    from toolkit.features.params import default_params
    from toolkit.io.tables import clean_sequences, read_table

    out = tmp_path / "j2.tsv"
    res = run_bin("descfeat", [TABLE, "-q", "-j", "2", "-o", out])
    assert res.returncode == 0, res.stderr.decode()
    lines = out.read_text().split("\n")
    assert lines[-1] == ""
    header, rows = lines[0].split("\t"), [r.split("\t") for r in lines[1:-1]]
    table = read_table(TABLE)
    seqs = clean_sequences(table)
    motifs, _ = load_motifs("HepG2", None, ("pwm", "bend", "stiff", "thermo", "entropy", "advanced", "psi"))
    dset = DescriptorSet(("pwm", "bend", "stiff", "thermo", "entropy", "advanced", "psi"), default_params(),
                         motifs=motifs)
    values = dset.compute(seqs)
    assert header == ["id", "seq_id", "sequence", "mean_value"] + dset.names
    want = [["NaN" if v != v else f"{v:.6g}" for v in row] for row in values.tolist()]
    assert [r[4:] for r in rows] == want
    assert [r[2] for r in rows] == seqs


def test_two_workers_hdf5_equals_one_process(tmp_path):
    from toolkit.io.h5 import read_h5

    got = {}
    for j in (1, 2):
        out = tmp_path / f"j{j}.h5"
        res = run_bin("descfeat", [TABLE, "-q", "-j", str(j), "--chunk-rows", "150", "-o", out])
        assert res.returncode == 0, res.stderr.decode()
        got[j] = read_h5(out)
    a, b = got[1], got[2]
    assert a["values"].dtype == b["values"].dtype == np.float32
    assert np.array_equal(a["values"].view(np.uint32), b["values"].view(np.uint32))
    assert a["names"] == b["names"] and a["ids"] == b["ids"] and a["sequences"] == b["sequences"]
    assert a["columns"] == b["columns"]


def test_pieces_cover_every_row_once_in_order():
    from toolkit.cli.descfeat import _pieces

    for n in (0, 1, 5, 255, 256, 257, 1000, 2292, 10000):
        for jobs in (2, 3, 8):
            cuts = _pieces(n, jobs)
            assert cuts[0][0] == 0 and cuts[-1][1] == n
            assert all(a < b or n == 0 for a, b in cuts)
            assert all(cuts[i][1] == cuts[i + 1][0] for i in range(len(cuts) - 1))
            assert len(cuts) <= max(1, 4 * jobs + 1)


def test_workers_end_by_the_default_action_of_sigterm_and_keep_an_ignored_sighup():
    from toolkit.cli.descfeat import _init_worker

    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)}
    try:
        signal.signal(signal.SIGTERM, lambda *a: None)   # as the command's own handler
        signal.signal(signal.SIGHUP, signal.SIG_IGN)     # as under nohup
        _init_worker(("thermo",), None)
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        for s, h in saved.items():
            signal.signal(s, h)
