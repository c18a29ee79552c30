#!/usr/bin/python
# Copyright: Slipway contributors
# SPDX-License-Identifier: Apache-2.0
"""Ansible module slipway.infra.undertaker: decide about idle vessels, and warn / bury / reconcile."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: undertaker
short_description: Warn about and bury idle vessels; reconcile vessels whose GPU metrics went missing
version_added: "0.1.0"
description:
  - Reads the running vessels from the ledger and, with B(one) Prometheus range query for the whole
    fleet, the hourly average of C(DCGM_FI_DEV_GPU_UTIL) of every GPU the ledger assigned to them
    (matched on the C(UUID) label of dcgm-exporter).
  - A vessel is idle when each of its GPUs averaged at most C(idle_percent) over C(window_hours)
    consecutive work hours of C(calendar). Then its owner is warned on Slack (once per idle streak);
    after C(window_hours) more idle work hours it is buried (container removed, Tailscale device
    deleted, reservation released, all recorded). A live keep flag (see C(slipway.infra.vessel_keep))
    exempts a vessel; CPU-only vessels are never buried by this rule.
  - Missing samples are never idleness. The host's Docker API is probed; a container that is gone or
    exited is reconciled (ledger updated, reservation released, owner told); a running one makes the
    admins hear that metrics are missing for that host.
  - In check mode every decision is made and returned (C(table)) and nothing is changed or sent.
  - Runs are serialized by a lock file; runs on the controller with the interpreter that has C(slipway).
options:
  prometheus_url:
    description: Base URL of the Prometheus that scrapes dcgm-exporter.
    type: str
    required: true
  slack_webhook_url:
    description: Slack incoming webhook (a secret; never shown). Empty records messages in the ledger only.
    type: str
    default: ""
  calendar:
    description:
      - Work hours. Keys C(timezone) (IANA name), C(weekdays) (list of mon..sun), C(start_hour), C(end_hour)
        (local, end exclusive), C(holidays) (list of ISO dates).
    type: dict
    default: {}
  window_hours:
    description: Idle work hours before the warning, and again between the warning and the burial.
    type: int
    default: 6
  idle_percent:
    description: Highest hourly average GPU utilisation (percent) that still counts as idle.
    type: float
    default: 0
  admins:
    description: Users told about missing metrics (and who may stop anyone's vessel).
    type: list
    elements: str
    default: []
  slack_users:
    description: "Slack member IDs by user name, for mentions (C(alice: U012AB3CD)); others get C(@name)."
    type: dict
    default: {}
  metric:
    description: The utilisation metric.
    type: str
    default: DCGM_FI_DEV_GPU_UTIL
  uuid_label:
    description: The label holding the GPU UUID.
    type: str
    default: UUID
  admin_realert_hours:
    description: Hours before admins are told again about the same host's missing metrics.
    type: float
    default: 24
  min_coverage_percent:
    description: An hour counts (idle or busy) only when its samples cover this share of it; below, it is missing data.
    type: float
    default: 90
  sample_interval_seconds:
    description: Prometheus's scrape interval of dcgm-exporter (to turn sample counts into coverage).
    type: float
    default: 60
  missing_after_minutes:
    description: A GPU whose newest sample is older than this is missing now (its host is probed at once).
    type: float
    default: 10
  prometheus_alert_after_runs:
    description: Admins are told once after this many consecutive runs could not read Prometheus, and on recovery.
    type: int
    default: 3
  stuck_stop_minutes:
    description: A vessel left C(stopping) this long (its host could not be reached) is stopped again by the next run.
    type: float
    default: 10
  ledger_lock_timeout:
    description: Seconds to wait for another writer's ledger lock before failing with nothing changed.
    type: float
    default: 30
  lock_file:
    description: Lock that serializes runs; empty means C(undertaker.lock) in Slipway's data directory.
    type: str
    default: ""
  lock_timeout:
    description: Seconds to wait for a running undertaker before failing.
    type: float
    default: 600
  now:
    description: Decide as if it were this time (ISO 8601 with a zone); for replays and tests.
    type: str
  tailscale_api_key:
    description: Tailscale API key, to delete a buried vessel's device (a secret). Default from the settings.
    type: str
  tailscale_tailnet:
    description: Tailnet name. Default from the settings.
    type: str
  tailscale_api_url:
    description: Tailscale API base URL. Default from the settings.
    type: str
extends_documentation_fragment:
  - slipway.infra.ledger
  - slipway.infra.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  idempotent:
    support: full
    details: A second run at the same time changes nothing (warnings are recorded once per streak).
author:
  - Slipway contributors (@slipway-dev)
"""

