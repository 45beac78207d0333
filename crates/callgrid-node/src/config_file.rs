//! The config file as a holder of secrets: who may change or read it, and
//! how a broken one is reported.
//!
//! `[[tokens]]` in the file are bearer secrets, and its other keys say
//! where the TLS key is read from. So, as ssh treats a private key file:
//! a file that group or others can write is refused (they could add a
//! token, or point the node at a key of their own), and one others can
//! read is warned about. A syntax error is located by line and key, and
//! its text is never echoed: the broken line may well be a token's.

use std::path::Path;

/// Permission bits that let group or others change the file.
const WRITABLE_BY_OTHERS: u32 = 0o022;
/// The permission bit that lets others (neither owner nor group) read it.
const READABLE_BY_OTHERS: u32 = 0o004;

/// Checks the file's mode: `Err(rule)` refuses it, `Ok(Some(warning))`
/// accepts it with a warning to log.
pub fn check_mode(path: &Path) -> Result<Option<String>, String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .map_err(|e| format!("cannot read: {e}"))?
        .permissions()
        .mode()
        & 0o7777;
    if mode & WRITABLE_BY_OTHERS != 0 {
        return Err(format!(
            "mode {mode:04o} lets group or others write it, and it may hold tokens \
             or name the TLS key: refused (run `chmod go-w {}`)",
            path.display()
        ));
    }
    if mode & READABLE_BY_OTHERS != 0 {
        return Ok(Some(format!(
            "config file {} has mode {mode:04o}: any local user can read the tokens in it \
             (run `chmod o-r {}`)",
            path.display(),
            path.display()
        )));
    }
    Ok(None)
}

/// Where a TOML syntax error is, as "line N, key `K`: what is wrong",
/// without the text of the line (it may hold a secret). The key is the one
/// the broken line assigns, inside its table (`tls.cert`,
/// `tokens[1].token`), when the line starts like an assignment.
pub fn syntax_error(text: &str, error: &toml::de::Error) -> String {
    // toml's own Display quotes the offending line; its message does not.
    let what = error
        .message()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    let Some(at) = error.span().map(|s| s.start.min(text.len())) else {
        return what;
    };
    let line_index = text[..at].matches('\n').count();
    let key = key_on_line(text, line_index)
        .map(|k| format!(", key `{k}`"))
        .unwrap_or_default();
    format!("line {}{key}: {what}", line_index + 1)
}

/// The full key a line assigns, from the key before its `=` and the table
/// header above it; `None` if the line does not start like `key =`.
fn key_on_line(text: &str, line_index: usize) -> Option<String> {
    let line = text.lines().nth(line_index)?;
    let (key, _) = line.split_once('=')?;
    let key = key.trim();
    let bare = |k: &str| {
        !k.is_empty()
            && k.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    };
    if !bare(key) {
        return None;
    }
    // The nearest table header above, and for an array of tables, which
    // element this is.
    let mut table: Option<String> = None;
    let mut elements: std::collections::BTreeMap<String, usize> = Default::default();
    for header in text.lines().take(line_index).map(str::trim) {
        if let Some(name) = header
            .strip_prefix("[[")
            .and_then(|h| h.split_once("]]"))
            .map(|(n, _)| n.trim())
            .filter(|n| bare(n))
        {
            let count = elements.entry(name.to_string()).or_default();
            table = Some(format!("{name}[{count}]"));
            *count += 1;
        } else if let Some(name) = header
            .strip_prefix('[')
            .and_then(|h| h.split_once(']'))
            .map(|(n, _)| n.trim())
            .filter(|n| bare(n))
        {
            table = Some(name.to_string());
        }
    }
    Some(match table {
        Some(table) => format!("{table}.{key}"),
        None => key.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn located(text: &str) -> String {
        let err = toml::from_str::<toml::Table>(text).expect_err("a syntax error");
        syntax_error(text, &err)
    }

    #[test]
    fn a_syntax_error_names_line_and_key_but_never_the_lines_text() {
        let text = "node_id = 1\n\n[[tokens]]\ntoken = \"abc\"\nrole = \"cluster_admin\"\n\n\
                    [[tokens]]\ntoken = \"s3cret-token-never-printed\nrole = \"cluster_admin\"\n";
        let got = located(text);
        assert!(got.starts_with("line 8, key `tokens[1].token`: "), "{got}");
        assert!(!got.contains("s3cret"), "{got}");
    }

    #[test]
    fn keys_are_located_inside_plain_tables_and_at_top_level() {
        assert!(located("[tls]\ncert = \"/a\nkey = 1\n").contains("line 2, key `tls.cert`"));
        assert!(located("listen = \n").starts_with("line 1, key `listen`"));
        let got = located("node_id = 1\nthis line has no equals sign secret\n");
        assert!(got.starts_with("line 2: "), "{got}");
        assert!(!got.contains("secret"), "{got}");
    }
}
