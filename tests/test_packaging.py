"""Binder's environment.yml and pyproject.toml must list the same dependencies."""

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def _name_and_spec(requirement):
    match = re.match(r"\s*([A-Za-z0-9_.\-]+)\s*(.*)", requirement)
    return match.group(1).lower().replace("_", "-"), match.group(2).replace(" ", "")


def test_environment_yml_lists_the_same_dependencies_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = dict(_name_and_spec(d) for d in env["dependencies"] if isinstance(d, str))
    conda.pop("python")
    conda.pop("pip")
    assert conda == dict(_name_and_spec(d) for d in project["dependencies"])


def test_binder_installs_the_package_itself():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "-e ." in pip_section, "Binder does not install pyproject.toml by itself: add '-e .'"
    assert "python=3.11" in env["dependencies"]
    assert env["channels"] == ["conda-forge"]


def test_the_readme_tables_are_the_ones_simlab_records_defines():
    from simlab import records

    readme = (ROOT / "README.md").read_text()
    assert records.readme_tables() in readme, (
        "README's tables differ from simlab/records.py; regenerate them with: "
        + records.BEGIN.split("made by simlab/records.py: ", 1)[1].removesuffix(" -->"))


def test_the_readme_example_runs(monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    readme = (ROOT / "README.md").read_text()
    code = readme.split("```python\n", 1)[1].split("```", 1)[0]
    namespace = {}
    exec(compile(code, "README.md", "exec"), namespace)
    summary = namespace["result"].summary()
    assert summary["requests"] > 2000 and 0 < summary["error"] < summary["requests"]
