"""Python PEFT fixtures for @peftjs/merge's `addWeightedAdapter` cross-check.

Usage: /work/pyref/bin/python make_fixtures.py OUTDIR

Made with the CPU venv (torch 2.13 CPU, transformers 5.17, peft 0.21, safetensors 0.8): the issue asked for
the GPU host, but this session had no GPU; the library versions are the same and everything here is CPU
float32 maths anyway.

Bases are @peftjs/lora's committed fixtures (packages/lora/test/fixtures/base_gpt2, base_llama). On them:

  gpt2     three LoRA adapters a, b, c (r=4, alpha=8) on c_attn, c_proj, c_fc: Conv1D (fan_in_fan_out).
           Combined with weights [0.7, -0.4, 1.3] (a negative weight) by every combination type
           (density 0.5; the DARE types also with density 1).
  llama    adapters a (r=2, alpha=4, rsLoRA) and b (r=4, alpha=8, rank_pattern {"v_proj": 3}) on q_proj,
           v_proj and embed_tokens (Embedding): different ranks + rsLoRA + embeddings, so only `svd` (also
           with svd_rank 3 and svd_clamp 0.9), `cat` and the single-adapter case apply.
  dora     two DoRA adapters on llama q_proj, v_proj: what PEFT does with DoRA (`svd`, `linear`).

Adapters use PEFT's default init (so the DoRA magnitude PEFT gives a combined adapter is ‖W‖: its B starts at
zero); then each adapter's A, B (and DoRA magnitude) are set to random values so that every adapter is non-trivial.
OUTDIR/<case>/adapters/<name>/   the inputs (PeftModel.save_pretrained)
OUTDIR/<case>/combined/<label>/  PEFT's combined adapter (save_pretrained(selected_adapters=[label]))
OUTDIR/<case>/expected.json      per label: combination_type, weights, options; the versions.
"""

import json
import os
import shutil
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
LORA_FIXTURES = os.path.join(HERE, "..", "..", "lora", "test", "fixtures")


def load_base(name):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(os.path.join(LORA_FIXTURES, name), attn_implementation="eager")


def perturb(model, adapter, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if f".{adapter}" not in n:
                continue
            if "lora_B" in n or "lora_embedding_B" in n or "lora_A" in n or "lora_embedding_A" in n:
                p.copy_(torch.randn(p.shape, generator=g) * 0.3)
            elif "lora_magnitude_vector" in n:
                p.mul_(1 + 0.2 * torch.randn(p.shape, generator=g))


def save_combined(model, out, label):
    d = os.path.join(out, "combined", label)
    model.save_pretrained(os.path.join(out, "tmp"), selected_adapters=[label])
    shutil.move(os.path.join(out, "tmp", label), d)
    shutil.rmtree(os.path.join(out, "tmp"))
    for f in os.listdir(d):
        if f not in ("adapter_config.json", "adapter_model.safetensors"):
            os.remove(os.path.join(d, f))
    relative_base_path(d)


def relative_base_path(d):
    # the absolute path of this machine is of no use in a committed fixture
    p = os.path.join(d, "adapter_config.json")
    with open(p) as f:
        cfg = json.load(f)
    cfg["base_model_name_or_path"] = os.path.basename(cfg["base_model_name_or_path"] or "")
    with open(p, "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)


def make_case(out_root, case, base, specs, weights, combos):
    from peft import LoraConfig, get_peft_model

    out = os.path.join(out_root, case)
    os.makedirs(out, exist_ok=True)
    model = load_base(base)
    names = list(specs)
    peft = None
    for i, name in enumerate(names):
        torch.manual_seed(100 + i)
        cfg = LoraConfig(**specs[name])
        if peft is None:
            peft = get_peft_model(model, cfg, adapter_name=name)
        else:
            peft.add_adapter(name, cfg)
        perturb(peft, name, 200 + i)
    peft.save_pretrained(os.path.join(out, "adapters"), selected_adapters=names)
    # save_pretrained writes an adapter not named "default" into a subfolder of its name; drop the README
    for f in os.listdir(os.path.join(out, "adapters")):
        if f not in names:
            os.remove(os.path.join(out, "adapters", f))
    for name in names:
        relative_base_path(os.path.join(out, "adapters", name))
    expected = {"base": base, "adapters": names, "combined": {}}
    for label, combo in combos.items():
        torch.manual_seed(7)  # the DARE masks (torch.bernoulli) of this draw
        kwargs = dict(combo)
        ctype = kwargs.pop("combination_type")
        adapters = kwargs.pop("adapters", names)
        w = kwargs.pop("weights", weights)
        peft.add_weighted_adapter(adapters, w, label, combination_type=ctype, **kwargs)
        save_combined(peft, out, label)
        expected["combined"][label] = {"combination_type": ctype, "adapters": adapters, "weights": w, "options": kwargs}
        peft.delete_adapter(label)
    import peft as peft_lib
    import transformers

    expected["versions"] = {"torch": torch.__version__, "transformers": transformers.__version__, "peft": peft_lib.__version__}
    expected["made_on"] = "CPU (no GPU this session), /work/pyref venv"
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)


def main():
    out_root = sys.argv[1]
    os.makedirs(out_root, exist_ok=True)
    gpt2 = dict(r=4, lora_alpha=8, target_modules=["c_attn", "c_proj", "c_fc"], fan_in_fan_out=True)
    combos = {}
    for ctype in ["svd", "linear", "cat", "ties", "ties_svd", "dare_linear", "dare_ties", "dare_linear_svd", "dare_ties_svd", "magnitude_prune", "magnitude_prune_svd"]:
        opts = {"combination_type": ctype}
        if ctype not in ("svd", "linear", "cat"):
            opts["density"] = 0.5
        combos[ctype] = opts
        if ctype.startswith("dare"):
            combos[ctype + "_d1"] = {"combination_type": ctype, "density": 1.0}
    combos["ties_frequency"] = {"combination_type": "ties", "density": 0.5, "majority_sign_method": "frequency"}
    combos["svd_rank2"] = {"combination_type": "svd", "svd_rank": 2}
    combos["single"] = {"combination_type": "linear", "adapters": ["a"], "weights": [1.0]}
    make_case(out_root, "gpt2", "base_gpt2", {"a": gpt2, "b": gpt2, "c": gpt2}, [0.7, -0.4, 1.3], combos)

    targets = ["q_proj", "v_proj", "embed_tokens"]
    llama = {
        "a": dict(r=2, lora_alpha=4, use_rslora=True, target_modules=targets),
        "b": dict(r=4, lora_alpha=8, rank_pattern={"v_proj": 3}, target_modules=targets),
    }
    make_case(
        out_root,
        "llama",
        "base_llama",
        llama,
        [1.2, -0.5],
        {
            "svd": {"combination_type": "svd"},
            "svd_rank3": {"combination_type": "svd", "svd_rank": 3},
            "svd_clamp": {"combination_type": "svd", "svd_clamp": 0.9},
            "cat": {"combination_type": "cat"},
            "single_rslora": {"combination_type": "svd", "adapters": ["a"], "weights": [1.0]},
        },
    )
    dora = dict(r=4, lora_alpha=8, use_dora=True, target_modules=["q_proj", "v_proj"])
    make_case(out_root, "dora", "base_llama", {"a": dora, "b": dora}, [0.6, 0.8], {"svd": {"combination_type": "svd"}, "linear": {"combination_type": "linear"}})


if __name__ == "__main__":
    main()
