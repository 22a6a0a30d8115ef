"""Model directories: written by every fit-* command,
read by ``predict``.

Files: ``config.json`` (resolved configuration, kind, toolkit version, task names),
``model.pt`` (a state dict of tensors only), ``normalization.json`` (scalers from the
train split), ``train_log.tsv``, ``checkpoint-last.pt`` and ``checkpoint-best-<epoch>.pt``.
Every file is written to a temporary name and renamed, so a killed run leaves the
previous complete file. Nothing is ever executed from a model file: tensors are
loaded with ``torch.load(weights_only=True)``.
"""

import errno
import json
import os
import tempfile

from .. import __version__
from ..errors import InputError, OutputError
from ..io.streams import file_mode

CONFIG = "config.json"
WEIGHTS = "model.pt"
NORMALIZATION = "normalization.json"
LOG = "train_log.tsv"
LAST = "checkpoint-last.pt"


def atomic_write(path, write):
    """Call ``write(fileobj)`` on a temporary file next to ``path``, then rename it.

    A failure to write (full disk, quota, read-only or unwritable folder) removes the
    temporary file, leaves any previous ``path`` as it was and raises OutputError naming it.
    """
    d = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", dir=d)
    except OSError as exc:
        raise OutputError.from_os_error(exc, path) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, file_mode(path))          # readable by the group as any output, not mkstemp's 0600
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise OutputError.from_os_error(exc, path) from None
        if isinstance(exc, RuntimeError) and _disk_full(d):  # torch.save reports a failed write so
            raise OutputError.from_os_error(OSError(errno.ENOSPC, "No space left on device"), path) from None
        raise


def _disk_full(folder, need=1 << 20):
    """True when the file system of ``folder`` has less than ``need`` bytes left for us."""
    try:
        st = os.statvfs(folder)
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < need


def write_json(path, obj):
    atomic_write(path, lambda fh: fh.write((json.dumps(obj, indent=2, allow_nan=False) + "\n").encode()))


def save_tensors(path, obj):
    import torch

    atomic_write(path, lambda fh: torch.save(obj, fh))


def load_tensors(path):
    """A .pt file of tensors and plain containers; refuses anything that would run code."""
    import pickle

    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise InputError("file not found", file=path) from None
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "weights only" in first.lower() or "weights_only" in first:   # torch's advice would run code: not given
            first = "it holds Python objects, not only tensors: a pickle, or a whole model saved with torch.save"
        raise InputError(f"cannot load ({first[:200]}); the file is truncated, corrupt, or holds more than "
                         "tensors (code is never run from a model file)", file=path,
                         hint="retrain, or resume from the last complete checkpoint") from None


def read_config(model_dir, kinds=None):
    """The config.json of a model directory, checked.

    Raises InputError when the directory or file is missing, not JSON, of an unknown
    kind, or from a different toolkit major.minor version.
    """
    path = os.path.join(model_dir, CONFIG)
    if not os.path.isdir(model_dir):
        raise InputError("not a model directory (no such directory)", file=model_dir,
                         hint="give the -o directory of a fit-* command")
    try:
        with open(path) as fh:
            config = json.load(fh)
    except FileNotFoundError:
        raise InputError("not a model directory (no config.json)", file=model_dir,
                         hint="give the -o directory of a fit-* command") from None
    except ValueError as exc:
        raise InputError(f"config.json is not valid JSON ({exc})", file=path) from None
    if not isinstance(config, dict) or "kind" not in config:
        raise InputError("config.json has no model 'kind'", file=path)
    if kinds is not None and config["kind"] not in kinds:
        raise InputError(f"unknown model kind '{config['kind']}'", file=path,
                         hint=f"this toolkit serves: {', '.join(sorted(kinds))}")
    theirs = str(config.get("toolkit_version", "?"))
    if theirs.split(".")[:2] != __version__.split(".")[:2]:
        raise InputError(f"written by toolkit version {theirs}, this is {__version__}", file=path,
                         hint="use the toolkit version that trained it, or retrain")
    return config


