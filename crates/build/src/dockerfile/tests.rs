use std::time::Duration;

use super::*;

fn parse(text: &str) -> Dockerfile {
    Dockerfile::parse(text, "Dockerfile").unwrap()
}

fn error(text: &str) -> String {
    Dockerfile::parse(text, "Dockerfile")
        .unwrap_err()
        .to_string()
}

#[test]
fn stages_args_and_names() {
    let df = parse(
        "ARG BASE=busybox\nFROM $BASE AS Build\nRUN echo hi\nFROM scratch\nCOPY --from=build /bin/busybox /busybox\n",
    );
    assert_eq!(
        df.global_args,
        vec![ArgDecl {
            name: "BASE".into(),
            default: Some("busybox".into())
        }]
    );
    assert_eq!(df.stages.len(), 2);
    assert_eq!(df.stages[0].base, "$BASE");
    assert_eq!(df.stages[0].name.as_deref(), Some("build"));
    assert_eq!(df.stage_index("BUILD"), Some(0));
    assert_eq!(df.stage_index("1"), Some(1));
    match &df.stages[1].instructions[0].kind {
        Kind::Copy(c) => {
            assert_eq!(c.from.as_deref(), Some("build"));
            assert_eq!(c.sources, vec!["/bin/busybox"]);
            assert_eq!(c.dest, "/busybox");
        }
        k => panic!("{k:?}"),
    }
}

#[test]
fn shell_and_exec_forms() {
    let df = parse(
        "FROM x\nRUN echo a && \\\n  echo b\nCMD [\"sh\", \"-c\", \"echo\"]\nENTRYPOINT top -b\nSHELL [\"/bin/sh\", \"-ec\"]\n",
    );
    let k: Vec<&Kind> = df.stages[0].instructions.iter().map(|i| &i.kind).collect();
    assert_eq!(
        k[0],
        &Kind::Run {
            command: Command::Shell("echo a &&   echo b".into()),
            network: None
        }
    );
    assert_eq!(
        k[1],
        &Kind::Cmd(Command::Exec(vec!["sh".into(), "-c".into(), "echo".into()]))
    );
    assert_eq!(k[2], &Kind::Entrypoint(Command::Shell("top -b".into())));
    assert_eq!(k[3], &Kind::Shell(vec!["/bin/sh".into(), "-ec".into()]));
    assert_eq!(df.stages[0].instructions[0].line, 2);
}

#[test]
fn env_label_and_legacy_forms() {
    let df =
        parse("FROM x\nENV A=1 B=\"two words\"\nENV LEGACY some value\nLABEL org.x=\"y\" z=w\n");
    let k: Vec<&Kind> = df.stages[0].instructions.iter().map(|i| &i.kind).collect();
    assert_eq!(
        k[0],
        &Kind::Env(vec![
            ("A".into(), "1".into()),
            ("B".into(), "\"two words\"".into())
        ])
    );
    assert_eq!(
        k[1],
        &Kind::Env(vec![("LEGACY".into(), "some value".into())])
    );
    assert_eq!(
        k[2],
        &Kind::Label(vec![
            ("org.x".into(), "\"y\"".into()),
            ("z".into(), "w".into())
        ])
    );
}

#[test]
fn copy_flags_and_json_form() {
    let df = parse("FROM x\nCOPY --chown=app:app --chmod=0755 a b /dst/\nADD [\"x y\", \"/z\"]\n");
    match &df.stages[0].instructions[0].kind {
        Kind::Copy(c) => {
            assert_eq!(c.chown.as_deref(), Some("app:app"));
            assert_eq!(c.chmod.as_deref(), Some("0755"));
            assert_eq!(c.sources, vec!["a", "b"]);
            assert_eq!(c.dest, "/dst/");
        }
        k => panic!("{k:?}"),
    }
    match &df.stages[0].instructions[1].kind {
        Kind::Add(c) => {
            assert!(c.json);
            assert_eq!(c.sources, vec!["x y"]);
        }
        k => panic!("{k:?}"),
    }
}

#[test]
fn healthcheck_forms() {
    let df = parse(
        "FROM x\nHEALTHCHECK --interval=5s --retries=2 CMD wget -q localhost\nHEALTHCHECK NONE\n",
    );
    match &df.stages[0].instructions[0].kind {
        Kind::Healthcheck(Some(h)) => {
            assert_eq!(h.test, vec!["CMD-SHELL", "wget -q localhost"]);
            assert_eq!(h.interval, Some(Duration::from_secs(5)));
            assert_eq!(h.retries, Some(2));
        }
        k => panic!("{k:?}"),
    }
    assert_eq!(df.stages[0].instructions[1].kind, Kind::Healthcheck(None));
}

#[test]
fn onbuild_volume_expose_and_more() {
    let df = parse(
        "FROM x\nONBUILD RUN echo child\nVOLUME /data /logs\nVOLUME [\"/v\"]\nEXPOSE 80/tcp 53/udp\nSTOPSIGNAL SIGINT\nWORKDIR /app\nUSER app:app\n",
    );
    let k: Vec<&Kind> = df.stages[0].instructions.iter().map(|i| &i.kind).collect();
    assert_eq!(k[0], &Kind::Onbuild("RUN echo child".into()));
    assert_eq!(k[1], &Kind::Volume(vec!["/data".into(), "/logs".into()]));
    assert_eq!(k[2], &Kind::Volume(vec!["/v".into()]));
    assert_eq!(k[3], &Kind::Expose("80/tcp 53/udp".into()));
    assert_eq!(k[4], &Kind::StopSignal("SIGINT".into()));
}

#[test]
fn errors_name_the_line() {
    assert_eq!(
        error("FROM x\nRUNN echo\n"),
        "Dockerfile:2: unknown instruction: RUNN"
    );
    assert_eq!(
        error("RUN echo\nFROM x\n"),
        "Dockerfile:1: RUN before the first FROM: a Dockerfile must begin with FROM (only ARG may precede it)"
    );
    assert_eq!(
        error("# just a comment\n"),
        "Dockerfile:1: the Dockerfile has no FROM instruction"
    );
    assert_eq!(
        error("FROM x\nRUN --mount=type=cache,target=/c make\n"),
        "Dockerfile:2: RUN --mount is not supported by berth"
    );
    assert_eq!(
        error("FROM x\nRUN <<EOF\necho\nEOF\n"),
        "Dockerfile:2: RUN with a heredoc (<<) is not supported by berth"
    );
    assert_eq!(
        error("FROM x\nCOPY onlyone\n"),
        "Dockerfile:2: COPY requires at least two arguments: source(s) and destination"
    );
    assert_eq!(
        error("FROM x\nSHELL sh -c\n"),
        "Dockerfile:2: SHELL requires the arguments to be in JSON form, e.g. SHELL [\"/bin/sh\", \"-c\"]"
    );
    assert_eq!(
        error("FROM a AS x\nFROM b AS X\n"),
        "Dockerfile:2: duplicate stage name \"x\""
    );
    assert_eq!(
        error("FROM x\nHEALTHCHECK --interval=soon CMD true\n"),
        "Dockerfile:2: --interval: invalid duration \"soon\" (expected e.g. 30s, 1m30s, 500ms)"
    );
    assert_eq!(
        error("FROM x\nONBUILD FROM y\n"),
        "Dockerfile:2: FROM is not allowed as an ONBUILD trigger"
    );
}

#[test]
fn durations() {
    assert_eq!(parse_duration("1m30s"), Some(Duration::from_secs(90)));
    assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
    assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
    assert_eq!(parse_duration("abc"), None);
}
