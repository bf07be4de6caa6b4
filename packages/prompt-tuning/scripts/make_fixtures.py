"""Make Python-PEFT prompt-learning fixtures for @peftjs/prompt-tuning's cross-check tests.

Usage: python3 make_fixtures.py OUTDIR

Made with the CPU venv of this session (/work/pyref: torch 2.13 CPU, transformers 5.17, peft 0.21, the
versions of the GPU host; the maths is deterministic float32 on CPU, no GPU is needed). Every file records
the versions it was made with.

Bases (tiny random transformers models, fixed seeds, float32, eager attention; LayerNorm/RMSNorm weights
and biases perturbed so that every one matters), each saved with `save_pretrained(OUTDIR/base_<arch>)`
together with a tokenizer (copied from @peftjs/models' tokenizer fixtures) so that `TEXT` init can run:
  base_gpt2   GPT2LMHeadModel   n_embd 16, 2 layers, 2 heads, vocab 400 (byte-level BPE), tied lm_head
  base_llama  LlamaForCausalLM  hidden 16, 2 layers, 4 heads / 2 kv heads (GQA), vocab 128, untied lm_head
  base_bert   BertForSequenceClassification  hidden 16, 2 layers, 2 heads, vocab 238 (WordPiece), 3 labels

Cases (adapter name "default"): a PEFT config, `get_peft_model`, then the trainable prompt parameters are
perturbed (as training would move them; TEXT / SAMPLE_VOCAB tables are kept as initialised so that the
init itself is checked), and the adapter is saved with `PeftModel.save_pretrained(OUTDIR/<case>)`
(adapter_config.json + adapter_model.safetensors: the single `prompt_embeddings` key PEFT writes, plus the
classifier for SEQ_CLS). Beside it:
  encoder.safetensors  (P-tuning and projected prefix tuning) the prompt encoder's own parameters (`prompt_encoder.default.*` without the prefix:
                       `embedding.weight`, `mlp_head.N.*`, `lstm_head.*`, `transform.N.*`), so that a test
                       can rebuild the encoder and check its maths (P-tuning MLP / LSTM, the prefix
                       projection) against `prompt_embeddings`, the encoder output PEFT saves.
  expected.safetensors `logits`: the PeftModel forward on the padded batch below (eval), float32.
  expected.json        case, base, arch, task, config (adapter_config.json as PEFT wrote it),
                       input_ids / attention_mask (a padded batch: no padding, left padding, right padding),
                       init_token_ids (TEXT init: the ids
                       PEFT took from the tokenizer, repeated or cut), generate (causal LMs: greedy
                       `PeftModel.generate` on a left-padded batch, with and without the KV cache, and on
                       one unpadded row; `tokens_without_cache` is null with `without_cache_error` where PEFT
                       itself fails without a cache: prefix tuning on LLaMA), versions, notes.

Deterministic (fixed seeds), CPU-only; about 700 KB in all (float32 logits of a 400-token vocabulary dominate).
"""

import json
import math
import os
import shutil
import sys

import torch

SEED = 4321
HERE = os.path.dirname(os.path.abspath(__file__))
TOKENIZERS = os.path.join(HERE, "..", "..", "models", "test", "fixtures")

# A padded batch: row 0 unpadded, row 1 left-padded (2), row 2 right-padded (3). Pad id 0 in every vocab.
INPUT_IDS = [[5, 17, 42, 3, 88, 61, 9], [0, 0, 33, 95, 14, 50, 27], [71, 2, 110, 7, 0, 0, 0]]
ATTENTION_MASK = [[1, 1, 1, 1, 1, 1, 1], [0, 0, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0, 0]]
# Generation: a left-padded batch (the usual layout for batched generation) and one unpadded prompt.
GEN_IDS = [[0, 0, 12, 54, 7], [33, 8, 91, 4, 60]]
GEN_MASK = [[0, 0, 1, 1, 1], [1, 1, 1, 1, 1]]
GEN_SINGLE = [[21, 5, 77, 3]]
MAX_NEW_TOKENS = 6


