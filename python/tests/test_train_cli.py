"""The trainer as the daemon runs it: `python -m optune_trl.train` with only environment variables."""

from __future__ import annotations

import gzip
import json
import math
import os
import subprocess
import sys

import torch
import torch.nn.functional as F
from transformers import AutoModelForCausalLM, AutoTokenizer

from conftest import CHAT_EXPORT_FIXTURE, CHAT_TEMPLATE, EXPORT_FIXTURE, PYTHON_DIR
from optune_trl.data import read_export


def run_trainer(env_overrides: dict[str, str], args: list[str] | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPTUNE_")}
    env.update(env_overrides)
    env["PYTHONPATH"] = str(PYTHON_DIR) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-m", "optune_trl.train", *(args or [])], env=env, capture_output=True,
                          text=True, timeout=600)


def weighted_objective(policy, reference, tokenizer, pairs, beta: float) -> float:
    """DESIGN §2's wdpo objective over the whole export, computed outside TRL."""
    total = 0.0
    for prompt, chosen, rejected, weight in zip(pairs.prompt, pairs.chosen, pairs.rejected, pairs.weight):
        prompt_ids = tokenizer(prompt)["input_ids"]
        margins = []
        for completion in (chosen, rejected):
            ids = torch.tensor([tokenizer(prompt + completion + tokenizer.eos_token)["input_ids"]])
            logps = []
            for model in (policy, reference):
                with torch.no_grad():
                    logits = model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits
                    log_probs = torch.log_softmax(logits[0, :-1].double(), dim=-1)
                targets = ids[0, 1:]
                start = len(prompt_ids) - 1
                logps.append(log_probs[torch.arange(start, len(targets)), targets[start:]].sum().item())
            margins.append(logps[0] - logps[1])
        total += weight * -F.logsigmoid(torch.tensor(beta * (margins[0] - margins[1]))).item()
    return total / len(pairs.prompt)


