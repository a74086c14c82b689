"""Interpolators by name: the one place that maps ``--model`` to a class."""

from __future__ import annotations

from collections.abc import Callable

from core.errors import OptionError
from core.interpolators.base import Interpolator
from core.interpolators.rife import make_rife, make_torchscript


def _blend(weights: str | None, **_: object) -> Interpolator:
    from core.interpolators.blend import BlendInterpolator

    return BlendInterpolator()


def _flow(weights: str | None, **_: object) -> Interpolator:
    from core.interpolators.flow import FlowInterpolator

    return FlowInterpolator()


# name -> (factory, needs weights)
_FACTORIES: dict[str, tuple[Callable[..., Interpolator], bool]] = {
    "flow": (_flow, False),
    "blend": (_blend, False),
    "rife": (make_rife, True),
    "torchscript": (make_torchscript, True),
}


def model_names() -> list[str]:
    return sorted(_FACTORIES)


def create_interpolator(name: str, weights: str | None = None, **kwargs: object) -> Interpolator:
    """Build the interpolator ``name``; raises OptionError for unknown names or missing weights."""
    if name not in _FACTORIES:
        raise OptionError(f"Unknown model {name!r}; choose one of: {', '.join(['auto', *model_names()])}.")
    factory, needs_weights = _FACTORIES[name]
    if needs_weights and not weights:
        raise OptionError(f"--model {name} needs --weights PATH (a flownet.pkl or train_log/ folder).")
    return factory(weights, **kwargs)
