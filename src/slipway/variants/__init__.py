"""Environment variants: lock readers, closure selection for a target, canonical hashes.

Pure logic: the only I/O is reading the project's pyproject.toml, its lock and (for local path
dependencies) the files they point at. See docs/variants.md for the canonical form.
"""

from __future__ import annotations

from slipway.variants.service import VariantResult, check_hashes, compute, write_hashes

__all__ = ["VariantResult", "check_hashes", "compute", "write_hashes"]
