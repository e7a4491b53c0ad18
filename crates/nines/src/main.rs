//! The `nines` binary: `serve`, `apikey`, `push`, `apply`, `report`, `openapi`, `docs`.
//!
//! Only argument parsing, logging setup and wiring live here; the server is
//! `nines-server`, storage `nines-store`, the domain `nines-core`.

mod agent;
mod client;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use nines_core::clock::Clock;
use nines_core::{OrgScope, Role};
use nines_server::{ServerConfig, SystemClock};
use nines_store::Store;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

#[derive(Parser)]
#[command(name = "nines", version, about = "Availability, SLO and status platform")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the control plane: REST API and background workers.
    Serve(Box<ServeArgs>),
    /// Manage API keys directly in the database.
    Apikey {
        #[command(subcommand)]
        command: ApikeyCommand,
    },
    /// Push a report, as a cron job would.
    Push {
        #[command(subcommand)]
        command: client::PushCommand,
    },
    /// Register services from it-ops.yaml documents.
    Apply(client::ApplyArgs),
    /// Run checks from another location and push their results.
    Agent(agent::AgentArgs),
    /// The Kubernetes operator: CRDs, discovery and sync to the API.
    Operator(nines_operator::OperatorArgs),
    /// The daily SLA report.
    Report {
        #[command(subcommand)]
        command: ReportCommand,
    },
    /// Print the OpenAPI document (or write it with --output).
    Openapi {
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Generated reference documents.
    Docs {
        #[command(subcommand)]
        command: DocsCommand,
    },
}

#[derive(Subcommand)]
enum DocsCommand {
    /// Print the it-ops document reference (or write it with --output).
    ItOps {
        #[arg(long)]
        output: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Args, Clone)]
struct DbArgs {
    /// Where nines keeps its SQLite database and the first admin key.
    #[arg(long, env = "NINES_DATA_DIR", default_value = "./data")]
    data_dir: PathBuf,
    /// sqlite://PATH or postgres://USER@HOST/DB; default: SQLite in the data dir.
    #[arg(long, env = "NINES_DATABASE_URL")]
    database_url: Option<String>,
}

#[derive(Args)]
struct ServeArgs {
    #[command(flatten)]
    db: DbArgs,
    /// Address to listen on.
    #[arg(long, env = "NINES_LISTEN", default_value = "127.0.0.1:8080")]
    listen: String,
    #[arg(long, env = "NINES_LOG_FORMAT", value_enum, default_value = "text")]
    log_format: LogFormat,
    /// Push services turn UNKNOWN after this much silence.
    #[arg(long, env = "NINES_STALE_UNKNOWN_AFTER_SECONDS", default_value_t = 120)]
    stale_unknown_after_seconds: u64,
    /// ... and DOWN after this much.
    #[arg(long, env = "NINES_STALE_DOWN_AFTER_SECONDS", default_value_t = 300)]
    stale_down_after_seconds: u64,
    /// How often the stale detector runs.
    #[arg(long, env = "NINES_STALE_CHECK_INTERVAL_SECONDS", default_value_t = 60)]
    stale_check_interval_seconds: u64,
    /// Largest accepted request body.
    #[arg(long, env = "NINES_MAX_BODY_BYTES", default_value_t = 1 << 20)]
    max_body_bytes: usize,
    /// Connections served at once; more wait until one closes. Keep it
    /// well below the open-files limit (`ulimit -n`).
    #[arg(long, env = "NINES_MAX_CONNECTIONS", default_value_t = 1024)]
    max_connections: usize,
    /// A client must send a request's whole header within this time.
    #[arg(long, env = "NINES_HEADER_READ_TIMEOUT_SECONDS", default_value_t = 10)]
    header_read_timeout_seconds: u64,
    /// A connection with nothing in flight and no byte moving this long is closed.
    #[arg(long, env = "NINES_IDLE_TIMEOUT_SECONDS", default_value_t = 60)]
    idle_timeout_seconds: u64,
    /// A request body must arrive within this time (408 otherwise).
    #[arg(long, env = "NINES_BODY_READ_TIMEOUT_SECONDS", default_value_t = 30)]
    body_read_timeout_seconds: u64,
    /// The base of links in notifications (https://nines.example.com);
    /// default http://<listen address>.
    #[arg(long, env = "NINES_PUBLIC_URL")]
    public_url: Option<String>,
    /// Seals notification channel secrets: 64 hex digits or a passphrase of
    /// 16+ characters, the same on every replica; default the file
    /// notify.key in the data dir, created on first start.
    #[arg(long, env = "NINES_SECRET_KEY", hide_env_values = true)]
    secret_key: Option<String>,
    /// A file holding an admin key of every organization to accept (a
    /// Kubernetes Secret mounted as a file; `nines_` + 16 hex + `_` + 64
    /// hex). With it, no key is created in the data dir on first start.
    #[arg(long, env = "NINES_ADMIN_KEY_FILE")]
    admin_key_file: Option<PathBuf>,
    #[command(flatten)]
    report: ReportArgs,
    #[command(flatten)]
    sign_in: SignInArgs,
}

