"""The nas task adapter: Json and Code architectures, limits, invalid designs, pruning."""

from __future__ import annotations

import sys

import pytest

from trace_core import using
from trace_core.errors import ConfigError, Pruned
from tasks.base import reporting
from tasks.nas import DEFAULT_BUILD, MAX_DEPTH, Architecture, NASTask

FAST = dict(max_train=300, epochs=3, lr=1e-2)


@pytest.fixture(scope="module")
def json_task() -> NASTask:
    return NASTask("digits", **FAST)


@pytest.fixture(scope="module")
def code_task() -> NASTask:
    return NASTask("digits", mode="code", **FAST)


def _arch(n_layers: int, *layers: dict) -> dict:
    return {"n_layers": n_layers, "layers": [*layers, *[{}] * (MAX_DEPTH - len(layers))]}


def test_schema_is_flat_enough_for_a_sampler():
    schema = Architecture.model_json_schema()
    layers = schema["properties"]["layers"]
    assert layers["minItems"] == layers["maxItems"] == MAX_DEPTH
    layer = schema["$defs"]["Layer"]["properties"]
    assert set(layer) == {"width", "activation", "norm", "dropout", "skip"}
    assert all("enum" in layer[k] for k in ("width", "activation", "norm"))


def test_json_architecture_feedback_has_accuracy_size_and_latency(json_task):
    out = json_task.run(0)
    fb = json_task.evaluate(0, out)
    assert out.parents[0] is json_task.parameters()[0]
    assert 0.5 < fb.score <= 1.0
    assert fb.metrics["n_params"] == 64 * 64 + 64 + 64 * 64 + 64 + 64 * 10 + 10
    assert fb.metrics["latency_ms"] > 0
    assert "64 relu -> 64 relu -> linear head" in fb.text and "learning curve (3 epochs" in fb.text


def test_only_the_first_n_layers_are_built_and_skips_project_mismatched_widths(json_task):
    arch = _arch(2, {"width": 32, "skip": True, "norm": "batch"}, {"width": 16, "skip": True, "norm": "layer",
                                                                   "activation": "gelu", "dropout": 0.2})
    with using({"architecture": arch}):
        fb = json_task.evaluate(0, json_task.run(0))
    linear = 64 * 32 + 32 + 32 * 16 + 16 + 16 * 10 + 10
    projections = 64 * 32 + 32 * 16
    norms = 2 * 32 + 2 * 16
    assert fb.metrics["n_params"] == linear + projections + norms
    assert "32 relu (batch norm, skip) -> 16 gelu (layer norm, dropout 0.2, skip)" in fb.text


@pytest.mark.parametrize(
    ("arch", "fragment"),
    [
        ({"n_layers": 9, "layers": []}, "n_layers"),
        (_arch(1, {"width": 100}), "layers.0.width"),
        (_arch(1, {"activation": "swish"}), "activation"),
        ({**_arch(1), "head": "softmax"}, "head"),
        ({"n_layers": 3, "layers": [{"width": 32}]}, "n_layers is 3 but only 1 layer"),
        ("not json", "Architecture schema"),
    ],
)
def test_schema_errors_are_scored_failures(json_task, arch, fragment):
    with using({"architecture": arch}):
        fb = json_task.evaluate(0, json_task.run(0))
    assert fb.failed and fb.score is None and fb.details["reason"] == "invalid"
    assert fb.text.startswith("the architecture is invalid") and fragment in fb.text


def test_a_short_layer_list_is_padded_with_default_slots():
    arch = Architecture.model_validate({"n_layers": 2, "layers": [{"width": 32}, {"width": 16, "skip": True}]})
    assert [layer.width for layer in arch.layers] == [32, 16, 64, 64] and arch.layers[1].skip
    assert Architecture.model_validate({"layers": [{"width": 128}]}).n_layers == 1  # as many as given
    assert Architecture.model_json_schema()["properties"]["layers"]["minItems"] == MAX_DEPTH  # what samplers see


def test_code_architecture_trains(code_task):
    fb = code_task.evaluate(0, code_task.run(0))
    assert fb.score > 0.5 and fb.metrics["n_params"] == 8970


_BAD_CODE = [
    (DEFAULT_BUILD.replace("nn.Linear(64, 64)", "nn.Linear(32, 64)"), "input width equals the previous layer"),
    ("def build(in_features, n_classes):\n    return nn.Linear(in_features, 3)", "shape (batch, 10)"),
    ("def build(in_features, n_classes):\n    return [nn.Linear(in_features, n_classes)]", "torch.nn.Module"),
    ("def build(in_features, n_classes):\n    return 1 / 0", "ZeroDivisionError"),
    ("def build(in_features, n_classes):\n    import os\n    return os", "may import only torch"),
    ("def build(in_features, n_classes):\n    return open('x')", "NameError"),
    ("def build(n_classes):\n    pass", "signature"),
    ("def build(in_features, n_classes):\n  return (", "does not parse"),
]


@pytest.mark.parametrize(("code", "fragment"), _BAD_CODE)
def test_invalid_code_is_a_scored_failure_with_the_reason(code_task, code, fragment):
    with using({"architecture": code}):
        fb = code_task.evaluate(0, code_task.run(0))
    assert fb.failed and fb.score is None and fb.details["reason"] == "invalid"
    assert fragment in fb.text


_ENDLESS = {
    "in build()": "def build(in_features, n_classes):\n    while True: pass",
    "while defined": "while True:\n    pass\ndef build(in_features, n_classes):\n    return nn.Linear(in_features, 3)",
    "in forward() when training": """class Stuck(nn.Module):
    def __init__(self, i, o):
        super().__init__()
        self.fc = nn.Linear(i, o)

    def forward(self, x):
        while self.training:
            try:
                x = x + 0
            except Exception:
                pass
        return self.fc(x)

def build(in_features, n_classes):
    return Stuck(in_features, n_classes)
""",
}


@pytest.mark.parametrize("where", sorted(_ENDLESS))
def test_endless_build_code_is_stopped_as_a_scored_failure(where):
    task = NASTask("wine", mode="code", code_timeout=0.2, **FAST)
    tracer = sys.gettrace()
    with using({"architecture": _ENDLESS[where]}):
        fb = task.evaluate(0, task.run(0))
    assert fb.failed and fb.details["reason"] == "timeout" and "endless loop" in fb.text
    assert sys.gettrace() is tracer  # this thread's trace function is restored


def test_parameter_limit_violation_is_reported_without_training():
    task = NASTask("digits", max_params=5000, **FAST)
    fb = task.evaluate(0, task.run(0))
    assert fb.failed and fb.details["reason"] == "param_limit"
    assert fb.metrics["n_params"] == 8970 and "over the limit of 5,000" in fb.text
    assert task.epochs_trained == 0
    with using({"architecture": _arch(1, {"width": 16})}):
        assert task.evaluate(0, task.run(0)).score is not None


def test_pruning_propagates_out_of_run(json_task):
    class Prune:
        def report(self, step: int, value: float) -> None:
            raise Pruned(step=step, value=value)

    with reporting(Prune()), pytest.raises(Pruned) as err:
        json_task.run(0)
    assert err.value.step == 1


def test_configuration_errors():
    with pytest.raises(ConfigError, match="mode"):
        NASTask(mode="yaml")
    with pytest.raises(ConfigError, match="initial architecture"):
        NASTask(initial={"n_layers": 0})
