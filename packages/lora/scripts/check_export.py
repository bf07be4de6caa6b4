"""Check that LoRA adapters written by @peftjs/lora load in Python PEFT and give the same logits.

Usage: python3 check_export.py DIR

DIR is what `packages/lora/scripts/export-for-check.ts DIR` wrote:
  DIR/base_<arch>/            config.json + model.safetensors (exported with @peftjs/models' savePretrained)
  DIR/<case>/                 adapter_config.json + adapter_model.safetensors (written by @peftjs/lora)
  DIR/<case>/expected.json    {"case", "base": "base_<arch>", "task": "CAUSAL_LM" | "SEQ_CLS", "input_ids",
                               "attention_mask" (optional), "logits" (ours, adapter active, unmerged),
                               "merged_logits" (optional, ours after mergeAndUnload)}

For each case: loads the base with transformers (float32, eager attention), the adapter with
`PeftModel.from_pretrained`, runs it in eval mode and compares the logits with ours; then
`merge_and_unload()` and compares again. Relative error = max |ours - python| / max |python|.
Prints a table; exits 1 when any relative error is above 1e-4 (or a case fails to load).
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
    try:
        model = auto_cls.from_pretrained(path, attn_implementation="eager", dtype=torch.float32)
    except TypeError:
        model = auto_cls.from_pretrained(path, attn_implementation="eager", torch_dtype=torch.float32)
    return model.eval()


def rel_error(ours, theirs):
    ours = torch.tensor(ours, dtype=torch.float64)
    theirs = theirs.to(torch.float64)
    if ours.shape != theirs.shape:
        raise ValueError(f"logits shape differs: ours {tuple(ours.shape)}, python {tuple(theirs.shape)}")
    scale = theirs.abs().max().item()
    return (ours - theirs).abs().max().item() / (scale if scale > 0 else 1.0)


def run(model, expected):
    input_ids = torch.tensor(expected["input_ids"], dtype=torch.long)
    mask = expected.get("attention_mask")
    attention_mask = torch.tensor(mask, dtype=torch.long) if mask is not None else torch.ones_like(input_ids)
    with torch.no_grad():
        return model(input_ids=input_ids, attention_mask=attention_mask).logits


def check_case(root, case):
    from peft import PeftModel

    case_dir = os.path.join(root, case)
    with open(os.path.join(case_dir, "expected.json")) as f:
        expected = json.load(f)
    task = expected.get("task", "CAUSAL_LM")
    base = load_base(os.path.join(root, expected["base"]), task)
    model = PeftModel.from_pretrained(base, case_dir).eval()
    unmerged = rel_error(expected["logits"], run(model, expected))
    merged = None
    if expected.get("merged_logits") is not None:
        merged_model = model.merge_and_unload().eval()
        merged = rel_error(expected["merged_logits"], run(merged_model, expected))
    return unmerged, merged


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit("usage: python3 check_export.py DIR")
    root = sys.argv[1]
    cases = sorted(
        d
        for d in os.listdir(root)
        if os.path.isfile(os.path.join(root, d, "expected.json"))
        and os.path.isfile(os.path.join(root, d, "adapter_config.json"))
    )
    if not cases:
        sys.exit(f"no cases under {root} (expected DIR/<case>/adapter_config.json + expected.json)")

    failed = False
    print(f"{'case':<28} {'unmerged rel err':>18} {'merged rel err':>18}  result")
    for case in cases:
        try:
            unmerged, merged = check_case(root, case)
        except Exception:  # report every case, then fail
            traceback.print_exc()
            print(f"{case:<28} {'error':>18} {'error':>18}  FAIL")
            failed = True
            continue
        ok = unmerged <= TOLERANCE and (merged is None or merged <= TOLERANCE)
        failed = failed or not ok
        merged_text = "-" if merged is None else f"{merged:.3e}"
        print(f"{case:<28} {unmerged:>18.3e} {merged_text:>18}  {'ok' if ok else 'FAIL'}")
    print(f"tolerance {TOLERANCE:g}; {'FAILED' if failed else 'all cases pass'}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
