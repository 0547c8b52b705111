"""What each action a flow may call does, takes, saves and answers, in one table.

The flow check reads it (a placeholder is fine after an action that saves it; a `when:` on a
result must be a tag or reason the action can give), `python -m bot flows actions` prints it,
`docs/actions.md` and the JSON Schema are generated from it. `tests/test_action_catalog.py`
keeps it in step with the registry and with the reasons the action modules return.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ActionInfo:
    """One action as staff see it."""

    summary: str
    params: dict[str, str] = field(default_factory=dict)  # name -> what it means
    saves: tuple[str, ...] = ()  # names the result may store (success or failure)
    tags: tuple[str, ...] = ()  # success tags a route's `when:` may name
    reasons: tuple[str, ...] = ()  # failure reasons a route's `when:` may name
    saves_from_param: str = ""  # a param listing further names it saves (comma-separated)
    extra_params: str = ""  # a regex: further params it takes (e.g. fields to send)
    extra_params_doc: str = ""
    flows_call_it: bool = True


#: The worker's own reasons, possible for every action.
COMMON_REASONS = ("unavailable", "invalid")

CATALOG: dict[str, ActionInfo] = {
    "consent_sync": ActionInfo(
        "Push an opt-out (or a renewed opt-in) to the upstream lists. Emitted by the bot on "
        "STOP, START and carrier opt-outs; flows do not name it.",
        params={"opted_in": "true for a renewed opt-in, false for an opt-out"},
        flows_call_it=False,
    ),
    "verify_send": ActionInfo(
        "Text the voter a one-time code (VERIFY_PROVIDER: local, telesign or wevote).",
        params={"resend": "\"true\" from a RESEND state (a cooldown applies), else \"false\"",
                "sent_at": "`{verify_sent_at}` of the previous send (for the cooldown)",
                "device": "`{verify_device}` of the previous send (wevote)",
                "sms_id": "`{verify_sms_id}` of the previous send (wevote)"},
        saves=("verify_hash", "verify_salt", "verify_device", "verify_sms_id",
               "verify_expires", "verify_sent_at", "verify_tries", "verify_wait"),
        tags=("unclear",),
        reasons=("cooldown", "locked", "not_sent", "unsupported_phone", "rejected",
                 "code_limit"),
    ),
    "verify_check": ActionInfo(
        "Check the code the voter typed against the last `verify_send`.",
        params={"code": "the code the voter typed (`{code}`, saved by `when: code`)",
                "hash": "`{verify_hash}`", "salt": "`{verify_salt}`",
                "device": "`{verify_device}`", "expires": "`{verify_expires}`",
                "tries": "`{verify_tries}`"},
        saves=("verified", "verify_tries", "verify_tries_left", "verify_hash", "verify_salt"),
        reasons=("wrong_code", "expired", "locked", "rejected"),
    ),
    "whatcounts_subscribe": ActionInfo(
        "Add the voter's phone to the WhatCounts SMS list.",
        saves=("whatcounts_subscribed", "whatcounts_already"),
        tags=("skipped",),
        reasons=("rejected",),
    ),
    "p2a_campaigns": ActionInfo(
        "List the Phone2Action campaigns as a numbered menu, one page at a time.",
        params={"page": "the page to show: \"1\", or `{campaigns_next_page}`"},
        saves=("campaigns_menu", "campaigns_ids", "campaigns_count", "campaigns_page",
               "campaigns_next_page", "campaigns_more", "campaign_id", "campaign_name",
               "campaign_cta", "campaign_zip_ok"),
        tags=("single", "last_page"),
        reasons=("none", "rejected"),
    ),
    "p2a_pick_campaign": ActionInfo(
        "Turn the voter's menu number into the chosen campaign's details.",
        params={"choice": "the number the voter picked (`{choice}`)",
                "ids": "`{campaigns_ids}` of the menu shown"},
        saves=("campaign_id", "campaign_name", "campaign_cta", "campaign_zip_ok"),
        reasons=("no_such_choice", "rejected"),
    ),
    "p2a_advocate": ActionInfo(
        "Create or update the voter's Phone2Action advocate, opted in to SMS.",
        params={"campaign_id": "the campaign (`{campaign_id}`)",
                "address1": "street address (optional)", "zip5": "5-digit ZIP (optional)"},
        saves=("advocate_id",),
        reasons=("unsupported_phone", "rejected"),
        extra_params=r"^field_[0-9]{1,9}$",
        extra_params_doc="`field_<ID>`: a Phone2Action custom field by its numeric ID (from "
        "the Organization Settings page), sent as `fields[ID]`; empty values are left out",
    ),
    "p2a_legislators": ActionInfo(
        "Find the campaign's targets for the address the voter typed, and save the address "
        "on their advocate.",
        params={"campaign_id": "`{campaign_id}`", "address": "the voter's text (`{address}`)",
                "zip_ok": "accepted and ignored: a bare ZIP is never looked up (`address1` "
                "is required)",
                "zip5": "a ZIP given earlier (`{zip5}`, optional)"},
        saves=("targets_menu", "targets_list", "targets_ids", "targets_count",
               "targets_names", "advocate_id", "zip5", "address1"),
        reasons=("no_zip", "need_street", "bad_address", "none_found", "unsupported_phone",
                 "rejected"),
    ),
    "p2a_call": ActionInfo(
        "Ask Phone2Action to ring the voter and connect them to every legislator the "
        "campaign targets (its API has no per-legislator choice); `call_with` names whom its "
        "answer lists.",
        params={"campaign_id": "`{campaign_id}`", "advocate_id": "`{advocate_id}`",
                "choice": "ALL (a menu number is still accepted)",
                "names": "`{targets_names}`"},
        saves=("call_with", "call_chosen", "call_ids", "call_count"),
        reasons=("no_such_choice", "unclear", "rejected"),
    ),
    "webhook": ActionInfo(
        "POST chosen values as signed JSON to a staff URL named in WEBHOOK_TARGETS (a CRM, "
        "a petition sheet).",
        params={"to": "the target's name in WEBHOOK_TARGETS",
                "include_phone": "\"true\" adds the voter's number as `phone`",
                "save_fields": "fields of the JSON answer to keep, comma-separated "
                "(`count, signer_id`)",
                "retry": "\"true\" only if the receiver ignores a repeated Idempotency-Key: "
                "then an unclear answer is retried"},
        saves_from_param="save_fields",
        reasons=("not_configured", "rejected", "unknown"),
        extra_params=r"^[a-z][a-z0-9_]{0,47}$",
        extra_params_doc="any other name: a field of the JSON body (`name: \"{name}\"`)",
    ),
}


def reasons_of(name: str) -> tuple[str, ...]:
    """Every failure reason an action's result may carry (its own and the worker's)."""
    info = CATALOG.get(name)
    return (*(info.reasons if info else ()), *COMMON_REASONS)
