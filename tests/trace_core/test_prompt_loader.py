"""The prompt-template loader: found by name, rendered strictly, from a checkout, a
directory named by $TRACETUNE_PROMPTS_DIR, or the copy shipped inside the wheel."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from trace_core import ConfigError, prompts

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def template_dir(tmp_path, monkeypatch):
    (tmp_path / "greet.md").write_text("Hello ${name}, you have $count messages. Cost: $$5.\n")
    (tmp_path / "nested").mkdir()
    (tmp_path / "nested" / "system.txt").write_text("System for ${task}.")
    (tmp_path / "broken.md").write_text("A lone $ sign: $ here")
    monkeypatch.setenv("TRACETUNE_PROMPTS_DIR", str(tmp_path))
    return tmp_path


def test_render_fills_variables(template_dir):
    assert prompts.render("greet", name="Ada", count=3) == "Hello Ada, you have 3 messages. Cost: $5.\n"
    assert prompts.render("nested/system", task="hpo") == "System for hpo."
    assert prompts.search_path()[0] == template_dir
    assert {"greet", "nested/system"} <= set(prompts.names())


def test_a_missing_variable_is_an_error_naming_it(template_dir):
    with pytest.raises(ConfigError, match="'count'"):
        prompts.render("greet", name="Ada")


def test_unknown_malformed_and_escaping_names_are_errors(template_dir):
    with pytest.raises(ConfigError, match="no prompt template named 'nope'"):
        prompts.render("nope")
    with pytest.raises(ConfigError, match="malformed"):
        prompts.render("broken")
    with pytest.raises(ConfigError, match=r"\.\."):
        prompts.render("../secret")
    with pytest.raises(ConfigError):
        prompts.render(str(template_dir / "greet"))  # absolute paths are refused too


def test_the_checkout_templates_are_found():
    assert (ROOT / "prompts").is_dir()
    assert ROOT / "prompts" in prompts.search_path()
    assert prompts.render("hello", name="tracetune") == "Hello tracetune.\n"


def test_templates_ship_in_the_wheel_and_load_from_it(tmp_path):
    wheel_dir, unpacked, elsewhere = tmp_path / "wheel", tmp_path / "site", tmp_path / "elsewhere"
    elsewhere.mkdir()
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheel_dir),
         str(ROOT)],
        capture_output=True, text=True, timeout=240,
    )
    assert build.returncode == 0, build.stderr[-2000:]
    (wheel,) = wheel_dir.glob("tracetune-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        zf.extractall(unpacked)
    assert "trace_core/_prompts/hello.md" in names
    assert "trace_core/_prompts/optoprime/system.md" in names  # sub-folders ship too
    assert not any(n.startswith("prompts/") for n in names)  # not a top-level name
    script = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(unpacked)!r})
        import trace_core
        from trace_core import prompts, ConfigError
        assert trace_core.__file__.startswith({str(unpacked)!r}), trace_core.__file__
        print([str(p) for p in prompts.search_path()])
        print(prompts.render("hello", name="wheel"), end="")
        try:
            prompts.render("hello")
        except ConfigError as e:
            print("error:", e)
        """
    )
    env = {k: v for k, v in os.environ.items() if k not in ("TRACETUNE_PROMPTS_DIR", "PYTHONPATH")}
    run = subprocess.run([sys.executable, "-I", "-c", script], cwd=elsewhere, env=env, capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 0, run.stderr[-2000:]
    paths, rendered, error = run.stdout.splitlines()
    assert paths == str([str(unpacked / "trace_core" / "_prompts")])
    assert rendered == "Hello wheel."
    assert "needs the variable 'name'" in error
