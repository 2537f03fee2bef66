//! Contract 0.1 glue: the host side of its imports (`http`, `log`, `secret`)
//! and conversions between its generated types and the host model.

use std::collections::BTreeMap;

use wasmtime::component::Resource;

use crate::bindings::v0_1::exports::provisio::connector::provisioning as guest;
use crate::bindings::v0_1::provisio::connector::{http as wit_http, log as wit_log, types as wit};
use crate::http::{self, BodySecret};
use crate::model;
use crate::secrets::SecretHandle;
use crate::state::{LogLevel, StoreState};
use crate::traps::host_fault;
use crate::wall_time::check_deadline;

pub(crate) use crate::bindings::v0_1::{Connector as Bindings, ConnectorPre as BindingsPre};

impl wit::Host for StoreState {}

impl wit::HostSecret for StoreState {
    async fn drop(&mut self, rep: Resource<SecretHandle>) -> wasmtime::Result<()> {
        self.table.delete(rep).map_err(host_fault)?;
        Ok(())
    }
}

impl wit_http::Host for StoreState {
    async fn send(
        &mut self,
        req: wit_http::Request,
        auth: Option<Resource<SecretHandle>>,
    ) -> wasmtime::Result<Result<wit_http::Response, wit_http::HttpError>> {
        check_deadline(self.deadline)?;
        let scope = self.scope();
        let auth = match auth.map(|a| app_credential(self, &a)).transpose()? {
            Some(Err(e)) => return Ok(Err(http::refuse(&scope, e).into())),
            Some(Ok(c)) => Some(c),
            None => None,
        };
        Ok(http::send(&scope, req.into(), auth, None).await.map(Into::into).map_err(Into::into))
    }

    async fn send_with_secret(
        &mut self,
        req: wit_http::Request,
        auth: Option<Resource<SecretHandle>>,
        secret: Resource<SecretHandle>,
        json_pointer: String,
    ) -> wasmtime::Result<Result<wit_http::Response, wit_http::HttpError>> {
        check_deadline(self.deadline)?;
        let scope = self.scope();
        let auth = match auth.map(|a| app_credential(self, &a)).transpose()? {
            Some(Err(e)) => return Ok(Err(http::refuse(&scope, e).into())),
            Some(Ok(c)) => Some(c),
            None => None,
        };
        let value = match self.table.get(&secret).map_err(host_fault)? {
            SecretHandle::EndUserPassword(p) => p.clone(),
            SecretHandle::AppCredential(c) => {
                let e = http::HttpError::InvalidRequest(format!(
                    "credential \"{}\" can only be used as `auth` (the Authorization header), never in a body",
                    c.name
                ));
                return Ok(Err(http::refuse(&scope, e).into()));
            }
        };
        let body_secret = BodySecret { value, json_pointer };
        Ok(http::send(&scope, req.into(), auth, Some(body_secret)).await.map(Into::into).map_err(Into::into))
    }
}

fn app_credential(
    state: &StoreState,
    handle: &Resource<SecretHandle>,
) -> wasmtime::Result<Result<std::sync::Arc<crate::secrets::AppCredential>, http::HttpError>> {
    Ok(match state.table.get(handle).map_err(host_fault)? {
        SecretHandle::AppCredential(c) => Ok(c.clone()),
        SecretHandle::EndUserPassword(_) => Err(http::HttpError::InvalidRequest(
            "an end-user password cannot be used as `auth`; use send-with-secret to place it in the body".into(),
        )),
    })
}

impl wit_log::Host for StoreState {
    async fn log(&mut self, level: wit_log::Level, message: String) -> wasmtime::Result<()> {
        check_deadline(self.deadline)?;
        let level = match level {
            wit_log::Level::Trace => LogLevel::Trace,
            wit_log::Level::Debug => LogLevel::Debug,
            wit_log::Level::Info => LogLevel::Info,
            wit_log::Level::Warn => LogLevel::Warn,
            wit_log::Level::Error => LogLevel::Error,
        };
        if let Some(line) = self.meter.record_log(self.app.limits.max_log_bytes, level, &message) {
            crate::trace::guest_log(&self.app, self.operation, &line);
        }
        Ok(())
    }
}

