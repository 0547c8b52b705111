"""The organiser's console at `/admin`: server-rendered pages over the same stores the
commands use (stats, consent ledger, broadcasts, dead letters). Off unless ADMIN_PASSWORD.
"""

from bot.admin.routes import setup_admin

__all__ = ["setup_admin"]
