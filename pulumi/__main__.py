"""Slipway's Pulumi program: wiring only. Settings are read once; components never read config.

    pulumi login --local            # or: pulumi login s3://my-bucket/slipway
    pulumi stack select dev         # Pulumi.dev.yaml
    pulumi up
"""

from slipway.cloud.settings import Settings
from slipway.cloud.stack import build_stack, export

settings = Settings.from_pulumi()
export(build_stack(settings, webhook=settings.webhook))