/// The per-call context; credentials become fresh handles in this store.
pub(crate) fn context(
    state: &mut StoreState,
    call: &crate::runtime::CallContext,
    deadline_ms: u64,
) -> wasmtime::Result<wit::Context> {
    let app = state.app.clone();
    let mut credentials = Vec::with_capacity(app.credentials.len());
    for (name, cred) in &app.credentials {
        for value in cred.secret.values() {
            state.meter.register_secret(value);
        }
        let handle = state.table.push(SecretHandle::AppCredential(cred.clone()))?;
        credentials.push(wit::Credential { name: name.clone(), handle });
    }
    Ok(wit::Context {
        operation_id: call.operation_id.clone(),
        app_id: app.app_id.clone(),
        deadline_ms,
        attempt: call.attempt,
        settings: app
            .settings
            .iter()
            .map(|(name, value)| wit::Setting { name: name.clone(), value: value.clone().into() })
            .collect(),
        credentials,
    })
}

// ---- conversions: host model <-> contract 0.1 ----

impl From<wit_http::Request> for http::Request {
    fn from(r: wit_http::Request) -> Self {
        use wit_http::Method as M;
        http::Request {
            method: match r.method {
                M::Get => http::Method::Get,
                M::Head => http::Method::Head,
                M::Post => http::Method::Post,
                M::Put => http::Method::Put,
                M::Patch => http::Method::Patch,
                M::Delete => http::Method::Delete,
                M::Options => http::Method::Options,
            },
            url: r.url,
            headers: r.headers,
            body: r.body,
        }
    }
}

impl From<http::Response> for wit_http::Response {
    fn from(r: http::Response) -> Self {
        wit_http::Response { status: r.status, headers: r.headers, body: r.body }
    }
}

impl From<http::HttpError> for wit_http::HttpError {
    fn from(e: http::HttpError) -> Self {
        use http::HttpError as E;
        match e {
            E::Denied(m) => wit_http::HttpError::Denied(m),
            E::Timeout(m) => wit_http::HttpError::Timeout(m),
            E::TooLarge(m) | E::RequestTooLarge(m) => wit_http::HttpError::TooLarge(m),
            E::Connection(m) => wit_http::HttpError::Connection(m),
            E::LimitExceeded(m) => wit_http::HttpError::LimitExceeded(m),
            E::InvalidRequest(m) => wit_http::HttpError::InvalidRequest(m),
        }
    }
}

impl From<model::Scalar> for wit::Scalar {
    fn from(s: model::Scalar) -> Self {
        match s {
            model::Scalar::Boolean(b) => wit::Scalar::Boolean(b),
            model::Scalar::Integer(i) => wit::Scalar::Integer(i),
            model::Scalar::Number(n) => wit::Scalar::Number(n),
            model::Scalar::Text(t) => wit::Scalar::Text(t),
            model::Scalar::Binary(b) => wit::Scalar::Binary(b),
        }
    }
}

impl From<wit::Scalar> for model::Scalar {
    fn from(s: wit::Scalar) -> Self {
        match s {
            wit::Scalar::Boolean(b) => model::Scalar::Boolean(b),
            wit::Scalar::Integer(i) => model::Scalar::Integer(i),
            wit::Scalar::Number(n) => model::Scalar::Number(n),
            wit::Scalar::Text(t) => model::Scalar::Text(t),
            wit::Scalar::Binary(b) => model::Scalar::Binary(b),
        }
    }
}

fn fields_in(fields: BTreeMap<String, model::Scalar>) -> Vec<wit::Field> {
    fields.into_iter().map(|(name, v)| wit::Field { name, value: v.into() }).collect()
}

