//! Records the SHA-256 of every file under `static/` at build time, so the
//! integrity scan can check that what the server hands out is what was built.

use sha2::{Digest, Sha256};
use std::{
    fmt::Write as _,
    path::{Path, PathBuf},
};

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("static");
    println!("cargo:rerun-if-changed=static");
    let mut paths = Vec::new();
    files(&root, &mut paths);
    paths.sort();
    let mut code =
        String::from("/// `(path under static/, hex SHA-256)`, computed at build time.\n");
    code.push_str("pub const ASSET_DIGESTS: &[(&str, &str)] = &[\n");
    for path in paths {
        println!("cargo:rerun-if-changed={}", path.display());
        let bytes = std::fs::read(&path).expect("reading a static file");
        let name = path
            .strip_prefix(&root)
            .expect("under static/")
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        let digest = hex::encode(Sha256::digest(&bytes));
        writeln!(code, "    ({name:?}, {digest:?}),").expect("writing to a string");
    }
    code.push_str("];\n");
    let out = Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR set by cargo"))
        .join("asset_digests.rs");
    std::fs::write(out, code).expect("writing asset digests");
}
