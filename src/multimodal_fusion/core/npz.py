"""Arrays on disk as .npz: written atomically, read without pickle, large ones left on disk
and read by rows. No Kedro.

`np.savez` stores every array uncompressed, so each one is a plain .npy byte range inside
the zip. A large array is therefore mapped rather than read (`read_npz(path, map_from=)`):
it costs no memory until rows of it are used, and `read_rows` reads just those rows with
ordinary file reads, so the memory a reader holds stays that of the rows it asked for,
however large the file.
"""

from __future__ import annotations

import math
import mmap
import os
import struct
import zipfile
from pathlib import Path
from typing import BinaryIO

import numpy as np

COPY_CHUNK = 16 << 20  # bytes of a mapped array copied at a time
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
    rows = max(1, COPY_CHUNK // max(array[:1].nbytes, 1))
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


def is_mapped(array: np.ndarray) -> bool:
    """Whether `array` is a whole array mapped from a file (a view of one does not count:
    its file offset is not its own)."""
    return isinstance(array, np.memmap) and isinstance(array.base, mmap.mmap)


def read_rows(array: np.ndarray, positions: np.ndarray,
              handle: object | None = None) -> np.ndarray:
    """The rows of `array` at `positions`, in that order, as a new array in memory.

    A mapped array's rows are read from its file (through `handle`, an open binary file of
    it, when given), runs of neighbouring rows in one read; nothing of the mapping is
    touched, so the process keeps no pages of the file. Any other array is indexed.
    """
    positions = np.asarray(positions, dtype=np.int64)
    if not is_mapped(array):
        return np.asarray(array[positions])
    out = np.empty((len(positions), *array.shape[1:]), dtype=array.dtype)
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
