"""Small reusable layers: stochastic depth and the highway transform gate."""

from skipcore.nn.drop_path import DropPath, StochasticDepth, drop_path
from skipcore.nn.gates import TransformGate, highway, transform_gate

__all__ = ["DropPath", "StochasticDepth", "TransformGate", "drop_path", "highway", "transform_gate"]
