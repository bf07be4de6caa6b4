"""Writes the tiny transformers fixtures of the LLaMA-style families and RoPE variants that
@peftjs/models' tests load (test/fixtures/families/<name>/).

Usage: python3 make_family_fixtures.py OUTDIR

The issue asks for these to be made "on the GPU host"; this session had no GPU, so they were made on CPU
with the same library versions (torch 2.13 CPU, transformers 5.17; /work/pyref/bin/python). Nothing here
depends on the device: float32, eager attention, fixed seeds.

Each case builds a tiny random-init model with transformers (hidden 32, 2 layers, vocab 96), adds noise to
every 1-D parameter (norm weights and biases would otherwise sit at 1 or 0 and hide a swapped or ignored
one), saves it with save_pretrained (in the case's dtype: float32, bfloat16 or float16; sharded for one),
then reloads the saved folder in float32 and computes from that copy, so the numbers are those of the
weights on disk:

    OUTDIR/<name>/config.json, model.safetensors (or shards + index), expected.json

expected.json: make_fixtures.py's format ({"model_type", "architecture", "cases": [plain, padded (row 1
right-padded)], "generate": [...]}) where each generate entry also has "attention_mask" (or null; the
second entry is a left-padded batch of two) and "tokens_no_cache" (transformers' greedy tokens with
use_cache=False). Greedy generation runs on a freshly loaded model each time: transformers' dynamic RoPE
keeps state between calls (it recomputes inv_freq only when the sequence grows), which a fresh model
starts from the same point as ours.

Phi-3 with LongRoPE: transformers 5.17's Phi3ForCausalLM.prepare_inputs_for_generation drops the KV cache
when the sequence first passes original_max_position_embeddings (to recompute it with the long factors),
but the generic prepare_inputs_for_generation then feeds only the newest token, so every later step sees
one token without context (checked here: model.forward gets input_ids [1, 1] and past_key_values None from
that step on). That is a transformers bug, not behaviour to copy: the phi3_longrope prompts are longer than
original_max_position_embeddings, so the switch happens in the prompt's forward pass and no cache is
dropped. peftjs's Phi-3 recomputes the whole sequence at the switch (what transformers means to do).

Logits are written with 9 significant digits (float32 has ~7) to keep the files small.
"""

import json
import os
import shutil
import sys

import torch
import transformers
from transformers import AutoConfig, AutoModelForCausalLM

VOCAB = 96
SEQ = 7
HIDDEN = 32
EOS = VOCAB - 1


def base(**kw):
    cfg = dict(
        vocab_size=VOCAB,
        hidden_size=HIDDEN,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=64,
        initializer_range=0.2,
        bos_token_id=1,
        eos_token_id=EOS,
        pad_token_id=0,
    )
    cfg.update(kw)
    return cfg


