"""Slipway on AWS: stack settings, Pulumi components (ECR, ECS, Batch, Secrets Manager) and Prefect
work pools as Pulumi dynamic resources.

Importing this package imports neither Pulumi nor pulumi_aws: each module pulls in only the
``pulumi_aws`` submodules it uses (the whole package is 271 MB).
"""
