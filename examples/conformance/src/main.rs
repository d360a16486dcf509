//! `conformance-server`: the fixture of the official MCP conformance suite
//! (`@modelcontextprotocol/conformance`), every item declared with secure-tool's
//! attributes, served over streamable HTTP on `127.0.0.1`.
//!
//! ```text
//! conformance-server [--port PORT]    (or CONFORMANCE_PORT; default 0: a free port)
//! ```
//!
//! Once bound it prints `conformance-server: listening on http://127.0.0.1:PORT/mcp` on
//! stdout; run the suite with
//! `npx @modelcontextprotocol/conformance server --url http://127.0.0.1:PORT/mcp`.

use std::process::ExitCode;

mod fixture;
mod server;

/// The port's environment variable, used when `--port` is not given.
const PORT_VAR: &str = "CONFORMANCE_PORT";

const USAGE: &str = "usage: conformance-server [--port PORT]

Serves the MCP conformance suite's fixture over streamable HTTP at
http://127.0.0.1:PORT/mcp (PORT from --port, else CONFORMANCE_PORT, else 0: a free
port), and prints that URL on stdout once bound. Only Host headers naming this port on
localhost, 127.0.0.1 or [::1] are accepted. Ctrl-C or SIGTERM stops it.";

/// The port to bind, from the arguments, then the environment.
fn port(
    mut args: impl Iterator<Item = String>,
    env: Option<String>,
) -> Result<Option<u16>, String> {
    let mut port = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => port = Some(args.next().ok_or("--port needs a port number")?),
            "-h" | "--help" => return Ok(None),
            other => return Err(format!("unexpected argument {other:?}")),
        }
    }
    let Some(port) = port.or(env).filter(|port| !port.trim().is_empty()) else {
        return Ok(Some(0));
    };
    port.trim()
        .parse()
        .map(Some)
        .map_err(|_| format!("{port:?} is not a port number (0 to 65535)"))
}

#[tokio::main]
async fn main() -> ExitCode {
    // The log goes to stderr: stdout carries the one line a test reads.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(tracing_subscriber::filter::LevelFilter::WARN)
        .init();
    let port = match port(std::env::args().skip(1), std::env::var(PORT_VAR).ok()) {
        Ok(Some(port)) => port,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(error) => {
            eprintln!("conformance-server: {error}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match server::serve(port).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("conformance-server: {error}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::port;

    fn args(list: &[&str]) -> impl Iterator<Item = String> {
        list.iter()
            .map(|arg| (*arg).to_owned())
            .collect::<Vec<_>>()
            .into_iter()
    }

    #[test]
    fn the_port_comes_from_the_flag_then_the_environment() {
        assert_eq!(port(args(&[]), None), Ok(Some(0)));
        assert_eq!(
            port(args(&["--port", "8080"]), Some("9".into())),
            Ok(Some(8080))
        );
        assert_eq!(port(args(&[]), Some("9090".into())), Ok(Some(9090)));
        assert_eq!(port(args(&["--help"]), None), Ok(None));
        assert!(port(args(&["--port", "http"]), None).is_err());
        assert!(port(args(&["--port"]), None).is_err());
        assert!(port(args(&["8080"]), None).is_err());
    }
}
