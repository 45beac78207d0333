//! No import cycle between the modules of any crate, at any depth: each
//! crate reads in one direction (in the node: api → route → actors →
//! consensus → raft; in the SIP edge's dialog layer: invite → calls →
//! park → relay → legs), so a module can be read, tested and changed
//! without the ones above it.
//!
//! For every module with modules of its own (a crate's root, `api/`,
//! `dialog/`, ...), a child's edges are the sibling paths its files name
//! outside comments and their `#[cfg(test)]` part; a cycle is a strongly
//! connected set of two or more siblings.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every crate of the workspace, by its source directory.
const CRATES: &[&str] = &[
    "crates/callgrid-model/src",
    "crates/callgrid-proto/src",
    "crates/callgrid-raft/src",
    "crates/callgrid-actors/src",
    "crates/callgrid-node/src",
    "crates/callgrid-client/src",
    "crates/callgrid-ctl/src",
    "crates/callgrid-console/src",
    "crates/callgrid-sip/src",
    "benches/src",
    "tests/src",
];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace")
        .to_path_buf()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable source directory") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The child modules of the module at `parent` (a path under `src`, empty
/// for the crate root) → the siblings each names. A child names a sibling
/// by `crate::<parent>::<sibling>` anywhere in its files, or by
/// `super::<sibling>` in a file directly under `parent`. The parent's own
/// file (`lib.rs`, `main.rs`, `mod.rs`) holds what its children share and
/// is not a node, as a crate root is not.
fn module_graph(src: &Path, parent: &str) -> BTreeMap<String, BTreeSet<String>> {
    let dir = src.join(parent);
    let mut files = Vec::new();
    rust_files(&dir, &mut files);
    let module_of = |path: &Path| -> Option<String> {
        let first = path.strip_prefix(&dir).ok()?.components().next()?;
        let name = first
            .as_os_str()
            .to_str()?
            .trim_end_matches(".rs")
            .to_owned();
        (!["lib", "main", "mod"].contains(&name.as_str())).then_some(name)
    };
    let modules: BTreeSet<String> = files.iter().filter_map(|f| module_of(f)).collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = modules
        .iter()
        .map(|m| (m.clone(), BTreeSet::new()))
        .collect();
    let through_crate = if parent.is_empty() {
        "crate::".to_owned()
    } else {
        format!("crate::{}::", parent.replace('/', "::"))
    };
    for file in &files {
        let Some(from) = module_of(file) else {
            continue;
        };
        let text = std::fs::read_to_string(file).expect("readable source");
        // Comments (doc links among them) import nothing.
        let code: String = text
            .split("#[cfg(test)]")
            .next()
            .unwrap_or_default()
            .lines()
            .filter(|line| !line.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        let mut prefixes = vec![through_crate.as_str()];
        if file.parent() == Some(dir.as_path()) {
            prefixes.push("super::");
        }
        for prefix in prefixes {
            for (at, _) in code.match_indices(prefix) {
                // `$crate::` in a macro, `callgrid_crate::` or `a::super::`
                // is not this path.
                let before = code[..at].chars().next_back();
                if before
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$' || c == ':')
                {
                    continue;
                }
                let rest = &code[at + prefix.len()..];
                // `super::{a, b::c}` names each of a and b.
                let names: Vec<String> = match rest.strip_prefix('{') {
                    Some(group) => group
                        .split('}')
                        .next()
                        .unwrap_or_default()
                        .split(',')
                        .map(|n| n.trim().split("::").next().unwrap_or_default().to_owned())
                        .collect(),
                    None => vec![
                        rest.chars()
                            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                            .collect(),
                    ],
                };
                for name in names {
                    if name != from && modules.contains(&name) {
                        graph.get_mut(&from).expect("known module").insert(name);
                    }
                }
            }
        }
    }
    graph
}

/// Every module of a crate with modules of its own (the root among them),
/// as paths under `src`.
fn parents(src: &Path) -> Vec<String> {
    fn walk(src: &Path, dir: &Path, out: &mut Vec<String>) {
        let mut has_rust = false;
        for entry in std::fs::read_dir(dir).expect("readable source directory") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                walk(src, &path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                has_rust = true;
            }
        }
        if has_rust {
            let rel = dir.strip_prefix(src).expect("under src");
            out.push(rel.to_str().expect("a UTF-8 path").to_owned());
        }
    }
    let mut out = Vec::new();
    walk(src, src, &mut out);
    out.sort();
    out
}

