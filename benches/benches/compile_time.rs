//! Compile time of 50 tools: `#[secure_tool]` against rmcp's `#[tool]`, with the same
//! argument and output types (dev profile, non-incremental, the tool crate alone, its
//! dependencies prebuilt). Target: the secure crate within 1.5× of the rmcp one.
//!
//! The generator writes a small workspace under `<target>/compile-time-bench/` with two
//! crates, `rmcp_tools` and `secure_tools`, each with [`TOOLS`] tools over the same types,
//! and this workspace's `Cargo.lock`, so that the versions are the ones built here. The
//! runner builds both once (the dependencies), then for each of [`ROUNDS`] rounds touches
//! each crate's source and times `cargo build -p <crate> --offline`, alternating which goes
//! first, and prints the medians, the ratio and MET or MISSED.
//!
//! ```text
//! cargo bench -p secure-tool-benches --bench compile_time
//! ```
//!
//! `COMPILE_BENCH_TOOLS` and `COMPILE_BENCH_ROUNDS` change the number of tools and rounds.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// How many tools each crate has.
const TOOLS: usize = 50;
/// How many timed builds of each crate.
const ROUNDS: usize = 7;
/// The budget: the secure crate's build within this many times the rmcp one's.
const TARGET_RATIO: f64 = 1.5;

fn main() {
    let tools = setting("COMPILE_BENCH_TOOLS", TOOLS);
    let rounds = setting("COMPILE_BENCH_ROUNDS", ROUNDS);
    let workspace = workspace_root();
    let dir = target_dir(&workspace).join("compile-time-bench");
    generate(&dir, &workspace, tools);

    eprintln!("building the dependencies once in {}", dir.display());
    for krate in ["rmcp_tools", "secure_tools"] {
        build(&dir, krate);
    }
    let mut rmcp = Vec::new();
    let mut secure = Vec::new();
    for round in 0..rounds {
        let order: [(&str, &mut Vec<Duration>); 2] = if round % 2 == 0 {
            [("rmcp_tools", &mut rmcp), ("secure_tools", &mut secure)]
        } else {
            [("secure_tools", &mut secure), ("rmcp_tools", &mut rmcp)]
        };
        for (krate, times) in order {
            touch(&dir.join(krate).join("src/lib.rs"));
            times.push(build(&dir, krate));
        }
    }
    let rmcp = median(&mut rmcp);
    let secure = median(&mut secure);
    let ratio = secure.as_secs_f64() / rmcp.as_secs_f64();
    let verdict = if ratio <= TARGET_RATIO {
        "MET"
    } else {
        "MISSED"
    };
    println!(
        "== compile time of {tools} tools (dev, non-incremental, medians of {rounds} rounds) =="
    );
    println!("rmcp #[tool]          {:>8.2} s", rmcp.as_secs_f64());
    println!("#[secure_tool]        {:>8.2} s", secure.as_secs_f64());
    println!("ratio                 {ratio:>8.2}×   target ≤ {TARGET_RATIO}×   {verdict}");
}

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(default)
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("benches/ is in the workspace")
        .to_owned()
}

fn target_dir(workspace: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join("target"))
}

/// The shared types, written once into each crate.
const TYPES: &str = r#"
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
pub struct Lookup {
    /// The record's id.
    pub id: u64,
    /// An optional filter.
    pub filter: Option<String>,
}

#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
pub struct Record {
    pub id: u64,
    pub name: String,
    pub tags: Vec<String>,
}

#[derive(Debug)]
pub struct Failure;

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("failed")
    }
}

impl std::error::Error for Failure {}

fn record(id: u64) -> Result<Record, Failure> {
    if id == 0 {
        return Err(Failure);
    }
    Ok(Record { id, name: format!("r{id}"), tags: Vec::new() })
}
"#;

