"""Shared helpers for the dlbridge test suite.

Helpers here are plain functions and classes (imported with ``from conftest import ...``):

* ``capsule_name`` / ``read_capsule``: inspect a DLPack capsule with ctypes without
  consuming it (name, version, flags, data pointer, shape, strides, dtype code).
* ``CraftedCapsule``: build a DLPack capsule by hand, over memory we own, whose deleter
  counts how often it is called. This lets the suite prove that an imported tensor's
  memory is released exactly once, and feed the importer descriptors no library makes.
* ``tracked_array``: a NumPy array (subclass instance) with a ``weakref.finalize`` probe,
  to see exactly when the last user of its buffer went away.
"""

from __future__ import annotations

import ctypes
import gc
import weakref
from dataclasses import dataclass

import numpy as np
import pytest

# ---------------------------------------------------------------------------
# DLPack ABI (dlpack.h, version 1.x)
# ---------------------------------------------------------------------------

READ_ONLY = 1 << 0
IS_COPIED = 1 << 1

# Every NumPy dtype that DLPack carries and dlbridge holds.
NUMPY_DTYPES = [
    np.bool_,
    np.int8,
    np.int16,
    np.int32,
    np.int64,
    np.uint8,
    np.uint16,
    np.uint32,
    np.uint64,
    np.float16,
    np.float32,
    np.float64,
    np.complex64,
    np.complex128,
]

# DLDataTypeCode
KDL_INT = 0
KDL_UINT = 1
KDL_FLOAT = 2
KDL_BFLOAT = 4
KDL_COMPLEX = 5
KDL_BOOL = 6


class DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class DLTensor(ctypes.Structure):
    _fields_ = [
        ("data", ctypes.c_void_p),
        ("device", DLDevice),
        ("ndim", ctypes.c_int32),
        ("dtype", DLDataType),
        ("shape", ctypes.POINTER(ctypes.c_int64)),
        ("strides", ctypes.POINTER(ctypes.c_int64)),
        ("byte_offset", ctypes.c_uint64),
    ]


class DLPackVersion(ctypes.Structure):
    _fields_ = [("major", ctypes.c_uint32), ("minor", ctypes.c_uint32)]


DELETER = ctypes.CFUNCTYPE(None, ctypes.c_void_p)


class DLManagedTensor(ctypes.Structure):
    _fields_ = [
        ("dl_tensor", DLTensor),
        ("manager_ctx", ctypes.c_void_p),
        ("deleter", DELETER),
    ]


class DLManagedTensorVersioned(ctypes.Structure):
    _fields_ = [
        ("version", DLPackVersion),
        ("manager_ctx", ctypes.c_void_p),
        ("deleter", DELETER),
        ("flags", ctypes.c_uint64),
        ("dl_tensor", DLTensor),
    ]


# Private function objects (pythonapi["..."] makes a fresh one each time), so the
# argtypes set here cannot clash with anyone else's use of ctypes.pythonapi.
_GetName = ctypes.pythonapi["PyCapsule_GetName"]
_GetName.argtypes = [ctypes.py_object]
_GetName.restype = ctypes.c_char_p

_GetPointer = ctypes.pythonapi["PyCapsule_GetPointer"]
_GetPointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
_GetPointer.restype = ctypes.c_void_p

_IsValidRaw = ctypes.pythonapi["PyCapsule_IsValid"]
_IsValidRaw.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
_IsValidRaw.restype = ctypes.c_int

_New = ctypes.pythonapi["PyCapsule_New"]
_New.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
_New.restype = ctypes.py_object

_CAPSULE_DESTRUCTOR = ctypes.CFUNCTYPE(None, ctypes.c_void_p)

# Names must outlive every capsule carrying them: keep them as module constants.
NAME_LEGACY = b"dltensor"
NAME_VERSIONED = b"dltensor_versioned"


def capsule_name(capsule) -> str:
    """The name of a PyCapsule, e.g. 'dltensor', 'dltensor_versioned', 'used_dltensor'."""
    assert type(capsule).__name__ == "PyCapsule", f"not a capsule: {type(capsule)!r}"
    raw = _GetName(capsule)
    assert raw is not None
    return raw.decode()


@dataclass
class CapsuleInfo:
    name: str
    version: tuple[int, int] | None  # None for a legacy capsule
    flags: int  # always 0 for a legacy capsule
    data: int  # DLTensor.data (without byte_offset)
    byte_offset: int
    device: tuple[int, int]
    ndim: int
    dtype: tuple[int, int, int]  # (code, bits, lanes)
    shape: tuple[int, ...]
    strides: tuple[int, ...] | None  # None when the producer left strides NULL
    has_deleter: bool

    @property
    def first_element(self) -> int:
        return (self.data or 0) + self.byte_offset


