from dataplane.conf.syntax import parse_text, strip_comment


def pairs(text: str) -> dict[str, tuple[str, int]]:
    lines, _ = parse_text(text)
    return {line.key: (line.value, line.number) for line in lines}


def test_comments_blank_lines_and_trimming():
    text = "# a comment\n\n   ; another\n  log_level   =   debug   \nprefix=/tmp/x # trailing\n"
    assert pairs(text) == {"log_level": ("debug", 4), "prefix": ("/tmp/x", 5)}


def test_escaped_hash_is_kept_and_unescaped():
    assert pairs(r"pg_password = abc\#def # real comment")["pg_password"] == ("abc#def", 1)
    assert strip_comment(r"a\#b\#c") == "a#b#c"


def test_hash_without_space_starts_a_comment():
    assert pairs("pg_password = abc#def")["pg_password"] == ("abc", 1)


def test_empty_value_and_equals_in_value():
    assert pairs("trusted_ips =\nerror_template_html = a=b")["trusted_ips"] == ("", 1)
    assert pairs("error_template_html = a=b")["error_template_html"] == ("a=b", 1)


def test_key_characters_become_underscores_and_case_is_kept():
    assert set(pairs("proxy-listen = off\nLog.Level = info")) == {"proxy_listen", "Log_Level"}


def test_continuation_lines_join_and_keep_first_line_number():
    text = "x = 1\nproxy_listen = 0.0.0.0:8000, \\\n   # skipped comment\n  0.0.0.0:8443 ssl\n"
    assert pairs(text)["proxy_listen"] == ("0.0.0.0:8000,   0.0.0.0:8443 ssl", 2)


def test_last_assignment_wins():
    assert pairs("log_level = info\nlog_level = warn")["log_level"] == ("warn", 2)


def test_quotes_are_kept():
    assert pairs('log_level = "info"')["log_level"] == ('"info"', 1)


def test_lines_without_assignment_are_reported():
    _, ignored = parse_text("just words\n[section]\n= value\n")
    assert [(line.text, line.number) for line in ignored] == [
        ("just words", 1), ("[section]", 2), ("= value", 3)
    ]


def test_crlf_line_endings():
    assert pairs("log_level = info\r\nprefix = /p\r\n") == {"log_level": ("info", 1), "prefix": ("/p", 2)}
