"""TInt (Traced Integer): tasks as plain Python over traced ints, trace text, noise and the verifier."""

from system.tint.dataset import NoiseSpec, Record, clean_record, noised_record, sample_records
from system.tint.execute import Execution, execute, true_execution
from system.tint.sampling import DEFAULT_SPLITS, SPLIT_NAMES, SplitSpec, splits_for
from system.tint.tasks import TASKS, Task, UnknownTaskError, get_task, register
from system.tint.text import Trace, parse, parse_prompt, render, render_prompt
from system.tint.traced import Step, TInt, Tracer
from system.tint.verifier import Verdict, verify, verify_record

__all__ = [
    "DEFAULT_SPLITS", "SPLIT_NAMES", "TASKS", "Execution", "NoiseSpec", "Record", "SplitSpec", "Step",
    "TInt", "Task", "Trace", "Tracer", "UnknownTaskError", "Verdict", "clean_record", "execute",
    "get_task", "noised_record", "parse", "parse_prompt", "register", "render", "render_prompt",
    "sample_records", "splits_for", "true_execution", "verify", "verify_record",
]
