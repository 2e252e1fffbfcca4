"""Optimizers: propose prompt candidates, keep one only when held-out data says it is better.

This package is layer 3 (docs/architecture.md); `splits` and `acceptance` are pure, and the
contract between the parts is docs/optimize.md.
"""

from promptyard.optimize.acceptance import Decision, decide, flaky
from promptyard.optimize.splits import Splits, assign_splits

__all__ = ["Decision", "Splits", "assign_splits", "decide", "flaky"]
