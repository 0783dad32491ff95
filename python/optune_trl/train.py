"""Train π_t → π_{t+1} on an optune export with TRL's DPOTrainer and the dpo or wdpo loss.

Run ``python -m optune_trl.train --help``. Every option defaults to an environment variable when it
is set, so under ``optune train --backend command -- python -m optune_trl.train`` no flag is
needed; a flag given on the command line wins over the variable.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any, Sequence

PROG = "python -m optune_trl.train"


class UsageError(Exception):
    """A bad option or environment value, reported without a traceback."""


# (flag, environment variable, type, default, help)
_OPTIONS: list[tuple[str, str, Any, Any, str]] = [
    ("--export", "OPTUNE_EXPORT_PATH", str, None,
     "the export to train on: `optune export --format trl` JSONL, optionally gzip-compressed"),
    ("--model", "OPTUNE_POLICY_PATH", str, None,
     "π_t: a local checkpoint folder (model + tokenizer, as save_pretrained writes them); "
     "falls back to $OPTUNE_POLICY_URI when $OPTUNE_POLICY_PATH is unset. π_t is also the reference model"),
    ("--output-dir", "OPTUNE_OUTPUT_DIR", str, None,
     "where π_{t+1} (model + tokenizer) is saved; created if missing"),
    ("--loss", "OPTUNE_LOSS", str, "wdpo",
     "dpo: TRL's sigmoid DPO loss; wdpo: each pair's loss times its exported weight, mean over the batch"),
    ("--beta1", "OPTUNE_BETA1", float, 0.1, "β1, the DPO temperature (TRL's beta)"),
    ("--beta2", "OPTUNE_BETA2", float, None,
     "β2 of the run; the export's weight already is σ(β2·gap), so this only checks it and warns on a mismatch"),
    ("--learning-rate", "OPTUNE_LEARNING_RATE", float, 5e-7, "peak learning rate (the paper: 5e-7 for a 7B model)"),
    ("--seed", "OPTUNE_SEED", int, 0,
     "the run's seed, 0 to 2^64-1; TRL/transformers (data order, dropout) get it modulo 2^32"),
    ("--epochs", "OPTUNE_TRL_EPOCHS", float, 1.0, "passes over the export"),
    ("--batch-size", "OPTUNE_TRL_BATCH_SIZE", int, 8, "pairs per device per step"),
    ("--gradient-accumulation-steps", "OPTUNE_TRL_GRADIENT_ACCUMULATION_STEPS", int, 1,
     "steps accumulated per optimiser update (effective batch = batch size × this × devices)"),
    ("--max-length", "OPTUNE_TRL_MAX_LENGTH", int, 1024,
     "truncate prompt+response to this many tokens (pairs whose prompt alone fills it are dropped)"),
    ("--optim", "OPTUNE_TRL_OPTIM", str, "rmsprop", "transformers optimiser name (the paper uses RMSProp)"),
    ("--warmup-ratio", "OPTUNE_TRL_WARMUP_RATIO", float, 0.1, "fraction of steps for linear warm-up (the paper: 0.1)"),
    ("--max-steps", "OPTUNE_TRL_MAX_STEPS", int, -1, "stop after this many optimiser steps (-1: run the epochs)"),
    ("--logging-steps", "OPTUNE_TRL_LOGGING_STEPS", int, 1, "log loss and metrics every N steps"),
    ("--dtype", "OPTUNE_TRL_DTYPE", str, "float32",
     "dtype the model is loaded in: float32 (TRL's default), bfloat16, float16 or auto (the checkpoint's)"),
]

_DTYPES = ("float32", "bfloat16", "float16", "auto")

_RUN_ENV = ("OPTUNE_RUN", "OPTUNE_T", "OPTUNE_POLICY_URI")


def _flag_dest(flag: str) -> str:
    return flag.lstrip("-").replace("-", "_")


def build_parser() -> argparse.ArgumentParser:
    """The command-line parser; defaults are filled from the environment later, in ``parse_args``."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Train π_t into π_{t+1} on an optune export with TRL's DPOTrainer (data collator, reference\n"
            "model, logging), using DESIGN.md §2's loss:\n"
            "  dpo:  L = -mean[ log σ(β1·(Δ(y_w) − Δ(y_l))) ]\n"
            "  wdpo: L = -mean[ R · log σ(β1·(Δ(y_w) − Δ(y_l))) ]   R = the export's weight column\n"
            "with Δ(y) = log π_{t+1}(y|x) − log π_t(y|x): the reference is π_t, the input model.\n\n"
            "Each option falls back to the environment variable shown with it, so the trainer daemon\n"
            "(`optune train --backend command -- python -m optune_trl.train`) can run it with no flags."
        ),
        epilog=(
            "Also read: OPTUNE_RUN and OPTUNE_T (name the training in logs and in optune_training.json).\n"
            "Output: the model and tokenizer in --output-dir, plus optune_training.json (loss curve,\n"
            "settings, versions). Exit status 2 on bad options or a bad export, 1 on a training error.\n\n"
            "Example:\n"
            "  optune export --run exp1 --iteration 0 --format trl -o d0.jsonl.gz\n"
            f"  {PROG} --export d0.jsonl.gz --model /ckpt/exp1-pi0 --output-dir /ckpt/exp1-pi1 \\\n"
            "      --loss wdpo --beta1 0.1 --learning-rate 5e-7 --batch-size 8"
        ),
    )
    for flag, env, kind, default, text in _OPTIONS:
        shown = f" (default: ${env}, else {default})" if default is not None else f" (default: ${env})"
        parser.add_argument(flag, dest=_flag_dest(flag), metavar=_flag_dest(flag).upper(), default=None,
                            help=text + shown)
    parser.add_argument("--precompute-ref-log-probs", action=argparse.BooleanOptionalAction, default=False,
                        help="compute π_t's log-probabilities once before training instead of keeping a frozen copy "
                             "of π_t in memory (default: off)")
    parser.add_argument("--gradient-checkpointing", action=argparse.BooleanOptionalAction, default=True,
                        help="trade compute for memory (default: on, as in TRL)")
    parser.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=None,
                        help="bf16 mixed precision (default: on when a CUDA GPU supports it, else off)")
    return parser


