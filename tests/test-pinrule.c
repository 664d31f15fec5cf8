/* SPDX-License-Identifier: MIT */
/* Tests api/v1/pinrule.c: the PIN policy checked before a card is touched. */
#include "api/v1/pinrule.h"
#include "tests/tap.h"

int main(void)
{
    struct token_pin_info digits = { .min_len = 6, .max_len = 8, .charset = "digits" };
    struct token_pin_info ascii = { .min_len = 4, .max_len = 8, .charset = "ascii" };
    struct token_pin_info other = { .min_len = 1, .max_len = 0, .charset = NULL };

    tap_ok(pin_meets_policy("123456", &digits), "6 digits");
    tap_ok(pin_meets_policy("12345678", &digits), "8 digits");
    tap_ok(!pin_meets_policy("12345", &digits), "too short");
    tap_ok(!pin_meets_policy("123456789", &digits), "too long");
    tap_ok(!pin_meets_policy("12345a", &digits), "letter in a digits PIN");
    tap_ok(!pin_meets_policy("", &digits), "empty");
    tap_ok(pin_meets_policy("ab cD!~", &ascii), "printable ASCII");
    tap_ok(!pin_meets_policy("abc\tdef", &ascii), "control character");
    tap_ok(!pin_meets_policy("密码1234", &ascii), "non-ASCII");
    tap_ok(pin_meets_policy("anything at all", &other), "unknown charset, no maximum");
    tap_ok(!pin_meets_policy("", &other), "empty never passes");
    return tap_done();
}
