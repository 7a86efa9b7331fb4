"""Compiled kernels, cached in a per-user folder (docs/architecture.md).

numba's ``cache=True`` writes its cache beside the source file when that
folder is writable: inside site-packages for a regular install, inside the
checkout for an editable one. A folder of cache files left in site-packages
after ``pip install -e`` has replaced a wheel makes Python find
``site-packages/qnic/...`` as an empty namespace package, and every ``qnic``
import from another folder fails. qnic-bench's kernels are therefore cached
in the user's cache folder instead (``$XDG_CACHE_HOME/qnic-bench/numba``,
``~/.cache/qnic-bench/numba``; ``~/Library/Caches`` on macOS, ``%LOCALAPPDATA%``
on Windows; a per-user temporary folder when that cannot be used), one
folder per source folder of each install, each entry keyed on its source's
contents, so every install keeps its own entries and only its first run
compiles. A regular wheel brings its kernels compiled
(:func:`seed_from_bundle`), and then not even that one does.
``NUMBA_CACHE_DIR``, where set, still wins.

Every kernel of the package is declared with :func:`cached_njit`. The
locator applies to functions of ``qnic`` modules only; anybody else's
numba functions keep numba's own rules.
"""

from __future__ import annotations

import functools
import hashlib
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numba
from numba.core import caching, types
from numba.core.registry import CPUDispatcher

import qnic

_PACKAGE = "qnic"


def fallback_cache_dir() -> Path:
    """Where the kernels go when the user's cache folder cannot be used (no
    home folder, or not writable): a per-user folder of the temporary
    directory, never numba's next choice beside the installed sources."""
    user = os.getuid() if hasattr(os, "getuid") else os.environ.get("USERNAME", "user")
    return Path(tempfile.gettempdir()) / f"qnic-bench-{user}" / "numba"


def user_cache_dir() -> Path:
    """The folder qnic-bench's compiled kernels are cached in
    (``XDG_CACHE_HOME``, where set, on every platform)."""
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]) / "qnic-bench" / "numba"
    try:
        home = Path.home()
    except RuntimeError:  # no HOME and no password entry
        return fallback_cache_dir()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or home / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = home / "Library" / "Caches"
    else:
        base = home / ".cache"
    return base / "qnic-bench" / "numba"


def _numba_cache_dir() -> str:
    """numba's ``NUMBA_CACHE_DIR`` setting ("" when unset)."""
    return str(getattr(numba.config, "CACHE_DIR", "") or "")


@functools.lru_cache(maxsize=None)
def _source_digest(path: str, mtime_ns: int, size: int) -> str:
    """sha256 of a source file (the stamp and size key the memo, as in numba)."""
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def source_digest(path: str) -> str:
    """sha256 of a source file's contents."""
    st = os.stat(path)
    return _source_digest(path, st.st_mtime_ns, st.st_size)


class UserCacheLocator(caching._SourceFileBackedLocatorMixin, caching._CacheLocator):
    """numba cache locator: qnic functions' caches under :func:`user_cache_dir`."""

    def __init__(self, py_func: Callable[..., Any], py_file: str) -> None:
        self._py_file = py_file
        self._lineno = py_func.__code__.co_firstlineno
        self._cache_path = str(user_cache_dir() / self.get_suitable_cache_subpath(py_file))

    def get_cache_path(self) -> str:
        return self._cache_path

    def get_source_stamp(self) -> str:
        """The source's contents (sha256), whatever numba's version: numba
        before 0.68 used the file's time and size, which an install changes,
        so kernels compiled when the wheel was built would never load."""
        return source_digest(self._py_file)

    def ensure_cache_path(self) -> None:
        try:
            super().ensure_cache_path()
        except OSError:
            # numba would go on to its next locator, which caches beside the
            # installed sources (the stray folders this module exists to avoid)
            fallback = fallback_cache_dir() / self.get_suitable_cache_subpath(self._py_file)
            self._cache_path = str(fallback)
            super().ensure_cache_path()

    @classmethod
    def from_function(cls, py_func: Callable[..., Any], py_file: str) -> UserCacheLocator | None:
        module = getattr(py_func, "__module__", "") or ""
        if module != _PACKAGE and not module.startswith(_PACKAGE + "."):
            return None
        return super().from_function(py_func, py_file)


def _install() -> None:
    """Put the locator after numba's NUMBA_CACHE_DIR one and before all others."""
    classes: list[Any] = caching.CacheImpl._locator_classes
    if UserCacheLocator in classes:
        return
    user_given = [i for i, c in enumerate(classes) if c.__name__.lstrip("_") == "UserProvidedCacheLocator"]
    classes.insert(user_given[0] + 1 if user_given else 0, UserCacheLocator)
    seed_from_bundle()


BUNDLE = "_kernel_bundle"
"""The folder of the ``qnic`` package that holds kernels compiled when its
wheel was built (:mod:`qnic.instruments.kernel_bundle`), with ``manifest.json``."""

PACKAGE_ROOT = Path(os.path.dirname(os.path.abspath(str(qnic.__file__))))
"""The installed ``qnic`` package's folder (as numba names the source files)."""


def target_description() -> dict[str, Any]:
    """What compiled kernels depend on: numba's and Python's versions and the
    target (LLVM triple, CPU name and features, numba's own cache key)."""
    from numba.core.registry import cpu_target

    return {"numba": numba.__version__, "python": sys.version,
            "target": list(cpu_target.target_context.codegen().magic_tuple())}


