from __future__ import annotations

import logging

import pytest
from orch.core.redact import KEY_MARK, RedactingFilter, Redactor
from orch.core.terminal.capture import LineAssembler

# Made-up secrets of the real shapes.
ANT = "sk-ant-api03-Zx9_kLm2-Qr7TuV0wXyZ4aBcDeFgHiJkLmNoPqRsTuVwXyZ012345-abcdEFGH"
OPENAI = "sk-proj-A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6"
GHP = "ghp_16C7e42F292c6912E7710c838347Ae178B4a"
GHO = "gho_16C7e42F292c6912E7710c838347Ae178B4a"
GH_PAT = "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVW"
SLACK = "xoxb-2400000000-3400000000000-AbCdEfGhIjKlMnOpQrStUvWx"
AKIA = "AKIAIOSFODNN7EXAMPLE"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
TELEGRAM = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0"
PASSWORD = "pa55-w0rd!"

PEM = [
    "-----BEGIN RSA PRIVATE KEY-----",
    "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun",
    "VTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxK",
    "LxoS2tFczGkPLPgizskuemMghRniWaoLcyehkd3qqGElvW/VDL5AaWTg0nLVkjRo",
    "9z+tI/ASPx4e9Ws1qmJ3aUw1IX3qa3kDhnrS9zv4Q1Zrd3FO4zPZ8qaTTc0QIDAQ",
    "-----END RSA PRIVATE KEY-----",
]

SECRETS = [ANT, OPENAI, GHP, GHO, GH_PAT, SLACK, AKIA, AWS_SECRET, TELEGRAM.split(":")[1], PASSWORD,
           *(line for line in PEM[1:-1])]

CORPUS = [
    (f"export ANTHROPIC_API_KEY={ANT}", "export ANTHROPIC_API_KEY=[REDACTED]"),
    (f"using key {ANT} for the router", "using key sk-ant-[REDACTED] for the router"),
    (f'client = OpenAI(api_key="{OPENAI}")', 'client = OpenAI(api_key="[REDACTED]")'),
    (f"token={OPENAI}", "token=sk-[REDACTED]"),
    (f"git push https://{GHP}@github.com/o/r.git", "git push https://ghp_[REDACTED]@github.com/o/r.git"),
    (f"GH_TOKEN {GHO}", "GH_TOKEN gho_[REDACTED]"),
    (f"pat: {GH_PAT}.", "pat: github_pat_[REDACTED]."),
    (f"SLACK_BOT_TOKEN={SLACK}", "SLACK_BOT_TOKEN=[REDACTED]"),
    (f"slack said {SLACK}", "slack said xoxb-[REDACTED]"),
    (f"aws_access_key_id = {AKIA}", "aws_access_key_id = AKIA[REDACTED]"),
    (f"aws_secret_access_key = {AWS_SECRET}", "aws_secret_access_key = [REDACTED]"),
    (f"AWS_SECRET_ACCESS_KEY={AWS_SECRET}", "AWS_SECRET_ACCESS_KEY=[REDACTED]"),
    (f"GET https://api.telegram.org/bot{TELEGRAM}/getUpdates",
     "GET https://api.telegram.org/bot123456789:[REDACTED]/getUpdates"),
    (f"curl -H 'Authorization: Bearer {OPENAI}' https://x", "curl -H 'Authorization: Bearer [REDACTED]' https://x"),
    (f'"authorization": "Bot {TELEGRAM}"', '"authorization": "Bot [REDACTED]"'),
    ("Authorization: Basic dXNlcjpwYXNzd29yZA==", "Authorization: Basic [REDACTED]"),
    ("sent with bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOjF9.c2ln", "sent with bearer [REDACTED]"),
    (f"x-api-key: {ANT}", "x-api-key: [REDACTED]"),
    (f"cloning postgres://admin:{PASSWORD}@db.local:5432/app", "cloning postgres://admin:***@db.local:5432/app"),
    (f"redis://:{PASSWORD}@cache/0", "redis://:***@cache/0"),
    (f"https://bob:{PASSWORD}@host/a@b", "https://bob:***@host/a@b"),
    (f"password = '{PASSWORD}'", "password = '[REDACTED]'"),
    (f"DB_PASSWORD={PASSWORD}", "DB_PASSWORD=[REDACTED]"),
    (f"key: {PEM[0]}{PEM[1]}{PEM[-1]} ok", f"key: {KEY_MARK} ok"),
]

# Ordinary output that must come through unchanged.
HARMLESS = [
    "tokens_in=1234 tokens_out=56 max_tokens=4096",
    "api_key = config.api_key",
    "GITHUB_TOKEN=${GITHUB_TOKEN}",
    "see https://github.com/org/repo/pull/12 and http://localhost:8080/path",
    "git@github.com:org/repo.git",
    "pip install scikit-learn  # sk-learn",
    "ask the task-runner; risk-averse",
    "the secret to good tests is determinism",
    "Bearer tokens are described in RFC 6750",
    "-----BEGIN PUBLIC KEY-----",
    "12:30 AAA meeting",
]


