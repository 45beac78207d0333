//! Where a node's settings come from: flags, environment, one TOML file.
//!
//! Every `callgrid serve` flag is also a key of the config file (`--config`
//! or `CALLGRID_CONFIG`), spelled like the flag in snake case: `--data-dir`
//! is `data_dir`, `--tls-cert` is `cert` under `[tls]` (or `tls_cert`).
//! Bearer tokens are file-only (`[[tokens]]`), to keep secrets off command
//! lines. Precedence, highest first:
//!
//! 1. a flag on the command line,
//! 2. its environment variable (`CALLGRID_LISTEN`, ...),
//! 3. the config file,
//! 4. the built-in default.
//!
//! A file value is parsed by the very parser of its flag, so a bad value is
//! refused with the same rule either way, and a new flag is a new key with
//! no change here. Everything is checked before the node touches its data
//! directory; `--check-config` stops right after, printing the result.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use clap::parser::ValueSource;
use clap::{ArgMatches, Args, FromArgMatches};
use thiserror::Error;

use crate::args::ServeArgs;
use crate::auth::{self, TokenConfig};
use crate::config_file;

/// Flags that are not settings: they say where settings are, or what to do.
const NOT_IN_FILE: &[&str] = &["config", "check_config"];

/// Where an effective value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Flag,
    Env,
    File,
    Default,
    Unset,
}

impl Source {
    fn describe(self) -> &'static str {
        match self {
            Source::Flag => "flag",
            Source::Env => "environment",
            Source::File => "config file",
            Source::Default => "default",
            Source::Unset => "not set",
        }
    }
}

/// A configuration that cannot be used; the message names the key.
#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("config file {}: {reason}", path.display())]
    File { path: PathBuf, reason: String },
    #[error("config key `{key}` (from {}): {rule}", from.describe())]
    Key {
        key: String,
        from: Source,
        rule: String,
    },
}

/// The settings a node runs with, and where each came from.
#[derive(Debug, Clone)]
pub struct Effective {
    pub args: ServeArgs,
    /// Per flag id: its source and its value as text (for `--check-config`).
    values: BTreeMap<String, (Source, Option<String>)>,
    file: Option<PathBuf>,
    warnings: Vec<String>,
}

