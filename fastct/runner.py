"""Former home of ``fastct process``'s engine, kept so existing imports work.

The engine lives in :mod:`fastct.jobs` now: planning in
:mod:`fastct.jobs.plan`, the stages in :mod:`fastct.jobs.stages`, executors
in :mod:`fastct.jobs.executors`, the report in :mod:`fastct.jobs.report` and
:func:`~fastct.jobs.process_files` in :mod:`fastct.jobs.run`. New code
imports from :mod:`fastct.jobs`.
"""

from .jobs import REPORT_NAME, FileResult, Job, RunSummary, plan, process_file, process_files

__all__ = ["REPORT_NAME", "FileResult", "Job", "RunSummary", "plan", "process_file", "process_files"]
