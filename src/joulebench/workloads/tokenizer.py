"""A byte-level tokenizer with a chat template for the bundled demo model.

The hub is not reachable on every machine, yet chat-message input must work end to end on the demo
model; a byte-level vocabulary (256 bytes + a few specials) needs no training data and no download.
Built with the ``tokenizers`` library; ids match the demo config (bos 256, eos 257).
"""

from __future__ import annotations

from typing import Any

from joulebench.models.configs import ModelRef, bundled_configs, hub_reachable

SPECIALS = ["<|bos|>", "<|eos|>", "<|user|>", "<|assistant|>", "<|system|>", "<|pad|>"]

CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}{{ eos_token }}{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def tokenizer_for(ref: ModelRef) -> Any | None:
    """The model's own tokenizer: local folder, hub id, or (bundled configs) the hub ids the config was
    copied from; None when none can be had here (the hub is not asked when it is unreachable)."""
    if ref.name == "tiny-llama":
        return byte_tokenizer()
    from transformers import AutoTokenizer

    if ref.kind == "local" and ref.path is not None:
        sources = [ref.path]
    elif not hub_reachable():
        return None
    elif ref.kind == "hub":
        sources = [ref.name]
    else:
        sources = list(bundled_configs().get(ref.name, {}).get("_hub_ids", []))
    for source in sources:
        try:
            return AutoTokenizer.from_pretrained(source)
        except Exception:  # noqa: BLE001 - unreachable or absent: try the next, else synthetic ids only
            continue
    return None


def byte_tokenizer(vocab_size: int | None = None) -> Any:
    """Bytes and the specials; with ``vocab_size`` (the model's), every id past them is a filler word
    that decodes to visible text (`` w<id>``). A random-weight model emits any id of its vocabulary: with
    256 bytes for 128,256 ids nearly every token decodes to nothing, a streaming server sends no text,
    and a client sees no token times. Text still encodes one id per byte (fillers never match a byte)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {f"<0x{i:02X}>": i for i in range(256)}
    for offset, token in enumerate(SPECIALS):
        vocab[token] = 256 + offset
    # byte-level pre-tokenisation maps every byte to one visible character; a WordLevel model over
    # those 256 characters then gives one id per byte
    byte_chars = pre_tokenizers.ByteLevel.alphabet()
    ordered = sorted(byte_chars, key=lambda ch: _byte_of(ch))
    word_vocab = {ch: i for i, ch in enumerate(ordered)}
    for offset, token in enumerate(SPECIALS):
        word_vocab[token] = 256 + offset
    space = ordered[ord(" ")]  # the visible character ByteLevel uses for a space
    for token_id in range(256 + len(SPECIALS), vocab_size or 0):
        word_vocab[f"{space}w{token_id}"] = token_id
    tok = Tokenizer(models.WordLevel(word_vocab, unk_token="<|pad|>"))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False), pre_tokenizers.Split("", "isolated")]
    )
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(SPECIALS)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<|bos|>", eos_token="<|eos|>", pad_token="<|pad|>"
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def _byte_of(ch: str) -> int:
    """Inverse of the GPT-2 byte-to-unicode map used by ByteLevel."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip([chr(c) for c in cs], bs, strict=True))[ch]