def _convert(value: str, kind: Any, flag: str, source: str) -> Any:
    try:
        converted = kind(value)
    except ValueError:
        raise UsageError(f"{flag}: {source} {value!r} is not a valid {kind.__name__}") from None
    if isinstance(converted, float) and not math.isfinite(converted):
        raise UsageError(f"{flag}: {source} {value!r} is not a finite number")
    return converted


def parse_args(argv: Sequence[str] | None = None, environ: dict[str, str] | None = None) -> argparse.Namespace:
    """Parses ``argv``; each unset option takes its environment variable, then its default."""
    env = os.environ if environ is None else environ
    args = build_parser().parse_args(argv)
    for flag, variable, kind, default, _ in _OPTIONS:
        dest = _flag_dest(flag)
        given = getattr(args, dest)
        if given is not None:
            setattr(args, dest, _convert(given, kind, flag, "value"))
        elif env.get(variable, "") != "":
            setattr(args, dest, _convert(env[variable], kind, flag, f"${variable}"))
        else:
            setattr(args, dest, default)
    if args.model is None and env.get("OPTUNE_POLICY_URI", "") != "":
        args.model = env["OPTUNE_POLICY_URI"]
    args.run = env.get("OPTUNE_RUN") or None
    args.t = env.get("OPTUNE_T") or None

    for dest, flag, variable in (("export", "--export", "OPTUNE_EXPORT_PATH"),
                                 ("model", "--model", "OPTUNE_POLICY_PATH or OPTUNE_POLICY_URI"),
                                 ("output_dir", "--output-dir", "OPTUNE_OUTPUT_DIR")):
        if getattr(args, dest) is None:
            raise UsageError(f"{flag} is required (or set ${variable})")
    if args.loss not in ("dpo", "wdpo"):
        raise UsageError(f"--loss must be dpo or wdpo, got {args.loss!r}")
    positive = [("--beta1", args.beta1), ("--learning-rate", args.learning_rate), ("--epochs", args.epochs),
                ("--batch-size", args.batch_size), ("--max-length", args.max_length),
                ("--gradient-accumulation-steps", args.gradient_accumulation_steps),
                ("--logging-steps", args.logging_steps)]
    if args.beta2 is not None:
        positive.append(("--beta2", args.beta2))
    for flag, value in positive:
        if value <= 0:
            raise UsageError(f"{flag} must be > 0, got {value}")
    if not 0 <= args.seed < 2**64:
        raise UsageError(f"--seed must be in 0...2^64-1, got {args.seed}")
    if args.dtype not in _DTYPES:
        raise UsageError(f"--dtype must be one of {', '.join(_DTYPES)}, got {args.dtype!r}")
    if not 0 <= args.warmup_ratio < 1:
        raise UsageError(f"--warmup-ratio must be in [0, 1), got {args.warmup_ratio}")
    if args.max_steps == 0 or args.max_steps < -1:
        raise UsageError(f"--max-steps must be -1 or > 0, got {args.max_steps}")
    return args


def _say(message: str) -> None:
    print(f"optune_trl: {message}", flush=True)


