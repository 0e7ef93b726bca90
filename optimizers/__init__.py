"""tracetune optimizers: OptoPrime, OPRO, Search (Optuna) and Evolution."""
