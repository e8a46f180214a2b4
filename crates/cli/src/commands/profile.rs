//! `archive-desk-cli profile ...`: profiles in the config file, secrets in
//! the OS keychain. Secrets are read from stdin, never taken as arguments
//! (those show in `ps` and shell history), and never printed.

use std::io::{self, Read, Write};
use std::path::PathBuf;

use archive_desk_core::connection::{self, Check};
use archive_desk_core::profile::{AwsAuth, ImportReport, Profile, ProfileFile, ProfileView, RestoreMode, SaveReport};
use archive_desk_core::{Error, ErrorReport, Profiles, Secret, SecretInput, SecretKind};
use clap::{Args, Subcommand};

use crate::render::{json_line, Failure, Render};

#[derive(Subcommand)]
pub enum ProfileCommand {
    /// List profiles.
    List,
    /// Show a profile's settings and which secrets are set (never their values).
    Show { name: String },
    /// Add a profile (replaces none: use `edit`).
    Add {
        name: String,
        #[command(flatten)]
        settings: Settings,
    },
    /// Change settings of a profile.
    Edit {
        name: String,
        #[command(flatten)]
        settings: Settings,
    },
    /// Remove a profile and its secrets from the keychain.
    Remove { name: String },
    /// Store a secret in the OS keychain, read from stdin (one line).
    SetSecret {
        name: String,
        /// aws-secret-access-key, supabase-key or postgres-url.
        kind: String,
    },
    /// Create a profile from an archiver .env (AWS_*, S3_BUCKET_NAME, SUPABASE_*).
    ImportEnv {
        name: String,
        file: PathBuf,
        /// Overwrite an existing profile of that name.
        #[arg(long)]
        replace: bool,
    },
    /// Test a profile's connections, each result in plain words.
    Test { name: String },
}

/// Non-secret settings; every one optional so `edit` changes only what is given.
#[derive(Args, Clone)]
pub struct Settings {
    #[arg(long)]
    bucket: Option<String>,
    #[arg(long)]
    region: Option<String>,
    /// Custom endpoint of an S3-compatible store (implies path-style).
    #[arg(long)]
    endpoint: Option<String>,
    #[arg(long)]
    prefix: Option<String>,
    /// Use an access key pair: the id here, the secret via `set-secret`.
    #[arg(long, conflicts_with = "aws_profile")]
    access_key_id: Option<String>,
    /// Use the AWS default chain with this ~/.aws profile.
    #[arg(long)]
    aws_profile: Option<String>,
    /// Use the AWS default chain (env, ~/.aws, SSO).
    #[arg(long, conflicts_with_all = ["access_key_id", "aws_profile"])]
    default_chain: bool,
    #[arg(long)]
    supabase_url: Option<String>,
    /// rest or postgres.
    #[arg(long)]
    restore_mode: Option<String>,
    #[arg(long)]
    conversations_table: Option<String>,
    #[arg(long)]
    messages_table: Option<String>,
    /// Name of an installed RPC function for atomic REST restores.
    #[arg(long)]
    rpc_function: Option<String>,
    /// PEM file of the CA that issued the Postgres server's certificate.
    #[arg(long)]
    postgres_ca_file: Option<String>,
    #[arg(long)]
    read_only: Option<bool>,
    #[arg(long)]
    allow_unsafe_index_writes: Option<bool>,
}

impl Settings {
    /// The flags given, written over `p` (an empty value clears an optional setting).
    fn apply(self, p: &mut Profile) -> Result<(), Error> {
        let set = |field: &mut Option<String>, v: Option<String>| {
            if let Some(v) = v {
                *field = Some(v).filter(|s| !s.is_empty());
            }
        };
        if let Some(b) = self.bucket {
            p.bucket = b;
        }
        set(&mut p.region, self.region);
        set(&mut p.endpoint, self.endpoint);
        set(&mut p.supabase_url, self.supabase_url);
        set(&mut p.rpc_function, self.rpc_function);
        set(&mut p.postgres_ca_file, self.postgres_ca_file);
        if let Some(prefix) = self.prefix {
            p.prefix = prefix;
        }
        if let Some(id) = self.access_key_id {
            p.aws = AwsAuth::Keychain { access_key_id: id };
        }
        if let Some(name) = self.aws_profile {
            p.aws = AwsAuth::DefaultChain {
                aws_profile: Some(name),
            };
        }
        if self.default_chain {
            p.aws = AwsAuth::DefaultChain { aws_profile: None };
        }
        if let Some(mode) = self.restore_mode {
            p.restore_mode = mode.parse::<RestoreMode>()?;
        }
        if let Some(t) = self.conversations_table {
            p.conversations_table = t;
        }
        if let Some(t) = self.messages_table {
            p.messages_table = t;
        }
        if let Some(v) = self.read_only {
            p.read_only = v;
        }
        if let Some(v) = self.allow_unsafe_index_writes {
            p.allow_unsafe_index_writes = v;
        }
        Ok(())
    }
}

