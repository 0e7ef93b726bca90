"""Which LLM to use: from the environment or from a spec in a job file."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from trace_core.errors import ConfigError
from trace_core.llm.base import BaseLLM, as_base
from trace_core.llm.retry import Retry
from trace_core.llm.wrap import wrap

__all__ = ["llm_from_env", "resolve_llm", "env_settings", "ENV_MODEL", "ENV_API_BASE", "ENV_API_KEY", "ENV_TIMEOUT",
           "ENV_STRUCTURED_OUTPUT"]

ENV_MODEL = "TRACETUNE_LLM"
ENV_API_BASE = "TRACETUNE_LLM_API_BASE"
ENV_API_KEY = "TRACETUNE_LLM_API_KEY"
ENV_TIMEOUT = "TRACETUNE_LLM_TIMEOUT"
ENV_STRUCTURED_OUTPUT = "TRACETUNE_LLM_STRUCTURED_OUTPUT"
_OFF = {"", "none", "off", "0", "false"}
_FLAGS = {"true": True, "1": True, "yes": True, "on": True, "false": False, "0": False, "no": False, "off": False,
          "auto": "auto"}


def env_settings(env: Mapping[str, str] | None = None, prefix: str = ENV_MODEL) -> dict[str, Any]:
    """The LLM settings in ``$<prefix>_API_BASE``, ``_API_KEY``, ``_TIMEOUT`` (seconds) and
    ``_STRUCTURED_OUTPUT`` (true, false or auto); unset ones are left out.

    Raises:
        ConfigError: a timeout that is not a positive number, or a flag that is not true/false/auto.

    Example:
        >>> env_settings({"TRACETUNE_LLM_TIMEOUT": "900", "TRACETUNE_LLM_STRUCTURED_OUTPUT": "auto"})
        {'timeout': 900.0, 'structured_output': 'auto'}
    """
    env = os.environ if env is None else env
    out: dict[str, Any] = {}
    for key, name in (("api_base", "_API_BASE"), ("api_key", "_API_KEY")):
        if env.get(prefix + name):
            out[key] = env[prefix + name]
    timeout = (env.get(prefix + "_TIMEOUT") or "").strip()
    if timeout:
        try:
            out["timeout"] = float(timeout)
        except ValueError:
            out["timeout"] = -1.0
        if not out["timeout"] > 0:
            raise ConfigError(f"{prefix}_TIMEOUT={timeout!r} is not a positive number of seconds; "
                              f"write e.g. {prefix}_TIMEOUT=900")
    flag = (env.get(prefix + "_STRUCTURED_OUTPUT") or "").strip().lower()
    if flag:
        if flag not in _FLAGS:
            raise ConfigError(f"{prefix}_STRUCTURED_OUTPUT={flag!r} is not one of true, false, auto")
        out["structured_output"] = _FLAGS[flag]
    return out


def llm_from_env(env: Mapping[str, str] | None = None, **options: Any) -> BaseLLM | None:
    """A :class:`~trace_core.llm.LiteLLM` for ``$TRACETUNE_LLM``, or None when it is unset.

    ``$TRACETUNE_LLM_API_BASE`` points it at an OpenAI-compatible server;
    ``$TRACETUNE_LLM_API_KEY`` overrides the provider's usual key variable
    (``OPENAI_API_KEY``, ``ANTHROPIC_API_KEY`` ..., which litellm reads itself);
    ``$TRACETUNE_LLM_TIMEOUT`` is the seconds one call may take (a small local model
    on a CPU needs minutes); ``$TRACETUNE_LLM_STRUCTURED_OUTPUT`` is true, false or
    auto (see :class:`~trace_core.llm.LiteLLM`). ``options`` go to
    :class:`~trace_core.llm.LiteLLM` (cache, retry, budget ...) and win over the environment.

    Example:
        >>> llm_from_env({}) is None
        True
    """
    env = os.environ if env is None else env
    model = env.get(ENV_MODEL, "").strip()
    if model.lower() in _OFF:
        return None
    from trace_core.llm.litellm_llm import LiteLLM

    return LiteLLM(model, **{**env_settings(env), **options})


def resolve_llm(spec: Any = None, **options: Any) -> BaseLLM | None:
    """An LLM from a spec: None (the environment), an LLM, a model string, or a mapping.

    A mapping holds ``model`` and the keywords of :class:`~trace_core.llm.LiteLLM`
    (``api_base``, ``timeout``, ``cache``, ``max_concurrency``, ``log_path``,
    ``retry`` as a mapping of :class:`Retry` fields ...), as a job file writes it;
    without a ``timeout`` it takes ``$TRACETUNE_LLM_TIMEOUT`` when set.
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
        timeout = env_settings({ENV_TIMEOUT: os.environ.get(ENV_TIMEOUT, "")}).get("timeout")
        config = {**({"timeout": timeout} if timeout else {}), **spec, **options}
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
