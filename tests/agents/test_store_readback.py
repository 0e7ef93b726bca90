"""The run store read back beyond the tables of one step: the run's tally agrees with its
candidates, a single-objective run has no fronts, the deprecated ``commit_step`` still
writes every row it is given (with defaults filled in), and a store file that cannot be
used is refused with its path and the reason."""

from __future__ import annotations

import collections
import warnings
from pathlib import Path

import pytest

from agents import RunStore, optimize
from agents.records import NO_CHANGE
from agents.store import StoreError
from tests.agents._scripted import RecordingTask, Script, field
from trace_core import Budget


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory):
    db = tmp_path_factory.mktemp("store") / "runs.db"
    result = optimize(RecordingTask(), optimizer="optoprime", llm=Script().llm(), budget=Budget(max_steps=2),
                      store=db, executor="serial")
    return RunStore(db), result.run_id


def test_the_tally_agrees_with_the_stored_candidates_and_steps(run) -> None:
    store, run_id = run
    tally = store.tally(run_id)
    statuses = collections.Counter(field(c, "status") for c in store.candidates(run_id))
    assert tally["outcomes"] == {s: n for s, n in statuses.items() if s != NO_CHANGE}
    assert sum(tally["outcomes"].values()) == 3  # the baseline and one candidate in each of two steps
    assert tally["failures"] == {}
    assert tally["totals"]["tokens"] == sum(field(s, "tokens") for s in store.steps(run_id)) > 0


def test_a_single_objective_run_has_no_fronts(run) -> None:
    store, run_id = run
    assert store.fronts(run_id) == [] and store.front(run_id) is None


def test_the_deprecated_commit_step_writes_every_row_with_defaults(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs.db")
    run_id = store.create_run(name="r", task="t", config={}, direction="maximize")
    with pytest.warns(DeprecationWarning, match=r"RunStore.commit_step is deprecated; use RunStore.commit"):
        store.commit_step(run_id, 0, values={"x": 1}, incumbent_score=0.5,
                          candidates_rows=[{"idx": 0, "values": {"x": 1}, "score": 0.5}],
                          evaluation_rows=[{"candidate": 0, "example": 0, "score": 0.5}])
    (cand,) = store.candidates(run_id)
    assert (field(cand, "step"), field(cand, "idx"), field(cand, "status")) == (0, 0, "done")
    assert field(cand, "values") == {"x": 1} and field(cand, "reasoning") == "" and field(cand, "score") == 0.5
    (ev,) = store.evaluations(run_id)
    assert (field(ev, "step"), field(ev, "candidate"), field(ev, "score")) == (0, 0, 0.5)
    assert field(ev, "feedback") is None
    last = store.last_step(run_id)
    assert field(last, "values") == {"x": 1} and field(last, "incumbent_score") == 0.5


def test_a_store_file_with_a_damaged_header_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    header = bytearray(b"SQLite format 3\x00" + bytes(84))
    header[16:18] = (768).to_bytes(2, "big")  # not a power of two
    path.write_bytes(bytes(header) + bytes(1024))
    with pytest.raises(StoreError) as e:
        RunStore(path)
    assert str(path) in str(e.value) and "the file's header is damaged" in str(e.value)


def test_a_store_file_that_cannot_be_read_is_refused_naming_it(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "runs.db"
    path.write_bytes(b"x" * 100)
    real_open = Path.open

    def refuse(self, *args, **kwargs):
        if self == path:
            raise PermissionError(13, "Permission denied")
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", refuse)
    with pytest.raises(StoreError) as e:
        RunStore(path)
    assert str(path) in str(e.value) and "it cannot be read (Permission denied)" in str(e.value)
