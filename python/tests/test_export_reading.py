"""Reading optune exports: columns, line formats, gzip, and the errors for bad input."""

from __future__ import annotations

import gzip
import json
import math

import pytest

from conftest import CHAT_EXPORT_FIXTURE, EXPORT_FIXTURE
from optune_trl.data import ExportFileError, read_export, weight_mismatches
from optune_trl.train import UsageError, parse_args


def write_lines(path, objects):
    path.write_text("".join((o if isinstance(o, str) else json.dumps(o)) + "\n" for o in objects), encoding="utf-8")
    return path


PAIR = {"prompt": "p", "chosen": "a", "rejected": "b", "weight": 0.75, "gap": 0.2, "run_id": 1}


def test_fixture_is_a_real_trl_export():
    pairs = read_export(EXPORT_FIXTURE)
    lines = [json.loads(line) for line in EXPORT_FIXTURE.read_text(encoding="utf-8").splitlines()]
    assert len(pairs) == len(lines) > 0
    assert pairs.weight == [line["weight"] for line in lines]
    assert pairs.prompt == [line["prompt"] for line in lines]
    for line in lines:  # optune's extra columns, which stock TRL ignores
        for column in ("chosen_reward", "rejected_reward", "gap", "origin", "prompt_id", "policy_id"):
            assert column in line
        assert math.isclose(line["weight"], 1 / (1 + math.exp(-5 * line["gap"])), rel_tol=1e-12)
    assert weight_mismatches(pairs, beta2=5) == 0
    assert weight_mismatches(pairs, beta2=1) > 0


def test_chat_fixture_is_conversational():
    pairs = read_export(CHAT_EXPORT_FIXTURE)
    assert pairs.conversational and pairs.wrapped_text_lines == 0 and len(pairs) == 6
    assert all(isinstance(p, list) and p[-1]["role"] == "user" for p in pairs.prompt)
    assert all(c[0]["role"] == "assistant" and r[0]["role"] == "assistant" for c, r in zip(pairs.chosen, pairs.rejected))


def test_gzip_is_read_by_content(tmp_path):
    plain = write_lines(tmp_path / "d.jsonl", [PAIR, {**PAIR, "weight": 0.5}])
    packed = tmp_path / "d.jsonl.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    assert read_export(packed).weight == [0.75, 0.5]


def test_bad_json_names_file_and_line(tmp_path):
    path = write_lines(tmp_path / "d.jsonl", [PAIR, "", "{not json", PAIR])
    with pytest.raises(ExportFileError, match=r"d\.jsonl:3: not valid JSON"):
        read_export(path)


@pytest.mark.parametrize(
    "line, message",
    [
        ({k: v for k, v in PAIR.items() if k != "weight"}, r":2: missing column\(s\) weight"),
        ({"prompt_ids": [1], "chosen_ids": [2], "rejected_ids": [3], "weight": 1}, r"--format tokens"),
        ({"prompt": "p", "chosen": "a", "rejected": "b", "margin": 1.0}, r"--format openrlhf"),
        ({**PAIR, "weight": None}, r":2: 'weight' must be a finite number, got null"),
        ({**PAIR, "weight": True}, r"'weight' must be a finite number"),
        ({**PAIR, "weight": -0.1}, r"'weight' must be >= 0"),
        ({**PAIR, "prompt": 3}, r"'prompt' must be a string or a list of messages"),
        ({**PAIR, "chosen": [{"role": "assistant", "content": "a"}]}, r"'chosen' must be a string"),
        ({**PAIR, "prompt": [{"role": "user", "content": "p"}]}, r"'chosen' must be a message list"),
        ({**PAIR, "prompt": [{"role": "user"}], "chosen": [], "rejected": []}, r"'prompt'\[0\] has no string 'content'"),
        ([1, 2], r"expected a JSON object, got list"),
    ],
    ids=["no-weight", "tokens-format", "openrlhf-format", "null-weight", "bool-weight", "negative-weight",
         "number-prompt", "chat-chosen-for-text-prompt", "text-chosen-for-chat-prompt", "message-without-content",
         "not-an-object"],
)
def test_bad_lines_are_reported(tmp_path, line, message):
    path = write_lines(tmp_path / "d.jsonl", [PAIR, line])
    with pytest.raises(ExportFileError, match=message):
        read_export(path)