def from_config(auto_cls, config):
    return auto_cls.from_config(config, attn_implementation="eager")


def make_base(arch):
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, BertConfig, GPT2Config, LlamaConfig

    torch.manual_seed(SEED)
    if arch == "gpt2":
        config = GPT2Config(
            vocab_size=400, n_positions=64, n_embd=16, n_layer=2, n_head=2, initializer_range=0.2,
            resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=399, eos_token_id=399,
        )
        model = from_config(AutoModelForCausalLM, config)
    elif arch == "llama":
        config = LlamaConfig(
            vocab_size=128, hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, max_position_embeddings=64, initializer_range=0.2, tie_word_embeddings=False,
            bos_token_id=1, eos_token_id=2, pad_token_id=0,
        )
        model = from_config(AutoModelForCausalLM, config)
    elif arch == "bert":
        config = BertConfig(
            vocab_size=238, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
            max_position_embeddings=64, type_vocab_size=2, num_labels=3, initializer_range=0.2,
            hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, pad_token_id=0,
        )
        model = from_config(AutoModelForSequenceClassification, config)
    else:
        raise ValueError(arch)
    model = model.to(torch.float32)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if ("norm" in name.lower() or "ln_" in name) and name.endswith("weight"):
                p.add_(0.1 * torch.randn_like(p))
            if name.endswith("bias"):
                p.add_(0.05 * torch.randn_like(p))
    return model.eval()


def tokenizer_dir(arch):
    return os.path.join(TOKENIZERS, "tokenizer_wordpiece" if arch == "bert" else "tokenizer")


def load_base(out, arch):
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    auto_cls = AutoModelForSequenceClassification if arch == "bert" else AutoModelForCausalLM
    # Relative to OUTDIR (the working directory), so that base_model_name_or_path says "base_<arch>".
    model = auto_cls.from_pretrained(f"base_{arch}", attn_implementation="eager", dtype=torch.float32)
    return model.eval()


def forward_logits(model, input_ids, attention_mask):
    with torch.no_grad():
        return model(input_ids=torch.tensor(input_ids), attention_mask=torch.tensor(attention_mask)).logits


def greedy(model, ids, mask, use_cache):
    with torch.no_grad():
        out = model.generate(
            input_ids=torch.tensor(ids),
            attention_mask=torch.tensor(mask),
            max_new_tokens=MAX_NEW_TOKENS,
            do_sample=False,
            use_cache=use_cache,
            pad_token_id=0,
            eos_token_id=None,
        )
    return out.tolist()


