"""Make Python-PEFT LoRA fixtures for @peftjs/lora's cross-check tests.

Usage: python3 make_fixtures.py OUTDIR

Builds tiny random transformers models (fixed seeds, float32, eager attention, CPU), saves each with
`save_pretrained(OUTDIR/base_<arch>)`, then makes PEFT LoRA adapters on them, saved with
`PeftModel.save_pretrained(OUTDIR/<case>)` (adapter_config.json + adapter_model.safetensors), and writes
`OUTDIR/<case>/expected.json`:

  case, base (the base folder name), arch, task ("CAUSAL_LM" | "SEQ_CLS"), input_ids, attention_mask,
  logits          the adapted model's logits (eval mode, adapter active, unmerged)
  merged_logits   the logits after `merge_and_unload()`
  base_logits     the base model's logits before any PEFT change
  versions        torch / transformers / peft versions
  notes           what the case exercises

Bases:
  base_gpt2   GPT2LMHeadModel     n_embd 32, 2 layers, 2 heads, vocab 96 (Conv1D layers, tied lm_head)
  base_llama  LlamaForCausalLM    hidden 32, 2 layers, 4 heads / 2 kv heads, intermediate 64, vocab 96
  base_bert   BertForSequenceClassification  hidden 32, 2 layers, 4 heads, intermediate 64, vocab 96, 3 labels

Cases (adapter name "default"; B and DoRA magnitudes are perturbed after creation so that every adapter is
non-trivial, as if trained):
  gpt2_lora         LoRA r=4 alpha=8 on c_attn, c_proj, c_fc (Conv1D, fan_in_fan_out), dropout 0.1
  llama_rslora      rsLoRA r=4 alpha=8 on q/k/v/o_proj, rank_pattern {"o_proj": 2,
                    "model.layers.1.self_attn.k_proj": 6}, alpha_pattern {"v_proj": 16}
  llama_dora        DoRA r=4 alpha=8 on q_proj, v_proj, up_proj (magnitudes perturbed)
  llama_embedding   LoRA r=4 alpha=4 on embed_tokens (Embedding) + q_proj, modules_to_save ["lm_head"]
                    (PEFT also saves embed_tokens' base weight, as save_embedding_layers="auto" does)
  gpt2_bias_all     LoRA r=2 on c_attn with bias="all" (every bias perturbed and saved)
  bert_lora_only    SEQ_CLS LoRA r=4 on query, value with bias="lora_only", modules_to_save ["classifier"]
  gpt2_dora_conv1d  DoRA r=4 on c_attn, c_fc (Conv1D layout + DoRA)
  llama_dora_embedding  DoRA r=4 on embed_tokens and v_proj

PiSSA references (no adapter folder, expected.json only):
  pissa_llama  init_lora_weights="pissa" r=4 on model.layers.0.self_attn.q_proj (torch Linear [out, in])
  pissa_gpt2   init_lora_weights="pissa" r=4 on transformer.h.0.attn.c_attn (Conv1D [in, out])
  each: layer, r, lora_alpha, scaling, weight (original, in the layer's own layout), residual_weight (W after
  PiSSA), delta (scaling * B @ A in [out, in]); sign-independent, so they check any SVD implementation.

Deterministic (fixed seeds), CPU-only, a few hundred KB in all.
"""

import json
import math
import os
import sys

import torch


SEED = 1234
VOCAB = 96
INPUT_IDS = [[5, 17, 42, 3, 88, 61, 9], [71, 2, 33, 95, 14, 50, 27]]


def from_config(auto_cls, config):
    # transformers >= 4.36 accepts attn_implementation here; eager attention for exact, portable maths.
    try:
        return auto_cls.from_config(config, attn_implementation="eager")
    except TypeError:
        config._attn_implementation = "eager"
        return auto_cls.from_config(config)


def make_base(arch: str):
    from transformers import (
        AutoModelForCausalLM,
        AutoModelForSequenceClassification,
        BertConfig,
        GPT2Config,
        LlamaConfig,
    )

    torch.manual_seed(SEED)
    if arch == "gpt2":
        config = GPT2Config(
            vocab_size=VOCAB,
            n_positions=64,
            n_embd=32,
            n_layer=2,
            n_head=2,
            initializer_range=0.1,
            resid_pdrop=0.0,
            embd_pdrop=0.0,
            attn_pdrop=0.0,
        )
        model = from_config(AutoModelForCausalLM, config)
    elif arch == "llama":
        config = LlamaConfig(
            vocab_size=VOCAB,
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=64,
            initializer_range=0.1,
            tie_word_embeddings=False,
        )
        model = from_config(AutoModelForCausalLM, config)
    elif arch == "bert":
        config = BertConfig(
            vocab_size=VOCAB,
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=4,
            intermediate_size=64,
            max_position_embeddings=64,
            type_vocab_size=2,
            num_labels=3,
            initializer_range=0.1,
            hidden_dropout_prob=0.0,
            attention_probs_dropout_prob=0.0,
        )
        model = from_config(AutoModelForSequenceClassification, config)
    else:
        raise ValueError(arch)
    model = model.to(torch.float32)
    # Make LayerNorm / RMSNorm weights and biases non-trivial so that a wrong norm or a dropped bias shows.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if ("norm" in name.lower() or "ln_" in name) and name.endswith("weight"):
                p.add_(0.1 * torch.randn_like(p))
            if name.endswith("bias"):
                p.add_(0.05 * torch.randn_like(p))
    model.eval()
    return model


