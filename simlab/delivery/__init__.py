"""Delivery: deployments acting on live services, alerts and incidents."""

from .alerts import BurnRateAlert
from .deploy import Defect, Deployer
from .strategies import BlueGreen, Canary, Recreate, Rolling

__all__ = ["BurnRateAlert", "Defect", "Deployer", "BlueGreen", "Canary", "Recreate", "Rolling"]