# name: (model_type, config fields, save dtype, save kwargs, notes)
CASES = {
    "llama_linear": ("llama", base(tie_word_embeddings=False, rope_parameters={"rope_type": "linear", "factor": 2.0, "rope_theta": 10000.0}), "float32", {}, "RoPE linear scaling"),
    "llama_dynamic": (
        "llama",
        base(max_position_embeddings=4, rope_parameters={"rope_type": "dynamic", "factor": 2.0, "rope_theta": 10000.0}),
        "float32",
        {},
        "dynamic NTK RoPE; max_position_embeddings 4 < the sequences, so θ is rescaled",
    ),
    "llama_llama3": (
        "llama",
        base(rope_parameters={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 16, "rope_theta": 10000.0}),
        "float32",
        {},
        "Llama 3.1 RoPE (one low, one medium-smoothed and two high frequencies at head_dim 8)",
    ),
    "llama_yarn": (
        "llama",
        base(rope_parameters={"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 16, "rope_theta": 10000.0}),
        "float32",
        {},
        "YaRN RoPE with the default attention factor 0.1·ln(4) + 1",
    ),
    "llama_tied_bf16": ("llama", base(tie_word_embeddings=True, num_key_value_heads=1), "bfloat16", {}, "tied embeddings, bfloat16 checkpoint, MQA"),
    "qwen2": (
        "qwen2",
        base(tie_word_embeddings=True, use_sliding_window=True, sliding_window=4, max_window_layers=1, rope_parameters={"rope_type": "default", "rope_theta": 1000000.0}),
        "float32",
        {},
        "q/k/v biases (o without), tied embeddings, layer 1 sliding (window 4)",
    ),
    "qwen3": ("qwen3", base(head_dim=16, tie_word_embeddings=False, rope_parameters={"rope_type": "default", "rope_theta": 1000000.0}), "float16", {}, "q/k norms, head_dim 16 ≠ 32/4, float16 checkpoint"),
    "mistral": ("mistral", base(sliding_window=4, tie_word_embeddings=False), "float32", {"max_shard_size": "20KB"}, "sliding-window attention (4) on every layer, sharded folder"),
    "gemma2": (
        "gemma2",
        base(head_dim=8, query_pre_attn_scalar=16, sliding_window=4, attn_logit_softcapping=2.0, final_logit_softcapping=3.0, hidden_activation="gelu_pytorch_tanh"),
        "float32",
        {},
        "GeGLU, √hidden embedding scale, RMSNorm (1 + w), sandwich norms, attention/final soft-capping (2, 3), alternating sliding (4)/full layers, tied",
    ),
    "gemma3_text": (
        "gemma3_text",
        base(
            head_dim=8,
            query_pre_attn_scalar=16,
            sliding_window=4,
            layer_types=["sliding_attention", "full_attention"],
            rope_parameters={"sliding_attention": {"rope_type": "default", "rope_theta": 10000.0}, "full_attention": {"rope_type": "linear", "factor": 2.0, "rope_theta": 1000000.0}},
            final_logit_softcapping=3.0,
        ),
        "float32",
        {},
        "q/k norms (1 + w), local θ 1e4 on the sliding layer, linear-scaled θ 1e6 on the full layer, final soft-capping",
    ),
    "phi3": (
        "phi3",
        base(num_key_value_heads=2, partial_rotary_factor=0.5, sliding_window=5, original_max_position_embeddings=64, rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": 0.5}),
        "float32",
        {},
        "fused qkv_proj / gate_up_proj, partial_rotary_factor 0.5, sliding window 5",
    ),
    "phi3_longrope": (
        "phi3",
        base(
            max_position_embeddings=16,
            original_max_position_embeddings=4,
            rope_parameters={"rope_type": "longrope", "rope_theta": 10000.0, "short_factor": [1.0, 1.1, 1.3, 1.6], "long_factor": [1.0, 2.0, 4.0, 8.0]},
        ),
        "float32",
        {},
        "LongRoPE: original length 4, so the sequences use long_factor; attention factor √(1 + ln 4 / ln 4)",
    ),
}


def perturb_vectors(model, gen):
    with torch.no_grad():
        for _, p in model.named_parameters():
            if p.ndim == 1:
                p.add_(0.1 * torch.randn(p.shape, generator=gen))


def rounded(t):
    return [float(f"{x:.9g}") for x in t.detach().double().flatten().tolist()]


def nest(flat, shape):
    if len(shape) == 1:
        return flat
    step = len(flat) // shape[0]
    return [nest(flat[i * step : (i + 1) * step], shape[1:]) for i in range(shape[0])]


def run_case(model, name, input_ids, attention_mask=None, labels=None):
    kwargs = {"input_ids": input_ids}
    if attention_mask is not None:
        kwargs["attention_mask"] = attention_mask
    if labels is not None:
        kwargs["labels"] = labels
    with torch.no_grad():
        out = model(**kwargs)
    return {
        "name": name,
        "input_ids": input_ids.tolist(),
        "attention_mask": None if attention_mask is None else attention_mask.tolist(),
        "token_type_ids": None,
        "labels": None if labels is None else labels.tolist(),
        "logits": nest(rounded(out.logits), list(out.logits.shape)),
        "loss": None if out.loss is None else float(out.loss),
    }


def load(path):
    return AutoModelForCausalLM.from_pretrained(path, attn_implementation="eager", dtype=torch.float32).eval()


def greedy(path, input_ids, attention_mask, max_new_tokens=8):
    result = {"input_ids": input_ids.tolist(), "attention_mask": None if attention_mask is None else attention_mask.tolist(), "max_new_tokens": max_new_tokens, "eos_token_id": EOS}
    for key, use_cache in (("tokens", True), ("tokens_no_cache", False)):
        model = load(path)  # fresh: dynamic RoPE state starts over
        mask = attention_mask if attention_mask is not None else torch.ones_like(input_ids)
        with torch.no_grad():
            tokens = model.generate(input_ids, attention_mask=mask, max_new_tokens=max_new_tokens, do_sample=False, eos_token_id=EOS, pad_token_id=0, use_cache=use_cache)
        result[key] = tokens.tolist()
    return result


# Prompts longer than the LongRoPE original length (4) for phi3_longrope; see the module notes.
PROMPTS = {
    "phi3_longrope": ([[5, 17, 42, 9, 33]], [[0, 0, 5, 17, 42, 9], [7, 33, 64, 12, 8, 3]], [[0, 0, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1]]),
}


def make_case(out, name, spec, gen):
    model_type, fields, dtype, save_kwargs, notes = spec
    config = AutoConfig.for_model(model_type, **fields)
    model = AutoModelForCausalLM.from_config(config, attn_implementation="eager").float().eval()
    perturb_vectors(model, gen)
    path = os.path.join(out, name)
    if os.path.exists(path):
        shutil.rmtree(path)
    model.to(getattr(torch, dtype)).save_pretrained(path, **save_kwargs)
    if save_kwargs and not os.path.exists(os.path.join(path, "model.safetensors.index.json")):
        raise SystemExit(f"{name}: save_pretrained wrote no index; lower max_shard_size")
    model = load(path)

    input_ids = torch.randint(2, VOCAB - 1, (2, SEQ), generator=gen)
    labels = input_ids.clone()
    labels[0, 2] = -100
    mask = torch.ones(2, SEQ, dtype=torch.long)
    mask[1, SEQ - 2 :] = 0
    padded_labels = labels.clone()
    padded_labels[1, SEQ - 2 :] = -100
    prompt, left, left_m = PROMPTS.get(name, ([[5, 17, 42]], [[0, 0, 5, 17], [7, 33, 64, 12]], [[0, 0, 1, 1], [1, 1, 1, 1]]))
    left_ids = torch.tensor(left)
    left_mask = torch.tensor(left_m)
    expected = {
        "model_type": model_type,
        "architecture": type(model).__name__,
        "notes": notes,
        "saved_dtype": dtype,
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
        "cases": [run_case(model, "plain", input_ids, labels=labels), run_case(model, "padded", input_ids, attention_mask=mask, labels=padded_labels)],
        "generate": [greedy(path, torch.tensor(prompt), None), greedy(path, left_ids, left_mask)],
    }
    with open(os.path.join(path, "expected.json"), "w") as f:
        json.dump(expected, f)
    # generation_config.json is not read here; leave it out to keep the fixtures small.
    gc = os.path.join(path, "generation_config.json")
    if os.path.exists(gc):
        os.remove(gc)


def main():
    if len(sys.argv) not in (2, 3):
        raise SystemExit("usage: python3 make_family_fixtures.py OUTDIR [CASE]")
    out = sys.argv[1]
    only = sys.argv[2] if len(sys.argv) == 3 else None
    os.makedirs(out, exist_ok=True)
    for i, (name, spec) in enumerate(CASES.items()):
        if only is not None and name != only:
            continue
        torch.manual_seed(100 + i)
        make_case(out, name, spec, torch.Generator().manual_seed(2000 + i))
        print(f"wrote {name}")
    total = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(out) for f in fs)
    print(f"fixtures in {out}: {total / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
