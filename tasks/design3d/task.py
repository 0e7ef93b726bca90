"""The ``design3d`` task: a text prompt is the design variable of a vehicle body.

Following Rios et al. (2023), "Large Language and Text-to-3D Models for
Engineering Design Optimization": the prompt goes through a text-to-3D
generator (offline procedural by default, Shap-E where installed), the mesh is
scored by a drag estimate under class constraints (:mod:`.fitness`), and an
evolutionary optimizer varies the prompt with the task's :attr:`vocabulary`
and operator :attr:`templates` (files under ``prompts/design3d/``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trimesh
from pydantic import Field

from trace_core import Parameter, bundle, prompts, using
from trace_core.errors import ConfigError, InvalidProposal
from trace_core.feedback import Feedback
from trace_core.spaces import Text

from tasks.base import BaseTask, Seed, TaskOptions, multi_objective_option, one_of

from .export import export_design
from .fitness import CLASSES, evaluate_mesh, resolve_class
from .generator import Generator, make_generator
from .render import render_base64
from .vocabulary import CATEGORIES, MODIFIERS, VOCABULARY

__all__ = ["Design3DTask", "InvalidPrompt", "text_to_3d", "DEFAULT_PROMPT"]

#: the objectives ``multi_objective=True`` declares
OBJECTIVES = {"drag": "minimize", "cabin_volume": "maximize"}

DEFAULT_PROMPT = "a family car"


@dataclass(frozen=True)
class InvalidPrompt:
    """The output of a run whose prompt did not fit the prompt's space."""

    reason: str


@bundle
def text_to_3d(prompt: str, seed: int, generator: Generator, space: Text) -> Any:
    """Turn the design prompt into a 3D vehicle body (a triangle mesh) with the text-to-3D
    generator; the same prompt and seed give the same mesh."""
    try:
        prompt = space.validate(prompt)
    except InvalidProposal as e:
        return InvalidPrompt(f"the prompt is invalid: {e}")
    return generator(prompt, int(seed))


def _describe_vocabulary() -> str:
    lines = [f"- {cat}: {', '.join(words)}" for cat, words in CATEGORIES.items()]
    lines.append(f"- modifiers (scale the next word): {', '.join(MODIFIERS)}")
    return "\n".join(lines)