/// Dashboard sign-in: API keys, and an OpenID Connect provider (Keycloak).
/// The client secret comes from NINES_OIDC_CLIENT_SECRET or a file, never
/// from the command line (where `ps` would show it).
#[derive(Args, Clone)]
struct SignInArgs {
    /// The provider's issuer URL (https://keycloak.example.com/realms/acme);
    /// turns on "Sign in with ..." on the dashboard's login page.
    #[arg(long, env = "NINES_OIDC_ISSUER")]
    oidc_issuer: Option<String>,
    /// The client id nines has at the provider.
    #[arg(long, env = "NINES_OIDC_CLIENT_ID")]
    oidc_client_id: Option<String>,
    /// A file holding the client secret (else NINES_OIDC_CLIENT_SECRET;
    /// neither: a public client, PKCE only).
    #[arg(long, env = "NINES_OIDC_CLIENT_SECRET_FILE")]
    oidc_client_secret_file: Option<PathBuf>,
    /// Scopes asked for besides `openid profile email`, comma-separated.
    #[arg(long, env = "NINES_OIDC_SCOPES", value_delimiter = ',')]
    oidc_scopes: Vec<String>,
    /// The ID token claim listing the person's groups.
    #[arg(long, env = "NINES_OIDC_GROUPS_CLAIM", default_value = "groups")]
    oidc_groups_claim: String,
    /// Group name suffixes and the role each gives in the organization the
    /// group is named after: `acme-admins` makes an admin of `acme`.
    #[arg(long, env = "NINES_OIDC_ROLE_SUFFIXES", default_value = nines_server::oidc::DEFAULT_ROLE_SUFFIXES)]
    oidc_role_suffixes: String,
    /// Members of this group are admins of every organization.
    #[arg(long, env = "NINES_OIDC_PLATFORM_ADMIN_GROUP")]
    oidc_platform_admin_group: Option<String>,
    /// The provider's name on the sign-in button ("Sign in with Keycloak").
    #[arg(long, env = "NINES_OIDC_PROVIDER_NAME", default_value = "single sign-on")]
    oidc_provider_name: String,
    /// How long a dashboard session lasts: 12h, 90m, 3600s or seconds.
    #[arg(long, env = "NINES_SESSION_TTL", default_value = "12h")]
    session_ttl: String,
    /// The login page no longer takes API keys (they still work for the API).
    #[arg(long, env = "NINES_DISABLE_KEY_LOGIN")]
    disable_key_login: bool,
}

/// `12h`, `90m`, `3600s` or a number of seconds, in milliseconds.
fn parse_ttl(s: &str) -> Result<i64> {
    let s = s.trim();
    let (num, unit) = match s.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => (&s[..i], &s[i..]),
        None => (s, "s"),
    };
    let n: i64 = num.parse().map_err(|_| anyhow::anyhow!("--session-ttl {s:?}: expected e.g. 12h, 90m or 3600s"))?;
    let ms = match unit {
        "s" => n * 1000,
        "m" => n * 60_000,
        "h" => n * 3_600_000,
        "d" => n * 86_400_000,
        _ => bail!("--session-ttl {s:?}: the unit must be s, m, h or d"),
    };
    if !(60_000..=31 * 86_400_000).contains(&ms) {
        bail!("--session-ttl {s:?}: must be from 1 minute to 31 days");
    }
    Ok(ms)
}

