"""The wDPO loss against TRL's stock DPO loss and against a hand computation, on a real export."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from datasets import Dataset
from transformers import AutoModelForCausalLM, AutoTokenizer
from trl import DPOConfig, DPOTrainer

from conftest import EXPORT_FIXTURE
from optune_trl.data import read_export
from optune_trl.trainer import WeightedDPOTrainer

BETA = 0.5
BATCH = 6


def config(tmp_path, **overrides) -> DPOConfig:
    values = dict(output_dir=str(tmp_path / "out"), beta=BETA, per_device_train_batch_size=BATCH, report_to="none",
                  bf16=False, gradient_checkpointing=False, max_length=256, seed=0)
    values.update(overrides)
    return DPOConfig(**values)


def load(policy_dir):
    return (AutoModelForCausalLM.from_pretrained(policy_dir, dtype=torch.float32),
            AutoTokenizer.from_pretrained(policy_dir))


def perturb(model, seed: int) -> None:
    """Moves the policy away from π_t (the reference), so log-ratios are not all zero."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.05 * torch.randn(parameter.shape, generator=generator))


def first_batch(trainer, count: int = BATCH):
    examples = [trainer.train_dataset[i] for i in range(count)]
    return trainer.data_collator(examples)


def loss_and_grad(trainer, batch):
    trainer.model.train()  # as in Trainer.training_step (TRL disabled dropout, so this changes no number)
    trainer.model.zero_grad()
    loss = trainer.compute_loss(trainer.model, dict(batch))
    loss.backward()
    grads = torch.cat([p.grad.flatten() for p in trainer.model.parameters() if p.grad is not None])
    return loss.detach(), grads


def test_unit_weights_give_trl_stock_dpo_loss(tiny_policy_dir, tmp_path):
    pairs = read_export(EXPORT_FIXTURE)
    columns = pairs.columns()
    columns["weight"] = [1.0] * len(pairs)

    model, tokenizer = load(tiny_policy_dir)
    perturb(model, seed=1)
    ours = WeightedDPOTrainer(model=model, args=config(tmp_path), train_dataset=Dataset.from_dict(columns),
                              processing_class=tokenizer, optune_loss="wdpo")
    stock_model, stock_tokenizer = load(tiny_policy_dir)
    perturb(stock_model, seed=1)
    stock_columns = {k: v for k, v in columns.items() if k != "weight"}  # what stock TRL would see
    stock = DPOTrainer(model=stock_model, args=config(tmp_path), train_dataset=Dataset.from_dict(stock_columns),
                       processing_class=stock_tokenizer)

    batch = first_batch(ours)
    assert batch["weight"].tolist() == [1.0] * BATCH
    stock_batch = first_batch(stock)
    assert "weight" not in stock_batch
    for key in ("input_ids", "attention_mask", "completion_mask"):
        assert torch.equal(batch[key], stock_batch[key])

    ours_loss, ours_grad = loss_and_grad(ours, batch)
    stock_loss, stock_grad = loss_and_grad(stock, stock_batch)
    print(f"\n[loss check a] wdpo with every weight = 1: {ours_loss.item():.8f}   "
          f"TRL stock DPOTrainer: {stock_loss.item():.8f}   (log 2 = {math.log(2):.8f})")
    assert not math.isclose(stock_loss.item(), math.log(2), abs_tol=1e-4), "policy equals reference: check is void"
    torch.testing.assert_close(ours_loss, stock_loss, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(ours_grad, stock_grad, rtol=1e-5, atol=1e-7)
    # TRL's own loss of the same batch, logged beside ours
    assert math.isclose(ours._metrics["train"]["dpo_loss"][-1], stock_loss.item(), rel_tol=1e-6)


def completion_log_prob(model, prompt_ids: list[int], completion_ids: list[int]) -> float:
    """log π(completion | prompt), one unpadded sequence, from the model's plain logits."""
    ids = torch.tensor([prompt_ids + completion_ids])
    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=torch.ones_like(ids), use_cache=False).logits[0]
    log_probs = torch.log_softmax(logits[:-1].double(), dim=-1)
    targets = ids[0, 1:]
    start = len(prompt_ids) - 1
    return log_probs[torch.arange(start, len(targets)), targets[start:]].sum().item()


