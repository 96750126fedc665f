//! The committed man pages (`man/`) must match the clap definition.
//!
//! When this fails, regenerate them and commit the result:
//!     NETKIT_UPDATE_MAN=1 cargo test --test man

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use clap::CommandFactory;

fn render_all() -> BTreeMap<String, Vec<u8>> {
    let dir = std::env::temp_dir().join(format!("netkit-man-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    clap_mangen::generate_to(netkit::cli::Cli::command(), &dir).unwrap();
    let pages = read_pages(&dir);
    let _ = fs::remove_dir_all(&dir);
    pages
}

fn read_pages(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut pages = BTreeMap::new();
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".1") {
                pages.insert(name, fs::read(entry.path()).unwrap());
            }
        }
    }
    pages
}

#[test]
fn man_pages_are_current() {
    let man_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("man");
    let want = render_all();
    if std::env::var_os("NETKIT_UPDATE_MAN").is_some() {
        fs::create_dir_all(&man_dir).unwrap();
        for old in read_pages(&man_dir).keys() {
            fs::remove_file(man_dir.join(old)).unwrap();
        }
        for (name, body) in &want {
            fs::write(man_dir.join(name), body).unwrap();
        }
        return;
    }
    let have = read_pages(&man_dir);
    let stale: Vec<&String> = want
        .keys()
        .chain(have.keys())
        .filter(|name| want.get(*name) != have.get(*name))
        .collect();
    assert!(
        stale.is_empty(),
        "man pages are stale ({stale:?}); regenerate them with\n    \
         NETKIT_UPDATE_MAN=1 cargo test --test man\nand commit man/"
    );
    for family in ["netkit.1", "netkit-tcp.1", "netkit-completions.1"] {
        assert!(want.contains_key(family), "no man page {family}");
    }
}
