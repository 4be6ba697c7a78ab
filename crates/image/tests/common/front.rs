//! A tiny HTTP front for the test registry: it can demand bearer tokens
//! (issuing them at /token for one user) and cut blob downloads short, to
//! test token auth and resumed downloads against a real registry behind it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use base64::Engine;

const TOKEN: &str = "berth-test-token";

#[derive(Default)]
pub struct Settings {
    /// Require a bearer token, issued for these credentials.
    pub user: Option<(String, String)>,
    /// Cut the first `cuts` blob responses after `cut_after` body bytes.
    pub cut_after: u64,
    pub cuts: u32,
}

pub struct Front {
    pub port: u16,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
    pub state: Arc<State>,
}

pub struct State {
    pub settings: Mutex<Settings>,
    pub cuts_done: AtomicU32,
    /// Range headers of blob requests, in order.
    pub ranges: Mutex<Vec<String>>,
    pub token_requests: AtomicU32,
    upstream: u16,
    port: Mutex<u16>,
}

impl Front {
    pub fn start(upstream: u16, settings: Settings) -> Front {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let state = Arc::new(State {
            settings: Mutex::new(settings),
            cuts_done: AtomicU32::new(0),
            ranges: Mutex::new(Vec::new()),
            token_requests: AtomicU32::new(0),
            upstream,
            port: Mutex::new(port),
        });
        let (st, stp) = (state.clone(), stop.clone());
        let handle = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stp.load(Ordering::Relaxed) {
                    break;
                }
                if let Ok(c) = conn {
                    let st = st.clone();
                    std::thread::spawn(move || {
                        let _ = handle(c, &st);
                    });
                }
            }
        });
        Front {
            port,
            stop,
            handle: Some(handle),
            state,
        }
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Front {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn handle(mut c: TcpStream, st: &State) -> std::io::Result<()> {
    let mut reader = BufReader::new(c.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut headers = Vec::new();
    loop {
        let mut l = String::new();
        reader.read_line(&mut l)?;
        let l = l.trim_end().to_owned();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            headers.push((k.trim().to_lowercase(), v.trim().to_owned()));
        }
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .to_owned();
    let port = *st.port.lock().unwrap();
    let needs_auth = st.settings.lock().unwrap().user.clone();
    if path.starts_with("/token") {
        st.token_requests.fetch_add(1, Ordering::Relaxed);
        let (u, p) = needs_auth.unwrap_or_default();
        let want = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
        );
        if header("authorization").as_deref() == Some(want.as_str()) {
            let body = format!(r#"{{"token":"{TOKEN}"}}"#);
            return respond(
                &mut c,
                "200 OK",
                &[("Content-Type", "application/json")],
                body.as_bytes(),
            );
        }
        return respond(
            &mut c,
            "401 Unauthorized",
            &[],
            br#"{"details":"incorrect username or password"}"#,
        );
    }
    if needs_auth.is_some()
        && header("authorization").as_deref() != Some(&format!("Bearer {TOKEN}"))
    {
        let repo = path
            .trim_start_matches("/v2/")
            .rsplit_once("/manifests/")
            .or_else(|| path.trim_start_matches("/v2/").rsplit_once("/blobs/"))
            .map(|(r, _)| r.to_owned())
            .unwrap_or_default();
        let chal = format!(
            r#"Bearer realm="http://127.0.0.1:{port}/token",service="berth-test",scope="repository:{repo}:pull""#
        );
        return respond(
            &mut c,
            "401 Unauthorized",
            &[
                ("WWW-Authenticate", &chal),
                ("Content-Type", "application/json"),
            ],
            br#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#,
        );
    }
    // Proxy to the registry, one request per connection.
    let is_blob = path.contains("/blobs/");
    if is_blob {
        st.ranges
            .lock()
            .unwrap()
            .push(header("range").unwrap_or_default());
    }
    let mut up = TcpStream::connect(("127.0.0.1", st.upstream))?;
    let mut req = format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n",
        st.upstream
    );
    for k in ["accept", "range"] {
        if let Some(v) = header(k) {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    req.push_str("\r\n");
    up.write_all(req.as_bytes())?;
    let mut resp = Vec::new();
    up.read_to_end(&mut resp)?;
    let head_end = resp
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(resp.len(), |i| i + 4);
    let cut = {
        let s = st.settings.lock().unwrap();
        is_blob
            && st.cuts_done.load(Ordering::Relaxed) < s.cuts
            && (resp.len() - head_end) as u64 > s.cut_after
    };
    if cut {
        st.cuts_done.fetch_add(1, Ordering::Relaxed);
        let n = st.settings.lock().unwrap().cut_after as usize;
        c.write_all(&resp[..head_end + n])?;
        // Drop the connection mid-body.
        return Ok(());
    }
    c.write_all(&resp)
}

fn respond(
    c: &mut TcpStream,
    status: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<()> {
    let mut s = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        s.push_str(&format!("{k}: {v}\r\n"));
    }
    s.push_str("\r\n");
    c.write_all(s.as_bytes())?;
    c.write_all(body)
}
