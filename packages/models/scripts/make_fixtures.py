"""Writes the reference fixtures that @peftjs/models tests load (run on the GPU host; CPU is enough).

Usage: python3 make_fixtures.py OUTDIR

For each architecture a tiny random-init model is built with `transformers` (float32, eval mode,
eager attention), saved with `save_pretrained` (safetensors), and run on fixed inputs. Its logits and
loss go to `OUTDIR/<arch>/expected.json`:

    OUTDIR/gpt2/              GPT2LMHeadModel (tied lm_head)       config.json model.safetensors expected.json
    OUTDIR/gpt2_prefixless/   the same weights under GPT2Model's prefix-less names (`h.0.attn...`, no
                              `transformer.`, no lm_head, with the legacy `attn.bias` mask buffers)
    OUTDIR/bert/              BertForSequenceClassification, num_labels 3
    OUTDIR/llama/             LlamaForCausalLM, GQA (2 kv heads for 4 heads), untied lm_head
    OUTDIR/llama_sharded/     the same llama saved with max_shard_size="20KB" (model.safetensors.index.json)
    OUTDIR/tokenizer/         a byte-level BPE tokenizer.json (+ tokenizer_config.json) and expected.json
    OUTDIR/tokenizer_wordpiece/ a BERT WordPiece tokenizer.json (+ tokenizer_config.json) and expected.json

expected.json (models): {"model_type", "architecture", "cases": [{"name", "input_ids" [2,7],
"attention_mask" (or null), "token_type_ids" (bert, or null), "labels", "logits" (nested floats),
"loss"}], "generate": [{"input_ids" [1,n], "max_new_tokens", "eos_token_id", "tokens" [1,n+k]}]
(causal LMs only, greedy)}.
expected.json (tokenizers): {"cases": [{"text", "ids", "tokens", "decoded"}]} where ids include the
post-processor's special tokens and `decoded` is decode(ids, skip_special_tokens=True).
"""

import json
import os
import shutil
import sys

import torch
import transformers
from safetensors.torch import save_file
from transformers import (
    AutoModelForCausalLM,
    AutoModelForSequenceClassification,
    BertConfig,
    GPT2Config,
    LlamaConfig,
)

VOCAB = 96
SEQ = 7


def perturb_vectors(model, gen):
    """Random-init leaves LayerNorm/RMSNorm weights at 1 and biases at 0, which would hide a swapped
    weight/bias or a missing bias. Add noise to every 1-D parameter so each one matters."""
    with torch.no_grad():
        for _, p in model.named_parameters():
            if p.ndim == 1:
                p.add_(0.1 * torch.randn(p.shape, generator=gen))


def to_list(t):
    return t.detach().cpu().double().tolist()


def run_case(model, name, input_ids, attention_mask=None, token_type_ids=None, labels=None):
    kwargs = {"input_ids": input_ids}
    if attention_mask is not None:
        kwargs["attention_mask"] = attention_mask
    if token_type_ids is not None:
        kwargs["token_type_ids"] = token_type_ids
    if labels is not None:
        kwargs["labels"] = labels
    with torch.no_grad():
        out = model(**kwargs)
    return {
        "name": name,
        "input_ids": input_ids.tolist(),
        "attention_mask": None if attention_mask is None else attention_mask.tolist(),
        "token_type_ids": None if token_type_ids is None else token_type_ids.tolist(),
        "labels": None if labels is None else labels.tolist(),
        "logits": to_list(out.logits),
        "loss": None if out.loss is None else float(out.loss),
    }


def greedy(model, input_ids, max_new_tokens, eos_token_id):
    with torch.no_grad():
        tokens = model.generate(
            input_ids,
            attention_mask=torch.ones_like(input_ids),
            max_new_tokens=max_new_tokens,
            do_sample=False,
            eos_token_id=eos_token_id,
            pad_token_id=eos_token_id,
        )
    return {
        "input_ids": input_ids.tolist(),
        "max_new_tokens": max_new_tokens,
        "eos_token_id": eos_token_id,
        "tokens": tokens.tolist(),
    }


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f)


