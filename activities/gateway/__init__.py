"""The model gateway (issue 16, item 2): agents never hold a Model's key.

Each worker runs one, in its own process. An executor calls it as if it were the provider, with a key that
names its task and step (``activities.tokens.gateway_key``); the gateway checks that key, reads the step's Model
(decrypting its key), forwards the call to the Model's ``baseUrl`` with the real key, streams the answer back
unchanged and records the tokens: it is the one place where model usage is counted, and where the monthly
budgets stop a call.
"""
