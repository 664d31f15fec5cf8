/* SPDX-License-Identifier: MIT */
/*
 * web-demo/ca-service/payment.h — fees: one order per charged unlock or
 * certificate request, its (simulated) payment and its electronic-invoice
 * details. A paid unlock order that was never used up (its request expired)
 * carries over to the token's next unlock request: the user never pays
 * twice for one unlock. A certificate order belongs to its one request.
 */
#ifndef UKEY_CA_PAYMENT_H
#define UKEY_CA_PAYMENT_H

#include <jansson.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <time.h>

#include "ca.h"
#include "problem.h"
#include "tokens.h"

#define INVOICE_TEXT_MAX 200           /* bytes of one invoice field */
#define TAX_NUMBER_MIN   15            /* old 15-digit numbers to the 18-character USCC */
#define TAX_NUMBER_MAX   20

struct order {
    char id[CA_ID_MAX];
    char token_id[CA_TOKEN_ID_MAX];
    long amount_cents;
    char currency[CA_CURRENCY_MAX];
    bool paid;                         /* paid, or paid and used up */
    bool for_cert;                     /* a certificate request's, not an unlock's */
};

#define ORDER_FOR_CERT "cert"

/* Fields of the electronic invoice (增值税电子普通发票); "" when not given. */
struct invoice {
    const char *title;                 /* 抬头: company or person */
    const char *tax_number;            /* 税号: unified social credit code */
    const char *phone;
    const char *email;
};

enum ca_code order_load(sqlite3 *db, const char *id, struct order *out);

/* The order a new request of this charged token uses: the token's paid and
 * unused one if there is one, else a new unpaid one. */
enum ca_code order_for_request(sqlite3 *db, const struct token_rec *t, char id[CA_ID_MAX]);

/* A new unpaid order for a certificate request. */
enum ca_code order_new_for_cert(sqlite3 *db, const char *token_id, long cents,
                                const char *currency, char id[CA_ID_MAX]);

/* A paid order is used up (its certificate request is done). */
bool order_consume(sqlite3 *db, const char *id);

/* Which invoice field is malformed, or NULL when all are fine. */
const char *invoice_bad_field(const struct invoice *inv);

/*
 * Marks the order paid (idempotent), keeps the invoice details when a title
 * is given, and moves its unlock or certificate requests from
 * awaiting-payment on.
 */
struct ca_problem order_pay(sqlite3 *db, const char *id, const struct invoice *inv);

/* Demo: the order and its invoice as JSON; NULL (and *code) when not. */
json_t *order_view(sqlite3 *db, const char *id, enum ca_code *code);

/* The orders of the requests settled by one PUK rotation are used up. */
bool orders_consume_for_rotation(sqlite3 *db, const char *rotation_id);

#endif