def read_json(path):
    try:
        with open(path) as fh:
            return json.load(fh)
    except FileNotFoundError:
        raise InputError("file not found", file=path, hint="the model directory is incomplete; retrain") from None
    except ValueError as exc:
        raise InputError(f"not valid JSON ({exc})", file=path) from None


def fmt_value(v):
    """A log value as text: ints as they are, floats to 6 significant digits, NaN as NaN."""
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return "NaN" if v != v else f"{v:.6g}"
    return str(v)


def write_log(path, rows):
    """train_log.tsv: one row per epoch, columns in first-row order."""
    cols = list(rows[0])
    lines = ["\t".join(cols)]
    for r in rows:
        lines.append("\t".join(fmt_value(r.get(c, float("nan"))) for c in cols))
    atomic_write(path, lambda fh: fh.write(("\n".join(lines) + "\n").encode()))


def open_run(out_dir, kind, resume, lock=True):
    """The saved (config, normalization) of a run to resume, or (None, None) for a new run.

    A new run is refused when ``out_dir`` already holds a model (config.json), so a
    finished model is never overwritten by accident.

    With ``lock`` (the main process of a run) the directory is locked until the command
    ends (:func:`lock`): a second run writing the same directory stops at once instead of
    silently replacing this one's files.
    """
    from ..errors import ConfigError

    if resume:
        config = read_config(out_dir, kinds={kind})
        if lock:
            _lock(out_dir)
        return config, read_json(os.path.join(out_dir, NORMALIZATION))
    if os.path.exists(os.path.join(out_dir, CONFIG)):
        raise ConfigError(f"{out_dir} already holds a model", hint="choose a new -o DIR, or add --resume")
    if not lock:
        return None, None
    _lock(out_dir)
    if os.path.exists(os.path.join(out_dir, CONFIG)):  # finished by another run between the check and the lock
        raise ConfigError(f"{out_dir} already holds a model", hint="choose a new -o DIR, or add --resume")
    return None, None


LOCK = ".lock"
_held = {}  # model directory -> open lock file, held until the process ends


def lock(out_dir):
    """Create ``out_dir`` if needed and lock it until :func:`release_all` (the end of the
    command) or the end of the process: a POSIX lock on ``out_dir/.lock``, which also works
    on NFS and is released by the kernel however the process ends, SIGKILL included.
    Raises ConfigError when another run holds it.

    The lock file is removed on release (a run killed with SIGKILL leaves it, unlocked and
    harmless); a directory this call created that is empty then is removed too.
    """
    import fcntl

    from ..errors import ConfigError

    key = os.path.abspath(out_dir)
    if key in _held:
        return
    created = not os.path.isdir(out_dir)
    path = os.path.join(out_dir, LOCK)
    for _ in range(100):
        try:
            os.makedirs(out_dir, exist_ok=True)
            fh = open(path, "a+")
        except OSError as exc:
            raise OutputError.from_os_error(exc, out_dir) from None
        try:
            fcntl.lockf(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.seek(0)
            holder = fh.read().strip()
            fh.close()
            raise ConfigError(f"another run is writing this model directory{f' (process {holder})' if holder else ''}",
                              file=out_dir, hint="wait for it to finish, or choose another -o DIR") from None
        try:  # the file locked must still be the one at the path (not one a finishing run just removed)
            if os.stat(path).st_ino == os.fstat(fh.fileno()).st_ino:
                break
        except FileNotFoundError:
            pass
        fh.close()
    fh.seek(0)
    fh.truncate()
    fh.write(f"{os.getpid()}\n")
    fh.flush()
    _held[key] = (fh, created)


_lock = lock  # open_run's parameter of that name hides the function


def release_all():
    """Release every model-directory lock this process holds (called when a command ends)."""
    for out_dir, (fh, created) in list(_held.items()):
        try:
            os.unlink(os.path.join(out_dir, LOCK))  # while still locked: see lock()
            if created and not os.listdir(out_dir):
                os.rmdir(out_dir)
        except OSError:
            pass
        fh.close()
        del _held[out_dir]