def fixed_inputs(gen):
    input_ids = torch.randint(0, VOCAB, (2, SEQ), generator=gen)
    labels = input_ids.clone()
    labels[0, 2] = -100
    labels[1, 5] = -100
    # Right padding on row 1 (last two positions), labels ignored there.
    mask = torch.ones(2, SEQ, dtype=torch.long)
    mask[1, SEQ - 2 :] = 0
    padded_labels = labels.clone()
    padded_labels[1, SEQ - 2 :] = -100
    return input_ids, labels, mask, padded_labels


def causal_lm_cases(model, gen):
    input_ids, labels, mask, padded_labels = fixed_inputs(gen)
    return [
        run_case(model, "plain", input_ids, labels=labels),
        run_case(model, "padded", input_ids, attention_mask=mask, labels=padded_labels),
    ]


def make_gpt2(out, gen):
    config = GPT2Config(
        vocab_size=VOCAB,
        n_positions=32,
        n_embd=32,
        n_layer=2,
        n_head=4,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        initializer_range=0.2,
        bos_token_id=VOCAB - 1,
        eos_token_id=VOCAB - 1,
    )
    model = AutoModelForCausalLM.from_config(config, attn_implementation="eager").float().eval()
    perturb_vectors(model, gen)
    path = os.path.join(out, "gpt2")
    model.save_pretrained(path)
    expected = {
        "model_type": "gpt2",
        "architecture": type(model).__name__,
        "cases": causal_lm_cases(model, gen),
        "generate": [greedy(model, torch.tensor([[5, 17, 42]]), 8, VOCAB - 1)],
    }
    write_json(os.path.join(path, "expected.json"), expected)

    # The original openai-community/gpt2 checkpoint uses GPT2Model's names (no "transformer." prefix,
    # no lm_head) and carries the causal-mask buffers `h.N.attn.bias` / `h.N.attn.masked_bias`.
    legacy = os.path.join(out, "gpt2_prefixless")
    os.makedirs(legacy, exist_ok=True)
    state = {}
    for k, v in model.state_dict().items():
        if k.startswith("lm_head."):
            continue
        state[k[len("transformer.") :]] = v.detach().clone().contiguous()
    n_pos = config.n_positions
    for i in range(config.n_layer):
        state[f"h.{i}.attn.bias"] = torch.tril(torch.ones(n_pos, n_pos)).view(1, 1, n_pos, n_pos)
        state[f"h.{i}.attn.masked_bias"] = torch.tensor(-1e4)
    save_file(state, os.path.join(legacy, "model.safetensors"), metadata={"format": "pt"})
    shutil.copy(os.path.join(path, "config.json"), os.path.join(legacy, "config.json"))
    shutil.copy(os.path.join(path, "expected.json"), os.path.join(legacy, "expected.json"))


def make_bert(out, gen):
    config = BertConfig(
        vocab_size=VOCAB,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=32,
        type_vocab_size=2,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        initializer_range=0.2,
        num_labels=3,
    )
    model = AutoModelForSequenceClassification.from_config(config, attn_implementation="eager").float().eval()
    perturb_vectors(model, gen)
    path = os.path.join(out, "bert")
    model.save_pretrained(path)
    input_ids, _, mask, _ = fixed_inputs(gen)
    token_type_ids = torch.zeros(2, SEQ, dtype=torch.long)
    token_type_ids[:, 4:] = 1
    labels = torch.tensor([0, 2])
    expected = {
        "model_type": "bert",
        "architecture": type(model).__name__,
        "cases": [
            run_case(model, "plain", input_ids, labels=labels),
            run_case(model, "padded", input_ids, attention_mask=mask, token_type_ids=token_type_ids, labels=labels),
        ],
    }
    write_json(os.path.join(path, "expected.json"), expected)