def seed_from_bundle(package_root: Path = PACKAGE_ROOT) -> bool:
    """Copy the kernels compiled at the wheel's build into the user's cache.

    A regular wheel carries them (docs/architecture.md): numba's cache keys
    its entries on the source contents and the target, not on a path, so
    they load as compiled here, and the first run after an install compiles
    nothing. They are copied once per bundle and install (a marker in the
    cache folder says so), and only when they were compiled by this numba
    and Python for this CPU, and not when ``NUMBA_CACHE_DIR`` sends the
    kernels elsewhere; otherwise the kernels compile on first use, as
    without a bundle. Copying is best effort: a failure leaves the kernels
    to compile.

    Returns:
        Whether files were copied now.
    """
    if _numba_cache_dir():
        return False
    try:
        text = (package_root / BUNDLE / "manifest.json").read_bytes()
    except OSError:
        return False  # no bundle (an editable install, a checkout)
    import json
    import shutil

    copied = False
    try:
        # the manifest holds every file's hash: a rebuilt bundle has another key
        key = hashlib.sha1(str(package_root).encode() + b"\0" + text).hexdigest()
        done = user_cache_dir() / "seeded" / f"{key}.done"
        if done.exists():
            return False
        manifest = json.loads(text)
        if {k: manifest.get(k) for k in ("numba", "python", "target")} == target_description():
            for folder, files in manifest["folders"].items():
                source = package_root / BUNDLE / folder
                target = cache_folder(str(package_root / folder / "__init__.py"))
                target.mkdir(parents=True, exist_ok=True)
                for name in files:
                    # replace as a whole: a reader sees the old file or the new one
                    tmp = target / f".{name}.{os.getpid()}.tmp"
                    shutil.copyfile(source / name, tmp)
                    os.replace(tmp, target / name)
            copied = True
        done.parent.mkdir(parents=True, exist_ok=True)
        done.touch()
    except (OSError, RuntimeError, ValueError, KeyError, TypeError, AttributeError):
        return False
    return copied


class KernelDispatcher(CPUDispatcher):
    """numba's CPU dispatcher, typing calls from other kernels by plain types.

    numba types a constant argument as a literal (``Literal[int](0)``,
    ``Literal[bool](True)``) and, called from another kernel, compiles the
    callee once for that literal and again for the plain type that the
    other call sites pass. Those duplicate compiles were a good part of the
    first run's compile time (docs/architecture.md); no kernel of the
    package specializes on an integer literal, so calls are typed without
    them.
    """

    def get_call_template(self, args: Any, kws: Any) -> Any:
        return super().get_call_template(tuple(_plain(a) for a in args),
                                         {k: _plain(v) for k, v in kws.items()})


def _plain(t: Any) -> Any:
    """A literal integer's plain type; booleans stay literal (a flag's dead
    branches are pruned, and a kernel is called with few of them)."""
    return types.unliteral(t) if isinstance(t, types.IntegerLiteral) else t


def cached_njit(**options: Any) -> Callable[[Callable[..., Any]], Any]:
    """``numba.njit(cache=True, **options)``, cached in the user's cache
    folder, and typed by plain argument types (:class:`KernelDispatcher`)."""
    _install()
    jit = numba.njit(cache=True, **options)

    def decorate(func: Callable[..., Any]) -> Any:
        kernel = jit(func)
        kernel.__class__ = KernelDispatcher
        return kernel

    return decorate


def cache_folder(py_file: str) -> Path:
    """The cache folder of the kernels of the module in ``py_file`` (one per
    source folder, keyed on its absolute path as numba keys it), under
    ``NUMBA_CACHE_DIR`` where that is set."""
    given = _numba_cache_dir()
    base = Path(given) if given else user_cache_dir()
    return base / UserCacheLocator.get_suitable_cache_subpath(py_file)


def warm_marker(modules: Sequence[ModuleType]) -> Path:
    """The file that says these modules' kernels were compiled into the cache.

    Keyed on the modules' names and source contents and numba's and
    Python's versions, so an edited module (or another numba) makes a new
    marker; it lives in the cache folder of the first module's kernels
    (:func:`cache_folder`), so each install has its own, and a bundle of
    compiled kernels (:func:`seed_from_bundle`) carries it with them.
    """
    h = hashlib.sha1(f"{numba.__version__} {sys.version}".encode())
    for m in modules:
        h.update(f"{m.__name__} {source_digest(str(m.__file__))}".encode())
    return cache_folder(str(modules[0].__file__)) / f"warm-{h.hexdigest()}.done"


class Warmup:
    """A child process, ``python -m MODULE``, compiling kernels into the cache.

    A command starts it when the kernels it will need are not cached yet
    (:func:`start_warmup`), goes on with its own start (imports, opening
    instruments) and waits for it (:meth:`wait`) before it first calls them,
    so their compilation runs beside its own on a second core. :meth:`stop`
    kills it on errors and Ctrl-C.
    """

    def __init__(self, module: str) -> None:
        self._proc: subprocess.Popen[bytes] | None = subprocess.Popen(
            [sys.executable, "-m", module], stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def wait(self) -> None:
        """Wait for the child to finish (at once if it has)."""
        if self._proc is not None:
            self._proc.wait()
            self._proc = None

    def stop(self) -> None:
        """Kill the child if it still runs, and reap it."""
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            self._proc = None


def start_warmup(module: str, modules: Sequence[ModuleType]) -> Warmup | None:
    """Start ``python -m module`` unless ``modules``' kernels are marked warm."""
    return None if warm_marker(modules).exists() else Warmup(module)


def mark_warm(modules: Sequence[ModuleType]) -> None:
    """Record that ``modules``' kernels are compiled (the warming child's last
    step; when the cache folder cannot be written, a later run warms again)."""
    marker = warm_marker(modules)
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
    except OSError:
        pass
