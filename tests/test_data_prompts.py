"""Prompt sources: the study's length laws, the synthetic source, a user's file (counted with a real
tokenizer), and bad files refused with the line named."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from joulebench.data.lengths import PROMPTS, REPLIES, THANK_YOU_REPLIES
from joulebench.data.prompt_set import count_chat_tokens
from joulebench.data.prompts import open_prompts
from joulebench.errors import UsageError
from joulebench.workloads.tokenizer import byte_tokenizer


def test_length_laws_reproduce_the_study_ranges_and_means() -> None:
    # the study: prompts 200-4000 tokens with mean ~1200, replies 10-300 (case II); thank-you replies
    # capped at the study's 256 new tokens with the mean its own fits imply (~51)
    assert abs(PROMPTS.mean - 1200) / 1200 < 0.02
    assert (PROMPTS.low, PROMPTS.high) == (200, 4000)
    assert (REPLIES.low, REPLIES.high) == (10, 300)
    assert THANK_YOU_REPLIES.high == 256 and 45 < THANK_YOU_REPLIES.mean < 58
    drawn = PROMPTS.sample(20_000, seed=3)
    assert drawn.min() >= 200 and drawn.max() <= 4000
    assert abs(drawn.mean() - PROMPTS.mean) / PROMPTS.mean < 0.02
    assert np.array_equal(drawn, PROMPTS.sample(20_000, seed=3))  # one seed, the same lengths everywhere
    assert not np.array_equal(drawn[:100], PROMPTS.sample(100, seed=4))


def test_synthetic_source_follows_the_laws_and_says_so() -> None:
    prompts = open_prompts("synthetic", 500, 1, "tiny-llama")
    doc = prompts.describe()
    assert doc["requests"] == 500 and len(prompts.samples) == 500
    assert 200 <= doc["prompt_tokens_range"][0] and doc["prompt_tokens_range"][1] <= 4000
    assert 10 <= doc["reply_tokens_range"][0] and doc["reply_tokens_range"][1] <= 300
    assert "log-normal" in doc["prompt_lengths"] and "log-normal" in doc["reply_lengths"]
    assert all(s.messages is None for s in prompts.samples)


def test_user_file_counts_messages_with_the_models_chat_template(tmp_path: Path) -> None:
    chat = [{"role": "user", "content": "How do tides work?"}, {"role": "assistant", "content": "The moon pulls."},
            {"role": "user", "content": "thank you"}]
    path = tmp_path / "requests.jsonl"
    path.write_text("\n".join([json.dumps({"messages": chat, "reply_tokens": 17}), json.dumps({"prompt_tokens": 300}),
                               json.dumps(chat)]) + "\n")
    prompts = open_prompts(str(path), None, 0, "tiny-llama", THANK_YOU_REPLIES)
    first, second, third = prompts.samples
    expected = count_chat_tokens(byte_tokenizer(), chat)
    assert first.prompt_tokens == expected == third.prompt_tokens
    assert expected > sum(len(m["content"]) for m in chat)  # the template's markers count too
    assert first.reply_tokens == 17 and second.prompt_tokens == 300
    assert 10 <= second.reply_tokens <= 256  # drawn from the thank-you law: no length in the file
    assert "chat template of tiny-llama" in prompts.prompt_lengths
    assert prompts.reply_lengths.startswith("1 recorded")
    assert len(open_prompts(str(path), 2, 0, "tiny-llama").samples) == 2


@pytest.mark.parametrize(
    ("line", "needle"),
    [
        ('{"reply_tokens": 5}', "needs 'messages' or 'prompt_tokens'"),
        ('{"prompt_tokens": 0}', "must be >= 1"),
        ('{"prompt_tokens": "12"}', "must be int"),
        ('{"messages": [{"role": "user"}]}', "'role' and 'content'"),
        ('"just text"', "a request is a mapping"),
        ("{not json", "not valid JSON"),
    ],
)
def test_bad_request_lines_name_the_line(tmp_path: Path, line: str, needle: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"prompt_tokens": 10}\n' + line + "\n")
    with pytest.raises(UsageError) as info:
        open_prompts(str(path), None, 0, "tiny-llama")
    assert needle in str(info.value)
    assert "line 2" in str(info.value)


def test_unknown_source_and_messages_without_a_tokenizer_are_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as info:
        open_prompts("ultrachat", 10, 0, "tiny-llama")
    assert info.value.field == "source" and "thank-you, synthetic" in str(info.value)
    path = tmp_path / "chats.jsonl"
    path.write_text(json.dumps({"messages": [{"role": "user", "content": "hi"}]}) + "\n")
    # llama-3.1-8b is bundled without its tokenizer: with the hub unreachable its text cannot be counted
    with pytest.raises(UsageError) as info:
        open_prompts(str(path), None, 0, "llama-3.1-8b")
    assert "prompt_tokens" in str(info.value) and "tokenizer" in str(info.value)
    with pytest.raises(UsageError):
        open_prompts("synthetic", 0, 0, "tiny-llama")


def test_every_id_of_a_large_vocabulary_decodes_to_text_and_text_stays_one_id_per_byte() -> None:
    """A random-weight model emits any id of its 128,256; a streaming server sends text, so an id that
    decodes to nothing leaves the client without token times (every transformers serve request failed so
    on the H200, 2026-12-03)."""
    tokenizer = byte_tokenizer(128256)
    assert len(tokenizer) == 128256
    assert all(tokenizer.decode([i]).strip() for i in (262, 5000, 128255))
    assert tokenizer("héllo")["input_ids"] == byte_tokenizer()("héllo")["input_ids"] == list("héllo".encode())
