"""Bottleneck adapters in PyTorch, following AdapterHub's `adapters` 1.2 line by line (it is not installable
here, so this is a port, read from its source and cited per function):

- `Adapter`, `ParallelAdapter`: adapters `src/adapters/methods/modeling.py` (`__init__` with init_weights
  "bert" / "mam_adapter" / "houlsby", `pre_forward`, `forward`, `post_forward`);
- `BottleneckLayer`: adapters `src/adapters/methods/bottleneck.py` (`add_adapter`, `pre_block`,
  `compose_single`, `mean`, `bottleneck_layer_forward`) with the composition blocks of
  `src/adapters/composition.py` / `methods/adapter_layer_base.py` (`Stack`, `Average`, `BatchSplit`);
- placement: adapters `models/gpt2/modeling_gpt2.py` (`GPT2BlockWithAdapters.forward`),
  `models/bert/modeling_bert.py` (`BertSelfOutputWithAdapters`, `BertOutputWithAdapters`),
  `models/llama/modeling_llama.py` (`LlamaDecoderLayerWithAdapters.forward`), on transformers 5.17 blocks.

Parameter names are AdapterHub's: `transformer.h.N.attention_adapters.adapters.<name>.adapter_down.0.weight`,
`bert.encoder.layer.N.attention.output.adapters.<name>.adapter_up.weight`, … so `state_dict()` filtered to
adapter weights is what AdapterHub's `save_adapter` writes.

Used by the bench peer (peer.py) and by packages/adapter/scripts/make_fixtures.py. Imports torch at the top:
import this module only where torch is installed.
"""
from __future__ import annotations

import math
import types

import torch
from torch import nn
from transformers.activations import get_activation


# --------------------------------------------------------------------------------------------------
# Composition blocks (composition.py)


class Block:
    def __init__(self, *children):
        self.children = list(children)

    def __iter__(self):
        return iter(self.children)

    def first(self):
        c = self.children[0]
        return c if isinstance(c, str) else c.first()

    def last(self):
        c = self.children[-1]
        return c if isinstance(c, str) else c.last()

    def flatten(self):
        out = set()
        for c in self.children:
            out |= {c} if isinstance(c, str) else c.flatten()
        return out


class Stack(Block):
    pass


class Average(Block):
    def __init__(self, *children, weights=None, normalize_weights=True):
        super().__init__(*children)
        if weights is not None:
            if normalize_weights:
                s = sum(weights) if weights else 1
                self.weights = [w / s for w in weights]
            else:
                self.weights = weights
        else:
            self.weights = [1 / len(children)] * len(children)


class BatchSplit(Block):
    def __init__(self, *children, batch_sizes):
        super().__init__(*children)
        self.batch_sizes = batch_sizes if isinstance(batch_sizes, list) else [batch_sizes] * len(children)


def parse_composition(setup):
    """parse_composition at level 0: a name is Stack(name), a list of names a Stack."""
    if isinstance(setup, Block):
        return setup
    if isinstance(setup, str):
        return Stack(setup)
    return Stack(*setup)


# --------------------------------------------------------------------------------------------------
# One adapter (methods/modeling.py)


class ActivationFunction(nn.Module):
    """Activation_Function_Class."""

    def __init__(self, hidden_act):
        super().__init__()
        if hidden_act.lower() == "leakyrelu":
            self.f = nn.functional.leaky_relu
        else:
            self.f = get_activation(hidden_act.lower())

    def forward(self, x):
        return self.f(x)


def init_bert_weights(module):
    if isinstance(module, (nn.Linear, nn.Embedding)):
        module.weight.data.normal_(mean=0.0, std=0.02)
    elif isinstance(module, nn.LayerNorm):
        module.bias.data.zero_()
        module.weight.data.fill_(1.0)
    if isinstance(module, nn.Linear) and module.bias is not None:
        module.bias.data.zero_()


