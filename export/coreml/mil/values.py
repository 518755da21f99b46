"""Decode the constant values of a saved ML program: immediate values in the protobuf and blobs in
``weights/weight.bin`` (MIL blob storage, version 2), including the packed sub-byte integer types that
palettized weights use.

Written from the documented formats (MIL.proto, the blob storage header), not by calling coremltools' own
loader, so that verifying a package does not reuse the code that wrote it.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
from coremltools.proto import MIL_pb2

from elir_mobile.errors import ElirError

_BLOB_SENTINEL = 0xDEADBEEF
_BLOB_METADATA = struct.Struct("<IIQQQ")  # sentinel, blob dtype, size in bytes, data offset, padding bits

# MIL data type -> (numpy dtype, bits per element) for the types an exported ELIR program can hold.
_DTYPES = {
    MIL_pb2.BOOL: (np.bool_, 8),
    MIL_pb2.FLOAT16: (np.float16, 16),
    MIL_pb2.FLOAT32: (np.float32, 32),
    MIL_pb2.FLOAT64: (np.float64, 64),
    MIL_pb2.INT8: (np.int8, 8),
    MIL_pb2.INT16: (np.int16, 16),
    MIL_pb2.INT32: (np.int32, 32),
    MIL_pb2.INT64: (np.int64, 64),
    MIL_pb2.UINT8: (np.uint8, 8),
    MIL_pb2.UINT16: (np.uint16, 16),
    MIL_pb2.UINT32: (np.uint32, 32),
    MIL_pb2.UINT64: (np.uint64, 64),
    MIL_pb2.INT4: (np.int8, 4),
    MIL_pb2.UINT1: (np.uint8, 1),
    MIL_pb2.UINT2: (np.uint8, 2),
    MIL_pb2.UINT3: (np.uint8, 3),
    MIL_pb2.UINT4: (np.uint8, 4),
    MIL_pb2.UINT6: (np.uint8, 6),
}


def dtype_name(data_type: int) -> str:
    return MIL_pb2.DataType.Name(data_type)


def tensor_shape(tensor_type) -> tuple[int, ...]:
    dims = []
    for dim in tensor_type.dimensions:
        if dim.WhichOneof("dimension") != "constant":
            raise ElirError("the ML program has a flexible shape; the verifier needs fixed shapes")
        dims.append(dim.constant.size)
    return tuple(dims)


def unpack_bits(packed: np.ndarray, nbits: int, count: int, signed: bool = False) -> np.ndarray:
    """Elements of `nbits` bits packed back to back, least significant bit first (the MIL layout)."""
    bits = np.unpackbits(packed.view(np.uint8), bitorder="little")[: count * nbits].reshape(count, nbits)
    values = (bits.astype(np.int32) << np.arange(nbits, dtype=np.int32)).sum(axis=1)
    if signed:
        values = np.where(values >= 1 << (nbits - 1), values - (1 << nbits), values)
    return values.astype(np.int8 if signed else np.uint8)


def _from_bytes(raw: bytes, data_type: int, shape: tuple[int, ...]) -> np.ndarray:
    np_dtype, nbits = _DTYPES[data_type]
    count = int(np.prod(shape, dtype=np.int64))
    if nbits >= 8:
        return np.frombuffer(raw, dtype=np_dtype, count=count).reshape(shape).copy()
    packed = np.frombuffer(raw, dtype=np.uint8)
    return unpack_bits(packed, nbits, count, signed=data_type == MIL_pb2.INT4).reshape(shape)


class BlobReader:
    """Random access to the weight files of one package (``@model_path/weights/weight.bin``)."""

    def __init__(self, package_data_dir: Path):
        self.root = package_data_dir
        self._files: dict[str, bytes] = {}

    def _file(self, file_name: str) -> bytes:
        prefix = "@model_path/"
        if not file_name.startswith(prefix):
            raise ElirError(f"unexpected blob file reference {file_name!r} in the ML program")
        if file_name not in self._files:
            self._files[file_name] = (self.root / file_name[len(prefix):]).read_bytes()
        return self._files[file_name]

    def read(self, file_name: str, offset: int, data_type: int, shape: tuple[int, ...]) -> np.ndarray:
        data = self._file(file_name)
        sentinel, _blob_dtype, size, data_offset, _padding = _BLOB_METADATA.unpack_from(data, offset)
        if sentinel != _BLOB_SENTINEL:
            raise ElirError(f"corrupt weight blob at offset {offset} of {file_name} (bad sentinel)")
        return _from_bytes(data[data_offset:data_offset + size], data_type, shape)


def decode_value(value, blobs: BlobReader):
    """A MIL `Value` as a numpy array (tensors), a Python str (string scalars) or list of str."""
    if value.type.WhichOneof("type") != "tensorType":
        raise ElirError(f"unsupported non-tensor constant in the ML program: {value.type}")
    ttype = value.type.tensorType
    shape = tensor_shape(ttype)
    kind = value.WhichOneof("value")
    if kind == "blobFileValue":
        return blobs.read(value.blobFileValue.fileName, value.blobFileValue.offset, ttype.dataType, shape)
    tensor = value.immediateValue.tensor
    field = tensor.WhichOneof("value")
    if ttype.dataType == MIL_pb2.STRING:
        strings = list(tensor.strings.values)
        return strings[0] if shape == () else strings
    if ttype.dataType not in _DTYPES:
        raise ElirError(f"unsupported constant dtype {dtype_name(ttype.dataType)} in the ML program")
    np_dtype, _ = _DTYPES[ttype.dataType]
    if field == "bytes":
        return _from_bytes(tensor.bytes.values, ttype.dataType, shape)
    values = getattr(tensor, field).values
    return np.asarray(values, dtype=np_dtype).reshape(shape)
