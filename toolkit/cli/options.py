"""Options that mean the same thing in every command, defined once, and the
command class that turns library exceptions into ``Error:`` lines."""

import contextlib
import os
import sys
import traceback

import click

from .. import __version__
from ..errors import ToolkitError

DEFAULT_SEED = 2025


class ToolkitCommand(click.Command):
    """A click command with the toolkit's manners.

    - ``ToolkitError`` -> ``Error: <message>`` on stderr, exit 1;
    - any other exception -> ``Error: internal error ...`` (traceback with ``-v``), exit 1;
    - a closed pipe (``cmd | head -1``) -> quiet exit 0;
    - usage errors stay click's: exit 2.
    """

    def __init__(self, *args, moved_options=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.moved_options = dict(moved_options or {})

    def parse_args(self, ctx, args):
        """A flag that became a config key (or was renamed) is a usage error that says where it went."""
        try:
            return super().parse_args(ctx, args)
        except click.NoSuchOption as exc:
            where = self.moved_options.get(exc.option_name.lstrip("-"))
            if where is None:
                raise
            raise click.UsageError(f"{exc.option_name} is no longer an option: {where}", ctx=ctx) from None

    def invoke(self, ctx):
        verbose = ctx.params.get("verbose", False)
        try:
            with _library_warnings(self.name, verbose), _signals_end_cleanly():
                rv = super().invoke(ctx)
            sys.stdout.flush()
            return rv
        except BrokenPipeError:
            _silence_stdout()
            ctx.exit(0)
        except ToolkitError as exc:
            if verbose:
                traceback.print_exc(file=sys.stderr)
            if exc.file == "<stdout>":  # standard output failed (a full disk under '>'): end quietly
                _silence_stdout()
            raise click.ClickException(exc.message()) from None
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except Terminated as exc:  # SIGTERM or SIGHUP (a scheduler's time limit, a closed terminal)
            _remove_temporary_files()
            click.echo(f"Error: terminated ({signal_name(exc.signum)}); no output was left half-written", err=True)
            ctx.exit(128 + exc.signum)
        except KeyboardInterrupt:
            _remove_temporary_files()
            click.echo("Error: interrupted", err=True)
            ctx.exit(130)
        except MemoryError:
            raise click.ClickException("out of memory; process the input in parts or on a larger machine") from None
        except OSError as exc:  # a file the command opened itself: a full disk, a folder it may not write, ...
            if not _is_user_os_error(exc):
                raise self._internal(exc, verbose) from None
            if verbose:
                traceback.print_exc(file=sys.stderr)
            raise click.ClickException(_os_error_message(exc)) from None
        except Exception as exc:  # a bug: say so plainly, traceback only on request
            raise self._internal(exc, verbose) from None
        finally:
            if "toolkit.train.modeldir" in sys.modules:  # model directories this command locked
                sys.modules["toolkit.train.modeldir"].release_all()

    @staticmethod
    def _internal(exc, verbose):
        if verbose:
            traceback.print_exc(file=sys.stderr)
        return click.ClickException(
            f"internal error ({type(exc).__name__}: {exc}); rerun with -v for the traceback and report it")


class Terminated(KeyboardInterrupt):
    """Raised in the main thread by SIGTERM or SIGHUP while a command runs, so that every
    output's clean-up runs exactly as for Ctrl-C. ``signum`` is the signal's number."""

    def __init__(self, signum):
        super().__init__(signum)
        self.signum = signum


def signal_name(signum):
    import signal

    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


@contextlib.contextmanager
def _signals_end_cleanly():
    """While a command runs: SIGTERM and SIGHUP raise :class:`Terminated` in this process
    (temporary files are removed, earlier outputs stay, one ``Error:`` line); a forked worker
    that inherited the handler dies of the signal as before, silently. Training installs its
    own SIGTERM handler (checkpoint, then stop) inside this one."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pid = os.getpid()

    def handler(signum, frame):
        if os.getpid() != pid:  # a forked worker (a process pool, a data loader): the default action
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        raise Terminated(signum)

    old = {}
    for sig in (signal.SIGTERM, signal.SIGHUP):
        try:
            if signal.getsignal(sig) == signal.SIG_IGN:  # e.g. SIGHUP under nohup: stays ignored
                continue
            old[sig] = signal.signal(sig, handler)
        except (ValueError, OSError):  # not settable here
            pass
    try:
        yield
    finally:
        for sig, h in old.items():
            signal.signal(sig, h)


def _remove_temporary_files():
    from ..io.streams import remove_temporary_files

    remove_temporary_files()


@contextlib.contextmanager
def _library_warnings(name, verbose):
    """Python warnings raised inside a command (numpy's overflow warnings, pandas' and torch's
    notices) are not for its user: shown once each with -v, on standard error; silent otherwise.
    The toolkit's own warnings are ``Log.warn`` lines, not Python warnings."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")  # each distinct warning once
        try:
            yield
        finally:
            if verbose:
                for w in caught[:50]:
                    click.echo(f"[{name}] {w.category.__name__}: {w.message} ({os.path.basename(w.filename)}:"
                               f"{w.lineno})", err=True)


def _is_user_os_error(exc):
    """An OSError about a named file, or a failure to write as such (full disk, quota,
    read-only file system, permissions): something the user can act on, not a bug."""
    import errno

    from ..errors import WRITE_ERRNOS

    return exc.filename is not None or errno.errorcode.get(exc.errno) in WRITE_ERRNOS


def _os_error_message(exc):
    """``<path>: <reason>; <what to do>`` for an OSError that reached the command layer
    (the toolkit's own outputs name themselves, as OutputError; this is any other file)."""
    from ..errors import describe_os_error

    reason, hint = describe_os_error(exc)
    if isinstance(exc, (FileNotFoundError, IsADirectoryError, NotADirectoryError)):
        hint = "check the path"
    if exc.filename is None:  # a library's own (temporary) file
        return f"writing or reading a file failed ({reason}); {hint}"
    path = str(exc.filename) if exc.filename2 is None else f"{exc.filename} -> {exc.filename2}"
    return f"{path}: {reason}; {hint}"


def _silence_stdout():
    """After EPIPE: point stdout at /dev/null so the interpreter's final flush is quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def command(name, **kwargs):
    """Decorator: a toolkit command with ``--version``, ``-q`` and ``-v``.

    ``moved_options`` (optional): retired flag name (without dashes) -> where its setting went,
    said in the usage error a user of the old flag gets."""

    def deco(fn):
        fn = click.option("-v", "--verbose", is_flag=True, help="More detail on standard error, and tracebacks.")(fn)
        fn = click.option("-q", "--quiet", is_flag=True, help="No summaries or progress on standard error.")(fn)
        fn = click.version_option(__version__, "--version", prog_name=name, message="%(prog)s (regseq-toolkit) %(version)s")(fn)
        return click.command(name, cls=ToolkitCommand, context_settings={"max_content_width": 100}, **kwargs)(fn)

    return deco


def input_argument(fn):
    """``INPUT``: a path, ``-`` or nothing for standard input; gzip recognised by magic bytes."""
    return click.argument("input", required=False, default="-", metavar="[INPUT]")(fn)


def require_input(path):
    """Refuse to wait on a terminal: no INPUT and nothing piped in is a usage error."""
    if path in (None, "-") and sys.stdin is not None and sys.stdin.isatty():
        raise click.UsageError("no input: give INPUT or pipe a table in (see --help)")


def output_option(fn):
    return click.option(
        "-o", "--output", default="-", show_default=True, metavar="PATH",
        help="Output path; '-' is standard output; '.gz' compresses. Written atomically; never over the input.",
    )(fn)


def table_options(fn):
    """``--format``, ``--seq-col``, ``--id-col``: how to read a sequence table."""
    fn = click.option("--id-col", metavar="COL", default=None,
                      help="Column holding row ids (default: id, seq_id, name, IDs, ...; else row<N>).")(fn)
    fn = click.option("--seq-col", metavar="COL", default=None,
                      help="Column holding sequences (default: sequence, seq, Sequence, sequence_230nt, ...).")(fn)
    fn = click.option("--format", "fmt", type=click.Choice(["auto", "tsv", "csv", "fasta", "bed"]), default="auto",
                      show_default=True, help="Input format; auto-detected from the content.")(fn)
    return fn


CELL_TYPES = ("HepG2", "K562", "WTC11", "S2")
"""The cell types with a motif list of their own (toolkit.features.motifs.CELL_TYPES)."""


def motif_options(fn):
    """``--cell-type`` and ``--motifs``: the motif list of the pwm descriptors (descfeat, and
    fit-physinformer when it computes the descriptors); see toolkit.features.labeller.load_motifs."""
    fn = click.option("--motifs", "motifs_path", metavar="FILE", default=None,
                      help="Use the motifs of a MEME or JASPAR format file instead of the cell type's list.")(fn)
    fn = click.option("--cell-type", type=click.Choice(CELL_TYPES), default="HepG2", show_default=True,
                      help="Motif list of the pwm family: the built-in list of JASPAR 2024 CORE matrices for this "
                           "cell type (S2: 13 Drosophila factors by name).")(fn)
    return fn


class ShardParam(click.ParamType):
    """``I/N``: shard I of N, 1 <= I <= N (see :func:`toolkit.io.tables.shard_bounds`)."""

    name = "I/N"

    def convert(self, value, param, ctx):
        import re

        if isinstance(value, tuple):
            return value
        m = re.fullmatch(r"\s*(-?\d+)\s*/\s*(-?\d+)\s*", str(value))
        if not m:
            self.fail(f"'{value}' is not I/N (e.g. 3/10: the third of ten shards)", param, ctx)
        i, n = int(m.group(1)), int(m.group(2))
        if n < 1:
            self.fail(f"'{value}': N, the number of shards, must be at least 1", param, ctx)
        if i == 0:
            self.fail(f"'{value}': shards count from 1 (I/N with 1 <= I <= N); in a 0-based array job "
                      "use --shard $((SLURM_ARRAY_TASK_ID+1))/N", param, ctx)
        if not 1 <= i <= n:
            self.fail(f"'{value}': I must be between 1 and N={n}", param, ctx)
        return (i, n)


def shard_option(fn):
    """``--shard I/N``: only the I-th of N contiguous blocks of the input rows."""
    return click.option(
        "--shard", type=ShardParam(), default=None, metavar="I/N",
        help="Process only shard I of N (1 <= I <= N): the I-th of N contiguous, near-equal blocks of the input "
             "rows, counted in a first pass (INPUT must be a file). Shard 1 alone writes the header, so "
             "cat of shards 1..N, in that order, is the unsharded output.",
    )(fn)


def check_shard(shard, input):
    """A shard needs the row count before reading: refuse standard input (a usage error)."""
    if shard is not None and input in (None, "-"):
        raise click.UsageError("--shard needs INPUT to be a file, not standard input: "
                               "every shard counts the rows first")


def threads_option(fn):
    """``-j/--threads N``: worker processes."""
    return click.option("-j", "--threads", "jobs", type=click.IntRange(1, 256), default=1, show_default=True,
                        help="Worker processes.")(fn)


def seed_option(fn):
    return click.option("--seed", type=int, default=DEFAULT_SEED, show_default=True,
                        help="Random seed; the same input and seed give byte-identical output.")(fn)


def training_options(flags, defaults):
    """Decorator adding one option per training setting.

    flags : dict flag-name -> (config key, click type, help text); each option defaults to
        None (= the preset's value, else ``defaults[key]``), so a run records only what
        was given and the rest is resolved in one place.
    """

    def deco(fn):
        for flag, (key, typ, text) in reversed(list(flags.items())):
            fn = click.option(f"--{flag}", key, type=typ, default=None,
                              help=f"{text} [default: preset, else {defaults[key]}]")(fn)
        return fn

    return deco


PRECISION_FLAG = {
    # a training flag (see training_options): the arithmetic of every fit-* command
    "precision": ("precision", click.Choice(("auto", "fp32", "bf16", "fp16")),
                  "Arithmetic: auto (bf16 on a CUDA GPU that supports it, else fp32), fp32, bf16, or fp16 "
                  "(CUDA only)."),
}


def resume_option(fn):
    """``--resume`` of every fit-* command."""
    return click.option("--resume", is_flag=True,
                        help="Continue the run in DIR from its last checkpoint, exactly, with the settings of "
                             "DIR/config.json (--config and the training options given now are not read). fit-cre and "
                             "fit-physinformer take the rows from DIR's training cache when it is there (INPUT, if a "
                             "file, must be the one it was built from); otherwise, and for fit-ep, INPUT is read "
                             "again and must give the same rows.")(fn)


def device_option(fn):
    """``--device``: where a model trains or predicts."""
    return click.option("--device", default="auto", show_default=True,
                        help="auto (cuda when available, else cpu), cpu, cuda or cuda:N.")(fn)


def model_dir_option(files):
    """``-o/--output DIR`` of a fit-* command: the model directory; ``files`` lists what it holds."""
    return click.option("-o", "--output", "out_dir", required=True, metavar="DIR",
                        help=f"Model directory to write ({files}).")


CONFIG_CHANGE = "set it in a --config file (TOML: [{section}] then {key} = {value}) or see --help"


def moved_to_config(flags):
    """``moved_options`` for flags that became config keys: {flag: (section, key, example value)}."""
    return {flag: CONFIG_CHANGE.format(section=section, key=key, value=value)
            for flag, (section, key, value) in flags.items()}


def config_option(fn):
    """``--config FILE``: the settings (model internals, schedule) of a fit-* command; the command's
    --help epilog lists the keys (toolkit.train.presets.config_epilog)."""
    return click.option(
        "--config", "config_file", metavar="FILE", default=None,
        help="Settings file, TOML or JSON: [train] and [model] tables (fit-physinformer also [data]) with the keys of config.json (listed "
             "below; meanings in the man page). Precedence: built-in defaults < --preset < --config < "
             "options given. Unknown keys are refused.")(fn)


def read_settings(path, name, resume, log=None):
    """The checked contents of a --config file (empty tables without one). On --resume the file is
    still checked, and a warning says that the run keeps DIR/config.json."""
    from ..train.presets import read_config_file

    if path is None:
        return {"train": {}, "model": {}, "file": None}
    settings = {**read_config_file(path, name), "file": path}
    if resume and log is not None and os.environ.get("RANK", "0") == "0":   # once under torchrun
        log.warn(f"--config {path} is not read on --resume: the run continues with the settings in its config.json")
    return settings


def data_mode_option(default_rule):
    """--data-in-memory/--stream-data; ``default_rule`` says what 256 MiB of cached rows is."""
    return click.option(
        "--data-in-memory/--stream-data", "data_in_memory", default=None,
        help="Where batches come from. Every run first writes the encoded train and val rows to the training cache "
             "DIR/train_cache.h5 (deleted when the run finishes); --data-in-memory then loads them into memory, "
             "--stream-data reads each batch from the cache by row index (memory independent of the row count). "
             f"Default: in memory when they take at most 256 MiB there ({default_rule}), else streamed. Both give "
             "the same training.")


def start_training(name, device, jobs, quiet, verbose, precision=None):
    """The start of every fit-* command: join the torchrun group if there is one, the log
    (quiet on ranks other than 0), torch's CPU threads, and the device (each rank's own GPU
    under torchrun); ``precision`` (--precision, if given) is checked against the device
    before any input is read. Returns (group, log, device)."""
    import torch

    from ..train import dist
    from ..train.cre import resolve_device
    from ..train.loop import precision_dtype

    group = dist.setup(device)          # torchrun: one rank of a DistributedDataParallel run
    log = Log(name, quiet or not group.main, verbose)
    torch.set_num_threads(jobs)
    dev = resolve_device(device)
    if group.active and dev.type == "cuda":
        dev = torch.device("cuda", group.local_rank)
    if precision is not None:
        precision_dtype(precision, dev)
    return group, log, dev


def distinct_outputs(**paths):
    """Refuse two output options naming one file (one output would silently replace the other).

    ``paths``: option name -> path or None (``-`` is standard output and may repeat only once).
    Raises ConfigError naming both options.
    """
    from ..errors import ConfigError
    from ..io.streams import is_special_file, same_file

    # devices and FIFOs (a terminal, /dev/stderr) are written through, not replaced: two outputs may share one
    given = [(name, str(p)) for name, p in paths.items() if p not in (None, "") and not is_special_file(str(p))]
    for i, (a, pa) in enumerate(given):
        for b, pb in given[i + 1:]:
            if pa == pb if "-" in (pa, pb) else same_file(pa, pb):
                raise ConfigError(f"{a} and {b} name the same file", file=str(pa),
                                  hint="give each output a path of its own")


def report_option(fn):
    return click.option("--report", metavar="FILE", default=None,
                        help="Write a JSON report (counts, profile) to FILE.")(fn)


class Log:
    """Messages for standard error: ``info`` unless -q, ``detail`` only with -v."""

    def __init__(self, name, quiet=False, verbose=False):
        self.name = name
        self.quiet = quiet
        self.verbose = verbose

    def info(self, msg=""):
        if not self.quiet:
            click.echo(msg, err=True)

    def warn(self, msg):
        if not self.quiet:
            click.echo(f"Warning: {msg}", err=True)

    def detail(self, msg):
        if self.verbose and not self.quiet:
            click.echo(f"[{self.name}] {msg}", err=True)

    def status(self, msg):
        """A one-line progress indicator, rewritten in place, when stderr is a terminal."""
        if not self.quiet and sys.stderr.isatty():
            sys.stderr.write("\r" + msg)
            sys.stderr.flush()
            self._status = True

    def status_done(self):
        if getattr(self, "_status", False):
            sys.stderr.write("\n")
            self._status = False

    def progress(self, iterable, length=None, label=""):
        """A progress bar on standard error when it is a terminal and not -q; else the iterable."""
        if self.quiet or not sys.stderr.isatty():
            return _Passthrough(iterable)
        return click.progressbar(iterable, length=length, label=f"{self.name}: {label}", file=sys.stderr)


class _Passthrough:
    def __init__(self, iterable):
        self.iterable = iterable

    def __enter__(self):
        return self.iterable

    def __exit__(self, *exc):
        return False


def write_json(path, obj, inputs=()):
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    import json

    from ..io.streams import AtomicOutput

    with AtomicOutput(path, inputs=inputs) as fh:
        json.dump(_finite(obj), fh, indent=2, sort_keys=False, default=_json_default, allow_nan=False)
        fh.write("\n")


def _json_default(o):
    import numpy as np

    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def _finite(obj):
    """Replace NaN and infinities by None so that the JSON is strict."""
    import math

    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj
