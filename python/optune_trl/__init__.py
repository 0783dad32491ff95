"""optune's TRL trainer: DPOTrainer with the wDPO loss of DESIGN.md §2, reading optune exports."""

__all__ = ["data", "trainer", "train"]