impl SignInArgs {
    fn config(&self) -> Result<nines_server::oidc::SignInConfig> {
        let mut c = nines_server::oidc::SignInConfig {
            session_ttl_ms: parse_ttl(&self.session_ttl)?,
            key_login: !self.disable_key_login,
            oidc: None,
        };
        let Some(issuer) = self.oidc_issuer.as_deref().filter(|i| !i.is_empty()) else {
            if self.disable_key_login {
                bail!("--disable-key-login needs --oidc-issuer: nobody could sign in to the dashboard");
            }
            return Ok(c);
        };
        if !(issuer.starts_with("https://") || issuer.starts_with("http://")) {
            bail!("--oidc-issuer must be an http:// or https:// URL, got {issuer:?}");
        }
        let Some(client_id) = self.oidc_client_id.as_deref().filter(|i| !i.is_empty()) else {
            bail!("--oidc-issuer needs --oidc-client-id (NINES_OIDC_CLIENT_ID)");
        };
        let secret = match &self.oidc_client_secret_file {
            Some(f) => Some(
                std::fs::read_to_string(f)
                    .with_context(|| format!("--oidc-client-secret-file {}: cannot read it", f.display()))?
                    .trim()
                    .to_string(),
            ),
            None => std::env::var("NINES_OIDC_CLIENT_SECRET").ok(),
        }
        .filter(|s| !s.is_empty());
        let mut o = nines_server::oidc::OidcConfig::new(issuer, client_id, secret);
        o.extra_scopes = self.oidc_scopes.iter().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
        o.provider_name = self.oidc_provider_name.clone();
        o.roles.groups_claim = self.oidc_groups_claim.clone();
        o.roles.suffixes = nines_server::oidc::parse_role_suffixes(&self.oidc_role_suffixes)
            .map_err(|e| anyhow::anyhow!("--oidc-role-suffixes: {e}"))?;
        o.roles.platform_admin_group = self.oidc_platform_admin_group.clone().filter(|g| !g.is_empty());
        c.oidc = Some(o);
        Ok(c)
    }
}

#[derive(Args, Clone)]
struct ReportArgs {
    /// IANA time zone of report days and of the daily 07:00 run.
    #[arg(long, env = "NINES_REPORT_TZ", default_value = "UTC")]
    report_time_zone: String,
    /// Reports older than this many days are removed.
    #[arg(long, env = "NINES_REPORT_RETENTION_DAYS", default_value_t = 400)]
    report_retention_days: i64,
    /// Raw observations (health reports, check results) older than this many days are removed.
    #[arg(long, env = "NINES_RAW_RETENTION_DAYS", default_value_t = 90)]
    raw_retention_days: i64,
    /// The SLA portal: each report is POSTed there (JSON, then PDF).
    #[arg(long, env = "NINES_SLA_PORTAL_URL")]
    sla_portal_url: Option<String>,
}

impl ReportArgs {
    fn config(&self, data_dir: &Path) -> Result<nines_server::report::ReportConfig> {
        nines_server::report::zone(&self.report_time_zone).map_err(|e| anyhow::anyhow!("--report-time-zone: {e}"))?;
        if self.report_retention_days < 1 || self.raw_retention_days < 1 {
            bail!("--report-retention-days and --raw-retention-days must be at least 1");
        }
        Ok(nines_server::report::ReportConfig {
            dir: Some(data_dir.join("reports")),
            time_zone: self.report_time_zone.clone(),
            keep_days: self.report_retention_days,
            raw_retention_days: self.raw_retention_days,
            portal_url: self.sla_portal_url.clone().filter(|u| !u.is_empty()),
            ..Default::default()
        })
    }
}

#[derive(Subcommand)]
enum ReportCommand {
    /// Make the SLA report of every organization for a day (default:
    /// yesterday in the report time zone); prints the date and the paths.
    Generate {
        #[command(flatten)]
        db: DbArgs,
        #[command(flatten)]
        report: ReportArgs,
        /// The report day, YYYY-MM-DD.
        #[arg(long)]
        date: Option<String>,
        /// Only this organization.
        #[arg(long)]
        organization: Option<String>,
    },
}

