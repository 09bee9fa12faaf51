"""The documentation: README.md is a front page, its links and every docs page's links resolve, the
commands it shows exist, and the Snakemake workflow catalog finds what it reads.

Links are checked on disk only (a relative path must exist, a `#anchor` must be a heading of the page
it points at, slugged as GitHub does); http(s) links are never fetched.
"""

from __future__ import annotations

import argparse
import re
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

from sketchback.tools.cli import build_parser

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
PAGES = [README, REPO / "config" / "README.md", *sorted((REPO / "docs").glob("*.md"))]
FIRST_COMMANDS = [
    'pip install -e . && snakemake --cores all && snakemake --report results/report.html',
    'pip install -e ".[test]" && python -m pytest',
]

FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.M | re.S)
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
IMG_SRC = re.compile(r"<img\s[^>]*\bsrc=\"([^\"]+)\"")
HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$", re.M)


def prose(text: str) -> str:
    """The text outside fenced code blocks and inline code (whose brackets are not links)."""
    text = FENCE.sub("", text)
    return re.sub(r"`[^`\n]*`", "", text)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lowercase, inline markup dropped, punctuation other than - and _
    removed, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading keeps its text
    text = re.sub(r"[`*]", "", text).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)  # \w keeps letters of any script, digits and _
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """Every anchor a page has; a repeated heading gets -1, -2, ... as on GitHub."""
    seen: dict[str, int] = {}
    found = set()
    for _, title in HEADING.findall(FENCE.sub("", page.read_text())):
        base = slug(title)
        n = seen.get(base, 0)
        seen[base] = n + 1
        found.add(base if n == 0 else f"{base}-{n}")
    return found


def links(page: Path) -> list[str]:
    text = prose(page.read_text())
    return LINK.findall(text) + IMG_SRC.findall(text)


def shown(path: Path) -> str:
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def broken_links(page: Path) -> list[str]:
    broken = []
    for target in links(page):
        if re.match(r"[a-z][a-z0-9+.-]*:", target, re.I):  # http(s), mailto: never fetched
            continue
        path, _, anchor = target.partition("#")
        where = (page.parent / path).resolve() if path else page
        if not where.exists():
            broken.append(f"{target}: no file {shown(where)}")
        elif anchor and where.suffix == ".md" and anchor not in anchors(where):
            broken.append(f"{target}: no heading with anchor #{anchor} in {shown(where)}")
    return broken


def test_slug_follows_github():
    assert slug("The feature loss's form") == "the-feature-losss-form"
    assert slug("Training: input, checkpoints, resuming, GPUs") == "training-input-checkpoints-resuming-gpus"
    assert slug("Drawing in the browser: sketchback serve") == "drawing-in-the-browser-sketchback-serve"
    assert slug("Bigger images: 256 px") == "bigger-images-256-px"
    assert slug("The `snake_case` key") == "the-snake_case-key"


def test_duplicate_headings_are_numbered(tmp_path):
    page = tmp_path / "p.md"
    page.write_text("# A\n\n## Notes\n\n```\n# not a heading\n```\n\n## Notes\n\n## Notes\n")
    assert anchors(page) == {"a", "notes", "notes-1", "notes-2"}


def test_the_checker_finds_broken_links(tmp_path):
    (tmp_path / "other.md").write_text("# Other\n\n## Real section\n")
    page = tmp_path / "p.md"
    page.write_text("# P\n\n[ok](other.md#real-section) [self](#p) [web](https://example.org/x)\n"
                    "[gone](missing.md) [bad anchor](other.md#no-such) [bad self](#nope)\n"
                    "`[in code](missing-too.md)`\n\n```\n[in a block](missing-three.md)\n```\n")
    found = broken_links(page)
    assert len(found) == 3, found
    assert [f.split(":")[0] for f in found] == ["missing.md", "other.md#no-such", "#nope"]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_relative_links_and_anchors_resolve(page):
    assert page.exists()
    assert broken_links(page) == []


def test_every_docs_page_has_a_title_and_a_way_back():
    for page in sorted((REPO / "docs").glob("*.md")):
        lines = page.read_text().splitlines()
        assert lines[0].startswith("# "), page.name
        assert "(../README.md)" in "\n".join(lines[1:4]), f"{page.name}: no link back to the README near its title"


def test_readme_links_every_docs_page():
    linked = {(README.parent / target.partition("#")[0]).resolve() for target in links(README)}
    missing = [p.name for p in sorted((REPO / "docs").glob("*.md")) if p.resolve() not in linked]
    assert missing == [], f"docs pages the README's front page does not link: {missing}"


