//! Deciding one call with Cedar, fail-closed: only an `Allow` reached without an error
//! lets it through; every other outcome is a [`DenialCause::Cedar`] saying why.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use cedar_policy::{
    Context, Decision, Entities, Entity, EntityId, EntityTypeName, EntityUid, Request,
    RestrictedExpression, Schema,
};
use serde_json::Value;

use super::schema::{Kind, ROLE, USER};
use super::{Binding, Resource, Rule};
use crate::authz::{AccessRequest, DenialCause, Principal};
use crate::sanitize::error_chain;

impl Rule {
    /// Decides `request` with the set in force when it is asked.
    pub(crate) async fn decide(&self, request: AccessRequest<'_>) -> Result<(), DenialCause> {
        let Some(binding) = &self.binding else {
            return Err(denied(
                "no policy set: the operation's route was not built by a server given \
                 `.cedar(..)`",
            ));
        };
        binding.decide(request).await
    }
}

impl Binding {
    async fn decide(&self, request: AccessRequest<'_>) -> Result<(), DenialCause> {
        // One set for the whole decision, whatever a reload does meanwhile.
        let active = self.policies.active();
        let Some(schema) = active.schema.as_deref() else {
            return Err(denied("the policy set is not bound to a schema"));
        };
        let principal = principal(request.principal)?;
        let (resource_uid, resource) = self.resource(request, schema).await?;
        let context = self.context_of(request)?;
        // Built here to fit the schema (the caller's type, the action's resource type, a
        // context typed from the declarations): Cedar need not check it again.
        let cedar_request = Request::new(
            principal.uid(),
            self.action.clone(),
            resource_uid,
            context,
            None,
        )
        .map_err(|e| denied(format!("the call does not fit the schema: {e}")))?;
        // Without the schema: it would add every action of the schema to each call's
        // entities (no action is in a group: nothing reads them) and check the two
        // entities again. The caller is built here to fit it, and a loaded resource was
        // checked against it as it was parsed.
        let entities = Entities::from_entities([principal, resource], None)
            .map_err(|e| denied(format!("the entities do not fit the schema: {e}")))?;
        let response =
            active
                .authorizer
                .is_authorized(&cedar_request, &active.parsed.set, &entities);
        let diagnostics = response.diagnostics();
        if let Some(error) = diagnostics.errors().next() {
            return Err(denied(format!("evaluation error: {error}")));
        }
        match response.decision() {
            Decision::Allow => Ok(()),
            Decision::Deny => {
                let mut forbidding: Vec<_> =
                    diagnostics.reason().map(|id| id.to_string()).collect();
                if forbidding.is_empty() {
                    Err(denied(format!(
                        "no policy permits action {} (policy set {})",
                        self.action_id, active.parsed.digest
                    )))
                } else {
                    forbidding.sort_unstable();
                    Err(denied(format!("forbidden by {}", forbidding.join(", "))))
                }
            }
        }
    }

    /// The call's resource: the operation itself, or the entity its argument names, with
    /// the attributes the loader finds.
    async fn resource(
        &self,
        request: AccessRequest<'_>,
        schema: &Schema,
    ) -> Result<(EntityUid, Entity), DenialCause> {
        let (entity_type, field) = match &self.resource {
            Resource::Fixed(uid) => {
                return Ok((
                    uid.clone(),
                    Entity::new_no_attrs(uid.clone(), HashSet::new()),
                ));
            }
            Resource::Field(entity_type, field) => (entity_type, field),
        };
        let id = match request.arguments.and_then(|a| a.get(&**field)) {
            Some(Value::String(id)) => id.clone(),
            Some(Value::Number(n)) if n.is_i64() || n.is_u64() => n.to_string(),
            _ => {
                return Err(denied(format!(
                    "missing entity: the call names no {entity_type} (argument `{field}` \
                     absent, or not a string or an integer)"
                )));
            }
        };
        let uid = EntityUid::from_type_name_and_id(entity_type.clone(), EntityId::new(&id));
        let Some(loader) = self.policies.loader() else {
            return Ok((uid.clone(), Entity::new_no_attrs(uid, HashSet::new())));
        };
        let type_name = entity_type.to_string();
        let attributes = loader
            .load(&type_name, &id)
            .await
            .map_err(|e| DenialCause::PolicyError(format!("loading {uid}: {}", error_chain(&*e))))?
            .ok_or_else(|| denied(format!("missing entity: {uid} does not exist")))?;
        let json = serde_json::json!({
            "uid": { "type": type_name, "id": id },
            "attrs": attributes,
            "parents": [],
        });
        let entity = Entity::from_json_value(json, Some(schema))
            .map_err(|e| denied(format!("{uid} does not fit the schema: {e}")))?;
        Ok((uid, entity))
    }