class Adapter(nn.Module):
    def __init__(self, adapter_name, input_size, down_sample, config):
        super().__init__()
        self.name = adapter_name
        self.input_size = input_size
        self.add_layer_norm_before = config["ln_before"]
        self.add_layer_norm_after = config["ln_after"]
        self.adapter_residual_before_ln = config["adapter_residual_before_ln"]
        self.use_gating = config["use_gating"]
        self.residual_before_ln = config["residual_before_ln"]
        self.original_ln_before = config["original_ln_before"]
        self.original_ln_after = config["original_ln_after"]

        seq_list = []
        if self.add_layer_norm_before:
            # AdapterHub also keeps it as `adapter_norm_before` (the same module under two names); it is only
            # reachable as adapter_down.0 here, so state_dict has one key for it.
            seq_list.append(nn.LayerNorm(self.input_size))
        self.down_sample = down_sample if down_sample is not None else self.input_size // 2
        if self.down_sample < 1:
            self.down_sample = 1
        seq_list.append(nn.Linear(self.input_size, self.down_sample))
        self.non_linearity = ActivationFunction(config["non_linearity"].lower())
        seq_list.append(self.non_linearity)
        self.adapter_down = nn.Sequential(*seq_list)
        self.adapter_up = nn.Linear(self.down_sample, self.input_size)

        scaling = config["scaling"]
        if isinstance(scaling, (int, float)) and not isinstance(scaling, bool):
            self.scaling = float(scaling)
        elif scaling == "learned":
            self.scaling = nn.Parameter(torch.ones(1))
        elif scaling == "channel":
            self.scaling = nn.Parameter(torch.ones(input_size))
        else:
            raise ValueError(f"Unknown scaling type: {scaling}")

        if self.add_layer_norm_after:
            self.adapter_norm_after = nn.LayerNorm(self.input_size)
        if self.use_gating:
            self.gate = nn.Linear(self.input_size, 1)
        self.dropout = nn.Dropout(p=config["dropout"])

        if config.get("init_weights_seed") is not None:
            torch.manual_seed(config["init_weights_seed"])  # utils.fix_seed
        if config["init_weights"] == "bert":
            self.adapter_down.apply(init_bert_weights)
            self.adapter_up.apply(init_bert_weights)
            if self.use_gating:
                self.gate.apply(init_bert_weights)
        elif config["init_weights"] == "mam_adapter":
            with torch.no_grad():
                for layer in self.adapter_down:
                    if isinstance(layer, nn.Linear):
                        nn.init.kaiming_uniform_(layer.weight, a=math.sqrt(5))
                        nn.init.zeros_(layer.bias)
                nn.init.zeros_(self.adapter_up.weight)
                nn.init.zeros_(self.adapter_up.bias)
                if self.use_gating:
                    self.gate.apply(init_bert_weights)
        elif config["init_weights"] == "houlsby":
            for layer in self.adapter_down:
                if isinstance(layer, nn.Linear):
                    nn.init.trunc_normal_(layer.weight, mean=0, std=1e-2, a=-2 * 1e-2, b=2 * 1e-2)
                    nn.init.zeros_(layer.bias)
            nn.init.trunc_normal_(self.adapter_up.weight, mean=0, std=1e-2, a=-2 * 1e-2, b=2 * 1e-2)
            nn.init.zeros_(self.adapter_up.bias)
        else:
            raise ValueError(f"Unknown init_weights type: {config['init_weights']}")

    def pre_forward(self, hidden_states, input_tensor, layer_norm):
        if self.residual_before_ln is True:
            residual = hidden_states
        if self.original_ln_before:
            if layer_norm:
                hidden_states = hidden_states + input_tensor
                if self.residual_before_ln == "post_add":
                    residual = hidden_states
                hidden_states = layer_norm(hidden_states)
            else:
                if input_tensor is not None:
                    hidden_states = hidden_states + input_tensor
        if not self.residual_before_ln:
            residual = hidden_states
        return hidden_states, None, residual

    def forward(self, x, residual_input):
        down = self.adapter_down(x)
        up = self.adapter_up(down)
        up = up * self.scaling
        output = self.dropout(up)
        if self.use_gating:
            gate = torch.sigmoid(self.gate(x))
            gate = torch.mean(gate, dim=1).unsqueeze(-1)
            output = output * gate
        if self.adapter_residual_before_ln:
            output = output + residual_input
        if self.add_layer_norm_after:
            output = self.adapter_norm_after(output)
        if not self.adapter_residual_before_ln:
            output = output + residual_input
        return output, down, up

    def post_forward(self, hidden_states, input_hidden_states, input_tensor, layer_norm):
        if self.original_ln_after:
            if layer_norm:
                hidden_states = layer_norm(hidden_states + input_tensor)
            else:
                hidden_states = hidden_states + input_tensor
        return hidden_states


