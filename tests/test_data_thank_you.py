"""The thank-you builder: the cut after an assistant turn, the datasets path on a local ultrachat-shaped
file counted with a real tokenizer, and the quiet fall-over to the generated offline set."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from joulebench.data.offline_chats import offline_records
from joulebench.data.prompt_set import SourceRequest, count_chat_tokens
from joulebench.data.prompts import open_prompts
from joulebench.data.thank_you import THANK_YOU, thank_you_conversation, thank_you_set
from joulebench.workloads.tokenizer import byte_tokenizer


def test_the_cut_keeps_the_history_to_the_last_assistant_turn_and_thanks() -> None:
    chat = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"},
            {"role": "assistant", "content": "d"}, {"role": "user", "content": "dangling"}]
    cut = thank_you_conversation(chat)
    assert cut is not None
    assert [m["content"] for m in cut] == ["a", "b", "c", "d", THANK_YOU]
    assert cut[-1]["role"] == "user"
    assert thank_you_conversation([{"role": "user", "content": "no answer yet"}]) is None


def test_offline_records_have_ultrachats_shape_and_the_design_lengths() -> None:
    records = offline_records(50, seed=2)
    assert len(records) == 50
    for record in records:
        assert {"prompt", "prompt_id", "messages", "design_tokens"} <= record.keys()
        roles = [m["role"] for m in record["messages"]]
        assert roles[0] == "user" and roles[-1] == "assistant"
        assert all(a != b for a, b in zip(roles, roles[1:], strict=False))  # alternating turns
        assert 200 <= record["design_tokens"] <= 4000
        words = sum(len(m["content"].split()) for m in record["messages"])
        assert words < record["design_tokens"]  # the template and the thanks fill the rest
    assert offline_records(5, seed=2) == records[:5]  # one seed, one set, whatever its size


def test_offline_fall_over_is_quiet_and_says_which_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from joulebench.models import configs

    monkeypatch.setattr(configs, "_HUB", None)  # probe again under the offline setting
    prompts = open_prompts("thank-you", 40, 0, "llama-3.1-8b")
    assert len(prompts.samples) == 40
    assert prompts.prompt_lengths == "design of the generated offline set"
    assert len(prompts.notes) == 1 and "hub is unreachable" in prompts.notes[0]
    for sample in prompts.samples:
        assert sample.messages is not None and sample.messages[-1]["content"] == THANK_YOU
        assert 10 <= sample.reply_tokens <= 256


def test_datasets_path_on_a_local_copy_counts_with_the_chat_template(tmp_path: Path) -> None:
    pytest.importorskip("datasets")
    rows = []
    for i in range(12):
        messages = [{"role": "user", "content": f"question {i} " * (i + 1)},
                    {"role": "assistant", "content": f"answer {i} " * (2 * i + 1)}]
        if i % 4 == 3:
            messages = messages[:1]  # no assistant turn: skipped, as the study's cut needs one
        rows.append({"prompt": messages[0]["content"], "prompt_id": str(i), "messages": messages})
    path = tmp_path / "ultrachat_sample.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    prompts = thank_you_set(SourceRequest(6, 0, "tiny-llama", extra={"dataset": str(path)}))
    assert len(prompts.samples) == 6 and not prompts.notes
    assert prompts.prompt_lengths.startswith("chat template of tiny-llama on ") and "datasets" in prompts.prompt_lengths
    tokenizer = byte_tokenizer()
    for sample in prompts.samples:
        assert sample.messages is not None and sample.messages[-1]["content"] == THANK_YOU
        assert sample.prompt_tokens == count_chat_tokens(tokenizer, sample.messages)
        assert "question" in sample.messages[0]["content"]


def test_an_unloadable_dataset_falls_over_with_its_reason(tmp_path: Path) -> None:
    pytest.importorskip("datasets")
    path = tmp_path / "broken.jsonl"
    path.write_text("{not json\n")
    prompts = thank_you_set(SourceRequest(5, 0, "tiny-llama", extra={"dataset": str(path)}))
    assert prompts.prompt_lengths == "design of the generated offline set"
    assert "could not be loaded" in prompts.notes[0]
