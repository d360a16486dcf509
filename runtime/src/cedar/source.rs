//! Reading a policy set: its files (or texts), parsed into one [`PolicySet`] whose
//! policies are named by where they are written (`notes.cedar:12`), and the errors of a
//! set that does not parse or does not validate, each pointing at its file and line.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::PathBuf;

use cedar_policy::{PolicyId, PolicySet};
use sha2::{Digest as _, Sha256};

use super::CedarError;

/// Where a policy set or a schema fragment comes from: a file (read again on reload) or a
/// text given in code.
#[derive(Clone, Debug)]
pub(super) struct Source {
    /// How errors name it: the file's path as given, or the label given with the text.
    pub(super) name: String,
    /// The file to read again on reload, if it came from one.
    pub(super) path: Option<PathBuf>,
    pub(super) text: String,
}

impl Source {
    pub(super) fn file(path: PathBuf) -> Result<Self, CedarError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(&path)
            .map_err(|e| CedarError::new(format!("cannot read {name}: {e}")))?;
        Ok(Self {
            name,
            path: Some(path),
            text,
        })
    }

    pub(super) fn text(name: impl Into<String>, text: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            path: None,
            text: text.into(),
        }
    }

    /// This source as it is now: read again from its file, if it has one.
    pub(super) fn reread(&self) -> Result<Self, CedarError> {
        match &self.path {
            Some(path) => Self::file(path.clone()),
            None => Ok(self.clone()),
        }
    }

    /// `offset` (in bytes) as `name line L, column C`.
    pub(super) fn locate(&self, offset: usize) -> String {
        let before = self.text.get(..offset).unwrap_or(&self.text);
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        format!("{} line {line}, column {column}", self.name)
    }

    /// Where `error` points (its first label) in this source, if it says.
    pub(super) fn locate_diagnostic(&self, error: &dyn miette::Diagnostic) -> Option<String> {
        let label = error.labels()?.next()?;
        Some(self.locate(label.offset()))
    }
}

/// A parsed policy set and what names its policies.
#[derive(Clone, Debug)]
pub(super) struct Parsed {
    pub(super) set: PolicySet,
    /// Which source each policy came from, by id (for the line of a validation error).
    pub(super) origin: Vec<(PolicyId, usize)>,
    /// `sha256:` and the digest of every source's name and text, in order.
    pub(super) digest: String,
}

/// Parses `sources` into one set. Each policy is named `file:line` (where it starts), or
/// `id (file:line)` when it has an `@id("...")` annotation; templates are refused (nothing
/// here links them), and so is a set that permits nothing at all.
pub(super) fn parse(sources: &[Source]) -> Result<Parsed, CedarError> {
    let mut set = PolicySet::new();
    let mut origin = Vec::new();
    let mut hasher = Sha256::new();
    for (index, source) in sources.iter().enumerate() {
        hasher.update((source.name.len() as u64).to_le_bytes());
        hasher.update(source.name.as_bytes());
        hasher.update((source.text.len() as u64).to_le_bytes());
        hasher.update(source.text.as_bytes());
        let parsed: PolicySet =
            source
                .text
                .parse()
                .map_err(|errors: cedar_policy::ParseErrors| {
                    let mut message = format!("{} does not parse as Cedar policies:", source.name);
                    for error in errors.iter() {
                        let at = source
                            .locate_diagnostic(error)
                            .unwrap_or_else(|| source.name.clone());
                        let _ = write!(message, "\n  {at}: {error}");
                    }
                    CedarError::new(message)
                })?;
        if let Some(template) = parsed.templates().next() {
            let text = template.to_string();
            let at = offset_of(&source.text, &text, &mut HashSet::new())
                .map_or_else(|| source.name.clone(), |o| source.locate(o));
            return Err(CedarError::new(format!(
                "{at}: a policy template (with ?principal or ?resource) cannot be used here: \
                 write the policy for every principal or resource it applies to"
            )));
        }
        let mut taken = HashSet::new();
        let mut names = HashSet::new();
        let mut policies: Vec<_> = parsed
            .policies()
            .map(|policy| {
                let offset = offset_of(&source.text, &policy.to_string(), &mut taken);
                (offset.unwrap_or(usize::MAX), policy)
            })
            .collect();
        policies.sort_by_key(|(offset, _)| *offset);
        for (offset, policy) in policies {
            let at = if offset == usize::MAX {
                format!("{}:{}", source.name, policy.id())
            } else {
                let before = &source.text[..offset];
                let line = before.matches('\n').count() + 1;
                let at = format!("{}:{line}", source.name);
                if names.insert(at.clone()) {
                    at
                } else {
                    // A second policy on the same line: its column tells them apart.
                    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
                    format!("{at}:{column}")
                }
            };
            let name = match policy.annotation("id") {
                Some(id) if !id.trim().is_empty() => format!("{id} ({at})"),
                _ => at,
            };
            let id = PolicyId::new(&name);
            set.add(policy.new_id(id.clone())).map_err(|e| {
                CedarError::new(format!("{name}: cannot add the policy to the set: {e}"))
            })?;
            origin.push((id, index));
        }
    }
    if !set
        .policies()
        .any(|p| p.effect() == cedar_policy::Effect::Permit)
    {
        let names: Vec<_> = sources.iter().map(|s| s.name.as_str()).collect();
        return Err(CedarError::new(format!(
            "the policies of {} permit nothing: every call they decide would be denied \
             (an empty or wrong file?)",
            names.join(", ")
        )));
    }
    let digest = hasher.finalize();
    let mut hex = String::with_capacity(7 + 64);
    hex.push_str("sha256:");
    for byte in digest {
        let _ = write!(hex, "{byte:02x}");
    }
    Ok(Parsed {
        set,
        origin,
        digest: hex,
    })
}

/// The offset in `source` of the first occurrence of `text` not yet `taken` (and takes
/// it): the start of a policy, whose text the parser keeps as written.
fn offset_of(source: &str, text: &str, taken: &mut HashSet<usize>) -> Option<usize> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let offset = source
        .match_indices(text)
        .map(|(offset, _)| offset)
        .find(|offset| !taken.contains(offset))?;
    taken.insert(offset);
    Some(offset)
}
