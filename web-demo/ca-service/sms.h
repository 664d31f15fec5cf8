/* SPDX-License-Identifier: MIT */
/*
 * web-demo/ca-service/sms.h — sending SMS codes to the registered phone,
 * with the protocol's limits: the full number must match (and wrong numbers
 * are limited, so the masked digits cannot be guessed), one SMS per token
 * per resend interval, CA_SMS_PER_WINDOW per hour. The demo "sends" into an
 * outbox table that tests and the demo read over HTTP.
 */
#ifndef UKEY_CA_SMS_H
#define UKEY_CA_SMS_H

#include <jansson.h>

#include "ca.h"
#include "problem.h"
#include "requests.h"

struct ca_problem sms_send(struct ca *ca, const struct unlock_request *r, const char *phone);

/* Demo: the newest messages, to one phone or to all when phone is NULL. */
json_t *sms_outbox(sqlite3 *db, const char *phone);

#endif
