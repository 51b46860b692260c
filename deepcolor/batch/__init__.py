"""Archive-scale batches: a resumable journal, a mirrored output tree, one engine for serial and Dask runs.

- `Journal` (journal.py): SQLite in the output folder, one committed row per file.
- `mirror_roots`, `mirrored_outputs`, `plan_batch` (plan.py): output names that mirror the input
  tree, and the jobs the journal says are still to do.
- `run_batch` (engine.py): runs a per-file function over the jobs in this process
  or on dask.distributed (cluster.py, the only module that imports Dask), with one
  progress bar and a per-process cache of loaded models (`Resource`).

Nothing here imports Dask until a batch asks for workers or a scheduler.
"""

from deepcolor.batch.engine import BatchReport, Job, Outcome, Resource, load_resource, run_batch
from deepcolor.batch.journal import JOURNAL_NAME, Journal, JournalError
from deepcolor.batch.plan import mirror_roots, mirrored_outputs, plan_batch

__all__ = [
    "BatchReport",
    "Job",
    "Outcome",
    "Resource",
    "load_resource",
    "run_batch",
    "JOURNAL_NAME",
    "Journal",
    "JournalError",
    "mirror_roots",
    "mirrored_outputs",
    "plan_batch",
]
