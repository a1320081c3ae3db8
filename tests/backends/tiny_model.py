"""Write a tiny random-weight llama-architecture GGUF model for real-backend tests.

The model is a 2-layer llama with a byte-level GPT-2 style BPE vocabulary (the 128
ASCII bytes, a few merges) plus ChatML's control tokens and Hermes' `<tool_call>` tags,
and the Qwen2.5 chat template, which llama.cpp recognises for tool calling. Its training
context is `N_CTX` tokens, small enough to hit context-limit errors on purpose. The
output is gibberish, but shapes, tokenisation, usage counts, grammar-constrained tool
calls and context limits are all real. Weights come from a fixed seed, so the file is the
same on every machine; it is cached beside the `llama-server` binary. `gguf` (and numpy)
come with the `backends` extra and are imported only when a model is written, so plain
`make test` collects this package without them.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

from .build_llama_server import cache_root

if TYPE_CHECKING:
    import numpy as np

N_CTX = 1024
N_EMBD = 64
N_LAYER = 2
N_HEAD = 4
N_HEAD_KV = 2
N_FF = 128
SEED = 14

CONTROL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
USER_TOKENS = ("<tool_call>", "</tool_call>")
MERGES = (("Ġ", "t"), ("h", "e"), ("Ġ", "a"), ("i", "n"), ("e", "r"))

# Qwen2.5-Instruct's template (ChatML; tools as Hermes-style <tool_call> JSON).
CHAT_TEMPLATE = """\
{%- if tools %}
    {{- '<|im_start|>system\\n' }}
    {%- if messages[0]['role'] == 'system' %}
        {{- messages[0]['content'] }}
    {%- else %}
        {{- 'You are a tiny test model.' }}
    {%- endif %}
    {{- "\\n\\n# Tools\\n\\nYou may call one or more functions to assist with the user query.\\n\\n\
You are provided with function signatures within <tools></tools> XML tags:\\n<tools>" }}
    {%- for tool in tools %}
        {{- "\\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\\n</tools>\\n\\nFor each function call, return a json object with function name and \
arguments within <tool_call></tool_call> XML tags:\\n<tool_call>\\n\
{\\"name\\": <function-name>, \\"arguments\\": <args-json-object>}\\n</tool_call><|im_end|>\\n" }}
{%- else %}
    {%- if messages[0]['role'] == 'system' %}
        {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}
    {%- else %}
        {{- '<|im_start|>system\\nYou are a tiny test model.<|im_end|>\\n' }}
    {%- endif %}
{%- endif %}
{%- for message in messages %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) \
or (message.role == "assistant" and not message.tool_calls) %}
        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}
    {%- elif message.role == "assistant" %}
        {{- '<|im_start|>' + message.role }}
        {%- if message.content %}
            {{- '\\n' + message.content }}
        {%- endif %}
        {%- for tool_call in message.tool_calls %}
            {%- if tool_call.function is defined %}
                {%- set tool_call = tool_call.function %}
            {%- endif %}
            {{- '\\n<tool_call>\\n{"name": "' }}
            {{- tool_call.name }}
            {{- '", "arguments": ' }}
            {{- tool_call.arguments | tojson }}
            {{- '}\\n</tool_call>' }}
        {%- endfor %}
        {{- '<|im_end|>\\n' }}
    {%- elif message.role == "tool" %}
        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool") %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\\n<tool_response>\\n' }}
        {{- message.content }}
        {{- '\\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
            {{- '<|im_end|>\\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\\n' }}
{%- endif %}
"""


def _byte_symbols() -> list[str]:
    """GPT-2's byte-to-unicode mapping for the 128 ASCII bytes, in byte order."""
    printable = set(range(ord("!"), ord("~") + 1))
    symbols, shift = [], 0
    for byte in range(128):
        if byte in printable:
            symbols.append(chr(byte))
        else:
            symbols.append(chr(256 + shift))
            shift += 1
    return symbols


def vocabulary() -> tuple[list[str], list[int]]:
    """(tokens, token types) of the tiny model, byte tokens first."""
    import gguf

    tokens = _byte_symbols() + [a + b for a, b in MERGES]
    types = [gguf.TokenType.NORMAL] * len(tokens)
    tokens += CONTROL_TOKENS
    types += [gguf.TokenType.CONTROL] * len(CONTROL_TOKENS)
    tokens += USER_TOKENS
    types += [gguf.TokenType.USER_DEFINED] * len(USER_TOKENS)
    return tokens, [int(t) for t in types]


def _tensors(n_vocab: int) -> dict[str, np.ndarray]:
    """Random weights shaped as llama.cpp's llama loader expects (numpy order)."""
    import numpy as np

    rng = np.random.default_rng(SEED)
    head_dim = N_EMBD // N_HEAD

    def rand(*shape: int, scale: float = 0.2) -> np.ndarray:
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    ones = np.ones(N_EMBD, dtype=np.float32)
    tensors = {"token_embd.weight": rand(n_vocab, N_EMBD, scale=1.0)}
    for i in range(N_LAYER):
        tensors |= {
            f"blk.{i}.attn_norm.weight": ones,
            f"blk.{i}.attn_q.weight": rand(N_HEAD * head_dim, N_EMBD),
            f"blk.{i}.attn_k.weight": rand(N_HEAD_KV * head_dim, N_EMBD),
            f"blk.{i}.attn_v.weight": rand(N_HEAD_KV * head_dim, N_EMBD),
            f"blk.{i}.attn_output.weight": rand(N_EMBD, N_HEAD * head_dim),
            f"blk.{i}.ffn_norm.weight": ones,
            f"blk.{i}.ffn_gate.weight": rand(N_FF, N_EMBD),
            f"blk.{i}.ffn_up.weight": rand(N_FF, N_EMBD),
            f"blk.{i}.ffn_down.weight": rand(N_EMBD, N_FF),
        }
    tensors["output_norm.weight"] = ones
    # A large output scale makes the next-token distribution peaked, so greedy decoding
    # has clear margins and gives the same text on every run.
    tensors["output.weight"] = rand(n_vocab, N_EMBD, scale=2.0)
    return tensors


def write_model(path: Path) -> None:
    """Write the tiny model to `path` (atomically)."""
    import gguf

    tokens, types = vocabulary()
    arch = gguf.MODEL_ARCH_NAMES[gguf.MODEL_ARCH.LLAMA]
    staged = path.with_suffix(".tmp")
    writer = gguf.GGUFWriter(str(staged), arch)
    writer.add_name("switchyard-tiny-llama")
    writer.add_context_length(N_CTX)
    writer.add_embedding_length(N_EMBD)
    writer.add_block_count(N_LAYER)
    writer.add_feed_forward_length(N_FF)
    writer.add_head_count(N_HEAD)
    writer.add_head_count_kv(N_HEAD_KV)
    writer.add_rope_dimension_count(N_EMBD // N_HEAD)
    writer.add_rope_freq_base(10000.0)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_vocab_size(len(tokens))
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges([f"{a} {b}" for a, b in MERGES])
    writer.add_bos_token_id(tokens.index("<|endoftext|>"))
    writer.add_eos_token_id(tokens.index("<|im_end|>"))
    writer.add_eot_token_id(tokens.index("<|im_end|>"))
    writer.add_add_bos_token(False)
    writer.add_chat_template(CHAT_TEMPLATE)
    for name, array in _tensors(len(tokens)).items():
        writer.add_tensor(name, array)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    staged.replace(path)


def model_path() -> Path:
    """The cached tiny model, written first if missing (its name hashes this module)."""
    digest = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:12]
    path = cache_root() / "models" / f"tiny-llama-{digest}.gguf"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        write_model(path)
    return path


if __name__ == "__main__":
    print(model_path())
