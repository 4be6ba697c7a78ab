use super::*;

fn p(s: &str) -> Node {
    parse(s, 0).unwrap()
}

#[test]
fn keeps_positions_and_go_yaml_scalars() {
    let n = p("a: yes\nb: 0755\nc:\n  d: 1.5\n  e: true\n");
    assert_eq!(n.get("a").unwrap().kind, Kind::Str("yes".into()));
    assert_eq!(n.get("b").unwrap().kind, Kind::Str("0755".into()));
    let d = n.get("c").unwrap().get("d").unwrap();
    assert_eq!(d.kind, Kind::Float(1.5));
    assert_eq!((d.pos.line, d.key.line, d.key.col), (4, 4, 3));
    assert_eq!(n.get("c").unwrap().get("e").unwrap().kind, Kind::Bool(true));
}

#[test]
fn tags_reset_and_override() {
    let n = p("a: !reset []\nb: !override\n  x: 1\nc: !reset null\n");
    assert_eq!(n.get("a").unwrap().tag, Some(Tag::Reset));
    assert_eq!(n.get("b").unwrap().tag, Some(Tag::Override));
    assert_eq!(n.get("c").unwrap().tag, Some(Tag::Reset));
}

#[test]
fn merge_keys_and_anchors() {
    let n = p("x: &a {p: 1, q: 2}\ny: &b {r: 3}\nz:\n  <<: [*a, *b]\n  q: 9\n");
    let z = n.get("z").unwrap().as_map().unwrap();
    assert_eq!(z.get("p").unwrap().kind, Kind::Int(1));
    assert_eq!(z.get("q").unwrap().kind, Kind::Int(9));
    assert_eq!(z.get("r").unwrap().kind, Kind::Int(3));
}

#[test]
fn duplicate_keys_fail_with_position() {
    let e = parse("a: 1\na: 2\n", 0).unwrap_err();
    assert_eq!(e, "2:1: duplicate mapping key: a");
}

#[test]
fn unknown_tag_fails() {
    let e = parse("a: !foo 1\n", 0).unwrap_err();
    assert_eq!(
        e,
        "1:9: unsupported tag `!foo` (Compose knows `!reset` and `!override`)"
    );
    let e = parse("services:\n  web: [x\n", 0).unwrap_err();
    assert!(e.starts_with("2:8: "), "{e}");
}

#[test]
fn empty_document_is_null() {
    assert!(p("").is_null());
    assert!(p("# only a comment\n").is_null());
}

#[test]
fn one_anchor_many_aliases_is_fine_but_billion_laughs_is_not() {
    let mut doc = String::from("x: &d {a: 1}\ns:\n");
    for i in 0..500 {
        doc.push_str(&format!("  s{i}: {{<<: *d, b: {i}}}\n"));
    }
    assert_eq!(p(&doc).get("s").unwrap().as_map().unwrap().len(), 500);
    let mut lol = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
    let mut prev = 'a';
    for c in 'b'..='j' {
        lol.push_str(&format!("{c}: &{c} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"));
        prev = c;
    }
    assert!(parse(&lol, 0).is_err());
}
