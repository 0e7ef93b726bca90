"""Everything in a job file is checked before anything runs: exit 2, every problem listed,
no traceback, nothing stored. Each case is the reproducer a user ran into."""

from __future__ import annotations

import inspect
import textwrap
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from agents import RunStore
from agents.cli import app
from agents.jobs import JobError, load_job
from agents.workflow import WorkflowTask, is_workflow
from tasks.base import describe_options
from tasks.registry import build_task, task_class, task_names
from tests.agents.test_cli import flow_module
from trace_core.errors import ConfigError

NUMERIC = '[task]\nname = "numeric"\n[budget]\nmax_steps = 1\n'


def run_cli(*args: Any) -> Any:
    """``tracetune ARGS`` in-process; fails the test on a traceback or an uncaught exception."""
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output + result.stderr
    return result


def refused(tmp_path: Path, name: str, content: str | bytes) -> str:
    """Run the job file; assert exit 2 and that nothing was stored; return stderr."""
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(textwrap.dedent(content), encoding="utf-8")
    store = tmp_path / "runs.db"
    result = run_cli("run", path, "--store", store, "--no-report")
    assert result.exit_code == 2, result.output + result.stderr
    assert result.stderr.startswith("error: invalid job file")
    assert not store.exists() or RunStore(store).list_runs() == []
    return result.stderr


def test_an_unknown_dataset_is_refused_with_the_allowed_ones(tmp_path: Path) -> None:
    err = refused(tmp_path, "job.toml", """
        name = "hpo-mnist"
        [task]
        name = "hpo"
        options = { dataset = "mnist" }
        [budget]
        max_evaluations = 6
        """)
    assert "task.options.dataset = 'mnist'" in err
    assert "digits, wine, breast_cancer, iris" in err and "X and y" in err


def test_invalid_task_options_are_all_listed(tmp_path: Path) -> None:
    err = refused(tmp_path, "job.toml", """
        [task]
        name = "nas"
        options = { mode = "graph", epochs = 0, seeds = [], lr = nan, colour = "red" }
        [budget]
        max_steps = 2
        """)
    assert "(5 problems)" in err
    for line in ("task.options.mode = 'graph': use one of json, code", "task.options.epochs = 0",
                 "task.options.seeds", "task.options.lr = nan: Input should be a finite number",
                 "task.options.colour: not an option of task 'nas'; allowed: dataset"):
        assert line in err


def test_tasks_name_lists_the_options_with_their_allowed_values() -> None:
    result = run_cli("tasks", "hpo")
    assert result.exit_code == 0
    assert "options (job file: [task] options = { name = value, ... })" in result.stdout
    assert "dataset: one of digits, wine, breast_cancer, iris (default digits)" in result.stdout
    assert "split_seed: integer from 0 to 4294967295 (default 0)" in result.stdout
    plain = run_cli("tasks")  # the overview stays short: options only for named tasks
    assert "hpo (maximize)" in plain.stdout and "dataset: one of" not in plain.stdout


@pytest.mark.parametrize("name", task_names())
def test_each_task_declares_options_matching_its_constructor(name: str) -> None:
    cls = task_class(name)
    assert cls.Options is not None
    sig = inspect.signature(cls)
    keywords = {n: p for n, p in sig.parameters.items() if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}
    fields = cls.Options.model_fields
    extra = set(fields) - set(keywords)
    if any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values()):  # **data: the base class's options
        extra -= set(inspect.signature(cls.__mro__[1]).parameters)
    assert set(keywords) - {"extra"} <= set(fields) and not extra
    for key, param in keywords.items():
        if key in fields and param.default is not param.empty:
            default = fields[key].get_default(call_default_factory=True)
            as_list = (lambda v: list(v) if isinstance(v, tuple) else v)
            assert as_list(default) == as_list(param.default), key
    assert all(o["allowed"] for o in describe_options(cls.Options))


@pytest.mark.parametrize("name", ["numeric", "code_repair", "prompt_qa", "hpo", "design3d"])
def test_a_built_task_spec_validates_against_its_options(name: str) -> None:
    spec = build_task(name).spec()
    assert task_class(name).Options.model_validate(spec["options"])


