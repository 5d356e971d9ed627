"""Offline evaluation runs of prompt versions and models (issue #5; see docs/evals.md).

`evals.dataset` loads YAML datasets, `evals.case_runner` runs one case with a simulated approver,
`evals.evaluators` judges it, `evals.run` runs a dataset with gates, `evals.report` builds the
side-by-side report, `evals.models` names the models, `evals.records` stores the runs, `evals.worlds`
and `evals.suites` hold the worlds and suites datasets name, and `tools.sales.injection` is the
prompt-injection suite.
"""
