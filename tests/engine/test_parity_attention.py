"""Parity with PyTorch in float64 for the attention family: scaled_dot_product_attention,
multi_head_attention_forward / nn.MultiheadAttention (padding and attention masks, per-head
weights, cross-attention, kdim/vdim, unbatched), and the Transformer encoder and decoder
layers and stacks (dropout 0), with weights copied in by name both ways. Values and all
gradients agree to 1e-6 relative."""

import itertools
import warnings

import numpy as np
import pytest

from playground.engine import Tensor, functional as F, nn

torch = pytest.importorskip("torch")
TF = torch.nn.functional

RTOL, ATOL = 1e-6, 1e-9


def _close(a, b, msg=""):
    np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL, err_msg=msg)


def _pair(a):
    return Tensor(a.copy(), requires_grad=True), torch.tensor(a, requires_grad=True)


# -- scaled_dot_product_attention ---------------------------------------------------------

SDPA = {
    "plain": ({}, None),
    "causal": ({"is_causal": True}, None),
    "causal_Lq_lt_Lk": ({"is_causal": True}, None),
    "bool_mask": ({}, "bool"),
    "bool_mask_fully_masked_row": ({}, "bool_row"),
    "float_mask_with_grad": ({}, "float"),
    "float_mask_-inf_row": ({}, "float_inf"),
    "scale": ({"scale": 0.25}, None),
    "gqa": ({"enable_gqa": True}, None),
}


@pytest.mark.parametrize("name", list(SDPA))
def test_sdpa_matches_torch(name):
    kw, mask = SDPA[name]
    rng = np.random.default_rng(0)
    hq = 4 if name == "gqa" else 2
    lq = 3 if name == "causal_Lq_lt_Lk" else 4
    q = rng.standard_normal((2, hq, lq, 5))
    k = rng.standard_normal((2, 2, 6, 5))
    v = rng.standard_normal((2, 2, 6, 3))
    ours, theirs = zip(*[_pair(a) for a in (q, k, v)])
    mo = mt = None
    if mask in ("bool", "bool_row"):
        m = rng.random((lq, 6)) < 0.6
        m[:, 0] = True
        if mask == "bool_row":
            m[1] = False
        mo, mt = m, torch.tensor(m)
    elif mask in ("float", "float_inf"):
        m = rng.standard_normal((1, lq, 6))
        if mask == "float_inf":
            m[0, 2] = -np.inf
        mo, mt = _pair(m)
    out_o = F.scaled_dot_product_attention(*ours, attn_mask=mo, **kw)
    out_t = TF.scaled_dot_product_attention(*theirs, attn_mask=mt, **kw)
    _close(out_o.data, out_t.detach().numpy())
    g = rng.standard_normal(out_o.shape)
    out_o.backward(g)
    out_t.backward(torch.tensor(g))
    for a, b in zip(ours, theirs):
        _close(a.grad, b.grad.numpy())
    if mask == "float":
        _close(mo.grad, mt.grad.numpy(), "float mask grad")


# -- nn.MultiheadAttention ---------------------------------------------------------------

MHA = {
    "self": {},
    "batch_first": {"batch_first": True},
    "no_weights": {"need_weights": False},
    "per_head_weights": {"average": False},
    "key_padding_mask": {"kpm": True},
    "key_padding_mask_no_weights": {"kpm": True, "need_weights": False},
    "bool_attn_mask": {"am": "bool"},
    "float_attn_mask_3d_per_head": {"am": "float3d", "average": False},
    "causal_hint": {"am": "causal", "is_causal": True, "need_weights": False},
    "cross": {"cross": True},
    "cross_masks_batch_first": {"cross": True, "kpm": True, "am": "bool",
                                "batch_first": True},
    "kdim_vdim": {"kdim": 5},
    "kdim_vdim_batch_first_no_weights": {"kdim": 5, "batch_first": True,
                                         "need_weights": False},
    "unbatched": {"unbatched": True},
    "unbatched_cross_padding": {"unbatched": True, "cross": True, "kpm": True},
    "no_bias": {"bias": False},
}


