"""The notes page's one-pattern name check finds what the per-note check finds."""

from groups.services.clinical_notes.common import NameMatcher, name_words, names_in

NAMES = {
    1: name_words("Mary-Jane Smith"),
    2: name_words("Mary Jones"),
    3: name_words("Ann O'Neil"),
    4: name_words("Neil Lee"),
    5: name_words("Anna Lee"),
}
TEXTS = [
    "Mary-Jane said Mary was late; O'Neil and neil spoke. ann, ANNA, lee, smith, Jones.",
    "mary mary-jane MARY-JANE",
    "Nobody is named here.",
    "",
]


def test_the_matcher_agrees_with_names_in_for_every_member_and_text():
    matcher = NameMatcher(NAMES)
    for member_id in NAMES:
        for text in TEXTS:
            assert matcher.found([text], member_id) == names_in([text], member_id, NAMES)
        assert matcher.found(TEXTS, member_id) == names_in(TEXTS, member_id, NAMES)


def test_an_own_hyphenated_name_does_not_hide_another_members_first_name():
    # Mary-Jane's own note: her name is hers, "Mary" inside it is Mary Jones's.
    assert NameMatcher(NAMES).found(["Mary-Jane felt better."], 1) == ["Mary"]
    assert NameMatcher(NAMES).found(["Smith spoke with jones."], 1) == ["jones"]


def test_no_names_no_matches():
    assert NameMatcher({}).found(["Mary"], 1) == []
