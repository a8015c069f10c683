"""Where training's data lives: on the device, or streamed from disk, with the same result."""

import json
import logging
import sys
import tracemalloc
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers import TOY_SETTINGS, settings, toy_inputs, with_fit
from multimodal_fusion.core.npz import is_mapped, read_npz, read_rows, write_npz
from multimodal_fusion.training import data, engine
from multimodal_fusion.training.data import SplitData, choose_placement, plan_epoch
from multimodal_fusion.training.distributed import Cluster
from multimodal_fusion.training.strategies import train

PACKAGE = str(Path(engine.__file__).parents[1])


def on_disk(inputs: dict, folder: Path) -> dict:
    """The inputs written as the pipeline writes them, read back with every array of
    numbers left on disk."""
    write_npz(folder / "model_inputs.npz", inputs)
    return read_npz(folder / "model_inputs.npz", map_from=0)


def with_images(inputs: dict) -> dict:
    """The toy inputs with an image tensor per sample, some missing, augmented."""
    count = len(inputs["label"])
    rng = np.random.default_rng(3)
    present = rng.random(count) > 0.2
    images = rng.normal(size=(count, 3, 8, 8)).astype(np.float32) * present[:, None, None,
                                                                            None]
    return inputs | {"image": images, "image_present": present,
                     "image_encoder": np.array("small_cnn"),
                     "image_encoder_options": np.array(json.dumps(
                         {"augment": {**settings("image.features")["augment"], "rotation": 10}}))}


def test_rows_of_a_mapped_array_are_read_from_its_file_in_any_order(tmp_path):
    values = np.arange(5 * 2 * 3, dtype=np.float32).reshape(5, 2, 3)
    write_npz(tmp_path / "a.npz", {"values": values, "name": np.array("x"),
                                   "small": np.ones(2, bool)})
    loaded = read_npz(tmp_path / "a.npz", map_from=64)
    assert is_mapped(loaded["values"]) and not is_mapped(loaded["small"])
    assert not is_mapped(loaded["values"][1:]), "a view does not own its file offset"
    positions = np.array([4, 0, 1, 1, 3])
    np.testing.assert_array_equal(read_rows(loaded["values"], positions), values[positions])
    assert str(loaded["name"]) == "x"
    np.testing.assert_array_equal(read_npz(tmp_path / "a.npz")["values"], values)


def test_rows_start_where_torch_starts_its_tensors_so_a_worker_thread_sums_alike(tmp_path):
    """Torch's matrix kernels can round differently for an input at another offset, and
    numpy puts arrays wherever the reading thread's heap has room (`core.npz.aligned_empty`)."""
    values = np.random.default_rng(0).normal(size=(300, 300)).astype(np.float32)
    write_npz(tmp_path / "a.npz", {"values": values})
    for array in (values, read_npz(tmp_path / "a.npz", map_from=0)["values"]):
        for count in range(1, 40):
            positions = np.arange(count)[::-1]
            rows = read_rows(array, positions)
            assert rows.ctypes.data % 64 == 0, count
            np.testing.assert_array_equal(rows, values[positions])


def test_modality_dropout_only_hides_present_modalities():
    plan = plan_epoch(1000, 100, ["audio"], 0.5, torch.Generator().manual_seed(0), Cluster())
    inputs = {"split": np.array(["train"] * 1000), "label": np.array(["a"] * 1000),
              "audio": np.zeros((1000, 2), np.float32),
              "audio_present": np.array([True, False] * 500)}
    spec = {"classes": ["a"], "modalities": {"audio": {}}}
    placement = choose_placement(inputs, spec, "device", "auto", "auto", torch.device("cpu"))
    data = SplitData(inputs, "train", spec, torch.device("cpu"), placement)
    batches = list(data.batches(plan))
    assert sorted(torch.cat([b.labels for b in batches]).tolist()) == [0] * 1000
    order = plan.order.numpy()
    assert sorted(order.tolist()) == list(range(1000))
    kept = torch.cat([b.present["audio"] for b in batches]).numpy()
    assert not kept[order % 2 == 1].any()
    assert 0.4 < kept[order % 2 == 0].mean() < 0.6


def test_ranks_share_each_batch_disjointly():
    plans = [plan_epoch(50, 8, ["text"], 0.3, torch.Generator().manual_seed(4),
                        Cluster(rank=rank, world_size=3)) for rank in range(3)]
    single = plan_epoch(50, 8, ["text"], 0.3, torch.Generator().manual_seed(4), Cluster())
    for batch, (start, stop) in enumerate(single.bounds[:-1]):  # the last (2) is skipped
        shares = [p.order[slice(*p.bounds[batch])] for p in plans]
        assert sorted(torch.cat(shares).tolist()) == sorted(single.order[start:stop].tolist())
        assert all(p.sizes[batch] == stop - start for p in plans)
    assert all(len(p.bounds) == len(single.bounds) - 1 for p in plans)


@pytest.mark.parametrize("workers", [0, 1])
def test_streaming_and_device_resident_training_give_the_same_model(tmp_path, workers):
    """The same seed, the same batches, the same dropout: the same weights and scores,
    whether the splits sit in memory or are read from disk by DataLoader workers."""
    inputs = with_images(toy_inputs())
    settings = with_fit(max_epochs=4, data_placement="device")
    resident, resident_history = train(inputs, settings, seed=3)
    streamed_settings = with_fit(max_epochs=4, data_placement="stream", loader_workers=workers)
    streamed, streamed_history = train(on_disk(inputs, tmp_path), streamed_settings,
                                                 seed=3)
    assert streamed.spec["trained_with"]["streamed"]
    assert not resident.spec["trained_with"]["streamed"]
    assert [h["val_macro_f1"] for h in streamed_history] == [
        h["val_macro_f1"] for h in resident_history]
    assert [h["train_loss"] for h in streamed_history] == [
        h["train_loss"] for h in resident_history]
    for name, tensor in resident.state_dict().items():
        torch.testing.assert_close(streamed.state_dict()[name], tensor, rtol=0, atol=0)


