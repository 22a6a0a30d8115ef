"""Where outputs go: regular files are replaced atomically, everything else is written through;
signals end a command cleanly (no temporary files, one ``Error:`` line); a model directory
being written by one run is locked against a second."""

import json
import os
import signal
import stat
import subprocess
import sys
import threading
import time

import pytest

from conftest import DATA, REPO, read_tsv, run_bin

SMALL = DATA / "deepstarr_200.tsv"


def _fifo_reader(path):
    """Open the FIFO ``path`` for reading on a thread; returns (thread, chunks) to join later."""
    chunks = []

    def read():
        with open(path, "rb") as fh:
            chunks.append(fh.read())

    t = threading.Thread(target=read, daemon=True)
    t.start()
    return t, chunks


def test_a_link_to_this_process_stdout_writes_into_the_pipe(tmp_path):
    """``ln -s /proc/self/fd/1 so; seqqc x -o so | wc -l`` printed 0: the link was replaced."""
    link = tmp_path / "so"
    link.symlink_to("/proc/self/fd/1")
    res = run_bin("seqqc", [SMALL, "-q", "-o", link])
    assert res.returncode == 0, res.stderr
    assert len(read_tsv(res.stdout)) == 200
    assert os.path.islink(link) and os.readlink(link) == "/proc/self/fd/1"


def test_the_descriptor_links_write_through(tmp_path):
    """/dev/fd/1 and /dev/fd/2 (what /dev/stdout and /dev/stderr point to). The test names the
    /dev/fd forms: where the defect came back, /dev/stdout itself would be replaced on the test
    machine, while a rename into /proc/self/fd fails harmlessly."""
    res = run_bin("seqqc", [SMALL, "-q", "-o", "/dev/fd/1", "--report", "/dev/fd/2"])
    assert res.returncode == 0, res.stderr
    assert len(read_tsv(res.stdout)) == 200
    assert json.loads(res.stderr)["rows_in"] == 200


def test_dev_stdout_names_this_process_standard_output():
    from toolkit.io.streams import _own_descriptor

    assert [_own_descriptor(p) for p in ("/dev/stdout", "/dev/stderr", "/dev/fd/5", "/proc/self/fd/1")] == [1, 2, 5, 1]
    assert _own_descriptor("results/out.tsv") is None and _own_descriptor("-") is None


