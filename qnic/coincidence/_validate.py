"""Input checks shared by the coincidence functions.

Timestamps are int64 picoseconds sorted ascending (docs/conventions.md). Every
public function of :mod:`qnic.coincidence` passes its arrays and scalars
through these helpers, so the error messages are the same everywhere.
"""

from __future__ import annotations

import numbers

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qnic.coincidence._kernels import first_decrease

_INT64_MAX = int(np.iinfo(np.int64).max)
_INT64_MIN = int(np.iinfo(np.int64).min)


def as_int_array(values: ArrayLike, name: str) -> NDArray[np.int64]:
    """Convert a 1-D integer array to int64 without sorting checks.

    Args:
        values: 1-D array-like of any integer dtype, shape (n,).
        name: Argument name used in error messages.

    Returns:
        The values as a 1-D int64 array, shape (n,); no copy when the input is
        already a contiguous int64 array.

    Raises:
        TypeError: If the dtype is not an integer dtype (floats, booleans, ...).
        ValueError: If the array is not 1-D or unsigned values exceed int64.
    """
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array, got shape {arr.shape}")
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer):
        if arr.size == 0 and arr.dtype == np.float64:
            # np.asarray([]) is float64: an empty list is a valid empty stream.
            return np.empty(0, dtype=np.int64)
        raise TypeError(
            f"{name} must be an integer array (int64 picoseconds), got dtype {arr.dtype}"
        )
    if arr.dtype == np.uint64 and arr.size and int(arr.max()) > _INT64_MAX:
        raise ValueError(f"{name} holds values above the int64 range")
    return np.ascontiguousarray(arr, dtype=np.int64)


def as_timestamps(values: ArrayLike, name: str) -> NDArray[np.int64]:
    """Convert and check a timestamp array: 1-D, integer, sorted ascending.

    Args:
        values: 1-D array-like of integer timestamps in ps, shape (n,).
        name: Argument name used in error messages (for example ``"t_a"``).

    Returns:
        The timestamps as a contiguous int64 array, shape (n,).

    Raises:
        TypeError: If the dtype is not an integer dtype.
        ValueError: If the array is not 1-D or not sorted ascending; the
            message names the argument and the first index where it decreases.
    """
    arr = as_int_array(values, name)
    check_sorted(arr, name)
    return arr


def check_sorted(arr: NDArray[np.int64], name: str) -> None:
    """Raise if an int64 array decreases anywhere.

    Args:
        arr: Contiguous int64 array, shape (n,).
        name: Argument name used in the error message.

    Raises:
        ValueError: Naming ``name`` and the first index k with
            ``arr[k] < arr[k - 1]``.
    """
    k = int(first_decrease(arr))
    if k >= 0:
        raise ValueError(
            f"{name} must be sorted ascending: {name}[{k}] = {int(arr[k])} < "
            f"{name}[{k - 1}] = {int(arr[k - 1])} (first decrease at index {k})"
        )


def as_int_ps(value: object, name: str, *, minimum: int | None = None) -> int:
    """Convert a scalar in picoseconds to a Python int.

    Integral floats (``1e3``) are accepted since they convert exactly;
    fractional values are refused rather than rounded.

    Args:
        value: Scalar time in ps (int, numpy integer, or integral float).
        name: Argument name used in error messages.
        minimum: If given, the smallest allowed value.

    Returns:
        The value as a Python int within the int64 range.

    Raises:
        TypeError: If the value is not a real number (booleans included).
        ValueError: If it is fractional, not finite, out of the int64 range or
            below ``minimum``.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be an integer number of ps, got {value!r}")
    if isinstance(value, numbers.Integral):
        result = int(value)
    else:
        as_float = float(value)
        if not np.isfinite(as_float) or not as_float.is_integer():
            raise ValueError(f"{name} must be a whole number of ps, got {value!r}")
        result = int(as_float)
    if not _INT64_MIN <= result <= _INT64_MAX:
        raise ValueError(f"{name} = {result} ps is outside the int64 range")
    if minimum is not None and result < minimum:
        raise ValueError(f"{name} must be >= {minimum} ps, got {result}")
    return result


def clamp_int64(value: int) -> int:
    """Clamp a Python int to the int64 range (for search thresholds only).

    Args:
        value: Any Python int.

    Returns:
        ``value`` limited to [int64 min, int64 max].
    """
    return max(_INT64_MIN, min(_INT64_MAX, value))
