//! `delete_note` decided by a Cedar policy file (`--cedar-policies FILE`), in place of the
//! HTTP policy service: the policies are data, reviewed and versioned apart from the code,
//! checked against the tools when the server starts, and read again on `SIGHUP`.
//!
//! Cedar sees the caller as `User::"<subject>"` (with its `scopes` and `roles`, and a
//! member of `Role::"<role>"` for each role), the action `Action::"delete_note"`, and the
//! note the call names as `Note::"<id>"`, whose `owner` (the subject that created it; absent
//! for notes created before owners were recorded) is read from the store. The policy file
//! of the example, `examples/notes/policies/notes.cedar`, lets the owner of a note or an
//! administrator delete it.

use std::path::Path;

use secure_tool::authz::{Policy, any_of, custom, roles};
use secure_tool::cedar::{CedarPolicies, EntityLoader, LoadFuture, cedar};
use serde_json::{Map, Value};

use crate::policy::RemotePolicy;
use crate::store::Store;

/// The variable naming the Cedar policy file: the fallback of `--cedar-policies`.
pub const CEDAR_POLICIES_VAR: &str = "NOTES_CEDAR_POLICIES";

/// The application's entity types, before the part generated from the tools: a note, with
/// its owner when it has one.
pub const SCHEMA: &str = "// The notes service's own entity types.\n\
                          entity Note { owner?: String };\n";

/// The name the built-in schema has in error messages.
const SCHEMA_NAME: &str = "notes.cedarschema (built in)";

/// Which policy decides `delete_note`, set once before the server is built.
static DELETE_POLICY: std::sync::OnceLock<bool> = std::sync::OnceLock::new();

/// Says that `delete_note` is decided by Cedar (`true`) or by administrators and the
/// policy service (`false`): once per process, before the server is built.
///
/// # Errors
///
/// The other choice was made already.
pub fn decide_deletes_with_cedar(cedar: bool) -> Result<(), String> {
    if *DELETE_POLICY.get_or_init(|| cedar) != cedar {
        return Err("another policy for delete_note is configured already".to_owned());
    }
    Ok(())
}

/// The policy of `delete_note`: Cedar on the note the call names, if the command line gave
/// a policy file; otherwise administrators, or whoever the policy service allows.
pub fn delete_policy() -> Policy {
    if DELETE_POLICY.get().copied().unwrap_or(false) {
        cedar().resource("Note", "id").into()
    } else {
        any_of([roles("admin"), custom(RemotePolicy::configured())])
    }
}

/// The policy set in `path`, with the built-in schema and the owners read from `store`.
///
/// # Errors
///
/// The file cannot be read or does not parse, naming it and the line.
pub fn load(path: &Path, store: Store) -> Result<CedarPolicies, String> {
    let policies = CedarPolicies::from_file(path)
        .and_then(|policies| policies.with_schema(SCHEMA_NAME, SCHEMA))
        .map_err(|error| error.to_string())?;
    Ok(policies.with_entities(Owners(store)))
}

/// Reads the policy file again on every `SIGHUP`, until the returned task is aborted: a
/// set that does not validate is refused (and logged), the one in force stays.
pub fn reload_on_hangup(policies: CedarPolicies) -> std::io::Result<tokio::task::JoinHandle<()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangups = signal(SignalKind::hangup())?;
    Ok(tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            // The runtime logs the outcome: the new digest, or why the set was refused.
            let _ = policies.reload();
        }
    }))
}

/// The notes' owners, for Cedar: `Note::"<id>"` has the attribute `owner` when the note
/// has one; a note that does not exist (or an id that is not a number) is no entity.
struct Owners(Store);

impl EntityLoader for Owners {
    fn load<'a>(&'a self, entity_type: &'a str, id: &'a str) -> LoadFuture<'a> {
        Box::pin(async move {
            let (Ok(id), "Note") = (id.parse::<i64>(), entity_type) else {
                return Ok(None);
            };
            let Some(owner) = self.0.owner(id).await? else {
                return Ok(None);
            };
            let mut attributes = Map::new();
            if let Some(owner) = owner {
                attributes.insert("owner".to_owned(), Value::String(owner));
            }
            Ok(Some(attributes))
        })
    }
}