def test_python_callers_get_the_same_checks() -> None:
    with pytest.raises(ConfigError, match="dataset = 'mnist': use one of digits"):
        build_task("hpo", dataset="mnist")
    from tasks.hpo.task import HPOTask

    with pytest.raises(ConfigError, match="tracetune tasks hpo"):
        HPOTask("mnist")
    assert build_task("numeric", bound="4").options["bound"] == 4.0  # coerced as a job file's value is


def test_unknown_optimizer_options_are_refused_with_the_accepted_ones(tmp_path: Path) -> None:
    err = refused(tmp_path, "job.toml", NUMERIC + '[optimizer]\nname = "search"\noptions = { bogus = 1 }\n')
    assert "optimizer.options.bogus: not an option of the search optimizer; accepted: constraints, enqueue_initial, " \
           "objectives, pruner, sampler, storage, study_name" in err


def test_optimizer_options_are_checked_against_each_optimizer(tmp_path: Path) -> None:
    err = refused(tmp_path, "job.toml", NUMERIC + """
        [optimizer]
        name = "evolution"
        options = { population = "many", seed = 3, token_budget = 10 }
        """)
    assert "optimizer.options.population = 'many': Input should be a valid integer" in err
    assert "optimizer.options.seed: set by the run (the job's seed)" in err
    assert "optimizer.options.token_budget: not an option of the evolution optimizer" in err
    ok = tmp_path / "ok.toml"
    ok.write_text(NUMERIC + '[optimizer]\nname = "default"\noptions = { sampler = "random", memory = 2 }\n')
    assert load_job(ok).optimizer.options == {"sampler": "random", "memory": 2}  # Search's or OptoPrime's


def test_a_custom_optimizer_class_signature_is_checked(tmp_path: Path) -> None:
    module = flow_module(tmp_path, """
        from optimizers import Search

        class Mine(Search):
            def __init__(self, parameters, *, rate=0.5):
                super().__init__(parameters)
        """)
    err = refused(tmp_path, "job.toml", NUMERIC + f'[optimizer]\nname = "{module}:Mine"\noptions = {{ rat = 1 }}\n')
    assert f"optimizer.options.rat: not an option of the {module}:Mine optimizer; accepted: rate" in err


@pytest.mark.parametrize(("setting", "problem"), [
    ("seed = -1", "seed = -1: Input should be greater than or equal to 0"),
    ("seed = 4294967296", "seed = 4294967296: Input should be less than or equal to 4294967295"),
    ("target = nan", "target = nan: Input should be a finite number"),
    ("timeout = inf", "timeout = inf: Input should be a finite number"),
])
def test_ranges_and_non_finite_values_are_refused(tmp_path: Path, setting: str, problem: str) -> None:
    err = refused(tmp_path, "job.toml", f'{setting}\n{NUMERIC}')
    assert problem in err


def test_max_seconds_inf_as_the_only_limit_is_refused(tmp_path: Path) -> None:
    err = refused(tmp_path, "job.toml", '[task]\nname = "numeric"\n[budget]\nmax_seconds = inf\n')
    assert "budget.max_seconds = inf: Input should be a finite number" in err


def test_a_non_utf8_file_is_a_clear_error(tmp_path: Path) -> None:
    err = refused(tmp_path, "job.toml", NUMERIC.encode() + b'description = "caf\xe9"\n')
    assert "(file): not UTF-8 text (byte 0xe9 at offset" in err and "save the file as UTF-8" in err


def test_a_utf8_bom_is_accepted(tmp_path: Path) -> None:
    for suffix in ("toml", "yaml", "json"):
        text = {"toml": NUMERIC, "yaml": "task: {name: numeric}\nbudget: {max_steps: 1}\n",
                "json": '{"task": {"name": "numeric"}, "budget": {"max_steps": 1}}'}[suffix]
        path = tmp_path / f"bom.{suffix}"
        path.write_bytes(b"\xef\xbb\xbf" + text.encode())
        assert load_job(path).task.name == "numeric"
    result = run_cli("run", tmp_path / "bom.toml", "--store", tmp_path / "r.db", "--no-report")
    assert result.exit_code == 0 and "finished" in result.stdout


BILLION_LAUGHS = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


@pytest.mark.timeout(60)
def test_a_yaml_alias_bomb_is_refused(tmp_path: Path) -> None:
    err = refused(tmp_path, "bomb.yaml", BILLION_LAUGHS)
    assert "aliases (*name) are not allowed in a job file (line 2)" in err


