"""Faults at the write points: a full disk, a read-only file system or an unwritable
folder is one ``Error:`` line naming the path (exit 1); the previous output stays intact
and no temporary file is left behind.

Real faults where this machine allows them (a tiny tmpfs, remounted read-only; a
0o555 folder when not running as root), simulated ones everywhere (``os.write``,
``mkstemp`` or the HDF5 writer raising ENOSPC/EACCES part-way through).
"""

import errno
import os
import subprocess
import sys

import pytest

from conftest import DATA, REPO, FreshDir, TinyModel, run_bin, run_cli

TABLE = DATA / "lentimpra_HepG2_400.tsv"
PREVIOUS = "previous output\n"


def _prediction_table(folder):
    import numpy as np
    import pandas as pd

    df = pd.read_csv(TABLE, sep="\t", dtype={"mean_value": float})
    df["pred_mean_value"] = (0.8 * df["mean_value"] + np.random.default_rng(7).normal(0, 0.4, len(df))).round(4)
    path = folder / "preds_in.tsv"
    df.to_csv(path, sep="\t", index=False)
    return path


# name -> (arguments before -o, given the test folder); each writes a table of >= 30 kB
TABLE_COMMANDS = {
    "seqqc": lambda d: [TABLE],
    "dgsplit": lambda d: [TABLE],
    "descfeat": lambda d: [TABLE, "--families", "thermo"],
    "predict": lambda d: [TABLE, "-m", TinyModel()],
    "evalboot": lambda d: [_prediction_table(d), "--bootstrap", "50"],
}


def assert_write_error(res, path, words):
    """One Error: line naming ``path`` and ``words``, exit 1, no traceback."""
    err = res.stderr
    assert res.exit_code == 1, err
    assert err.startswith("Error: ") and err.count("\n") == 1, err
    assert str(path) in err and words in err, err
    assert "Traceback" not in err and "internal error" not in err


def assert_intact(folder, keep):
    """Only the files in ``keep`` (name -> content) are in ``folder``, unchanged: no temporary left."""
    assert sorted(p.name for p in folder.iterdir()) == sorted(keep)
    for name, text in keep.items():
        if text is not None:
            assert (folder / name).read_text() == text


@pytest.fixture
def enospc_after(monkeypatch):
    """enospc_after(folder, nbytes): os.write to a file in ``folder`` fails with ENOSPC once
    ``nbytes`` or more have been written there (a disk filling up part-way; 0: at once)."""

    def arm(folder, nbytes):
        real = os.write
        written = {"n": 0}

        def write(fd, data):
            try:
                target = os.readlink(f"/proc/self/fd/{fd}")
            except OSError:
                target = ""
            if target.startswith(str(folder)):
                if written["n"] >= nbytes:
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                written["n"] += len(data)
            return real(fd, data)

        monkeypatch.setattr(os, "write", write)
        return written

    if not os.path.isdir("/proc/self/fd"):
        pytest.skip("needs /proc/self/fd to tell the output's descriptor")
    return arm


# ---------------------------------------------------------------------- simulated faults

@pytest.mark.parametrize("name", sorted(TABLE_COMMANDS))
def test_disk_full_mid_write_keeps_previous_output(name, tmp_path, enospc_after):
    work = tmp_path / "in"
    work.mkdir()
    args = TABLE_COMMANDS[name](work)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "result.tsv"
    out.write_text(PREVIOUS)
    part_way = name != "evalboot"  # evalboot's few metric lines are one write
    written = enospc_after(out_dir, 1 if part_way else 0)
    res = run_cli(name, [*args, "-o", out])
    assert written["n"] > 0 or not part_way  # it failed part-way, not before starting
    assert_write_error(res, out, "No space left on device")
    assert_intact(out_dir, {"result.tsv": PREVIOUS})


def test_seqqc_side_outputs_full_disk(tmp_path, enospc_after):
    out_dir = tmp_path / "side"
    out_dir.mkdir()
    rejects = out_dir / "rejects.tsv"
    rejects.write_text(PREVIOUS)
    main = tmp_path / "clean.tsv"
    enospc_after(out_dir, 1)
    bad = tmp_path / "bad.tsv"  # every row rejected: the rejects file is the big one
    bad.write_text(TABLE.read_text().replace("\tA", "\tX"))
    res = run_cli("seqqc", [bad, "-o", main, "--rejects", rejects])
    assert_write_error(res, rejects, "No space left on device")
    assert_intact(out_dir, {"rejects.tsv": PREVIOUS})
    assert not main.exists()  # the main output is not renamed into place either


