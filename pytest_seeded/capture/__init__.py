"""Capture: every patch the plugin makes lives in this room. Each client library is one adapter
module (contract.py says what an adapter is), all of them hand their requests to one core
(core.py) shared by sync and async code; the network guard, frameworks' caches and credential
placeholders are patches of the same kind. intercept.py enters them for a test."""
