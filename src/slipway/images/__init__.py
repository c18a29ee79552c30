"""Variant images: registry checks (OCI distribution API, ECR), layered builds, the CI step."""
