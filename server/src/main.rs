//! The `server` binary: serves Baton, or manages accounts from the command line.
//!
//! ```text
//! server [serve] [--demo]                      run the app (--demo: one user per role, passwords printed)
//! server user create --username U --name N --email E --roles ops,pm [--language zh-CN] [--password-stdin]
//! server user reset-password USERNAME [--password-stdin]
//! server audit verify [--file EXPORT.jsonl] [--head N:HASH]   check the audit chain; non-zero exit on a break
//! server audit head                            print the audit head (N:HASH) to record elsewhere
//! server backup --to FILE                      consistent copy of the SQLite database, while it serves
//! server restore --from FILE [--force]         check a backup, put it in place, verify its audit chain
//! ```

use std::{io::Read, process::ExitCode};

use app::{
    audit::{
        chain::{Head, Verifier},
        store as audit_store, AuditEntry, VerifyReport,
    },
    auth::{
        password::{generate_password, PasswordHasher},
        Role,
    },
    config::Config,
    users::bootstrap,
};
use clap::{Parser, Subcommand};
use secrecy::{zeroize::Zeroize, ExposeSecret, SecretString};

/// jemalloc instead of the C library's allocator: every request allocates and frees many small
/// strings across the runtime's threads, where glibc's arenas cost about a fifth of the CPU of a
/// page and let the resident size grow over long runs. jemalloc and mimalloc were measured side
/// by side (docs/BENCHMARKS.md); jemalloc was ahead on most pages.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Parser)]
#[command(name = "server", version, about = "Baton: urgent production bugs, handed on by name")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the app (the default).
    Serve {
        /// Create or refresh one user per role (ops, pm, dev, qa, admin) and print their passwords.
        #[arg(long)]
        demo: bool,
    },
    /// Manage user accounts without a browser.
    #[command(subcommand)]
    User(UserCommand),
    /// Check the audit log's hash chain, or print its head.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Write a consistent copy of the SQLite database to a new file; safe while Baton serves.
    Backup {
        /// The file to write (must not exist).
        #[arg(long)]
        to: std::path::PathBuf,
    },
    /// Replace the SQLite database with a backup: the file is checked first (integrity, schema
    /// level), a running Baton or a database with data is refused (the latter unless --force),
    /// and the audit chain is verified afterwards.
    Restore {
        /// The backup file.
        #[arg(long)]
        from: std::path::PathBuf,
        /// Replace a database that holds users or incidents.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Verify the chain in the database, or in an exported JSON Lines file (offline). Exits
    /// non-zero when the chain is broken.
    Verify {
        /// A JSON Lines export to check instead of the database.
        #[arg(long)]
        file: Option<std::path::PathBuf>,
        /// A head recorded earlier (`N:HASH`, from `audit head` or a report email): also catches a
        /// cut-off tail.
        #[arg(long)]
        head: Option<Head>,
        /// An anchor file (`BATON_AUDIT_ANCHOR_FILE`): the chain must pass through every head in it.
        #[arg(long)]
        anchors: Option<std::path::PathBuf>,
    },
    /// Print the current head (`N:HASH`) so it can be kept outside the database.
    Head,
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user. Prints a generated password unless --password-stdin is given.
    Create {
        /// Login name.
        #[arg(long)]
        username: String,
        /// Name shown to others.
        #[arg(long)]
        name: String,
        /// Email address.
        #[arg(long)]
        email: String,
        /// Comma-separated roles: ops, pm, dev, qa, admin.
        #[arg(long, value_delimiter = ',')]
        roles: Vec<String>,
        /// Preferred language: en or zh-CN.
        #[arg(long, default_value = "en")]
        language: String,
        /// Read the password from standard input instead of generating one.
        #[arg(long)]
        password_stdin: bool,
        /// Do not require a password change at first sign-in.
        #[arg(long)]
        no_password_change: bool,
    },
    /// Set a new password (to be changed at next sign-in) and end the user's sessions.
    ResetPassword {
        /// Login name.
        username: String,
        /// Read the password from standard input instead of generating one.
        #[arg(long)]
        password_stdin: bool,
    },
}