def test_daemon_style_run_trains_the_tiny_gpt2_from_a_real_export(tiny_policy_dir, tmp_path):
    export = tmp_path / "d0.jsonl.gz"
    export.write_bytes(gzip.compress(EXPORT_FIXTURE.read_bytes()))
    output = tmp_path / "pi1"
    beta1 = 0.5
    result = run_trainer({
        "OPTUNE_EXPORT_PATH": str(export),
        "OPTUNE_POLICY_URI": "tiny-pi0",
        "OPTUNE_POLICY_PATH": str(tiny_policy_dir),
        "OPTUNE_OUTPUT_DIR": str(output),
        "OPTUNE_RUN": "fixture",
        "OPTUNE_T": "0",
        "OPTUNE_LOSS": "wdpo",
        "OPTUNE_BETA1": str(beta1),
        "OPTUNE_BETA2": "5",
        "OPTUNE_LEARNING_RATE": "0.003",
        "OPTUNE_SEED": "1",
        "OPTUNE_TRL_BATCH_SIZE": "8",
        "OPTUNE_TRL_EPOCHS": "3",
        "OPTUNE_TRL_OPTIM": "adamw_torch",
        "OPTUNE_TRL_WARMUP_RATIO": "0",
    }, ["--no-gradient-checkpointing"])
    print("\n[training] stdout of python -m optune_trl.train:\n" + result.stdout)
    assert result.returncode == 0, result.stderr[-4000:]
    assert "warning" not in result.stdout  # the exported weights are σ(5·gap)

    summary = json.loads((output / "optune_training.json").read_text())
    pairs = read_export(EXPORT_FIXTURE)
    steps = -(-len(pairs) // 8) * 3
    assert summary["steps"] == steps and summary["pairs"] == len(pairs)
    assert (summary["run"], summary["t"], summary["loss_kind"], summary["beta1"]) == ("fixture", "0", "wdpo", beta1)
    curve = summary["loss_curve"]
    assert [entry["step"] for entry in curve] == list(range(1, steps + 1))
    for entry in curve:
        print(f"[training] step {entry['step']:2d}  wdpo loss {entry['loss']:.6f}  unweighted dpo loss "
              f"{entry['dpo_loss']:.6f}  mean weight {entry['weight/mean']:.4f}  margin {entry['rewards/margins']:.4f}")
        assert entry["loss"] < entry["dpo_loss"]  # every weight is < 1

    # π_{t+1} is a loadable checkpoint that differs from π_t and lowers the wdpo objective against π_t.
    trained = AutoModelForCausalLM.from_pretrained(output)
    tokenizer = AutoTokenizer.from_pretrained(output)
    reference = AutoModelForCausalLM.from_pretrained(tiny_policy_dir)
    assert len(tokenizer) == len(AutoTokenizer.from_pretrained(tiny_policy_dir))
    changed = any(not torch.equal(a, b) for a, b in zip(trained.state_dict().values(), reference.state_dict().values()))
    assert changed
    before = weighted_objective(reference, reference, tokenizer, pairs, beta1)
    after = weighted_objective(trained, reference, tokenizer, pairs, beta1)
    print(f"[training] wdpo objective on the export: π_t {before:.6f} -> π_t+1 {after:.6f}")
    assert after < before


def test_bad_export_line_exits_2_naming_the_line(tiny_policy_dir, tmp_path):
    export = tmp_path / "d0.jsonl"
    lines = EXPORT_FIXTURE.read_text().splitlines()[:3] + ['{"prompt": "x", "chosen": "a"']
    export.write_text("\n".join(lines) + "\n")
    result = run_trainer({"OPTUNE_EXPORT_PATH": str(export), "OPTUNE_POLICY_PATH": str(tiny_policy_dir),
                          "OPTUNE_OUTPUT_DIR": str(tmp_path / "out")})
    assert result.returncode == 2
    assert f"optune_trl: error: {export}:4: not valid JSON" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_model_folder_is_a_clear_error(tmp_path):
    result = run_trainer({"OPTUNE_EXPORT_PATH": str(EXPORT_FIXTURE), "OPTUNE_POLICY_URI": "org/some-model",
                          "OPTUNE_OUTPUT_DIR": str(tmp_path / "out")})
    assert result.returncode == 2
    assert "--model org/some-model: not a local folder" in result.stderr


def test_help_explains_the_environment_contract():
    result = run_trainer({}, ["--help"])
    assert result.returncode == 0
    for variable in ("OPTUNE_EXPORT_PATH", "OPTUNE_POLICY_PATH", "OPTUNE_POLICY_URI", "OPTUNE_OUTPUT_DIR",
                     "OPTUNE_LOSS", "OPTUNE_BETA1", "OPTUNE_BETA2", "OPTUNE_LEARNING_RATE", "OPTUNE_SEED",
                     "OPTUNE_RUN", "OPTUNE_T"):
        assert variable in result.stdout
    assert "wdpo" in result.stdout


def test_conversational_export_trains_with_flags(tiny_policy_dir, tmp_path):
    output = tmp_path / "pi1"
    result = run_trainer({}, [
        "--export", str(CHAT_EXPORT_FIXTURE), "--model", str(tiny_policy_dir), "--output-dir", str(output),
        "--loss", "wdpo", "--beta1", "1", "--learning-rate", "0.003", "--batch-size", "3", "--epochs", "2",
        "--optim", "adamw_torch", "--warmup-ratio", "0", "--seed", "3", "--no-gradient-checkpointing",
    ])
    print("\n[training, chat export] stdout:\n" + result.stdout)
    assert result.returncode == 0, result.stderr[-4000:]
    assert "6 pairs, conversational prompts" in result.stdout
    curve = json.loads((output / "optune_training.json").read_text())["loss_curve"]
    assert len(curve) == 4
    # Every pair of this export has gap 0, so weight 0.5; at step 1 the policy is π_t: Δ = 0.
    assert curve[0]["weight/mean"] == 0.5
    assert abs(curve[0]["dpo_loss"] - math.log(2)) < 1e-6
    assert abs(curve[0]["loss"] - 0.5 * math.log(2)) < 1e-6
    for entry in curve:
        print(f"[training, chat export] step {entry['step']}  wdpo loss {entry['loss']:.6f}  "
              f"unweighted dpo loss {entry['dpo_loss']:.6f}")
        assert abs(entry["loss"] - 0.5 * entry["dpo_loss"]) < 1e-5
    assert AutoTokenizer.from_pretrained(output).chat_template == CHAT_TEMPLATE