def test_dev_stdout_into_a_closed_pipe_ends_quietly(tmp_path):
    """``-o /dev/stdout | head -1`` (here /dev/fd/1): the same quiet end as writing to standard output."""
    big = tmp_path / "big.tsv"
    rows = read_tsv(SMALL)
    with open(big, "w") as fh:
        fh.write("id\tsequence\n")
        for k in range(40):
            for i, s in enumerate(rows["Sequence"]):
                fh.write(f"r{k}_{i}\t{s}\n")
    p = subprocess.Popen([sys.executable, str(REPO / "bin" / "seqqc"), str(big), "-q", "-o", "/dev/fd/1"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.readline()
    p.stdout.close()
    err = p.stderr.read()
    assert p.wait(timeout=120) == 0
    assert err == b""


def test_fifo_outputs_are_written_through_not_replaced(tmp_path):
    out, rep = tmp_path / "out.fifo", tmp_path / "report.fifo"
    os.mkfifo(out)
    os.mkfifo(rep)
    t1, data = _fifo_reader(out)
    t2, report = _fifo_reader(rep)
    res = run_bin("seqqc", [SMALL, "-q", "-o", out, "--report", rep], timeout=120)
    t1.join(10)
    t2.join(10)
    assert res.returncode == 0, res.stderr
    assert len(read_tsv(data[0])) == 200
    assert json.loads(report[0])
    assert stat.S_ISFIFO(os.stat(out).st_mode) and stat.S_ISFIFO(os.stat(rep).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.fifo", "report.fifo"]  # no temporary file left


@pytest.mark.skipif(os.geteuid() != 0, reason="making a device node needs root")
def test_a_character_device_stays_a_device(tmp_path):
    """A null device made for the test (major 1, minor 3) in tmp_path: written through, still a device."""
    dev = tmp_path / "null"
    os.mknod(dev, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    res = run_bin("seqqc", [SMALL, "-q", "-o", dev])
    assert res.returncode == 0, res.stderr
    assert stat.S_ISCHR(os.stat(dev).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["null"]


def test_an_hdf5_output_on_a_fifo_is_copied_through(tmp_path):
    """descfeat writes HDF5 by name (the library opens the file itself); on a FIFO the finished
    file's bytes are copied through, and they are a valid HDF5 file with every row."""
    import h5py

    src = tmp_path / "in.tsv"
    rows = read_tsv(SMALL).head(5)
    src.write_text("id\tsequence\n" + "".join(f"{r.ID}\t{r.Sequence}\n" for r in rows.itertuples()))
    fifo = tmp_path / "feats.h5"
    os.mkfifo(fifo)
    t, data = _fifo_reader(fifo)
    res = run_bin("descfeat", [src, "-q", "--families", "thermo", "-o", fifo], timeout=300)
    t.join(10)
    assert res.returncode == 0, res.stderr
    copy = tmp_path / "copy.h5"
    copy.write_bytes(data[0])
    with h5py.File(copy, "r") as h5:
        assert any(v.shape[0] == 5 for v in h5.values() if hasattr(v, "shape") and v.shape)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_a_link_to_a_regular_file_replaces_the_file_and_keeps_the_link(tmp_path):
    target = tmp_path / "real.tsv"
    target.write_text("old\n")
    link = tmp_path / "link.tsv"
    link.symlink_to(target)
    res = run_bin("seqqc", [SMALL, "-q", "-o", link])
    assert res.returncode == 0, res.stderr
    assert os.path.islink(link)
    assert len(read_tsv(target)) == 200


def test_a_read_only_output_file_is_refused_not_replaced(tmp_path):
    out = tmp_path / "kept.tsv"
    out.write_text("precious\n")
    out.chmod(0o444)
    res = run_bin("seqqc", [SMALL, "-q", "-o", out])
    assert res.returncode == 1
    lines = res.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:") and "read-only" in lines[0] and str(out) in lines[0]
    assert out.read_text() == "precious\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept.tsv"]


def test_a_replaced_file_keeps_its_permissions(tmp_path):
    out = tmp_path / "shared.tsv"
    out.write_text("old\n")
    out.chmod(0o640)
    assert run_bin("seqqc", [SMALL, "-q", "-o", out]).returncode == 0
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o640


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_remove_temporary_files_and_say_so(tmp_path, sig):
    """A Slurm time limit (SIGTERM) or a closed terminal (SIGHUP) while descfeat writes: the
    hidden temporary file is removed, the previous output stays, one ``Error: terminated`` line,
    exit 128 + signal number."""
    import gzip

    src = tmp_path / "in.csv"
    src.write_bytes(gzip.decompress((REPO / "share" / "examples" / "lentimpra_joint_3cell.csv.gz").read_bytes()))
    out = tmp_path / "feats.tsv"
    out.write_text("previous\n")
    def default_signals():      # a test run started under nohup or in the background passes them on ignored
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGHUP, signal.SIG_DFL)

    p = subprocess.Popen([sys.executable, str(REPO / "bin" / "descfeat"), str(src), "-q", "-o", str(out)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=default_signals)
    deadline = time.time() + 120
    while time.time() < deadline and not any(f.name.startswith(".tmp-") for f in tmp_path.iterdir()):
        time.sleep(0.05)
    assert p.poll() is None, p.stderr.read()  # still writing when the signal comes
    p.send_signal(sig)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 128 + sig
    lines = err.decode().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: terminated"), err
    assert sorted(f.name for f in tmp_path.iterdir()) == ["feats.tsv", "in.csv"]
    assert out.read_text() == "previous\n"


# a second run on a model directory being written: tests/test_training_shared.py (each family)


def test_a_failed_run_leaves_no_empty_model_directory(tmp_path):
    """A new model directory made only to hold the lock is removed when the run fails early."""
    bad = tmp_path / "bad.tsv"
    bad.write_text("id\tsequence\tmean_value\na\tACGT\tx\n")
    d = tmp_path / "model"
    res = run_bin("fit-cre", [bad, "-o", d, "--targets", "mean_value", "-q"])
    assert res.returncode == 1
    assert not d.exists()
