"""The README's example is this directory's test, word for word, and its commands are real."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_readme_example_is_the_tested_file():
    readme = (ROOT / "README.md").read_text()
    example = (ROOT / "tests" / "readme" / "test_readme_example.py").read_text()
    assert "```python\n" + example + "```" in readme


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    command = "bash scripts/setup.sh && .venv/bin/python -m pytest -q"
    assert command in readme
    assert command in (ROOT / ".ci" / "run").read_text()


def test_readme_main_command_names_a_builtin_scenario():
    from drydock.scenarios import load_builtin

    readme = (ROOT / "README.md").read_text()
    line = next(ln for ln in readme.splitlines() if ln.startswith("bash scripts/setup.sh && .venv/bin/drydock run "))
    assert load_builtin(line.rsplit(" ", 1)[1]).name == "preempt-mid-step"


def test_readme_kubeflow_example_is_the_tested_one():
    """The README's Kubeflow example is docs/kubeflow.md's, which test_kubeflow_docs.py runs."""
    import re

    doc = (ROOT / "docs" / "kubeflow.md").read_text()
    tested = re.search(r"<!-- tested: tests/conformance/test_kubeflow_docs.py \(in-process\) -->\n"
                       r"```python\n(.*?)```", doc, re.S)
    assert tested, "docs/kubeflow.md lost its tested in-process example"
    assert "```python\n" + tested.group(1) + "```" in (ROOT / "README.md").read_text()
