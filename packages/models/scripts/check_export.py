"""Checks that models saved by @peftjs/models load in `transformers` and give the same numbers.

Usage: python3 check_export.py DIR

DIR is what `packages/models/scripts/export-for-check.ts DIR` wrote: one folder per model
(`config.json`, `model.safetensors` or a sharded index, `expected.json` with the inputs and the logits
our TypeScript code computed, in the same format as make_fixtures.py writes). Each folder is loaded with
`AutoModelFor...from_pretrained` (float32, eager attention, CPU); the loading must report no missing,
unexpected or mismatched keys; every case's logits and loss must match with relative error
max|ours - theirs| / max|theirs| <= 1e-4; greedy generation (when present) must give the same tokens,
with the KV cache and, where expected.json has "tokens_no_cache", without it (use_cache=False); an entry
may carry a left-padding "attention_mask". Generation runs on a freshly loaded model (transformers'
dynamic RoPE keeps state between calls). Prints a table and exits 1 on any failure.

Run here with the CPU venv (no GPU this session; same versions as the GPU host: torch 2.13, transformers
5.17): /work/pyref/bin/python packages/models/scripts/check_export.py DIR
"""

import json
import os
import sys

import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSequenceClassification

TOLERANCE = 1e-4


def rel_err(ours, theirs):
    ours = torch.as_tensor(ours, dtype=torch.float64)
    theirs = torch.as_tensor(theirs, dtype=torch.float64)
    if ours.shape != theirs.shape:
        return float("inf")
    scale = max(theirs.abs().max().item(), 1e-12)
    return (ours - theirs).abs().max().item() / scale


def load(path):
    config = AutoConfig.from_pretrained(path)
    if config.model_type == "bert":
        auto = AutoModelForSequenceClassification
    elif config.model_type in ("gpt2", "llama", "mistral", "qwen2", "qwen3", "gemma2", "gemma3_text", "phi3"):
        auto = AutoModelForCausalLM
    else:
        raise SystemExit(f"{path}: unsupported model_type {config.model_type!r}")
    model, info = auto.from_pretrained(
        path, attn_implementation="eager", dtype=torch.float32, output_loading_info=True
    )
    problems = {k: v for k, v in info.items() if v and k in ("missing_keys", "unexpected_keys", "mismatched_keys")}
    return model.float().eval(), problems


def run_case(model, case):
    kwargs = {"input_ids": torch.tensor(case["input_ids"])}
    for name in ("attention_mask", "token_type_ids", "labels"):
        if case.get(name) is not None:
            kwargs[name] = torch.tensor(case[name])
    with torch.no_grad():
        return model(**kwargs)


def main():
    if len(sys.argv) != 2:
        raise SystemExit("usage: python3 check_export.py DIR")
    root = sys.argv[1]
    folders = sorted(d for d in os.listdir(root) if os.path.isfile(os.path.join(root, d, "expected.json")))
    if not folders:
        raise SystemExit(f"{root}: no <model>/expected.json folders found")
    rows = []
    failed = False
    for name in folders:
        path = os.path.join(root, name)
        with open(os.path.join(path, "expected.json")) as f:
            expected = json.load(f)
        model, problems = load(path)
        if problems:
            failed = True
            rows.append((name, "load", "FAIL", json.dumps(problems)[:200]))
            continue
        rows.append((name, "load", "ok", type(model).__name__))
        for case in expected["cases"]:
            out = run_case(model, case)
            err = rel_err(case["logits"], out.logits)
            ok = err <= TOLERANCE
            detail = f"logits rel err {err:.2e}"
            if case.get("loss") is not None:
                loss_err = abs(case["loss"] - float(out.loss)) / max(abs(float(out.loss)), 1e-12)
                ok = ok and loss_err <= TOLERANCE
                detail += f", loss ours {case['loss']:.6f} theirs {float(out.loss):.6f} rel err {loss_err:.2e}"
            failed = failed or not ok
            rows.append((name, case["name"], "ok" if ok else "FAIL", detail))
        for i, gen in enumerate(expected.get("generate", [])):
            input_ids = torch.tensor(gen["input_ids"])
            mask = torch.tensor(gen["attention_mask"]) if gen.get("attention_mask") is not None else torch.ones_like(input_ids)
            pad = 0 if "tokens_no_cache" in gen else gen["eos_token_id"]
            for key, use_cache in (("tokens", True), ("tokens_no_cache", False)):
                if key not in gen:
                    continue
                fresh, _ = load(path)
                with torch.no_grad():
                    tokens = fresh.generate(
                        input_ids,
                        attention_mask=mask,
                        max_new_tokens=gen["max_new_tokens"],
                        do_sample=False,
                        eos_token_id=gen["eos_token_id"],
                        pad_token_id=pad,
                        use_cache=use_cache,
                    ).tolist()
                ok = tokens == gen[key]
                failed = failed or not ok
                label = f"generate{i}" + ("" if use_cache else " no cache")
                rows.append((name, label, "ok" if ok else "FAIL", f"ours {gen[key]} theirs {tokens}"))
    widths = [max(len(str(r[i])) for r in rows) for i in range(3)]
    for r in rows:
        print(f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]}")
    print("FAILED" if failed else "all checks passed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