#[derive(Subcommand)]
enum ApikeyCommand {
    /// Create a key; the key is the last line of stdout.
    Create {
        #[command(flatten)]
        db: DbArgs,
        /// Organization the key is scoped to ('*' for all, admin only).
        #[arg(long)]
        org: String,
        #[arg(long, value_parser = parse_role)]
        role: Role,
        #[arg(long)]
        name: Option<String>,
    },
    /// List keys (never their secrets).
    List {
        #[command(flatten)]
        db: DbArgs,
    },
    /// Revoke a key by its public id.
    Revoke {
        #[command(flatten)]
        db: DbArgs,
        id: String,
    },
}

fn parse_role(s: &str) -> Result<Role, String> {
    s.parse()
}

fn init_logs(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("NINES_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    // colour only for a person at a terminal, not in a log file or collector
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}

/// Hold `nines.lock` in the data directory for as long as the server runs:
/// a second server on the same directory is refused, not started silently.
fn lock_data_dir(dir: &Path) -> Result<std::fs::File> {
    let path = dir.join("nines.lock");
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("--data-dir {}: cannot write {}", dir.display(), path.display()))?;
    match f.try_lock() {
        Ok(()) => Ok(f),
        Err(std::fs::TryLockError::WouldBlock) => bail!(
            "--data-dir {}: another nines server is using this data directory; stop it, or give this one its own --data-dir",
            dir.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => Err(e).with_context(|| format!("locking {}", path.display())),
    }
}

fn database_url(db: &DbArgs) -> Result<String> {
    if let Some(u) = &db.database_url {
        return Ok(u.clone());
    }
    std::fs::create_dir_all(&db.data_dir).with_context(|| format!("creating data dir {}", db.data_dir.display()))?;
    let path = std::fs::canonicalize(&db.data_dir)?.join("nines.db");
    Ok(format!("sqlite://{}", path.display()))
}

/// The URL with any password masked, for logs and the banner.
fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// mimalloc instead of the system's malloc. glibc's kept what bursts
/// freed (applying 100,000 checks, reloading the check set, rendering
/// `/metrics`) in fragments it could not return, even with two arenas and a
/// thread calling `malloc_trim`; at 100,000 checks the server's resident set
/// stayed 30–50 MB above mimalloc's (BENCHMARKS.md, "Memory, third pass").
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's options, by their index in its `mi_option_e` (the version
/// is the one Cargo.lock pins; a test checks the indices against their
/// defaults).
#[cfg(feature = "mimalloc")]
mod malloc_options {
    /// Commit a new arena's memory only as it is used (default 2: at once,
    /// on Linux): a server that grew once to apply its checks does not keep
    /// the whole arena resident.
    pub const ARENA_EAGER_COMMIT: i32 = 4;
    /// Milliseconds before freed pages go back to the system (default 1000).
    pub const PURGE_DELAY: i32 = 15;

    /// Memory freed goes back to the system at once, and arenas are
    /// committed as they fill. An arena takes the commit option when it is
    /// made, at the first allocation, before `main`: so this runs as the
    /// binary is loaded, among the constructors, before Rust's runtime
    /// allocates anything (the environment variables `MIMALLOC_*` still
    /// override it).
    #[cfg(all(target_os = "linux", not(test)))]
    #[used]
    #[unsafe(link_section = ".init_array")]
    static TUNE: extern "C" fn() = tune;

    #[cfg_attr(test, allow(dead_code))]
    extern "C" fn tune() {
        // SAFETY: mi_option_set_default only stores an option's default;
        // it allocates nothing.
        unsafe {
            for (option, value) in [(ARENA_EAGER_COMMIT, 0), (PURGE_DELAY, 0)] {
                libmimalloc_sys::mi_option_set_default(option, value);
            }
        }
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn the_option_indices_name_the_options_meant() {
            // their documented defaults, read before anything sets them
            // SAFETY: reads an option's value.
            let (eager, delay) = unsafe {
                (
                    libmimalloc_sys::mi_option_get(super::ARENA_EAGER_COMMIT),
                    libmimalloc_sys::mi_option_get(super::PURGE_DELAY),
                )
            };
            assert_eq!((eager, delay), (2, 1000), "mimalloc's option indices moved: see mimalloc.h, mi_option_e");
        }
    }
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Serve(_) | Command::Agent(_)) {
        quiet_broken_pipe();
    }
    let done = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)
        .and_then(|rt| rt.block_on(run(cli)));
    match done {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // the message and its causes, one line; never a stack trace,
            // whatever RUST_BACKTRACE says (it is for panics, not for a
            // port in use or a refused key)
            eprintln!("Error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// A one-shot command whose output is cut short (`nines operator crds |
/// head`) ends quietly, as other command-line tools do, instead of
/// panicking on the closed pipe. The server and the agent keep Rust's
/// default (a write to a closed socket is an error to handle, not a signal).
fn quiet_broken_pipe() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: restores the default disposition of one signal before any
    // other thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Serve(args) => serve(*args).await,
        Command::Apikey { command } => apikey(command).await,
        Command::Report { command } => report(command).await,
        Command::Push { command } => client::push(command).await,
        Command::Apply(args) => client::apply(args).await,
        Command::Operator(args) => {
            init_logs(LogFormat::Text);
            nines_operator::run_cli(args).await
        }
        Command::Agent(args) => {
            init_logs(LogFormat::Text);
            agent::run(args).await
        }
        Command::Openapi { output } => {
            let doc = nines_server::openapi::document_json();
            match output {
                Some(p) => std::fs::write(&p, doc).with_context(|| format!("writing {}", p.display()))?,
                None => print!("{doc}"),
            }
            Ok(())
        }
        Command::Docs { command: DocsCommand::ItOps { output } } => {
            let doc = nines_server::itops_reference::markdown();
            match output {
                Some(p) => std::fs::write(&p, doc).with_context(|| format!("writing {}", p.display()))?,
                None => print!("{doc}"),
            }
            Ok(())
        }
    }
}