def test_report_json_full_disk(tmp_path, enospc_after):
    out_dir = tmp_path / "rep"
    out_dir.mkdir()
    report = out_dir / "qc.json"
    report.write_text(PREVIOUS)
    enospc_after(out_dir, 0)
    res = run_cli("seqqc", [TABLE, "-q", "-o", tmp_path / "clean.tsv", "--report", report])
    assert_write_error(res, report, "No space left on device")
    assert_intact(out_dir, {"qc.json": PREVIOUS})


def test_gzip_output_full_disk(tmp_path, enospc_after):
    out_dir = tmp_path / "gz"
    out_dir.mkdir()
    out = out_dir / "clean.tsv.gz"
    enospc_after(out_dir, 1)
    res = run_cli("seqqc", [TABLE, "-q", "-o", out])
    assert_write_error(res, out, "No space left on device")
    assert_intact(out_dir, {})


def test_hdf5_output_full_disk(tmp_path, monkeypatch):
    """HDF5 writes at the C level: h5py's OSError (errno in the text) names the output."""
    import toolkit.io.h5 as h5

    out = tmp_path / "feats.h5"
    out.write_text(PREVIOUS)
    real = h5.H5Writer.append
    calls = {"n": 0}

    def append(self, *a, **k):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(None, f"Can't synchronously write data (file write failed: filename = '{self.h5.filename}', "
                                "errno = 28, error message = 'No space left on device')")
        return real(self, *a, **k)

    monkeypatch.setattr(h5.H5Writer, "append", append)
    res = run_cli("descfeat", [TABLE, "--families", "thermo", "--chunk-rows", "100", "-o", out])
    assert_write_error(res, out, "No space left on device, ENOSPC")
    assert_intact(tmp_path, {"feats.h5": PREVIOUS})


def test_unwritable_folder_simulated(tmp_path, monkeypatch):
    """EACCES/EROFS when the temporary file is created (what chmod 0o555 or a read-only mount give)."""
    import tempfile

    out = tmp_path / "clean.tsv"
    out.write_text(PREVIOUS)
    for code, words in ((errno.EACCES, "Permission denied"), (errno.EROFS, "Read-only file system")):
        def refuse(*a, code=code, **k):
            raise OSError(code, os.strerror(code), k.get("dir"))

        monkeypatch.setattr(tempfile, "mkstemp", refuse)
        for name in ("seqqc", "descfeat"):
            res = run_cli(name, [TABLE, "-q", "-o", out] + (["--families", "thermo"] if name == "descfeat" else []))
            assert_write_error(res, out, words)
        assert_intact(tmp_path, {"clean.tsv": PREVIOUS})


def test_model_directory_full_disk(tmp_path, monkeypatch):
    """fit-cre: the first model file that cannot be written is named; none is half-written."""
    import torch

    split = _split_table(tmp_path)
    real = torch.save

    def save(obj, f, *a, **k):
        f.write(b"\0" * 1000)  # part of the file, then the disk is full
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(torch, "save", save)
    model = tmp_path / "model"
    res = run_cli("fit-cre", [split, "-o", model, "--preset", "cpu", "--epochs", "1", "--no-baseline",
                              "--targets", "mean_value", "-q"])
    monkeypatch.setattr(torch, "save", real)
    assert_write_error(res, model, "No space left on device")
    assert not [p.name for p in model.iterdir() if p.name.startswith(".") or p.suffix == ".pt"]


def test_atomic_write_keeps_previous_file(tmp_path):
    from toolkit.errors import OutputError
    from toolkit.train import modeldir as MD

    path = tmp_path / "config.json"
    path.write_text(PREVIOUS)

    def fail(fh):
        fh.write(b"{\"half\": ")
        raise OSError(errno.EDQUOT, os.strerror(errno.EDQUOT))

    with pytest.raises(OutputError) as info:
        MD.atomic_write(str(path), fail)
    assert str(path) in info.value.message() and "EDQUOT" in info.value.message()
    assert_intact(tmp_path, {"config.json": PREVIOUS})


def _split_table(folder):
    qc = run_cli("seqqc", [TABLE, "-q"])
    split = folder / "split.tsv"
    split.write_text(run_cli("dgsplit", ["-q"], input=qc.stdout).stdout)
    return split


