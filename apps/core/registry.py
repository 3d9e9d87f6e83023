"""A small typed registry for plug-ins (provider adapters, later node types and judges)."""

from collections.abc import Callable, Iterator


class AlreadyRegistered(Exception):
    pass


class NotRegistered(KeyError):
    pass


class Registry[T]:
    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, key: str) -> Callable[[T], T]:
        def decorator(item: T) -> T:
            if key in self._items:
                raise AlreadyRegistered(f"{self.kind} {key!r} is already registered")
            self._items[key] = item
            return item

        return decorator

    def get(self, key: str) -> T:
        try:
            return self._items[key]
        except KeyError:
            raise NotRegistered(f"no {self.kind} registered as {key!r}") from None

    def __contains__(self, key: str) -> bool:
        return key in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)