@pytest.mark.parametrize("name", list(MHA))
def test_multihead_attention_matches_torch(name):
    o = MHA[name]
    rng = np.random.default_rng(len(name))
    E, h, L, N = 8, 2, 4, 3
    bf, kdim, unb = o.get("batch_first", False), o.get("kdim"), o.get("unbatched", False)
    theirs = torch.nn.MultiheadAttention(E, h, bias=o.get("bias", True), kdim=kdim,
                                         vdim=kdim, batch_first=bf).double()
    ours = nn.MultiheadAttention(E, h, bias=o.get("bias", True), kdim=kdim, vdim=kdim,
                                 batch_first=bf, dtype=np.float64)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict(theirs.state_dict())
    S = 5 if (o.get("cross") or kdim) else L
    kd = kdim or E

    def shape(length, e):
        return (length, e) if unb else ((N, length, e) if bf else (length, N, e))

    q = rng.standard_normal(shape(L, E))
    if o.get("cross") or kdim:
        k = rng.standard_normal(shape(S, kd))
        v = k if o.get("cross") else rng.standard_normal(shape(S, kd))
    else:
        k = v = q
    uniq = {id(a): a for a in (q, k, v)}
    pairs = {i: _pair(a) for i, a in uniq.items()}
    args_o = [pairs[id(a)][0] for a in (q, k, v)]
    args_t = [pairs[id(a)][1] for a in (q, k, v)]
    kw_o, kw_t = {}, {}
    if o.get("kpm"):
        m = rng.random((S,) if unb else (N, S)) < 0.3
        m[..., 0] = False
        kw_o["key_padding_mask"], kw_t["key_padding_mask"] = m, torch.tensor(m)
    am = o.get("am")
    if am == "bool":
        m = rng.random((L, S)) < 0.3
        m[:, 0] = False
        kw_o["attn_mask"], kw_t["attn_mask"] = m, torch.tensor(m)
    elif am == "float3d":
        m = rng.standard_normal((N * h, L, S))
        kw_o["attn_mask"], kw_t["attn_mask"] = m, torch.tensor(m)
    elif am == "causal":
        m = torch.nn.Transformer.generate_square_subsequent_mask(L, dtype=torch.float64)
        kw_o["attn_mask"], kw_t["attn_mask"] = m.numpy(), m
    for kw in (kw_o, kw_t):
        kw.update(need_weights=o.get("need_weights", True),
                  average_attn_weights=o.get("average", True),
                  is_causal=o.get("is_causal", False))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yo, wo = ours(*args_o, **kw_o)
        yt, wt = theirs(*args_t, **kw_t)
    _close(yo.data, yt.detach().numpy(), "output")
    lo = (yo * Tensor(gy := rng.standard_normal(yo.shape))).sum()
    lt = (yt * torch.tensor(gy)).sum()
    if kw_o["need_weights"]:
        assert wo.shape == tuple(wt.shape)
        _close(wo.data, wt.detach().numpy(), "weights")
        gw = rng.standard_normal(wo.shape)
        lo = lo + (wo * Tensor(gw)).sum()
        lt = lt + (wt * torch.tensor(gw)).sum()
    else:
        assert wo is None and wt is None
    lo.backward()
    lt.backward()
    for i, (a, b) in pairs.items():
        _close(a.grad, b.grad.numpy(), "input grad")
    tp = dict(theirs.named_parameters())
    for pname, p in ours.named_parameters():
        _close(p.grad, tp[pname].grad.numpy(), pname)


def test_fully_padded_sequence_gives_nan_weights_like_torch_and_zeros_without():
    rng = np.random.default_rng(0)
    theirs = torch.nn.MultiheadAttention(4, 2).double()
    ours = nn.MultiheadAttention(4, 2, dtype=np.float64)
    ours.load_state_dict(theirs.state_dict())
    x = rng.standard_normal((3, 2, 4))
    kpm = np.array([[False, False, False], [True, True, True]])
    for need in (True, False):
        yo, _ = ours(Tensor(x), Tensor(x), Tensor(x), key_padding_mask=kpm, need_weights=need)
        yt, _ = theirs(*[torch.tensor(x)] * 3, key_padding_mask=torch.tensor(kpm),
                       need_weights=need)
        np.testing.assert_allclose(yo.data, yt.detach().numpy(), rtol=RTOL, atol=ATOL)
        assert np.isnan(yo.data[:, 1]).all() == need


# -- Transformer layers -------------------------------------------------------------------

LAYER_OPTIONS = [{}, {"batch_first": True}, {"norm_first": True}, {"activation": "gelu"},
                 {"bias": False, "batch_first": True}]


