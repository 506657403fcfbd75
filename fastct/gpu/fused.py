"""GPU twin of ``fastct.cpu.fused`` (kernels pending; see :mod:`fastct.gpu`)."""

from ._pending import pending

run_chain = pending("fused", "run_chain")
run_chain_equalize = pending("fused", "run_chain_equalize")
