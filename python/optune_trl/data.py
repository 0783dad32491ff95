"""Reading an optune TRL-format export (``optune export --format trl``) into a training dataset.

One JSON object per line. The trainer needs ``prompt``, ``chosen``, ``rejected`` and ``weight``;
the other columns optune writes (``chosen_reward``, ``rejected_reward``, ``gap``, ``origin`` and the
ids) are read, checked where they are used, and left out of the dataset. ``prompt`` is a string,
or a list of chat messages (TRL's conversational format, where ``chosen``/``rejected`` are then
lists holding one assistant message each). Files may be gzip-compressed (detected by content).
"""

from __future__ import annotations

import gzip
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REQUIRED_COLUMNS = ("prompt", "chosen", "rejected", "weight")
"""The columns every line must carry."""


class ExportFileError(ValueError):
    """A problem with the export file, reported as ``FILE:LINE: reason`` where a line is at fault."""


@dataclass
class PreferencePairs:
    """The pairs read from one export, in file order, ready for ``datasets.Dataset.from_dict``."""

    prompt: list[Any] = field(default_factory=list)
    chosen: list[Any] = field(default_factory=list)
    rejected: list[Any] = field(default_factory=list)
    weight: list[float] = field(default_factory=list)
    gap: list[float | None] = field(default_factory=list)
    conversational: bool = False
    wrapped_text_lines: int = 0
    """Lines whose string prompt was wrapped as a user message because other lines are chat."""

    def __len__(self) -> int:
        return len(self.prompt)

    def columns(self) -> dict[str, list[Any]]:
        """The dataset columns the trainer uses: prompt, chosen, rejected, weight."""
        return {"prompt": self.prompt, "chosen": self.chosen, "rejected": self.rejected, "weight": self.weight}


def _open_text(path: Path) -> io.TextIOBase:
    with open(path, "rb") as raw:
        magic = raw.read(2)
    if magic == b"\x1f\x8b":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8")
    return open(path, encoding="utf-8")


def _check_messages(value: Any, where: str, column: str) -> None:
    if not value:
        raise ExportFileError(f"{where}: '{column}' is an empty message list")
    for index, message in enumerate(value):
        if not isinstance(message, dict):
            raise ExportFileError(f"{where}: '{column}'[{index}] is not an object with 'role' and 'content'")
        role, content = message.get("role"), message.get("content")
        if not isinstance(role, str) or not role:
            raise ExportFileError(f"{where}: '{column}'[{index}] has no string 'role'")
        if not isinstance(content, str):
            raise ExportFileError(f"{where}: '{column}'[{index}] has no string 'content'")


def _finite_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _parse_line(obj: Any, where: str) -> tuple[Any, Any, Any, float, float | None]:
    if not isinstance(obj, dict):
        raise ExportFileError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    missing = [name for name in REQUIRED_COLUMNS if name not in obj]
    if missing:
        hint = ""
        if "prompt_ids" in obj or "chosen_ids" in obj:
            hint = " (this looks like --format tokens; export with --format trl)"
        elif "margin" in obj:
            hint = " (this looks like --format openrlhf, which has no weight; export with --format trl)"
        raise ExportFileError(f"{where}: missing column(s) {', '.join(missing)}{hint}")

    prompt, chosen, rejected, weight = obj["prompt"], obj["chosen"], obj["rejected"], obj["weight"]
    if isinstance(prompt, str):
        for column, value in (("chosen", chosen), ("rejected", rejected)):
            if not isinstance(value, str):
                raise ExportFileError(f"{where}: prompt is a string, so '{column}' must be a string, got {type(value).__name__}")
    elif isinstance(prompt, list):
        _check_messages(prompt, where, "prompt")
        for column, value in (("chosen", chosen), ("rejected", rejected)):
            if not isinstance(value, list):
                raise ExportFileError(f"{where}: prompt is a message list, so '{column}' must be a message list, got {type(value).__name__}")
            _check_messages(value, where, column)
    else:
        raise ExportFileError(f"{where}: 'prompt' must be a string or a list of messages, got {type(prompt).__name__}")

    if not _finite_number(weight):
        raise ExportFileError(f"{where}: 'weight' must be a finite number, got {json.dumps(weight)}")
    if weight < 0:
        raise ExportFileError(f"{where}: 'weight' must be >= 0, got {weight}")
    gap = obj.get("gap")
    return prompt, chosen, rejected, float(weight), float(gap) if _finite_number(gap) else None


def read_export(path: str | Path) -> PreferencePairs:
    """Reads and checks an optune TRL-format export (JSONL, optionally gzip-compressed).

    Raises ``ExportFileError`` naming the file and line of the first bad line, or the file when it
    cannot be read or holds no pairs. When some prompts are strings and others chat lists, the
    string prompts are wrapped as one user message (and their responses as one assistant message),
    so that every row has one schema.
    """
    path = Path(path)
    if not path.is_file():
        raise ExportFileError(f"{path}: no such file")
    pairs = PreferencePairs()
    kinds: list[bool] = []
    try:
        with _open_text(path) as lines:
            for number, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                where = f"{path}:{number}"
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as error:
                    raise ExportFileError(f"{where}: not valid JSON ({error.msg} at column {error.colno})") from None
                prompt, chosen, rejected, weight, gap = _parse_line(obj, where)
                pairs.prompt.append(prompt)
                pairs.chosen.append(chosen)
                pairs.rejected.append(rejected)
                pairs.weight.append(weight)
                pairs.gap.append(gap)
                kinds.append(isinstance(prompt, list))
    except UnicodeDecodeError as error:
        raise ExportFileError(f"{path}: not UTF-8 text ({error.reason})") from None
    except (OSError, EOFError) as error:
        raise ExportFileError(f"{path}: cannot read ({error})") from None
    if not pairs.prompt:
        raise ExportFileError(f"{path}: holds no pairs")

    pairs.conversational = any(kinds)
    if pairs.conversational and not all(kinds):
        for index, is_chat in enumerate(kinds):
            if not is_chat:
                pairs.prompt[index] = [{"role": "user", "content": pairs.prompt[index]}]
                pairs.chosen[index] = [{"role": "assistant", "content": pairs.chosen[index]}]
                pairs.rejected[index] = [{"role": "assistant", "content": pairs.rejected[index]}]
                pairs.wrapped_text_lines += 1
    return pairs


def weight_mismatches(pairs: PreferencePairs, beta2: float, tolerance: float = 1e-6) -> int:
    """How many pairs' weight differs from R = sigmoid(beta2 * gap) by more than ``tolerance``.

    Pairs without a finite ``gap`` are not counted.
    """
    count = 0
    for weight, gap in zip(pairs.weight, pairs.gap):
        if gap is None:
            continue
        expected = 1.0 / (1.0 + math.exp(-beta2 * gap)) if beta2 * gap > -700 else 0.0
        if abs(weight - expected) > tolerance:
            count += 1
    return count
