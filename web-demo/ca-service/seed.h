/* SPDX-License-Identifier: MIT */
/*
 * web-demo/ca-service/seed.h — loads the CA's token records from a seed file
 * (JSON, made for the demo tokens by web-demo/make-demo-seed):
 *
 *   { "tokens": [ { "tokenId": "piv-…", "owner": "…", "phone": "137…",
 *                   "puk": "12345678",
 *                   "fee": { "amount": "30.00", "currency": "CNY" },   (or null: free)
 *                   "managementKey": { "algorithm": "AES-128", "key": "HEX" },
 *                                                     (optional: the PIV default 3DES key)
 *                   "certFees": { "change": "50.00", "renewal": "100.00" },
 *                                                     (optional; a kind not named is free)
 *                   "certificates": [ { "serial": "HEX", "issuer": "CN=…, O=…, C=CN",
 *                                       "slot": "9a", "der": "BASE64" } ] } ] }
 *                                                     (slot and der optional, together)
 *
 * A token already in the database is kept as it is, and so are its
 * management key, certificate fees and slot certificates: its PUK may have
 * been rotated since the seed was made, a slot's certificate replaced.
 */
#ifndef UKEY_CA_SEED_H
#define UKEY_CA_SEED_H

#include <sqlite3.h>
#include <stdbool.h>

bool seed_load(sqlite3 *db, const char *path);

#endif
