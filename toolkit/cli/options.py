"""Options that mean the same thing in every command, defined once, and the
command class that turns library exceptions into ``Error:`` lines."""

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

    def invoke(self, ctx):
        verbose = ctx.params.get("verbose", False)
        try:
            rv = super().invoke(ctx)
            sys.stdout.flush()
            return rv
        except BrokenPipeError:
            _silence_stdout()
            ctx.exit(0)
        except ToolkitError as exc:
            if verbose:
                traceback.print_exc(file=sys.stderr)
            raise click.ClickException(exc.message()) from None
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except KeyboardInterrupt:
            click.echo("Error: interrupted", err=True)
            ctx.exit(130)
        except MemoryError:
            raise click.ClickException("out of memory; process the input in parts or on a larger machine") from None
        except Exception as exc:  # a bug: say so plainly, traceback only on request
            if verbose:
                traceback.print_exc(file=sys.stderr)
            raise click.ClickException(
                f"internal error ({type(exc).__name__}: {exc}); rerun with -v for the traceback and report it"
            ) from None


def _silence_stdout():
    """After EPIPE: point stdout at /dev/null so the interpreter's final flush is quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def command(name, **kwargs):
    """Decorator: a toolkit command with ``--version``, ``-q`` and ``-v``."""

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
