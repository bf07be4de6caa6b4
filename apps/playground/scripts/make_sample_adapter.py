"""The playground's sample adapter, made by Python PEFT 0.21 (transformers 5.17, torch 2.13 CPU; this session
had no GPU host, so the CPU venv /work/pyref made it, same library versions).

1. `pnpm --filter @peftjs/playground export-base /tmp/playground-tiny-gpt2` writes the page's tiny GPT-2
   (random weights from peftjs's seeded generator, byte tokens).
2. `/work/pyref/bin/python apps/playground/scripts/make_sample_adapter.py /tmp/playground-tiny-gpt2`
   trains a LoRA (the page's config: r 8, alpha 16, c_attn/c_proj/c_fc) on SAMPLE_TEXT with torch AdamW and
   writes public/sample-adapter/ (adapter_config.json + adapter_model.safetensors, PEFT's save_pretrained)
   and test/fixtures/sample-adapter-expected.json (PEFT's logits on the probe text, eval mode).
"""
import json
import os
import sys

import torch
from peft import LoraConfig, get_peft_model
from transformers import GPT2LMHeadModel

HERE = os.path.dirname(os.path.abspath(__file__))
APP = os.path.dirname(HERE)
NAME = "peftjs-playground/tiny-gpt2-bytes"  # src/lab.ts TINY_NAME
PROBE_TEXT = "The adapter was trained in a browser."  # src/lab.ts PROBE_TEXT
SAMPLE_TEXT = (
    "Hello from Python! This LoRA was trained by Hugging Face PEFT and loaded by peftjs in your browser. "
) * 4
STEPS, BATCH, SEQ, LR = 200, 8, 32, 1e-2


def main(base_dir: str) -> None:
    torch.manual_seed(0)
    model = GPT2LMHeadModel.from_pretrained(base_dir, attn_implementation="eager")
    model.name_or_path = NAME
    config = LoraConfig(
        r=8, lora_alpha=16, lora_dropout=0.0, target_modules=["c_attn", "c_proj", "c_fc"],
        fan_in_fan_out=True, task_type="CAUSAL_LM",
    )
    peft = get_peft_model(model, config)
    peft.eval()  # no dropout: the run repeats exactly
    ids = torch.tensor(list(SAMPLE_TEXT.encode("utf-8")))
    opt = torch.optim.AdamW([p for p in peft.parameters() if p.requires_grad], lr=LR, weight_decay=0.0)
    g = torch.Generator().manual_seed(0)
    for step in range(STEPS):
        starts = torch.randint(0, len(ids) - SEQ, (BATCH,), generator=g)
        batch = torch.stack([ids[s : s + SEQ] for s in starts])
        loss = peft(input_ids=batch, labels=batch).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 50 == 0 or step == STEPS - 1:
            print(f"step {step + 1}: loss {loss.item():.4f}")
    out = os.path.join(APP, "public", "sample-adapter")
    peft.save_pretrained(out)
    probe = torch.tensor([list(PROBE_TEXT.encode("utf-8"))])
    with torch.no_grad():
        logits = peft(input_ids=probe).logits
    expected = {
        "made_with": {"peft": __import__("peft").__version__, "transformers": __import__("transformers").__version__, "torch": torch.__version__},
        "probe_ids": probe[0].tolist(),
        "logits_shape": list(logits.shape),
        "logits": [float(f"{v:.7g}") for v in logits.flatten().tolist()],
    }
    fixtures = os.path.join(APP, "test", "fixtures")
    os.makedirs(fixtures, exist_ok=True)
    with open(os.path.join(fixtures, "sample-adapter-expected.json"), "w") as f:
        json.dump(expected, f)
    print(f"wrote {out} and {fixtures}/sample-adapter-expected.json")


if __name__ == "__main__":
    main(sys.argv[1])
