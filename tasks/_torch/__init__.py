"""Shared torch training helpers for the ``hpo`` and ``nas`` tasks (private).

:mod:`.data`, :mod:`.train` and :mod:`.curve` import only torch, numpy,
scikit-learn and the standard library, so training runs with ``PYTHONPATH=.`` on a
machine that has nothing else (a GPU box, say). :mod:`.adapter` turns training
records into tracetune Feedback and imports ``trace_core``. Import the modules
directly; this package re-exports nothing, so importing it costs nothing.
"""

from __future__ import annotations

__all__: list[str] = []