def test_empty_and_missing_files(tmp_path):
    with pytest.raises(ExportFileError, match="holds no pairs"):
        read_export(write_lines(tmp_path / "empty.jsonl", []))
    with pytest.raises(ExportFileError, match="no such file"):
        read_export(tmp_path / "absent.jsonl")


def test_mixed_text_and_chat_prompts_become_chat(tmp_path):
    chat = {**PAIR, "prompt": [{"role": "user", "content": "q"}],
            "chosen": [{"role": "assistant", "content": "x"}], "rejected": [{"role": "assistant", "content": "y"}]}
    pairs = read_export(write_lines(tmp_path / "d.jsonl", [PAIR, chat]))
    assert pairs.conversational and pairs.wrapped_text_lines == 1
    assert pairs.prompt[0] == [{"role": "user", "content": "p"}]
    assert pairs.chosen[0] == [{"role": "assistant", "content": "a"}]
    assert pairs.rejected[0] == [{"role": "assistant", "content": "b"}]


ENV = {
    "OPTUNE_EXPORT_PATH": "/x/d0.jsonl", "OPTUNE_POLICY_URI": "exp1-pi0", "OPTUNE_POLICY_PATH": "/ckpt/pi0",
    "OPTUNE_OUTPUT_DIR": "/ckpt/pi1", "OPTUNE_RUN": "exp1", "OPTUNE_T": "0", "OPTUNE_LOSS": "dpo",
    "OPTUNE_BETA1": "2", "OPTUNE_BETA2": "5", "OPTUNE_LEARNING_RATE": "0.0002", "OPTUNE_SEED": "7",
}


def test_options_default_to_the_daemon_environment():
    args = parse_args([], ENV)
    assert (args.export, args.model, args.output_dir) == ("/x/d0.jsonl", "/ckpt/pi0", "/ckpt/pi1")
    assert (args.loss, args.beta1, args.beta2, args.learning_rate, args.seed) == ("dpo", 2.0, 5.0, 2e-4, 7)
    assert (args.run, args.t) == ("exp1", "0")
    flags = parse_args(["--loss", "wdpo", "--beta1", "0.5", "--model", "/m"], ENV)
    assert (flags.loss, flags.beta1, flags.model) == ("wdpo", 0.5, "/m")
    assert parse_args([], {**ENV, "OPTUNE_SEED": str(2**64 - 1)}).seed == 2**64 - 1
    no_path = {k: v for k, v in ENV.items() if k != "OPTUNE_POLICY_PATH"}
    assert parse_args([], no_path).model == "exp1-pi0"


@pytest.mark.parametrize(
    "argv, env, message",
    [
        ([], {}, r"--export is required \(or set \$OPTUNE_EXPORT_PATH\)"),
        ([], {**ENV, "OPTUNE_LOSS": "ipo"}, r"--loss must be dpo or wdpo"),
        ([], {**ENV, "OPTUNE_BETA1": "abc"}, r"--beta1: \$OPTUNE_BETA1 'abc' is not a valid float"),
        (["--beta1", "nan"], ENV, r"not a finite number"),
        (["--batch-size", "0"], ENV, r"--batch-size must be > 0"),
        ([], {**ENV, "OPTUNE_SEED": "1.5"}, r"--seed: \$OPTUNE_SEED '1.5' is not a valid int"),
        ([], {**ENV, "OPTUNE_SEED": "-1"}, r"--seed must be in 0...2\^64-1"),
    ],
    ids=["no-export", "unknown-loss", "bad-float-env", "nan-flag", "zero-batch", "bad-int-env", "negative-seed"],
)
def test_bad_options_are_usage_errors(argv, env, message):
    with pytest.raises(UsageError, match=message):
        parse_args(argv, env)
