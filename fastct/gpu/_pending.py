"""Placeholders for GPU twins whose kernels are not part of this version."""

from __future__ import annotations

from ..errors import NotImplementedOnBackend


def pending(module: str, name: str):
    """A twin function that raises, naming the op, instead of falling back."""

    def twin(batch, out, **params):
        raise NotImplementedOnBackend(
            f"{name}: not implemented on backend 'gpu' in this version of fastct "
            f"(fastct.gpu.{module}.{name}); use backend='cpu' or 'auto'"
        )

    twin.__name__ = name
    twin.__qualname__ = name
    twin.__doc__ = f"GPU twin of ``fastct.cpu.{module}.{name}`` (not implemented yet)."
    return twin
