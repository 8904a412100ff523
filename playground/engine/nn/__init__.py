"""Layers and models, as ``torch.nn``: Module, Parameter, Linear, activations,
Sequential, losses. ``nn.functional`` and ``nn.init`` are the engine's modules of those
names."""

from .. import functional, init
from .layers import (CrossEntropyLoss, Flatten, Identity, Linear, LogSoftmax, MSELoss,
                     NLLLoss, ReLU, Sequential, Sigmoid, Softmax, Tanh)
from .module import IncompatibleKeys, Module
from .parameter import Parameter

__all__ = ["Module", "Parameter", "IncompatibleKeys", "Linear", "ReLU", "Sigmoid", "Tanh",
           "Softmax", "LogSoftmax", "Flatten", "Identity", "Sequential", "CrossEntropyLoss",
           "NLLLoss", "MSELoss", "functional", "init"]
