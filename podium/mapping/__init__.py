"""Mapping engine: vendor records -> canonical records, declared as data in ``mappings/<vendor>/<stream>.yaml``."""

from podium.mapping.engine import CompiledMapping, MappingContext, MappingError, compile_mapping, load_mapping
from podium.mapping.transforms import TRANSFORMS

__all__ = ["TRANSFORMS", "CompiledMapping", "MappingContext", "MappingError", "compile_mapping", "load_mapping"]
