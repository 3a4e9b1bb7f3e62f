import pytest

from shared.errors import InvalidInput, InvalidSender, InvalidTarget, InvalidText, MessageTooLarge
from shared.models import (
    MAX_ID,
    clamp_limit,
    normalize_sender,
    normalize_target,
    validate_id,
    validate_text,
)


@pytest.mark.parametrize("name", ["proj-x", "a", "A1", "x.y_z-w", "9lives", "a" * 64])
def test_valid_channel_names_are_accepted_and_lower_cased(name: str) -> None:
    assert normalize_target(name) == name.lower()


def test_channel_names_are_matched_case_insensitively() -> None:
    assert normalize_target("Proj-X") == normalize_target("proj-x") == "proj-x"


@pytest.mark.parametrize(
    "name",
    [
        "",
        "   ",
        "../x",
        "a/b",
        "a\\b",
        ".hidden",
        "-x",
        "_x",
        "a\x00b",
        "a\nb",
        "a b",
        "a" * 65,
        "é",
        "..",
        "x:y",
    ],
)
def test_hostile_channel_names_are_rejected_with_the_rule(name: str) -> None:
    with pytest.raises(InvalidTarget, match="letters, digits"):
        normalize_target(name)


def test_non_string_channel_name_is_rejected() -> None:
    with pytest.raises(InvalidTarget):
        normalize_target(5)


@pytest.mark.parametrize("sender", ["", "  ", "a" * 65, "bad\x07bell", "new\nline", 3])
def test_bad_senders_are_rejected(sender: object) -> None:
    with pytest.raises(InvalidSender):
        normalize_sender(sender)


def test_sender_is_stripped_and_may_be_any_printable_text() -> None:
    assert normalize_sender("  Ada Lovelace 🧮 ") == "Ada Lovelace 🧮"


def test_text_over_the_limit_names_both_sizes() -> None:
    with pytest.raises(MessageTooLarge, match=r"text is 11 bytes.*limit is 10 bytes"):
        validate_text("é" * 5 + "x", 10)


def test_text_at_the_limit_is_accepted() -> None:
    assert validate_text("x" * 10, 10) == "x" * 10


@pytest.mark.parametrize("text", ["", " \n\t ", "nul\x00byte", "\ud800 lone surrogate", None])
def test_blank_or_binary_text_is_rejected(text: object) -> None:
    with pytest.raises(InvalidText):
        validate_text(text, 1000)


def test_text_keeps_tabs_newlines_and_unicode() -> None:
    text = "line1\n\tline2\r\n‏RTL mark, emoji 🎉"
    assert validate_text(text, 1000) == text


@pytest.mark.parametrize(
    ("given", "expected"), [(None, 50), (0, 1), (-5, 1), (7, 7), (200, 200), (10**9, 200)]
)
def test_limit_is_clamped_like_the_original(given: int | None, expected: int) -> None:
    assert clamp_limit(given, 200) == expected


@pytest.mark.parametrize("value", [-1, "3", 1.5, True, -1.0, float("inf"), float("nan")])
def test_ids_must_be_non_negative_integers(value: object) -> None:
    with pytest.raises(InvalidInput, match="since_id"):
        validate_id(value, "since_id")


def test_an_id_written_as_a_json_number_with_zero_fraction_is_that_whole_number() -> None:
    # JSON Schema's "integer" includes 7.0, and the API's /openapi.json says "integer".
    assert validate_id(7.0, "reply_to") == 7 and type(validate_id(7.0, "reply_to")) is int


def test_every_character_below_u0100_and_the_surrogates_follow_the_text_rule() -> None:
    # The fast check works on UTF-8 bytes; walk every one-byte and two-byte boundary it relies on.
    allowed_controls = {"\t", "\n", "\r"}
    for code in [*range(0x100), 0xD800, 0xDBFF, 0xDC00, 0xDFFF]:
        char = chr(code)
        refused = (code < 0x20 and char not in allowed_controls) or 0x7F <= code <= 0x9F or code >= 0xD800
        for text in (char + "x", "plain " + char, "é" + char + "🎉"):
            if refused:
                with pytest.raises(InvalidText, match=f"U\\+{code:04X}"):
                    validate_text(text, 1000)
            else:
                assert validate_text(text, 1000) == text


def test_the_first_bad_character_is_named_when_a_control_comes_before_a_surrogate() -> None:
    with pytest.raises(InvalidText, match="control character U\\+0001"):
        validate_text("a\x01b\ud800", 100)
    with pytest.raises(InvalidText, match="unpaired surrogate U\\+DC00"):
        validate_text("a\udc00b\x01", 100)


def test_ids_stop_at_the_documented_bound() -> None:
    assert validate_id(MAX_ID, "since_id") == MAX_ID
    for value in (MAX_ID + 1, 10**30):
        with pytest.raises(InvalidInput, match=f"at most {MAX_ID}"):
            validate_id(value, "since_id")
    with pytest.raises(InvalidInput, match="reply_to must be a whole number >= 1"):
        validate_id(0, "reply_to", minimum=1)
    with pytest.raises(InvalidInput, match="without quotes"):
        validate_id("7", "reply_to", minimum=1)
