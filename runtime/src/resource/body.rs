//! What a resource handler returns: the contents of the resource, text or bytes.

use std::borrow::Cow;

use base64::Engine as _;
use rmcp::model::ResourceContents;
use serde::Serialize;

use crate::sanitize::ToolError;

/// The contents of a resource, as its handler returns them; the runtime adds the URI that
/// was read. Text is sent as is, bytes base64-encoded (`blob`).
///
/// ```
/// use secure_tool::resource::ResourceBody;
/// let text = ResourceBody::text("# Groceries").with_mime_type("text/markdown");
/// assert_eq!(text.mime_type(), Some("text/markdown"));
///
/// #[derive(serde::Serialize)]
/// struct Note { id: u64, title: String }
/// let json = ResourceBody::json(&Note { id: 1, title: "Groceries".into() }).unwrap();
/// assert_eq!(json.mime_type(), Some("application/json"));
///
/// let png = ResourceBody::blob(vec![0x89, b'P', b'N', b'G'], "image/png");
/// assert_eq!(png.mime_type(), Some("image/png"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceBody {
    data: Data,
    mime_type: Option<Cow<'static, str>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Data {
    Text(String),
    Bytes(Vec<u8>),
}

impl ResourceBody {
    /// Text contents. Without [`with_mime_type`](Self::with_mime_type), the resource's
    /// declared MIME type applies, if any.
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            data: Data::Text(text.into()),
            mime_type: None,
        }
    }

    /// `value` as JSON text, `application/json`.
    ///
    /// # Errors
    ///
    /// An internal [`ToolError`] if `value` cannot be serialized (a map with non-string
    /// keys, a `Serialize` that fails): the caller is told only that the read failed.
    pub fn json<T: Serialize + ?Sized>(value: &T) -> Result<Self, ToolError> {
        let text = serde_json::to_string(value).map_err(ToolError::internal)?;
        Ok(Self::text(text).with_mime_type("application/json"))
    }

    /// Binary contents of type `mime_type`, sent base64-encoded.
    pub fn blob(bytes: impl Into<Vec<u8>>, mime_type: impl Into<Cow<'static, str>>) -> Self {
        Self {
            data: Data::Bytes(bytes.into()),
            mime_type: Some(mime_type.into()),
        }
    }

    /// Sets the MIME type of these contents.
    pub fn with_mime_type(mut self, mime_type: impl Into<Cow<'static, str>>) -> Self {
        self.mime_type = Some(mime_type.into());
        self
    }

    /// The MIME type set on these contents, if any.
    pub fn mime_type(&self) -> Option<&str> {
        self.mime_type.as_deref()
    }

    /// These contents as read from `uri`, with `declared` as the MIME type when none is
    /// set here.
    pub(crate) fn into_contents(self, uri: &str, declared: Option<&str>) -> ResourceContents {
        let mime_type = self
            .mime_type
            .map(Cow::into_owned)
            .or_else(|| declared.map(str::to_owned));
        match self.data {
            Data::Text(text) => ResourceContents::TextResourceContents {
                uri: uri.to_owned(),
                mime_type,
                text,
                meta: None,
            },
            Data::Bytes(bytes) => ResourceContents::BlobResourceContents {
                uri: uri.to_owned(),
                mime_type,
                blob: base64::engine::general_purpose::STANDARD.encode(bytes),
                meta: None,
            },
        }
    }
}
