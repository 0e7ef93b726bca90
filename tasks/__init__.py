"""tracetune tasks: the Task protocol and adapters (hpo, nas, preference, design3d, examples).

Adapters are imported lazily through :mod:`tasks.registry`.
"""
