/* SPDX-License-Identifier: MIT */
#include "token/error.h"

static const char *const names[TOKEN_E__COUNT] = {
    [TOKEN_OK]                 = "OK",
    [TOKEN_E_NO_MEMORY]        = "NO_MEMORY",
    [TOKEN_E_INVALID_ARG]      = "INVALID_ARGUMENT",
    [TOKEN_E_PCSC_UNAVAILABLE] = "PCSC_UNAVAILABLE",
    [TOKEN_E_READER_NOT_FOUND] = "READER_NOT_FOUND",
    [TOKEN_E_TOKEN_NOT_FOUND]  = "TOKEN_NOT_FOUND",
    [TOKEN_E_TOKEN_REMOVED]    = "TOKEN_REMOVED",
    [TOKEN_E_TOKEN_BUSY]       = "TOKEN_BUSY",
    [TOKEN_E_CARD_UNSUPPORTED] = "CARD_UNSUPPORTED",
    [TOKEN_E_CARD_ERROR]       = "CARD_ERROR",
    [TOKEN_E_MALFORMED]        = "MALFORMED",
    [TOKEN_E_NO_OBJECT]        = "NO_OBJECT",
    [TOKEN_E_PIN_INCORRECT]    = "PIN_INCORRECT",
    [TOKEN_E_PIN_BLOCKED]      = "PIN_BLOCKED",
    [TOKEN_E_PIN_LAST_TRY]     = "PIN_LAST_TRY",
    [TOKEN_E_PUK_INCORRECT]    = "PUK_INCORRECT",
    [TOKEN_E_PUK_BLOCKED]      = "PUK_BLOCKED",
    [TOKEN_E_PIN_POLICY]       = "PIN_POLICY",
    [TOKEN_E_SECURITY_STATUS]  = "SECURITY_STATUS",
    [TOKEN_E_TIMEOUT]          = "TIMEOUT",
    [TOKEN_E_INTERNAL]         = "INTERNAL",
    [TOKEN_E_MGMT_AUTH_FAILED] = "MGMT_AUTH_FAILED",
    [TOKEN_E_RELAY_FAILED]     = "RELAY_FAILED",
    [TOKEN_E_NOT_SUPPORTED]    = "NOT_SUPPORTED",
    [TOKEN_E_KEY_MISMATCH]     = "KEY_MISMATCH",
    [TOKEN_E_WRITE_FAILED]     = "WRITE_FAILED",
    [TOKEN_E_NO_SPACE]         = "NO_SPACE",
    [TOKEN_E_PUK_LAST_TRY]     = "PUK_LAST_TRY",
    [TOKEN_E_PUK_POLICY]       = "PUK_POLICY",
};

const char *token_err_name(token_err err)
{
    if ((unsigned)err >= TOKEN_E__COUNT || !names[err])
        return "INTERNAL";
    return names[err];
}
