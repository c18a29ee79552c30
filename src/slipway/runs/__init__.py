"""Commit-triggered DVC runs: keywords in a commit message (pure), the webhook, Batch/local submission,
and the job runner that executes inside the job's container (``slipway runs job``)."""
