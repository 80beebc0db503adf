"""A registry of declarations filled by the modules of one package, found by a package scan.

`skipcore.models` (families) and `skipcore.data` (data sets) keep one each: a module registers its
entries when it is imported (a decorator next to the definition), and `all()` imports every module
of the package once, so no list names them. `get(name)` answers ValueError for a name the spec does
not know and LookupError (saying how to register it) for a spec name that no module registers.
"""

from __future__ import annotations

import pkgutil
import sys
from importlib import import_module
from typing import Callable, Generic, Sequence, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str, package: str, names: Sequence[str], how: str) -> None:
        self.kind, self.package, self.names, self.how = kind, package, tuple(names), how
        self._entries: dict[str, tuple[str, T]] = {}
        self._scanned = False

    def add(self, name: str, entry: T, module: str) -> None:
        if name in self._entries and self._entries[name][0] != module:
            raise TypeError(f"{self.kind} {name!r} is registered twice ({self._entries[name][0]}, {module})")
        self._entries[name] = (module, entry)

    def registering(self, names: Sequence[str], make: Callable[[str, Callable], T]) -> Callable[[Callable], Callable]:
        """A decorator: registers `make(name, fn)` under every name, returns `fn` unchanged."""

        def register(fn: Callable) -> Callable:
            for name in names:
                self.add(name, make(name, fn), fn.__module__)
            return fn

        return register

    def all(self) -> dict[str, T]:
        """Every registered entry (imports every module of the package once)."""
        if not self._scanned:
            for info in pkgutil.iter_modules(sys.modules[self.package].__path__, prefix=f"{self.package}."):
                import_module(info.name)
            self._scanned = True
        return {name: entry for name, (_, entry) in self._entries.items()}

    def get(self, name: str) -> T:
        if name not in self.names:
            raise ValueError(f"unknown {self.kind} {name!r}; known: {', '.join(self.names)}")
        found = self.all().get(name)
        if found is None:
            raise LookupError(f"{self.kind} {name!r} has a spec class but nothing registers it: "
                              + self.how.format(name=name))
        return found
