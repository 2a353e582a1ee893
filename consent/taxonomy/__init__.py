"""The alliance data standard: categories, interest tags and purposes."""

from consent.taxonomy.document import attribute_schema, to_document, value_schema
from consent.taxonomy.loader import DATA_DIR, load_standard
from consent.taxonomy.model import (
    Category,
    DataStandard,
    InterestTag,
    LawfulBasis,
    MergeRule,
    Purpose,
    RecipientKind,
    Sensitivity,
    Text,
    ValueType,
    Vertical,
)

__all__ = [
    "DATA_DIR",
    "Category",
    "DataStandard",
    "InterestTag",
    "LawfulBasis",
    "MergeRule",
    "Purpose",
    "RecipientKind",
    "Sensitivity",
    "Text",
    "ValueType",
    "Vertical",
    "attribute_schema",
    "load_standard",
    "to_document",
    "value_schema",
]
