"""Mapping engine: vendor records -> canonical records, declared as data in ``mappings/<vendor>/<stream>.yaml``."""

from podium.mapping.engine import (
    mapping_source,
    MAX_RECORDS_PER_RAW,
    CompiledMapping,
    MappingContext,
    MappingError,
    RecordTooLargeError,
    check_explosion,
    compile_mapping,
    load_mapping,
)
from podium.mapping.transforms import TRANSFORMS

__all__ = ["MAX_RECORDS_PER_RAW", "TRANSFORMS", "CompiledMapping", "MappingContext", "MappingError",
           "mapping_source",
           "RecordTooLargeError", "check_explosion", "compile_mapping", "load_mapping"]
