#!/usr/bin/env python3
"""PyTorch + PEFT peer of the peftjs benchmark.

Times the same GPT-2 shape and the same methods as `pnpm bench` (full fine-tuning, LoRA, rsLoRA, DoRA,
prompt tuning, prefix tuning, P-tuning, each with the adapter_config.json our bench wrote) on the same card, and writes the per-method figures
in the shape of `PeerResults` (apps/bench/src/results.ts):

    python3 peer.py --config peer-config.json --out peer-results.json

The model is `GPT2LMHeadModel(GPT2Config(...))` with random init (seeded), float32 with TF32 off (our
WebGPU kernels are plain fp32), dropout 0, attention "eager" by default (the same materialised
softmax(QKᵀ)V our implementation runs; the config may ask for "sdpa"). On cuda when available, else cpu.
Timing follows the bench: the first step alone, warm-up steps excluded, then each step timed to
completion (loss.item() after torch.cuda.synchronize()); percentiles by linear interpolation.
Methods that Hugging Face PEFT lacks (bottleneck adapters) come from bottleneck.py beside this file.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import tempfile
import time
import traceback


def percentile(values, q):
    s = sorted(values)
    rank = q / 100 * (len(s) - 1)
    lo, hi = math.floor(rank), math.ceil(rank)
    return s[lo] + (s[hi] - s[lo]) * (rank - lo)


def summarize(values):
    return {
        "n": len(values),
        "median": percentile(values, 50),
        "p10": percentile(values, 10),
        "p90": percentile(values, 90),
        "mean": sum(values) / len(values),
        "min": min(values),
        "max": max(values),
    }


class Timer:
    def __init__(self, torch, device):
        self.torch = torch
        self.cuda = device.type == "cuda"

    def sync(self):
        if self.cuda:
            self.torch.cuda.synchronize()

    def ms(self, fn):
        self.sync()
        t0 = time.perf_counter()
        out = fn()
        self.sync()
        return (time.perf_counter() - t0) * 1000, out


# --------------------------------------------------------------------------------------------------
# Bottleneck adapters (not in Hugging Face PEFT): AdapterHub's bottleneck adapters as its modeling code
# computes them, from bottleneck.py beside this file (a line-by-line port of adapters' `Adapter`,
# `ParallelAdapter` and `BottleneckLayer`, placed in GPT-2's blocks as adapters' GPT2BlockWithAdapters does).
# Used when a method's config has peft_type "BOTTLENECK"; its fields are AdapterHub's BnConfig names.


def add_bottleneck_adapters(torch, model, cfg):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import bottleneck

    for p in model.parameters():
        p.requires_grad_(False)
    setup = bottleneck.init_adapters(model)
    fields = {**bottleneck.BN_DEFAULTS, **{k: v for k, v in cfg.items() if k in bottleneck.BN_DEFAULTS or k in bottleneck.BN_REQUIRED}}
    bottleneck.add_adapter(model, "default", fields, bottleneck_size=cfg.get("bottleneck_size"))
    setup.active = bottleneck.parse_composition("default")
    return model


# --------------------------------------------------------------------------------------------------


LORA_FIELDS = {
    "r", "lora_alpha", "lora_dropout", "target_modules", "exclude_modules", "fan_in_fan_out", "bias",
    "use_rslora", "use_dora", "init_lora_weights", "layers_to_transform", "layers_pattern",
    "rank_pattern", "alpha_pattern", "modules_to_save",
}


# Prompt-learning methods (@peftjs/prompt-tuning): PEFT's own configs, built from the adapter_config.json our
# bench wrote. That file is written as PEFT saves it (inference_mode true, model dimensions filled in);
# the peer trains, so inference_mode is false, and a TEXT init would need the tokenizer, which the bench
# does not use.
PROMPT_CONFIGS = {"PROMPT_TUNING": "PromptTuningConfig", "PREFIX_TUNING": "PrefixTuningConfig", "P_TUNING": "PromptEncoderConfig"}


def prompt_learning_config(peft, cfg):
    import dataclasses

    cls = getattr(peft, PROMPT_CONFIGS[cfg["peft_type"]])
    names = {f.name for f in dataclasses.fields(cls)} - {"peft_type", "peft_version", "revision", "auto_mapping", "modules_to_save"}
    fields = {k: v for k, v in cfg.items() if k in names and v is not None}
    fields.update(task_type="CAUSAL_LM", inference_mode=False)
    return cls(**fields)


def build_model(torch, transformers, shape, attn, device, seed):
    torch.manual_seed(seed)
    config = transformers.GPT2Config(
        vocab_size=shape["vocabSize"],
        n_positions=shape["nPositions"],
        n_embd=shape["nEmbd"],
        n_layer=shape["nLayer"],
        n_head=shape["nHead"],
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
    )
    # transformers >= 4.36 takes attn_implementation in from_config; older ones read the config field.
    try:
        model = transformers.AutoModelForCausalLM.from_config(config, attn_implementation=attn)
    except TypeError:
        config._attn_implementation = attn
        model = transformers.GPT2LMHeadModel(config)
    return model.to(device=device, dtype=torch.float32)


def wrap_method(torch, peft, model, method):
    """Returns (model, can_merge)."""
    cfg = method.get("peftConfig")
    if method["name"] == "full" or cfg is None:
        for p in model.parameters():
            p.requires_grad_(True)
        return model, False
    peft_type = cfg.get("peft_type")
    if peft_type == "LORA":
        fields = {k: v for k, v in cfg.items() if k in LORA_FIELDS and v is not None}
        fields["task_type"] = "CAUSAL_LM"
        return peft.get_peft_model(model, peft.LoraConfig(**fields)), True
    if peft_type == "BOTTLENECK":
        return add_bottleneck_adapters(torch, model, cfg), False
    if peft_type in PROMPT_CONFIGS:
        return peft.get_peft_model(model, prompt_learning_config(peft, cfg)), False
    raise NotImplementedError(f"peer.py has no implementation of peft_type {peft_type!r} (method {method['name']})")


def count_params(model):
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return {"params": trainable, "total": total, "percent": 100.0 * trainable / total}


def file_bytes(torch, model, is_peft):
    with tempfile.TemporaryDirectory() as d:
        if is_peft:
            model.save_pretrained(d)
            path = os.path.join(d, "adapter_model.safetensors")
        else:
            from safetensors.torch import save_file

            # Like our bench: every trainable tensor (full FT: the whole model, tied weights once).
            seen, tensors = set(), {}
            for name, p in model.named_parameters():
                if p.requires_grad and id(p) not in seen:
                    seen.add(id(p))
                    tensors[name] = p.detach().contiguous().cpu()
            path = os.path.join(d, "model.safetensors")
            save_file(tensors, path)
        return os.path.getsize(path)


def latency(timer, torch, model, ids_by_batch, reps):
    out = {}
    model.eval()
    with torch.no_grad():
        for b, ids in ids_by_batch.items():
            for _ in range(2):  # warm-up (kernel selection, allocator)
                model(input_ids=ids)
            times = [timer.ms(lambda: model(input_ids=ids).logits[:, -1].sum().item())[0] for _ in range(reps)]
            out[f"batch{b}"] = summarize(times)
    model.train()
    return out


def run_method(torch, transformers, peft, cfg, method, device, timer):
    shape, batch, seq = cfg["model"], cfg["batch"], cfg["seq"]
    model = build_model(torch, transformers, shape, cfg.get("attnImplementation", "eager"), device, cfg["seed"])
    model, can_merge = wrap_method(torch, peft, model, method)
    model.train()
    trainable = count_params(model)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=method["learningRate"], weight_decay=cfg.get("weightDecay", 0.0))
    gen = torch.Generator(device="cpu").manual_seed(cfg["seed"])
    ids = torch.randint(0, shape["vocabSize"], (batch, seq), generator=gen).to(device)

    max_norm = cfg.get("maxGradNorm", 1.0)

    def step():
        out = model(input_ids=ids, labels=ids)
        out.loss.backward()
        if max_norm:
            torch.nn.utils.clip_grad_norm_(params, max_norm)  # what transformers' Trainer (and our train()) does
        opt.step()
        opt.zero_grad(set_to_none=True)
        return out.loss.item()

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    first_ms, _ = timer.ms(step)
    for _ in range(cfg["warmupSteps"]):
        timer.ms(step)
    times = [timer.ms(step)[0] for _ in range(cfg["steps"])]
    peak = int(torch.cuda.max_memory_allocated()) if device.type == "cuda" else None
    reserved = int(torch.cuda.max_memory_reserved()) if device.type == "cuda" else None
    stats = summarize(times)
    result = {
        "name": method["name"],
        "config": method.get("config", ""),
        "trainable": trainable,
        "adapterFileBytes": file_bytes(torch, model, isinstance(model, peft.PeftModel)),
        "training": {
            "batch": batch,
            "seq": seq,
            "warmupSteps": cfg["warmupSteps"],
            "firstStepMs": first_ms,
            "stepMs": stats,
            "tokensPerSecond": batch * seq / (stats["median"] / 1000),
            "peakBytes": peak,
            "reservedBytes": reserved,
        },
        "inferenceUnmergedMs": None,
        "inferenceMergedMs": None,
        "merge": None,
        "error": None,
    }
    del opt
    inf_ids = {1: ids[:1], 8: ids[:8] if batch >= 8 else ids[:1].repeat(8, 1)}
    # Full fine-tuning leaves a plain model: its "unmerged" latency is the plain forward, as in the bench.
    result["inferenceUnmergedMs"] = latency(timer, torch, model, inf_ids, cfg["inferenceReps"])
    if can_merge:
        merge_ms, unmerge_ms = [], []
        with torch.no_grad():
            for _ in range(cfg["mergeReps"]):
                merge_ms.append(timer.ms(model.merge_adapter)[0])
                unmerge_ms.append(timer.ms(model.unmerge_adapter)[0])
        model.merge_adapter()
        result["inferenceMergedMs"] = latency(timer, torch, model, inf_ids, cfg["inferenceReps"])
        model.unmerge_adapter()
        result["merge"] = {"mergeMs": summarize(merge_ms), "unmergeMs": summarize(unmerge_ms)}
    del model
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return result


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", required=True, help="peer-config.json written by the bench")
    ap.add_argument("--out", required=True, help="where to write the peer results JSON")
    ap.add_argument("--device", default=None, help="cuda or cpu (default: cuda when available)")
    ap.add_argument("--check", action="store_true", help="only check that torch, transformers and peft import")
    args = ap.parse_args(argv)

    import torch
    import transformers
    import peft

    if args.check:
        print(json.dumps({"torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__, "cuda": torch.cuda.is_available()}))
        return 0

    with open(args.config) as f:
        cfg = json.load(f)
    device = torch.device(args.device or cfg.get("device") or ("cuda" if torch.cuda.is_available() else "cpu"))
    # Plain fp32 matmuls (our WebGPU kernels have no TF32): the new switch (torch >= 2.9), else the old one.
    # (cuDNN's switch does not matter: GPT-2 has no convolutions.)
    try:
        torch.backends.cuda.matmul.fp32_precision = "ieee"
    except (AttributeError, RuntimeError):
        torch.backends.cuda.matmul.allow_tf32 = False
    timer = Timer(torch, device)

    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine()
    results = {
        "schemaVersion": 1,
        "tool": "PyTorch + PEFT",
        "versions": {"python": platform.python_version(), "torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__},
        "device": device.type,
        "deviceName": device_name,
        "dtype": "float32 (TF32 off)",
        "attnImplementation": cfg.get("attnImplementation", "eager"),  # checked against the model below
        "baseInferenceMs": None,
        "methods": [],
    }
    shape, batch, seq = cfg["model"], cfg["batch"], cfg["seq"]
    base = build_model(torch, transformers, shape, results["attnImplementation"], device, cfg["seed"])
    results["attnImplementation"] = getattr(base.config, "_attn_implementation", results["attnImplementation"])
    gen = torch.Generator(device="cpu").manual_seed(cfg["seed"])
    ids = torch.randint(0, shape["vocabSize"], (max(batch, 8), seq), generator=gen).to(device)
    results["baseInferenceMs"] = latency(timer, torch, base, {1: ids[:1], 8: ids[:8]}, cfg["inferenceReps"])
    del base

    for method in cfg["methods"]:
        print(f"[peer] {method['name']} …", file=sys.stderr, flush=True)
        try:
            results["methods"].append(run_method(torch, transformers, peft, cfg, method, device, timer))
        except Exception as e:  # one method failing must not lose the others
            traceback.print_exc()
            results["methods"].append({
                "name": method["name"], "config": method.get("config", ""),
                "trainable": {"params": 0, "total": 0, "percent": 0},
                "adapterFileBytes": None,
                "training": {"batch": batch, "seq": seq, "warmupSteps": cfg["warmupSteps"], "firstStepMs": 0,
                             "stepMs": summarize([0.0]), "tokensPerSecond": 0, "peakBytes": None, "reservedBytes": None},
                "inferenceUnmergedMs": None, "inferenceMergedMs": None, "merge": None,
                "error": f"{type(e).__name__}: {e}",
            })
            if device.type == "cuda":
                torch.cuda.empty_cache()

    tmp = args.out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(results, f, indent=2)
    os.replace(tmp, args.out)
    print(f"[peer] wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
