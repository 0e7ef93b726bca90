"""Which LLM to use: from the environment or from a spec in a job file."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from trace_core.errors import ConfigError
from trace_core.llm.base import BaseLLM, as_base
from trace_core.llm.retry import Retry
from trace_core.llm.wrap import wrap

__all__ = ["llm_from_env", "resolve_llm", "ENV_MODEL", "ENV_API_BASE", "ENV_API_KEY"]

ENV_MODEL = "TRACETUNE_LLM"
ENV_API_BASE = "TRACETUNE_LLM_API_BASE"
ENV_API_KEY = "TRACETUNE_LLM_API_KEY"
_OFF = {"", "none", "off", "0", "false"}


def llm_from_env(env: Mapping[str, str] | None = None, **options: Any) -> BaseLLM | None:
    """A :class:`~trace_core.llm.LiteLLM` for ``$TRACETUNE_LLM``, or None when it is unset.

    ``$TRACETUNE_LLM_API_BASE`` points it at an OpenAI-compatible server;
    ``$TRACETUNE_LLM_API_KEY`` overrides the provider's usual key variable
    (``OPENAI_API_KEY``, ``ANTHROPIC_API_KEY`` ..., which litellm reads itself).
    ``options`` go to :class:`~trace_core.llm.LiteLLM` (cache, retry, budget ...).

    Example:
        >>> llm_from_env({}) is None
        True
    """
    env = os.environ if env is None else env
    model = env.get(ENV_MODEL, "").strip()
    if model.lower() in _OFF:
        return None
    from trace_core.llm.litellm_llm import LiteLLM

    return LiteLLM(model, api_base=env.get(ENV_API_BASE) or None, api_key=env.get(ENV_API_KEY) or None, **options)


def resolve_llm(spec: Any = None, **options: Any) -> BaseLLM | None:
    """An LLM from a spec: None (the environment), an LLM, a model string, or a mapping.

    A mapping holds ``model`` and the keywords of :class:`~trace_core.llm.LiteLLM`
    (``api_base``, ``timeout``, ``cache``, ``max_concurrency``, ``log_path``,
    ``retry`` as a mapping of :class:`Retry` fields ...), as a job file writes it.
    ``"none"`` means no LLM (None is returned; callers fall back to a non-LLM optimizer).
    ``options`` are middleware keywords (``budget=``, ``cache=`` ...) applied in every case.

    Example:
        >>> from trace_core.llm import ScriptedLLM
        >>> resolve_llm(ScriptedLLM(["hi"])).complete("x").text
        'hi'
        >>> resolve_llm("none") is None
        True
    """
    if spec is None:
        return llm_from_env(**options)
    if isinstance(spec, str):
        if spec.strip().lower() in _OFF:
            return None
        if spec.strip().lower() == "env":
            return llm_from_env(**options)
        spec = {"model": spec}
    if isinstance(spec, Mapping):
        config = {**spec, **options}
        model = config.pop("model", None)
        if not model or not isinstance(model, str):
            raise ConfigError(f"LLM spec {dict(spec)!r} has no 'model'; write e.g. {{'model': 'openai/gpt-4o-mini'}}")
        if isinstance(config.get("retry"), Mapping):
            try:
                config["retry"] = Retry(**config["retry"])
            except TypeError as exc:
                raise ConfigError(f"bad retry settings {config['retry']!r}: {exc}") from None
        from trace_core.llm.litellm_llm import LiteLLM

        try:
            return LiteLLM(model, **config)
        except TypeError as exc:
            raise ConfigError(f"bad LLM settings for {model!r}: {exc}") from None
    if callable(getattr(spec, "complete", None)):
        return wrap(spec, **options) if options else as_base(spec)
    raise ConfigError(f"cannot make an LLM from {spec!r}; give a model string, a mapping with 'model', or an LLM")
