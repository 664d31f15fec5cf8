/* SPDX-License-Identifier: MIT */
/*
 * tests/vtoken/buf.h — the growable byte buffer and hex helpers every part of
 * the virtual token shares. A buffer may hold secrets (PIN, PUK, key DER), so
 * it is always wiped before its memory goes back to the allocator.
 */
#ifndef UKEYD_VTOKEN_BUF_H
#define UKEYD_VTOKEN_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vt_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
};

/* 0 on success, -1 when memory runs out (the buffer is left as it was). */
int vt_buf_append(struct vt_buf *b, const void *data, size_t len);
int vt_buf_append_byte(struct vt_buf *b, uint8_t byte);
/* Sets the length, zero-filling any growth. */
int vt_buf_resize(struct vt_buf *b, size_t len);
/* Empties the buffer but keeps its memory (wiped). */
void vt_buf_clear(struct vt_buf *b);
/* Wipes and frees; the buffer is empty and reusable afterwards. */
void vt_buf_free(struct vt_buf *b);
/* Replaces the contents with a copy of data. */
int vt_buf_set(struct vt_buf *b, const void *data, size_t len);

/* For __attribute__((cleanup(vt_buf_cleanup))) on local buffers. */
void vt_buf_cleanup(struct vt_buf *b);
#define VT_AUTO_BUF __attribute__((cleanup(vt_buf_cleanup))) struct vt_buf

/* Upper-case hex of len bytes into out (2*len+1 bytes). */
void vt_hex_encode(const uint8_t *data, size_t len, char *out);
/* Parses an even-length hex string (either case, no separators) into b.
 * Returns 0, or -1 on a bad digit, odd length or no memory. */
int vt_hex_decode(const char *hex, size_t hex_len, struct vt_buf *b);
/* Parses exactly `len` bytes of hex into out; -1 unless hex has 2*len digits. */
int vt_hex_decode_fixed(const char *hex, uint8_t *out, size_t len);

#endif
