"""A host-side interpreter for saved Core ML ML programs (`.mlpackage`): the Linux substitute for
`MLModel.predict`, used to verify Core ML exports where Core ML itself cannot run."""

from .interpreter import MILProgram, Op, load_spec
from .ops import UnknownOp

__all__ = ["MILProgram", "Op", "UnknownOp", "load_spec"]
