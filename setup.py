"""Ship ``prompts/`` inside the wheel as ``trace_core/_prompts`` (data, not a top-level
import name). Everything else is declared in pyproject.toml."""

from setuptools import find_packages, setup

packages = find_packages(include=["trace_core*", "optimizers*", "agents*", "tasks*"])

setup(
    packages=[*packages, "trace_core._prompts"],
    package_dir={"trace_core._prompts": "prompts"},
    package_data={"trace_core._prompts": ["**/*.md", "**/*.txt", "*.md", "*.txt"]},
)
