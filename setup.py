"""Ship ``prompts/`` inside the wheel as ``trace_core/_prompts`` (data, not a top-level
import name). Everything else is declared in pyproject.toml."""

from pathlib import Path

from setuptools import find_namespace_packages, setup

# namespace discovery also picks up data folders (agents/assets, tasks/examples/data)
packages = [
    p
    for p in find_namespace_packages(include=["trace_core*", "optimizers*", "agents*", "tasks*"])
    if "__pycache__" not in p
]

# every folder under prompts/ becomes trace_core._prompts[.sub...] holding its templates
prompt_dirs = [Path("prompts")] + sorted(p for p in Path("prompts").rglob("*") if p.is_dir())
prompt_packages = {
    ".".join(["trace_core._prompts", *d.relative_to("prompts").parts]): d.as_posix() for d in prompt_dirs
}

setup(
    packages=[*packages, *prompt_packages],
    package_dir=prompt_packages,
    package_data={name: ["*.md", "*.txt"] for name in prompt_packages},
)
