"""Fixed credentials the sandboxes accept, used by the clients when a service has none.

They are public on purpose: a sandbox is a local stand-in, never a real account.
"""

from __future__ import annotations

import base64

TWILIO_ACCOUNT_SID = "ACsandbox"
TWILIO_AUTH_TOKEN = "sandbox-token"
#: Twilio's documented "valid From" magic number, used when SMS_FROM is unset.
TWILIO_FROM = "+15005550006"

TELESIGN_CUSTOMER_ID = "SANDBOX0-0000-0000-0000-000000000000"
TELESIGN_API_KEY = base64.b64encode(b"civictext-sandbox-telesign-key!!").decode("ascii")

P2A_APP_ID = "sandbox-app"
P2A_APP_KEY = "sandbox-key"

WEVOTE_API_KEY = "sandbox-wevote-key"

WHATCOUNTS_REALM = "sandbox-realm"
WHATCOUNTS_PASSWORD = "sandbox-password"
WHATCOUNTS_SENDER_CODE = "2025550199"
WHATCOUNTS_GROUP = "civictext"

QUORUM_USERNAME = "sandbox"
QUORUM_API_KEY = "sandbox-api-key"
