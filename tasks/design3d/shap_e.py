"""Shap-E (OpenAI's text-to-3D model) behind the :class:`~.generator.Generator` interface.

Usable only where the ``shap_e`` package is installed **and** its weights are on
disk: ``transmitter.pt``, ``text_cond.pt`` and the configs
``transmitter_config.yaml``, ``text_cond_config.yaml``, ``diffusion_config.yaml``
in ``model_dir`` (default: ``$TRACETUNE_SHAPE_DIR``, else ``./shap_e_model_cache``,
Shap-E's own cache folder). Nothing is ever downloaded: a missing piece raises
:class:`~trace_core.errors.TaskError` saying what to install or copy where.

Its meshes are put in the task's frame by :func:`normalize_mesh`: the longer
horizontal axis becomes ``x``, the mesh is scaled to a target length and stands
on ``z = 0``.

Example:
    >>> import trimesh
    >>> box = trimesh.creation.box(extents=[0.4, 1.0, 0.3])
    >>> normalize_mesh(box, length=4.0).extents.round(2).tolist()
    [4.0, 1.6, 1.2]
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

import numpy as np
import trimesh

from trace_core.errors import TaskError

__all__ = ["ShapEGenerator", "normalize_mesh", "shap_e_problem", "REQUIRED_FILES"]

REQUIRED_FILES = (
    "transmitter.pt",
    "text_cond.pt",
    "transmitter_config.yaml",
    "text_cond_config.yaml",
    "diffusion_config.yaml",
)


def _default_dir() -> Path:
    return Path(os.environ.get("TRACETUNE_SHAPE_DIR") or Path.cwd() / "shap_e_model_cache")


def shap_e_problem(model_dir: str | Path | None = None) -> str | None:
    """Why Shap-E cannot run here (None when it can)."""
    if importlib.util.find_spec("shap_e") is None:
        return (
            "Shap-E is not installed: install OpenAI's shap-e package (and torch with a GPU) to use the "
            "'shap-e' generator, or use the offline 'procedural' generator"
        )
    folder = Path(model_dir) if model_dir is not None else _default_dir()
    missing = [name for name in REQUIRED_FILES if not (folder / name).is_file()]
    if missing:
        return (
            f"Shap-E weights are missing from {folder}: {', '.join(missing)}. tracetune never downloads them; "
            "copy them there (or set TRACETUNE_SHAPE_DIR / model_dir) or use the 'procedural' generator"
        )
    return None


def normalize_mesh(mesh: trimesh.Trimesh, length: float = 4.6) -> trimesh.Trimesh:
    """A copy of ``mesh`` (z up) turned so its longer horizontal side is ``x``, scaled
    to ``length`` along ``x``, with its lowest point on ``z = 0`` and nose at ``x = 0``."""
    out = mesh.copy()
    out.merge_vertices()
    lo, hi = out.bounds
    if hi[1] - lo[1] > hi[0] - lo[0]:
        out.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, [0, 0, 1]))
    lo, hi = out.bounds
    out.apply_scale(length / max(hi[0] - lo[0], 1e-9))
    lo, hi = out.bounds
    out.apply_translation([-lo[0], -0.5 * (lo[1] + hi[1]), -lo[2]])
    if out.is_watertight and out.volume < 0:
        out.invert()
    return out


class ShapEGenerator:
    """Text-to-3D with Shap-E (``text300M`` + ``transmitter``), one mesh per prompt and seed.

    Args:
        model_dir: folder with the weights (see the module docs).
        device: torch device; default CUDA when available, else CPU (slow).
        guidance_scale, karras_steps: sampling settings from Shap-E's example.
        length: target length (m) of the normalized mesh.

    Example:
        >>> try:
        ...     ShapEGenerator(model_dir="/nonexistent")
        ... except TaskError as e:
        ...     "procedural" in str(e)
        True
    """

    def __init__(self, *, model_dir: str | Path | None = None, device: str | None = None,
                 guidance_scale: float = 15.0, karras_steps: int = 64, length: float = 4.6) -> None:
        problem = shap_e_problem(model_dir)
        if problem is not None:
            raise TaskError(problem)
        self.model_dir = Path(model_dir) if model_dir is not None else _default_dir()
        self.device = device
        self.guidance_scale = guidance_scale
        self.karras_steps = karras_steps
        self.length = length
        self._models: tuple[Any, Any, Any] | None = None

    def __repr__(self) -> str:
        return f"ShapEGenerator(model_dir={str(self.model_dir)!r})"

    def _load(self) -> tuple[Any, Any, Any]:
        if self._models is None:
            import torch
            from shap_e.diffusion.gaussian_diffusion import diffusion_from_config
            from shap_e.models.download import load_config, load_model

            device = torch.device(self.device or ("cuda" if torch.cuda.is_available() else "cpu"))
            cache = str(self.model_dir)  # every file is present: load_* reads it, never fetches
            self._models = (
                load_model("transmitter", device=device, cache_dir=cache),
                load_model("text300M", device=device, cache_dir=cache),
                diffusion_from_config(load_config("diffusion", cache_dir=cache)),
            )
        return self._models

    def __call__(self, prompt: str, seed: int = 0) -> trimesh.Trimesh:
        import torch
        from shap_e.diffusion.sample import sample_latents
        from shap_e.util.notebooks import decode_latent_mesh

        transmitter, model, diffusion = self._load()
        torch.manual_seed(int(seed))
        latents = sample_latents(
            batch_size=1, model=model, diffusion=diffusion, guidance_scale=self.guidance_scale,
            model_kwargs={"texts": [prompt]}, progress=False, clip_denoised=True, use_fp16=True,
            use_karras=True, karras_steps=self.karras_steps, sigma_min=1e-3, sigma_max=160, s_churn=0,
        )
        raw = decode_latent_mesh(transmitter, latents[0]).tri_mesh()
        mesh = normalize_mesh(trimesh.Trimesh(vertices=raw.verts, faces=raw.faces), self.length)
        mesh.metadata["design3d"] = {"generator": "shap-e", "prompt": prompt, "seed": int(seed)}
        return mesh
