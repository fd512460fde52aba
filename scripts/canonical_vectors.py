#!/usr/bin/env python3
"""Reference vectors for hookd's canonical JSON (SPEC section 7).

Seed 004 partners verify signatures by re-serializing the parsed body with
json.dumps(obj, sort_keys=True, separators=(',', ':')). hookd must emit those
exact bytes, so this script asks Python itself what they are.

Prints a JSON array of {"input": <json text>, "canonical": <python output>}.
Each input is JSON text that serde_json parses to the same value Python does.
Regenerate with:
    python3 scripts/canonical_vectors.py > tests/vectors/canonical_json.json
Standard library only.
"""

import json
import sys


def canonical(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


# Values built in Python; their input text is json.dumps without ASCII
# escaping, so the Rust side also exercises parsing of raw UTF-8.
VALUES = [
    # seed 004, "Evento: payment.success"
    {
        "event": "payment.success",
        "timestamp": 1704186000,
        "transaction_id": "txn_abc123def456",
        "amount": 150.0,
        "currency": "USD",
        "user_id": "user_uuid_here",
        "user_email": "cliente@example.com",
        "user_name": "Juan P\u00e9rez",
        "metadata": {
            "tour_id": "tour_uuid_here",
            "tour_name": "Amazon\u00eda Premium",
            "destination": "Amazon\u00eda",
            "reservation_id": "res_uuid_here",
            "start_date": "2024-02-15",
            "end_date": "2024-02-18",
            "num_people": 4,
        },
        "provider": "stripe",
    },
    # seed 004 troubleshooting example
    {"event": "test", "data": 123},
    # nesting with unsorted keys at every level
    {"z": {"b": 1, "a": {"d": [3, {"y": 1, "x": 2}], "c": None}}, "a": [], "m": {}},
    # key order is by code point (uppercase before lowercase, BMP before astral)
    {"b": 1, "B": 2, "a": 3, "\u00e9": 4, "\u4e2d": 5, "\uff01": 6, "\U0001F600": 7, "": 8, "a b": 9},
    # unicode in values
    {"es": "\u00e9 \u00f1 \u00d1", "zh": "\u4e2d\u6587", "emoji": "\U0001F600 \U0001F389", "mixed": "caf\u00e9 \u2603 \U0010FFFF"},
    # control characters, quotes, backslashes, DEL
    {"ctl": "\x00\x01\x07\x08\x09\x0a\x0b\x0c\x0d\x1b\x1f", "q": 'say "hi"', "bs": "C:\\path\\", "del": "a\x7fb", "slash": "a/b", "tilde": "~ !"},
    # integers
    [0, 1, -1, 42, -42, 1704186000, 9007199254740993],
    [18446744073709551615, 9223372036854775807, -9223372036854775808],
    # floats: Python repr switches to exponent form below 1e-4 and from 1e16
    [150.0, 0.1, 1e16, 1e-5, 123456789.123, -0.0, 1.5e300, 2.5e-7],
    [0.0, 1.0, -1.5, 100.0, 0.0001, 0.00001, 1e15, 9999999999999998.0, 1e22, 12345678901234567890.0],
    # shortest-digit ties, which Python breaks to even
    [1059438285926254.25, 26363981746409.3125, -108868734838530.125, 0.1 + 0.7],
    [0.1 + 0.2, 1 / 3, 2 / 3, 5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, -1.7976931348623157e308, 3.14159, 1e100, 123e-20],
    # scalars and empties
    True, False, None, {}, [], "", "plain", 7, 7.5,
    {"t": True, "f": False, "n": None, "e": {}, "l": [], "s": ""},
]

# Inputs given as literal text: spellings json.dumps never produces, but which
# a sender may. Python's loads decides what they mean. Not here: the integer
# literal -0, which Python reads as int 0 but serde_json as float -0.0.
TEXTS = [
    '{"b":1,"a":2}',
    '{ "k" : [ 1 , 2 ] , "j" : "\\u00e9\\ud83d\\ude00\\u0041" }',
    '[1E5, 1e+2, 1.0e2, 2.50, 0.5e-10, 1e-7, 10.0]',
    '"\\/\\b\\f\\n\\r\\t\\"\\\\"',
    '{"nested":{"deep":{"deeper":{"deepest":[[[]]]}}}}',
]


def main():
    cases = []
    for value in VALUES:
        text = json.dumps(value, ensure_ascii=False)
        cases.append({"input": text, "canonical": canonical(value)})
    for text in TEXTS:
        cases.append({"input": text, "canonical": canonical(json.loads(text))})
    json.dump(cases, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