class Design3DTask(BaseTask):
    """Minimize the aerodynamic drag of a car body described by a text prompt.

    Args:
        prompt: the starting prompt.
        seeds: generator seeds of the training examples (the score is per seed).
        val_seeds: seeds candidates are scored on (default: ``seeds``).
        generator: ``"procedural"`` (offline) or ``"shap-e"``.
        vehicle_class: ``"car"`` or ``"van"`` (see :data:`~.fitness.CLASSES`).
        speed: air speed in m/s for the drag force.
        max_chars: longest allowed prompt (None: no limit).
        generator_options: keyword arguments for the generator.
        multi_objective: also maximize the cabin volume (objectives ``drag``, ``cabin_volume``),
            with the class limits as constraints on the metrics (:meth:`class_constraints`), so an
            out-of-class design ranks by how far out it is.

    Example:
        >>> from trace_core import using
        >>> task = Design3DTask()
        >>> with using({"prompt": "sleek long teardrop low"}):
        ...     sleek = task.evaluate(0, task.run(0))
        >>> with using({"prompt": "boxy tall short blunt"}):
        ...     boxy = task.evaluate(0, task.run(0))
        >>> sleek.score < boxy.score
        True
    """

    name = "design3d"
    direction = "minimize"
    vocabulary = VOCABULARY
    natural_objectives = OBJECTIVES
    #: operator -> prompt template name (files under ``prompts/``) for evolutionary operators
    templates: Mapping[str, str] = {
        "system": "design3d/system",
        "mutate": "design3d/mutate",
        "crossover": "design3d/crossover",
    }

    class Options(TaskOptions):
        prompt: str = Field(DEFAULT_PROMPT, min_length=1, description="the starting prompt")
        seeds: list[Seed] = Field([0], min_length=1, description="generator seeds of the training examples")
        val_seeds: list[Seed] | None = Field(None, min_length=1, description="seeds candidates are scored on")
        generator: one_of(("procedural", "shap-e")) = Field("procedural", description="the text-to-3D generator")
        vehicle_class: one_of(tuple(CLASSES)) = Field("car", description="class limits the design must meet")
        speed: float = Field(30.0, gt=0, le=1000, description="air speed in m/s for the drag force")
        max_chars: int | None = Field(300, ge=1, description="longest allowed prompt (none: no limit)")
        generator_options: dict[str, Any] | None = Field(None, description="keyword arguments for the generator")
        multi_objective: bool = multi_objective_option(OBJECTIVES)

    def __init__(
        self,
        prompt: str = DEFAULT_PROMPT,
        *,
        seeds: Sequence[int] = (0,),
        val_seeds: Sequence[int] | None = None,
        generator: str = "procedural",
        vehicle_class: str = "car",
        speed: float = 30.0,
        max_chars: int | None = 300,
        generator_options: Mapping[str, Any] | None = None,
        multi_objective: bool = False,
    ) -> None:
        super().__init__(
            prompt=prompt, seeds=[int(s) for s in seeds],
            val_seeds=None if val_seeds is None else [int(s) for s in val_seeds], generator=generator,
            vehicle_class=vehicle_class, speed=float(speed),
            max_chars=None if max_chars is None else int(max_chars),
            generator_options=dict(generator_options or {}),
            **({"multi_objective": True} if multi_objective else {}),
        )
        if not seeds:
            raise ConfigError("design3d needs at least one seed")
        if speed <= 0:
            raise ConfigError(f"speed must be positive (m/s), got {speed}")
        self.vehicle_class = resolve_class(vehicle_class)
        self.speed = float(speed)
        if multi_objective:
            self.constraints = self.class_constraints()  # type: ignore[misc]
        self.generator = make_generator(generator, **dict(generator_options or {}))
        self._space = Text(max_chars=self.options["max_chars"])
        try:
            self.prompt = Parameter(
                prompt, name="prompt", space=self._space,
                description="text prompt describing the vehicle body for the text-to-3D generator",
            )
        except InvalidProposal as e:
            raise ConfigError(f"the initial prompt is invalid: {e}") from None
        self._train = [int(s) for s in seeds]
        self._val = list(self._train if val_seeds is None else [int(s) for s in val_seeds])
        #: the goal in one paragraph (``description`` adds the vocabulary for the procedural generator)
        self.objective = (
            f"Write a text prompt describing a {self.vehicle_class.name} body. A text-to-3D generator turns it into "
            f"a 3D shape; the score is its aerodynamic drag in N at {self.speed:g} m/s (lower is better), "
            "estimated from frontal area, fineness, bluff nose and rear, and protrusions. The design must stay "
            "a closed shape within the class limits (length, width, volume) and hold people (cabin height and "
            "volume); designs out of class fail."
        )
        vocab = f"\nThe generator understands these words:\n{_describe_vocabulary()}" if generator == "procedural" else ""
        self.description = self.objective + vocab

    def class_constraints(self) -> list[str]:
        """The vehicle class's limits as constraints on the metrics (``"length >= 3.5"``, ...)."""
        vc = self.vehicle_class
        return [f"length >= {vc.min_length:g}", f"length <= {vc.max_length:g}", f"width <= {vc.max_width:g}",
                f"volume >= {vc.min_volume:g}", f"volume <= {vc.max_volume:g}",
                f"cabin_height >= {vc.min_cabin_height:g}", f"cabin_volume >= {vc.min_cabin_volume:g}"]

    @property
    def train(self) -> list[int]:
        return list(self._train)

    @property
    def val(self) -> list[int]:
        return list(self._val)

    def parameters(self) -> list[Parameter]:
        return [self.prompt]

    def run(self, example: Any) -> Any:
        """Generate the mesh of the current prompt (honouring ``using``) for seed ``example``."""
        return text_to_3d(self.prompt, 0 if example is None else int(example), self.generator, self._space)

    def evaluate(self, example: Any, output: Any) -> Feedback:
        """Drag (N) of the output mesh with its metrics, or a failure with the reason."""
        value = getattr(output, "value", output)
        if isinstance(value, InvalidPrompt):
            return Feedback.failure(value.reason)
        if isinstance(value, BaseException):
            return Feedback.failure(f"the generator failed: {type(value).__name__}: {value}")
        if not isinstance(value, trimesh.Trimesh):
            return Feedback.failure(f"the generator returned {type(value).__name__}, not a mesh")
        return evaluate_mesh(value, self.vehicle_class, self.speed)

    def render_template(self, role: str, /, **variables: Any) -> str:
        """Render the operator template for ``role`` (see :attr:`templates`).

        The templates take the variables of Evolution's LLM operator (``objective``,
        ``parameters``, ``parents``, ``vocabulary``, ``format``); all but ``parents``
        default to the task's own.
        """
        if role not in self.templates:
            raise ConfigError(f"no design3d template for {role!r}; roles: {', '.join(self.templates)}")
        defaults = {
            "objective": self.objective,
            "parameters": f"- prompt: {self._space.describe()} — {self.prompt.description}",
            "vocabulary": _describe_vocabulary(),
            "format": 'Reply with one JSON object: {"reasoning": "<one or two sentences>", '
            '"suggestion": {"prompt": "<the child prompt>"}}.',
        }
        return prompts.render(self.templates[role], **{**defaults, **variables})

    def mesh(self, prompt: str | None = None, seed: int = 0) -> trimesh.Trimesh:
        """The mesh of ``prompt`` (default: the current prompt) at ``seed``, untraced."""
        return self.generator(self.prompt.value if prompt is None else self._space.validate(prompt), seed)

    def artifacts(self, values: Mapping[str, Any] | None = None, directory: str | Path | None = None,
                  seed: int = 0, stem: str = "best") -> dict[str, Any]:
        """Picture (PNG, base64) and, with ``directory``, STL and GLB files of a design.

        ``values`` maps ``"prompt"`` to the design (default: the current prompt).
        """
        with using(dict(values or {})):
            prompt = self.prompt.value
        mesh = self.mesh(prompt, seed)
        out: dict[str, Any] = {"prompt": prompt, "png_base64": render_base64(mesh, [prompt[:60]])}
        if directory is not None:
            out["files"] = {k: str(p) for k, p in export_design(mesh, directory, stem).items()}
        return out