class ParallelAdapter(Adapter):
    def pre_forward(self, hidden_states, input_tensor, layer_norm):
        return input_tensor, None, input_tensor

    def forward(self, x, residual_input):
        down = self.adapter_down(x)
        up = self.adapter_up(down)
        up = up * self.scaling
        output = self.dropout(up)
        if self.use_gating:
            gate = torch.sigmoid(self.gate(x))
            gate = torch.mean(gate, dim=1).unsqueeze(-1)
            output = output * gate
        if self.add_layer_norm_after:
            output = self.adapter_norm_after(output)
        return output, down, up

    def post_forward(self, hidden_states, input_hidden_states, input_tensor, layer_norm):
        hidden_states = hidden_states + input_hidden_states
        if self.original_ln_after:
            if layer_norm:
                hidden_states = layer_norm(hidden_states + input_tensor)
            else:
                hidden_states = hidden_states + input_tensor
        return hidden_states


# --------------------------------------------------------------------------------------------------
# One location's adapters and their composition (methods/bottleneck.py, methods/adapter_layer_base.py)


class Setup:
    """The model's active adapter setup (AdapterHub keeps it in `adapters_config.active_setup`)."""

    def __init__(self):
        self.active = None


def _pre_block(adapters, setup, state):
    name = setup.first() if isinstance(setup, Block) else setup
    hidden, _, residual = adapters[name].pre_forward(state["hidden"], state["input"], state["ln"])
    return {**state, "hidden": hidden, "residual": residual}


def _single(adapters, name, state):
    out, _, up = adapters[name](state["hidden"], residual_input=state["residual"])
    return {**state, "hidden": out, "up": up, "last": name}


def _vslice(state, sl):
    return {**state, "hidden": state["hidden"][sl], "input": state["input"][sl], "residual": state["residual"][sl]}


def _compose(adapters, setup, state):
    if isinstance(setup, Stack):
        for child in setup:
            if isinstance(child, Block):
                state = _compose(adapters, child, state)
            elif child in adapters:
                state = _pre_block(adapters, child, state)
                state = _single(adapters, child, state)
        return state
    if isinstance(setup, Average):
        state = _pre_block(adapters, setup, state)
        children = []
        for child in setup:
            if isinstance(child, Block):
                children.append(_compose(adapters, child, state))
            elif child in adapters:
                children.append(_single(adapters, child, state))
        weights = torch.tensor(setup.weights)[:, None, None, None].to(state["hidden"].device)
        # BottleneckLayer.mean: torch.mean over the weighted stack (Σ wᵢhᵢ / N).
        hidden = torch.mean(torch.stack([s["hidden"] for s in children], 0) * weights, dim=0)
        return {**children[0], "hidden": hidden, "last": children[-1]["last"]}
    if isinstance(setup, BatchSplit):
        if sum(setup.batch_sizes) != state["hidden"].shape[0]:
            raise IndexError("batch sizes do not sum to the batch")
        state = _pre_block(adapters, setup, state)
        children = []
        for i, child in enumerate(setup):
            sl = slice(sum(setup.batch_sizes[:i]), sum(setup.batch_sizes[: i + 1]))
            if isinstance(child, Block):
                children.append(_compose(adapters, child, _vslice(state, sl)))
            elif child in adapters:
                children.append(_single(adapters, child, _vslice(state, sl)))
            else:
                children.append(_vslice(state, sl))
        return {
            **state,
            "hidden": torch.cat([s["hidden"] for s in children], 0),
            "input": torch.cat([s["input"] for s in children], 0),
            "residual": torch.cat([s["residual"] for s in children], 0),
            "last": children[-1]["last"],
        }
    raise ValueError(f"unsupported composition {setup!r}")


