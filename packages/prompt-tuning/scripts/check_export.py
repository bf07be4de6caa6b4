"""Check that prompt-learning adapters written by @peftjs/prompt-tuning load in Python PEFT and give our numbers.

Usage: python3 check_export.py DIR

DIR is what `packages/prompt-tuning/scripts/export-for-check.ts DIR` wrote, one folder per case:
  DIR/<case>/adapter_config.json + adapter_model.safetensors   (written by PeftModel.save here)
  DIR/<case>/expected.json   {"case", "base" (a base model folder, absolute or relative to DIR), "task"
                              ("CAUSAL_LM" | "SEQ_CLS"), "input_ids", "attention_mask", "logits" (ours, eval),
                              "generate": null | {"input_ids", "attention_mask", "max_new_tokens",
                              "tokens" (our greedy generation with the KV cache)}}

For each case: loads the base with transformers (float32, eager attention), the adapter with
`PeftModel.from_pretrained` (PEFT loads prompt-learning adapters in inference mode: the saved table is the
prompt), compares the logits (relative error = max |ours - python| / max |python|), and for causal LMs runs
PEFT's greedy `generate` and compares the tokens. Prints a table; exits 1 when an error is above 1e-4, the
tokens differ, or a case fails to load.
"""

import json
import os
import sys
import traceback

import torch

TOLERANCE = 1e-4


def load_base(path, task):
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    auto_cls = AutoModelForSequenceClassification if task == "SEQ_CLS" else AutoModelForCausalLM
    return auto_cls.from_pretrained(path, attn_implementation="eager", dtype=torch.float32).eval()


def rel_error(ours, theirs):
    ours = torch.tensor(ours, dtype=torch.float64)
    theirs = theirs.to(torch.float64)
    if ours.shape != theirs.shape:
        raise ValueError(f"logits shape differs: ours {tuple(ours.shape)}, python {tuple(theirs.shape)}")
    scale = theirs.abs().max().item()
    return (ours - theirs).abs().max().item() / (scale if scale > 0 else 1.0)


def check_case(root, case):
    from peft import PeftModel

    case_dir = os.path.join(root, case)
    with open(os.path.join(case_dir, "expected.json")) as f:
        expected = json.load(f)
    task = expected.get("task", "CAUSAL_LM")
    base = load_base(os.path.join(root, expected["base"]), task)
    model = PeftModel.from_pretrained(base, case_dir).eval()
    with torch.no_grad():
        logits = model(
            input_ids=torch.tensor(expected["input_ids"]), attention_mask=torch.tensor(expected["attention_mask"])
        ).logits
    err = rel_error(expected["logits"], logits)
    same_tokens = None
    gen = expected.get("generate")
    if gen is not None:
        with torch.no_grad():
            tokens = model.generate(
                input_ids=torch.tensor(gen["input_ids"]),
                attention_mask=torch.tensor(gen["attention_mask"]),
                max_new_tokens=gen["max_new_tokens"],
                do_sample=False,
                pad_token_id=0,
                eos_token_id=None,
            ).tolist()
        same_tokens = tokens == gen["tokens"]
        if not same_tokens:
            print(f"{case}: tokens differ\n  ours   {gen['tokens']}\n  python {tokens}")
    return err, same_tokens


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: python3 check_export.py DIR")
    root = sys.argv[1]
    cases = sorted(
        d
        for d in os.listdir(root)
        if os.path.isfile(os.path.join(root, d, "expected.json")) and os.path.isfile(os.path.join(root, d, "adapter_config.json"))
    )
    if not cases:
        sys.exit(f"no cases under {root} (expected DIR/<case>/adapter_config.json + expected.json)")
    failed = False
    print(f"{'case':<28} {'logits rel err':>15} {'generate':>9}  result")
    for case in cases:
        try:
            err, same = check_case(root, case)
        except Exception:  # report every case, then fail
            traceback.print_exc()
            print(f"{case:<28} {'error':>15} {'error':>9}  FAIL")
            failed = True
            continue
        ok = err <= TOLERANCE and same is not False
        failed = failed or not ok
        gen_text = "-" if same is None else ("same" if same else "differ")
        print(f"{case:<28} {err:>15.3e} {gen_text:>9}  {'ok' if ok else 'FAIL'}")
    print(f"tolerance {TOLERANCE:g}; {'FAILED' if failed else 'all cases pass'}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
