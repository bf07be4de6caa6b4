#!/usr/bin/env python3
"""PyTorch + PEFT peer of the bench's combination section.

    python3 combination.py --config combination/peer-config.json

Loads the two LoRA adapters the bench saved (adapters/a, adapters/b) onto a GPT2LMHeadModel of the bench's
timing shape (random init: add_weighted_adapter does not read the base weights for these adapters), runs
PEFT's `add_weighted_adapter` for every case of the config (timed), and saves each combined adapter as
<out>/<label>/adapter_model.safetensors plus <out>/results.json ({"versions", "ms": {label: ms}}).
Exit status 3 when torch / transformers / peft are missing.
"""
import argparse
import json
import os
import shutil
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True)
    args = ap.parse_args()
    with open(args.config) as f:
        cfg = json.load(f)
    try:
        import torch
        import transformers
        import peft
        from peft import PeftModel
        from transformers import GPT2Config, GPT2LMHeadModel
    except ImportError as e:
        print(f"peer unavailable: {e}", file=sys.stderr)
        sys.exit(3)
    shape = cfg["model"]
    torch.manual_seed(0)
    model = GPT2LMHeadModel(
        GPT2Config(
            vocab_size=shape["vocabSize"], n_positions=shape["nPositions"], n_embd=shape["nEmbd"], n_layer=shape["nLayer"], n_head=shape["nHead"],
            resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
        )
    )
    pm = PeftModel.from_pretrained(model, os.path.join(cfg["adapters"], "a"), adapter_name="a")
    pm.load_adapter(os.path.join(cfg["adapters"], "b"), adapter_name="b")
    out = cfg["out"]
    os.makedirs(out, exist_ok=True)
    ms = {}
    for case in cfg["cases"]:
        kwargs = {}
        if case["density"] is not None:
            kwargs["density"] = case["density"]
        weights = cfg["weights"][: len(case["adapters"])]
        t0 = time.perf_counter()
        pm.add_weighted_adapter(case["adapters"], weights, case["label"], combination_type=case["combination_type"], **kwargs)
        ms[case["label"]] = (time.perf_counter() - t0) * 1000
        tmp = os.path.join(out, "_tmp")
        pm.save_pretrained(tmp, selected_adapters=[case["label"]])
        dest = os.path.join(out, case["label"])
        shutil.rmtree(dest, ignore_errors=True)
        shutil.move(os.path.join(tmp, case["label"]), dest)
        shutil.rmtree(tmp)
        pm.delete_adapter(case["label"])
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump({"versions": {"torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__}, "ms": ms}, f, indent=1)


if __name__ == "__main__":
    main()
