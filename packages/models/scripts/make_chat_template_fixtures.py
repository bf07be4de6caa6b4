"""Chat-template fixtures: what transformers 5.17 renders for a few conversations with chat templates in the
style the supported families ship (ChatML as Qwen2/Qwen3 use it, Llama 3's header tokens, Gemma's turns,
Mistral's [INST], Phi-3's <|user|>). The expected strings come from transformers' own renderer
(`transformers.utils.chat_template_utils.render_jinja_template`: jinja2 sandbox, trim_blocks, lstrip_blocks),
so the test checks @huggingface/jinja against it. Run with the CPU venv (no GPU needed):

    python3 packages/models/scripts/make_chat_template_fixtures.py packages/models/test/fixtures/chat_templates/cases.json
"""
import json
import sys

import transformers
from transformers.utils.chat_template_utils import render_jinja_template

TEMPLATES = {
    "chatml": "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}",
    "llama3": "{{- bos_token }}\n{%- for message in messages %}\n    {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' }}\n{%- endfor %}\n{%- if add_generation_prompt %}\n    {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}\n{%- endif %}\n",
    "gemma": "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{% set first_user_prefix = messages[0]['content'] + '\n\n' %}{% set loop_messages = messages[1:] %}{% else %}{% set first_user_prefix = '' %}{% set loop_messages = messages %}{% endif %}{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if message['role'] == 'assistant' %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}{{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else '') + message['content'] | trim + '<end_of_turn>\n' }}{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model\n'}}{% endif %}",
    "mistral": "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token }}{% elif message['role'] == 'system' %}{{ message['content'] + '\n\n' }}{% endif %}{% endfor %}",
    "phi3": "{% for message in messages %}{% if message['role'] == 'system' %}{{'<|system|>\n' + message['content'] + '<|end|>\n'}}{% elif message['role'] == 'user' %}{{'<|user|>\n' + message['content'] + '<|end|>\n'}}{% elif message['role'] == 'assistant' %}{{'<|assistant|>\n' + message['content'] + '<|end|>\n'}}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% else %}{{ eos_token }}{% endif %}",
}
CONVERSATIONS = [
    [{"role": "user", "content": "Hello!"}],
    [
        {"role": "system", "content": "Answer in one word."},
        {"role": "user", "content": "  Capital of France?  "},
        {"role": "assistant", "content": "Paris"},
        {"role": "user", "content": "And of Italy?"},
    ],
]
SPECIAL = {"bos_token": "<s>", "eos_token": "</s>"}

cases = []
for name, template in TEMPLATES.items():
    for i, messages in enumerate(CONVERSATIONS):
        for add_generation_prompt in (False, True):
            rendered = render_jinja_template(
                conversations=[messages], chat_template=template, add_generation_prompt=add_generation_prompt, **SPECIAL
            )
            text = rendered[0][0] if isinstance(rendered, tuple) else rendered
            if isinstance(text, list):
                text = text[0]
            cases.append({"template": name, "conversation": i, "add_generation_prompt": add_generation_prompt, "expected": text})

json.dump(
    {"transformers": transformers.__version__, "special_tokens": SPECIAL, "templates": TEMPLATES, "conversations": CONVERSATIONS, "cases": cases},
    open(sys.argv[1], "w"),
    indent=1,
)
print(f"{len(cases)} cases")
