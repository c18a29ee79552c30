"""The undertaker: warns about and buries idle vessels, reconciles vessels whose metrics went missing.

``calendar`` (work hours), ``decide`` (the pure rule), ``config`` (validated settings), ``service``
(the run: one Prometheus query for the fleet, actions through the vessel service, notices), ``cli``.
"""

from __future__ import annotations

from slipway.undertaker.calendar import WorkCalendar
from slipway.undertaker.config import UndertakerConfig
from slipway.undertaker.decide import Decision, Rule, VesselFacts, decide
from slipway.undertaker.service import RunResult, Undertaker, parse_now, set_keep

__all__ = ["Decision", "Rule", "RunResult", "Undertaker", "UndertakerConfig", "VesselFacts", "WorkCalendar",
           "decide", "parse_now", "set_keep"]
