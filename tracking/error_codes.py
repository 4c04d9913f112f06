"""Twilio's common messaging error codes, in words a marketer can act on.

Delivery codes (300xx) arrive later in status callbacks; send-time codes (2xxxx)
come back from the API. Unknown codes are kept as numbers and described as such.
"""

from __future__ import annotations

ERROR_CODES: dict[int, str] = {
    # Account and API
    20003: "Authentication failed: check the tenant's Twilio Account SID and auth token",
    20404: "Resource not found at Twilio",
    20429: "Too many requests to Twilio (rate limited); retried later",
    # Send-time refusals
    21211: "Invalid 'To' phone number",
    21212: "Invalid 'From' phone number",
    21408: "Sending to this region is not enabled on the Twilio account",
    21602: "Message body is required",
    21603: "A 'From' number or Messaging Service is required",
    21604: "A 'To' phone number is required",
    21606: "The 'From' number cannot send messages to this destination",
    21608: "Trial accounts can only send to verified numbers",
    21610: "The recipient has opted out (replied STOP)",
    21612: "The 'To' number cannot be reached by SMS from this sender",
    21614: "The 'To' number is not a mobile number",
    21617: "The message body is longer than 1600 characters",
    # Delivery (status callbacks)
    30001: "Queue overflow: too many messages queued for this sender; sent too fast for its throughput",
    30002: "The Twilio account is suspended",
    30003: "Unreachable destination handset (off, out of coverage or unable to receive)",
    30004: "Message blocked by the recipient or the carrier",
    30005: "Unknown destination handset (the number does not exist or is no longer in service)",
    30006: "Landline or unreachable carrier",
    30007: "Filtered by the carrier as spam or a policy violation",
    30008: "Unknown error from the carrier",
    30009: "Missing segment: part of a multi-part message was not delivered",
    30010: "Message price exceeds the maximum price set",
    30017: "Carrier network congestion",
    30018: "The destination carrier requires sender registration",
    30019: "Content size exceeds the carrier's limit",
    30022: "US A2P 10DLC throughput limit exceeded",
    30023: "US A2P 10DLC daily message cap reached",
    30024: "Numeric sender ID not provisioned by the carrier",
    30032: "Toll-free number not verified",
    30034: "Sender not registered for US A2P 10DLC",
    30036: "Validity period expired before the message could be sent",
}


def error_code_description(code: int | str | None) -> str:
    """A human description of a Twilio error code; empty for no code."""
    if code in (None, ""):
        return ""
    try:
        number = int(code)
    except (TypeError, ValueError):
        return f"Error {code}"
    return ERROR_CODES.get(number, f"Twilio error {number}")
