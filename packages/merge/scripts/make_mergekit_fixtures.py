"""mergekit reference results for @peftjs/merge's model-merge tests, re-derived in float64.

Usage: /work/pyref/bin/python make_mergekit_fixtures.py OUTDIR

mergekit itself cannot be installed here (no PyPI access this session), so this script re-derives its
results in float64 torch, transcribing mergekit's code (github.com/arcee-ai/mergekit at a6e4028):
  - mergekit/config.py            evaluate_setting (scalars, gradients, filters), t = layer / (layers - 1)
  - merge_methods/generalized_task_arithmetic.py  GTATask.execute, get_mask (ties, dare_ties)
  - sparsify.py                   magnitude (dare_ties at density 1 drops nothing)
  - merge_methods/slerp.py        slerp (lerp when |dot| > 0.9995)
  - merge_methods/model_stock.py  ModelStockMergeTask.execute (filter_wise false)

Makes four tiny GPT-2-shaped checkpoints (transformers GPT2LMHeadModel, n_embd 16, 2 layers, vocab 64):
base, ft_a, ft_b, ft_c (base + random offsets of different sizes, so that signs and magnitudes disagree),
saved as HF folders; then for every OUTDIR/*.yaml config (committed beside them) the float64 result,
saved as OUTDIR/expected/<config>.safetensors (float64 rounded to F32).
"""

import glob
import json
import math
import os
import sys

import torch
import yaml
from safetensors.torch import load_file, save_file


def make_checkpoints(out):
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    cfg = GPT2Config(vocab_size=64, n_positions=32, n_embd=16, n_layer=2, n_head=2, bos_token_id=0, eos_token_id=0)
    base = GPT2LMHeadModel(cfg)
    base.save_pretrained(os.path.join(out, "base"))
    sd = {k: v.clone() for k, v in base.state_dict().items()}
    for i, (name, scale) in enumerate([("ft_a", 0.02), ("ft_b", 0.05), ("ft_c", 0.01)]):
        g = torch.Generator().manual_seed(10 + i)
        model = GPT2LMHeadModel(cfg)
        with torch.no_grad():
            for k, p in model.state_dict().items():
                if k in sd and p.dtype == torch.float32:
                    p.copy_(sd[k] + scale * torch.randn(p.shape, generator=g) + (0.003 * (i - 1)))
        model.save_pretrained(os.path.join(out, name))


def evaluate_setting(tensor_name, setting, t=0.0):
    # mergekit config.py evaluate_setting
    if isinstance(setting, (float, int, bool, str)):
        return setting
    if isinstance(setting, list):
        if all(isinstance(e, (int, float)) for e in setting):
            scaled = t * (len(setting) - 1)
            i0 = int(scaled)
            i1 = min(len(setting) - 1, i0 + 1)
            frac = scaled - i0
            return (1 - frac) * setting[i0] + frac * setting[i1]
        for cond in setting:
            f = cond.get("filter")
            if f is None or f == "*" or (tensor_name and f in tensor_name):
                return evaluate_setting(tensor_name, cond["value"], t)
    return None


def layer_t(name, num_layers):
    import re

    m = re.search(r"(?:^|\.)(?:h|layers)\.(\d+)\.", name)
    if m is None or num_layers <= 1:
        return 0.0
    return int(m.group(1)) / (num_layers - 1)


def param(cfg, model_entry, name, tensor, t, default=None):
    if model_entry is not None:
        p = (model_entry.get("parameters") or {}).get(name)
        if p is not None:
            v = evaluate_setting(tensor, p, t)
            if v is not None:
                return v
    p = (cfg.get("parameters") or {}).get(name)
    if p is not None:
        v = evaluate_setting(tensor, p, t)
        if v is not None:
            return v
    return default


def magnitude(tensor, density):
    # mergekit sparsify.magnitude
    if density >= 1:
        return tensor
    k = int(density * tensor.numel())
    mask = torch.zeros_like(tensor)
    w = tensor.abs().view(-1)
    topk = torch.argsort(w, descending=True)[:k]
    mask.view(-1)[topk] = 1
    return tensor * mask


def get_mask(delta, method="sum"):
    sign = delta.sign()
    if method == "sum":
        majority = (delta.sum(dim=0) >= 0).to(delta.dtype) * 2 - 1
    else:
        majority = (sign.sum(dim=0) >= 0).to(delta.dtype) * 2 - 1
    return sign == majority


