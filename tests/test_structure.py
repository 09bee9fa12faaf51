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
    "data.synthetic.synthetic_face": "not split yet: one drawing whose steps share some 20 locals and a fixed order "
                                     "of random draws; a split needs a face-parameters object",
    "data.synthetic._facade": "not split yet: as synthetic_face, for a building's facade",
    "data.synthetic._window_tile": "not split yet: as synthetic_face, for one window",
}
LOWEST = ("io", "logs", "errors")  # modules that import nothing of ours
# The study's parts, lowest first: a module may import its own layer and those below it, never above.
# The package root's modules (io, images, logs, vgg, errors) are the floor every layer stands on.
LAYERS = ("", "data", "sketches", "models", "evaluation", "tools")


def modules() -> dict[str, ast.Module]:
    """Dotted module name under sketchback ("io", "models.train") -> its parsed source."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts) or "__init__"
        found[name] = ast.parse(path.read_text(), str(path))
    return found


def _package_of(name: str, known: set[str]) -> str:
    """The module a dotted import names: "models.train.x" -> "models.train" (the longest known prefix)."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        if ".".join(parts[:end]) in known:
            return ".".join(parts[:end])
    return name


def imported(name: str, tree: ast.Module, known: set[str]) -> set[str]:
    """The modules of the package that module ``name`` imports, anywhere in its body."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "sketchback":
                    found.add(_package_of(alias.name.partition(".")[2], known) or "__init__")
        elif isinstance(node, ast.ImportFrom):
            assert not node.level, f"{name}: relative import (the package imports itself by absolute names)"
            if not (node.module and node.module.split(".")[0] == "sketchback"):
                continue
            base = node.module.partition(".")[2]
            for alias in node.names:  # from sketchback.models import train: train is a module
                full = f"{base}.{alias.name}" if base else alias.name
                found.add(full if full in known else (_package_of(base, known) if base else "__init__"))
    found.discard(name)
    return found


def import_graph() -> dict[str, set[str]]:
    trees = modules()
    return {name: imported(name, tree, set(trees)) for name, tree in trees.items()}


def layer(module: str) -> int:
    """The rank of a module's layer in LAYERS (0 for the package root's modules)."""
    head = module.split(".")[0]
    return LAYERS.index(head) if "." in module or head in LAYERS else 0


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
    assert {"io", "logs", "sketches.sketch", "sketches.style", "vgg", "models.train"} <= set(graph)
    assert {"io", "sketches.style"} <= graph["sketches.sketch"]
    assert "vgg" in graph["models.losses"] and "vgg" in graph["evaluation.metrics"]
    assert "models.superres" in graph["evaluation.superres"] and "models" in graph  # the subpackage itself
    assert [layer(m) for m in ("io", "data", "data.sources", "models.train", "tools.cli")] == [0, 1, 1, 3, 5]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_lowest_floors_import_nothing_of_ours():
    graph = import_graph()
    for name in LOWEST:
        assert not graph[name], f"{name}.py imports {sorted(graph[name])} from sketchback"


def test_every_module_sits_in_a_layer_of_the_study():
    stray = [name for name in modules() if "." not in name and name not in LAYERS and name != "__init__"
             and name not in ("io", "images", "logs", "vgg", "errors")]
    assert not stray, f"modules at the package root that belong in a subpackage {LAYERS[1:]}: {stray}"
    unknown = {name.split(".")[0] for name in modules() if "." in name} - set(LAYERS)
    assert not unknown, f"subpackages that LAYERS does not rank: {sorted(unknown)}"


def test_a_lower_layer_never_imports_a_higher_one():
    # data < sketches < models < evaluation < tools: data imports nothing of models, evaluation or tools
    upward = {name: sorted(m for m in imports if layer(m) > layer(name))
              for name, imports in import_graph().items()}
    upward = {name: above for name, above in upward.items() if above}
    assert not upward, f"imports of a higher layer (move the code down, or the module up): {upward}"



def _imports_tensorflow(tree: ast.AST) -> bool:
    """Whether a module imports keras or tensorflow anywhere in its body."""
    for node in ast.walk(tree):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
            [node.module or ""] if isinstance(node, ast.ImportFrom) else []
        if any(name.split(".")[0] in ("keras", "tensorflow") for name in names):
            return True
    return False


def reaches_tensorflow(imports: set[str], graph: dict[str, set[str]], trees: dict[str, ast.Module]) -> bool:
    """Whether importing ``imports`` can, through the package's own imports, import keras or tensorflow."""
    seen, stack = set(), list(imports)
    while stack:
        name = stack.pop()
        if name not in seen and name in trees:
            seen.add(name)
            stack.extend(graph[name])
    return any(_imports_tensorflow(trees[name]) for name in seen)


def test_every_job_that_can_start_tensorflow_sets_the_reproducible_mode_first():
    """A deterministic run is byte-identical on another CPU only if the mode is set before TensorFlow
    starts (it reads the variables once): every workflow script that can reach TensorFlow calls
    start_tensorflow_job (the mode, then sketchback.models.startup's skipped imports) right after setting up
    its log, before importing anything else of ours."""
    trees = modules()
    graph = {name: imported(name, tree, set(trees)) for name, tree in trees.items()}
    missing, late = [], []
    scripts = sorted((REPO / "workflow" / "scripts").glob("*.py"))
    for script in scripts:
        body = ast.parse(script.read_text()).body
        calls = [i for i, node in enumerate(body) if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)
                 and getattr(node.value.func, "id", "") == "start_tensorflow_job"]
        ours = [i for i, node in enumerate(body) if isinstance(node, ast.ImportFrom) and node.module
                and node.module.startswith("sketchback.") and node.module not in ("sketchback.logs",
                                                                                    "sketchback.models.startup")]
        if not reaches_tensorflow(imported("script", ast.Module(body=body, type_ignores=[]), set(trees)), graph, trees):
            continue
        if not calls:
            missing.append(script.name)
        elif ours and ours[0] < calls[0]:
            late.append(script.name)
    assert not missing, f"scripts that can start TensorFlow without the reproducible mode: {missing}"
    assert not late, f"scripts that import the package before setting the reproducible mode: {late}"
    assert len(scripts) > 20 and reaches_tensorflow({"models.train"}, graph, trees)
    assert not reaches_tensorflow({"data.prepare"}, graph, trees), "data preparation never needs TensorFlow"

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
