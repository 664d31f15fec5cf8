/* SPDX-License-Identifier: MIT */
/*
 * web-demo/ca-service/seed.h — loads the CA's token records from a seed file
 * (JSON, made for the demo tokens by web-demo/make-demo-seed):
 *
 *   { "tokens": [ { "tokenId": "piv-…", "owner": "…", "phone": "137…",
 *                   "puk": "12345678",
 *                   "fee": { "amount": "30.00", "currency": "CNY" },   (or null: free)
 *                   "certificates": [ { "serial": "HEX", "issuer": "CN=…, O=…, C=CN" } ] } ] }
 *
 * A token already in the database is kept as it is: its PUK may have been
 * rotated since the seed was made.
 */
#ifndef UKEY_CA_SEED_H
#define UKEY_CA_SEED_H

#include <sqlite3.h>
#include <stdbool.h>

bool seed_load(sqlite3 *db, const char *path);

#endif
