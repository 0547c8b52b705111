"""The fixed credentials the sandboxes accept: the settings' defaults of a service that has
none of its own (`bot.config.SANDBOX_DEFAULTS`), named here for the sandboxes and tests.

They are public on purpose: a sandbox is a local stand-in, never a real account.
"""

from __future__ import annotations

from bot.config import SANDBOX_DEFAULTS

TWILIO_ACCOUNT_SID = SANDBOX_DEFAULTS["twilio_account_sid"]
TWILIO_AUTH_TOKEN = SANDBOX_DEFAULTS["twilio_auth_token"]
#: Twilio's documented "valid From" magic number, used when SMS_FROM is unset.
TWILIO_FROM = SANDBOX_DEFAULTS["twilio_from"]

TELESIGN_CUSTOMER_ID = SANDBOX_DEFAULTS["telesign_customer_id"]
TELESIGN_API_KEY = SANDBOX_DEFAULTS["telesign_api_key"]

P2A_APP_ID = SANDBOX_DEFAULTS["p2a_app_id"]
P2A_APP_KEY = SANDBOX_DEFAULTS["p2a_app_key"]

WEVOTE_API_KEY = SANDBOX_DEFAULTS["wevote_api_key"]

WHATCOUNTS_REALM = SANDBOX_DEFAULTS["whatcounts_user"]
WHATCOUNTS_PASSWORD = SANDBOX_DEFAULTS["whatcounts_password"]
WHATCOUNTS_SENDER_CODE = SANDBOX_DEFAULTS["whatcounts_sender_code"]
WHATCOUNTS_GROUP = SANDBOX_DEFAULTS["whatcounts_group"]

QUORUM_USERNAME = SANDBOX_DEFAULTS["quorum_username"]
QUORUM_API_KEY = SANDBOX_DEFAULTS["quorum_api_key"]
