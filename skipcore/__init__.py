"""skipcore: the science of skip connections (models, probes, data, training loop, spec).

Importing this package imports nothing heavy: torch is loaded only by the submodules that need it
(`skipcore.models`, `skipcore.probes`, `skipcore.data`, `skipcore.train`). `skipcore.spec` needs
pydantic alone, so the API can validate specs without torch.
"""

__version__ = "0.1.0"
