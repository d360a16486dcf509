//! Every accepted form of `breaker = ...` and `timeout = ...`, with what the routes resolve.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use secure_tool::breaker::CircuitBreaker;
use secure_tool::prelude::*;
use secure_tool::resilience::{DEFAULT_TIMEOUT, Dependency};
use secure_tool::route::SecureToolRouter;

static SEARCH: LazyLock<Dependency> = LazyLock::new(|| Dependency::new("search").max_concurrent(4));

const SLOW: Duration = Duration::from_secs(90);

#[derive(Clone)]
struct Server {
    store: Dependency,
    mail: CircuitBreaker,
    billing: Arc<Dependency>,
}

#[derive(serde::Serialize, schemars::JsonSchema)]
struct Out {
    id: u64,
}

#[secure_tool_router]
impl Server {
    /// A field of the state, a literal deadline.
    #[secure_tool(authz = public, mode = read, breaker = self.store, timeout = "250ms")]
    async fn store_read(&self) -> Result<Out, ToolError> {
        Ok(Out { id: 1 })
    }

    /// The same dependency, shared by a second tool; minutes.
    #[secure_tool(authz = authenticated, mode = write, breaker = self.store, timeout = "2m")]
    async fn store_write(&self) -> Result<Out, ToolError> {
        Ok(Out { id: 2 })
    }

    /// A bare circuit breaker (no bulkhead), the default deadline.
    #[secure_tool(authz = authenticated, mode = write, breaker = self.mail)]
    async fn send_mail(&self) -> Result<Out, ToolError> {
        Ok(Out { id: 3 })
    }

    /// Behind an `Arc`, a `Duration` expression.
    #[secure_tool(authz = public, mode = read, breaker = self.billing, timeout = Duration::from_millis(1500))]
    async fn invoice(&self) -> Result<Out, ToolError> {
        Ok(Out { id: 4 })
    }

    /// A `static`, a constant.
    #[secure_tool(authz = public, mode = read, timeout = SLOW, breaker = SEARCH)]
    async fn search(&self) -> Result<Out, ToolError> {
        Ok(Out { id: 5 })
    }

    /// No dependency, an hour.
    #[secure_tool(authz = public, mode = read, timeout = "1h")]
    async fn report(&self) -> Result<Out, ToolError> {
        Ok(Out { id: 6 })
    }
}

impl secure_tool::rmcp::ServerHandler for Server {}

fn main() {
    let state = Server {
        store: Dependency::new("store"),
        mail: CircuitBreaker::builder("mail").build(),
        billing: Arc::new(Dependency::new("billing").unbounded()),
    };
    let router: SecureToolRouter<Server> = <Server as SecureTools>::secure_tool_router();
    let expect = |tool: &str, timeout: Duration, breaker: Option<&str>, bulkhead: Option<usize>| {
        let route = router.route(tool).unwrap();
        assert_eq!(route.spec().timeout(), timeout, "{tool}");
        let dependency = route.dependency(&state);
        assert_eq!(dependency.map(|g| g.breaker.name()), breaker, "{tool}");
        assert_eq!(
            dependency.and_then(|g| g.bulkhead).map(|b| b.max_concurrent()),
            bulkhead,
            "{tool}"
        );
    };
    expect("store_read", Duration::from_millis(250), Some("store"), Some(32));
    expect("store_write", Duration::from_secs(120), Some("store"), Some(32));
    expect("send_mail", DEFAULT_TIMEOUT, Some("mail"), None);
    expect("invoice", Duration::from_millis(1500), Some("billing"), None);
    expect("search", SLOW, Some("search"), Some(4));
    expect("report", Duration::from_secs(3600), None, None);
    // Both store tools resolve to the very same breaker.
    let read = router.route("store_read").unwrap().dependency(&state).unwrap();
    let write = router.route("store_write").unwrap().dependency(&state).unwrap();
    assert!(std::ptr::eq(read.breaker, write.breaker));
}
