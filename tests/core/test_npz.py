"""Arrays written a part at a time: in memory while small, on disk and mapped once large."""

from __future__ import annotations

import numpy as np
import pytest

from multimodal_fusion.core import npz
from multimodal_fusion.core.npz import RowStore, is_mapped, read_npz, reordered, write_npz


@pytest.fixture
def small_limit(monkeypatch):
    monkeypatch.setattr(npz, "IN_MEMORY_BYTES", 1024)


def test_a_large_store_is_written_to_disk_and_read_back_mapped(small_limit, tmp_path):
    rows = np.arange(60 * 8, dtype=np.float32).reshape(60, 2, 4)
    store = RowStore((60, 2, 4))
    store.put(0, rows[:10])
    store.put_at(np.array([20, 21, 22, 40]), rows[[20, 21, 22, 40]])
    result = store.result()
    assert is_mapped(result) and result.shape == (60, 2, 4)
    expected = np.zeros_like(rows)
    expected[[*range(10), 20, 21, 22, 40]] = rows[[*range(10), 20, 21, 22, 40]]
    np.testing.assert_array_equal(result, expected)
    write_npz(tmp_path / "table.npz", {"values": result})
    np.testing.assert_array_equal(read_npz(tmp_path / "table.npz")["values"], expected)


def test_a_small_store_stays_in_memory_and_fills_what_is_not_written():
    store = RowStore((3, 2), np.int64, fill=-1)
    store.put(1, np.array([[4, 5]]))
    result = store.result()
    assert not is_mapped(result)
    assert result.tolist() == [[-1, -1], [4, 5], [-1, -1]]


def test_a_filled_store_on_disk_and_a_reordering_by_parts(small_limit, monkeypatch):
    filled = RowStore((300, 2), np.int64, fill=7).result()
    assert is_mapped(filled) and (filled == 7).all()
    monkeypatch.setattr(npz, "COPY_CHUNK", 64)  # several parts
    values = np.arange(600, dtype=np.float32).reshape(300, 2)
    order = np.random.default_rng(0).permutation(300)
    again = reordered(values, order)
    assert is_mapped(again)
    np.testing.assert_array_equal(again, values[order])
