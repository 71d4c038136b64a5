"""Alerts: classify a failure, attach a remediation hint, deliver to Slack and e-mail."""
