//! The smallest secure-tool server: one read tool and one write tool, over stdio. Start
//! here; `examples/notes` shows the rest. Run it with `cargo run -p hello-server` and point
//! an MCP client at that command: the caller is whoever started it, with the scopes in
//! `HELLO_SCOPES` (default `hello:read`: it may read, not write).

use std::sync::{Arc, Mutex};

use secure_tool::prelude::*;

/// The state every call shares.
#[derive(Clone)]
struct Hello {
    greeting: Arc<Mutex<String>>,
}

/// `set_greeting`'s arguments and both tools' answer: the tools' schemas come from here.
#[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
struct Greeting {
    text: String,
}

impl Hello {
    /// A write needs the proof that a write tool is running, which a read tool cannot get.
    fn set(&self, text: &str, _proof: &WriteAccess<'_>) {
        *self.greeting.lock().unwrap() = text.to_owned();
    }
}

#[secure_tool_router]
impl Hello {
    // A tool's doc comment is its description; `authz` and `mode` are required.
    /// Says the greeting.
    #[secure_tool(authz = scopes("hello:read"), mode = read)]
    async fn greet(&self) -> Result<Greeting, ToolError> {
        let text = self.greeting.lock().unwrap().clone();
        Ok(Greeting { text })
    }

    // Runs only if the policy allows the caller; any other outcome is one generic denial.
    /// Changes the greeting.
    #[secure_tool(authz = scopes("hello:write"), mode = write)]
    async fn set_greeting(
        &self,
        new: Greeting,
        access: WriteAccess<'_>,
    ) -> Result<Greeting, ToolError> {
        self.set(&new.text, &access);
        Ok(new)
    }
}

impl secure_tool::rmcp::ServerHandler for Hello {}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The log goes to stderr, as stdout is the protocol's: every denial and failure, with
    // its cause and incident id (rmcp's INFO events would hold what clients send).
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(tracing_subscriber::filter::LevelFilter::WARN)
        .init();
    let scopes = std::env::var("HELLO_SCOPES").unwrap_or_else(|_| "hello:read".to_owned());
    let caller = Principal::new("local-user").with_scopes(scopes.split(','));
    let greeting = Arc::new(Mutex::new("Hello, world!".to_owned()));
    let server = SecureServer::builder(Hello { greeting })
        .local_principal(caller)
        .build();
    server.serve_stdio().await?.waiting().await?;
    Ok(())
}
