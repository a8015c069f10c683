"""Arrays on disk as .npz: written atomically, read without pickle, large ones left on disk
and read by rows. No Kedro.

`np.savez` stores every array uncompressed, so each one is a plain .npy byte range inside
the zip. A large array is therefore mapped rather than read (`read_npz(path, map_from=)`):
it costs no memory until rows of it are used, and `read_rows` reads just those rows with
ordinary file reads, so the memory a reader holds stays that of the rows it asked for,
however large the file. A `RowStore` is the writing side: an array a stage fills a part
at a time, on disk once it is large.
"""

from __future__ import annotations

import atexit
import functools
import itertools
import math
import mmap
import os
import shutil
import struct
import tempfile
import zipfile
from pathlib import Path
from typing import BinaryIO

import numpy as np

COPY_CHUNK = 16 << 20  # bytes of a mapped array copied at a time
IN_MEMORY_BYTES = 64 << 20  # a `RowStore` this large or larger lives on disk
ALIGNMENT = 64  # bytes; where torch's own allocator starts every tensor
_SCRATCH_NAMES = itertools.count()
# The fixed part of a zip member's local header; its last two fields are the lengths of
# the name and extra field that come before the member's bytes.
LOCAL_HEADER = struct.Struct("<4s5H3I2H")


def write_npz(path: str | Path, arrays: dict[str, np.ndarray]) -> None:
    """Write beside the target, then rename: a crash never leaves half a file behind.

    The scratch file is this process's own, so torchrun ranks writing the same cached table
    at once cannot interleave their bytes; the last rename wins with a whole file. The
    layout is `np.savez`'s; a mapped array is copied from its file a chunk at a time, so
    writing it holds no more of it in memory than one chunk.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.partial-{os.getpid()}")
    with (partial.open("wb") as handle,
          zipfile.ZipFile(handle, "w", zipfile.ZIP_STORED, allowZip64=True) as archive):
        for name, array in arrays.items():
            with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                if is_mapped(array):
                    _copy_mapped(array, member)
                else:
                    np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)
    partial.replace(path)


def _copy_mapped(array: np.memmap, member: BinaryIO) -> None:
    """A mapped array as .npy bytes, read from its file in chunks of `COPY_CHUNK`."""
    header = np.lib.format.header_data_from_array_1_0(array)
    try:
        np.lib.format.write_array_header_1_0(member, header)
    except ValueError:  # a header too long for format 1.0
        np.lib.format.write_array_header_2_0(member, header)
    rows = chunk_rows(array)
    with open(array.filename, "rb") as source:
        for start in range(0, len(array), rows):
            member.write(read_rows(array, np.arange(start, min(start + rows, len(array))),
                                   source).tobytes())


def read_npz(path: str | Path, map_from: int | None = None) -> dict[str, np.ndarray]:
    """Every array of the file; object arrays are refused, so loading cannot run code.

    With `map_from`, each array of numbers of at least that many bytes comes back as a
    read-only `np.memmap` of the file instead of a copy in memory.
    """
    mapped = _mapped_arrays(path, map_from) if map_from is not None else {}
    with np.load(path, allow_pickle=False) as archive:
        return {name: mapped[name] if name in mapped else archive[name]
                for name in archive.files}


def _mapped_arrays(path: str | Path, map_from: int) -> dict[str, np.memmap]:
    """The file's large numeric arrays, each mapped where its .npy bytes sit in the zip."""
    mapped = {}
    with zipfile.ZipFile(path) as archive, open(path, "rb") as handle:
        for member in archive.infolist():
            if member.compress_type != zipfile.ZIP_STORED:
                continue
            handle.seek(member.header_offset)
            fields = LOCAL_HEADER.unpack(handle.read(LOCAL_HEADER.size))
            handle.seek(member.header_offset + LOCAL_HEADER.size + fields[-2] + fields[-1])
            version = np.lib.format.read_magic(handle)
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            shape, fortran_order, dtype = read_header(handle)
            if (dtype.kind not in "biuf" or fortran_order or not shape or 0 in shape
                    or math.prod(shape) * dtype.itemsize < map_from):
                continue
            mapped[member.filename.removesuffix(".npy")] = np.memmap(
                path, dtype=dtype, mode="r", offset=handle.tell(), shape=shape)
    return mapped


