"""The tailnet policy: generated for three users and an admin, applied to the policy stand-in (ETag, HuJSON
validation), diff in check mode, a concurrent edit detected, hand-written parts kept."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from slipway.errors import TailscaleError
from slipway.network import policy as p
from tests.harness.tailscale_policy import PolicyStandIn

HAND = """// The team's own policy: Slipway must keep all of this.
{
  "groups": {
    "group:ops": ["olga@example.com"], // ops on call
  },
  "tagOwners": {
    "tag:ci": ["group:ops"],
  },
  "grants": [
    /* the CI runners reach the registry */
    {"src": ["tag:ci"], "dst": ["tag:ci"], "ip": ["tcp:5000"]},
  ],
  "ssh": [],
}
"""

FLEET = [p.Reach("alice", 20000, 20001), p.Reach("alice", 20002, 20003), p.Reach("bob", 20010, 20011),
         p.Reach("dave", 20020, None)]


@pytest.fixture
def standin() -> Iterator[PolicyStandIn]:
    s = PolicyStandIn(HAND)
    yield s
    s.stop()


def api(s: PolicyStandIn) -> p.PolicyApi:
    return p.PolicyApi(s.url, s.tailnet, s.api_key)


def inp() -> p.PolicyInput:
    return p.PolicyInput(FLEET, ["carol@example.com"], email_domain="example.com")


def test_each_user_reaches_only_their_own_vessels() -> None:
    doc = p.to_json(p.merge(HAND, p.render_sections(inp())))
    grants = doc["grants"]
    by_src = {g["src"][0]: g for g in grants}
    assert by_src["alice@example.com"] == {"src": ["alice@example.com"], "dst": ["tag:slipway-owner-alice"],
                                           "ip": ["tcp:22", "tcp:20000", "tcp:20001", "tcp:20002", "tcp:20003"]}
    assert by_src["bob@example.com"]["dst"] == ["tag:slipway-owner-bob"]
    assert by_src["dave@example.com"]["ip"] == ["tcp:22", "tcp:20020"]
    assert by_src["group:slipway-admins"]["dst"] == ["tag:slipway-owner-alice", "tag:slipway-owner-bob",
                                                     "tag:slipway-owner-dave"]
    assert doc["groups"]["group:slipway-admins"] == ["carol@example.com"]
    # nobody else: the only rules naming a user are that user's own
    for g in grants:
        for user in ("alice", "bob", "dave"):
            if f"{user}@example.com" in g["src"]:
                assert g["dst"] == [f"tag:slipway-owner-{user}"]
    assert set(doc["tagOwners"]) == {"tag:ci", "tag:slipway-owner-alice", "tag:slipway-owner-bob",
                                     "tag:slipway-owner-dave"}


def test_hand_written_parts_are_kept_byte_for_byte() -> None:
    out = p.merge(HAND, p.render_sections(inp()))
    stripped = out
    for key in p.SECTIONS:
        start = stripped.index(p.BEGIN.format(key=key))
        end = stripped.index(p.END.format(key=key)) + len(p.END.format(key=key))
        line_start = stripped.rindex("\n", 0, start)
        stripped = stripped[:line_start] + stripped[end:]
    assert stripped == HAND
    # regenerating with another fleet replaces only the marked blocks
    again = p.merge(out, p.render_sections(p.PolicyInput(FLEET[:1], [], email_domain="example.com")))
    assert "bob@example.com" not in again and "tag:ci" in again and "// ops on call" in again
    assert p.merge(out, p.render_sections(inp())) == out  # stable


def test_check_apply_idempotent(standin: PolicyStandIn) -> None:
    res = p.apply(api(standin), inp(), check=True)
    assert res.changed and not res.applied
    assert "+    {\"dst\": [\"tag:slipway-owner-alice\"]" in res.diff and "(current)" in res.diff
    assert standin.policy == HAND and standin.calls == ["GET /"]
    res = p.apply(api(standin), inp())
    assert res.applied and standin.policy == res.text
    assert standin.calls[-2:] == ["POST /validate", "POST /"]  # validated first, then updated
    again = p.apply(api(standin), inp())
    assert not again.changed and not again.applied and again.diff == ""


def test_concurrent_edit_is_never_overwritten(standin: PolicyStandIn) -> None:
    a = api(standin)
    cur, res = p.plan(a, inp())
    theirs = HAND.replace('"ssh": [],', '"ssh": [], "tests": [],')
    standin.edit(theirs)  # someone edits the policy between our read and our write
    a.validate(res.text)
    with pytest.raises(TailscaleError, match="ETag"):
        a.update(res.text, cur.etag)
    assert standin.policy == theirs
    # the next run merges into their version
    assert p.apply(a, inp()).applied and '"tests": []' in standin.policy


def test_refused_policy_is_not_written(standin: PolicyStandIn) -> None:
    bad = p.PolicyInput(FLEET, ["carol@example.com"], email_domain="example.com")
    sections = p.render_sections(bad)
    sections["tagOwners"] = []  # a grant naming a tag nobody owns: the tailnet refuses it
    text = p.merge(HAND, sections)
    with pytest.raises(TailscaleError, match="not in tagOwners"):
        api(standin).validate(text)
    assert standin.policy == HAND


def test_cli(standin: PolicyStandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
             capsys: pytest.CaptureFixture[str]) -> None:
    from slipway.cli import main
    from slipway.ledger import Ledger
    from slipway.request import build_request
    from tests.server.conftest import seed_hosts

    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    led = Ledger(url)
    seed_hosts(led)
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHq7c0zYgFv8JxJ6t7xQ0c2zJ0n1y4r0q8T9v3kX3Yw t"
    for user in ("alice", "bob", "dave"):
        led.reserve(build_request(user=user, name=f"{user}-1", ssh_public_key=key), user)
    led.close()
    for k, v in {"SLIPWAY_LEDGER_URL": url, "SLIPWAY_TAILSCALE_API_KEY": standin.api_key,
                 "SLIPWAY_TAILSCALE_API_URL": standin.url, "SLIPWAY_TAILSCALE_TAILNET": standin.tailnet,
                 "SLIPWAY_CONFIG": str(tmp_path / "none.yml")}.items():
        monkeypatch.setenv(k, v)
    main(["tailnet", "policy", "--check", "--email-domain", "example.com", "--admin", "carol@example.com"])
    out = capsys.readouterr().out
    assert "would change the policy (check mode)" in out and "tag:slipway-owner-dave" in out
    assert standin.policy == HAND
    main(["tailnet", "policy", "--email-domain", "example.com", "--admin", "carol@example.com"])
    assert "policy validated and applied" in capsys.readouterr().out
    assert "bob@example.com" in standin.policy and standin.api_key not in standin.policy


def test_server_keeps_the_policy_in_step(standin: PolicyStandIn, tmp_path: Path, provider: Any,
                                         id_tokens: Any) -> None:
    """The server applies the policy (admins only) and, debounced, after ownership changes."""
    import time

    from slipway.config import Settings
    from slipway.network.tailscale import TailscaleSettings
    from slipway.request import build_request
    from slipway.server.tailnet import TailnetSettings
    from tests.server.conftest import make_api, seed_hosts, team_oidc

    s = Settings(ledger_url=f"sqlite:///{tmp_path / 'ledger.db'}", ssh_home=str(tmp_path / "h"),
                 tailscale=TailscaleSettings(api_key=standin.api_key, tailnet=standin.tailnet, api_url=standin.url))
    api, served = make_api(tmp_path, oidc=team_oidc(provider), tokens=id_tokens, settings=s,
                           tailnet=TailnetSettings(email_domain="example.com", admins=("carol@example.com",),
                                                   debounce_seconds=0.3))
    try:
        seed_hosts(api.svc.ledger)
        key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHq7c0zYgFv8JxJ6t7xQ0c2zJ0n1y4r0q8T9v3kX3Yw t"
        api.svc.ledger.reserve(build_request(user="alice", name="a-1", ssh_public_key=key), "alice")
        assert api.post("/api/v1/tailnet/policy", as_="alice", json={}).status_code == 403
        r = api.post("/api/v1/tailnet/policy", as_="carol", json={"check": True})
        assert r.status_code == 200 and r.json()["changed"] and not r.json()["applied"]
        assert standin.policy == HAND and standin.api_key not in r.text
        assert api.post("/api/v1/tailnet/policy", as_="carol", json={}).json()["applied"]
        assert "tag:slipway-owner-alice" in standin.policy
        # ownership changes: several pokes in a row → one apply after they settle
        api.svc.ledger.reserve(build_request(user="bob", name="b-1", ssh_public_key=key), "bob")
        sync = api.app.state.tailnet
        before = sync.applied
        for _ in range(3):
            sync.poke()
        time.sleep(1.5)
        assert sync.applied == before + 1 and "tag:slipway-owner-bob" in standin.policy
    finally:
        served.stop()
        api.svc.close()
        api.svc.ledger.close()
