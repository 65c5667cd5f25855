"""Mapping engine: vendor records -> canonical records, declared as data in ``mappings/<vendor>/<stream>.yaml``."""

from podium.mapping.engine import (
    MAX_RECORDS_PER_RAW,
    CompiledMapping,
    MappingContext,
    MappingError,
    RecordTooLargeError,
    check_explosion,
    compile_mapping,
    load_mapping,
    mapping_source,
)
from podium.mapping.transforms import TRANSFORMS

__all__ = ["MAX_RECORDS_PER_RAW", "TRANSFORMS", "CompiledMapping", "MappingContext", "MappingError",
           "RecordTooLargeError", "check_explosion", "compile_mapping", "load_mapping", "mapping_source"]
