//! Published ports, inside a namespace that plays the host.

use std::io::Read;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::time::Duration;

use berth_net::attach::attach;
use berth_net::network::{NetworkSpec, Networks};
use berth_net::ports::{self, PortRequest};
use berth_store::Root;
use berth_testkit::host::Snapshot;
use berth_testkit::netns::{Background, FakeHost, NetnsProcess};
use berth_testkit::require_root;

fn sh(cmd: &str) {
    assert!(
        std::process::Command::new("sh")
            .args(["-c", cmd])
            .status()
            .unwrap()
            .success(),
        "{cmd}"
    );
}

fn tcp(port: u16, req: PortRequest) -> PortRequest {
    PortRequest {
        host_ports: Some((port, port)),
        ..req
    }
}

fn echo_server(c: &NetnsProcess, port: u16) -> Background {
    // busybox nc -ll answers every connection with "pong".
    c.background(&[
        "busybox",
        "nc",
        "-ll",
        "-p",
        &port.to_string(),
        "-e",
        "echo",
        "pong",
    ])
}

fn ask(addr: &str) -> Option<String> {
    let mut s = TcpStream::connect_timeout(&addr.parse().ok()?, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    // Nothing is sent: the server answers and closes, and unread data would
    // turn its close into a reset.
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out.trim().to_owned())
}

#[test]
fn ports_answer_on_localhost_and_host_address_and_conflicts_are_named() {
    require_root!();
    let host = FakeHost::new();
    host.run(|| {
        sh("ip link add bthv0 type veth peer name bthv1 && ip addr add 198.51.100.7/24 dev bthv0 && ip link set bthv0 up && ip link set bthv1 up");
        let before = Snapshot::take();
        let tmp = tempfile::tempdir().unwrap();
        let root = Root::new(tmp.path());
        let nets = Networks::new(&root);
        let n = nets.ensure(&NetworkSpec { name: "p_net".into(), ..Default::default() }).unwrap();
        let c = NetnsProcess::spawn();
        let id = "aaaaaaaaaabbbbbbbbbb";
        let ip = nets.allocate("p_net", id, None).unwrap();
        attach(c.pid(), &[Networks::attachment(&n, id, 0, ip, true, None)]).unwrap();
        let server = echo_server(&c, 80);
        std::thread::sleep(Duration::from_millis(200));
        let base = PortRequest { host_ip: None, host_ports: None, container_port: 80, protocol: "tcp".into() };
        let published = ports::publish(&root, id, "web", ip, &[tcp(18080, base.clone()), base.clone()]).unwrap();
        assert_eq!(published[0].host_port, 18080);
        let ephemeral = published[1].host_port;
        assert!(ephemeral != 0 && ephemeral != 18080, "ephemeral port reported: {ephemeral}");
        assert_eq!(ask("127.0.0.1:18080").as_deref(), Some("pong"), "from the host on 127.0.0.1");
        assert_eq!(ask("198.51.100.7:18080").as_deref(), Some("pong"), "on the host's own address");
        assert_eq!(ask(&format!("127.0.0.1:{ephemeral}")).as_deref(), Some("pong"));
        // A port the host uses, and one another container publishes.
        let busy = TcpListener::bind("0.0.0.0:18081").unwrap();
        let e = ports::publish(&root, "other000000", "api", Ipv4Addr::new(10, 0, 0, 9), &[tcp(18081, base.clone())]).unwrap_err().to_string();
        assert!(e.contains("0.0.0.0:18081") && e.contains("api") && e.contains("already allocated"), "{e}");
        let e = ports::publish(&root, "other000000", "api", Ipv4Addr::new(10, 0, 0, 9), &[tcp(18080, base)]).unwrap_err().to_string();
        assert!(e.contains("18080"), "{e}");
        assert!(ports::published(&root, "other000000").unwrap().is_empty(), "nothing half-created");
        drop(busy);
        ports::unpublish(&root, id).unwrap();
        assert!(ask("127.0.0.1:18080").is_none());
        drop(server);
        drop(c);
        nets.release("p_net", id).unwrap();
        nets.remove("p_net").unwrap();
        assert_eq!(before.diff(&Snapshot::take()), Vec::<String>::new());
    });
}
