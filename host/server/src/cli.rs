//! The `provisio` command line: `serve` runs the server; the operator's
//! subcommands (users, groups, apps, assignments, connectors, plans, errors,
//! tasks, admins, tokens, hooks, logs, nodes, check, wait) call its API; `package` works on connector packages in
//! a data directory without a server.

use std::path::PathBuf;
use std::time::Duration;

use crate::commands;
use crate::remote::{Client, Target};
use crate::{connectors, serve};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "provisio", version, about = "Keeps user accounts in many applications in step with one directory.")]
struct Cli {
    /// Where packages, compiled code and (by default) the database live.
    #[arg(long, global = true, env = "PROVISIO_DATA_DIR", default_value = "./data")]
    data_dir: PathBuf,
    #[command(flatten)]
    target: Target,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run Provisio: the directory, the engine and the API.
    Serve(serve::Args),
    /// Connector packages in the local data directory, without a server:
    /// list, install, describe, check against an app.
    #[command(subcommand)]
    Package(connectors::Command),
    #[command(flatten)]
    Remote(Remote),
}

/// The subcommands that call a server's API.
#[derive(Subcommand)]
enum Remote {
    /// Users: list and search, get, create, update, lifecycle (one or many),
    /// their groups and apps, delete, import a CSV.
    #[command(subcommand)]
    Users(commands::Users),
    /// Groups and their members.
    #[command(subcommand)]
    Groups(commands::Groups),
    /// Apps: list, get, create from a file, check, accounts, pause, resume,
    /// mappings and policy.
    #[command(subcommand)]
    Apps(commands::Apps),
    /// Who is assigned to an app, directly or through a group.
    #[command(subcommand)]
    Assignments(commands::Assignments),
    /// Connector versions on the server: list, install, describe, remove,
    /// move an app to a version (and pin it), roll it back.
    #[command(subcommand)]
    Connectors(commands::Connectors),
    /// Changes held by the mass-change guard.
    #[command(subcommand)]
    Plans(commands::Plans),
    /// Provisioning errors that wait for an admin.
    #[command(subcommand)]
    Errors(commands::Errors),
    /// Manual deprovisioning tasks.
    #[command(subcommand)]
    Tasks(commands::Tasks),
    /// Admins and their roles.
    #[command(subcommand)]
    Admins(commands::Admins),
    /// API tokens: yours, or (for a super admin) another admin's.
    #[command(subcommand)]
    Tokens(commands::Tokens),
    /// Webhooks for system-log events, and their deliveries.
    #[command(subcommand)]
    Hooks(commands::Hooks),
    /// The system log, newest first (a page, or `--export csv|json` for all of it).
    Logs(commands::Logs),
    /// Checks: `consistency` recomputes every account's desired state from
    /// the directory and reports where the stored one differs (exit 1).
    #[command(subcommand)]
    Check(commands::Check),
    /// The runs of `provisio serve` on this directory: live or not, and the
    /// accounts each holds.
    #[command(after_help = "Example:\n  provisio nodes")]
    Nodes,
    /// Wait until every app account's change is pushed, showing progress.
    #[command(after_help = "Example:\n  provisio users import hires.csv && provisio wait --timeout-secs 300")]
    Wait {
        #[arg(long, default_value_t = 600)]
        timeout_secs: u64,
    },
}

/// The whole command line; `provisio` and test binaries call this.
pub async fn run() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PROVISIO_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        // Colours for a terminal; plain text for files and log collectors.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve::run(&cli.data_dir, args).await,
        Command::Package(cmd) => connectors::run(&cli.data_dir, cmd, cli.target.json).await,
        Command::Remote(remote) => match Client::new(&cli.target, &cli.data_dir) {
            Err(e) => Err(e),
            Ok(c) => match remote {
                Remote::Users(cmd) => commands::users(&c, cmd).await,
                Remote::Groups(cmd) => commands::groups(&c, cmd).await,
                Remote::Apps(cmd) => commands::apps(&c, cmd).await,
                Remote::Assignments(cmd) => commands::assignments(&c, cmd).await,
                Remote::Connectors(cmd) => commands::connectors(&c, cmd).await,
                Remote::Plans(cmd) => commands::plans(&c, cmd).await,
                Remote::Errors(cmd) => commands::errors(&c, cmd).await,
                Remote::Tasks(cmd) => commands::tasks(&c, cmd).await,
                Remote::Admins(cmd) => commands::admins(&c, cmd).await,
                Remote::Tokens(cmd) => commands::tokens(&c, cmd).await,
                Remote::Hooks(cmd) => commands::hooks(&c, cmd).await,
                Remote::Logs(q) => commands::logs(&c, q).await,
                Remote::Nodes => commands::nodes(&c).await,
                Remote::Check(cmd) => commands::check(&c, cmd).await,
                Remote::Wait { timeout_secs } => commands::wait(&c, Duration::from_secs(timeout_secs)).await,
            },
        },
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    /// Every command an operator can run, as its words (`users list`).
    fn leaves(cmd: &clap::Command, path: Vec<String>, out: &mut Vec<(String, Option<String>)>) {
        let subs: Vec<&clap::Command> = cmd.get_subcommands().filter(|c| c.get_name() != "help").collect();
        if subs.is_empty() {
            out.push((path.join(" "), cmd.get_after_help().map(|h| h.to_string())));
        }
        for sub in subs {
            let mut p = path.clone();
            p.push(sub.get_name().to_string());
            leaves(sub, p, out);
        }
    }

    #[test]
    fn no_command_has_an_argument_that_shadows_a_global_flag() {
        // A positional named `url` or `token` would silently take the
        // value of `--url` / `--token` (and of PROVISIO_TOKEN).
        let root = Cli::command();
        let globals: Vec<String> =
            root.get_arguments().filter(|a| a.is_global_set()).map(|a| a.get_id().to_string()).collect();
        fn walk(cmd: &clap::Command, globals: &[String], path: &str, bad: &mut Vec<String>) {
            for arg in cmd.get_arguments().filter(|a| !a.is_global_set()) {
                if globals.iter().any(|g| g == arg.get_id().as_str()) {
                    bad.push(format!("{path}: {}", arg.get_id()));
                }
            }
            for sub in cmd.get_subcommands() {
                walk(sub, globals, &format!("{path} {}", sub.get_name()), bad);
            }
        }
        let mut bad = Vec::new();
        for sub in root.get_subcommands() {
            walk(sub, &globals, sub.get_name(), &mut bad);
        }
        assert!(globals.len() >= 5, "{globals:?}");
        assert!(bad.is_empty(), "{bad:?}");
    }

    #[test]
    fn every_command_has_help_with_an_example_of_itself() {
        let mut all = Vec::new();
        leaves(&Cli::command(), Vec::new(), &mut all);
        assert!(all.len() > 60, "{all:?}");
        let missing: Vec<&String> = all
            .iter()
            .filter(|(path, help)| !help.as_ref().is_some_and(|h| h.contains(&format!("provisio {path}"))))
            .map(|(path, _)| path)
            .collect();
        assert!(missing.is_empty(), "commands without an example of themselves in their help: {missing:?}");
    }
}