/// The serve flags as the file sees them: no environment, no defaults, so
/// parsing one key yields that key alone.
fn file_command() -> clap::Command {
    ServeArgs::augment_args(clap::Command::new("serve")).mut_args(|a| {
        a.env(None::<&'static str>)
            .default_value(None::<&'static str>)
            .required(false)
    })
}

/// The file key of a flag id: `tls_cert` is `tls.cert`.
fn key_of(id: &str) -> String {
    match id.strip_prefix("tls_") {
        Some(rest) => format!("tls.{rest}"),
        None => id.to_string(),
    }
}

/// What the config file holds: flag id → TOML value, its tokens, and
/// warnings about the file itself (to log once logging is up).
type FileSettings = (BTreeMap<String, toml::Value>, Vec<TokenConfig>, Vec<String>);

/// Reads the file into flag id → TOML value, plus its tokens. A file that
/// group or others can write is refused, and no error quotes its text
/// (see `config_file.rs`).
fn read_file(path: &Path, ids: &[String]) -> Result<FileSettings, ConfigError> {
    let file_error = |reason: String| ConfigError::File {
        path: path.to_path_buf(),
        reason,
    };
    let warnings: Vec<String> = config_file::check_mode(path)
        .map_err(file_error)?
        .into_iter()
        .collect();
    let text =
        std::fs::read_to_string(path).map_err(|e| file_error(format!("cannot read: {e}")))?;
    let table: toml::Table =
        toml::from_str(&text).map_err(|e| file_error(config_file::syntax_error(&text, &e)))?;
    let unknown = |key: &str| ConfigError::Key {
        key: key.to_string(),
        from: Source::File,
        rule: format!(
            "unknown key; known keys: {}, tokens",
            ids.iter()
                .map(|id| key_of(id))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut values = BTreeMap::new();
    let mut tokens = Vec::new();
    for (key, value) in table {
        match (key.as_str(), value) {
            ("tokens", toml::Value::Array(list)) => {
                for (i, item) in list.into_iter().enumerate() {
                    // A type error may quote the value: never the secret's.
                    let secret = item.get("token").map(|t| match t {
                        toml::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    });
                    let token = item
                        .try_into::<TokenConfig>()
                        .map_err(|e| ConfigError::Key {
                            key: format!("tokens[{i}]"),
                            from: Source::File,
                            rule: match secret.as_deref() {
                                Some(s) if !s.is_empty() => {
                                    e.message().replace(s, "<token not shown>")
                                }
                                _ => e.message().to_string(),
                            },
                        })?;
                    tokens.push(token);
                }
            }
            ("tokens", _) => {
                return Err(ConfigError::Key {
                    key,
                    from: Source::File,
                    rule: "must be an array of tables: [[tokens]]".into(),
                });
            }
            (_, toml::Value::Table(inner)) => {
                for (sub, value) in inner {
                    let id = format!("{key}_{sub}");
                    if !ids.contains(&id) {
                        return Err(unknown(&format!("{key}.{sub}")));
                    }
                    values.insert(id, value);
                }
            }
            (_, value) => {
                if !ids.contains(&key) {
                    return Err(unknown(&key));
                }
                values.insert(key, value);
            }
        }
    }
    Ok((values, tokens, warnings))
}

/// A scalar TOML value as its flag would be written.
fn as_flag_value(key: &str, value: &toml::Value) -> Result<String, ConfigError> {
    match value {
        toml::Value::String(s) => Ok(s.clone()),
        toml::Value::Integer(i) => Ok(i.to_string()),
        toml::Value::Float(f) => Ok(f.to_string()),
        toml::Value::Boolean(b) => Ok(b.to_string()),
        _ => Err(ConfigError::Key {
            key: key_of(key),
            from: Source::File,
            rule: "must be a string, number or boolean".into(),
        }),
    }
}

fn source_of(matches: &ArgMatches, id: &str) -> Option<Source> {
    match matches.value_source(id) {
        Some(ValueSource::CommandLine) => Some(Source::Flag),
        Some(ValueSource::EnvVariable) => Some(Source::Env),
        Some(ValueSource::DefaultValue) => Some(Source::Default),
        _ => None,
    }
}

/// Layers the config file (if any) under the flags and environment already
/// in `args`/`matches`, then validates the result.
pub fn resolve(mut args: ServeArgs, matches: &ArgMatches) -> Result<Effective, ConfigError> {
    let command = file_command();
    let ids: Vec<String> = command
        .get_arguments()
        .map(|a| a.get_id().as_str().to_string())
        .filter(|id| !NOT_IN_FILE.contains(&id.as_str()))
        .collect();
    let (file_values, tokens, warnings) = match &args.config {
        Some(path) => read_file(path, &ids)?,
        None => Default::default(),
    };

    let mut values = BTreeMap::new();
    for id in &ids {
        let explicit = source_of(matches, id);
        let raw = || {
            matches
                .get_raw(id)
                .and_then(|mut v| v.next())
                .map(|v| v.to_string_lossy().into_owned())
        };
        match (explicit, file_values.get(id)) {
            (Some(from @ (Source::Flag | Source::Env)), _) => {
                values.insert(id.clone(), (from, raw()));
            }
            (_, Some(value)) => {
                let text = as_flag_value(id, value)?;
                let long = command
                    .get_arguments()
                    .find(|a| a.get_id() == id.as_str())
                    .and_then(|a| a.get_long())
                    .expect("every serve setting is a long flag");
                let one = file_command()
                    .try_get_matches_from(["serve".to_string(), format!("--{long}={text}")])
                    .map_err(|e| ConfigError::Key {
                        key: key_of(id),
                        from: Source::File,
                        rule: clap_rule(&e),
                    })?;
                let (check_config, config) = (args.check_config, args.config.clone());
                args.update_from_arg_matches(&one)
                    .map_err(|e| ConfigError::Key {
                        key: key_of(id),
                        from: Source::File,
                        rule: clap_rule(&e),
                    })?;
                (args.check_config, args.config) = (check_config, config);
                values.insert(id.clone(), (Source::File, Some(text)));
            }
            (explicit, None) => {
                values.insert(id.clone(), (explicit.unwrap_or(Source::Unset), raw()));
            }
        }
    }
    args.tokens = tokens;
    let effective = Effective {
        file: args.config.clone(),
        args,
        values,
        warnings,
    };
    effective.validate()?;
    Ok(effective)
}

/// clap's one-line reason, without its `error:` prefix and usage hints.
fn clap_rule(e: &clap::Error) -> String {
    let rendered = e.render().to_string();
    let first = rendered.lines().next().unwrap_or_default();
    first.strip_prefix("error: ").unwrap_or(first).to_string()
}

impl Effective {
    /// What is risky but allowed about the configuration (a config file
    /// others can read), for the node to log at start.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    fn source(&self, id: &str) -> Source {
        self.values
            .get(id)
            .map(|(s, _)| *s)
            .unwrap_or(Source::Unset)
    }

    fn refuse(&self, id: &str, rule: impl Into<String>) -> ConfigError {
        ConfigError::Key {
            key: key_of(id),
            from: self.source(id),
            rule: rule.into(),
        }
    }

    /// Rules that span keys or need the file system, checked before start.
    fn validate(&self) -> Result<(), ConfigError> {
        let a = &self.args;
        a.timer_scale_ppm()
            .map_err(|rule| self.refuse("timer_scale", rule))?;
        match (&a.tls_cert, &a.tls_key) {
            (Some(_), None) => return Err(self.refuse("tls_key", "required when tls.cert is set")),
            (None, Some(_)) => return Err(self.refuse("tls_cert", "required when tls.key is set")),
            _ => {}
        }
        if a.tls_client_ca.is_some() && a.tls_cert.is_none() {
            return Err(self.refuse(
                "tls_client_ca",
                "mutual TLS needs this node's own tls.cert and tls.key",
            ));
        }
        for (id, path, marker) in [
            ("tls_cert", &a.tls_cert, "CERTIFICATE"),
            ("tls_key", &a.tls_key, "PRIVATE KEY"),
            ("tls_client_ca", &a.tls_client_ca, "CERTIFICATE"),
        ] {
            if let Some(path) = path {
                let pem = std::fs::read_to_string(path)
                    .map_err(|e| self.refuse(id, format!("cannot read {}: {e}", path.display())))?;
                if !pem.contains("-----BEGIN ") || !pem.contains(marker) {
                    return Err(
                        self.refuse(id, format!("{} holds no PEM {marker}", path.display()))
                    );
                }
            }
        }
        auth::Authorizer::from_config(&a.tokens).map_err(|(key, rule)| ConfigError::Key {
            key,
            from: Source::File,
            rule,
        })?;
        // The node-to-node service can add voters and commit any command: a
        // node that authenticates its clients must authenticate its peers.
        if !a.tokens.is_empty() && a.tls_client_ca.is_none() {
            return Err(self.refuse(
                "tls_client_ca",
                "required when [[tokens]] are set: peers must be authenticated by \
                 mutual TLS (set tls.cert, tls.key and tls.client_ca)",
            ));
        }
        Ok(())
    }

    /// The effective configuration as a TOML document a node could be
    /// started with, each key commented with its source; token secrets are
    /// never printed.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# callgrid effective configuration");
        let _ = writeln!(
            out,
            "# precedence: flag > environment (CALLGRID_*) > config file > default"
        );
        match &self.file {
            Some(path) => {
                let _ = writeln!(out, "# config file: {}", path.display());
            }
            None => {
                let _ = writeln!(out, "# config file: none");
            }
        }
        let line = |out: &mut String, key: &str, source: Source, value: &Option<String>| {
            let _ = match value {
                Some(v) => writeln!(out, "{key} = {}  # {}", toml_literal(v), source.describe()),
                None => writeln!(out, "# {key} = (not set)"),
            };
        };
        let (tls, plain): (Vec<_>, Vec<_>) = self
            .values
            .iter()
            .partition(|(id, _)| id.starts_with("tls_"));
        for (id, (source, value)) in plain {
            line(&mut out, id, *source, value);
        }
        let _ = writeln!(out, "\n[tls]");
        for (id, (source, value)) in tls {
            line(&mut out, &id["tls_".len()..], *source, value);
        }
        if self.args.tokens.is_empty() {
            let _ = writeln!(
                out,
                "\n# no [[tokens]]: development mode, requests are not authenticated"
            );
        }
        for token in &self.args.tokens {
            let _ = writeln!(out, "\n[[tokens]]");
            let _ = writeln!(
                out,
                "token = \"<{} characters, not shown>\"",
                token.token.chars().count()
            );
            let _ = writeln!(out, "role = \"{}\"", token.role.as_str());
            if let Some(tenant) = &token.tenant {
                let _ = writeln!(out, "tenant = {}", toml::Value::String(tenant.clone()));
            }
            if let Some(extension) = &token.extension {
                let _ = writeln!(
                    out,
                    "extension = {}",
                    toml::Value::String(extension.clone())
                );
            }
        }
        out
    }
}

/// A flag value as a TOML literal: numbers and booleans bare, the rest quoted.
fn toml_literal(v: &str) -> String {
    if v.parse::<i64>().is_ok()
        || v.parse::<f64>().is_ok_and(f64::is_finite)
        || v == "true"
        || v == "false"
    {
        v.to_string()
    } else {
        toml::Value::String(v.to_string()).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> Vec<String> {
        file_command()
            .get_arguments()
            .map(|a| a.get_id().as_str().to_string())
            .filter(|id| !NOT_IN_FILE.contains(&id.as_str()))
            .collect()
    }

    #[test]
    fn the_example_config_documents_every_serve_flag() {
        let example = include_str!("../../../deploy/callgrid.example.toml");
        for id in ids() {
            let key = key_of(&id);
            let leaf = key.rsplit('.').next().expect("a key has a leaf");
            assert!(
                example.lines().any(|l| l
                    .trim_start_matches(['#', ' '])
                    .starts_with(&format!("{leaf} ="))),
                "deploy/callgrid.example.toml does not mention `{key}` (flag --{})",
                id.replace('_', "-")
            );
        }
    }

    #[test]
    fn tls_flags_are_keys_of_the_tls_table() {
        assert_eq!(key_of("tls_client_ca"), "tls.client_ca");
        assert_eq!(key_of("data_dir"), "data_dir");
    }

    #[test]
    fn scalars_render_as_toml_literals() {
        assert_eq!(toml_literal("7"), "7");
        assert_eq!(toml_literal("0.5"), "0.5");
        assert_eq!(toml_literal("127.0.0.1:7700"), "\"127.0.0.1:7700\"");
        assert_eq!(toml_literal("a\"b"), "'a\"b'");
    }
}
