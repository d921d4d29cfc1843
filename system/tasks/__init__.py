"""Task families: the one interface through which the loop, the filter, the learner's data and
evaluation see a task (`base.TaskFamily`); `tint` and `dataset` are registry entries."""

from system.tasks.base import Curriculum, SeedRecord, TaskDataError, TaskFamily, TaskPrompt, Verdict
from system.tasks.registry import family_class, family_for, family_names

__all__ = ["Curriculum", "SeedRecord", "TaskDataError", "TaskFamily", "TaskPrompt", "Verdict", "family_class",
           "family_for", "family_names"]
