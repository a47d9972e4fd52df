//! TOML written by hand, for the files oomlab writes for the user to edit
//! (`target init`, `scenario from-har`): comments belong next to the keys
//! they explain, which a serializer cannot place, so the text is built
//! line by line and only strings and keys are quoted here.

/// `s` as a TOML basic string: JSON's escapes (`\"`, `\\`, `\n`, `\uXXXX`)
/// are TOML's.
pub fn string(s: &str) -> String {
    serde_json::to_string(s).expect("a string serialises")
}

/// `k` as a TOML key: bare when it can be, quoted otherwise.
pub fn key(k: &str) -> String {
    if !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        k.to_string()
    } else {
        string(k)
    }
}

/// A multi-line text (a JSON template) as a TOML multi-line literal
/// string, or a basic string when the text holds `'''` or a control
/// character (a literal string cannot).
pub fn multiline(s: &str) -> String {
    let control = s.chars().any(|c| c.is_control() && c != '\n' && c != '\t');
    if control || s.contains("'''") || s.ends_with('\'') {
        string(s)
    } else {
        format!("'''\n{s}'''")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_written_reads_back() {
        for s in [
            "plain",
            "quote \" and \\ and\nnewline",
            "tab\t\u{1}",
            "it's",
        ] {
            let doc = format!("a = {}\nb = {}\n{} = 1\n", string(s), multiline(s), key(s));
            let v: toml::Table = toml::from_str(&doc).unwrap_or_else(|e| panic!("{doc}: {e}"));
            assert_eq!(v["a"].as_str(), Some(s));
            assert_eq!(v["b"].as_str(), Some(s));
            assert!(v.contains_key(s), "{doc}");
        }
        assert_eq!(key("PORT"), "PORT");
        assert_eq!(key("a.b"), "\"a.b\"");
    }
}
