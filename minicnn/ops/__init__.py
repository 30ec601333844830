"""Differentiable operations: one file per concept, each op a Function with forward and backward."""