fn fields_out(fields: Vec<wit::Field>) -> BTreeMap<String, model::Scalar> {
    fields.into_iter().map(|f| (f.name, f.value.into())).collect()
}

impl From<model::Value> for wit::Value {
    fn from(v: model::Value) -> Self {
        match v {
            model::Value::Single(s) => wit::Value::Single(s.into()),
            model::Value::Multi(m) => wit::Value::Multi(m.into_iter().map(Into::into).collect()),
            model::Value::Complex(c) => wit::Value::Complex(fields_in(c)),
            model::Value::MultiComplex(m) => wit::Value::MultiComplex(m.into_iter().map(fields_in).collect()),
        }
    }
}

impl From<wit::Value> for model::Value {
    fn from(v: wit::Value) -> Self {
        match v {
            wit::Value::Single(s) => model::Value::Single(s.into()),
            wit::Value::Multi(m) => model::Value::Multi(m.into_iter().map(Into::into).collect()),
            wit::Value::Complex(c) => model::Value::Complex(fields_out(c)),
            wit::Value::MultiComplex(m) => model::Value::MultiComplex(m.into_iter().map(fields_out).collect()),
        }
    }
}

pub(crate) fn profile_in(p: &model::Profile) -> Vec<wit::Attribute> {
    p.iter().map(|(name, v)| wit::Attribute { name: name.clone(), value: v.clone().into() }).collect()
}

fn profile_out(p: Vec<wit::Attribute>) -> model::Profile {
    p.into_iter().map(|a| (a.name, a.value.into())).collect()
}

pub(crate) fn changes_in(c: &model::Changes) -> Vec<wit::Change> {
    c.iter().map(|(name, v)| wit::Change { name: name.clone(), value: v.clone().map(Into::into) }).collect()
}

impl From<wit::Account> for model::Account {
    fn from(a: wit::Account) -> Self {
        model::Account { id: a.id, login: a.login, active: a.active, profile: profile_out(a.profile) }
    }
}

pub(crate) fn new_account_in(a: &model::NewAccount) -> wit::NewAccount {
    wit::NewAccount { login: a.login.clone(), active: a.active, profile: profile_in(&a.profile) }
}

pub(crate) fn key_in(k: &model::AccountKey) -> wit::AccountKey {
    match k {
        model::AccountKey::Id(id) => wit::AccountKey::Id(id.clone()),
        model::AccountKey::Login(l) => wit::AccountKey::Login(l.clone()),
    }
}

impl From<wit::Group> for model::Group {
    fn from(g: wit::Group) -> Self {
        model::Group { id: g.id, name: g.name, description: g.description, members: g.members }
    }
}

pub(crate) fn new_group_in(g: &model::NewGroup) -> wit::NewGroup {
    wit::NewGroup { name: g.name.clone(), description: g.description.clone(), members: g.members.clone() }
}

pub(crate) fn list_request_in(r: &model::ListRequest) -> wit::ListRequest {
    wit::ListRequest { cursor: r.cursor.clone(), since: r.since.clone(), page_size: r.page_size }
}

impl From<wit::UserPage> for model::Page<model::Account> {
    fn from(p: wit::UserPage) -> Self {
        model::Page {
            items: p.accounts.into_iter().map(Into::into).collect(),
            deleted: p.deleted,
            next_cursor: p.next_cursor,
            watermark: p.watermark,
        }
    }
}

impl From<wit::GroupPage> for model::Page<model::Group> {
    fn from(p: wit::GroupPage) -> Self {
        model::Page {
            items: p.groups.into_iter().map(Into::into).collect(),
            deleted: p.deleted,
            next_cursor: p.next_cursor,
            watermark: p.watermark,
        }
    }
}

impl From<wit::Authentication> for model::Authentication {
    fn from(a: wit::Authentication) -> Self {
        match a {
            wit::Authentication::Accepted(acc) => model::Authentication::Accepted(acc.map(Into::into)),
            wit::Authentication::Rejected(m) => model::Authentication::Rejected(m),
        }
    }
}