    /// The context: the call's mode, and the arguments the operation exposes (those sent),
    /// each of its declared type; a required one absent, or any of another type, denies.
    fn context_of(&self, request: AccessRequest<'_>) -> Result<Context, DenialCause> {
        let mode = (
            "mode".to_owned(),
            RestrictedExpression::new_string(request.mode.as_str().to_owned()),
        );
        if self.context.is_empty() {
            return Context::from_pairs([mode]).map_err(|e| denied(e.to_string()));
        }
        let mut arguments = Vec::with_capacity(self.context.len());
        for (field, kind, required) in &self.context {
            // An explicit null is an absent optional argument.
            let value = request
                .arguments
                .and_then(|a| a.get(&**field))
                .filter(|v| !v.is_null());
            match value {
                None if *required => {
                    return Err(denied(format!(
                        "the call does not fit the schema: the argument `{field}` is missing"
                    )));
                }
                None => {}
                Some(value) => {
                    let value = expression(kind, value).ok_or_else(|| {
                        denied(format!(
                            "the call does not fit the schema: the argument `{field}` is not a {kind}"
                        ))
                    })?;
                    arguments.push((field.to_string(), value));
                }
            }
        }
        let arguments =
            RestrictedExpression::new_record(arguments).map_err(|e| denied(e.to_string()))?;
        Context::from_pairs([mode, ("arguments".to_owned(), arguments)])
            .map_err(|e| denied(e.to_string()))
    }
}

/// `value` as a Cedar value of type `kind`, or `None` if it is of another type (a number
/// that is not an integer Cedar can hold, a list with an item of another type).
fn expression(kind: &Kind, value: &Value) -> Option<RestrictedExpression> {
    match (kind, value) {
        (Kind::String, Value::String(text)) => Some(RestrictedExpression::new_string(text.clone())),
        (Kind::Long, Value::Number(number)) => number.as_i64().map(RestrictedExpression::new_long),
        (Kind::Bool, Value::Bool(flag)) => Some(RestrictedExpression::new_bool(*flag)),
        (Kind::Set(item), Value::Array(items)) => items
            .iter()
            .map(|value| expression(item, value))
            .collect::<Option<Vec<_>>>()
            .map(RestrictedExpression::new_set),
        _ => None,
    }
}

/// The caller's and its roles' entity types, parsed once (parsing a name runs Cedar's
/// parser: not a thing to do on every call).
static USER_TYPE: LazyLock<EntityTypeName> =
    LazyLock::new(|| USER.parse().expect("`User` is a Cedar entity type name"));
static ROLE_TYPE: LazyLock<EntityTypeName> =
    LazyLock::new(|| ROLE.parse().expect("`Role` is a Cedar entity type name"));

/// The caller as a Cedar entity: `User::"<subject>"`, its scopes and roles as attributes,
/// a member of each of its roles.
fn principal(principal: &Principal) -> Result<Entity, DenialCause> {
    let Some(subject) = principal.subject() else {
        return Err(DenialCause::Anonymous);
    };
    let uid = EntityUid::from_type_name_and_id(USER_TYPE.clone(), EntityId::new(subject));
    let strings = |names: &mut dyn Iterator<Item = &str>| {
        RestrictedExpression::new_set(names.map(|n| RestrictedExpression::new_string(n.to_owned())))
    };
    let attributes = HashMap::from([
        (
            "subject".to_owned(),
            RestrictedExpression::new_string(subject.to_owned()),
        ),
        ("scopes".to_owned(), strings(&mut principal.scopes())),
        ("roles".to_owned(), strings(&mut principal.roles())),
    ]);
    let parents = principal
        .roles()
        .map(|role| EntityUid::from_type_name_and_id(ROLE_TYPE.clone(), EntityId::new(role)))
        .collect::<HashSet<_>>();
    Entity::new(uid, attributes, parents).map_err(|e| denied(format!("the caller: {e}")))
}

fn denied(why: impl Into<String>) -> DenialCause {
    DenialCause::Cedar(why.into())
}
