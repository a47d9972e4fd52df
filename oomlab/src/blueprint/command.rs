//! A Render start command as a target's `run.command`: `$PORT` and
//! `${PORT}` become `{port}`, an all-interfaces binding (`0.0.0.0`, `[::]`)
//! becomes `{host}`, and the text is split into program and arguments as a
//! shell would, or kept whole under `sh -c` when it needs a shell (pipes,
//! `&&`, other variables, redirections).

use crate::app_target::app::PLACEHOLDERS;

/// A start command, converted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// Program and arguments, with placeholders.
    pub argv: Vec<String>,
    /// Whether it runs under `sh -c` (it needs a shell).
    pub shell: bool,
    /// Whether the command itself names the port (`$PORT`); when not, the
    /// app must read the `PORT` variable, which the target sets.
    pub names_port: bool,
    /// Whether it bound all interfaces, now `{host}`.
    pub names_host: bool,
}

/// Why a start command cannot be written as a target's command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandError {
    /// A quote is not closed.
    Unclosed(char),
    /// Braces that the target would read as an unknown placeholder.
    Braces(String),
}

impl std::fmt::Display for CommandError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CommandError::Unclosed(q) => write!(f, "a {q} quote is not closed"),
            CommandError::Braces(b) => write!(
                f,
                "`{{{b}}}` would be read as a placeholder by the target file, which has only {{{}}}",
                PLACEHOLDERS.join("}, {")
            ),
        }
    }
}

/// Converts a Render `startCommand`.
pub fn convert(start: &str) -> Result<Command, CommandError> {
    let trimmed = start.trim();
    let (with_port, names_port) = replace_port(trimmed);
    let mut names_host = false;
    let mut text = with_port;
    for any in ["0.0.0.0", "[::]"] {
        if text.contains(any) {
            names_host = true;
            text = text.replace(any, "{host}");
        }
    }
    if let Some(b) = crate::app_target::app::unknown_placeholder(&text) {
        return Err(CommandError::Braces(b));
    }
    let (argv, shell) = match split(&text)? {
        Some(words) if !words.is_empty() => (words, false),
        _ => (vec!["sh".into(), "-c".into(), text.clone()], true),
    };
    Ok(Command {
        argv,
        shell,
        names_port,
        names_host,
    })
}

/// `text` with `$PORT` and `${PORT}` as `{port}` (a longer name such as
/// `$PORTAL` is left alone), and whether there was one.
fn replace_port(text: &str) -> (String, bool) {
    let mut out = String::with_capacity(text.len());
    let mut found = false;
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix("{PORT}") {
            out.push_str("{port}");
            found = true;
            rest = tail;
        } else if let Some(tail) = after.strip_prefix("PORT")
            && !tail.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
        {
            out.push_str("{port}");
            found = true;
            rest = tail;
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    (out, found)
}

/// The words of `text` as a POSIX shell splits them, or `None` when it
/// holds something only a shell can do (an operator, a redirection, a
/// variable, a substitution, a glob, a leading `NAME=value`).
fn split(text: &str) -> Result<Option<Vec<String>>, CommandError> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(ch) => word.push(ch),
                        None => return Err(CommandError::Unclosed('\'')),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('$' | '`') => return Ok(None),
                        Some('\\') => match chars.next() {
                            Some(ch @ ('"' | '\\' | '$' | '`')) => word.push(ch),
                            Some(ch) => {
                                word.push('\\');
                                word.push(ch);
                            }
                            None => return Err(CommandError::Unclosed('"')),
                        },
                        Some(ch) => word.push(ch),
                        None => return Err(CommandError::Unclosed('"')),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(ch) = chars.next() {
                    word.push(ch);
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '|' | '&' | ';' | '<' | '>' | '(' | ')' | '$' | '`' | '*' | '?' | '~' => {
                return Ok(None);
            }
            '=' if words.is_empty() && !word.contains('/') => return Ok(None),
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(Some(words))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<String> {
        convert(s).unwrap().argv
    }

    #[test]
    fn the_port_and_an_all_interfaces_binding_become_placeholders() {
        let c = convert("gunicorn --bind 0.0.0.0:$PORT 'inspections:create_app()'").unwrap();
        assert_eq!(
            c.argv,
            [
                "gunicorn",
                "--bind",
                "{host}:{port}",
                "inspections:create_app()"
            ]
        );
        assert!(c.names_port && c.names_host && !c.shell);
        assert_eq!(
            argv("uvicorn app.main:app --host 0.0.0.0 --port ${PORT}"),
            [
                "uvicorn",
                "app.main:app",
                "--host",
                "{host}",
                "--port",
                "{port}"
            ]
        );
        assert_eq!(
            argv("gunicorn -b [::]:$PORT app:app"),
            ["gunicorn", "-b", "{host}:{port}", "app:app"]
        );
    }

    #[test]
    fn a_command_that_reads_port_itself_is_split_as_it_is() {
        let c = convert("gunicorn app:app").unwrap();
        assert_eq!(c.argv, ["gunicorn", "app:app"]);
        assert!(!c.names_port && !c.names_host);
        // A longer variable name is not the port, and needs the shell.
        let c = convert("node server.js --portal $PORTAL").unwrap();
        assert!(c.shell, "{c:?}");
    }

    #[test]
    fn quotes_are_read_as_a_shell_reads_them() {
        assert_eq!(
            argv(r#"python -m app "two words" 'single $x' a\ b"#),
            ["python", "-m", "app", "two words", "single $x", "a b"]
        );
        assert_eq!(convert("python -c 'x"), Err(CommandError::Unclosed('\'')));
    }

    #[test]
    fn what_needs_a_shell_runs_under_sh_c() {
        for cmd in [
            "python manage.py migrate && gunicorn app:app --bind 0.0.0.0:$PORT",
            "gunicorn app:app --workers $WEB_CONCURRENCY",
            "WEB_CONCURRENCY=2 gunicorn app:app",
            "gunicorn app:app > log.txt",
            "bin/start \"$HOME\"",
        ] {
            let c = convert(cmd).unwrap();
            assert!(c.shell, "{cmd}: {c:?}");
            assert_eq!(c.argv[..2], ["sh", "-c"]);
        }
        let c = convert("python manage.py migrate && gunicorn app:app -b 0.0.0.0:$PORT").unwrap();
        assert_eq!(
            c.argv[2],
            "python manage.py migrate && gunicorn app:app -b {host}:{port}"
        );
    }

    #[test]
    fn braces_that_are_not_placeholders_are_refused() {
        assert_eq!(
            convert("sh -c 'echo ${HOME:-/root}'"),
            Err(CommandError::Braces("HOME:-/root".into()))
        );
        assert!(
            CommandError::Braces("x".into())
                .to_string()
                .contains("{port}")
        );
    }
}