fn generate(dir: &Path, workspace: &Path, tools: usize) {
    let runtime = workspace.join("runtime");
    write(
        &dir.join("Cargo.toml"),
        &format!(
            "[workspace]\nresolver = \"3\"\nmembers = [\"rmcp_tools\", \"secure_tools\"]\n\n\
             [profile.dev]\nincremental = false\n\n\
             [workspace.dependencies]\n\
             rmcp = {{ version = \"3.11\", default-features = false, features = [\"server\", \"macros\"] }}\n\
             secure-tool = {{ path = {runtime:?}, default-features = false, features = [\"macros\"] }}\n\
             schemars = \"1\"\nserde = {{ version = \"1\", features = [\"derive\"] }}\n"
        ),
    );
    // The versions built here, so that nothing is resolved or fetched.
    std::fs::copy(workspace.join("Cargo.lock"), dir.join("Cargo.lock")).expect("copy Cargo.lock");

    let mut rmcp = String::from(
        "#![allow(missing_docs, dead_code)]\n\
         use rmcp::handler::server::tool::ToolRouter;\n\
         use rmcp::handler::server::wrapper::{Json, Parameters};\n\
         use rmcp::{ErrorData, ServerHandler, tool, tool_handler, tool_router};\n",
    );
    rmcp.push_str(TYPES);
    rmcp.push_str(
        "\n#[derive(Clone)]\npub struct Tools { tool_router: ToolRouter<Self> }\n\n#[tool_router]\nimpl Tools {\n",
    );
    let mut secure =
        String::from("#![allow(missing_docs, dead_code)]\nuse secure_tool::prelude::*;\n");
    secure.push_str(TYPES);
    secure
        .push_str("\n#[derive(Clone)]\npub struct Tools;\n\n#[secure_tool_router]\nimpl Tools {\n");
    for i in 0..tools {
        let _ = write!(
            rmcp,
            "    #[tool(description = \"Looks record {i} up.\")]\n    \
             async fn lookup_{i}(&self, Parameters(args): Parameters<Lookup>) -> Result<Json<Record>, ErrorData> {{\n        \
             record(args.id + {i}).map(Json).map_err(|e| ErrorData::internal_error(e.to_string(), None))\n    }}\n\n"
        );
        let _ = write!(
            secure,
            "    /// Looks record {i} up.\n    \
             #[secure_tool(authz = scopes(\"records:read\"), mode = read)]\n    \
             async fn lookup_{i}(&self, args: Lookup) -> Result<Record, Failure> {{\n        \
             record(args.id + {i})\n    }}\n\n"
        );
    }
    rmcp.push_str(
        "}\n\n#[tool_handler(router = self.tool_router)]\nimpl ServerHandler for Tools {}\n\n\
         pub fn tools() -> Tools { Tools { tool_router: Tools::tool_router() } }\n",
    );
    secure.push_str(
        "}\n\nimpl secure_tool::rmcp::ServerHandler for Tools {}\n\n\
         pub fn server() -> SecureServer<Tools> { SecureServer::new(Tools) }\n",
    );
    for (krate, source, dependencies) in [
        ("rmcp_tools", rmcp, "rmcp.workspace = true\n"),
        ("secure_tools", secure, "secure-tool.workspace = true\n"),
    ] {
        write(
            &dir.join(krate).join("Cargo.toml"),
            &format!(
                "[package]\nname = \"{krate}\"\nversion = \"0.0.0\"\nedition = \"2024\"\npublish = false\n\n\
                 [dependencies]\n{dependencies}schemars.workspace = true\nserde.workspace = true\n"
            ),
        );
        write(&dir.join(krate).join("src/lib.rs"), &source);
    }
}

fn write(path: &Path, contents: &str) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("create the bench's directory");
    }
    // Rewritten only when it changes, so that the dependencies stay built between runs.
    if std::fs::read_to_string(path).ok().as_deref() != Some(contents) {
        std::fs::write(path, contents).expect("write the bench's crate");
    }
}

/// Marks `path` as changed, so that the next build compiles its crate again.
fn touch(path: &Path) {
    let file = std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .expect("open the crate's source");
    file.set_modified(std::time::SystemTime::now())
        .expect("touch the crate's source");
}

/// Builds `krate` in the generated workspace, and how long it took.
fn build(dir: &Path, krate: &str) -> Duration {
    let started = Instant::now();
    let status = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args(["build", "--quiet", "--offline", "-p", krate])
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", dir.join("target"))
        .env("CARGO_INCREMENTAL", "0")
        .status()
        .expect("run cargo");
    assert!(status.success(), "building {krate} failed");
    started.elapsed()
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times[times.len() / 2]
}
