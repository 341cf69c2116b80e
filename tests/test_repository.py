"""What a newcomer reads stays true to the tree: README is a short guide with a contents list that
links every page of docs/, each link lands (file and heading), no path written in the code or the
docs names a file that is not there, and no internal issue number or superseded figures are left
in the guide. Fast tier."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.support.helpers import REPO

README = REPO / "README.md"
DOCS = sorted((REPO / "docs").glob("*.md"))
PATH = re.compile(r"(?<![\w/.`-])`?((?:handler|scripts|export|infra|tests|reference|docs)/[\w./*-]*[\w*])")
GENERATED = ("infra/build",)  # what a build writes: named in the docs, absent from a fresh clone
PLANTED = {"tests/test_layers.py", "tests/test_repository.py"}  # their checkers plant bad paths on purpose
LINK = re.compile(r"\]\(([^)\s]+)\)")


def tracked_text_files() -> list[Path]:
    names = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    return [REPO / n for n in names if Path(n).suffix in (".py", ".md", ".yaml", ".sh", ".toml", ".js", ".html", ".css", ".txt", "") and (REPO / n).is_file()]


def named_paths(text: str) -> set[str]:
    """Repository paths written in a text (a URL path such as /docs/assets/x is not one)."""
    return {match.rstrip(".") for match in PATH.findall(text)}


def missing_paths(files) -> list[str]:
    missing = []
    for file in files:
        name = file.relative_to(REPO) if file.is_relative_to(REPO) else file
        if str(name) in PLANTED:
            continue
        for path in named_paths(file.read_text(errors="replace")):
            if path.startswith(GENERATED) or "*" in path:  # a build's output; a glob
                continue
            if not (REPO / path).exists():
                missing.append(f"{name}: {path}")
    return sorted(missing)


def test_every_path_named_in_the_code_and_the_docs_exists():
    assert missing_paths(tracked_text_files()) == []


def test_the_path_checker_sees_a_stale_path(tmp_path):
    planted = tmp_path / "x.md"
    planted.write_text("see handler/storage/edge.py and handler/gone.py, not the URL /docs/assets/swagger-ui.css\n")
    assert missing_paths([planted]) == [f"{planted}: handler/gone.py"]


def test_the_readme_is_a_short_guide_that_links_every_page_of_the_docs():
    text = README.read_text()
    assert len(text.splitlines()) <= 300
    assert "## Contents" in text
    linked = {link.split("#")[0] for link in LINK.findall(text)}
    assert {f"docs/{page.name}" for page in DOCS} <= linked


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    heading = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return heading.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    return {slug(line.lstrip("#")) for line in page.read_text().splitlines() if line.startswith("#")}


@pytest.mark.parametrize("page", [README, *DOCS], ids=lambda p: p.name)
def test_every_link_lands(page):
    broken = []
    for link in LINK.findall(page.read_text()):
        if re.match(r"[a-z]+:", link):  # http:, https:, mailto:
            continue
        target, _, anchor = link.partition("#")
        file = (page.parent / target).resolve() if target else page
        if not file.exists():
            broken.append(link)
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            broken.append(link)
    assert broken == []


@pytest.mark.parametrize("page", [README, *DOCS], ids=lambda p: p.name)
def test_no_internal_issue_numbers_or_superseded_figures(page):
    text = page.read_text()
    assert not re.findall(r"(?<![\w&])#\d{1,3}\b", text), "internal issue numbers"
    assert "Measured earlier" not in text