EXAMPLES = r"""
- name: What would the undertaker do now?
  slipway.infra.undertaker:
    prometheus_url: http://prometheus.example.com:9090
    calendar: {timezone: Europe/London, start_hour: 9, end_hour: 17, holidays: ["2026-12-25"]}
  check_mode: true
  register: undertaker_plan

- name: Show the decisions
  ansible.builtin.debug:
    msg: "{{ undertaker_plan.table.split('\n') }}"
"""

RETURN = r"""
decisions:
  description: One entry per running vessel (vessel, owner, host, gpus, action, idle_work_h, idle_since, reason).
  returned: always
  type: list
  elements: dict
table:
  description: The decisions as a text table.
  returned: always
  type: str
done:
  description: What was done (empty in check mode).
  returned: always
  type: list
  elements: str
failed_actions:
  description: Actions or messages that failed (e.g. Slack unreachable); they are retried next run.
  returned: always
  type: list
  elements: str
queries:
  description: Prometheus queries made (one per run).
  returned: always
  type: int
counts:
  description: Number of vessels per action.
  returned: always
  type: dict
"""

from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.slipway.infra.plugins.module_utils.common import LEDGER_ARGS, run, settings


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            prometheus_url=dict(type="str", required=True),
            slack_webhook_url=dict(type="str", default="", no_log=True),
            calendar=dict(type="dict", default={}),
            window_hours=dict(type="int", default=6),
            idle_percent=dict(type="float", default=0.0),
            admins=dict(type="list", elements="str", default=[]),
            slack_users=dict(type="dict", default={}),
            metric=dict(type="str", default="DCGM_FI_DEV_GPU_UTIL"),
            uuid_label=dict(type="str", default="UUID"),
            admin_realert_hours=dict(type="float", default=24.0),
            min_coverage_percent=dict(type="float", default=90.0),
            sample_interval_seconds=dict(type="float", default=60.0),
            missing_after_minutes=dict(type="float", default=10.0),
            prometheus_alert_after_runs=dict(type="int", default=3),
            stuck_stop_minutes=dict(type="float", default=10.0),
            ledger_lock_timeout=dict(type="float", default=30.0),
            lock_file=dict(type="str", default=""),
            lock_timeout=dict(type="float", default=600.0),
            now=dict(type="str"),
            tailscale_api_key=dict(type="str", no_log=True),
            tailscale_tailnet=dict(type="str"),
            tailscale_api_url=dict(type="str"),
            **LEDGER_ARGS),
        supports_check_mode=True,
    )
    run(module, lambda: apply(module))


def apply(module: AnsibleModule) -> dict[str, Any]:
    from slipway import usecases

    p = module.params
    res = usecases.undertaker_run(settings(p), {k: v for k, v in p.items() if k not in SITE_OPTIONS},
                                  now=p["now"], check=module.check_mode)
    for f in res.failed:
        module.warn(f)
    acting = [d for d in res.decisions if d.action in ("warn", "bury", "reconcile", "alert")]
    before = {d.vessel: "running" for d in acting}
    after = {d.vessel: {"warn": "warned", "bury": "buried", "reconcile": "lost", "alert": "admins told"}[d.action]
             for d in acting}
    return dict(changed=res.changed if not module.check_mode else bool(acting), decisions=res.rows,
                table=res.table, done=res.done, failed_actions=res.failed, queries=res.queries,
                counts=res.counts(), now=res.now.isoformat(),
                diff={"before": before, "after": after})


SITE_OPTIONS = ("ledger_url", "tailscale_api_key", "tailscale_tailnet", "tailscale_api_url", "now")


if __name__ == "__main__":
    main()