def read_capsule(capsule) -> CapsuleInfo:
    """Read an unconsumed DLPack capsule (legacy or versioned) without consuming it."""
    name = capsule_name(capsule)
    if name == "dltensor_versioned":
        ptr = _GetPointer(capsule, NAME_VERSIONED)
        managed = DLManagedTensorVersioned.from_address(ptr)
        version = (managed.version.major, managed.version.minor)
        flags = managed.flags
    elif name == "dltensor":
        ptr = _GetPointer(capsule, NAME_LEGACY)
        managed = DLManagedTensor.from_address(ptr)
        version = None
        flags = 0
    else:
        raise AssertionError(f"not an unconsumed DLPack capsule: {name!r}")
    t = managed.dl_tensor
    ndim = t.ndim
    shape = tuple(t.shape[i] for i in range(ndim)) if ndim else ()
    strides = None
    if bool(t.strides):
        strides = tuple(t.strides[i] for i in range(ndim))
    elif ndim == 0:
        strides = ()
    return CapsuleInfo(
        name=name,
        version=version,
        flags=flags,
        data=t.data or 0,
        byte_offset=t.byte_offset,
        device=(t.device.device_type, t.device.device_id),
        ndim=ndim,
        dtype=(t.dtype.code, t.dtype.bits, t.dtype.lanes),
        shape=shape,
        strides=strides,
        has_deleter=bool(ctypes.cast(managed.deleter, ctypes.c_void_p).value),
    )


# ---------------------------------------------------------------------------
# Hand-made capsules with a counting deleter
# ---------------------------------------------------------------------------

# ctypes callbacks must stay alive for as long as C code may call them; a capsule
# may outlive the test that made it (that would be a bug the test reports), so keep
# every crafted capsule's ctypes objects here for the whole session.
_KEEP_ALIVE: list[object] = []


class CraftedCapsule:
    """A DLPack capsule over a ctypes buffer we own, with a deleter that counts calls.

    ``deleted`` is how many times the DLPack deleter ran: 0 while the consumer (or the
    unconsumed capsule) still holds the memory, and exactly 1 once everything is gone.
    The capsule destructor follows the protocol: it calls the deleter only when the
    capsule was never consumed (still named ``dltensor``/``dltensor_versioned``).
    """

    def __init__(
        self,
        values,
        *,
        ctype=ctypes.c_int64,
        dtype=(KDL_INT, 64, 1),
        shape=None,
        strides=None,
        byte_offset=0,
        versioned=True,
        version=(1, 0),
        flags=0,
        device=(1, 0),
        null_data=False,
    ):
        values = list(values)
        self.buffer = (ctype * max(len(values), 1))(*values)
        self.deleted = 0
        if shape is None:
            shape = (len(values),)
        ndim = len(shape)
        self._shape = (ctypes.c_int64 * max(ndim, 1))(*shape)
        self._strides = None
        if strides is not None:
            self._strides = (ctypes.c_int64 * max(ndim, 1))(*strides)

        def on_delete(_ptr):
            self.deleted += 1

        self._deleter = DELETER(on_delete)
        name = NAME_VERSIONED if versioned else NAME_LEGACY

        def on_capsule_destroyed(capsule_ptr):
            # Unconsumed capsule: the producer still owns the tensor and frees it.
            if _IsValidRaw(capsule_ptr, name):
                self.deleted += 1

        self._destructor = _CAPSULE_DESTRUCTOR(on_capsule_destroyed)

        tensor = DLTensor()
        tensor.data = None if null_data else ctypes.addressof(self.buffer)
        tensor.device = DLDevice(*device)
        tensor.ndim = ndim
        tensor.dtype = DLDataType(*dtype)
        tensor.shape = ctypes.cast(self._shape, ctypes.POINTER(ctypes.c_int64))
        if self._strides is not None:
            tensor.strides = ctypes.cast(self._strides, ctypes.POINTER(ctypes.c_int64))
        else:
            tensor.strides = ctypes.POINTER(ctypes.c_int64)()
        tensor.byte_offset = byte_offset

        if versioned:
            managed = DLManagedTensorVersioned()
            managed.version = DLPackVersion(*version)
            managed.flags = flags
        else:
            managed = DLManagedTensor()
        managed.manager_ctx = None
        managed.deleter = self._deleter
        managed.dl_tensor = tensor
        self._managed = managed
        _KEEP_ALIVE.append((self.buffer, self._shape, self._strides, self._deleter))
        _KEEP_ALIVE.append((self._destructor, managed))

        self.capsule = _New(
            ctypes.addressof(managed),
            name,
            ctypes.cast(self._destructor, ctypes.c_void_p),
        )

    @property
    def address(self) -> int:
        return ctypes.addressof(self.buffer)

    def take(self):
        """Hand the capsule over (the caller's reference becomes the only one)."""
        capsule, self.capsule = self.capsule, None
        return capsule


# ---------------------------------------------------------------------------
# Lifetime probes
# ---------------------------------------------------------------------------


class TrackedArray(np.ndarray):
    """ndarray subclass: instances accept weak references and finalizers."""