def test_output_folder_that_is_a_file(tmp_path):
    """fit-* -o under a regular file: the OSError of makedirs is an Error: line with the path."""
    blocker = tmp_path / "file"
    blocker.write_text("x")
    res = run_cli("fit-cre", [_split_table(tmp_path), "-o", blocker / "model", "--targets", "mean_value"])
    assert res.exit_code == 1 and res.stderr.startswith("Error: ") and str(blocker) in res.stderr, res.stderr
    assert "Traceback" not in res.stderr and "internal error" not in res.stderr


def test_standard_output_on_a_full_disk():
    """`cmd > file` on a full disk (here /dev/full): one Error: line, exit 1, no traceback."""
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    with open("/dev/full", "wb") as full:
        res = subprocess.run([sys.executable, str(REPO / "bin" / "seqqc"), str(TABLE), "-q"], stdout=full,
                             stderr=subprocess.PIPE)
    err = res.stderr.decode()
    assert res.returncode == 1 and err.startswith("Error: <stdout>: cannot write (No space left on device"), err
    assert err.count("\n") == 1


# ---------------------------------------------------------------------- real faults

@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a 0o555 folder; simulated above instead")
def test_read_only_folder_real(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    out = folder / "clean.tsv"
    out.write_text(PREVIOUS)
    folder.chmod(0o555)
    try:
        res = run_cli("seqqc", [TABLE, "-q", "-o", out])
        assert_write_error(res, out, "Permission denied")
        assert_intact(folder, {"clean.tsv": PREVIOUS})
    finally:
        folder.chmod(0o755)


@pytest.fixture
def tiny_fs(tmp_path):
    """tiny_fs(kib) -> a folder on a tmpfs of that size (skips where mounting is not allowed)."""
    mounts = []

    def make(kib):
        point = tmp_path / f"fs{len(mounts)}"
        point.mkdir()
        res = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={kib}k", "tmpfs", str(point)],
                             capture_output=True)
        if res.returncode != 0:
            pytest.skip("cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN); simulated faults cover it")
        mounts.append(point)
        return point

    yield make
    for point in mounts:
        subprocess.run(["umount", "-l", str(point)], capture_output=True)


@pytest.mark.parametrize("ext", ["tsv", "h5"])
def test_real_full_disk(tiny_fs, ext):
    fs = tiny_fs(64)
    out = fs / f"feats.{ext}"
    out.write_text(PREVIOUS)
    res = run_cli("descfeat", [TABLE, "--families", "thermo", "-o", out])  # ~260 kB of output
    assert_write_error(res, out, "No space left on device")
    assert_intact(fs, {f"feats.{ext}": PREVIOUS})


def test_real_read_only_file_system(tiny_fs):
    fs = tiny_fs(256)
    out = fs / "clean.tsv"
    out.write_text(PREVIOUS)
    res = subprocess.run(["mount", "-o", "remount,ro", str(fs)], capture_output=True)
    if res.returncode != 0:
        pytest.skip("cannot remount read-only here")
    res = run_cli("seqqc", [TABLE, "-q", "-o", out])
    assert_write_error(res, out, "Read-only file system")
    assert out.read_text() == PREVIOUS


def test_real_full_disk_under_a_model_directory(tiny_fs):
    fs = tiny_fs(160)
    split = _split_table(fs.parent)
    model = fs / "model"
    res = run_cli("fit-cre", [split, "-o", model, "--preset", "cpu", "--epochs", "1", "--no-baseline",
                              "--targets", "mean_value", "-q"])
    assert_write_error(res, model, "No space left on device")
    # no temporary left; a model directory the run made and could write nothing into is removed
    assert not model.exists() or not [p.name for p in model.iterdir() if p.name.startswith(".")]



def test_model_directory_files_take_the_umask_like_any_output(tmp_path):
    """atomic_write's temporary file (mkstemp: 0600) is given 0666 less the umask before the
    rename, or the mode of the file it replaces, so a lab's shared model folders stay readable."""
    import os

    from toolkit.train import modeldir as MD

    old = os.umask(0o022)
    try:
        MD.write_json(tmp_path / "config.json", {"a": 1})
        assert (tmp_path / "config.json").stat().st_mode & 0o777 == 0o644
        os.chmod(tmp_path / "config.json", 0o640)
        MD.write_json(tmp_path / "config.json", {"a": 2})
        assert (tmp_path / "config.json").stat().st_mode & 0o777 == 0o640
        os.umask(0o077)
        MD.write_json(tmp_path / "other.json", {"a": 3})
        assert (tmp_path / "other.json").stat().st_mode & 0o777 == 0o600
    finally:
        os.umask(old)
