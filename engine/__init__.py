"""tierwise engine: bundles, the expression language and classification, as a pure library.

The engine never imports Flask, opens sockets or files it was not handed, or
reads the clock: callers pass the instant (`as_of`) to every evaluation.
"""
from .bundle import Bundle, load_bundle, load_bundle_text
from .classify import Classifier, Result
from .errors import (BundleInvalid, DefinitionError, ExpressionError, FieldProblem, Problem, RecordInvalid, RunError,
                     TierwiseError)

__all__ = ["Bundle", "load_bundle", "load_bundle_text", "Classifier", "Result", "BundleInvalid", "DefinitionError",
           "ExpressionError", "FieldProblem", "Problem", "RecordInvalid", "RunError", "TierwiseError"]