def test_readme_is_a_front_page_that_starts_with_the_two_commands():
    lines = README.read_text().splitlines()
    assert len(lines) <= 300, f"README.md has {len(lines)} lines; the rest belongs in docs/"
    assert lines[0] == "# Sketchback"
    body = [line for line in lines[1:] if line.strip()]
    assert body[:4] == ["```bash", *FIRST_COMMANDS, "```"]


def readme_commands() -> list[list[str]]:
    """Each `sketchback ...` line of the README's shell blocks, as words (comments dropped)."""
    blocks = re.findall(r"^```(?:bash|sh|shell)\n(.*?)^```", README.read_text(), re.M | re.S)
    commands = []
    for line in "\n".join(blocks).splitlines():
        words = shlex.split(line, comments=True)
        if words[:1] == ["sketchback"]:
            commands.append(words)
    return commands


def test_readme_shows_the_main_commands():
    shown = {words[1] for words in readme_commands()}
    assert {"predict", "serve", "export", "import-original"} <= shown


def test_readme_commands_exist_with_the_flags_shown():
    """Every `sketchback <subcommand>` the front page shows, in a shell block or inline, is one the CLI
    has, every flag it gives is one that subcommand takes, and a full command line parses as given
    (positional arguments, required options and choices included)."""
    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    inline = [["sketchback", *shlex.split(m)] for m in re.findall(r"`(?:sketchback )([a-z][^`]*)`", README.read_text())]
    commands = readme_commands() + inline
    assert len(commands) >= 5
    for words in commands:
        sub, args = words[1], words[2:]
        assert sub in subparsers.choices, f"sketchback {sub}: no such subcommand ({sorted(subparsers.choices)})"
        takes = {s for action in subparsers.choices[sub]._actions for s in action.option_strings}
        unknown = [w for w in args if w.startswith("-") and w.split("=")[0] not in takes]
        assert unknown == [], f"sketchback {sub} takes no {unknown}"
        if any(not w.startswith("-") for w in args):  # a full command line, not a mention of a subcommand
            try:
                parser.parse_args(words[1:])
            except SystemExit:
                pytest.fail(f"the README's command does not parse: {shlex.join(words)}")


def test_the_installed_command_answers_for_each_subcommand_shown():
    """The console script the README's commands call is installed and has each subcommand."""
    subs = sorted({words[1] for words in readme_commands()})
    runs = {sub: subprocess.Popen(["sketchback", sub, "--help"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True) for sub in subs}
    for sub, run in runs.items():
        out, err = run.communicate(timeout=60)
        assert run.returncode == 0, f"sketchback {sub} --help: {err[-500:]}"
        assert f"sketchback {sub}" in out


def test_workflow_catalog_file():
    """.snakemake-workflow-catalog.yml has the keys the catalog's standardized usage reads, and says
    truthfully how the software is deployed: no rule has a conda: or container: directive."""
    settings = yaml.safe_load((REPO / ".snakemake-workflow-catalog.yml").read_text())
    usage = settings["usage"]
    flags = usage["mandatory-flags"]
    assert set(flags) == {"desc", "flags"} and flags["desc"].strip()
    assert isinstance(flags["flags"], (str, list))
    deployment = usage["software-stack-deployment"]
    methods = {"conda", "apptainer", "apptainer+conda", "singularity", "singularity+conda"}
    assert {k for k in deployment if k != "report"} <= methods
    assert all(isinstance(v, bool) for v in deployment.values())
    rules = "\n".join(p.read_text() for p in [REPO / "workflow" / "Snakefile", *(REPO / "workflow" / "rules").glob("*.smk")])
    has_conda = re.search(r"^\s+conda:", rules, re.M) is not None
    has_container = re.search(r"^\s*(container|singularity):", rules, re.M) is not None
    assert deployment.get("conda", False) == has_conda
    assert deployment.get("apptainer", False) == has_container
    assert usage["report"] is True and (REPO / "workflow" / "report").is_dir()
    assert (REPO / "workflow" / "Snakefile").exists()


def test_config_readme_names_each_config_and_the_default():
    text = (REPO / "config" / "README.md").read_text()
    configs = sorted(p.name for p in (REPO / "config").glob("*.yaml"))
    assert configs, "no config/*.yaml"
    missing = [name for name in configs if f"`{name}`" not in text and f"config/{name}" not in text]
    assert missing == [], f"config/README.md does not describe {missing}"
    default = re.search(r'^\s*configfile:\s*"([^"]+)"', (REPO / "workflow" / "Snakefile").read_text(), re.M).group(1)
    assert re.search(rf"`{re.escape(Path(default).name)}`[^|]*\|[^|]*default", text), \
        f"config/README.md should say that {default} is the default"
    assert "../workflow/schemas/config.schema.yaml" in text and "../docs/configuration.md" in text
