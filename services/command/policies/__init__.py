"""Automation policies: rules that read the event stream and issue commands (services/command/
policies/engine.py); their state is the `policy_state` read model."""