def gta(base, tvs, consensus, normalize, lam=1.0):
    # GTATask.execute (sparsification already applied)
    deltas = torch.stack([tv["delta"] for tv in tvs], dim=0)
    weights = torch.tensor([tv["weight"] for tv in tvs], dtype=deltas.dtype)
    while len(deltas.shape) > len(weights.shape):
        weights.unsqueeze_(-1)
    wd = deltas * weights
    if consensus:
        mask = get_mask(wd, "sum").to(deltas.dtype)
        mixed = (wd * mask).sum(dim=0)
        divisor = (weights * mask).sum(dim=0)
        divisor[divisor == 0] = 1
    else:
        mixed = wd.sum(dim=0)
        divisor = weights.sum(dim=0)
        divisor[divisor.abs() < 1e-8] = 1
    if normalize:
        mixed = mixed / divisor
    if lam != 1:
        mixed = mixed * lam
    return base + mixed


def slerp(t, v0, v1, DOT_THRESHOLD=0.9995, eps=1e-8):
    v0c, v1c = v0.clone(), v1.clone()
    n0, n1 = v0.norm(), v1.norm()
    if n0 > eps:
        v0 = v0 / n0
    if n1 > eps:
        v1 = v1 / n1
    dot = (v0 * v1).sum()
    if dot.abs() > DOT_THRESHOLD:
        return (1 - t) * v0c + t * v1c
    theta0 = torch.arccos(dot)
    s0 = torch.sin(theta0 - theta0 * t) / torch.sin(theta0)
    s1 = torch.sin(theta0 * t) / torch.sin(theta0)
    return s0 * v0c + s1 * v1c


def model_stock(w0, ws):
    shape = w0.shape
    w0 = w0.view(-1)
    ws = [w.view(-1) for w in ws]
    offsets = [w - w0 for w in ws]
    cos = []
    for i in range(len(offsets)):
        for j in range(i + 1, len(offsets)):
            npd = offsets[i].norm(dim=-1) * offsets[j].norm(dim=-1)
            cos.append(((offsets[i] * offsets[j]).sum(dim=-1) / npd.clamp(min=1e-6)).clamp(-1, 1))
    c = torch.stack(cos).mean(dim=0).unsqueeze(-1)
    n = len(ws)
    t = (n * c) / (1 + (n - 1) * c)
    avg = sum(ws) / n
    return (t * avg + (1 - t) * w0).reshape(shape)


def run_config(root, path):
    with open(path) as f:
        cfg = yaml.safe_load(f)
    method = cfg["merge_method"]
    load = lambda ref: {k: v.to(torch.float64) for k, v in load_file(os.path.join(root, ref, "model.safetensors")).items()}
    base_ref = cfg.get("base_model")
    base = load(base_ref)
    entries = [m for m in cfg["models"] if m["model"] != base_ref]
    models = [load(m["model"]) for m in entries]
    layers = json.load(open(os.path.join(root, base_ref, "config.json")))["n_layer"]
    out = {}
    for name, b in base.items():
        t = layer_t(name, layers)
        if method in ("ties", "dare_ties"):
            tvs = []
            for m, e in zip(models, entries):
                density = param(cfg, e, "density", name, t, 1.0)
                delta = m[name] - b
                if method == "ties":
                    delta = magnitude(delta, density)
                else:
                    assert density >= 1, "dare_ties reference only at density 1 (no randomness)"
                tvs.append({"delta": delta, "weight": param(cfg, e, "weight", name, t)})
            normalize = param(cfg, None, "normalize", name, t, method == "ties")
            out[name] = gta(b, tvs, True, normalize, param(cfg, None, "lambda", name, t, 1.0))
        elif method == "slerp":
            out[name] = slerp(param(cfg, entries[0], "t", name, t), b, models[0][name])
        elif method == "model_stock":
            out[name] = model_stock(b, [m[name] for m in models])
        else:
            raise ValueError(method)
    return {k: v.to(torch.float32).contiguous() for k, v in out.items()}


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    if not os.path.exists(os.path.join(out, "base")):
        make_checkpoints(out)
    os.makedirs(os.path.join(out, "expected"), exist_ok=True)
    for path in sorted(glob.glob(os.path.join(out, "reference_*.yaml"))):
        name = os.path.splitext(os.path.basename(path))[0]
        save_file(run_config(out, path), os.path.join(out, "expected", name + ".safetensors"), metadata={"format": "pt"})
        print("wrote", name)


if __name__ == "__main__":
    main()