def load_base(out, arch):
    """Reload the saved base so that every case starts from exactly the float32 weights on disk."""
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    auto_cls = AutoModelForSequenceClassification if arch == "bert" else AutoModelForCausalLM
    path = os.path.join(out, f"base_{arch}")
    try:
        model = auto_cls.from_pretrained(path, attn_implementation="eager", dtype=torch.float32)
    except TypeError:
        model = auto_cls.from_pretrained(path, attn_implementation="eager", torch_dtype=torch.float32)
    return model.eval()


def logits_of(model, input_ids, attention_mask):
    model.eval()
    with torch.no_grad():
        out = model(input_ids=input_ids, attention_mask=attention_mask)
    return out.logits.detach().to(torch.float64).tolist()


def perturb_lora(model, adapter_name="default", std=0.1):
    """Give every LoRA B (and DoRA magnitude) non-zero values, as training would."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if f"lora_B.{adapter_name}" in name or f"lora_embedding_A.{adapter_name}" in name:
                p.copy_(std * torch.randn_like(p))
            elif f"lora_magnitude_vector.{adapter_name}" in name:
                p.mul_(1.0 + 0.2 * torch.randn_like(p))


def versions():
    import peft
    import transformers

    return {"torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__}


def write_json(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f)
    os.replace(tmp, path)


CASES = {
    "gpt2_lora": dict(
        arch="gpt2",
        task="CAUSAL_LM",
        config=dict(r=4, lora_alpha=8, lora_dropout=0.1, target_modules=["c_attn", "c_proj", "c_fc"], fan_in_fan_out=True),
        notes="LoRA on GPT-2 Conv1D layers (fan_in_fan_out), several targets, non-zero B",
    ),
    "llama_rslora": dict(
        arch="llama",
        task="CAUSAL_LM",
        config=dict(
            r=4,
            lora_alpha=8,
            use_rslora=True,
            target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
            rank_pattern={"o_proj": 2, "model.layers.1.self_attn.k_proj": 6},
            alpha_pattern={"v_proj": 16},
        ),
        notes="rsLoRA (alpha/sqrt(r)) with rank_pattern and alpha_pattern",
    ),
    "llama_dora": dict(
        arch="llama",
        task="CAUSAL_LM",
        config=dict(r=4, lora_alpha=8, use_dora=True, target_modules=["q_proj", "v_proj", "up_proj"]),
        notes="DoRA on torch Linear layers, B and magnitude perturbed",
    ),
    "llama_embedding": dict(
        arch="llama",
        task="CAUSAL_LM",
        config=dict(r=4, lora_alpha=4, target_modules=["embed_tokens", "q_proj"], modules_to_save=["lm_head"]),
        perturb_modules_to_save=True,
        notes="LoRA on an Embedding (lora_embedding_A/B) and a Linear; lm_head in modules_to_save",
    ),
    "gpt2_bias_all": dict(
        arch="gpt2",
        task="CAUSAL_LM",
        config=dict(r=2, lora_alpha=4, target_modules=["c_attn"], bias="all", fan_in_fan_out=True),
        perturb_biases=True,
        notes='bias="all": every bias in the model is trainable and saved (perturbed here)',
    ),
    "bert_lora_only": dict(
        arch="bert",
        task="SEQ_CLS",
        config=dict(
            r=4,
            lora_alpha=8,
            target_modules=["query", "value"],
            bias="lora_only",
            modules_to_save=["classifier"],
            task_type="SEQ_CLS",
        ),
        perturb_biases=True,
        perturb_modules_to_save=True,
        notes='SEQ_CLS, bias="lora_only" (biases of wrapped layers saved), classifier in modules_to_save',
    ),
    "gpt2_dora_conv1d": dict(
        arch="gpt2",
        task="CAUSAL_LM",
        config=dict(r=4, lora_alpha=8, use_dora=True, target_modules=["c_attn", "c_fc"], fan_in_fan_out=True),
        notes="DoRA on Conv1D layers (fan_in_fan_out)",
    ),
    "llama_dora_embedding": dict(
        arch="llama",
        task="CAUSAL_LM",
        config=dict(r=4, lora_alpha=8, use_dora=True, target_modules=["embed_tokens", "v_proj"]),
        notes="DoRA on an Embedding and a Linear",
    ),
}


def perturb_biases(model, bias_mode):
    from peft.tuners.tuners_utils import BaseTunerLayer

    with torch.no_grad():
        if bias_mode == "all":
            for name, p in model.named_parameters():
                if name.endswith(".bias") and p.requires_grad:
                    p.add_(0.1 * torch.randn_like(p))
        else:
            for _, m in model.named_modules():
                if isinstance(m, BaseTunerLayer):
                    b = getattr(m.get_base_layer(), "bias", None)
                    if b is not None:
                        b.add_(0.1 * torch.randn_like(b))


def perturb_modules_to_save(model):
    with torch.no_grad():
        for name, p in model.named_parameters():
            if ".modules_to_save.default." in name:
                p.add_(0.1 * torch.randn_like(p))


def make_case(out, name, spec):
    from peft import LoraConfig, get_peft_model

    arch = spec["arch"]
    model = load_base(out, arch)
    input_ids = torch.tensor(INPUT_IDS, dtype=torch.long)
    attention_mask = torch.ones_like(input_ids)
    base_logits = logits_of(model, input_ids, attention_mask)

    torch.manual_seed(SEED + 1 + sorted(CASES).index(name))
    config = LoraConfig(**spec["config"])
    peft_model = get_peft_model(model, config)
    perturb_lora(peft_model)
    if spec.get("perturb_biases"):
        perturb_biases(peft_model, spec["config"]["bias"])
    if spec.get("perturb_modules_to_save"):
        perturb_modules_to_save(peft_model)
    peft_model.eval()
    logits = logits_of(peft_model, input_ids, attention_mask)

    case_dir = os.path.join(out, name)
    peft_model.save_pretrained(case_dir)

    merged = peft_model.merge_and_unload()
    merged_logits = logits_of(merged, input_ids, attention_mask)

    write_json(
        os.path.join(case_dir, "expected.json"),
        {
            "case": name,
            "base": f"base_{arch}",
            "arch": arch,
            "task": spec["task"],
            "input_ids": INPUT_IDS,
            "attention_mask": attention_mask.tolist(),
            "logits": logits,
            "merged_logits": merged_logits,
            "base_logits": base_logits,
            "versions": versions(),
            "notes": spec["notes"],
        },
    )
    print(f"wrote {case_dir}")


def make_pissa(out, name, arch, layer_path, r, lora_alpha):
    from peft import LoraConfig, get_peft_model

    model = load_base(out, arch)
    base_layer = model.get_submodule(layer_path)
    weight = base_layer.weight.detach().clone().to(torch.float64).tolist()
    fan_in_fan_out = arch == "gpt2"
    config = LoraConfig(
        r=r, lora_alpha=lora_alpha, target_modules=[layer_path], init_lora_weights="pissa", fan_in_fan_out=fan_in_fan_out
    )
    peft_model = get_peft_model(model, config)
    lora_layer = peft_model.base_model.model.get_submodule(layer_path)
    scaling = lora_layer.scaling["default"]
    a = lora_layer.lora_A["default"].weight.detach().to(torch.float64)
    b = lora_layer.lora_B["default"].weight.detach().to(torch.float64)
    delta = (scaling * (b @ a)).tolist()
    residual = lora_layer.get_base_layer().weight.detach().to(torch.float64).tolist()
    case_dir = os.path.join(out, name)
    os.makedirs(case_dir, exist_ok=True)
    write_json(
        os.path.join(case_dir, "expected.json"),
        {
            "case": name,
            "arch": arch,
            "layer": layer_path,
            "layout": "in_out" if fan_in_fan_out else "out_in",
            "r": r,
            "lora_alpha": lora_alpha,
            "scaling": scaling,
            "weight": weight,
            "residual_weight": residual,
            "delta": delta,
            "versions": versions(),
            "notes": "PiSSA init: delta = scaling * B @ A ([out, in]) is the top-r SVD part of W; residual = W - delta",
        },
    )
    print(f"wrote {case_dir}")


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit("usage: python3 make_fixtures.py OUTDIR")
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    torch.use_deterministic_algorithms(True)

    for arch in ("gpt2", "llama", "bert"):
        model = make_base(arch)
        model.save_pretrained(os.path.join(out, f"base_{arch}"))
        print(f"wrote {out}/base_{arch}")

    for name in sorted(CASES):
        make_case(out, name, CASES[name])

    make_pissa(out, "pissa_llama", "llama", "model.layers.0.self_attn.q_proj", r=4, lora_alpha=8)
    make_pissa(out, "pissa_gpt2", "gpt2", "transformer.h.0.attn.c_attn", r=4, lora_alpha=8)

    total = 0
    for root, _, files in os.walk(out):
        for f in files:
            total += os.path.getsize(os.path.join(root, f))
    print(f"total size: {total / 1024:.1f} KiB")
    assert math.isfinite(total)


if __name__ == "__main__":
    main()