@pytest.mark.parametrize("precompute", [False, True], ids=["frozen-reference", "precomputed-reference"])
def test_weighted_loss_is_the_hand_computed_weighted_mean(tiny_policy_dir, tmp_path, precompute):
    pairs = read_export(EXPORT_FIXTURE)
    assert len(set(pairs.weight[:BATCH])) > 1, "fixture weights should differ"
    model, tokenizer = load(tiny_policy_dir)
    trainer = WeightedDPOTrainer(model=model, args=config(tmp_path, precompute_ref_log_probs=precompute),
                                 train_dataset=Dataset.from_dict(pairs.columns()), processing_class=tokenizer,
                                 optune_loss="wdpo")
    perturb(trainer.model, seed=2)  # after the trainer took π_t as its reference
    reference, _ = load(tiny_policy_dir)

    batch = first_batch(trainer)
    with torch.no_grad():
        loss = trainer.compute_loss(trainer.model, dict(batch)).item()

    per_pair, weights = [], []
    for i in range(BATCH):
        example = trainer.train_dataset[i]
        prompt, chosen, rejected = example["prompt_ids"], example["chosen_ids"], example["rejected_ids"]
        delta_w = completion_log_prob(trainer.model, prompt, chosen) - completion_log_prob(reference, prompt, chosen)
        delta_l = completion_log_prob(trainer.model, prompt, rejected) - completion_log_prob(reference, prompt, rejected)
        per_pair.append(-F.logsigmoid(torch.tensor(BETA * (delta_w - delta_l), dtype=torch.float64)).item())
        weights.append(example["weight"])
    assert weights == pairs.weight[:BATCH]
    hand = sum(w * l for w, l in zip(weights, per_pair)) / BATCH
    unweighted = sum(per_pair) / BATCH
    print(f"\n[loss check b, {'precomputed' if precompute else 'frozen'} reference] weights "
          f"{[round(w, 4) for w in weights]}\n    per-pair DPO losses {[round(v, 6) for v in per_pair]}\n"
          f"    wdpo trainer: {loss:.8f}   hand-computed weighted mean: {hand:.8f}   unweighted mean: {unweighted:.8f}")
    assert math.isclose(loss, hand, rel_tol=1e-5, abs_tol=1e-7)
    assert not math.isclose(loss, unweighted, rel_tol=1e-3), "weights had no effect: check is void"


def test_dpo_mode_ignores_the_weights(tiny_policy_dir, tmp_path):
    pairs = read_export(EXPORT_FIXTURE)
    model, tokenizer = load(tiny_policy_dir)
    trainer = WeightedDPOTrainer(model=model, args=config(tmp_path), train_dataset=Dataset.from_dict(pairs.columns()),
                                 processing_class=tokenizer, optune_loss="dpo")
    perturb(trainer.model, seed=3)
    batch = first_batch(trainer)
    with torch.no_grad():
        weighted_input = trainer.compute_loss(trainer.model, dict(batch)).item()
        batch["weight"] = torch.ones_like(batch["weight"])
        unit_input = trainer.compute_loss(trainer.model, dict(batch)).item()
    assert weighted_input == unit_input


def test_other_trl_losses_are_refused(tiny_policy_dir, tmp_path):
    pairs = read_export(EXPORT_FIXTURE)
    model, tokenizer = load(tiny_policy_dir)
    with pytest.raises(ValueError, match="loss_type must be"):
        WeightedDPOTrainer(model=model, args=config(tmp_path, loss_type=["ipo"]),
                           train_dataset=Dataset.from_dict(pairs.columns()), processing_class=tokenizer)
    with pytest.raises(ValueError, match="loss must be one of dpo, wdpo"):
        WeightedDPOTrainer(model=model, args=config(tmp_path), train_dataset=Dataset.from_dict(pairs.columns()),
                           processing_class=tokenizer, optune_loss="ipo")
