"""Turn a preference training record into Feedback an optimizer (or a person) can reason with.

The text holds the condensed loss curve, a table of validation metrics during
training (preference accuracy, reward margin, chosen log-prob, exact match), the
final accuracies with the reference's beside them, self-revision accuracies, and
notes: over-optimization (the margin rising while accuracy falls), likelihood
displacement (the chosen answers' log-prob falling), no gain over the reference.
"""

from __future__ import annotations

from typing import Any

from trace_core.feedback import Feedback

from tasks._torch.adapter import Failed

from .trainer import TrainResult

__all__ = ["result_feedback", "format_losses", "diagnose"]

#: a fall in exact match smaller than this is not called over-optimization (held-out sets are small)
_NOISE = 0.03


def format_losses(losses: list[tuple[int, float]], points: int = 8) -> str:
    """``"0.693 (step 1) → … → 0.302 (step 150)"`` with at most ``points`` entries."""
    if not losses:
        return "no preference steps"
    stride = max(1, (len(losses) - 1) // (points - 1))
    picked = losses[::stride]
    if picked[-1] != losses[-1]:
        picked.append(losses[-1])
    return " → ".join(f"{v:.4g} (step {s})" for s, v in picked)


def _eval_table(evals: list[dict[str, float]]) -> str:
    cols = ("preference_accuracy", "reward_accuracy", "reward_margin", "chosen_logp", "exact_match")
    head = "step  pref_acc  reward_acc  margin  chosen_logp  exact_match"
    rows = [
        f"{int(e['step']):>4}  {e[cols[0]]:8.3f}  {e[cols[1]]:10.3f}  {e[cols[2]]:6.2f}  {e[cols[3]]:11.3f}  "
        f"{e[cols[4]]:11.3f}"
        for e in evals
    ]
    return "\n".join([head, *rows])


def diagnose(result: TrainResult) -> list[str]:
    """Observations on a run worth acting on (over-optimization, displacement, no gain)."""
    notes = []
    evals, val = result.evals, result.final.get("val", {})
    if len(evals) >= 2:
        first, last = evals[0], evals[-1]
        best = max(evals, key=lambda e: e["exact_match"])
        fell = best["exact_match"] - last["exact_match"] >= _NOISE
        if last["reward_margin"] > first["reward_margin"] and fell:
            notes.append(
                f"over-optimization: the reward margin rose from {first['reward_margin']:.2f} to "
                f"{last['reward_margin']:.2f} nats while validation exact match fell from {best['exact_match']:.3f} "
                f"(step {int(best['step'])}) to {last['exact_match']:.3f}; "
                "try fewer steps, a larger beta or a smaller lr"
            )
    if val.get("chosen_reward", 0.0) < -1.0:
        notes.append(
            f"likelihood displacement: the chosen answers lost {-val['chosen_reward']:.2f} nats of log-probability "
            "against the reference (both answers pushed down); a larger beta or fewer steps keep them closer"
        )
    if val and val.get("exact_match", 0.0) <= val.get("reference_exact_match", 0.0):
        notes.append(
            f"no gain: exact match {val['exact_match']:.3f} is not above the warmed-up reference's "
            f"{val['reference_exact_match']:.3f}"
        )
    revised = val.get("revision_accuracy")
    if result.config.get("loss") == "srpo" and revised and len(revised) > 1 and revised[-1] < revised[0]:
        notes.append(f"self-revision hurts: accuracy {revised[0]:.3f} before revising, {revised[-1]:.3f} after")
    return notes


def _score(val: dict[str, Any], score: str) -> float:
    if score == "revised_exact_match":
        return float((val.get("revision_accuracy") or [val["exact_match"]])[-1])
    return float(val[score])


def result_feedback(value: Any, *, score: str = "exact_match") -> Feedback:
    """Feedback for a run's output: a :class:`TrainResult`, a ``Failed`` record, or an exception."""
    if isinstance(value, Failed):
        details = {"failed": True, "reason": value.kind}
        return Feedback(score=None, metrics=value.metrics, text=value.reason, details=details)
    if isinstance(value, BaseException):
        return Feedback.failure(f"the evaluation raised {type(value).__name__}: {value}", reason="error")
    if not isinstance(value, TrainResult):
        return Feedback.failure(f"unexpected output {value!r}; expected a TrainResult", reason="error")
    cfg, val, test = value.config, value.final["val"], value.final["test"]
    metrics = {k: float(v) for k, v in val.items() if isinstance(v, (int, float))}
    metrics[score] = _score(val, score)  # the score under its own name (the first objective)
    metrics.update({f"test_{k}": float(v) for k, v in test.items() if isinstance(v, (int, float))})
    for i, acc in enumerate(val.get("revision_accuracy") or []):
        metrics[f"revision_{i}_exact_match"] = float(acc)
    metrics.update(
        final_loss=value.losses[-1][1] if value.losses else float("nan"),
        pairs_per_second=value.pairs_per_second,
        seconds=sum(value.seconds.values()),
        num_parameters=float(value.num_parameters),
    )
    names = ("loss", "beta", "gamma_beta_ratio", "alpha", "lr", "steps", "batch_size", "warmup_steps")
    hyper = ", ".join(f"{k}={cfg[k]:g}" if isinstance(cfg[k], float) else f"{k}={cfg[k]}" for k in names)
    lines = [
        f"{hyper}: validation exact match {val['exact_match']:.3f} (reference {val['reference_exact_match']:.3f}, "
        f"win rate {val['win_rate']:.3f}), preference accuracy {val['preference_accuracy']:.3f}, reward margin "
        f"{val['reward_margin']:.2f} nats (chosen {val['chosen_reward']:+.2f}, "
        f"rejected {val['rejected_reward']:+.2f}); "
        f"test exact match {test['exact_match']:.3f}.",
        f"preference loss: {format_losses(value.losses)}",
    ]
    if value.evals:
        lines += ["validation during training:", _eval_table(value.evals)]
    if val.get("revision_accuracy"):
        revised = " → ".join(f"{a:.3f}" for a in val["revision_accuracy"])
        lines.append(f"exact match after 0..N self-revisions: {revised}")
    lines += [f"note: {n}" for n in diagnose(value)]
    lines.append(
        f"warm-up {value.seconds.get('warm_up', 0):.1f}s, preference phase {value.seconds.get('preference', 0):.1f}s "
        f"({value.pairs_per_second:.0f} pairs/s), evaluation {value.seconds.get('evaluation', 0):.1f}s"
    )
    details = {"losses": value.losses, "evals": value.evals, "warmup_losses": value.warmup_losses, "final": value.final}
    return Feedback(score=_score(val, score), metrics=metrics, text="\n".join(lines), details=details)
