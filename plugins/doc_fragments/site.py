# Copyright: Slipway contributors
# SPDX-License-Identifier: Apache-2.0
"""Documentation fragment slipway.infra.site: the site settings every vessel module takes.

They mirror ``SITE_ARGS`` in ``plugins/module_utils/common.py``; an option left out comes from the
environment (C(SLIPWAY_<OPTION>)), the settings file, or Slipway's default (``slipway.config``).
"""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  admins:
    description:
      - Users who may stop, keep or launch for anyone's vessel. Default C(SLIPWAY_ADMINS) or the settings file.
    type: list
    elements: str
  tailscale_api_key:
    description:
      - Tailscale API access token; when set, each vessel joins the tailnet as an ephemeral node and its
        device and key are removed when it ends. Never logged.
    type: str
  tailscale_tailnet:
    description: Tailnet name (C(-), the default, is the key's own tailnet).
    type: str
  tailscale_tags:
    description: ACL tags of the vessels' auth keys (default C(tag:slipway-vessel)).
    type: list
    elements: str
  tailscale_api_url:
    description: Tailscale API base URL (default C(https://api.tailscale.com)).
    type: str
  home:
    description:
      - The owner's home in the vessel; C(volume) (the default, a named volume C(slipway-home-<user>)) or a
        host path template such as C(/srv/home/{user}).
    type: str
  ready_timeout:
    description: Seconds to wait for the vessel's sshd or tailnet join (default 60).
    type: float
  pull:
    description: Pull the image when the host lacks it (default true).
    type: bool
  jupyter:
    description: Start a Jupyter server with a generated token, saved for the owner and never printed (default true).
    type: bool
  default_cpus:
    description: CPUs when the request gives none (default 1).
    type: int
  default_memory:
    description: Memory when the request gives none (default C(4G)).
    type: str
  default_image:
    description: Image when the request gives none (default C(slipway/vessel:latest)).
    type: str
  variant_project:
    description:
      - The team's project (its C(pyproject.toml) and lock). A request's image that names one of its variants
        (C(image=ml)) becomes that variant's current vessel image, C(<image_registry>/<image_repository>-vessel:ml-<hash>).
    type: path
  image_registry:
    description: The registry (C(host[:port])) the image step pushes the team's images to.
    type: str
  image_repository:
    description: The repository of the team's images on it (C(team/app)).
    type: str
"""