def test_deep_nesting_and_other_unreadable_files_are_job_errors(tmp_path: Path) -> None:
    for name, content in (("deep.json", "[" * 100_000), ("deep.toml", "a = " + "[" * 100_000),
                          ("deep.yaml", "[" * 100_000), ("tag.yaml", "!!python/object:os.system {}\n"),
                          ("digits.yaml", "seed: " + "9" * 10_000 + "\n")):
        (tmp_path / name).write_text(content, encoding="utf-8")
        with pytest.raises(JobError, match=r"\(file\): not valid"):
            load_job(tmp_path / name)
    (tmp_path / "folder.toml").mkdir()
    with pytest.raises(JobError, match="no such file"):
        load_job(tmp_path / "folder.toml")


def test_a_password_in_an_url_is_refused_and_never_shown(tmp_path: Path) -> None:
    err = refused(tmp_path, "job.toml", """
        [task]
        name = "numeric"
        [llm]
        model = "openai/gpt-4o-mini"
        api_base = "http://user:pw@host/v1"
        [budget]
        max_steps = 1
        """)
    assert "llm.api_base: the URL holds a user name or password (not shown)" in err
    assert "environment" in err and "user:pw" not in err and "pw@" not in err
    nested = refused(tmp_path, "nested.toml", 'budget = ["http://user:pw@h/v1"]\n[task]\nname = "numeric"\n')
    assert "\n  - budget.0: the URL holds a user name or password" in nested and "user:pw" not in nested
    as_key = refused(tmp_path, "key.yaml", "task: {name: numeric, 'http://user:pw@host/v1': 1}\n")
    assert "task.http://[REDACTED]@host/v1" in as_key and "user:pw" not in as_key  # a key is shown scrubbed
    yaml_err = refused(tmp_path, "job.yaml", "task: {name: numeric}\nllm: {model: m, api_base: 'http://u:s3cret@h/v1'\n")
    assert "s3cret" not in yaml_err  # a parse error does not quote the line either


def test_a_module_with_a_bundled_forward_is_a_workflow_for_python_and_job_files(tmp_path: Path) -> None:
    module = flow_module(tmp_path, """
        from trace_core import Module

        class Agent(Module):
            def __init__(self):
                super().__init__()
                self.k = Parameter(1.0, name="k", space=Float(0.0, 5.0))

            @bundle
            def forward(self, x):
                return x * self.k

        agent = Agent()
        NOT_A_WORKFLOW = 3

        def feedback(example, output):
            return -abs(output - 2 * example)
        """)
    import importlib
    import sys

    sys.path.insert(0, str(tmp_path))
    try:
        agent = importlib.import_module(module).agent
    finally:
        sys.path.remove(str(tmp_path))
    assert not callable(agent) and is_workflow(agent)
    assert WorkflowTask(agent, lambda ex, out: 0.0, train=[1]).run(1).value == 1.0
    job = tmp_path / "job.toml"
    job.write_text(f'[task]\nworkflow = "{module}:agent"\nfeedback = "{module}:feedback"\ntrain = [1, 2]\n'
                   '[optimizer]\nname = "search"\n[budget]\nmax_steps = 2\n', encoding="utf-8")
    result = run_cli("run", job, "--store", tmp_path / "r.db", "--no-report")
    assert result.exit_code == 0, result.stderr
    err = refused(tmp_path, "bad.toml", f'[task]\nworkflow = "{module}:NOT_A_WORKFLOW"\n'
                                        f'feedback = "{module}:feedback"\n[budget]\nmax_steps = 1\n')
    assert f"task.workflow = '{module}:NOT_A_WORKFLOW': not callable" in err
    with pytest.raises(ConfigError, match="must be callable"):
        WorkflowTask(3, lambda ex, out: 0.0)


def test_user_code_failing_while_the_job_is_set_up_is_an_error_line(tmp_path: Path) -> None:
    module = flow_module(tmp_path, """
        class Flow:
            def __init__(self):
                raise RuntimeError("no GPU here")

        def feedback(example, output):
            return 0.0
        """)
    job = tmp_path / "job.toml"
    job.write_text(f'[task]\nworkflow = "{module}:Flow"\nfeedback = "{module}:feedback"\n[budget]\nmax_steps = 1\n',
                   encoding="utf-8")
    result = run_cli("run", job, "--store", tmp_path / "r.db", "--no-report")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: cannot set up job 'job': RuntimeError: no GPU here")