def tracked_array(values, dtype=np.int64):
    """Return (array, finalizer); ``finalizer.alive`` is False once the array is freed."""
    src = np.array(values, dtype=dtype)
    # Construct the subclass directly so that it owns its buffer: views of it (and
    # NumPy's base-collapsing) then keep this very object alive.
    arr = TrackedArray(src.shape, src.dtype)
    arr[...] = src
    assert arr.flags.owndata
    fin = weakref.finalize(arr, lambda: None)
    return arr, fin


def collect():
    """Run the cyclic GC so only real references keep objects alive."""
    gc.collect()


# ---------------------------------------------------------------------------
# dtype tables
# ---------------------------------------------------------------------------

# name -> (numpy dtype or None, torch dtype attribute name, itemsize, (code, bits))
DTYPE_TABLE = {
    "bool": (np.bool_, "bool", 1, (KDL_BOOL, 8)),
    "int8": (np.int8, "int8", 1, (KDL_INT, 8)),
    "int16": (np.int16, "int16", 2, (KDL_INT, 16)),
    "int32": (np.int32, "int32", 4, (KDL_INT, 32)),
    "int64": (np.int64, "int64", 8, (KDL_INT, 64)),
    "uint8": (np.uint8, "uint8", 1, (KDL_UINT, 8)),
    "uint16": (np.uint16, "uint16", 2, (KDL_UINT, 16)),
    "uint32": (np.uint32, "uint32", 4, (KDL_UINT, 32)),
    "uint64": (np.uint64, "uint64", 8, (KDL_UINT, 64)),
    "float16": (np.float16, "float16", 2, (KDL_FLOAT, 16)),
    "bfloat16": (None, "bfloat16", 2, (KDL_BFLOAT, 16)),
    "float32": (np.float32, "float32", 4, (KDL_FLOAT, 32)),
    "float64": (np.float64, "float64", 8, (KDL_FLOAT, 64)),
    "complex64": (np.complex64, "complex64", 8, (KDL_COMPLEX, 64)),
    "complex128": (np.complex128, "complex128", 16, (KDL_COMPLEX, 128)),
}

ALL_DTYPE_NAMES = list(DTYPE_TABLE)
NUMPY_DTYPE_NAMES = [n for n, row in DTYPE_TABLE.items() if row[0] is not None]


def sample_values(name: str) -> list:
    """Three distinct values, exactly representable in the dtype, first one non-zero."""
    if name == "bool":
        return [True, False, True]
    if name.startswith("complex"):
        return [1 + 2j, -0.5j, 3 + 0j]
    if name.startswith(("float", "bfloat")):
        return [1.5, -2.0, 0.25]
    if name.startswith("uint"):
        bits = DTYPE_TABLE[name][2] * 8
        return [2**bits - 1, 0, 5]
    bits = DTYPE_TABLE[name][2] * 8
    return [-(2 ** (bits - 1)), 2 ** (bits - 1) - 1, 7]


def other_value(name: str):
    """A value different from every sample value, to prove writes cross over."""
    if name == "bool":
        return False  # sample_values start with True
    if name.startswith("complex"):
        return 4 - 4j
    if name.startswith(("float", "bfloat")):
        return 8.0
    return 42


@pytest.fixture
def fresh_gc():
    collect()
    yield
    collect()


# ---------------------------------------------------------------------------
# Module definitions (PyModuleDef, Include/moduleobject.h)
# ---------------------------------------------------------------------------

PY_MOD_EXEC = 2
PY_MOD_GIL = 4  # Python 3.13 and newer only
PY_MOD_GIL_USED = 0  # NULL


class ModuleDefSlot(ctypes.Structure):
    _fields_ = [("slot", ctypes.c_int), ("value", ctypes.c_void_p)]


def module_def_slots(path: str, init_name: str) -> tuple[bytes, list[tuple[int, int]]]:
    """Calls an extension's ``PyInit_<name>`` through ctypes and reads the
    ``PyModuleDef`` it returns (multi-phase init: the definition, not a module;
    calling it again is harmless): the module name and the ``m_slots`` array as
    ``(slot, value)`` pairs, NULL values as 0. Python 3.14 and older layout."""
    init = getattr(ctypes.PyDLL(path), init_name)
    init.restype = ctypes.c_void_p
    definition = init()
    pointer = ctypes.sizeof(ctypes.c_void_p)
    # PyModuleDef_Base: the object header (object.__basicsize__ covers
    # free-threaded builds too), m_init, m_index, m_copy; then m_name, m_doc,
    # m_size, m_methods, m_slots.
    fields = definition + object.__basicsize__ + 3 * pointer
    name = ctypes.c_char_p.from_address(fields).value
    slots_at = ctypes.c_void_p.from_address(fields + 4 * pointer).value
    slots = []
    for index in range(64):
        slot = ModuleDefSlot.from_address(slots_at + index * ctypes.sizeof(ModuleDefSlot))
        if slot.slot == 0:
            break
        slots.append((slot.slot, slot.value or 0))
    return name, slots
