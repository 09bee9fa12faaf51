"""The project's shape: no import cycle, the lowest floors import nothing of ours, short functions, and
the workflow as the snakemake-workflows template checks it (snakefmt, snakemake --lint).

Read from the source with ``ast``: module-level and function-level imports count alike (a lazy
import is still a dependency)."""

import ast
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "src" / "sketchback"
MAX_LINES = 60
# Functions allowed to stay longer than MAX_LINES, and why.
LONG_FUNCTIONS = {
    "synthetic.synthetic_face": "not split yet: one drawing whose steps share some 20 locals and a fixed order of "
                                "random draws; a split needs a face-parameters object",
    "synthetic._facade": "not split yet: as synthetic_face, for a building's facade",
    "synthetic._window_tile": "not split yet: as synthetic_face, for one window",
}
LOWEST = ("io", "logs")  # modules that import nothing of ours


def modules() -> dict[str, ast.Module]:
    return {path.stem: ast.parse(path.read_text(), str(path)) for path in sorted(PACKAGE.glob("*.py"))}


def imported(name: str, tree: ast.Module, known: set[str]) -> set[str]:
    """The modules of the package that module ``name`` imports, anywhere in its body."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "sketchback":
                    found.add(parts[1] if len(parts) > 1 else "__init__")
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from . import x / from .x import y
                parts = (node.module or "").split(".") if node.module else []
            elif node.module and node.module.split(".")[0] == "sketchback":
                parts = node.module.split(".")[1:]
            else:
                continue
            if parts:
                found.add(parts[0])
            else:  # from sketchback import x: x is a module, or a name of __init__
                found.update(a.name if a.name in known else "__init__" for a in node.names)
    found.discard(name)
    return found


def import_graph() -> dict[str, set[str]]:
    trees = modules()
    return {name: imported(name, tree, set(trees)) for name, tree in trees.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as [a, b, ..., a], or None."""
    state: dict[str, str] = {}  # "open" while on the current path, "done" after
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def function_lengths() -> dict[str, int]:
    """Qualified name ("module.Class.method", "module.outer.inner") -> lines from def to end."""
    lengths = {}

    def walk(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lengths[prefix + child.name] = child.end_lineno - child.lineno + 1
                walk(child, f"{prefix}{child.name}.")
            elif isinstance(child, ast.ClassDef):
                walk(child, f"{prefix}{child.name}.")

    for name, tree in modules().items():
        walk(tree, f"{name}.")
    return lengths


def test_the_import_graph_is_read_from_the_source():
    # guards the checks below against a parser that sees nothing
    graph = import_graph()
    assert {"io", "logs", "sketch", "style", "vgg", "train"} <= set(graph)
    assert {"io", "style"} <= graph["sketch"] and "vgg" in graph["losses"] and "vgg" in graph["metrics"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_lowest_floors_import_nothing_of_ours():
    graph = import_graph()
    for name in LOWEST:
        assert not graph[name], f"{name}.py imports {sorted(graph[name])} from sketchback"


def test_sketches_never_import_training_or_evaluation():
    graph = import_graph()

    def reach(start):
        seen, todo = set(), [start]
        while todo:
            for nxt in graph.get(todo.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    for low in ("sketch", "style", "vgg", "images", "sources", "synthetic"):
        above = reach(low) & {"train", "losses", "evaluate", "metrics", "model", "options"}
        assert not above, f"{low}.py reaches {sorted(above)}"


def test_functions_are_short():
    lengths = function_lengths()
    long = {name: n for name, n in lengths.items() if n > MAX_LINES and name not in LONG_FUNCTIONS}
    assert not long, f"functions over {MAX_LINES} lines (split them, or list them in LONG_FUNCTIONS with why): {long}"
    stale = {name: lengths.get(name) for name in LONG_FUNCTIONS if lengths.get(name, 0) <= MAX_LINES}
    assert not stale, f"LONG_FUNCTIONS entries now short or gone, remove them: {stale}"


def test_the_workflow_is_formatted_with_snakefmt():
    result = subprocess.run([sys.executable, "-m", "snakefmt", "--check", "workflow"], cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"run `snakefmt workflow/`:\n{result.stderr[-3000:]}"


# The one lint left on purpose: per-rule conda environments. The study installs as one package
# (pip install -e ., or environment.yml on a cluster), so every rule has the same software.
ACCEPTED_LINTS = {"Specify a conda environment or container for each rule."}


def test_snakemake_lint_finds_nothing_else():
    result = subprocess.run([sys.executable, "-m", "snakemake", "--lint", "-n"], cwd=REPO, capture_output=True,
                            text=True, timeout=300)
    lints = set(re.findall(r"^\s+\* (.+?):?$", result.stdout + result.stderr, re.M))
    assert lints and lints <= ACCEPTED_LINTS, lints - ACCEPTED_LINTS
