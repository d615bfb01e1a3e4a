"""The Twilio-facing webhooks (ivr.webhooks), the voice flows (ivr.flows) and seats (ivr.agents)."""
