"""Model variants by name, torchvision-style: ``build("ms-predrnn", hidden=32, patch=4)``.

Every cell of :data:`models.cells.CELLS` gives two variants: ``<cell>`` (the flat 6-layer stack)
and ``ms-<cell>`` (the MS-RNN pyramid). MK-LSTM's pyramid is called ``ms-lstm``, its paper name.
"""

from __future__ import annotations

from models.advection import AdvectionNowcaster, check_frame_match
from models.cells import CELLS
from models.network import ModelConfig, Nowcaster


def _ms_name(cell: str) -> str:
    return "ms-lstm" if cell == "mk-lstm" else f"ms-{cell}"


#: variant name -> (cell name, multiscale)
VARIANTS: dict[str, tuple[str, bool]] = {}
for _cell in CELLS:
    VARIANTS[_cell] = (_cell, False)
    VARIANTS[_ms_name(_cell)] = (_cell, True)


def flat_twin(name: str) -> str:
    """The flat variant with the same cell as ``name``."""
    return VARIANTS[name][0]


def config_for(name: str, **overrides) -> ModelConfig:
    if name not in VARIANTS:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(VARIANTS)}")
    arch, multiscale = VARIANTS[name]
    return ModelConfig(name=name, arch=arch, multiscale=multiscale, **overrides)


def from_config(config: ModelConfig) -> Nowcaster | AdvectionNowcaster:
    """The network a config describes: plain, or wrapped in its advection mode."""
    if config.frame_match:
        check_frame_match(config.advection)
    net = Nowcaster(config)
    return net if config.advection == "none" else AdvectionNowcaster(net, config.advection)


def build(name: str, **overrides) -> Nowcaster | AdvectionNowcaster:
    """A fresh network of variant ``name``; ``overrides`` set any :class:`ModelConfig` field
    (``advection="lagrangian"`` or ``"residual"`` wraps it, see :mod:`models.advection`)."""
    return from_config(config_for(name, **overrides))
