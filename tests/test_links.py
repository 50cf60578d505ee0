"""Every relative link in the README, the lessons, the exercises and the instructor guide
points at a file that exists (lessons get split and renamed; links must follow)."""

import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
LINK = re.compile(r"\]\(([^)\s]+)\)")
DOCUMENTS = sorted([ROOT / "README.md", *ROOT.glob("notebooks/*.md"), *ROOT.glob("notebooks/*.ipynb"),
                    *ROOT.glob("exercises/*.ipynb"), *ROOT.glob("exercises/solutions/*.ipynb")])


def texts(path):
    if path.suffix == ".ipynb":
        return [cell.source for cell in nbformat.read(path, as_version=4).cells
                if cell.cell_type == "markdown"]
    return [path.read_text()]


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda path: str(path.relative_to(ROOT)))
def test_relative_links_resolve(path):
    for text in texts(path):
        for target in LINK.findall(text):
            if re.match(r"^[a-z]+:", target) or target.startswith("#"):
                continue   # a web address, or an anchor in the same page
            file = (path.parent / target.split("#")[0]).resolve()
            assert file.exists(), f"{path.relative_to(ROOT)} links to {target}, which does not exist"
