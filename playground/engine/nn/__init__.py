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

# -- the other families, one module each; their public names join this namespace --------
from . import activation as _activation  # noqa: E402
from . import attention as _attention  # noqa: E402
from . import conv as _conv  # noqa: E402
from . import loss as _loss  # noqa: E402
from . import norm as _norm  # noqa: E402
from . import recurrent as _recurrent  # noqa: E402
from . import seq_attention as _seq_attention  # noqa: E402
from . import utils  # noqa: E402,F401  (nn.utils.clip_grad_norm_, as in torch)

for _family in (_conv, _norm, _recurrent, _attention, _seq_attention, _activation, _loss):
    globals().update({_name: getattr(_family, _name) for _name in _family.__all__})
    __all__ += _family.__all__
del _family
