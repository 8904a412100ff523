"""The node types of the canvas, one declarative :class:`~playground.graph.spec.NodeSpec`
each, one module per palette category (importing this package registers them all, in
palette order):

=============  ==========================================================================
data           Dataset, Input, ShiftRight (regression: Regression)
layers         Linear, Embedding, Flatten, Dropout, Identity
conv           Conv2d, ConvTranspose2d, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d
recurrent      RNN, LSTM, GRU
attention      MultiheadAttention, ScaledDotProductAttention, TransformerEncoderLayer,
               TransformerDecoderLayer, CausalMask, SinusoidalTable
norm           BatchNorm1d, BatchNorm2d, LayerNorm
activations    ReLU, Sigmoid, Tanh, Softmax, LogSoftmax, LeakyReLU, ELU, GELU, GLU, Softplus
math           Add, Multiply, Concat, Chunk, Reshape, Permute, MatMul, Mean, Scale, Subtract
losses         CrossEntropyLoss, NLLLoss, MSELoss, L1Loss, SmoothL1Loss, BCELoss,
               BCEWithLogitsLoss, KLDivLoss, GaussianKL
generative     Reparameterize, NoiseSource
seq2seq        AdditiveAttention, LuongAttention (attention of recurrent encoder-decoders)
word2vec       NegativeSamplingLoss (skip-gram's loss, with the context embedding table)
primitives     Log, Exp, Pow, Parameter, Constant (Math: a model from single operations)
optimization   TestFunction (a loss), GradientNoise (its data): optimizers on a landscape
=============  ==========================================================================

Every message a spec raises says what it expected, what it got and from where, and one fix.
The inference pass prefixes it with the node's type and name ("Linear 'fc2' ...").
"""

from . import data, layers, conv, recurrent, attention, norm, activations  # noqa: F401
from . import math, losses, generative  # noqa: F401
from . import seq2seq  # noqa: F401  (AdditiveAttention, LuongAttention)
from . import word2vec  # noqa: F401  (NegativeSamplingLoss)
from . import primitives, regression  # noqa: F401  (Log, Exp, Pow, Parameter, Constant; Regression)
from . import optimization  # noqa: F401  (TestFunction, GradientNoise: optimizers on a landscape)
from .data import dataset_of, load_dataset

__all__ = ["load_dataset", "dataset_of"]