@pytest.mark.parametrize(("raw", "expected"), CORPUS)
def test_known_secrets_are_replaced_by_markers(raw: str, expected: str) -> None:
    redactor = Redactor()
    assert redactor.redact_text(raw) == expected
    assert redactor.redact_lines([raw]) == [expected]
    assert redactor.redact_text(expected) == expected  # redacting twice changes nothing


@pytest.mark.parametrize("line", HARMLESS)
def test_ordinary_output_is_left_alone(line: str) -> None:
    assert Redactor().redact_text(line) == line


def test_no_secret_of_the_corpus_survives() -> None:
    redacted = Redactor().redact_lines([raw for raw, _ in CORPUS] + PEM)
    text = "\n".join(redacted)
    for secret in SECRETS:
        assert secret not in text


def test_a_private_key_is_removed_across_calls() -> None:
    redactor = Redactor()
    first = redactor.redact_lines(["writing id_rsa:", "  " + PEM[0], "  " + PEM[1], "  " + PEM[2]])
    second = redactor.redact_lines(["  " + PEM[3], "  " + PEM[4]])
    third = redactor.redact_lines(["  " + PEM[5] + " (saved)", "done"])
    assert first == ["writing id_rsa:", "  " + KEY_MARK]
    assert second == []
    assert third == [" (saved)", "done"]


def test_a_key_in_a_diff_or_quoted_is_removed() -> None:
    diff = ["+" + line for line in PEM]
    assert Redactor().redact_lines(["@@ -0,0 +1,6 @@", *diff, " context"]) == ["@@ -0,0 +1,6 @@", "+" + KEY_MARK,
                                                                             " context"]
    quoted = [f'    "{line}\\n"' for line in PEM]
    assert Redactor().redact_lines(quoted) == ['    "' + KEY_MARK, '\\n"']  # what follows END is kept


def test_a_stray_begin_line_does_not_swallow_the_stream() -> None:
    redactor = Redactor()
    lines = ["grep output: -----BEGIN PRIVATE KEY-----", "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC", "Error: not a key",
             "next line"]
    # The one body-like line after BEGIN is hidden; the first line that cannot be key material ends the block.
    assert redactor.redact_lines(lines) == ["grep output: " + KEY_MARK, "Error: not a key", "next line"]


def test_redact_text_removes_a_whole_key_in_one_string() -> None:
    text = "before\n" + "\n".join(PEM) + "\nafter"
    assert Redactor().redact_text(text) == f"before\n{KEY_MARK}\nafter"


def test_config_patterns_replace_the_match_or_its_secret_group() -> None:
    redactor = Redactor([r"corp-[0-9a-f]{12}", r"session=(?P<secret>\w+)"])
    assert redactor.redact_text("id corp-0123456789ab used") == "id [REDACTED] used"
    assert redactor.redact_text("cookie session=abc123; path=/") == "cookie session=[REDACTED]; path=/"
    assert redactor.redact_lines(["plain", "id corp-0123456789ab"]) == ["plain", "id [REDACTED]"]


def test_the_log_filter_redacts_message_args_and_traceback(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("orch.test.redact")
    caplog.handler.addFilter(RedactingFilter())
    logger.warning("calling %s with %s", f"https://u:{PASSWORD}@h/x", {"key": ANT})
    try:
        raise RuntimeError(f"401 for token {GHP}")
    except RuntimeError:
        logger.exception("request failed")
    assert caplog.records[0].getMessage() == "calling https://u:***@h/x with {'key': 'sk-ant-[REDACTED]'}"
    assert "ghp_[REDACTED]" in caplog.text
    for secret in (PASSWORD, ANT, GHP):
        assert secret not in caplog.text


def test_the_log_filter_replaces_literal_secrets_on_a_library_s_loggers(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    token = "MTIz.opaque-bot-token.shape-no-rule-knows"
    child = logging.getLogger("orchtestlib.http.client")  # exists before install, as a library's module loggers do
    log_filter = RedactingFilter(secrets=[token])
    log_filter.install("orchtestlib")
    try:
        child.debug("GET https://api.example/bot%s/getMe", token)
        logging.getLogger("orchtestlib").info("token %s in the parent's own record", token)
    finally:
        log_filter.uninstall("orchtestlib")
    child.debug("after uninstall: %s", token)
    assert [record.getMessage() for record in caplog.records] == [
        "GET https://api.example/bot[REDACTED]/getMe", "token [REDACTED] in the parent's own record",
        f"after uninstall: {token}"]


def test_a_token_split_across_two_reads_is_redacted_once_the_line_is_whole() -> None:
    # The pane is read in arbitrary pieces, here mid-token and mid-escape-sequence; the assembler only hands
    # out finished lines, so the redactor always sees the token whole.
    raw = f"\x1b[32mpushing with {GHP[:10]}\x1b[0".encode(), f"m{GHP[10:]}\r\ndone\r\n".encode()
    assembler, redactor = LineAssembler(), Redactor()
    out = [redactor.redact_lines(assembler.feed(piece)) for piece in raw]
    assert out == [[], ["pushing with ghp_[REDACTED]", "done"]]