/// One function a subcommand, each returning what it shows.
pub async fn profile(command: &ProfileCommand) -> Result<Box<dyn Render>, Failure> {
    let profiles = Profiles::default_location()?;
    Ok(match command {
        ProfileCommand::List => Box::new(List(profiles.load()?)),
        ProfileCommand::Show { name } => Box::new(Shown(profiles.view(name)?)),
        ProfileCommand::Add { name, settings } => Box::new(save(&profiles, name, settings, true)?),
        ProfileCommand::Edit { name, settings } => Box::new(save(&profiles, name, settings, false)?),
        ProfileCommand::Remove { name } => {
            profiles.remove(name)?;
            Box::new(Said(format!(
                "removed profile {name}, its keychain entries and its search catalog"
            )))
        }
        ProfileCommand::SetSecret { name, kind } => {
            let kind: SecretKind = kind.parse()?;
            // Before asking for it: a store that would lose it is refused.
            profiles.keychain().check_persists(name, kind)?;
            profiles.set_secret(name, kind, &read_secret_from_stdin()?)?;
            Box::new(Said(format!(
                "stored {} of profile {name} in the OS keychain",
                kind.as_str()
            )))
        }
        ProfileCommand::ImportEnv { name, file, replace } => Box::new(Imported {
            name: name.clone(),
            report: profiles.import_env(name, file, *replace)?,
        }),
        ProfileCommand::Test { name } => Box::new(Tested(connection::test_profile(&profiles, name).await?)),
    })
}

/// `add` refuses a name in use; `edit` wants one.
fn save(profiles: &Profiles, name: &str, settings: &Settings, adding: bool) -> Result<Saved, Error> {
    let mut profile = match (adding, profiles.get(name)) {
        (true, Ok(_)) => {
            return Err(Error::InvalidInput(format!(
                "profile {name:?} exists; use `profile edit`"
            )))
        }
        (true, Err(_)) => Profile::new(""),
        (false, existing) => existing?,
    };
    settings.clone().apply(&mut profile)?;
    Ok(Saved {
        name: name.to_owned(),
        file: profiles.path().to_owned(),
        report: profiles.put(name, profile)?,
    })
}

/// The first line of stdin, within the core's bounds for a secret.
fn read_secret_from_stdin() -> Result<Secret, Failure> {
    let mut text = String::new();
    io::stdin().read_to_string(&mut text)?;
    Ok(SecretInput::new(text.lines().next().unwrap_or(""))?.into_secret())
}

/// In JSON the names; in text a line a profile.
struct List(ProfileFile);

impl Render for List {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        for (name, p) in &self.0.profiles {
            writeln!(
                out,
                "{name:<20} {}{}{}",
                p.bucket,
                p.endpoint.as_deref().map(|e| format!("  at {e}")).unwrap_or_default(),
                if p.read_only { "  (read-only)" } else { "" }
            )?;
        }
        Ok(())
    }
    fn json(&self, out: &mut dyn Write) -> io::Result<()> {
        let names: Vec<&String> = self.0.profiles.keys().collect();
        json_line(out, &names)
    }
}

/// `key = value` lines of a profile view.
struct Shown(ProfileView);

impl Render for Shown {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        let value = serde_json::to_value(&self.0).expect("a view serializes");
        let mut lines = Vec::new();
        if let serde_json::Value::Object(map) = value {
            for (k, v) in map {
                lines.push(format!("{k} = {v}"));
            }
        }
        writeln!(out, "{}", lines.join("\n"))
    }
    fn json(&self, out: &mut dyn Write) -> io::Result<()> {
        json_line(out, &self.0)
    }
}

struct Saved {
    name: String,
    file: PathBuf,
    report: SaveReport,
}

impl Render for Saved {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        let name = &self.name;
        writeln!(out, "saved profile {name} in {}", self.file.display())?;
        if self.report.supabase_key_cleared {
            writeln!(
                out,
                "the Supabase URL changed, so its stored key was deleted (a key goes only to its own \
                 project): profile set-secret {name} supabase-key"
            )?;
        }
        Ok(())
    }
    fn json(&self, out: &mut dyn Write) -> io::Result<()> {
        json_line(out, &self.report)
    }
}

/// A sentence in text; nothing in JSON (the exit code says it).
struct Said(String);

impl Render for Said {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        writeln!(out, "{}", self.0)
    }
    fn json(&self, _: &mut dyn Write) -> io::Result<()> {
        Ok(())
    }
}

struct Imported {
    name: String,
    report: ImportReport,
}

impl Render for Imported {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        let r = &self.report;
        writeln!(out, "created profile {}", self.name)?;
        writeln!(out, "  settings: {}", r.settings.join(", "))?;
        writeln!(out, "  secrets stored in the OS keychain: {}", r.secrets.join(", "))?;
        if !r.ignored.is_empty() {
            writeln!(out, "  ignored: {}", r.ignored.join(", "))?;
        }
        Ok(())
    }
    fn json(&self, out: &mut dyn Write) -> io::Result<()> {
        json_line(out, &self.report)
    }
}

/// Every check shown; exit 1 if one failed.
struct Tested(Vec<Check>);

impl Render for Tested {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        for c in &self.0 {
            writeln!(out, "{:<8} {:<20} {}", c.status, c.name, c.message)?;
        }
        Ok(())
    }
    fn json(&self, out: &mut dyn Write) -> io::Result<()> {
        json_line(out, &self.0)
    }
    fn failure(&self) -> Option<ErrorReport> {
        connection::first_failure(&self.0).map(|e| ErrorReport::from(&e))
    }
}
