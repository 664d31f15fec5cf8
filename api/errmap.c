/* SPDX-License-Identifier: MIT */
/*
 * api/errmap.c — token_err → api_code.
 *
 * A switch without a default: the compiler (-Wswitch, an error here) refuses
 * to build when the token layer grows an error this table does not map.
 */
#include "api/errmap.h"

enum api_code errmap_token(token_err err)
{
    switch (err) {
    case TOKEN_OK:
        return API_OK;
    case TOKEN_E_INVALID_ARG:
        return API_BAD_REQUEST;
    case TOKEN_E_PCSC_UNAVAILABLE:
        return API_PCSC_UNAVAILABLE;
    case TOKEN_E_TOKEN_NOT_FOUND:
        return API_TOKEN_NOT_FOUND;
    /* The reader is the token's only address: a vanished reader is a pulled token. */
    case TOKEN_E_READER_NOT_FOUND:
    case TOKEN_E_TOKEN_REMOVED:
        return API_TOKEN_REMOVED;
    case TOKEN_E_TOKEN_BUSY:
        return API_TOKEN_BUSY;
    case TOKEN_E_CARD_UNSUPPORTED:
        return API_CARD_UNSUPPORTED;
    /* Card data we cannot use and a card that asks for a PIN we never skip are
     * both the card misbehaving, as far as the API's caller can tell. */
    case TOKEN_E_CARD_ERROR:
    case TOKEN_E_MALFORMED:
    case TOKEN_E_SECURITY_STATUS:
        return API_CARD_ERROR;
    case TOKEN_E_NO_OBJECT:
        return API_CERTIFICATE_NOT_FOUND;
    case TOKEN_E_PIN_INCORRECT:
        return API_PIN_INCORRECT;
    case TOKEN_E_PIN_BLOCKED:
        return API_PIN_BLOCKED;
    case TOKEN_E_PIN_LAST_TRY:
        return API_PIN_LAST_TRY;
    case TOKEN_E_PUK_INCORRECT:
        return API_PUK_INCORRECT;
    case TOKEN_E_PUK_BLOCKED:
        return API_PUK_BLOCKED;
    case TOKEN_E_PIN_POLICY:
        return API_PIN_POLICY;
    case TOKEN_E_TIMEOUT:
        return API_TIMEOUT;
    case TOKEN_E_NO_MEMORY:
    case TOKEN_E_INTERNAL:
    case TOKEN_E__COUNT:
        return API_INTERNAL;
    }
    return API_INTERNAL;
}
