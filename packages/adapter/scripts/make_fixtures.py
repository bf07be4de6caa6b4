"""Writes the bottleneck-adapter fixtures that @peftjs/adapter tests read.

Usage: /work/pyref/bin/python make_fixtures.py [OUTDIR]     (default: ../test/fixtures)

The issue asks for these to be made on the GPU host; this session had no GPU, so they were made on CPU with
the same library versions (torch 2.13, transformers 5.17, safetensors 0.8), float32, eval mode, eager
attention. AdapterHub's `adapters` is not installable here either: the adapters are the PyTorch port of its
modeling code in apps/bench/peer/bottleneck.py (cited there function by function), placed in transformers'
models as AdapterHub's model files place them.

Base models: the tiny GPT-2, BERT (3 labels) and LLaMA (GQA) of packages/models/test/fixtures (not copied).
For every case: adapters are added with their configs, then every adapter parameter is moved by Gaussian noise
(so up-projections are non-zero, biases and norms matter; AdapterHub's inits would leave mam_adapter's up at
zero), and the model is run on a padded batch.

OUTDIR/<model>_<case>/
    expected.json        {"model_type", "case", "adapters": [{"name", "config"}], "setup", "inputs": {...},
                          "logits", "adapter_params": {name: count}}
    adapterhub/<name>/   adapter_config.json + adapter.safetensors as AdapterHub's save_adapter(…,
                         use_safetensors=True) writes them: {"config", "hidden_size", "model_class",
                         "model_name", "model_type", "name", "version"}, keys `…adapters.<name>.adapter_down.0.weight`
    peft/                (single-adapter cases) adapter_config.json + adapter_model.safetensors in PEFT's layout,
                         peft_type "BOTTLENECK", keys base_model.model.<residual path>.adapter_down.0.weight …
"""
import json
import os
import sys

import torch
import transformers
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, os.path.join(REPO, "apps", "bench", "peer"))
import bottleneck as bn  # noqa: E402

BASES = os.path.join(REPO, "packages", "models", "test", "fixtures")
ADAPTERS_VERSION = "adapters.1.2.0"

# AdapterHub module path (per layer) → our residual-connection path, per model type.
PATHS = {
    "gpt2": ("transformer.h", {"attention_adapters.adapters": "attn_residual", "output_adapters.adapters": "mlp_residual"}),
    "llama": ("model.layers", {"attention_adapters.adapters": "self_attn_residual", "output_adapters.adapters": "mlp_residual"}),
    "bert": ("bert.encoder.layer", {"attention.output.adapters": "attention.output.residual", "output.adapters": "output.residual"}),
}


def with_fields(**changes):
    return {**bn.BN_DEFAULTS, **changes}


FEATURES = with_fields(
    mh_adapter=True, output_adapter=True, reduction_factor={"0": 4, "default": 8}, non_linearity="gelu",
    original_ln_before=True, ln_before=True, ln_after=True, scaling="channel", use_gating=True,
    residual_before_ln=False, adapter_residual_before_ln=True, init_weights="houlsby",
)
PARALLEL_BOTH = with_fields(
    mh_adapter=True, output_adapter=True, reduction_factor=4, non_linearity="tanh", is_parallel=True,
    scaling="learned", leave_out=[1], init_weights="mam_adapter", ln_after=True,
)
POST_ADD = with_fields(
    mh_adapter=True, output_adapter=True, reduction_factor=8, non_linearity="leakyrelu", original_ln_before=True,
    original_ln_after=False, residual_before_ln="post_add",
)

# name → (adapters [(name, config)], setup)
CASES = {
    "houlsby": ([("a", bn.PRESETS["houlsby"])], "a"),
    "pfeiffer": ([("a", bn.PRESETS["pfeiffer"])], "a"),
    "par_bn": ([("a", bn.PRESETS["par_bn"])], "a"),
    "features": ([("a", FEATURES)], "a"),
    "parallel_both": ([("a", PARALLEL_BOTH)], "a"),
    "stack": ([("a", bn.PRESETS["pfeiffer"]), ("b", bn.PRESETS["houlsby"])], bn.Stack("a", "b")),
    # AdapterHub's Average needs every child at every location it runs (its pre_block reads the first child's
    # adapter, its mean multiplies one weight per child): two adapters with the same placement.
    "average": ([("a", bn.PRESETS["houlsby"]), ("b", {**bn.PRESETS["houlsby"], "non_linearity": "relu", "reduction_factor": 8})],
                bn.Average("a", "b", weights=[0.3, 0.9])),
    "batch_split": ([("a", bn.PRESETS["pfeiffer"]), ("b", bn.PRESETS["par_bn"])], bn.BatchSplit("a", "b", batch_sizes=[1, 1])),
}
BERT_ONLY = {"post_add": ([("a", POST_ADD)], "a")}


