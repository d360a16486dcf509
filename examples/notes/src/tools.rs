//! The MCP tools of the notes service. Each one declares who may call it and whether it
//! writes; `#[secure_tool]` does the rest.

use std::path::PathBuf;

use secure_tool::prelude::*;
use serde::{Deserialize, Serialize};

use crate::store::{Note, Store, StoreError};

/// The notes service: the state every tool shares.
#[derive(Clone)]
pub struct Notes {
    store: Store,
    backup_dir: PathBuf,
}

impl Notes {
    /// A service on `store`, writing backups into `backup_dir`.
    pub fn new(store: Store, backup_dir: PathBuf) -> Self {
        Self { store, backup_dir }
    }
}

/// Arguments of `get_note` and `delete_note`.
#[derive(Deserialize, schemars::JsonSchema)]
pub struct NoteId {
    /// The note's identifier.
    pub id: i64,
}

/// Arguments of `create_note`.
#[derive(Deserialize, schemars::JsonSchema)]
pub struct NewNote {
    /// A short title; must not be empty.
    pub title: String,
    /// The text of the note.
    #[serde(default)]
    pub body: String,
}

/// The result of `list_notes`.
#[derive(Serialize, schemars::JsonSchema)]
pub struct NoteList {
    /// Every note, oldest first.
    pub notes: Vec<Note>,
}

/// The result of `server_info`.
#[derive(Serialize, schemars::JsonSchema)]
pub struct ServerInfo {
    /// The service's name.
    pub name: String,
    /// Its version.
    pub version: String,
}

/// The result of `backup_notes`.
#[derive(Serialize, schemars::JsonSchema)]
pub struct Backup {
    /// How many notes were written.
    pub notes: usize,
}

#[secure_tool_router]
impl Notes {
    /// Name and version of this notes service.
    #[secure_tool(authz = public, mode = read)]
    async fn server_info(&self) -> Result<ServerInfo, std::convert::Infallible> {
        Ok(ServerInfo {
            name: env!("CARGO_PKG_NAME").to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
        })
    }

    /// Lists every note, oldest first.
    #[secure_tool(authz = scopes("notes:read"), mode = read)]
    async fn list_notes(&self) -> Result<NoteList, StoreError> {
        Ok(NoteList {
            notes: self.store.list().await?,
        })
    }

    /// Reads one note by its id.
    #[secure_tool(authz = scopes("notes:read"), mode = read)]
    async fn get_note(&self, args: NoteId) -> Result<Note, ToolError> {
        match self.store.get(args.id).await? {
            Some(note) => Ok(note),
            None => Err(ToolError::not_found(format!("no note with id {}", args.id))),
        }
    }

    /// Creates a note and returns it with its id.
    #[secure_tool(authz = scopes("notes:write"), mode = write)]
    async fn create_note(&self, args: NewNote) -> Result<Note, ToolError> {
        if args.title.trim().is_empty() {
            return Err(ToolError::invalid_input("`title` must not be empty"));
        }
        Ok(self.store.insert(args.title, args.body).await?)
    }

    /// Deletes a note and returns what it contained. Administrators only.
    #[secure_tool(authz = roles("admin"), mode = write)]
    async fn delete_note(&self, args: NoteId) -> Result<Note, ToolError> {
        match self.store.delete(args.id).await? {
            Some(note) => Ok(note),
            None => Err(ToolError::not_found(format!("no note with id {}", args.id))),
        }
    }

    /// Writes a backup of every note to the server's backup directory.
    #[secure_tool(authz = scopes("notes:read"), mode = read)]
    async fn backup_notes(&self) -> Result<Backup, ToolError> {
        let (_file, notes) = self
            .store
            .backup(self.backup_dir.clone())
            .await
            // The directory is the server's business, not the caller's: internal, whatever
            // the I/O error says.
            .map_err(ToolError::internal)?;
        Ok(Backup { notes })
    }
}

impl secure_tool::rmcp::ServerHandler for Notes {
    fn get_info(&self) -> secure_tool::rmcp::model::ServerConfig {
        use secure_tool::rmcp::model::{Implementation, ServerCapabilities, ServerConfig};
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new(
                env!("CARGO_PKG_NAME"),
                env!("CARGO_PKG_VERSION"),
            ))
            .with_instructions(
                "A notes service. Read tools need the notes:read scope, create_note needs \
                 notes:write, delete_note the admin role.",
            )
    }
}
