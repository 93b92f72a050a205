"""The server's models: each loaded once, on first use, and run one fill at a time.

:class:`ModelPool` keeps one inpainter per name (``"auto"`` shares the named inpainters it routes
to) and a lock around every fill, so concurrent requests are safe and a model is never run by two
threads at once; requests beyond ``max_queue`` waiting fills are turned away (:class:`Busy`) instead
of piling up. The lock is held only by fills: ``health`` and ``models`` answer meanwhile.
"""

from __future__ import annotations

import inspect
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Loader = Callable[..., Any]  # loader(name, **kwargs) -> inpainter: inpainter(image, mask, dilate=...) -> image


class Busy(RuntimeError):
    """Too many fills are already waiting."""


@dataclass
class FillResult:
    image: Any
    model: str
    seconds: float


class ModelPool:
    """Inpainters by name, loaded on first use, filled one at a time.

    Args:
        loader: ``loader(name, **kwargs)`` -> an inpainter (``inpaintlab.load`` on the server's device);
            for ``"auto"`` it gets ``loader=`` (this pool's :meth:`get`) so the routed models are shared.
        max_queue: at most this many fills wait for the running one; more raise :class:`Busy`.
    """

    def __init__(self, loader: Loader, max_queue: int = 8) -> None:
        if max_queue < 0:
            raise ValueError(f"max_queue must be >= 0, got {max_queue}")
        self._loader = loader
        self._models: dict[str, Any] = {}
        self._load_lock = threading.RLock()
        self._fill_lock = threading.Lock()
        self._count_lock = threading.Lock()
        self.max_queue = max_queue
        self.running = 0
        self.waiting = 0

    @property
    def loaded(self) -> list[str]:
        return sorted(self._models)

    def get(self, name: str) -> Any:
        """The inpainter ``name``, loaded on first use (``"auto"`` routes through this pool)."""
        with self._load_lock:
            if name not in self._models:
                kwargs = {"loader": self.get} if name == "auto" else {}
                self._models[name] = self._loader(name, **kwargs)
            return self._models[name]

    def fill(self, name: str, image: Any, mask: Any, dilate: int = 0, strategy: str | None = None) -> FillResult:
        """Inpaint ``image`` under ``mask`` with model ``name``; waits for a running fill first.

        ``strategy`` is passed on only when the inpainter's call takes it (else it must be None/"auto").
        """
        with self._count_lock:
            if self.running + self.waiting > self.max_queue:
                raise Busy(f"{self.running + self.waiting} fills are running or waiting; retry in a moment")
            self.waiting += 1
        try:
            self._fill_lock.acquire()
        finally:
            with self._count_lock:
                self.waiting -= 1
        try:
            with self._count_lock:
                self.running += 1
            started = time.perf_counter()
            inpainter = self.get(name)
            kwargs: dict[str, Any] = {"dilate": dilate}
            if strategy not in (None, ""):
                if accepts(inpainter, "strategy"):
                    kwargs["strategy"] = strategy
                elif strategy != "auto":
                    raise ValueError(
                        f"strategy {strategy!r}: this version's {name} inpainter has no strategy option; "
                        "leave it out (or send 'auto')"
                    )
            result = inpainter(image, mask, **kwargs)
            return FillResult(result, str(getattr(inpainter, "name", name)), time.perf_counter() - started)
        finally:
            with self._count_lock:
                self.running -= 1
            self._fill_lock.release()


def accepts(function: Callable, parameter: str) -> bool:
    """Whether ``function`` (or a callable object's ``__call__``) takes the keyword ``parameter``."""
    try:
        params = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False
    return parameter in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
