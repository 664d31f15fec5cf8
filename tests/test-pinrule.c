/* SPDX-License-Identifier: MIT */
/* Tests api/v1/pinrule.c: the PIN policy checked before a card is touched, and
 * the new PINs refused as too simple (each rule, and PINs close to one that
 * are not). */
#include <string.h>

#include "api/v1/pinrule.h"
#include "tests/tap.h"

static void expect_simple(const char *pin, enum pin_simplicity want, const char *rule)
{
    enum pin_simplicity got = pin_simplicity(pin);
    const char *name = pin_simplicity_rule(got);

    tap_ok(got == want, "%s is too simple (got %d, want %d)", pin, (int)got, (int)want);
    tap_ok(name && strcmp(name, rule) == 0, "…by the rule \"%s\" (%s)", rule, name ? name : "none");
}

static void expect_not_simple(const char *pin, const char *why)
{
    tap_ok(pin_simplicity(pin) == PIN_NOT_SIMPLE, "%s is accepted: %s", pin, why);
}

static void test_simplicity(void)
{
    expect_simple("000000", PIN_SIMPLE_REPEATED, "repeated");
    expect_simple("111111", PIN_SIMPLE_REPEATED, "repeated");
    expect_simple("888888", PIN_SIMPLE_REPEATED, "repeated");
    expect_simple("aaaaaaaa", PIN_SIMPLE_REPEATED, "repeated");
    expect_simple("123456", PIN_SIMPLE_SEQUENCE, "sequence");
    expect_simple("654321", PIN_SIMPLE_SEQUENCE, "sequence");
    expect_simple("12345678", PIN_SIMPLE_SEQUENCE, "sequence");
    expect_simple("567890", PIN_SIMPLE_SEQUENCE, "sequence");
    expect_simple("098765", PIN_SIMPLE_SEQUENCE, "sequence");
    expect_simple("123123", PIN_SIMPLE_PATTERN, "pattern");
    expect_simple("121212", PIN_SIMPLE_PATTERN, "pattern");
    expect_simple("520520", PIN_SIMPLE_PATTERN, "pattern");
    expect_simple("12341234", PIN_SIMPLE_PATTERN, "pattern");
    expect_simple("112233", PIN_SIMPLE_COMMON, "common");
    expect_simple("123321", PIN_SIMPLE_COMMON, "common");
    expect_simple("5201314", PIN_SIMPLE_COMMON, "common");

    expect_not_simple("24681357", "no shape, not on the list");
    expect_not_simple("123457", "a run broken at the end");
    expect_not_simple("135790", "steps of two");
    expect_not_simple("1231234", "a group that does not fill the PIN");
    expect_not_simple("11223344", "a longer cousin of a listed PIN");
    expect_not_simple("abcdef", "letters are not a digit run");
    expect_not_simple("", "empty is the policy's to refuse");
    tap_ok(pin_simplicity_rule(PIN_NOT_SIMPLE) == NULL, "no rule for a PIN that is not simple");
}

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
    test_simplicity();
    return tap_done();
}
