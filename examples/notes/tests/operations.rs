//! The real `notes-server` binary with `--metrics 127.0.0.1:0`: the operations listener is
//! bound, said on stderr, and answers `/livez` and `/readyz` over loopback while the server
//! serves stdio.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

#[allow(dead_code)] // each test binary uses a part of it
mod support;

const LISTENING: &str = "notes-server: operations on http://";
/// How long the server may take to open its store and bind.
const STARTUP: Duration = Duration::from_secs(30);

/// One `GET path` over a fresh connection: the status line's code and the body.
fn get(address: &str, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(address).expect("the operations listener accepts");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").expect("a whole HTTP answer");
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .expect("a status code");
    (code, body.to_owned())
}

#[test]
fn the_operations_listener_answers_liveness_and_readiness() {
    let dir = std::env::temp_dir().join(format!("notes-operations-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut server = support::notes_server()
        .args(["--db", "notes.db", "--archive", "archive.db"])
        .args(["--metrics", "127.0.0.1:0"])
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot run notes-server");

    let (lines, said) = mpsc::channel();
    let stderr = server.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let address = loop {
        match said.recv_timeout(STARTUP) {
            Ok(line) => {
                if let Some(address) = line.strip_prefix(LISTENING) {
                    break address.to_owned();
                }
                seen.push(line);
            }
            Err(_) => {
                let _ = server.kill();
                panic!("no `{LISTENING}` line within {STARTUP:?}: {seen:#?}");
            }
        }
    };

    let live = get(&address, "/livez");
    let ready = get(&address, "/readyz");
    let other = get(&address, "/mcp");
    let _ = server.kill();
    let _ = server.wait();
    let _ = std::fs::remove_dir_all(&dir);

    assert_eq!(live, (200, "ok\n".to_owned()));
    assert_eq!(
        ready,
        (
            200,
            r#"{"ready":true,"reads":"healthy","writes":"healthy"}"#.to_owned()
        )
    );
    assert_eq!(
        other.0, 404,
        "only the operations endpoints are served there"
    );
}
