"""API shapes: what a request and an answer mean, per LLM API: recognising a call, seeding it,
reading its output, identity and usage; SSE and forms."""