def test_auto_streams_past_the_memory_budget_and_says_so(tmp_path, caplog):
    inputs = on_disk(toy_inputs(), tmp_path)
    caplog.set_level(logging.INFO, logger="multimodal_fusion.training.engine")
    model, _ = train(inputs, with_fit(max_epochs=1, memory_budget_mb=0.001,
                                                loader_workers=0), seed=0)
    assert model.spec["trained_with"]["streamed"]
    assert "streamed from disk by a DataLoader with 0 worker processes" in caplog.text
    model, _ = train(inputs, with_fit(max_epochs=1), seed=0)
    assert not model.spec["trained_with"]["streamed"]
    assert "held on cpu" in caplog.text
    with pytest.raises(ValueError, match="data_placement must be one of auto, device, stream"):
        train(inputs, with_fit(data_placement="gpu"), seed=0)


def test_a_training_step_never_waits_on_the_device(monkeypatch):
    """What keeps a GPU busy, held on the CPU: while an epoch trains, the project's code
    reads nothing back from the device (no `.item()`, `.tolist()`, `.cpu()`, `.numpy()`
    or truth test of a tensor) but the epoch's summed loss, once at its end."""
    reads = []

    def counted(name):
        real = getattr(torch.Tensor, name)

        def read(self, *args, **kwargs):
            caller = sys._getframe(1).f_code.co_filename
            if caller.startswith(PACKAGE) and in_epoch:
                reads.append((name, caller.removeprefix(PACKAGE)))
            return real(self, *args, **kwargs)
        return read

    in_epoch = False
    for name in ("item", "tolist", "cpu", "numpy", "__bool__"):
        monkeypatch.setattr(torch.Tensor, name, counted(name))
    real_epoch = engine.TrainingRun.train_epoch

    def watched_epoch(self, train, epoch):
        nonlocal in_epoch
        in_epoch = True
        try:
            return real_epoch(self, train, epoch)
        finally:
            in_epoch = False

    monkeypatch.setattr(engine.TrainingRun, "train_epoch", watched_epoch)
    settings = {**TOY_SETTINGS, "fit": {**TOY_SETTINGS["fit"], "max_epochs": 2, "data_placement":
                                    "device", "class_weights": "balanced"}}
    _, history = train(with_images(toy_inputs()), settings, seed=0)
    assert len(history) == 2
    assert reads == [("item", "/training/engine.py")] * 2, reads


def test_batch_size_auto_follows_the_device_and_keeps_the_cpu_as_it_was():
    fit = engine.FitSettings(**settings("training.fit"))
    cpu = engine.resolved_fit(fit, torch.device("cpu"), 20_000)
    assert (cpu.batch_size, cpu.learning_rate) == (64, fit.learning_rate)
    gpu = engine.resolved_fit(fit, torch.device("cuda"), 20_000)
    assert gpu.batch_size == engine.CUDA_BATCH
    assert gpu.learning_rate == pytest.approx(fit.learning_rate * (gpu.batch_size / 64) ** 0.5)
    small = engine.resolved_fit(fit, torch.device("cuda"), 1_257)
    assert 1_257 // small.batch_size >= engine.MIN_STEPS
    chosen = engine.resolved_fit(replace(fit, batch_size=32), torch.device("cuda"), 999)
    assert (chosen.batch_size, chosen.learning_rate) == (32, fit.learning_rate)
    with pytest.raises(ValueError, match="batch_size 'big'"):
        engine.resolved_fit(replace(fit, batch_size="big"), torch.device("cpu"), 10)


def test_streamed_training_memory_does_not_grow_with_the_data(tmp_path):
    """Eight times the images, read from disk: the peak of traced memory (NumPy's
    allocations, which hold every image that is read) grows by a few bytes a sample (its
    label, index and masks), not by its image, which keeping the splits in memory costs.
    Both sizes have more validation samples than a prediction reads at once (256)."""
    def peak(count: int, placement: str) -> int:
        inputs = toy_inputs(count)
        rng = np.random.default_rng(0)
        inputs |= {"image": rng.normal(size=(count, 3, 16, 16)).astype(np.float32),
                   "image_present": np.ones(count, bool), "image_encoder": np.array("pixels"),
                   "image_encoder_options": np.array(json.dumps(
                       {"augment": settings("image.features")["augment"]}))}
        folder = tmp_path / f"{count}-{placement}"
        folder.mkdir()
        on_file = on_disk(inputs, folder)
        del inputs
        tracemalloc.start()
        train(on_file, with_fit(max_epochs=1, data_placement=placement,
                                          batch_size=64, loader_workers=0), seed=0)
        _, highest = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return highest

    image_bytes, added = 3 * 16 * 16 * 4, 9600 - 1200
    streamed = (peak(9600, "stream") - peak(1200, "stream")) / added
    held = (peak(9600, "device") - peak(1200, "device")) / added
    assert streamed < 0.1 * image_bytes, streamed
    assert held > 0.5 * image_bytes, held


def test_on_the_cpu_auto_holds_at_most_a_fixed_budget_in_ram(monkeypatch):
    monkeypatch.setattr(data, "device_memory_mb", lambda device: 24_000.0)
    assert data.auto_budget_mb(torch.device("cpu")) == data.HOST_BUDGET_MB == 1024
    monkeypatch.setattr(data, "device_memory_mb", lambda device: 1_000.0)
    assert data.auto_budget_mb(torch.device("cpu")) == 500.0