def versions():
    import peft
    import transformers

    return {"torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__}


def write_json(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f)
    os.replace(tmp, path)


# Each case: arch, kind (the PEFT config class), config kwargs, notes. num_virtual_tokens is small to keep
# the fixtures small; encoder sizes differ from the model width so that a transposed weight shows.
CASES = {
    "gpt2_prompt_random": dict(arch="gpt2", kind="prompt", config=dict(num_virtual_tokens=4, prompt_tuning_init="RANDOM"),
                               notes="prompt tuning, RANDOM init (table perturbed as if trained)"),
    "gpt2_prompt_text": dict(arch="gpt2", kind="prompt", config=dict(num_virtual_tokens=7, prompt_tuning_init="TEXT",
                             prompt_tuning_init_text="hello world", tokenizer_name_or_path="base_gpt2"),
                             notes="prompt tuning, TEXT init: the text's ids repeated to 7 tokens (table kept as initialised)"),
    "llama_prompt_sample_vocab": dict(arch="llama", kind="prompt", config=dict(num_virtual_tokens=5, prompt_tuning_init="SAMPLE_VOCAB"),
                                      notes="prompt tuning, SAMPLE_VOCAB init (each row is a row of the vocabulary; kept as initialised)"),
    "llama_prompt_random": dict(arch="llama", kind="prompt", config=dict(num_virtual_tokens=3, prompt_tuning_init="RANDOM"),
                                notes="prompt tuning on LLaMA, RANDOM init (perturbed)"),
    "bert_prompt_text": dict(arch="bert", kind="prompt", config=dict(num_virtual_tokens=4, prompt_tuning_init="TEXT",
                             prompt_tuning_init_text="the quick brown fox jumps over the lazy dog", tokenizer_name_or_path="base_bert"),
                             notes="SEQ_CLS prompt tuning, TEXT init through a WordPiece tokenizer ([CLS] first), cut to 4 tokens"),
    "gpt2_prefix": dict(arch="gpt2", kind="prefix", config=dict(num_virtual_tokens=3),
                        notes="prefix tuning without projection: prompt_embeddings is the key/value table itself"),
    "gpt2_prefix_projection": dict(arch="gpt2", kind="prefix", config=dict(num_virtual_tokens=3, prefix_projection=True, encoder_hidden_size=12),
                                   notes="prefix tuning with prefix_projection (Linear-tanh-Linear); PEFT saves the projected table"),
    "llama_prefix": dict(arch="llama", kind="prefix", config=dict(num_virtual_tokens=4),
                         notes="prefix tuning on GQA LLaMA: token_dim = kv heads x head dim = 8, num_attention_heads = 2"),
    "llama_prefix_projection": dict(arch="llama", kind="prefix", config=dict(num_virtual_tokens=2, prefix_projection=True),
                                    notes="prefix tuning with projection on GQA LLaMA (encoder_hidden_size defaults to token_dim = 8)"),
    "bert_prefix": dict(arch="bert", kind="prefix", config=dict(num_virtual_tokens=3),
                        notes="SEQ_CLS prefix tuning (BERT positions start after the prefix)"),
    "gpt2_ptuning_mlp": dict(arch="gpt2", kind="ptuning", config=dict(num_virtual_tokens=4, encoder_reparameterization_type="MLP", encoder_hidden_size=12),
                             notes="P-tuning, MLP encoder (Linear-ReLU-Linear-ReLU-Linear)"),
    "gpt2_ptuning_lstm": dict(arch="gpt2", kind="ptuning", config=dict(num_virtual_tokens=4, encoder_reparameterization_type="LSTM", encoder_hidden_size=10, encoder_num_layers=2),
                              notes="P-tuning, LSTM encoder: 2-layer bidirectional LSTM, then Linear-ReLU-Linear"),
    "llama_ptuning_lstm": dict(arch="llama", kind="ptuning", config=dict(num_virtual_tokens=3, encoder_reparameterization_type="LSTM", encoder_hidden_size=6, encoder_num_layers=1),
                               notes="P-tuning, 1-layer bidirectional LSTM encoder on LLaMA"),
    "bert_ptuning_mlp": dict(arch="bert", kind="ptuning", config=dict(num_virtual_tokens=3, encoder_reparameterization_type="MLP", encoder_hidden_size=20),
                             notes="SEQ_CLS P-tuning, MLP encoder"),
}


def peft_config(spec):
    from peft import PrefixTuningConfig, PromptEncoderConfig, PromptTuningConfig

    task = "SEQ_CLS" if spec["arch"] == "bert" else "CAUSAL_LM"
    cls = {"prompt": PromptTuningConfig, "prefix": PrefixTuningConfig, "ptuning": PromptEncoderConfig}[spec["kind"]]
    return cls(task_type=task, **spec["config"])


def perturb(peft_model, spec):
    """Move every trainable prompt parameter (and the new classifier) off its initial value, as training would."""
    keep_table = spec["kind"] == "prompt" and spec["config"].get("prompt_tuning_init") != "RANDOM"
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if not p.requires_grad:
                continue
            if name.startswith("prompt_encoder.") and keep_table:
                continue
            p.add_(0.3 * torch.randn_like(p))


def make_case(out, name, spec):
    from peft import get_peft_model
    from safetensors.torch import save_file

    arch = spec["arch"]
    model = load_base(out, arch)
    base_logits = forward_logits(model, INPUT_IDS, ATTENTION_MASK)
    torch.manual_seed(SEED + 1 + sorted(CASES).index(name))
    peft_model = get_peft_model(model, peft_config(spec))
    perturb(peft_model, spec)
    peft_model.eval()
    logits = forward_logits(peft_model, INPUT_IDS, ATTENTION_MASK)

    case_dir = os.path.join(out, name)
    peft_model.save_pretrained(case_dir)
    os.remove(os.path.join(case_dir, "README.md"))  # PEFT's model card template: not needed by the tests
    encoder = peft_model.prompt_encoder["default"]
    encoder_state = encoder.state_dict()
    if list(encoder_state) != ["embedding.weight"]:  # otherwise the table itself is prompt_embeddings
        save_file({k: v.detach().contiguous() for k, v in encoder_state.items()}, os.path.join(case_dir, "encoder.safetensors"))
    with open(os.path.join(case_dir, "adapter_config.json")) as f:
        config = json.load(f)

    init_ids = None
    if spec["config"].get("prompt_tuning_init") == "TEXT":
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(spec["config"]["tokenizer_name_or_path"])
        ids = tok(spec["config"]["prompt_tuning_init_text"])["input_ids"]
        n = spec["config"]["num_virtual_tokens"]
        init_ids = (ids * math.ceil(n / len(ids)))[:n]
        table = encoder.embedding.weight.detach()
        assert torch.equal(table, peft_model.word_embeddings.weight.detach()[torch.tensor(init_ids)]), "TEXT init ids do not reproduce PEFT's table"

    expected = {
        "case": name,
        "base": f"base_{arch}",
        "arch": arch,
        "task": config["task_type"],
        "config": config,
        "input_ids": INPUT_IDS,
        "attention_mask": ATTENTION_MASK,
        "init_token_ids": init_ids,
        "generate": None,
        "versions": versions(),
        "notes": spec["notes"],
    }
    if arch != "bert":
        cached = greedy(peft_model, GEN_IDS, GEN_MASK, True)
        try:
            uncached, uncached_error = greedy(peft_model, GEN_IDS, GEN_MASK, False), None
        except Exception as e:  # PEFT 0.21 + transformers 5.17: prefix tuning on LLaMA fails without a cache
            uncached, uncached_error = None, f"{type(e).__name__}: {e}"
        single = greedy(peft_model, GEN_SINGLE, [[1] * len(GEN_SINGLE[0])], True)
        expected["generate"] = {
            "input_ids": GEN_IDS,
            "attention_mask": GEN_MASK,
            "max_new_tokens": MAX_NEW_TOKENS,
            "tokens": cached,
            "tokens_without_cache": uncached,
            "without_cache_error": uncached_error,
            "single_input_ids": GEN_SINGLE,
            "single_tokens": single,
        }
    # Logits as float32 in a safetensors file (a fifth of the JSON size); float32 is what both sides compute in.
    # (Causal LMs with virtual tokens have logits for them too: compare the text positions.)
    assert (logits[..., -base_logits.shape[-2]:, :] if logits.dim() == 3 else logits).sub(base_logits).abs().max() > 1e-3, "the adapter does not change the logits"
    save_file({"logits": logits.contiguous()}, os.path.join(case_dir, "expected.safetensors"))
    write_json(os.path.join(case_dir, "expected.json"), expected)
    print(f"wrote {case_dir}")


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: python3 make_fixtures.py OUTDIR")
    out = os.path.abspath(sys.argv[1])
    os.makedirs(out, exist_ok=True)
    torch.use_deterministic_algorithms(True)
    for arch in ("gpt2", "llama", "bert"):
        model = make_base(arch)
        base_dir = os.path.join(out, f"base_{arch}")
        model.save_pretrained(base_dir)
        for f in ("tokenizer.json", "tokenizer_config.json"):
            shutil.copy(os.path.join(tokenizer_dir(arch), f), os.path.join(base_dir, f))
        print(f"wrote {base_dir}")
    # Bases and TEXT init's tokenizer are named by paths relative to OUTDIR ("base_gpt2"), as a user names a hub id.
    os.chdir(out)
    for name in sorted(CASES):
        make_case(out, name, CASES[name])
    total = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(out) for f in fs)
    print(f"total size: {total / 1024:.1f} KiB")


if __name__ == "__main__":
    main()