def make_llama(out, gen):
    common = dict(
        vocab_size=VOCAB,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=64,
        rms_norm_eps=1e-6,
        initializer_range=0.2,
        tie_word_embeddings=False,
        attention_bias=False,
        bos_token_id=1,
        eos_token_id=2,
    )
    # A non-default theta checks that the loader reads it. transformers 5 keeps it in rope_parameters;
    # 4.x takes rope_theta (and would silently store an unknown rope_parameters attribute).
    if int(transformers.__version__.split(".")[0]) >= 5:
        config = LlamaConfig(**common, rope_parameters={"rope_type": "default", "rope_theta": 500.0})
    else:
        config = LlamaConfig(**common, rope_theta=500.0)
    model = AutoModelForCausalLM.from_config(config, attn_implementation="eager").float().eval()
    perturb_vectors(model, gen)
    path = os.path.join(out, "llama")
    model.save_pretrained(path)
    expected = {
        "model_type": "llama",
        "architecture": type(model).__name__,
        "cases": causal_lm_cases(model, gen),
        "generate": [greedy(model, torch.tensor([[1, 17, 42, 9]]), 8, 2)],
    }
    write_json(os.path.join(path, "expected.json"), expected)

    sharded = os.path.join(out, "llama_sharded")
    model.save_pretrained(sharded, max_shard_size="20KB")
    if not os.path.exists(os.path.join(sharded, "model.safetensors.index.json")):
        raise SystemExit("llama_sharded: save_pretrained wrote no index; lower max_shard_size")
    shutil.copy(os.path.join(path, "expected.json"), os.path.join(sharded, "expected.json"))


TOKENIZER_TEXTS = [
    "Hello world, this is a tiny tokenizer.",
    "Parameter-efficient fine-tuning adapts large models cheaply.",
    "LoRA adds low-rank matrices A and B to frozen weights.",
    "Prefix tuning learns keys and values for every layer.",
    "The quick brown fox jumps over the lazy dog 1234567890 times!",
    "héllo wörld, naïve café — ünïcödé text\tand  two  spaces.\n",
]

TOKENIZER_CASES = [
    "Hello world",
    "LoRA adapters are tiny.",
    "  leading spaces and trailing  ",
    "héllo wörld 🤗 café",
    "numbers 2024 and symbols #$%!",
    "",
]


def save_tokenizer(tok, path, special):
    """tokenizer.json from the `tokenizers` library itself, plus the small tokenizer_config.json that
    transformers writes for a fast tokenizer (special tokens by role)."""
    os.makedirs(path, exist_ok=True)
    tok.save(os.path.join(path, "tokenizer.json"))
    config = {"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": 1024, "clean_up_tokenization_spaces": False}
    config.update(special)
    write_json(os.path.join(path, "tokenizer_config.json"), config)
    cases = []
    for text in TOKENIZER_CASES:
        enc = tok.encode(text)
        cases.append(
            {"text": text, "ids": enc.ids, "tokens": enc.tokens, "decoded": tok.decode(enc.ids, skip_special_tokens=True)}
        )
    write_json(os.path.join(path, "expected.json"), {"cases": cases})


def make_bpe_tokenizer(out):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(TOKENIZER_TEXTS * 4, trainer=trainer)
    eos = "<|endoftext|>"
    save_tokenizer(tok, os.path.join(out, "tokenizer"), {"bos_token": eos, "eos_token": eos, "unk_token": eos})


def make_wordpiece_tokenizer(out):
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece(prefix="##")
    trainer = trainers.WordPieceTrainer(
        vocab_size=300, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"], show_progress=False
    )
    tok.train_from_iterator(TOKENIZER_TEXTS * 4, trainer=trainer)
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)]
    )
    special = {"unk_token": "[UNK]", "pad_token": "[PAD]", "cls_token": "[CLS]", "sep_token": "[SEP]", "mask_token": "[MASK]"}
    save_tokenizer(tok, os.path.join(out, "tokenizer_wordpiece"), special)


def main():
    if len(sys.argv) != 2:
        raise SystemExit("usage: python3 make_fixtures.py OUTDIR")
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1234)
    make_gpt2(out, gen)
    make_bert(out, gen)
    make_llama(out, gen)
    make_bpe_tokenizer(out)
    make_wordpiece_tokenizer(out)
    total = 0
    for root, _, files in os.walk(out):
        for f in files:
            total += os.path.getsize(os.path.join(root, f))
    print(f"wrote fixtures to {out} ({total / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
