"""The fit-* commands are thin: each toolkit/cli/fit_*.py parses options and calls the library
(toolkit/train/prepare.py, cre_data.py, ep_data.py, ep_loco.py, physinformer_data.py), which
neither prints, exits nor imports click; the library's shared pieces, and refusals that moved
with the code, keep their behaviour."""

import ast
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import run_cli

from toolkit.errors import InputError

ROOT = Path(__file__).resolve().parents[1] / "toolkit"
COMMANDS = ("fit_cre", "fit_ep", "fit_physinformer")
LIBRARY = ("prepare", "cre_data", "ep_data", "ep_loco", "physinformer_data")
MOVED = {"_load", "_Plan", "_finish", "_prepare", "_open_data", "_config", "_check_same_data", "_leave_one_cell_out",
         "_load_split", "_encode_rows", "_baseline_rows", "_tileformer", "_h5_chunks", "_table_chunks", "_fit"}


def _functions(path):
    return {n.name: n for n in ast.parse(path.read_text()).body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}


def _body_lines(fn):
    """Source lines of a function's body, its docstring left out."""
    body = fn.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    return body[-1].end_lineno - body[0].lineno + 1


@pytest.mark.parametrize("command", COMMANDS)
def test_command_modules_parse_options_and_call_the_library(command):
    defs = _functions(ROOT / "cli" / f"{command}.py")
    assert not MOVED & set(defs), f"library code left in the command: {sorted(MOVED & set(defs))}"
    assert _body_lines(defs["cli"]) <= 25
    for name, node in defs.items():
        if name != "cli":
            assert node.end_lineno - node.lineno + 1 <= 40, f"{command}.{name} is long: library code?"


@pytest.mark.parametrize("module", LIBRARY)
def test_training_library_neither_prints_nor_exits_nor_imports_click(module):
    tree = ast.parse((ROOT / "train" / f"{module}.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            assert all(a.name.split(".")[0] != "click" for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert (node.module or "").split(".")[0] not in ("click", "cli") and node.module != "sys"
        elif isinstance(node, ast.Call):
            f = node.func
            name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
            assert name not in ("print", "exit", "echo", "secho"), f"{module} line {node.lineno}: {name}()"
        elif isinstance(node, ast.Attribute) and node.attr in ("stderr", "stdout"):
            raise AssertionError(f"{module} line {node.lineno}: writes to sys.{node.attr}")


class _Group:
    def __init__(self, main):
        self.main, self.waited = main, 0

    def barrier(self):
        self.waited += 1


class _Log:
    def __init__(self):
        self.lines = []

    def info(self, msg):
        self.lines.append(msg)


def test_training_cache_is_written_by_rank_zero_and_logged_through_the_callers_log(tmp_path):
    from toolkit.io import traincache as TC
    from toolkit.train.prepare import training_cache

    written = []

    def load(path):
        written.append(path)
        Path(path).write_bytes(b"x" * 2_000_000)     # 2.0 MB, as the message rounds it

    log, group = _Log(), _Group(main=True)
    path = training_cache("fit-x", "cre", group, log, str(tmp_path), "in.tsv", False, load)
    assert written == [path] == [TC.path_in(str(tmp_path))] and group.waited == 1
    assert len(log.lines) == 1 and log.lines[0].startswith(f"fit-x: training cache {path} written in ")
    assert log.lines[0].endswith(" s (2.0 MB)")
    other, log2 = _Group(main=False), _Log()       # another rank only waits for rank 0's cache
    assert training_cache("fit-x", "cre", other, log2, str(tmp_path), "in.tsv", False, load) == path
    assert written == [path] and other.waited == 1 and log2.lines == []


def test_check_same_data_refuses_other_rows_with_the_callers_hint():
    from toolkit.train.prepare import check_same_data

    check_same_data({"data_sha1": "a"}, {"data_sha1": "a", "input": "t.tsv"}, "resume with it")
    with pytest.raises(InputError) as exc:
        check_same_data({"data_sha1": "a"}, {"data_sha1": "b", "input": "t.tsv"}, "resume with it")
    assert exc.value.message() == "t.tsv: the train/val rows differ from those the run started with; resume with it"


def test_tileformer_with_arch_tileformer_is_a_usage_error_before_any_input(tmp_path):
    res = run_cli("fit-physinformer", [tmp_path / "absent.h5", "-o", tmp_path / "m", "--arch", "tileformer",
                                       "--tileformer", tmp_path / "absent_dir"])
    assert res.exit_code == 2
    assert "--tileformer feeds a TileFormer into PhysInformer; it does not go with --arch tileformer" in res.stderr
    assert not (tmp_path / "m").exists()


def test_leave_one_cell_out_refusals_keep_their_words(tmp_path):
    """--resume needs DIR/loco.json; a new run refuses a DIR that holds one (both before the input is read)."""
    out = tmp_path / "loco"
    res = run_cli("fit-ep", [tmp_path / "absent.tsv", "-o", out, "--leave-one-cell-out", "--resume"])
    assert res.exit_code == 1
    assert res.stderr.strip().splitlines()[-1] == \
        f"Error: {out} holds no --leave-one-cell-out run (no loco.json); drop --resume to start one"
    out.mkdir()
    (out / "loco.json").write_text(json.dumps({}))
    res = run_cli("fit-ep", [tmp_path / "absent.tsv", "-o", out, "--leave-one-cell-out"])
    assert res.exit_code == 1
    assert res.stderr.strip().splitlines()[-1] == \
        f"Error: {out} already holds a run; choose a new -o DIR, or add --resume"


def test_ep_data_settings_resolve_like_the_command(tmp_path):
    """The data settings fit-ep builds from its flags drive the library: a sequence pair table's
    window lengths settle on its longest train sequences (here 7 and 5, by hand)."""
    from toolkit.train.ep_data import settle_lengths, window_lengths

    layout = SimpleNamespace(kind="sequences")
    lengths = window_lengths({"lengths": {"enhancer": None, "promoter": 4}}, layout)
    assert lengths == {"enhancer": None, "promoter": 4}
    assert settle_lengths(lengths, {"enhancer": ["ACGTACG", "AC"], "promoter": ["ACGTA"]}) == \
        {"enhancer": 7, "promoter": 4}
    coords = window_lengths({"lengths": {"enhancer": None, "promoter": 100}}, SimpleNamespace(kind="coordinates"))
    assert coords == {"enhancer": 3000, "promoter": 100}
