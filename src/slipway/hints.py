"""What to type next, in the words of the face the user is in (the CLI or the playbooks)."""

from __future__ import annotations

HINTS: dict[str, dict[str, str]] = {
    "stop": {"cli": "slipway vessels stop {name}",
             "ansible": "ansible-playbook playbooks/stop_vessel.yml -e vessel={name}"},
    "list": {"cli": "slipway vessels list", "ansible": "ansible-playbook playbooks/list_vessels.yml"},
    "status": {"cli": "slipway vessels status {name}",
               "ansible": "ansible-playbook playbooks/vessel_status.yml -e vessel={name}"},
    "keep": {"cli": "slipway undertaker keep {name} --hours 24",
             "ansible": "ansible-playbook playbooks/keep_vessel.yml -e vessel={name} -e hours=24"},
    "reconcile": {"cli": "slipway vessels reconcile", "ansible": "ansible-playbook playbooks/reconcile.yml"},
}


def hint(action: str, face: str = "cli", **values: str) -> str:
    forms = HINTS[action]
    return forms.get(face, forms["cli"]).format(**values)
