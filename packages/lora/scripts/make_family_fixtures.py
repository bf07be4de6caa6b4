"""PEFT 0.21 LoRA adapters on the LLaMA-style family fixtures of @peftjs/models, for
packages/lora/test/families.test.ts.

Usage: python3 make_family_fixtures.py MODELS_FAMILIES_DIR OUTDIR
  e.g. /work/pyref/bin/python packages/lora/scripts/make_family_fixtures.py \
         packages/models/test/fixtures/families packages/lora/test/fixtures/families

The issue asks for the GPU host; this session had none, so these were made on CPU with the same versions
(torch 2.13 CPU, transformers 5.17, peft 0.21 in /work/pyref). float32, eager attention, fixed seeds.

For each family the base is the models fixture folder itself (not copied: the test loads it from
packages/models/test/fixtures/families/<family>). The adapter is made with `get_peft_model` and
LoraConfig(r=4, lora_alpha=8) with target_modules=None, so PEFT picks its default for the model type
(TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING: q_proj, v_proj) — except Phi-3, which has no default
in PEFT and gets its fused qkv_proj and gate_up_proj. lora_B is set to random values (it starts at zero)
so that the adapter changes the logits, as a trained one would. Written per case:

  OUTDIR/<family>/adapter_config.json, adapter_model.safetensors   (PeftModel.save_pretrained)
  OUTDIR/<family>/expected.json  {family, target_modules (as PEFT resolved them), input_ids,
      attention_mask (row 1 right-padded), base_logits, logits (adapter active), merged_logits
      (after merge_and_unload), versions}
"""

import json
import os
import sys

import peft
import torch
import transformers
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM

FAMILIES = ["qwen2", "qwen3", "mistral", "gemma2", "gemma3_text", "phi3"]
TARGETS = {"phi3": ["qkv_proj", "gate_up_proj"]}
INPUT_IDS = [[5, 17, 42, 3, 88, 61, 9], [71, 2, 33, 94, 14, 50, 27]]
ATTENTION_MASK = [[1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 0, 0]]


def rounded(t):
    flat = [float(f"{x:.9g}") for x in t.detach().double().flatten().tolist()]

    def nest(f, shape):
        if len(shape) == 1:
            return f
        step = len(f) // shape[0]
        return [nest(f[i * step : (i + 1) * step], shape[1:]) for i in range(shape[0])]

    return nest(flat, list(t.shape))


def logits(model):
    with torch.no_grad():
        return model(input_ids=torch.tensor(INPUT_IDS), attention_mask=torch.tensor(ATTENTION_MASK)).logits


def main():
    if len(sys.argv) != 3:
        raise SystemExit("usage: python3 make_family_fixtures.py MODELS_FAMILIES_DIR OUTDIR")
    src, out = sys.argv[1], sys.argv[2]
    for i, family in enumerate(FAMILIES):
        torch.manual_seed(300 + i)
        base = AutoModelForCausalLM.from_pretrained(os.path.join(src, family), attn_implementation="eager", dtype=torch.float32).eval()
        base_logits = logits(base)
        config = LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=TARGETS.get(family), task_type="CAUSAL_LM")
        model = get_peft_model(base, config)
        with torch.no_grad():
            for name, p in model.named_parameters():
                if "lora_B" in name:
                    p.copy_(0.3 * torch.randn_like(p))
        model.eval()
        dir = os.path.join(out, family)
        model.save_pretrained(dir)
        adapted = logits(model)
        merged = logits(model.merge_and_unload())
        expected = {
            "family": family,
            "target_modules": sorted(model.peft_config["default"].target_modules) if hasattr(model, "peft_config") else None,
            "input_ids": INPUT_IDS,
            "attention_mask": ATTENTION_MASK,
            "base_logits": rounded(base_logits),
            "logits": rounded(adapted),
            "merged_logits": rounded(merged),
            "versions": {"torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__},
        }
        with open(os.path.join(dir, "expected.json"), "w") as f:
            json.dump(expected, f)
        readme = os.path.join(dir, "README.md")
        if os.path.exists(readme):
            os.remove(readme)
        print(f"wrote {dir}: targets {expected['target_modules']}")


if __name__ == "__main__":
    main()
