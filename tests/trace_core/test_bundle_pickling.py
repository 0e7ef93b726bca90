"""A bundle is pickled by name (to reach the sandbox): one defined at module level comes
back as itself; one defined inside a function is refused with the reason."""

from __future__ import annotations

import pickle

import pytest

from trace_core import bundle


@bundle()
def double(x):
    return 2 * x


def test_a_module_level_bundle_comes_back_as_itself():
    assert pickle.loads(pickle.dumps(double)) is double


def test_a_bundle_defined_inside_a_function_is_refused_with_the_reason():
    @bundle()
    def local(x):
        return x

    with pytest.raises(pickle.PicklingError) as e:
        pickle.dumps(local)
    assert str(e.value) == (f"{local.qualname} is defined inside a function; the sandbox can only receive "
                            "bundles defined at module level")
    assert "<locals>" in local.qualname
