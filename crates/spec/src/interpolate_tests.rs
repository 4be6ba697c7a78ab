use super::*;

fn run(s: &str) -> Result<(String, Vec<String>), TemplateError> {
    let env = |k: &str| match k {
        "SET" => Some("value".to_owned()),
        "EMPTY" => Some(String::new()),
        "NESTED" => Some("${SET}".to_owned()),
        _ => None,
    };
    let mut unset = Vec::new();
    let r = substitute(s, &env, &mut |n| unset.push(n.to_owned()))?;
    Ok((r, unset))
}

fn ok(s: &str) -> String {
    run(s).unwrap().0
}

#[test]
fn plain_and_braced() {
    assert_eq!(ok("$SET"), "value");
    assert_eq!(ok("${SET}"), "value");
    assert_eq!(ok("a-${SET}-b"), "a-value-b");
    assert_eq!(ok("$SET.x"), "value.x");
    assert_eq!(ok("no vars"), "no vars");
    // Values are not expanded again.
    assert_eq!(ok("$NESTED"), "${SET}");
}

#[test]
fn escapes_and_lone_dollars() {
    assert_eq!(ok("$$HOME"), "$HOME");
    assert_eq!(ok("$$$SET"), "$value");
    assert_eq!(ok("cost: 5$"), "cost: 5$");
    assert_eq!(ok("$5 and $ x"), "$5 and $ x");
}

#[test]
fn defaults() {
    assert_eq!(ok("${UNSET:-d}"), "d");
    assert_eq!(ok("${EMPTY:-d}"), "d");
    assert_eq!(ok("${EMPTY-d}"), "");
    assert_eq!(ok("${UNSET-d}"), "d");
    assert_eq!(ok("${SET:-d}"), "value");
    assert_eq!(ok("${UNSET:-}"), "");
    assert_eq!(ok("${UNSET:-a b:c}"), "a b:c");
}

#[test]
fn alternatives() {
    assert_eq!(ok("${SET:+alt}"), "alt");
    assert_eq!(ok("${EMPTY:+alt}"), "");
    assert_eq!(ok("${EMPTY+alt}"), "alt");
    assert_eq!(ok("${UNSET+alt}"), "");
}

#[test]
fn nesting() {
    assert_eq!(ok("${UNSET:-${SET}}"), "value");
    assert_eq!(ok("${UNSET:-${ALSO_UNSET:-deep}}"), "deep");
    assert_eq!(ok("${SET:+x${SET}y}"), "xvaluey");
}

#[test]
fn required() {
    assert_eq!(
        run("${UNSET:?please set it}"),
        Err(TemplateError::Required {
            name: "UNSET".into(),
            reason: "please set it".into()
        })
    );
    assert!(run("${EMPTY:?}").is_err());
    assert_eq!(ok("${EMPTY?x}"), "");
    assert!(run("${UNSET?}").is_err());
    assert_eq!(ok("${SET:?x}"), "value");
}

#[test]
fn invalid() {
    for s in ["${}", "${", "${1X}", "${SET", "${A B}", "${SET:x}"] {
        assert_eq!(run(s), Err(TemplateError::Invalid), "{s}");
    }
}

#[test]
fn unset_are_reported() {
    let (r, unset) = run("${A}-$B-${C:-c}").unwrap();
    assert_eq!(r, "--c");
    assert_eq!(unset, vec!["A", "B"]);
}

#[test]
fn tree_errors_name_path_and_position() {
    let mut n = crate::yaml::parse("services:\n  web:\n    image: ${}\n", 0).unwrap();
    let e = interpolate_node(&mut n, "", &|_| None, &mut |_, _| {}).unwrap_err();
    assert_eq!((e.pos.line, e.pos.col), (3, 12));
    assert!(
        e.message
            .starts_with("services.web.image: invalid interpolation format"),
        "{}",
        e.message
    );
}

#[test]
fn deep_nesting_is_refused_not_a_stack_overflow() {
    let mut s = String::from("x");
    for _ in 0..10_000 {
        s = format!("${{U:-{s}}}");
    }
    assert_eq!(run(&s), Err(TemplateError::Invalid));
    let mut ok_s = String::from("x");
    for _ in 0..10 {
        ok_s = format!("${{U:-{ok_s}}}");
    }
    assert_eq!(run(&ok_s).unwrap().0, "x");
}