def _versions() -> dict[str, str]:
    import accelerate
    import datasets
    import torch
    import transformers
    import trl

    return {"torch": torch.__version__, "transformers": transformers.__version__, "trl": trl.__version__,
            "datasets": datasets.__version__, "accelerate": accelerate.__version__}


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Loads π_t and the export, trains, saves π_{t+1}; returns the summary written beside it."""
    from .data import read_export, weight_mismatches

    pairs = read_export(args.export)
    _say(f"{args.export}: {len(pairs)} pairs, {'conversational' if pairs.conversational else 'text'} prompts, "
         f"weight mean {sum(pairs.weight) / len(pairs):.4f} min {min(pairs.weight):.4f} max {max(pairs.weight):.4f}")
    if pairs.wrapped_text_lines:
        _say(f"{pairs.wrapped_text_lines} string prompts wrapped as user messages (the export mixes text and chat)")
    if args.beta2 is not None:
        mismatched = weight_mismatches(pairs, args.beta2)
        if mismatched:
            _say(f"warning: {mismatched} pairs have weight != σ(β2·gap) for β2 = {args.beta2}; "
                 "training uses the exported weight")

    import datasets
    import torch
    import transformers
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig

    # Progress bars are noise in a daemon's log; TRL's per-step log lines stay.
    os.environ.setdefault("TQDM_DISABLE", "1")  # TRL's reference log-prob pass reads this
    datasets.disable_progress_bars()
    transformers.utils.logging.disable_progress_bar()

    from .trainer import WeightedDPOTrainer

    model_path = Path(args.model)
    if not model_path.is_dir():
        raise UsageError(f"--model {args.model}: not a local folder (π_t must be a checkpoint folder with model "
                         "and tokenizer; this trainer does not download models)")
    try:
        tokenizer = AutoTokenizer.from_pretrained(model_path)
        dtype = args.dtype if args.dtype == "auto" else getattr(torch, args.dtype)
        model = AutoModelForCausalLM.from_pretrained(model_path, dtype=dtype)
    except (OSError, ValueError) as error:
        raise UsageError(f"--model {args.model}: cannot load a causal LM and tokenizer ({error})") from None
    if pairs.conversational and not getattr(tokenizer, "chat_template", None):
        raise UsageError(f"{args.export}: prompts are chat messages but the tokenizer in {args.model} has no chat "
                         "template")

    bf16 = args.bf16
    if bf16 is None:
        bf16 = bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    output_dir = Path(args.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    run_name = f"{args.run}-t{args.t}" if args.run and args.t is not None else (args.run or output_dir.name)
    config = DPOConfig(
        output_dir=str(output_dir),
        run_name=run_name,
        beta=args.beta1,
        learning_rate=args.learning_rate,
        num_train_epochs=args.epochs,
        max_steps=args.max_steps,
        per_device_train_batch_size=args.batch_size,
        gradient_accumulation_steps=args.gradient_accumulation_steps,
        max_length=args.max_length,
        optim=args.optim,
        warmup_steps=args.warmup_ratio,  # a float in [0, 1) is a ratio of the total steps in transformers 5
        seed=args.seed % 2**32,  # numpy's seed range, which transformers.set_seed feeds
        data_seed=args.seed % 2**32,
        logging_steps=args.logging_steps,
        save_strategy="no",
        report_to="none",
        bf16=bf16,
        gradient_checkpointing=args.gradient_checkpointing,
        precompute_ref_log_probs=args.precompute_ref_log_probs,
        disable_tqdm=True,
    )
    trainer = WeightedDPOTrainer(
        model=model,
        args=config,
        train_dataset=Dataset.from_dict(pairs.columns()),
        processing_class=tokenizer,
        optune_loss=args.loss,
    )
    _say(f"training {args.model} -> {output_dir}: loss {args.loss}, β1 {args.beta1}, lr {args.learning_rate}, "
         f"batch {args.batch_size}, epochs {args.epochs}, seed {args.seed}")
    started = time.monotonic()
    result = trainer.train()
    seconds = time.monotonic() - started
    trainer.save_model(str(output_dir))
    tokenizer.save_pretrained(str(output_dir))

    curve = [{k: v for k, v in entry.items()} for entry in trainer.state.log_history if "loss" in entry]
    summary = {
        "run": args.run, "t": args.t, "policy": args.model, "export": str(args.export),
        "loss_kind": args.loss, "beta1": args.beta1, "beta2": args.beta2,
        "learning_rate": args.learning_rate, "optim": args.optim, "warmup_ratio": args.warmup_ratio,
        "epochs": args.epochs, "batch_size": args.batch_size,
        "gradient_accumulation_steps": args.gradient_accumulation_steps, "max_length": args.max_length,
        "dtype": args.dtype, "seed": args.seed, "pairs": len(pairs), "steps": trainer.state.global_step,
        "train_loss": result.training_loss, "seconds": round(seconds, 3), "loss_curve": curve,
        "versions": _versions(),
    }
    (output_dir / "optune_training.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    _say(f"saved π_{{t+1}} to {output_dir}: {trainer.state.global_step} steps, mean loss "
         f"{result.training_loss:.6f}, {seconds:.1f} s")
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: returns the process exit status."""
    from .data import ExportFileError

    try:
        args = parse_args(argv)
        run(args)
    except (UsageError, ExportFileError) as error:
        print(f"optune_trl: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