#[cfg(unix)]
fn write_secret_file(path: &Path, content: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    f.write_all(content.as_bytes())?;
    f.sync_all()?;
    Ok(())
}

#[cfg(not(unix))]
fn write_secret_file(path: &Path, content: &str) -> Result<()> {
    std::fs::write(path, content)?;
    Ok(())
}

async fn serve(args: ServeArgs) -> Result<()> {
    init_logs(args.log_format);
    if args.stale_down_after_seconds <= args.stale_unknown_after_seconds {
        bail!("--stale-down-after-seconds must be greater than --stale-unknown-after-seconds");
    }
    if args.stale_check_interval_seconds == 0 {
        bail!("--stale-check-interval-seconds must be at least 1");
    }
    if let Some(u) = &args.public_url
        && !(u.starts_with("http://") || u.starts_with("https://"))
    {
        bail!("--public-url must be an absolute http:// or https:// URL, got {u:?}");
    }
    if args.max_connections == 0 || args.header_read_timeout_seconds == 0 || args.idle_timeout_seconds == 0 {
        bail!("--max-connections, --header-read-timeout-seconds and --idle-timeout-seconds must be at least 1");
    }
    let sign_in = args.sign_in.config()?;
    // everything that can fail without writing is checked first: the port,
    // the data directory (and that no other server uses it), the database
    let listener = tokio::net::TcpListener::bind(&args.listen).await.map_err(|e| match e.kind() {
        std::io::ErrorKind::AddrInUse => anyhow::anyhow!(
            "--listen {}: the address is in use by another program (another nines?); stop it or choose another port, e.g. --listen 127.0.0.1:8081",
            args.listen
        ),
        _ => anyhow::anyhow!("--listen {}: cannot listen there: {e}", args.listen),
    })?;
    std::fs::create_dir_all(&args.db.data_dir)
        .with_context(|| format!("--data-dir {}: cannot create it", args.db.data_dir.display()))?;
    let _lock = lock_data_dir(&args.db.data_dir)?;
    let url = database_url(&args.db)?;
    let store =
        Store::connect(&url).await.map_err(|e| anyhow::anyhow!("{}", nines_store::describe_connect_error(&url, &e)))?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let key_file = args.db.data_dir.join("admin-api-key");
    let mut new_key = false;
    if let Some(file) = &args.admin_key_file {
        let key = std::fs::read_to_string(file)
            .map_err(|e| anyhow::anyhow!("reading the admin key file {}: {e}", file.display()))?;
        let added = store
            .import_admin_key("admin-key-file", key.trim(), clock.now_ms())
            .await
            .map_err(|e| anyhow::anyhow!("the admin key file {}: {e}", file.display()))?;
        if added {
            tracing::info!(file = %file.display(), "accepting the admin key of the admin key file");
        }
        // a key was given: none is made in the data dir
        let _ = store.claim_once("bootstrap_admin_key", "1").await?;
    }
    if store.count_api_keys().await? == 0 && store.claim_once("bootstrap_admin_key", "1").await? {
        let (key, secret) =
            store.create_api_key("bootstrap-admin", &OrgScope::All, Role::Admin, clock.now_ms()).await?;
        if key_file.exists() {
            std::fs::remove_file(&key_file)?;
        }
        write_secret_file(&key_file, &format!("{secret}\n"))?;
        tracing::info!(key_id = %key.id, file = %key_file.display(), "created the first admin API key");
        new_key = true;
    }
    let config = ServerConfig {
        stale: nines_core::timeline::StaleRule {
            unknown_after_ms: args.stale_unknown_after_seconds as i64 * 1000,
            down_after_ms: args.stale_down_after_seconds as i64 * 1000,
        },
        stale_check_every: Duration::from_secs(args.stale_check_interval_seconds),
        max_body_bytes: args.max_body_bytes,
        replica: format!("{}-{}", hostname(), std::process::id()),
        notify: nines_server::notify::NotifyConfig {
            public_url: args.public_url.clone(),
            key: Some(
                nines_server::notify::SecretKey::load(args.secret_key.as_deref(), &args.db.data_dir)
                    .map_err(anyhow::Error::msg)?,
            ),
            ..Default::default()
        },
        report: args.report.config(&args.db.data_dir)?,
        http: nines_server::serve::HttpLimits {
            max_connections: args.max_connections,
            header_read_timeout: Duration::from_secs(args.header_read_timeout_seconds),
            idle_timeout: Duration::from_secs(args.idle_timeout_seconds),
            body_read_timeout: Duration::from_secs(args.body_read_timeout_seconds.max(1)),
        },
        sign_in: sign_in.clone(),
        ..ServerConfig::default()
    };
    let running = nines_server::start(store.clone(), clock, config, listener).await?;
    let base = format!("http://{}", running.addr);
    println!("nines is running at {base}");
    match (&sign_in.oidc, sign_in.key_login) {
        (Some(o), true) => println!("  dashboard: {base}/ui (sign in with {} or an API key)", o.provider_name),
        (Some(o), false) => println!("  dashboard: {base}/ui (sign in with {})", o.provider_name),
        (None, _) => println!("  dashboard: {base}/ui (sign in with an API key)"),
    }
    println!("  status:    {base}/ (the public status page)");
    println!("  database:  {}", redact(&url));
    println!("  API:       {base}/api/openapi.json");
    if new_key || key_file.exists() {
        println!(
            "  admin key: {} (readable only by you{})",
            key_file.display(),
            if new_key { "; created now" } else { "" }
        );
        println!("  try:       curl -H \"X-API-Key: $(cat {})\" {base}/api/v1/services", key_file.display());
    } else {
        println!("  API keys:  nines apikey create --org ORG --role agent|operator|admin|read-only");
    }
    wait_for_signal().await;
    tracing::info!("shutting down: finishing in-flight requests");
    running.shutdown().await;
    store.close().await;
    Ok(())
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "nines".into())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