def setup_json(setup):
    if isinstance(setup, str):
        return setup
    out = {"type": type(setup).__name__, "children": [setup_json(c) for c in setup.children]}
    if isinstance(setup, bn.Average):
        out["weights"] = setup.weights
    if isinstance(setup, bn.BatchSplit):
        out["batch_sizes"] = setup.batch_sizes
    return out


def load_base(model_type):
    path = os.path.join(BASES, model_type)
    cls = AutoModelForSequenceClassification if model_type == "bert" else AutoModelForCausalLM
    return cls.from_pretrained(path, attn_implementation="eager", dtype=torch.float32).eval()


def inputs(model_type, gen):
    ids = torch.randint(0, 96, (2, 7), generator=gen)
    mask = torch.ones(2, 7, dtype=torch.long)
    mask[1, 5:] = 0  # right padding on row 1
    out = {"input_ids": ids, "attention_mask": mask}
    if model_type == "bert":
        tt = torch.zeros(2, 7, dtype=torch.long)
        tt[:, 4:] = 1
        out["token_type_ids"] = tt
    return out


def perturb(model, names, gen):
    with torch.no_grad():
        for k, p in model.named_parameters():
            if any(f".adapters.{n}." in k for n in names):
                p.add_(0.3 * torch.randn(p.shape, generator=gen))


def write_json(path, obj, indent=2):
    with open(path, "w") as f:
        json.dump(obj, f, indent=indent, sort_keys=True)


def rounded(t):
    """float32 values with 9 significant digits (round-trips float32 exactly) as nested lists."""
    if isinstance(t, list):
        return [rounded(x) for x in t]
    return float(f"{t:.9g}")


def peft_key(model_type, key):
    layers, mapping = PATHS[model_type]
    rest = key[len(layers) + 1 :]
    idx, rest = rest.split(".", 1)
    for hub, ours in mapping.items():
        if rest.startswith(hub + "."):
            param = rest[len(hub) + 1 :].split(".", 1)[1]  # drop the adapter name
            return f"base_model.model.{layers}.{idx}.{ours}.{param}"
    raise KeyError(key)


def make_case(out_dir, model_type, case, adapters, setup, gen):
    torch.manual_seed(0)
    model = load_base(model_type)
    for p in model.parameters():
        p.requires_grad_(False)
    s = bn.init_adapters(model)
    for name, cfg in adapters:
        bn.add_adapter(model, name, cfg)
    perturb(model, [n for n, _ in adapters], gen)
    s.active = bn.parse_composition(setup)
    batch = inputs(model_type, gen)
    with torch.no_grad():
        logits = model(**batch).logits
    d = os.path.join(out_dir, f"{model_type}_{case}")
    os.makedirs(d, exist_ok=True)
    counts = {}
    for name, cfg in adapters:
        state = {k: v.detach().clone().contiguous() for k, v in bn.adapter_state_dict(model, name).items()}
        counts[name] = sum(v.numel() for v in state.values())
        hub = os.path.join(d, "adapterhub", name)
        os.makedirs(hub, exist_ok=True)
        # build_full_config (configuration/model_adapters_config.py) + AdapterHub's save_weights_config.
        write_json(os.path.join(hub, "adapter_config.json"), {
            "config": cfg, "hidden_size": model.config.hidden_size, "model_class": type(model).__name__,
            "model_name": model.config.name_or_path, "model_type": model_type, "name": name,
            "version": ADAPTERS_VERSION,
        })
        save_file(state, os.path.join(hub, "adapter.safetensors"))
        if len(adapters) == 1:
            peft = os.path.join(d, "peft")
            os.makedirs(peft, exist_ok=True)
            write_json(os.path.join(peft, "adapter_config.json"), {
                "peft_type": "BOTTLENECK", "task_type": None if model_type == "bert" else "CAUSAL_LM",  # SEQ_CLS would add the classifier to modules_to_save
                "base_model_name_or_path": None, "inference_mode": True, "modules_to_save": None, **cfg,
            })
            save_file({peft_key(model_type, k): v for k, v in state.items()}, os.path.join(peft, "adapter_model.safetensors"))
    write_json(os.path.join(d, "expected.json"), {
        "model_type": model_type, "case": case,
        "adapters": [{"name": n, "config": c} for n, c in adapters],
        "setup": setup_json(setup),
        "inputs": {k: v.tolist() for k, v in batch.items()},
        "logits": rounded(logits.tolist()),
        "adapter_params": counts,
        "made_with": {"torch": torch.__version__, "transformers": transformers.__version__, "device": "cpu"},
    }, indent=None)
    print(f"{model_type}_{case}: logits {tuple(logits.shape)}, adapter params {counts}")


def main():
    transformers.logging.disable_progress_bar()
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "test", "fixtures")
    gen = torch.Generator().manual_seed(1234)
    for model_type in ("gpt2", "bert", "llama"):
        cases = {**CASES, **(BERT_ONLY if model_type == "bert" else {})}
        for case, (adapters, setup) in cases.items():
            make_case(out_dir, model_type, case, adapters, setup, gen)


if __name__ == "__main__":
    main()
