"""Make Python-PEFT fixtures for @peftjs/core's PeftModel tests: the adapter folder layout, adapter_config.json,
safetensors keys (adapter name removed, modules_to_save under the module's own path), a non-default adapter in
a subfolder, print_trainable_parameters' exact line, and logits (active / second adapter / disabled / merged).

Usage: python3 make_peft_fixtures.py OUTDIR        (unpack OUTDIR as packages/core/test/fixtures/peft)

The base model is the TypeScript test model packages/core/src/peft/testing/tiny-model.ts (same names, same
maths): model.embed_tokens Embedding(11, 4); model.layers.{0,1}.fc1 Linear(4, 6), .fc2 Linear(6, 4);
lm_head Linear(4, 11, bias=False); forward h = embed(ids); per layer h = h + fc2(relu(fc1(h))); logits = lm_head(h).
The method is PEFT's IA3 on non-feedforward layers only (feedforward_modules=[]), which core's test-only
"test-ia3" method implements.

Writes (about 20 KB in all):
  OUTDIR/base/model.safetensors        the base model's state dict (torch names, float32)
  OUTDIR/ia3/adapter_config.json       PeftModel.save_pretrained of adapter "default":
  OUTDIR/ia3/adapter_model.safetensors   IA3(target_modules=["fc1", "fc2"], feedforward_modules=[], modules_to_save=["lm_head"])
                                         with random ia3_l vectors and a perturbed lm_head copy
  OUTDIR/ia3/second/...                adapter "second": IA3(target_modules=["fc2"], feedforward_modules=[]), random
  OUTDIR/expected.json                 {
                                         "input_ids": [[...], [...]],
                                         "print_default": the line print_trainable_parameters printed after get_peft_model,
                                         "print_two": the line after add_adapter("second") ("default" still active),
                                         "keys": {"default": [...], "second": [...]}  (safetensors keys, sorted),
                                         "logits_default" / "logits_second" / "logits_disabled" / "logits_merged":
                                             [batch][seq][vocab] float64 lists (merged = merge_and_unload with "default")
                                       }

Deterministic (torch.manual_seed), CPU, float32.
"""

import contextlib
import io
import json
import os
import sys

import torch
from torch import nn
from safetensors.torch import save_file, load_file
from peft import IA3Config, get_peft_model


class TinyBlock(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return x + self.fc2(torch.relu(self.fc1(x)))


class TinyBackbone(nn.Module):
    def __init__(self, vocab, dim, hidden, layers):
        super().__init__()
        self.embed_tokens = nn.Embedding(vocab, dim)
        self.layers = nn.ModuleList([TinyBlock(dim, hidden) for _ in range(layers)])


class TinyModel(nn.Module):
    def __init__(self, vocab=11, dim=4, hidden=6, layers=2):
        super().__init__()
        self.model = TinyBackbone(vocab, dim, hidden, layers)
        self.lm_head = nn.Linear(dim, vocab, bias=False)

    def forward(self, input_ids):
        h = self.model.embed_tokens(input_ids)
        for layer in self.model.layers:
            h = layer(h)
        return self.lm_head(h)


def printed(fn):
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        fn()
    return buf.getvalue().strip()


def as_list(t):
    return t.detach().to(torch.float64).tolist()


def main(out):
    torch.manual_seed(0)
    base = TinyModel().eval()
    with torch.no_grad():
        base.model.embed_tokens.weight.mul_(0.5)
    os.makedirs(os.path.join(out, "base"), exist_ok=True)
    save_file({k: v.contiguous() for k, v in base.state_dict().items()}, os.path.join(out, "base", "model.safetensors"))
    input_ids = torch.tensor([[1, 5, 9], [3, 0, 10]])

    config = IA3Config(target_modules=["fc1", "fc2"], feedforward_modules=[], modules_to_save=["lm_head"])
    peft_model = get_peft_model(base, config)
    print_default = printed(peft_model.print_trainable_parameters)
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if ".ia3_l.default" in name:
                p.copy_(torch.empty_like(p).uniform_(0.5, 1.5))
            if "lm_head.modules_to_save.default" in name:
                p.add_(0.1 * torch.randn_like(p))

    peft_model.add_adapter("second", IA3Config(target_modules=["fc2"], feedforward_modules=[], init_ia3_weights=False))
    print_two = printed(peft_model.print_trainable_parameters)
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if ".ia3_l.second" in name:
                p.copy_(torch.empty_like(p).uniform_(0.5, 1.5))

    peft_model.eval()
    adapter_dir = os.path.join(out, "ia3")
    peft_model.save_pretrained(adapter_dir)

    with torch.no_grad():
        peft_model.set_adapter("default")
        logits_default = peft_model(input_ids)
        with peft_model.disable_adapter():
            logits_disabled = peft_model(input_ids)
        peft_model.set_adapter("second")
        logits_second = peft_model(input_ids)
        peft_model.set_adapter("default")
        merged = peft_model.merge_and_unload()
        logits_merged = merged(input_ids)

    keys = {
        "default": sorted(load_file(os.path.join(adapter_dir, "adapter_model.safetensors")).keys()),
        "second": sorted(load_file(os.path.join(adapter_dir, "second", "adapter_model.safetensors")).keys()),
    }
    expected = {
        "input_ids": input_ids.tolist(),
        "print_default": print_default,
        "print_two": print_two,
        "keys": keys,
        "logits_default": as_list(logits_default),
        "logits_second": as_list(logits_second),
        "logits_disabled": as_list(logits_disabled),
        "logits_merged": as_list(logits_merged),
    }
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
    print("wrote", out, print_default, print_two)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