async fn report(cmd: ReportCommand) -> Result<()> {
    init_logs(LogFormat::Text);
    match cmd {
        ReportCommand::Generate { db, report, date, organization } => {
            let rc = report.config(&db.data_dir)?;
            let store = Store::connect(&database_url(&db)?).await?;
            let tz = nines_server::report::zone(&rc.time_zone)?;
            let now = SystemClock.now_ms();
            let date = match date {
                Some(d) => d.parse().map_err(|_| anyhow::anyhow!("--date: {d:?} is not a date (YYYY-MM-DD)"))?,
                None => nines_server::report::yesterday(now, &tz),
            };
            let orgs = match organization {
                Some(o) => vec![o],
                None => store.organizations().await?,
            };
            let holder = format!("cli-{}-{}", hostname(), std::process::id());
            println!("date {date}");
            for org in orgs {
                let g = nines_server::report::generate(&store, &rc, &org, date, now, &holder).await?;
                println!("{}\t{}\t{}", g.organization, g.paths.json, g.paths.pdf);
                if nines_server::report::push(&store, &rc, &g, &SystemClock).await? {
                    println!("{}\tpushed to the SLA portal", g.organization);
                }
            }
            store.close().await;
            Ok(())
        }
    }
}

async fn apikey(cmd: ApikeyCommand) -> Result<()> {
    init_logs(LogFormat::Text);
    match cmd {
        ApikeyCommand::Create { db, org, role, name } => {
            let store = Store::connect(&database_url(&db)?).await?;
            let scope = if org == "*" {
                OrgScope::All
            } else {
                nines_core::check_name(&org).map_err(|r| anyhow::anyhow!("--org: {r}"))?;
                OrgScope::One(org.clone())
            };
            let name = name.unwrap_or_else(|| format!("{org}-{}", role.as_str()));
            let (key, secret) = store.create_api_key(&name, &scope, role, SystemClock.now_ms()).await?;
            println!("created {} key {} for organization {}", role.as_str(), key.id, org);
            println!("{secret}");
            Ok(())
        }
        ApikeyCommand::List { db } => {
            let store = Store::connect(&database_url(&db)?).await?;
            for k in store.list_api_keys().await? {
                println!("{}\t{}\t{}\t{}", k.id, k.scope.as_option().unwrap_or("*"), k.role.as_str(), k.name);
            }
            Ok(())
        }
        ApikeyCommand::Revoke { db, id } => {
            let store = Store::connect(&database_url(&db)?).await?;
            if !store.revoke_api_key(&id, SystemClock.now_ms()).await? {
                bail!("no active key with id {id}");
            }
            println!("revoked {id}");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn session_ttl_takes_a_unit() {
        assert_eq!(parse_ttl("12h").unwrap(), 12 * 3_600_000);
        assert_eq!(parse_ttl("90m").unwrap(), 90 * 60_000);
        assert_eq!(parse_ttl("3600").unwrap(), 3_600_000);
        assert!(parse_ttl("10s").unwrap_err().to_string().contains("from 1 minute to 31 days"));
        assert!(parse_ttl("2w").unwrap_err().to_string().contains("unit"));
        assert!(parse_ttl("h").is_err());
    }

    #[test]
    fn oidc_flags_are_checked_together() {
        let args = |v: &[&str]| {
            let mut all = vec!["nines", "serve"];
            all.extend_from_slice(v);
            match Cli::try_parse_from(all).unwrap().command {
                Command::Serve(s) => s.sign_in,
                _ => unreachable!(),
            }
        };
        let e = args(&["--disable-key-login"]).config().unwrap_err().to_string();
        assert!(e.contains("needs --oidc-issuer"), "{e}");
        let e = args(&["--oidc-issuer", "https://kc.example.com/realms/a"]).config().unwrap_err().to_string();
        assert!(e.contains("--oidc-client-id"), "{e}");
        let e = args(&["--oidc-issuer", "kc.example.com", "--oidc-client-id", "n"]).config().unwrap_err().to_string();
        assert!(e.contains("http:// or https://"), "{e}");
        let c = args(&[
            "--oidc-issuer",
            "https://kc.example.com/realms/a",
            "--oidc-client-id",
            "nines",
            "--oidc-role-suffixes",
            "owners=admin",
            "--oidc-scopes",
            "offline_access,roles",
            "--session-ttl",
            "8h",
            "--disable-key-login",
        ])
        .config()
        .unwrap();
        let o = c.oidc.unwrap();
        assert_eq!((c.session_ttl_ms, c.key_login), (8 * 3_600_000, false));
        assert_eq!(o.scopes(), "openid profile email offline_access roles");
        assert_eq!(o.roles.suffixes, vec![("owners".to_string(), Role::Admin)]);
    }
}