/// The password to set and whether it was generated (then it is printed for the operator).
fn read_password(from_stdin: bool) -> std::io::Result<(SecretString, bool)> {
    if !from_stdin {
        return Ok((generate_password(), true));
    }
    let mut text = String::new();
    let read = std::io::stdin().read_to_string(&mut text);
    let password = SecretString::from(text.trim_end_matches(['\r', '\n']));
    text.zeroize();
    read?;
    Ok((password, false))
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(err) => {
            eprintln!("baton: {err}");
            return ExitCode::from(2);
        }
    };
    if let Err(err) = server::telemetry::init(&config) {
        eprintln!("baton: {err}");
        return ExitCode::from(2);
    }
    let result = match cli.command.unwrap_or(Command::Serve { demo: false }) {
        Command::Serve { demo } => serve(config, demo).await,
        Command::User(command) => manage_user(config, command).await,
        Command::Audit(command) => match audit(config, command).await {
            Ok(true) => Ok(()),
            Ok(false) => return ExitCode::FAILURE,
            Err(err) => Err(err),
        },
        Command::Backup { to } => server::backup::backup_to(&config, &to).await.map(|written| {
            println!("backup written to {} ({} bytes in {:.1?})", to.display(), written.bytes, written.took);
        }),
        Command::Restore { from, force } => match server::backup::restore_from(&config, &from, force).await {
            Ok(restored) => {
                let i = &restored.inspected;
                println!(
                    "restored {} (schema level {}, {} users, {} incidents)",
                    from.display(),
                    i.level,
                    i.users,
                    i.incidents
                );
                print!("audit chain: ");
                if !print_report(&restored.audit) {
                    return ExitCode::FAILURE;
                }
                Ok(())
            }
            Err(err) => Err(err),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{err:#}");
            eprintln!("baton: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config, demo: bool) -> anyhow::Result<()> {
    // Demo users first, so an empty database does not also get the one-time admin account.
    let demo_accounts = if demo {
        let db = server::open_database(&config).await?;
        let accounts = bootstrap::seed_demo_users(&db, &PasswordHasher::new(config.login_concurrency))
            .await
            .map_err(|e| anyhow::anyhow!("cannot create the demo users: {e}"))?;
        db.close().await;
        accounts
    } else {
        Vec::new()
    };
    let application = server::Application::build(config).await?;
    if !demo_accounts.is_empty() {
        println!("\nDemo users (sign in at {}/login):", application.state().config.base_url);
        for account in demo_accounts {
            println!("  {:<6} password {}   ({})", account.username, account.password, account.role.as_str());
        }
        println!();
    }
    application.run_until(server::shutdown_signal()).await
}

async fn manage_user(config: Config, command: UserCommand) -> anyhow::Result<()> {
    let db = server::open_database(&config).await?;
    let hasher = PasswordHasher::new(1);
    match command {
        UserCommand::Create { username, name, email, roles, language, password_stdin, no_password_change } => {
            let roles = roles
                .iter()
                .map(|r| {
                    Role::parse(r)
                        .ok_or_else(|| anyhow::anyhow!("unknown role {r:?} (expected ops, pm, dev, qa or admin)"))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let (password, generated) = read_password(password_stdin)?;
            let fields = bootstrap::CliUser {
                username: username.clone(),
                display_name: name,
                email,
                language,
                roles,
                password: password.clone(),
                must_change: !no_password_change,
            };
            let id = bootstrap::create_user(&db, &hasher, fields)
                .await
                .map_err(|e| anyhow::anyhow!("cannot create {username}: {e}"))?;
            println!("created user {username} (id {id})");
            if generated {
                println!("password: {}", password.expose_secret());
            }
        }
        UserCommand::ResetPassword { username, password_stdin } => {
            let (password, generated) = read_password(password_stdin)?;
            bootstrap::reset_password(&db, &hasher, &username, password.clone())
                .await
                .map_err(|e| anyhow::anyhow!("cannot reset the password of {username}: {e}"))?;
            println!("password of {username} reset; their sessions are ended");
            if generated {
                println!("password: {}", password.expose_secret());
            }
        }
    }
    db.close().await;
    Ok(())
}

/// Runs an audit command; `Ok(false)` when the chain is broken.
async fn audit(config: Config, command: AuditCommand) -> anyhow::Result<bool> {
    match command {
        AuditCommand::Head => {
            let db = server::open_database(&config).await?;
            let head = audit_store::head(&db).await?;
            db.close().await;
            match head {
                Some(head) => println!("{head}"),
                None => println!("0:{}", app::audit::chain::GENESIS),
            }
            Ok(true)
        }
        AuditCommand::Verify { file, head, anchors } => {
            let mut heads: Vec<Head> = head.into_iter().collect();
            if let Some(path) = anchors {
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
                let anchored = app::audit::anchor::parse(&text)
                    .map_err(|e| anyhow::anyhow!("{} is not an anchor file: {e}", path.display()))?;
                println!("checking against {} anchors from {}", anchored.len(), path.display());
                heads.extend(anchored);
            }
            let report = match file {
                Some(path) => {
                    let text = std::fs::read_to_string(&path)
                        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
                    verify_lines(&text, heads)?
                }
                None => {
                    let db = server::open_database(&config).await?;
                    let report = audit_store::verify_against(&db, heads).await?;
                    db.close().await;
                    report
                }
            };
            Ok(print_report(&report))
        }
    }
}

/// Checks an exported JSON Lines file. An export that starts after entry 1 (a filtered one) is
/// checked from its first entry on.
fn verify_lines(text: &str, heads: Vec<Head>) -> anyhow::Result<VerifyReport> {
    let mut verifier: Option<Verifier> = None;
    let mut head = Some(heads);
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let entry: AuditEntry =
            serde_json::from_str(line).map_err(|e| anyhow::anyhow!("line {}: not an audit entry: {e}", n + 1))?;
        let verifier = verifier.get_or_insert_with(|| {
            let heads = head.take().unwrap_or_default();
            if entry.seq == 1 {
                Verifier::against(heads)
            } else {
                Verifier::partial(heads)
            }
        });
        if let Err(report) = verifier.push(&entry) {
            return Ok(report);
        }
    }
    Ok(verifier.unwrap_or_else(|| Verifier::against(head.unwrap_or_default())).finish())
}

fn print_report(report: &VerifyReport) -> bool {
    match report {
        VerifyReport::Verified { through, hash } => {
            println!("verified through entry {through}; head {through}:{hash}");
            true
        }
        VerifyReport::Broken { at, reason } => {
            println!("broken at entry {at}: {reason:?}");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use app::audit::{
        chain::{entry_hash, GENESIS},
        AuditEntry, BreakReason, VerifyReport,
    };

    use super::verify_lines;

    fn export(n: i64) -> Vec<AuditEntry> {
        let mut prev = GENESIS.to_owned();
        (1..=n)
            .map(|seq| {
                let mut e = AuditEntry {
                    seq,
                    at: "2026-11-27T00:00:00.000000Z".into(),
                    actor_kind: "system".into(),
                    actor_id: None,
                    actor_name: "test".into(),
                    actor_roles: String::new(),
                    client_addr: "local".into(),
                    user_agent: String::new(),
                    event: "settings.changed".into(),
                    target_kind: String::new(),
                    target: String::new(),
                    outcome: "ok".into(),
                    details: format!("{{\"n\":{seq}}}"),
                    prev_hash: prev.clone(),
                    hash: String::new(),
                };
                e.hash = entry_hash(&e);
                prev.clone_from(&e.hash);
                e
            })
            .collect()
    }

    fn lines(entries: &[AuditEntry]) -> String {
        entries.iter().map(|e| serde_json::to_string(e).unwrap() + "\n").collect()
    }

    #[test]
    fn an_exported_file_verifies_offline_and_breaks_where_edited() {
        let entries = export(4);
        let head = format!("4:{}", entries[3].hash).parse().unwrap();
        assert!(matches!(
            verify_lines(&lines(&entries), vec![head]).unwrap(),
            VerifyReport::Verified { through: 4, .. }
        ));
        let edited = lines(&entries).replace("{\\\"n\\\":2}", "{\\\"n\\\":20}");
        assert_eq!(
            verify_lines(&edited, Vec::new()).unwrap(),
            VerifyReport::Broken { at: 2, reason: BreakReason::Altered }
        );
        let head = format!("4:{}", entries[3].hash).parse().unwrap();
        assert_eq!(
            verify_lines(&lines(&entries[..3]), vec![head]).unwrap(),
            VerifyReport::Broken { at: 4, reason: BreakReason::Truncated }
        );
        assert!(verify_lines("not json\n", Vec::new()).is_err());
    }
}