class RowStore:
    """An array filled a part at a time, held on disk once it is large: what a stage fills
    sample by sample without the whole of it in memory.

    Arrays of under `IN_MEMORY_BYTES` stay in memory. A larger one is a raw file in this
    process's scratch folder (removed at exit), written with ordinary file writes so the
    process keeps none of its pages, and comes back mapped (`result`), which `read_rows`,
    `write_npz` and training's streaming all read a part at a time.
    """

    def __init__(self, shape: tuple[int, ...], dtype: np.dtype | type = np.float32,
                 fill: float = 0) -> None:
        self.shape, self.dtype = tuple(shape), np.dtype(dtype)
        size = math.prod(self.shape) * self.dtype.itemsize
        self.array: np.ndarray | None = None
        self.handle: BinaryIO | None = None
        if size < IN_MEMORY_BYTES or not self.shape[0]:
            self.array = np.full(self.shape, fill, dtype=self.dtype)
            return
        self.path = scratch_folder() / f"rows-{next(_SCRATCH_NAMES)}.raw"
        self.row_bytes = size // self.shape[0]
        self.handle = self.path.open("wb+")
        if fill:
            row = np.full(self.shape[1:], fill, dtype=self.dtype).tobytes()
            for _ in range(self.shape[0]):
                self.handle.write(row)
        self.handle.truncate(size)  # zeros where nothing is written

    def put(self, start: int, rows: np.ndarray) -> None:
        """Rows `start`, `start + 1`, ... become `rows`."""
        if self.array is not None:
            self.array[start:start + len(rows)] = rows
            return
        self.handle.seek(start * self.row_bytes)
        self.handle.write(np.ascontiguousarray(rows, dtype=self.dtype).tobytes())

    def put_at(self, positions: np.ndarray, rows: np.ndarray) -> None:
        """Row `positions[i]` becomes `rows[i]`, each run of neighbours in one write."""
        positions = np.asarray(positions, dtype=np.int64)
        breaks = np.flatnonzero(np.diff(positions) != 1) + 1
        for run in np.split(np.arange(len(positions)), breaks):
            if len(run):
                self.put(int(positions[run[0]]), rows[run[0]:run[-1] + 1])

    def result(self) -> np.ndarray:
        """The array: in memory, or mapped read-only from its file."""
        if self.array is not None:
            return self.array
        self.handle.close()
        return np.memmap(self.path, dtype=self.dtype, mode="r", shape=self.shape)


def chunk_rows(*arrays: np.ndarray) -> int:
    """How many rows of these arrays together fill about `COPY_CHUNK` bytes (at least one):
    a part's size in rows, whatever the size of a row."""
    row_bytes = sum(array[:1].nbytes for array in arrays)
    return max(1, COPY_CHUNK // max(row_bytes, 1))


def reordered(array: np.ndarray, order: np.ndarray) -> np.ndarray:
    """`array[order]`, read and written `COPY_CHUNK` bytes at a time (see `RowStore`)."""
    store = RowStore((len(order), *array.shape[1:]), array.dtype)
    rows = chunk_rows(array)
    for start in range(0, len(order), rows):
        store.put(start, read_rows(array, order[start:start + rows]))
    return store.result()


def scratch_folder() -> Path:
    """This process's folder for arrays too large for memory, removed when it exits."""
    return _scratch_of(os.getpid())


@functools.cache
def _scratch_of(pid: int) -> Path:
    folder = Path(tempfile.mkdtemp(prefix=f"multimodal-fusion-rows-{pid}-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def is_mapped(array: np.ndarray) -> bool:
    """Whether `array` is a whole array mapped from a file (a view of one does not count:
    its file offset is not its own)."""
    return isinstance(array, np.memmap) and isinstance(array.base, mmap.mmap)


def aligned_empty(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """An empty array that starts on a 64-byte boundary, as torch's tensors do.

    Torch's CPU matrix kernels can sum in another order when an input starts elsewhere, and
    numpy's arrays start wherever the allocating thread's heap puts them: without this, the
    same rows read in a runner's worker thread could train to figures that differ in the
    last bits from a run in a row.
    """
    dtype = np.dtype(dtype)
    size = math.prod(shape) * dtype.itemsize
    raw = np.empty(size + ALIGNMENT, dtype=np.uint8)
    start = -raw.ctypes.data % ALIGNMENT
    return raw[start:start + size].view(dtype).reshape(shape)


def read_rows(array: np.ndarray, positions: np.ndarray,
              handle: object | None = None) -> np.ndarray:
    """The rows of `array` at `positions`, in that order, as a new array in memory that
    starts where a tensor of torch's would (`aligned_empty`).

    A mapped array's rows are read from its file (through `handle`, an open binary file of
    it, when given), runs of neighbouring rows in one read; nothing of the mapping is
    touched, so the process keeps no pages of the file. Any other array is indexed.
    """
    positions = np.asarray(positions, dtype=np.int64)
    out = aligned_empty((len(positions), *array.shape[1:]), array.dtype)
    if not is_mapped(array):
        return np.take(array, positions, axis=0, out=out)
    row_bytes = out[0].nbytes if len(out) else 0
    ascending = np.argsort(positions, kind="stable")
    ordered = positions[ascending]
    own = handle is None
    handle = open(array.filename, "rb") if own else handle  # noqa: SIM115
    try:
        staging = np.empty_like(out)
        breaks = np.flatnonzero(np.diff(ordered) != 1) + 1
        for run in np.split(np.arange(len(ordered)), breaks):
            if not len(run):
                continue
            handle.seek(array.offset + int(ordered[run[0]]) * row_bytes)
            handle.readinto(memoryview(staging[run[0]:run[-1] + 1]).cast("B"))
        out[ascending] = staging
    finally:
        if own:
            handle.close()
    return out
