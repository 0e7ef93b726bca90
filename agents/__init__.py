"""tracetune front ends: the optimize() loop, executors, run store, jobs, CLI, report, chat."""
