"""The leads read model: `GET /v1/leads` and `GET /v1/leads/{lead_id}`."""