def bottleneck_layer_forward(adapters, setup, hidden_states, residual_input, layer_norm):
    """BottleneckLayer.bottleneck_layer_forward (without the Parallel-block tensor adjustments)."""
    active = setup.active
    if active is not None and len(set(adapters.keys()) & active.flatten()) > 0:
        input_hidden_states = hidden_states
        state = {"hidden": hidden_states, "input": residual_input, "residual": residual_input, "ln": layer_norm, "last": None}
        state = _compose(adapters, active, state)
        hidden_states = adapters[state["last"]].post_forward(state["hidden"], input_hidden_states, state["input"], layer_norm)
    elif layer_norm is not None:
        hidden_states = layer_norm(hidden_states + residual_input)
    elif residual_input is not None:
        hidden_states = hidden_states + residual_input
    return hidden_states


class BottleneckLayer(nn.Module):
    """The `attention_adapters` / `output_adapters` module of GPT-2 and LLaMA blocks."""

    def __init__(self, location_key, setup):
        super().__init__()
        self.location_key = location_key
        self.adapters = nn.ModuleDict()
        self._setup = setup

    def forward(self, hidden_states, residual_input, layer_norm):
        return bottleneck_layer_forward(self.adapters, self._setup, hidden_states, residual_input, layer_norm)


# --------------------------------------------------------------------------------------------------
# Placement in transformers 5.17 models (models/*/modeling_*.py of adapters)


def _gpt2_block_forward(self, hidden_states, past_key_values=None, attention_mask=None, encoder_hidden_states=None,
                        encoder_attention_mask=None, use_cache=False, **kwargs):
    residual = hidden_states
    hidden_states = self.ln_1(hidden_states)
    attn_output, _ = self.attn(hidden_states, past_key_values=past_key_values, attention_mask=attention_mask,
                               use_cache=use_cache, **kwargs)
    hidden_states = self.attention_adapters(attn_output, residual, None)
    residual = hidden_states
    hidden_states = self.ln_2(hidden_states)
    feed_forward_hidden_states = self.mlp(hidden_states)
    # Replaced: hidden_states = residual + feed_forward_hidden_states
    hidden_states = self.output_adapters(feed_forward_hidden_states, residual, None)
    return hidden_states


def _llama_layer_forward(self, hidden_states, attention_mask=None, position_ids=None, past_key_values=None,
                         use_cache=False, position_embeddings=None, **kwargs):
    residual = hidden_states
    hidden_states = self.input_layernorm(hidden_states)
    hidden_states, _ = self.self_attn(hidden_states=hidden_states, attention_mask=attention_mask,
                                      position_ids=position_ids, past_key_values=past_key_values,
                                      use_cache=use_cache, position_embeddings=position_embeddings, **kwargs)
    hidden_states = self.attention_adapters(hidden_states, residual, None)
    residual = hidden_states
    hidden_states = self.post_attention_layernorm(hidden_states)
    hidden_states = self.mlp(hidden_states)
    hidden_states = self.output_adapters(hidden_states, residual, None)
    return hidden_states


def _bert_output_forward(self, hidden_states, input_tensor):
    hidden_states = self.dense(hidden_states)
    hidden_states = self.dropout(hidden_states)
    return bottleneck_layer_forward(self.adapters, self._bottleneck_setup, hidden_states, input_tensor, self.LayerNorm)


def init_adapters(model):
    """Makes `model` adapter-ready as AdapterHub's `adapters.init(model)` does for bottleneck adapters.
    Returns the model's Setup (set `.active` to a composition) and the per-layer modules by location."""
    setup = Setup()
    model_type = model.config.model_type
    locations = []  # (layer_idx, location_key, module holding .adapters)
    if model_type == "gpt2":
        for i, block in enumerate(model.transformer.h):
            block.attention_adapters = BottleneckLayer("mh_adapter", setup)
            block.output_adapters = BottleneckLayer("output_adapter", setup)
            block.forward = types.MethodType(_gpt2_block_forward, block)
            locations += [(i, "mh_adapter", block.attention_adapters), (i, "output_adapter", block.output_adapters)]
    elif model_type == "llama":
        for i, layer in enumerate(model.model.layers):
            layer.attention_adapters = BottleneckLayer("mh_adapter", setup)
            layer.output_adapters = BottleneckLayer("output_adapter", setup)
            layer.forward = types.MethodType(_llama_layer_forward, layer)
            locations += [(i, "mh_adapter", layer.attention_adapters), (i, "output_adapter", layer.output_adapters)]
    elif model_type == "bert":
        for i, layer in enumerate(model.bert.encoder.layer):
            # BertSelfOutput / BertOutput are themselves the BottleneckLayer in AdapterHub: `.adapters` sits on them.
            for key, module in (("mh_adapter", layer.attention.output), ("output_adapter", layer.output)):
                module.adapters = nn.ModuleDict()
                module._bottleneck_setup = setup
                module.forward = types.MethodType(_bert_output_forward, module)
                locations.append((i, key, module))
    else:
        raise NotImplementedError(f"bottleneck.py places adapters in gpt2, bert and llama, not {model_type!r}")
    model._bottleneck_setup = setup
    model._bottleneck_locations = locations
    return setup


