"""The samples section: what the model generated and what the filter did with it.

For the first and the last iteration with a samples.parquet, per task: how many candidates were kept,
why the others were not (the strategy's reasons, counted), and a few kept and a few rejected candidates
with their prompt, completion, verdict and reason. Text is escaped, control characters are shown as
``\\xNN``, and long texts are cut.
"""

from __future__ import annotations

import html
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any, Sequence

from system.report.tables import cell

Row = dict[str, Any]
SAMPLES = "samples.parquet"
PER_KIND = 3  # kept and rejected candidates shown per task and iteration
MAX_TASKS = 8
PROMPT_CHARS, COMPLETION_CHARS, VALUE_CHARS = 300, 500, 120
# candidate columns that are not the verdict: the prompt's, the generation's, the selection's
NOT_VERDICT = {"prompt_id", "task", "split", "level", "prompt", "answer", "sample_index", "completion", "mean_logprob",
               "finish_reason", "selected", "reason"}
FIRST_VERDICT = ("verdict_quality", "answer_correct", "extracted_answer", "verify_error")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_ITEM_REF = re.compile(r"\s*\(#\d+\)")  # "... of an admitted item (#20)": which item, not why


def reason_kind(reason: Any) -> str:
    """A strategy's reason without the candidate it points at, so reasons are counted by kind."""
    return _ITEM_REF.sub("", str(reason))


def text(value: Any, limit: int) -> str:
    """Escaped text, control characters made visible, cut after ``limit`` characters."""
    s = "" if value is None else str(value)
    cut = len(s) - limit
    s = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", s[:limit] if cut > 0 else s)
    more = f"<span class='more'> [... {cut} more characters]</span>" if cut > 0 else ""
    return html.escape(s) + more


def iterations_with_samples(run_dir: Path) -> list[int]:
    found = []
    for d in run_dir.glob("iter_*"):
        if (d / SAMPLES).is_file() and d.name[5:].isdigit():
            found.append(int(d.name[5:]))
    return sorted(found)


def family_fields(recipe: dict[str, Any]) -> set[str]:
    """The task family's own prompt columns (TInt: input; dataset: the row as JSON): not verdicts."""
    from system.tasks.registry import family_class

    name = ((recipe.get("task") or {}).get("family")) or "tint"
    try:
        return set(family_class(name).field_names)
    except Exception:  # noqa: BLE001 - a family this install lacks: show every column
        return set()


def _spread(rows: list[tuple[int, Row]], n: int) -> list[tuple[int, Row]]:
    """Up to ``n`` rows, one per prompt before a second of the same prompt."""
    seen: set[Any] = set()
    first, again = [], []
    for i, r in rows:
        (again if r.get("prompt_id") in seen else first).append((i, r))
        seen.add(r.get("prompt_id"))
    return (first + again)[:n]


def pick(rows: list[Row]) -> tuple[list[tuple[int, Row]], list[tuple[int, Row]]]:
    """A few kept candidates (distinct prompts) and a few rejected ones, one per reason in turn."""
    kept = _spread([(i, r) for i, r in enumerate(rows) if r.get("selected")], PER_KIND)
    by_reason: dict[str, list[tuple[int, Row]]] = {}
    for i, r in enumerate(rows):
        if not r.get("selected"):
            by_reason.setdefault(reason_kind(r.get("reason")), []).append((i, r))
    queues = [_spread(v, PER_KIND) for _, v in sorted(by_reason.items(), key=lambda kv: -len(kv[1]))]
    rejected: list[tuple[int, Row]] = []
    while len(rejected) < PER_KIND and any(queues):
        for q in queues:
            if q and len(rejected) < PER_KIND:
                rejected.append(q.pop(0))
    return kept, rejected


def _answer(value: Any) -> str:
    """The reference answer (stored as JSON text): a string as it is, anything else as JSON."""
    try:
        value = json.loads(value) if isinstance(value, str) else value
    except ValueError:
        pass
    return value if isinstance(value, str) else json.dumps(value)


def _verdict(row: Row, hidden: set[str]) -> str:
    names = [k for k in FIRST_VERDICT if k in row] + [k for k in row if k not in FIRST_VERDICT and k not in hidden]
    parts = []
    for k in names:
        v = row.get(k)
        if v is None:
            continue
        shown = cell(v) if isinstance(v, (bool, float)) else text(v, VALUE_CHARS)
        parts.append(f"<span class='kv'><span class='k'>{html.escape(k)}</span> {shown}</span>")
    return " ".join(parts)


def _candidate(row: Row, hidden: set[str]) -> list[str]:
    kept = bool(row.get("selected"))
    status = "<span class='kept'>kept</span>" if kept else "<span class='rejected'>rejected</span>"
    prompt = (f"<pre>{text(row.get('prompt'), PROMPT_CHARS)}</pre><span class='k'>answer</span> "
              f"{text(_answer(row.get('answer')), VALUE_CHARS)}<br><span class='k'>prompt</span> "
              f"{html.escape(str(row.get('prompt_id')))}")
    finish = row.get("finish_reason")
    note = f"<br><span class='k'>finish</span> {html.escape(str(finish))}" if finish and finish != "stop" else ""
    completion = f"<pre>{text(row.get('completion'), COMPLETION_CHARS)}</pre>{note}"
    return [status, prompt, completion, _verdict(row, hidden), text(row.get("reason"), 400)]


def _task_block(iteration: int, task: str, rows: list[Row], hidden: set[str]) -> str:
    n_kept = sum(1 for r in rows if r.get("selected"))
    reasons = Counter(reason_kind(r.get("reason")) for r in rows if not r.get("selected"))
    why = "".join(f"<li>{n} &times; {text(reason, 300)}</li>" for reason, n in reasons.most_common())
    kept, rejected = pick(rows)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in _candidate(r, hidden)) + "</tr>" for _, r in kept + rejected)
    head = "".join(f"<th>{h}</th>" for h in ("", "prompt", "completion", "verdict and scores", "the strategy's reason"))
    cols = "<colgroup><col class='c0'><col class='c1'><col class='c2'><col class='c3'><col class='c4'></colgroup>"
    return (f"<h4>Iteration {iteration}, task {html.escape(task)}: kept {n_kept} of {len(rows)} candidates</h4>"
            + (f"<p>Not kept:</p><ul class='reasons'>{why}</ul>" if why else "")
            + f"<table class='samples'>{cols}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")


def samples_section(run_dir: Path, recipe: dict[str, Any]) -> str:
    import pyarrow.parquet as pq

    iterations = iterations_with_samples(run_dir)
    if not iterations:
        return ""
    shown: Sequence[int] = sorted({iterations[0], iterations[-1]})
    hidden = NOT_VERDICT | family_fields(recipe)
    parts = ["<p>Candidates of the first and the last iteration, per task: a few the filter kept and a few it "
             "rejected (one per reason in turn), with the task family's verdict, the filter's scores and the "
             "selection strategy's reason. Every candidate is in <code>iter_XXX/samples.parquet</code>.</p>"]
    for iteration in shown:
        rows = pq.read_table(run_dir / f"iter_{iteration:03d}" / SAMPLES).to_pylist()
        tasks = list(dict.fromkeys(str(r.get("task")) for r in rows))
        parts.append(f"<h3>Iteration {iteration}</h3>")
        for task in tasks[:MAX_TASKS]:
            parts.append(_task_block(iteration, task, [r for r in rows if str(r.get("task")) == task], hidden))
        if len(tasks) > MAX_TASKS:
            parts.append(f"<p>... and {len(tasks) - MAX_TASKS} more tasks (see samples.parquet).</p>")
    return "".join(parts)