impl From<wit::ConnectorError> for model::ConnectorError {
    fn from(e: wit::ConnectorError) -> Self {
        use model::ConnectorError as E;
        match e {
            wit::ConnectorError::NotFound(message) => E::NotFound { message },
            wit::ConnectorError::Conflict(c) => {
                E::Conflict { message: c.message, existing: c.existing.map(Into::into) }
            }
            wit::ConnectorError::RateLimited(r) => {
                E::RateLimited { message: r.message, retry_after_ms: r.retry_after_ms }
            }
            wit::ConnectorError::Unauthorized(message) => E::Unauthorized { message },
            wit::ConnectorError::InvalidInput(message) => E::InvalidInput { message },
            wit::ConnectorError::Transient(message) => E::Transient { message },
            wit::ConnectorError::Permanent(message) => E::Permanent { message },
            wit::ConnectorError::Unsupported(message) => E::Unsupported { message },
        }
    }
}

fn operation_out(o: wit::Operation) -> model::Operation {
    use model::Operation as O;
    match o {
        wit::Operation::Check => O::Check,
        wit::Operation::CreateUser => O::CreateUser,
        wit::Operation::UpdateUser => O::UpdateUser,
        wit::Operation::DeactivateUser => O::DeactivateUser,
        wit::Operation::ReactivateUser => O::ReactivateUser,
        wit::Operation::DeleteUser => O::DeleteUser,
        wit::Operation::GetUser => O::GetUser,
        wit::Operation::ListUsers => O::ListUsers,
        wit::Operation::ListUsersIncremental => O::ListUsersIncremental,
        wit::Operation::ListGroups => O::ListGroups,
        wit::Operation::CreateGroup => O::CreateGroup,
        wit::Operation::UpdateGroup => O::UpdateGroup,
        wit::Operation::DeleteGroup => O::DeleteGroup,
        wit::Operation::AddMembers => O::AddMembers,
        wit::Operation::RemoveMembers => O::RemoveMembers,
        wit::Operation::SetPassword => O::SetPassword,
        wit::Operation::Authenticate => O::Authenticate,
    }
}

fn value_type_out(t: wit::ValueType) -> model::ValueType {
    use model::ValueType as V;
    match t {
        wit::ValueType::Boolean => V::Boolean,
        wit::ValueType::Integer => V::Integer,
        wit::ValueType::Number => V::Number,
        wit::ValueType::Text => V::Text,
        wit::ValueType::Binary => V::Binary,
        wit::ValueType::Datetime => V::Datetime,
        wit::ValueType::Reference => V::Reference,
        wit::ValueType::Complex => V::Complex,
    }
}

impl From<guest::Descriptor> for model::Descriptor {
    fn from(d: guest::Descriptor) -> Self {
        use crate::manifest::SettingType as S;
        model::Descriptor {
            name: d.name,
            version: d.version,
            operations: d.operations.into_iter().map(operation_out).collect(),
            settings: d
                .settings
                .into_iter()
                .map(|s| model::SettingSchema {
                    name: s.name,
                    setting_type: match s.setting_type {
                        wit::SettingType::Text => S::Text,
                        wit::SettingType::Url => S::Url,
                        wit::SettingType::Integer => S::Integer,
                        wit::SettingType::Boolean => S::Boolean,
                    },
                    required: s.required,
                    description: s.description,
                })
                .collect(),
            credentials: d.credentials,
            profile: d
                .profile
                .into_iter()
                .map(|a| model::AttributeSchema {
                    name: a.name,
                    value_type: value_type_out(a.value_type),
                    multi_valued: a.multi_valued,
                    required: a.required,
                    description: a.description,
                    sub_attributes: a
                        .sub_attributes
                        .into_iter()
                        .map(|s| model::AttributeSchema {
                            name: s.name,
                            value_type: value_type_out(s.value_type),
                            multi_valued: false,
                            required: s.required,
                            description: s.description,
                            sub_attributes: Vec::new(),
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}
