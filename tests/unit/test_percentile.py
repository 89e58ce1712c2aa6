"""guidellm.percentile: the one plain percentile, equal to numpy's default on both paths."""

from __future__ import annotations

import random
import subprocess
import sys
from array import array

import numpy as np
import pytest

from guidellm.percentile import percentile


def test_percentile_interpolates() -> None:
    assert percentile([], 99) is None
    assert percentile([5.0], 50) == 5.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == pytest.approx(2.5)
    assert percentile(list(range(101)), 99) == pytest.approx(99.0)


@pytest.mark.parametrize("n", [2, 7, 1000, 1001, 25_000])
def test_percentile_equals_numpy_sorted_in_python_or_partitioned(n: int) -> None:
    rng = random.Random(n)
    values = [rng.expovariate(1.0) for _ in range(n)]
    for q in (0, 1, 50, 90, 99, 99.9, 100):
        want = float(np.percentile(values, q))
        assert percentile(values, q) == pytest.approx(want, rel=1e-12, abs=1e-15)
        assert percentile(array("d", values), q) == pytest.approx(want, rel=1e-12, abs=1e-15)


def test_small_inputs_do_not_import_numpy() -> None:
    code = (
        "import sys; from guidellm.percentile import percentile; "
        "percentile([float(i) for i in range(1000)], 99); print('numpy' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