def add_adapter(model, name, config, bottleneck_size=None):
    """BottleneckLayer.add_adapter at every location of `model` (init_adapters first): `config` is a BnConfig
    dict with AdapterHub's field names (every field given). `bottleneck_size` (peftjs's extension) fixes the
    size for every layer instead of hidden // reduction_factor."""
    hidden = model.config.hidden_size
    for layer_idx, key, module in model._bottleneck_locations:
        if layer_idx in config.get("leave_out", []) or not config.get(key, False):
            continue
        rf = config["reduction_factor"]
        if isinstance(rf, dict):
            if str(layer_idx) in rf:
                rf = rf[str(layer_idx)]
            elif "default" in rf:
                rf = rf["default"]
            else:
                raise KeyError("reduction factor mapping has no default")
        cls = ParallelAdapter if config["is_parallel"] else Adapter
        down = bottleneck_size if bottleneck_size is not None else int(hidden // rf)
        adapter = cls(adapter_name=name, input_size=hidden, down_sample=down, config=config)
        adapter.train(module.training)
        module.adapters[name] = adapter


def adapter_state_dict(model, name):
    """The tensors AdapterHub's save_adapter writes for adapter `name` (its filter_func on state_dict keys)."""
    return {k: v for k, v in model.state_dict().items() if f".adapters.{name}." in k}


# AdapterHub's preset dataclasses (configuration/adapter_config.py) as full field dicts, for callers without
# the library.
BN_DEFAULTS = {
    "original_ln_before": False, "original_ln_after": True, "ln_before": False, "ln_after": False,
    "init_weights": "bert", "init_weights_seed": None, "is_parallel": False, "scaling": 1.0, "use_gating": False,
    "residual_before_ln": True, "adapter_residual_before_ln": False, "inv_adapter": None,
    "inv_adapter_reduction_factor": None, "cross_adapter": False, "leave_out": [], "dropout": 0.0,
    "phm_layer": False, "phm_dim": 4, "factorized_phm_W": True, "shared_W_phm": False, "shared_phm_rule": True,
    "factorized_phm_rule": False, "phm_c_init": "normal", "phm_init_range": 0.0001, "learn_phm": True,
    "hypercomplex_nonlinearity": "glorot-uniform", "phm_rank": 1, "phm_bias": True, "stochastic_depth": 0.0,
}
BN_REQUIRED = ("mh_adapter", "output_adapter", "reduction_factor", "non_linearity")
PRESETS = {
    "seq_bn": {**BN_DEFAULTS, "original_ln_before": True, "mh_adapter": False, "output_adapter": True,
               "non_linearity": "relu", "reduction_factor": 16},
    "double_seq_bn": {**BN_DEFAULTS, "mh_adapter": True, "output_adapter": True, "non_linearity": "swish",
                      "reduction_factor": 16},
    "par_bn": {**BN_DEFAULTS, "mh_adapter": False, "output_adapter": True, "non_linearity": "relu",
               "reduction_factor": 2, "init_weights": "mam_adapter", "is_parallel": True, "scaling": 4.0},
}
PRESETS["pfeiffer"] = PRESETS["seq_bn"]
PRESETS["houlsby"] = PRESETS["double_seq_bn"]
PRESETS["parallel"] = PRESETS["par_bn"]
