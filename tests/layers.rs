//! The Python layer (`src/python/`) has no import cycle, and each module uses
//! only modules listed before it in `mod.rs`, which documents the layers.
//!
//! Reads the sources: a `super::name` anywhere in `name2.rs` is an edge from
//! `name2` to `name`.

use std::collections::BTreeMap;
use std::path::Path;

fn python_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/src/python"))
}

/// The modules in the order `mod.rs` declares them.
fn declared_order() -> Vec<String> {
    let text = std::fs::read_to_string(python_dir().join("mod.rs")).unwrap();
    text.lines()
        .filter_map(|line| line.trim().strip_prefix("mod "))
        .map(|rest| rest.split(';').next().unwrap().trim().to_string())
        .collect()
}

/// For each module, the sibling modules it names through `super::`.
fn uses() -> BTreeMap<String, Vec<String>> {
    let mut graph = BTreeMap::new();
    for entry in std::fs::read_dir(python_dir()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        if name == "mod" {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let mut used: Vec<String> = text
            .match_indices("super::")
            .map(|(at, needle)| {
                text[at + needle.len()..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect::<String>()
            })
            // Modules are snake_case; `super::Type` in a nested module (a
            // sealed trait's impls, say) names an item, not a module.
            .filter(|used| used.starts_with(|c: char| c.is_ascii_lowercase()) && *used != name)
            .collect();
        used.sort();
        used.dedup();
        graph.insert(name, used);
    }
    graph
}

#[test]
fn every_module_uses_only_modules_declared_before_it() {
    let order = declared_order();
    let graph = uses();
    assert_eq!(
        order.len(),
        graph.len(),
        "mod.rs declares {order:?}, the directory holds {:?}",
        graph.keys().collect::<Vec<_>>()
    );
    let position = |name: &str| order.iter().position(|m| m == name);
    for (module, used) in &graph {
        let at = position(module).unwrap_or_else(|| panic!("{module}.rs is not declared"));
        for dependency in used {
            let Some(before) = position(dependency) else {
                panic!("{module}.rs uses super::{dependency}, which is not a module");
            };
            assert!(
                before < at,
                "{module}.rs uses {dependency}, which mod.rs declares after it: \
                 a layer may only use the layers above it"
            );
        }
    }
}

#[test]
fn the_layer_check_sees_uses() {
    // The check above would pass vacuously if the parser found nothing.
    let graph = uses();
    assert!(graph["tensor_methods"].contains(&"nested".to_string()));
    assert!(graph["nested"].contains(&"dlpack_import".to_string()));
}
