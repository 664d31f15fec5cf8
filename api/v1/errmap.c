/* SPDX-License-Identifier: MIT */
/*
 * api/v1/errmap.c — token_err → api_code, and ca_err → api_code.
 *
 * Switches without a default: the compiler (-Wswitch, an error here) refuses
 * to build when the token layer or the CA client grows an error these tables
 * do not map.
 */
#include "api/v1/errmap.h"

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
    case TOKEN_E_PUK_LAST_TRY:
        return API_PUK_LAST_TRY;
    /* The only PUKs ukeyd presents are the CA's: one that cannot be a PUK of
     * this card is the CA's record at fault, not anything the user typed. */
    case TOKEN_E_PUK_POLICY:
        return API_UNLOCK_RECORD_MISMATCH;
    case TOKEN_E_PIN_POLICY:
        return API_PIN_POLICY;
    case TOKEN_E_TIMEOUT:
        return API_TIMEOUT;
    case TOKEN_E_MGMT_AUTH_FAILED:
        return API_MANAGEMENT_AUTH_FAILED;
    /* The relay is the CA service; the caller answers with the service's own
     * refusal when it has one, so only a relay that failed silently gets here. */
    case TOKEN_E_RELAY_FAILED:
        return API_CERT_SERVICE_UNAVAILABLE;
    case TOKEN_E_NOT_SUPPORTED:
        return API_OPERATION_NOT_SUPPORTED;
    /* The only certificates written are ones the CA issued for the token. */
    case TOKEN_E_KEY_MISMATCH:
        return API_CERT_INVALID;
    case TOKEN_E_WRITE_FAILED:
        return API_TOKEN_WRITE_FAILED;
    case TOKEN_E_NO_SPACE:
        return API_TOKEN_FULL;
    case TOKEN_E_NO_MEMORY:
    case TOKEN_E_INTERNAL:
    case TOKEN_E__COUNT:
        return API_INTERNAL;
    }
    return API_INTERNAL;
}

enum api_code errmap_ca(ca_err err)
{
    switch (err) {
    case CA_OK:
        return API_OK;
    case CA_E_NO_MEMORY:
    case CA_E__COUNT:
        return API_INTERNAL;
    /* Our own checks run first, so a refused member is the user's input the
     * service reads more strictly than we do. */
    case CA_E_BAD_REQUEST:
        return API_BAD_REQUEST;
    case CA_E_PAYMENT_REQUIRED:
        return API_PAYMENT_REQUIRED;
    case CA_E_PHONE_MISMATCH:
        return API_PHONE_MISMATCH;
    case CA_E_CODE_INCORRECT:
        return API_CODE_INCORRECT;
    case CA_E_CODE_NOT_ISSUED:
        return API_CODE_NOT_ISSUED;
    case CA_E_CODE_EXPIRED:
        return API_CODE_EXPIRED;
    case CA_E_TOO_MANY_ATTEMPTS:
        return API_TOO_MANY_ATTEMPTS;
    case CA_E_RATE_LIMITED:
        return API_RATE_LIMITED;
    case CA_E_TOKEN_UNKNOWN:
        return API_UNLOCK_TOKEN_UNKNOWN;
    /* Either way the CA's request is gone: the portal opens a new session. */
    case CA_E_REQUEST_UNKNOWN:
    case CA_E_REQUEST_EXPIRED:
        return API_UNLOCK_SESSION_EXPIRED;
    case CA_E_STATE_CONFLICT:
        return API_UNLOCK_STATE_CONFLICT;
    case CA_E_PUK_RECORD_MISMATCH:
        return API_UNLOCK_RECORD_MISMATCH;
    /* The CA cannot unlock this kind of token. */
    case CA_E_MECHANISM_UNSUPPORTED:
        return API_OPERATION_NOT_SUPPORTED;
    /* Rotations are ukeyd's business with the service; the portal never causes these. */
    case CA_E_UNAVAILABLE:
    case CA_E_ROTATION_UNKNOWN:
    case CA_E_ROTATION_CONFLICT:
    case CA_E_ROTATION_CLOSED:
    case CA_E_ACTION_UNKNOWN:
        return API_UNLOCK_SERVICE_UNAVAILABLE;
    }
    return API_UNLOCK_SERVICE_UNAVAILABLE;
}

enum api_code errmap_ca_cert(ca_err err)
{
    switch (err) {
    case CA_OK:
        return API_OK;
    case CA_E_NO_MEMORY:
    case CA_E__COUNT:
        return API_INTERNAL;
    /* Either way there is no approved action with that number for the token. */
    case CA_E_TOKEN_UNKNOWN:
    case CA_E_ACTION_UNKNOWN:
        return API_CERT_ACTION_NOT_FOUND;
    case CA_E_STATE_CONFLICT:
    case CA_E_PAYMENT_REQUIRED:
        return API_CERT_ACTION_NOT_READY;
    /* More than the protocol's 16 answers for one action. */
    case CA_E_TOO_MANY_ATTEMPTS:
        return API_MANAGEMENT_AUTH_FAILED;
    /* ukeyd builds every member it sends (CSR, serial, challenge) itself: a
     * refusal of one is the service disagreeing with the protocol. */
    case CA_E_BAD_REQUEST:
    case CA_E_UNAVAILABLE:
    case CA_E_RATE_LIMITED:
    case CA_E_PHONE_MISMATCH:
    case CA_E_CODE_INCORRECT:
    case CA_E_CODE_NOT_ISSUED:
    case CA_E_CODE_EXPIRED:
    case CA_E_REQUEST_UNKNOWN:
    case CA_E_REQUEST_EXPIRED:
    case CA_E_ROTATION_UNKNOWN:
    case CA_E_ROTATION_CONFLICT:
    case CA_E_ROTATION_CLOSED:
    case CA_E_PUK_RECORD_MISMATCH:
    case CA_E_MECHANISM_UNSUPPORTED:
        return API_CERT_SERVICE_UNAVAILABLE;
    }
    return API_CERT_SERVICE_UNAVAILABLE;
}

enum api_code errmap_certwrite(enum certwrite_code code)
{
    switch (code) {
    case CERTWRITE_INTERNAL:
        return API_INTERNAL;
    case CERTWRITE_CERT_INVALID:
        return API_CERT_INVALID;
    case CERTWRITE_TOKEN_WRITE_FAILED:
        return API_TOKEN_WRITE_FAILED;
    case CERTWRITE_ACTION_NOT_FOUND:
        return API_CERT_ACTION_NOT_FOUND;
    case CERTWRITE_ROOTS_NOT_CONFIGURED:
        return API_CERT_ROOTS_NOT_CONFIGURED;
    }
    return API_INTERNAL;
}
