//! Completes the OpenAPI document with the answers every operation shares,
//! so each route declares only its own success: the coded errors, and for
//! a change (a route that takes `preview`) its preview and its plan held
//! by the mass-change guard. The document then lists every status the
//! server can answer (schemathesis checks it against the running server).

use utoipa::openapi::path::Operation;
use utoipa::openapi::schema::{AnyOf, Schema};
use utoipa::openapi::{Content, OpenApi, Ref, RefOr, ResponseBuilder};
use utoipa::{PartialSchema, ToSchema};

use provisio_proto as proto;

pub fn complete(doc: &mut OpenApi) {
    register::<proto::Error>(doc);
    register::<proto::Preview>(doc);
    register::<proto::Held>(doc);
    for item in doc.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
            &mut item.head,
            &mut item.options,
            &mut item.trace,
        ];
        for op in operations.into_iter().flatten() {
            complete_operation(op);
        }
    }
}

fn complete_operation(op: &mut Operation) {
    let takes = |name: &str| op.parameters.iter().flatten().any(|p| p.name == name);
    let change = takes("preview");
    let has_body = op.request_body.is_some();
    let responses = &mut op.responses.responses;
    if change {
        alternative(responses, "200", "What it would do (`preview=true`)", "Preview");
        alternative(responses, "202", "Held for an admin's approval: it crosses the mass-change guard", "Held");
    }
    let mut errors = vec![
        ("400", "Refused input: the summary names the parameter or field"),
        ("401", "No valid API token"),
        ("403", "The token's role does not allow this"),
        ("404", "No such object (or route)"),
        ("409", "The object's state does not allow it now"),
        ("503", "The directory could not complete the request; try again"),
    ];
    if has_body {
        errors.push(("413", "The body is larger than the route takes"));
    }
    if change {
        errors.push(("422", "A mapping could not be evaluated for a user"));
    }
    for (status, description) in errors {
        responses.entry(status.into()).or_insert_with(|| json_response(description, "Error").into());
    }
}

/// Adds `schema` as one more shape of the answer with this status (or the
/// only one, if the route declares none).
fn alternative(
    responses: &mut std::collections::BTreeMap<String, RefOr<utoipa::openapi::Response>>,
    status: &str,
    description: &str,
    schema: &str,
) {
    let reference = RefOr::Ref(Ref::from_schema_name(schema));
    match responses.get_mut(status) {
        Some(RefOr::T(response)) => {
            response.description = format!("{}; or {}", response.description, description.to_lowercase());
            match response.content.get_mut("application/json") {
                Some(content) => {
                    let own = content.schema.take();
                    let mut any = AnyOf::new();
                    any.items.extend(own);
                    any.items.push(reference);
                    content.schema = Some(RefOr::T(Schema::AnyOf(any)));
                }
                // A bodiless answer (204) with this status cannot be: the
                // alternative is the only body.
                None => {
                    response.content.insert("application/json".into(), Content::new(Some(reference)));
                }
            }
        }
        Some(RefOr::Ref(_)) => {}
        None => {
            responses.insert(status.into(), json_response(description, schema).into());
        }
    }
}

fn json_response(description: &str, schema: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content("application/json", Content::new(Some(RefOr::Ref(Ref::from_schema_name(schema)))))
        .build()
}

fn register<T: ToSchema>(doc: &mut OpenApi) {
    let components = doc.components.get_or_insert_with(Default::default);
    let mut schemas = vec![(T::name().into_owned(), <T as PartialSchema>::schema())];
    T::schemas(&mut schemas);
    for (name, schema) in schemas {
        components.schemas.entry(name).or_insert(schema);
    }
}
