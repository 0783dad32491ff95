"""TRL's DPOTrainer with optune's weighted loss (wDPO, DESIGN.md §2, step 5).

With Δ(y) = log π_{t+1}(y|x) − log π_t(y|x) and the exported per-pair weight R = σ(β2·gap):

    dpo:  L = −mean[ log σ(β1·(Δ(y_w) − Δ(y_l))) ]
    wdpo: L = −mean[ R · log σ(β1·(Δ(y_w) − Δ(y_l))) ]

Stock TRL drops the ``weight`` column twice: ``Trainer`` removes dataset columns outside the
trainer's signature, and ``DataCollatorForPreference`` only batches the id columns. This module
keeps it through both (``_set_signature_columns_if_needed`` and ``WeightedPreferenceCollator``)
and then replaces the loss. Everything else — tokenisation, the reference model (π_t, a frozen
copy of the input model, or precomputed log-probabilities), the fused log-prob head, metrics and
logging — is TRL's own code, run unchanged.

Written against trl 1.16.0 (``DPOTrainer._compute_loss`` and ``compute_ref_log_probs``); the tests
in python/tests check the result against stock DPOTrainer and a hand computation.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from trl import DPOConfig, DPOTrainer
from trl.trainer.dpo_trainer import DataCollatorForPreference

LOSS_KINDS = ("dpo", "wdpo")
"""The losses DESIGN.md §2 defines."""

WEIGHT_COLUMN = "weight"


@dataclass
class WeightedPreferenceCollator(DataCollatorForPreference):
    """TRL's preference collator that also batches each example's ``weight`` as a float tensor."""

    def torch_call(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        batch = super().torch_call(examples)
        if WEIGHT_COLUMN in examples[0]:
            batch[WEIGHT_COLUMN] = torch.tensor([float(e[WEIGHT_COLUMN]) for e in examples], dtype=torch.float32)
        return batch


class _OutputRecorder:
    """Calls the policy model and keeps its first fused-head output, so the loss can reuse it."""

    def __init__(self, model: Any) -> None:
        self._model = model
        self.outputs: Any = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        out = self._model(*args, **kwargs)
        if self.outputs is None and kwargs.get("fused_lm_head"):
            self.outputs = out
        return out

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)


class WeightedDPOTrainer(DPOTrainer):
    """``DPOTrainer`` whose loss is DESIGN.md §2's ``dpo`` or ``wdpo``.

    ``optune_loss="dpo"`` runs TRL's stock sigmoid loss (the ``weight`` column is carried but not
    used). ``optune_loss="wdpo"`` multiplies each pair's sigmoid loss by its ``weight`` and takes
    the mean over the batch. Both log TRL's usual metrics plus ``weight/mean`` and, for wdpo,
    ``dpo_loss`` (the unweighted loss of the same batch, for comparison).
    """

    def __init__(
        self,
        model: Any,
        ref_model: Any = None,
        args: DPOConfig | None = None,
        data_collator: Any = None,
        *,
        optune_loss: str = "wdpo",
        **kwargs: Any,
    ) -> None:
        if optune_loss not in LOSS_KINDS:
            raise ValueError(f"loss must be one of {', '.join(LOSS_KINDS)}, got {optune_loss!r}")
        if args is None:
            raise ValueError("WeightedDPOTrainer needs an explicit DPOConfig (args=...)")
        if list(args.loss_type) != ["sigmoid"]:
            raise ValueError(f"wDPO weights the sigmoid DPO loss; loss_type must be ['sigmoid'], got {args.loss_type}")
        if args.f_divergence_type != "reverse_kl" or args.ld_alpha is not None or args.use_weighting:
            raise ValueError("wDPO is defined for plain DPO: f_divergence_type='reverse_kl', ld_alpha=None, use_weighting=False")
        if args.loss_weights not in (None, [1.0]):
            raise ValueError(f"loss_weights must be unset for wDPO, got {args.loss_weights}")
        self.optune_loss = optune_loss

        if data_collator is None:
            tokenizer = kwargs.get("processing_class")
            if tokenizer is None:
                raise ValueError("WeightedDPOTrainer needs processing_class (the tokenizer) to build its collator")
            if tokenizer.pad_token is None:
                tokenizer.pad_token = tokenizer.eos_token
            if tokenizer.pad_token_id is None:
                raise ValueError("the tokenizer has neither a pad token nor an EOS token")
            data_collator = WeightedPreferenceCollator(
                pad_token_id=tokenizer.pad_token_id,
                max_length=args.max_length,
                truncation_mode=args.truncation_mode,
                pad_to_multiple_of=args.pad_to_multiple_of,
            )
        super().__init__(model, ref_model, args, data_collator, **kwargs)

    # --- keeping the weight column ---------------------------------------------------------------

    def _set_signature_columns_if_needed(self) -> None:
        super()._set_signature_columns_if_needed()
        if WEIGHT_COLUMN not in self._signature_columns:
            self._signature_columns = [*self._signature_columns, WEIGHT_COLUMN]

    def compute_ref_log_probs(self, model: Any, inputs: dict[str, Any]) -> Any:
        # The reference forward passes every batch key but a few to the model; the weight is not one.
        return super().compute_ref_log_probs(model, {k: v for k, v in inputs.items() if k != WEIGHT_COLUMN})

    # --- the loss ----------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _reference_from_batch(self) -> Any:
        saved = self.precompute_ref_logps
        self.precompute_ref_logps = True
        try:
            yield
        finally:
            self.precompute_ref_logps = saved

    def _compute_loss(self, model: Any, inputs: dict[str, Any], return_outputs: bool) -> Any:
        inputs = dict(inputs)
        weight = inputs.pop(WEIGHT_COLUMN, None)
        if weight is None:
            raise ValueError("the batch has no 'weight' column: the dataset must carry the exported weight of each pair")
        mode = "train" if self.model.training else "eval"
        self._metrics[mode]["weight/mean"].append(self.accelerator.gather_for_metrics(weight).mean().item())
        if self.optune_loss == "dpo":
            return super()._compute_loss(model, inputs, return_outputs)

        # wdpo. The reference log-probabilities come from TRL's own reference pass (frozen π_t, the
        # disabled adapter under PEFT, or the precomputed columns); TRL's stock loss then runs on the
        # recorded policy forward, giving its metrics, and the weighted loss reuses that forward.
        if not self.precompute_ref_logps:
            reference = self.ref_model if self.ref_model is not None else model
            ref_chosen, ref_rejected = self.compute_ref_log_probs(reference, inputs)
            inputs["ref_chosen_logps"], inputs["ref_rejected_logps"] = ref_chosen, ref_rejected
        recorder = _OutputRecorder(model)
        with self._reference_from_batch():
            result = super()._compute_loss(recorder, inputs, return_outputs)
        stock_loss = result[0] if return_outputs else result
        if recorder.outputs is None:
            raise RuntimeError("the policy forward was not seen; this trl version computes the loss differently")

        loss = weighted_sigmoid_loss(
            policy_log_probs=recorder.outputs.log_probs,
            completion_mask=inputs["completion_mask"],
            ref_chosen_logps=inputs["ref_chosen_logps"],
            ref_rejected_logps=inputs["ref_rejected_logps"],
            weight=weight,
            beta=self.beta,
        )
        if self.aux_loss_enabled:
            loss = loss + self.router_aux_loss_coef * recorder.outputs.aux_loss
        self._metrics[mode]["dpo_loss"].append(self.accelerator.gather_for_metrics(stock_loss.detach()).mean().item())
        return (loss, result[1]) if return_outputs else loss


def sequence_log_probs(policy_log_probs: torch.Tensor, completion_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Chosen and rejected sequence log-probabilities from TRL's per-token ``log_probs``.

    The batch is [chosen…, rejected…]; the fused head gives 0 where the label is masked (the
    prompt and padding), so the sum over positions is the completion's log-probability.
    """
    seq_len = completion_mask.size(1) - 1
    logps = policy_log_probs[:, -seq_len:].sum(dim=1)
    chosen, rejected = logps.chunk(2, dim=0)
    return chosen, rejected


def weighted_sigmoid_loss(
    *,
    policy_log_probs: torch.Tensor,
    completion_mask: torch.Tensor,
    ref_chosen_logps: torch.Tensor,
    ref_rejected_logps: torch.Tensor,
    weight: torch.Tensor,
    beta: float,
) -> torch.Tensor:
    """−mean[ w · log σ(β·((log π(y_w) − log π_ref(y_w)) − (log π(y_l) − log π_ref(y_l)))) ]."""
    chosen, rejected = sequence_log_probs(policy_log_probs, completion_mask)
    delta = (chosen - ref_chosen_logps.to(chosen)) - (rejected - ref_rejected_logps.to(rejected))
    per_pair = -F.logsigmoid(beta * delta)
    return (weight.to(per_pair) * per_pair).mean()
