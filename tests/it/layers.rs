//! The layers hold: read the source, as a newcomer would, and fail when a
//! lower layer names a higher one (`docs/architecture.md`).

use std::path::Path;

const FEATURES: &[&str] = &[
    "account",
    "analytics",
    "chat",
    "consent",
    "content",
    "mail_in",
    "newsletter",
    "ops",
    "shop",
    "site",
    "support",
    "surveys",
    "webhooks",
    "cli",
];

/// The top-level modules a `use crate::{…}` group starting at `code[at..]`
/// names (`use crate::{content, platform::db}` names content and platform).
fn group_names(code: &str, at: usize) -> Vec<&str> {
    let (mut depth, mut start, mut names) = (0, at, Vec::new());
    for (i, c) in code[at..].char_indices().map(|(i, c)| (at + i, c)) {
        match c {
            '{' => {
                depth += 1;
                if depth == 1 {
                    start = i + 1;
                }
            }
            ',' | '}' if depth == 1 => {
                let item = code[start..i].trim();
                let name = item.split("::").next().unwrap_or("").trim();
                if !name.is_empty() {
                    names.push(name);
                }
                start = i + 1;
                if c == '}' {
                    return names;
                }
            }
            '}' => depth -= 1,
            _ => {}
        }
        if c == '}' && depth == 0 {
            break;
        }
    }
    names
}

/// Every place under `dir` that names one of `forbidden` (`crate::name`,
/// or `name` in a `use crate::{…}` group), or `AppState` (the
/// application's state), as `file: line`.
fn uses_of(dir: &str, forbidden: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join(dir)];
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            stack.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        let code: String = std::fs::read_to_string(&path)
            .unwrap()
            .lines()
            .map(|l| l.split("//").next().unwrap_or(""))
            .collect::<Vec<_>>()
            .join("\n");
        let line_of = |i: usize| code[..i].matches('\n').count() + 1;
        for (i, _) in code.match_indices("crate::") {
            let rest = &code[i + "crate::".len()..];
            let names = if rest.starts_with('{') {
                group_names(&code, i + "crate::".len())
            } else {
                vec![
                    rest.split(|c: char| !(c.is_alphanumeric() || c == '_'))
                        .next()
                        .unwrap_or(""),
                ]
            };
            for name in names.into_iter().filter(|n| forbidden.contains(n)) {
                found.push(format!("{}:{}: crate::{name}", path.display(), line_of(i)));
            }
        }
        for (i, _) in code.match_indices("AppState") {
            found.push(format!("{}:{}: AppState", path.display(), line_of(i)));
        }
    }
    found
}

#[test]
fn platform_names_nothing_above_it() {
    let mut above: Vec<&str> = FEATURES.to_vec();
    above.extend(["privacy", "staff", "app", "telemetry"]);
    let found = uses_of("src/platform", &above);
    assert!(
        found.is_empty(),
        "platform names a higher layer:\n{}",
        found.join("\n")
    );
}

#[test]
fn privacy_and_staff_name_no_feature() {
    let mut above: Vec<&str> = FEATURES.to_vec();
    above.push("app");
    for dir in ["src/privacy", "src/staff"] {
        let found = uses_of(dir, &above);
        assert!(
            found.is_empty(),
            "{dir} names a feature:\n{}",
            found.join("\n")
        );
    }
}

#[test]
fn the_layer_check_sees_a_feature_named_in_a_use_group() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("x.rs");
    std::fs::write(
        &file,
        "use crate::{\n    content,\n    error::AppError,\n};\n",
    )
    .unwrap();
    // An absolute path replaces the crate's directory when joined.
    let found = uses_of(file.to_str().unwrap(), &["content"]);
    assert_eq!(found.len(), 1, "{found:?}");
    std::fs::write(
        &file,
        "use crate::platform::{content_type, db};
",
    )
    .unwrap();
    assert!(uses_of(file.to_str().unwrap(), &["content"]).is_empty());
}
