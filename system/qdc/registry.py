"""Name -> class registries: a recipe names a scorer, an embedder or a strategy, the registry finds it."""

from __future__ import annotations

from typing import Callable, Generic, Iterator, TypeVar

from system.errors import QdcError

T = TypeVar("T", bound=type)


class UnknownNameError(QdcError):
    """A name that no registry entry has; the message lists the known ones."""

    def __init__(self, kind: str, name: str, known: list[str]):
        super().__init__(f"unknown {kind} {name!r}; known: {', '.join(known)}")
        self.kind, self.name, self.known = kind, name, known


class Registry(Generic[T]):
    """Classes by name. ``@REG.register("x")`` adds one and sets its ``name`` class attribute."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def wrap(cls: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            cls.name = name  # type: ignore[attr-defined]
            self._entries[name] = cls
            return cls

        return wrap

    def get(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(self.kind, name, self.names()) from None

    def check(self, name: str) -> str:
        """``name`` if registered; raises ValueError (for pydantic validators) listing the known names."""
        if name not in self._entries:
            raise ValueError(str(UnknownNameError(self.kind, name, self.names())))
        return name

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)
