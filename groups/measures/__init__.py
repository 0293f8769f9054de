"""Symptom measures as data: one YAML file per measure, checked and scored here.

``library`` loads and checks the ``*.yaml`` files in this folder (pure,
cached); ``measure`` holds the ``Measure`` value and its scoring rules
(validate, total, band, caseness, safety flag, reliable change). Neither
needs a database or a Flask request.
"""

from .library import MeasureError, MeasureSet, check_measures, load_measures, loinc_is_valid
from .measure import (
    CHANGE_LABELS,
    NO_RELIABLE_CHANGE,
    RECOVERED,
    RELIABLE_DETERIORATION,
    RELIABLE_IMPROVEMENT,
    AnswerError,
    Band,
    Change,
    Item,
    Measure,
    Option,
    Score,
)

__all__ = [
    "CHANGE_LABELS",
    "NO_RELIABLE_CHANGE",
    "RECOVERED",
    "RELIABLE_DETERIORATION",
    "RELIABLE_IMPROVEMENT",
    "AnswerError",
    "Band",
    "Change",
    "Item",
    "Measure",
    "MeasureError",
    "MeasureSet",
    "Option",
    "Score",
    "check_measures",
    "load_measures",
    "loinc_is_valid",
]