def _layers(kind, **kw):
    E, h = 8, 2
    if kind == "encoder":
        return (nn.TransformerEncoderLayer(E, h, 12, 0.0, dtype=np.float64, **kw),
                torch.nn.TransformerEncoderLayer(E, h, 12, 0.0, **kw).double())
    if kind == "decoder":
        return (nn.TransformerDecoderLayer(E, h, 12, 0.0, dtype=np.float64, **kw),
                torch.nn.TransformerDecoderLayer(E, h, 12, 0.0, **kw).double())
    if kind == "encoder_stack":
        return (nn.TransformerEncoder(nn.TransformerEncoderLayer(E, h, 12, 0.0,
                                                                 dtype=np.float64, **kw),
                                      2, norm=nn.LayerNorm(E, dtype=np.float64)),
                torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(E, h, 12, 0.0,
                                                                             **kw),
                                            2, norm=torch.nn.LayerNorm(E),
                                            enable_nested_tensor=False).double())
    return (nn.TransformerDecoder(nn.TransformerDecoderLayer(E, h, 12, 0.0, dtype=np.float64,
                                                             **kw), 2),
            torch.nn.TransformerDecoder(torch.nn.TransformerDecoderLayer(E, h, 12, 0.0, **kw),
                                        2).double())


@pytest.mark.parametrize("kind", ["encoder", "decoder", "encoder_stack", "decoder_stack"])
@pytest.mark.parametrize("options", LAYER_OPTIONS, ids=lambda o: "-".join(o) or "default")
def test_transformer_matches_torch(kind, options):
    rng = np.random.default_rng(5)
    ours, theirs = _layers(kind, **options)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict(theirs.state_dict())
    E, L, S, N = 8, 5, 4, 3
    bf = options.get("batch_first", False)
    x = rng.standard_normal((N, L, E) if bf else (L, N, E))
    mem = rng.standard_normal((N, S, E) if bf else (S, N, E))
    (xo, xt), (mo, mt) = _pair(x), _pair(mem)
    causal = torch.nn.Transformer.generate_square_subsequent_mask(L, dtype=torch.float64)
    kpm = np.zeros((N, L), bool)
    kpm[1, -2:] = True
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if kind == "encoder":
            yo = ours(xo, src_mask=causal.numpy(), src_key_padding_mask=kpm)
            yt = theirs(xt, src_mask=causal, src_key_padding_mask=torch.tensor(kpm))
        elif kind == "encoder_stack":
            yo = ours(xo, mask=causal.numpy(), src_key_padding_mask=kpm)
            yt = theirs(xt, mask=causal, src_key_padding_mask=torch.tensor(kpm))
        else:
            yo = ours(xo, mo, tgt_mask=causal.numpy(), tgt_key_padding_mask=kpm)
            yt = theirs(xt, mt, tgt_mask=causal, tgt_key_padding_mask=torch.tensor(kpm))
    _close(yo.data, yt.detach().numpy(), "output")
    g = rng.standard_normal(yo.shape)
    yo.backward(g)
    yt.backward(torch.tensor(g))
    _close(xo.grad, xt.grad.numpy(), "input grad")
    if kind.startswith("decoder"):
        _close(mo.grad, mt.grad.numpy(), "memory grad")
    tp = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        _close(p.grad, tp[name].grad.numpy(), name)


@pytest.mark.parametrize("kind", ["encoder", "decoder"])
def test_transformer_state_dict_into_torch(kind):
    ours, theirs = _layers(kind)
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    rng = np.random.default_rng(2)
    x, mem = rng.standard_normal((4, 2, 8)), rng.standard_normal((3, 2, 8))
    if kind == "encoder":
        yo, yt = ours(Tensor(x)), theirs(torch.tensor(x))
    else:
        yo, yt = ours(Tensor(x), Tensor(mem)), theirs(torch.tensor(x), torch.tensor(mem))
    _close(yo.data, yt.detach().numpy())


def test_multi_head_attention_forward_functional_matches_torch():
    rng = np.random.default_rng(4)
    E, h = 6, 3
    arrays = [rng.standard_normal(s) for s in [(4, 2, E), (3 * E, E), (3 * E,), (E, E), (E,)]]
    ours, theirs = zip(*[_pair(a) for a in arrays])
    for need, avg in itertools.product([True, False], [True, False]):
        yo, wo = F.multi_head_attention_forward(ours[0], ours[0], ours[0], E, h, ours[1],
                                                ours[2], None, None, False, 0.0, ours[3],
                                                ours[4], need_weights=need,
                                                average_attn_weights=avg)
        yt, wt = TF.multi_head_attention_forward(theirs[0], theirs[0], theirs[0], E, h,
                                                 theirs[1], theirs[2], None, None, False,
                                                 0.0, theirs[3], theirs[4],
                                                 need_weights=need, average_attn_weights=avg)
        _close(yo.data, yt.detach().numpy())
        if need:
            _close(wo.data, wt.detach().numpy())
