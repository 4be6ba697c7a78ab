use super::*;

fn p(s: &str) -> IndexMap<String, String> {
    parse(s, &|k| (k == "FROM_OS").then(|| "os".to_owned())).unwrap()
}

fn get<'a>(m: &'a IndexMap<String, String>, k: &str) -> &'a str {
    m.get(k).map(String::as_str).unwrap_or("<unset>")
}

#[test]
fn plain_values() {
    let m = p(
        "OPTION_A=1\nOPTION_C= 3\nOPTION_D =4\nOPTION_E = 5\n456 = ABC\nOPTION_F = \nOPTION_G=\nOPTION_H = my string # Inline comment\n",
    );
    assert_eq!(get(&m, "OPTION_A"), "1");
    assert_eq!(get(&m, "OPTION_C"), "3");
    assert_eq!(get(&m, "OPTION_D"), "4");
    assert_eq!(get(&m, "OPTION_E"), "5");
    assert_eq!(get(&m, "456"), "ABC");
    assert_eq!(get(&m, "OPTION_F"), "");
    assert_eq!(get(&m, "OPTION_G"), "");
    assert_eq!(get(&m, "OPTION_H"), "my string");
}

#[test]
fn quotes_and_escapes() {
    let m = p(
        "A='1'\nC=''\nD='\\n'\nH=\"\\n\"\nI = \"echo 'asd'\" # c\nJ = 'first line\nsecond line'\nK='Let\\'s go!'\nZ = \"last\"\nD2=\"a\\$B\"\n",
    );
    assert_eq!(get(&m, "A"), "1");
    assert_eq!(get(&m, "C"), "");
    assert_eq!(get(&m, "D"), "\\n");
    assert_eq!(get(&m, "H"), "\n");
    assert_eq!(get(&m, "I"), "echo 'asd'");
    assert_eq!(get(&m, "J"), "first line\nsecond line");
    assert_eq!(get(&m, "K"), "Let's go!");
    assert_eq!(get(&m, "Z"), "last");
    assert_eq!(get(&m, "D2"), "a$B");
}

#[test]
fn export_comments_bom_and_yaml_style() {
    let m = p(
        "\u{feff}# comment\nexport A=2\nexport B='\\n'\nFOO:BAR\nVAR.WITH.DOTS=dots\nVAR-WITH-DASHES=d\n",
    );
    assert_eq!(get(&m, "A"), "2");
    assert_eq!(get(&m, "B"), "\\n");
    assert_eq!(get(&m, "FOO"), "BAR");
    assert_eq!(get(&m, "VAR.WITH.DOTS"), "dots");
    assert_eq!(get(&m, "VAR-WITH-DASHES"), "d");
}

#[test]
fn inherited_and_substitutions() {
    let m =
        p("foo=bar\nFROM_OS\nNOT_FOUND\nB=${foo}\nC=$B\nD=${foo}_${B}\nE=${NOPE}\nF=${NOPE:-1}\n");
    assert_eq!(get(&m, "FROM_OS"), "os");
    assert_eq!(get(&m, "NOT_FOUND"), "<unset>");
    assert_eq!(get(&m, "B"), "bar");
    assert_eq!(get(&m, "C"), "bar");
    assert_eq!(get(&m, "D"), "bar_bar");
    assert_eq!(get(&m, "E"), "");
    assert_eq!(get(&m, "F"), "1");
    // The environment wins over earlier lines.
    let m = p("FROM_OS=file\nX=$FROM_OS\n");
    assert_eq!(get(&m, "X"), "os");
}

#[test]
fn errors_name_the_line() {
    let e = parse("# c\nfoo=\"\n  a\n\"\nINVALID LINE\nzot=qix", &|_| None).unwrap_err();
    assert!(e.starts_with("line 5: "), "{e}");
    let e = parse("A=1\nB=\"open\n", &|_| None).unwrap_err();
    assert!(e.contains("unterminated quoted value"), "{e}");
    let e = parse("A$B=1\n", &|_| None).unwrap_err();
    assert!(e.contains("unexpected character '$'"), "{e}");
}

#[test]
fn exponential_expansion_is_refused() {
    let mut src = String::from("A=0123456789abcdef\n");
    for _ in 0..40 {
        src.push_str("A=$A$A\n");
    }
    let e = parse(&src, &|_| None).unwrap_err();
    assert!(e.ends_with("the value expands to more than 16 MiB"), "{e}");
}