/// The strongly connected sets of two or more modules (Tarjan).
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct Walk<'a> {
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        found: Vec<Vec<String>>,
    }
    impl<'a> Walk<'a> {
        fn visit(&mut self, v: &'a str) {
            let i = self.index.len();
            self.index.insert(v, i);
            self.low.insert(v, i);
            self.stack.push(v);
            for w in &self.graph[v] {
                let w = w.as_str();
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let lw = self.low[w];
                    let lv = self.low.get_mut(v).expect("visited");
                    *lv = (*lv).min(lw);
                } else if self.stack.contains(&w) {
                    let iw = self.index[w];
                    let lv = self.low.get_mut(v).expect("visited");
                    *lv = (*lv).min(iw);
                }
            }
            if self.low[v] == self.index[v] {
                let mut set = Vec::new();
                while let Some(w) = self.stack.pop() {
                    set.push(w.to_owned());
                    if w == v {
                        break;
                    }
                }
                if set.len() > 1 {
                    set.sort();
                    self.found.push(set);
                }
            }
        }
    }
    let mut walk = Walk {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !walk.index.contains_key(v.as_str()) {
            walk.visit(v);
        }
    }
    walk.found
}

#[test]
fn no_crate_has_an_import_cycle_between_its_modules() {
    let root = workspace();
    let mut found = Vec::new();
    for krate in CRATES {
        let mut files = Vec::new();
        rust_files(&root.join(krate), &mut files);
        assert!(!files.is_empty(), "{krate}: no source files found");
        for parent in parents(&root.join(krate)) {
            let graph = module_graph(&root.join(krate), &parent);
            for cycle in cycles(&graph) {
                found.push(format!("{krate}/{parent}: {}", cycle.join(" ↔ ")));
            }
        }
    }
    assert!(found.is_empty(), "import cycles:\n{}", found.join("\n"));
}

#[test]
fn the_check_finds_a_cycle_when_there_is_one() {
    let edges = |pairs: &[(&str, &str)]| {
        let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (a, b) in pairs {
            g.entry((*a).into()).or_default().insert((*b).into());
            g.entry((*b).into()).or_default();
        }
        g
    };
    assert!(cycles(&edges(&[("api", "route"), ("route", "consensus")])).is_empty());
    assert_eq!(
        cycles(&edges(&[
            ("api", "route"),
            ("route", "consensus"),
            ("consensus", "api")
        ])),
        vec![vec![
            "api".to_owned(),
            "consensus".to_owned(),
            "route".to_owned()
        ]]
    );
}

#[test]
fn the_node_reads_one_way_down() {
    let graph = module_graph(&workspace().join("crates/callgrid-node/src"), "");
    let names = |m: &str| graph[m].iter().cloned().collect::<Vec<_>>();
    for lower in ["route", "consensus", "peers", "wire"] {
        assert!(
            !graph[lower].contains("api") && !graph[lower].contains("node"),
            "{lower} names a module above it: {:?}",
            names(lower)
        );
    }
    assert!(
        !graph["consensus"].contains("route"),
        "{:?}",
        names("consensus")
    );
}

#[test]
fn the_sip_dialog_layer_reads_one_way_down() {
    let graph = module_graph(&workspace().join("crates/callgrid-sip/src"), "dialog");
    // Top to bottom; each module may name only those after it.
    let order = [
        "invite", "hop", "blf", "register", "calls", "park", "relay", "legs",
    ];
    assert_eq!(
        graph.keys().map(String::as_str).collect::<BTreeSet<_>>(),
        order.iter().copied().collect::<BTreeSet<_>>(),
        "the dialog layer's modules changed: place the new one in `order`"
    );
    for (at, module) in order.iter().enumerate() {
        for named in &graph[*module] {
            assert!(
                order[at + 1..].contains(&named.as_str()),
                "dialog::{module} names dialog::{named}, which sits above it"
            );
        }
    }
    // The walk sees nested paths at all: the handlers name the legs.
    assert!(graph["calls"].contains("legs"), "{graph:?}");
}
