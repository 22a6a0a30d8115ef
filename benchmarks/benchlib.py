"""Helpers shared by the benchmarks: the machine they ran on and the code they measured."""

import os
import platform
import subprocess


def _proc_field(path, prefix):
    try:
        with open(path) as fh:
            for line in fh:
                if line.startswith(prefix):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def machine(modules=("numpy", "pandas", "scipy")):
    """CPU model, usable cores, RAM (GiB), OS and the versions of Python and ``modules``."""
    from importlib.metadata import PackageNotFoundError, version

    cpu = _proc_field("/proc/cpuinfo", "model name") or platform.processor() or "unknown"
    mem = _proc_field("/proc/meminfo", "MemTotal")
    ram = int(mem.split()[0]) * 1024 if mem else None
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    facts = {"cpu": cpu, "cores": cores, "ram_gib": round(ram / 2**30, 1) if ram else None,
             "os": f"{platform.system()} {platform.release()}", "python": platform.python_version()}
    for mod in modules:
        try:
            facts[mod] = version(mod)
        except PackageNotFoundError:
            facts[mod] = None
    return facts


def revision(repo, label=None, paths=("toolkit", "bin")):
    """``<short HEAD> [+ uncommitted changes in PATHS] (<repo>)``, or ``label`` when given."""
    head = ""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=repo,
                              capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", *paths], cwd=repo,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        rev = (head or "unknown") + (f" + uncommitted changes in {', '.join(paths)}" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        rev = "unknown"
    if label or not head:
        rev = label or "unknown (not a git checkout; use --label)"
    return f"{rev} ({repo})"


# ----------------------------------------------------------------------------- shared inputs and measurement
# The generator and the measuring launcher live in bench_seqqc_dgsplit.py (bench_streaming_memory.py uses
# them too); these wrappers let other benchmarks reuse them without copying code.

BUNDLED_LENTIMPRA = os.path.join(os.path.dirname(os.path.dirname(os.path.realpath(__file__))), "share", "examples",
                                 "lentimpra_HepG2.tsv.gz")
"""The bundled real lentiMPRA HepG2 rows (seq_id, seq, mean_value; 230 nt)."""


def resample_lentimpra(rows, path, seed=2025, source=BUNDLED_LENTIMPRA):
    """Write a ``rows``-row TSV (seq_id, seq, mean_value) resampled from real lentiMPRA rows with 0-3
    point substitutions per copy in the 200-nt core (bench_seqqc_dgsplit.generate); returns its description."""
    import bench_seqqc_dgsplit as base

    return base.generate(source, rows, path, seed=seed)


def first_rows(path, rows, out):
    """The first ``rows`` data rows of a TSV (bench_seqqc_dgsplit.subset)."""
    import bench_seqqc_dgsplit as base

    return base.subset(path, rows, out)


def run_measured(argv, repo, timeout=None):
    """Run ``argv`` from ``repo`` through bench_seqqc_dgsplit's launcher: wall seconds, the command's own
    peak RSS (``peak_rss_mb``, MB = 10^6 bytes, from wait4), CPU seconds, exit code, stderr tail."""
    import bench_seqqc_dgsplit as base

    base.RUN["repo"] = repo
    return base.run_child(argv, timeout)
